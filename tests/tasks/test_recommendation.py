"""Recommendation on generated interactions with a clear structure: users of a taste group like its items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from carnet.tasks import default_split, get_task
from carnet.tasks.recommendation_models import ItemKNN, MatrixFactorization, Popularity

IDS = {"user_column": "user", "item_column": "item"}


@pytest.fixture(scope="module")
def interactions() -> pd.DataFrame:
    """200 users in 4 taste groups of 30 items each; a few low-rated random items per user."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(200):
        group = u % 4
        liked = rng.choice(np.arange(group * 30, group * 30 + 30), size=12, replace=False)
        for item in liked:
            rows.append((f"u{u}", f"i{item}", int(rng.integers(4, 6))))
        for item in rng.choice(120, size=2, replace=False):
            rows.append((f"u{u}", f"i{item}", int(rng.integers(1, 3))))
    return pd.DataFrame(rows, columns=["user", "item", "rating"]).drop_duplicates(["user", "item"])


def _hit_rates(frame: pd.DataFrame, options: dict, models: dict) -> tuple[dict[str, float], dict]:
    task = get_task("recommendation")
    task.check_target(frame, None, options)
    [(train, test)] = task.split(frame, None, default_split(task), 0, options)
    truth = task.truth(frame.iloc[test], None, options)
    seen = frame.iloc[train].groupby("user")["item"].agg(set)
    rates, preds = {}, {}
    for name, model in models.items():
        fitted = task.fit(model, frame.iloc[train], None, options)
        pred = task.predict(fitted, frame.iloc[test], options)
        assert pred.task == "recommendation" and pred.extra == {"k": 10, "catalog_size": 120}
        assert set(pred.ranking) == set(frame["user"].iloc[test])
        for user, items in pred.ranking.items():
            assert len(items) == 10 == len(set(items)) and seen[user].isdisjoint(items)  # unseen only
        rates[name] = float(np.mean([bool(set(pred.ranking[u]) & rel) for u, rel in truth.items()]))
        preds[name] = pred
    return rates, preds


def test_collaborative_models_beat_popularity_on_implicit_feedback(interactions: pd.DataFrame) -> None:
    models = {
        "popularity": Popularity(),
        "item_knn": ItemKNN(),
        "matrix_factorization": MatrixFactorization(8),
    }
    rates, _ = _hit_rates(interactions.drop(columns="rating"), IDS, models)
    assert rates["item_knn"] > rates["popularity"] + 0.3
    assert rates["matrix_factorization"] > rates["popularity"] + 0.3


def test_collaborative_models_beat_popularity_on_explicit_ratings(interactions: pd.DataFrame) -> None:
    options = {**IDS, "rating_column": "rating"}
    models = {
        "popularity": Popularity(),
        "item_knn": ItemKNN(n_neighbors=20),
        "matrix_factorization": MatrixFactorization(8),
        "centred": MatrixFactorization(4, center=True),
    }
    rates, _ = _hit_rates(interactions, options, models)
    assert rates["item_knn"] > rates["popularity"] + 0.3
    assert rates["matrix_factorization"] > rates["popularity"] + 0.3  # the default (PureSVD)
    assert rates["centred"] > rates["popularity"]


def test_truth_keeps_relevant_items() -> None:
    task = get_task("recommendation")
    frame = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "a", "c"], "rating": [5, 3, 4, 1]})
    assert task.truth(frame, None, IDS) == {1: {"a", "b"}, 2: {"a", "c"}}  # implicit: every interaction
    assert task.truth(frame, None, {**IDS, "rating_column": "rating"}) == {1: {"a"}, 2: {"a"}}  # >= 4 on 1-5
    assert task.truth(frame, "rating", {**IDS, "relevance_threshold": 3}) == {1: {"a", "b"}, 2: {"a"}}
    scaled = frame.assign(rating=[50, 30, 40, 10])  # not 1-5: the 75th percentile (42.5)
    assert task.truth(scaled, "rating", IDS) == {1: {"a"}}


def test_unknown_users_get_popular_items_and_ratings_can_come_from_the_target() -> None:
    task = get_task("recommendation")
    frame = pd.DataFrame(
        {"user": [1, 1, 2, 3, 3], "item": ["a", "b", "a", "a", "c"], "rating": [5, 4, 5, 2, 5]}
    )
    fitted = task.fit(ItemKNN(), frame[["user", "item"]], frame["rating"], IDS)  # target as ratings
    assert fitted.explicit_
    new = pd.DataFrame({"user": [1, 99], "item": ["c", "c"]})
    pred = task.predict(fitted, new, {**IDS, "k": 2})
    assert pred.ranking[99] == ["a", "b"]  # cold start: most popular (a: 3 users; b and c: 1, b first)
    assert pred.ranking[1] == ["c"]  # only c is unseen
    assert fitted.predict(new).shape == (2,) and fitted.predict(new)[1] == 0.0


@pytest.mark.parametrize(
    "model", [Popularity(), ItemKNN(n_neighbors=5), MatrixFactorization(n_components=3, seed=1)]
)
def test_recommenders_clone_and_round_trip_params(model, interactions: pd.DataFrame) -> None:
    params = model.get_params()
    assert type(model)(**params).get_params() == params
    twin = clone(model)
    assert twin is not model and twin.get_params() == params
    fitted = twin.fit(interactions[["user", "item"]])
    again = clone(model).fit(interactions[["user", "item"]])
    users = ["u0", "u1", "u2"]
    assert fitted.recommend(users, k=5) == again.recommend(users, k=5)  # deterministic given the seed
    assert not hasattr(model, "interactions_")  # clone left the original unfitted
