"""Recommendation metrics at k over users with at least one relevant item.

* truth is ``{user: iterable of relevant items}``; ``predictions.ranking`` is
  ``{user: [items, best first]}``; k = ``options["k"]``, else ``predictions.extra["k"]``,
  else 10. Repeated items in a
  ranking count once (first position). A user without a ranking gets an empty list.
* ``precision_at_k`` = hits in the top k / k (always k, even for shorter lists);
  ``recall_at_k`` = hits / number of relevant items; ``ndcg_at_k`` = DCG / ideal DCG with
  binary relevance, ``DCG = sum 1 / log2(position + 1)`` over hits at positions 1..k and
  the ideal DCG over ``min(k, |relevant|)`` hits. All three are means over evaluated users.
* ``coverage`` = distinct items in the top-k lists of every ranked user / catalogue size,
  the catalogue being ``options["n_items"]`` (else ``predictions.extra["catalog_size"]``) when
  given, else the distinct items in the truth and in all rankings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from carnet.errors import InvalidInput
from carnet.evaluation._common import Impl, option_int
from carnet.evaluation.catalog import default_metrics

__all__ = [
    "IMPLS",
    "RankingData",
    "at_k_curve",
    "catalogue_size",
    "defaults",
    "details",
    "prepare",
    "user_metrics",
]


@dataclass
class RankingData:
    """Evaluated users with their relevant sets and deduplicated rankings."""

    users: list[Any]
    relevant: list[set[Any]]
    ranked: list[list[Any]]
    all_rankings: dict[Any, list[Any]]
    truth_items: set[Any]
    k: int
    n_items: int | None
    n: int
    notes: list[str] = field(default_factory=list)
    per_user: dict[str, np.ndarray] = field(default_factory=dict)


def _dedupe(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def prepare(
    truth: Any, predictions: Any, options: dict[str, Any], *, X: Any = None, fitted: Any = None, seed: int = 0
) -> RankingData:
    """Validate the truth mapping and rankings; keep users with at least one relevant item."""
    if not isinstance(truth, Mapping):
        raise InvalidInput("truth must be a mapping {user: relevant items}", field="truth")
    ranking = predictions.ranking
    if not isinstance(ranking, Mapping):
        raise InvalidInput(
            "predictions.ranking must be a mapping {user: [items]}", field="predictions.ranking"
        )
    extra = predictions.extra or {}
    k = option_int(options, "k", None) or option_int(extra, "k", 10) or 10
    n_items = option_int(options, "n_items", None)
    if n_items is None:
        n_items = option_int(extra, "catalog_size", None)
    rankings: dict[Any, list[Any]] = {}
    for user, items in ranking.items():
        if isinstance(items, str | bytes) or not isinstance(items, Iterable):
            raise InvalidInput(
                f"predictions.ranking[{user!r}] must be a list of items", field="predictions.ranking"
            )
        rankings[user] = _dedupe(items)
    users, relevant, truth_items = [], [], set()
    for user, items in truth.items():
        if isinstance(items, str | bytes) or not isinstance(items, Iterable):
            raise InvalidInput(f"truth[{user!r}] must be a collection of items", field="truth")
        rel = set(items)
        truth_items |= rel
        if rel:
            users.append(user)
            relevant.append(rel)
    if not users:
        raise InvalidInput("truth has no user with a relevant item", field="truth")
    data = RankingData(
        users=users,
        relevant=relevant,
        ranked=[rankings.get(u, []) for u in users],
        all_rankings=rankings,
        truth_items=truth_items,
        k=k,
        n_items=n_items,
        n=len(users),
    )
    missing = sum(1 for u in users if u not in rankings)
    if missing:
        data.notes.append(f"{missing} evaluated user(s) have no ranking (scored as empty lists)")
    if len(users) < len(truth):
        data.notes.append(f"{len(truth) - len(users)} user(s) without relevant items are not scored")
    data.per_user = user_metrics(data, k)
    return data


def defaults(data: RankingData) -> list[str]:
    """Default recommendation metrics."""
    return default_metrics("recommendation")


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def user_metrics(data: RankingData, k: int) -> dict[str, np.ndarray]:
    """Per evaluated user: precision, recall and nDCG at ``k``."""
    disc = _discounts(k)
    prec, rec, ndcg = np.zeros(data.n), np.zeros(data.n), np.zeros(data.n)
    for i, (rel, ranked) in enumerate(zip(data.relevant, data.ranked, strict=True)):
        hits = np.fromiter((item in rel for item in ranked[:k]), dtype=bool, count=min(k, len(ranked)))
        n_hits = hits.sum()
        prec[i] = n_hits / k
        rec[i] = n_hits / len(rel)
        ndcg[i] = disc[: hits.size][hits].sum() / disc[: min(k, len(rel))].sum()
    return {"precision_at_k": prec, "recall_at_k": rec, "ndcg_at_k": ndcg}


def at_k_curve(data: RankingData) -> list[dict[str, float]]:
    """Mean precision, recall and nDCG for every cut-off 1..k."""
    rows = []
    for cut in range(1, data.k + 1):
        values = user_metrics(data, cut) if cut != data.k else data.per_user
        rows.append({"k": cut, **{name: float(v.mean()) for name, v in values.items()}})
    return rows


def _shown(data: RankingData) -> set[Any]:
    return {item for items in data.all_rankings.values() for item in items[: data.k]}


def catalogue_size(data: RankingData) -> int:
    """``options["n_items"]``, else the distinct items in the truth and in all rankings."""
    if data.n_items is not None:
        return data.n_items
    return len(data.truth_items | {i for items in data.all_rankings.values() for i in items})


def _coverage(data: RankingData) -> float:
    catalogue = catalogue_size(data)
    return len(_shown(data)) / catalogue if catalogue else float("nan")


def _per_user(name: str) -> Impl:
    return Impl(
        lambda d: float(d.per_user[name].mean()),
        lambda d, W: (W @ d.per_user[name]) / W.sum(axis=1),
    )


IMPLS: dict[str, Impl] = {
    "precision_at_k": _per_user("precision_at_k"),
    "recall_at_k": _per_user("recall_at_k"),
    "ndcg_at_k": _per_user("ndcg_at_k"),
    "coverage": Impl(_coverage),
}


def details(data: RankingData) -> dict[str, Any]:
    """k, user counts, metric@k for k = 1..K, and the distribution of per-user nDCG."""
    return {
        "k": data.k,
        "users_evaluated": data.n,
        "users_ranked": len(data.all_rankings),
        "distinct_items_recommended": len(_shown(data)),
        "catalogue_size": catalogue_size(data),
        "catalogue_from": "options.n_items" if data.n_items is not None else "truth and rankings",
        "users_with_a_hit": int((data.per_user["precision_at_k"] > 0).sum()),
        "at_k": at_k_curve(data),
    }
