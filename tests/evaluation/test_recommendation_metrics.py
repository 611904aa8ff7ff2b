"""Ranking metrics at k on a tiny hand-computed example."""

from __future__ import annotations

import math

import pytest

from carnet.domain.training import Predictions
from carnet.errors import InvalidInput
from carnet.evaluation import evaluate, score

TRUTH = {"u1": {"a", "b"}, "u2": {"c"}, "u3": set(), "u4": {"e", "f", "g"}}
RANKING = {
    "u1": ["a", "x", "b", "y"],
    "u2": ["x", "y", "z", "c"],
    "u3": ["a"],
    # u4 has no ranking: scored as an empty list
}


def _log(i: int) -> float:
    return 1 / math.log2(i + 1)


def test_precision_recall_ndcg_at_3_by_hand():
    p = Predictions("recommendation", ranking=RANKING)
    result = evaluate("recommendation", TRUTH, p, options={"k": 3}, bootstrap=0, plots=True)
    assert result.n == 3  # u3 has no relevant item
    # u1 hits a@1, b@3; u2 nothing in top 3; u4 empty
    assert result.metrics["precision_at_k"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert result.metrics["recall_at_k"] == pytest.approx((1 + 0 + 0) / 3)
    ndcg_u1 = (_log(1) + _log(3)) / (_log(1) + _log(2))
    assert result.metrics["ndcg_at_k"] == pytest.approx(ndcg_u1 / 3)
    # coverage: top-3 items {a, x, b, y, z} over catalogue {a, b, c, e, f, g, x, y, z} = 9 items
    assert result.metrics["coverage"] == pytest.approx(5 / 9)
    assert any("no ranking" in n for n in result.notes)
    at_k = result.details["at_k"]
    assert [r["k"] for r in at_k] == [1, 2, 3]
    assert at_k[0]["precision_at_k"] == pytest.approx(1 / 3)
    assert result.plot("metrics_at_k").data["ndcg_at_k"][-1] == pytest.approx(result.metrics["ndcg_at_k"])


def test_ideal_dcg_uses_min_k_relevant_and_catalogue_option():
    truth = {"u": {"a", "b", "c", "d"}}
    p = Predictions("recommendation", ranking={"u": ["z", "a", "a", "b"]})  # repeated "a" counts once
    opts = {"k": 2, "n_items": 100}
    ndcg = (0 + _log(2)) / (_log(1) + _log(2))
    assert score("recommendation", "ndcg_at_k", truth, p, opts) == pytest.approx(ndcg)
    assert score("recommendation", "precision_at_k", truth, p, opts) == pytest.approx(1 / 2)
    assert score("recommendation", "recall_at_k", truth, p, opts) == pytest.approx(1 / 4)
    assert score("recommendation", "coverage", truth, p, opts) == pytest.approx(2 / 100)


def test_bad_recommendation_inputs():
    with pytest.raises(InvalidInput) as err:
        evaluate("recommendation", [("u", "a")], Predictions("recommendation", ranking={}))
    assert err.value.field == "truth"
    with pytest.raises(InvalidInput) as err:
        evaluate("recommendation", TRUTH, Predictions("recommendation", ranking=None))
    assert err.value.field == "predictions.ranking"
    with pytest.raises(InvalidInput) as err:
        evaluate("recommendation", TRUTH, Predictions("recommendation", ranking=RANKING), options={"k": 0})
    assert err.value.field == "k"


def test_user_bootstrap_intervals():
    truth = {u: {u % 7, (u * 3) % 11} for u in range(60)}
    ranking = {u: [(u + j) % 11 for j in range(6)] for u in range(60)}
    result = evaluate(
        "recommendation", truth, Predictions("recommendation", ranking=ranking), options={"k": 5}
    )
    assert set(result.intervals) == {"precision_at_k", "recall_at_k", "ndcg_at_k"}
    for name, (low, high) in result.intervals.items():
        assert low <= result.metrics[name] <= high
