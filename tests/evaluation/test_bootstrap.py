"""Bootstrap intervals: contain the estimate, narrow with data, deterministic; weighted helpers exact."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm

from carnet.domain.training import Predictions
from carnet.evaluation import evaluate
from carnet.evaluation.resampling import (
    resample_weights,
    weighted_auc,
    weighted_average_precision,
    weighted_top_k_hits,
)


def _binary(n: int, seed: int = 0) -> tuple[np.ndarray, Predictions]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.5 * y + rng.normal(0.25, 0.25, n), 0.001, 0.999)
    return y, Predictions("binary", (p1 >= 0.5).astype(int), np.c_[1 - p1, p1], [0, 1])


def test_intervals_contain_estimate_and_narrow_with_more_data():
    small = evaluate("classification", *_binary(200), plots=False)
    large = evaluate("classification", *_binary(5000), plots=False)
    assert set(small.intervals) == set(small.metrics)
    for name, (low, high) in large.intervals.items():
        assert low <= large.metrics[name] <= high, name
        s_low, s_high = small.intervals[name]
        assert s_low <= small.metrics[name] <= s_high, name
        assert high - low < s_high - s_low, name
    assert large.bootstrap == 200 and large.confidence == 0.95


def test_deterministic_for_a_seed_and_seed_sensitive():
    y, p = _binary(300)
    a = evaluate("classification", y, p, seed=7, plots=False)
    b = evaluate("classification", y, p, seed=7, plots=False)
    c = evaluate("classification", y, p, seed=8, plots=False)
    assert a.intervals == b.intervals and a.details == b.details
    assert a.intervals != c.intervals


def test_wider_confidence_gives_wider_intervals():
    y, p = _binary(400)
    narrow = evaluate("classification", y, p, confidence=0.5, plots=False, metrics=["accuracy"])
    wide = evaluate("classification", y, p, confidence=0.99, plots=False, metrics=["accuracy"])
    (nl, nh), (wl, wh) = narrow.intervals["accuracy"], wide.intervals["accuracy"]
    assert wl <= nl and nh <= wh


def test_small_samples_skip_intervals_with_a_note():
    y, p = _binary(19)
    result = evaluate("classification", y, p, plots=False)
    assert result.intervals == {} and result.bootstrap == 0
    assert any("fewer than 20" in n for n in result.notes)
    assert evaluate("classification", y, p, plots=False, bootstrap=0).notes == []


def test_resample_weights_are_count_vectors_and_chunk_invariant(monkeypatch):
    chunks = list(resample_weights(50, 30, seed=3))
    W = np.concatenate(chunks)
    assert W.shape == (30, 50) and (W.sum(axis=1) == 50).all()
    import carnet.evaluation.resampling as bs

    monkeypatch.setattr(bs, "MAX_CELLS", 50 * 7)
    chunked = list(bs.resample_weights(50, 30, seed=3))
    assert len(chunked) == 5
    assert np.array_equal(np.concatenate(chunked), W)


def test_weighted_rank_metrics_equal_sklearn_with_sample_weight():
    rng = np.random.default_rng(5)
    score = np.round(rng.normal(size=300), 1)  # many ties
    pos = rng.random(300) < 0.3
    W = rng.integers(0, 4, size=(4, 300)).astype(float)
    auc = weighted_auc(score, pos, W)
    ap = weighted_average_precision(score, pos, W)
    for b in range(4):
        assert auc[b] == pytest.approx(skm.roc_auc_score(pos, score, sample_weight=W[b]))
        assert ap[b] == pytest.approx(skm.average_precision_score(pos, score, sample_weight=W[b]))
    rows = np.repeat(np.arange(300), W[0].astype(int))
    k = 25
    top = rows[np.argsort(-score[rows], kind="stable")][:k]
    assert weighted_top_k_hits(score, pos, W[:1], np.array([k]))[0] == pytest.approx(pos[top].sum())


def test_undefined_resamples_are_noted():
    y = np.r_[np.ones(1), np.zeros(24)].astype(int)
    p1 = np.linspace(0.01, 0.99, 25)
    result = evaluate(
        "classification", y, Predictions("binary", (p1 > 0.5).astype(int), p1, [0, 1]), plots=False
    )
    assert "roc_auc" in result.intervals
    assert any(n.startswith("roc_auc: undefined in") for n in result.notes)
