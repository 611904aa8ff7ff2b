"""The A/B engine: the mSPRT keeps its false-positive rate under peeking (a repeated t-test does not),
finds a real effect, gives the classical sample size, and handles empty arms and zero variance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from carnet.errors import InvalidInput
from carnet.monitoring.ab import (
    compare,
    fixed_horizon_size,
    msprt,
    overall_decision,
    row_metric,
    row_outcomes,
    sample_ratio,
    sequence_path,
    sequential_size,
    summarize,
)

ALPHA = 0.05


def _batched_times(n: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Log times of ``n`` rows arriving in batches (batch ``k`` at times in ``[k, k + 0.5)``)."""
    return np.repeat(np.arange(n // batch), batch) + rng.random(n) * 0.5


def _naive_peeking_rejects(a: np.ndarray, b: np.ndarray, batch: int) -> bool:
    """Whether a two-sample t-test read after every batch ever has p < alpha (vectorised)."""
    from scipy.stats import t as student

    n = np.arange(batch, len(a) + 1, batch)
    ca, cb = np.cumsum(a)[n - 1], np.cumsum(b)[n - 1]
    qa, qb = np.cumsum(a**2)[n - 1], np.cumsum(b**2)[n - 1]
    ma, mb = ca / n, cb / n
    va, vb = (qa - n * ma**2) / (n - 1), (qb - n * mb**2) / (n - 1)
    pooled = np.sqrt(np.maximum((va + vb) / n, 1e-12))
    p = 2 * student.sf(np.abs(ma - mb) / pooled, 2 * n - 2)
    return bool((p[1:] < ALPHA).any())  # from the second batch on


def test_peeking_after_every_batch_keeps_the_false_positive_rate_while_a_t_test_does_not() -> None:
    rng = np.random.default_rng(20240601)
    sims, n, batch = 300, 1000, 25
    sequential = naive = 0
    for _ in range(sims):
        a = (rng.random(n) < 0.8).astype(float)  # A/A: both arms are the same version
        b = (rng.random(n) < 0.8).astype(float)
        ta, tb = _batched_times(n, batch, rng), _batched_times(n, batch, rng)
        # looks=None: the sequence is read after every row, so after every batch too
        path = sequence_path(
            a, b, kind="bernoulli", tau=0.05, alpha=ALPHA, control_times=ta, challenger_times=tb, looks=None
        )
        sequential += path.p_value <= ALPHA
        naive += _naive_peeking_rejects(a, b, batch)
    assert sequential / sims <= 0.08
    assert naive / sims > 0.15  # about 28 %: peeking with a fixed-sample test inflates false positives
    assert naive > 3 * sequential


def test_the_default_mixing_keeps_the_rate_on_heavy_tailed_losses() -> None:
    rng = np.random.default_rng(5)
    sims = 150
    hits = 0
    for _ in range(sims):
        a, b = rng.exponential(1.0, 800) ** 2, rng.exponential(1.0, 800) ** 2  # squared errors, A/A
        hits += compare(a, b, kind="continuous", greater_is_better=False, looks=None).p_value <= ALPHA
    assert hits / sims <= 0.08


def test_a_real_effect_reaches_promote_challenger_and_the_reverse_keeps_the_control() -> None:
    rng = np.random.default_rng(7)
    worse = (rng.random(1500) < 0.80).astype(float)
    better = (rng.random(1500) < 0.90).astype(float)
    up = compare(worse, better, kind="bernoulli", greater_is_better=True, mde=0.03, names=("v1", "v2"))
    assert up.decision == "promote_challenger" and up.favours == "challenger"
    assert up.upper is not None and up.upper < 0  # control - challenger < 0: the challenger wins
    assert up.p_value <= ALPHA and up.fixed_horizon is not None and up.sequential is not None
    assert up.remaining == {"control": 0, "challenger": 0, "total": 0}
    down = compare(better, worse, kind="bernoulli", greater_is_better=True, mde=0.03)
    assert down.decision == "keep_control" and down.favours == "control" and down.lower > 0
    # a loss: lower is better, so a challenger with smaller squared errors wins
    small, large = rng.normal(0, 1.0, 800) ** 2, rng.normal(0, 1.3, 800) ** 2
    loss = compare(large, small, kind="continuous", greater_is_better=False, mde=0.2)
    assert loss.decision == "promote_challenger" and loss.lower > 0
    assert overall_decision([up, down])[0] == "promote_challenger"
    assert overall_decision([down])[0] == "keep_control"


def test_the_sequence_is_a_running_intersection_and_matches_the_mixture_ratio() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 1.0, 600), rng.normal(1.1, 1.0, 600)
    path = sequence_path(a, b, kind="continuous", tau=0.1, alpha=ALPHA, looks=50)
    lo, hi = np.array(path.lower), np.array(path.upper)
    assert (np.diff(lo) >= 0).all() and (np.diff(hi) <= 0).all() and (lo <= hi).all()
    # at the boundary of the sequence the mixture likelihood ratio is exactly 1/alpha
    d, v, tau = 0.3, 0.01, 0.1
    half, _ = msprt(d, v, tau, ALPHA)
    _, loglr = msprt(float(half), v, tau, ALPHA)  # an estimate at the edge, tested against 0
    assert math.isclose(float(loglr), math.log(1 / ALPHA), rel_tol=1e-9)
    lam = math.sqrt(v / (v + tau**2)) * math.exp(tau**2 * d**2 / (2 * v * (v + tau**2)))
    assert math.isclose(float(msprt(d, v, tau, ALPHA)[1]), math.log(lam), rel_tol=1e-12)


def test_sample_sizes_against_the_closed_form() -> None:
    # two proportions at 0.5, a 10-point effect, alpha 0.05 two-sided, power 0.8: 392.4 -> 393 per arm
    assert fixed_horizon_size(0.25, 0.25, 0.1) == {"control": 393, "challenger": 393, "total": 786}
    z = norm.ppf(0.975) + norm.ppf(0.9)
    total = z**2 * (1.0 / 0.8 + 2.0 / 0.2) / 0.5**2  # unequal variances and an 80/20 split
    sizes = fixed_horizon_size(1.0, 2.0, 0.5, alpha=0.05, power=0.9, share=0.8)
    assert sizes == {
        "control": math.ceil(0.8 * total),
        "challenger": math.ceil(0.2 * total),
        "total": sizes["total"],
    }
    seq = sequential_size(0.25, 0.25, 0.1, tau=0.1)
    assert seq["control"] > 393  # the price of reading at any time
    v = (0.25 / 0.5 + 0.25 / 0.5) / seq["total"]  # at that size the test detects mde with 80% power
    assert float(msprt(0.0, v, 0.1, ALPHA)[0]) + norm.ppf(0.8) * math.sqrt(v) <= 0.1 + 1e-9


def test_edge_cases_empty_arm_identical_outcomes_zero_variance() -> None:
    rng = np.random.default_rng(11)
    some = (rng.random(100) < 0.7).astype(float)
    empty = compare(some, [], kind="bernoulli", greater_is_better=True, names=("v1", "v2"))
    assert empty.decision == "continue" and "v2" in empty.reason and empty.difference is None
    assert empty.fixed_horizon is not None  # the other arm's variance still sizes the experiment
    nothing = compare([], [], kind="continuous", greater_is_better=False)
    assert nothing.decision == "continue" and nothing.fixed_horizon is None
    # both arms always right: the smoothed variance keeps an honest interval, which shrinks within mde
    ones = compare(np.ones(500), np.ones(500), kind="bernoulli", greater_is_better=True, mde=0.05)
    assert ones.difference == 0 and ones.lower < 0 < ones.upper
    assert ones.decision == "keep_control" and "no meaningful difference" in ones.reason
    # zero variance of a continuous outcome (both perfect regressors)
    zero = compare(np.zeros(50), np.zeros(50), kind="continuous", greater_is_better=False)
    assert zero.decision == "keep_control" and zero.lower == zero.upper == 0.0
    # constant but different losses: decided once each arm has enough rows
    split = compare(np.ones(40), np.zeros(40), kind="continuous", greater_is_better=False)
    assert split.decision == "promote_challenger" and split.difference == 1.0
    few = compare(np.ones(5), np.zeros(5), kind="continuous", greater_is_better=False)
    assert few.decision == "continue" and "fewer than" in few.reason
    one = summarize("v1", [3.0], kind="continuous")
    assert one.mean == 3.0 and one.lower is None
    wilson = summarize("v1", np.ones(20), kind="bernoulli")
    assert wilson.upper == 1.0 and 0.8 < wilson.lower < 1.0
    with pytest.raises(InvalidInput) as bad:
        compare(some, some, kind="bernoulli", greater_is_better=True, alpha=1.5)
    assert bad.value.field == "alpha"
    with pytest.raises(InvalidInput) as bad:
        compare(some, some, kind="bernoulli", greater_is_better=True, mde=-1)
    assert bad.value.field == "mde"


def test_metrics_that_decompose_per_row_and_their_outcomes() -> None:
    assert row_metric(None, "classification").name == "accuracy"
    assert row_metric(None, "regression").name == "mse"
    assert row_metric("log_loss", "classification").greater_is_better is False
    assert row_metric("accuracy", "classification").kind == "bernoulli"
    for name, family in (("roc_auc", "classification"), ("mae", "classification"), ("f1", "regression")):
        with pytest.raises(InvalidInput) as bad:
            row_metric(name, family)
        assert bad.value.field == "metric" and "mean over rows" in bad.value.message
    acc = row_metric("accuracy", "classification")
    # labels read from CSV as text against integer predictions
    assert row_outcomes(acc, np.array(["1", "0", "1"]), np.array([1, 1, 1])).tolist() == [1.0, 0.0, 1.0]
    scores = np.array([[0.2, 0.8], [0.9, 0.1]])
    loss = row_outcomes(row_metric("log_loss", "classification"), [1, 1], [1, 0], scores, [0, 1])
    assert np.allclose(loss, [-math.log(0.8), -math.log(0.1)])
    brier = row_outcomes(row_metric("brier", "classification"), [1, 0], [1, 0], scores, [0, 1])
    assert np.allclose(brier, [0.04, 0.01])
    with pytest.raises(InvalidInput) as bad:
        row_outcomes(row_metric("log_loss", "classification"), [1], [1])
    assert bad.value.field == "metric"
    reg = row_outcomes(row_metric("mae", "regression"), [1.0, 2.0], [1.5, 0.0])
    assert reg.tolist() == [0.5, 2.0]
    assert row_outcomes(row_metric("mse", "regression"), [1.0, 2.0], [1.5, 0.0]).tolist() == [0.25, 4.0]


def test_the_sample_ratio_check_flags_a_split_unlike_the_weights() -> None:
    skewed = sample_ratio({"v1": 331, "v2": 238}, {"v1": 50.0, "v2": 50.0})
    assert skewed is not None and skewed["mismatch"] and skewed["p_value"] < 0.001
    assert skewed["observed_share"]["v1"] == pytest.approx(331 / 569)
    fair = sample_ratio({"v1": 900, "v2": 105}, {"v1": 90.0, "v2": 10.0})
    assert fair is not None and not fair["mismatch"] and fair["expected_share"]["v2"] == pytest.approx(0.1)
    assert sample_ratio({"v1": 10}, {"v1": 1.0}) is None
    assert sample_ratio({"v1": 0, "v2": 0}, {"v1": 1.0, "v2": 1.0}) is None
