"""Recommendation: rank items for users from their past interactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from carnet.domain.training import Predictions, SplitSpec
from carnet.errors import InvalidInput
from carnet.tasks._base import TaskBase, check_target_column, option_float, option_int, option_str, quote

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from carnet.plugins.api import ModelFactory

__all__ = ["Recommendation"]

_DEFAULT_K = 10


class Recommendation(TaskBase):
    """Recommend ``k`` items per user, from a frame with one row per (user, item) interaction.

    Options: ``user_column`` and ``item_column`` (required); ``rating_column`` for explicit
    ratings (implicit feedback otherwise: every interaction is relevant); ``k`` (default 10);
    ``relevance_threshold`` (explicit ratings only; default 4.0 for ratings on a 1-5 scale,
    else the 75th percentile of the evaluated ratings); ``time_column`` (optional: the holdout
    then keeps each user's latest interactions for testing).

    Prefer ``rating_column`` with no target. A target, when given without ``rating_column``,
    is taken as the rating column; the model then reads it from the frame or, if the training
    engine dropped it from the features, from ``y``. These columns must stay in the feature
    frame (:meth:`required_columns`).

    The split holds out a ``test_size`` share of each user's interactions (users with fewer
    than 2 interactions stay in training). ``predict`` ranks, for every user in ``X``, the top
    ``k`` items the user did not interact with in training; ``truth`` gives each user's
    relevant test items. ``extra``: ``k`` and ``catalog_size`` (items known at fit, for coverage).
    """

    name = "recommendation"
    description = "rank items for each user from past (user, item[, rating]) interactions"
    supervised = False
    tabular = False
    family = "recommendation"
    option_help: ClassVar[dict[str, str]] = {
        "user_column": "column of user ids (required)",
        "item_column": "column of item ids (required)",
        "rating_column": "column of explicit ratings (omit for implicit feedback)",
        "time_column": "interaction time: the holdout keeps each user's latest interactions for testing",
        "k": "length of each user's recommendation list (default 10)",
        "relevance_threshold": "explicit ratings >= this are relevant (default 4.0 on a 1-5 scale, "
        "else the 75th percentile)",
    }
    _metrics = ("precision_at_k", "recall_at_k", "ndcg_at_k", "coverage")
    _primary = ("ndcg_at_k", "maximize")
    _default_model = "item_knn"
    _candidates = ("item_knn", "matrix_factorization", "popularity")

    def models(self) -> dict[str, ModelFactory]:
        """Models ``popularity``, ``item_knn`` and ``matrix_factorization``."""
        from carnet.tasks.recommendation_models import ItemKNN, MatrixFactorization, Popularity

        return {"popularity": Popularity, "item_knn": ItemKNN, "matrix_factorization": MatrixFactorization}

    def default_split(self) -> SplitSpec:
        """A per-user holdout of 20 % of each user's interactions."""
        return SplitSpec(kind="holdout", test_size=0.2)

    def required_columns(self, options: dict[str, Any]) -> list[str]:
        """User, item and, when named, rating and time columns."""
        names = [
            option_str(options, key) for key in ("user_column", "item_column", "rating_column", "time_column")
        ]
        return [n for n in names if n]

    # -- options -----------------------------------------------------------------------------

    @staticmethod
    def _ids(frame: pd.DataFrame, options: dict[str, Any]) -> tuple[str, str]:
        columns = []
        for key in ("user_column", "item_column"):
            column = option_str(options, key)
            if column is None:
                raise InvalidInput(
                    f"task recommendation needs task_options.{key}", field=f"task_options.{key}"
                )
            if column not in frame.columns:
                raise InvalidInput(
                    f"{key} {quote(column)} is not a column of the data", field=f"task_options.{key}"
                )
            columns.append(column)
        return columns[0], columns[1]

    @staticmethod
    def _rating(options: dict[str, Any], target: str | None) -> str | None:
        return option_str(options, "rating_column") or target

    @staticmethod
    def k(options: dict[str, Any]) -> int:
        """The list length ``k`` from the options (default 10)."""
        return int(option_int(options, "k", _DEFAULT_K) or _DEFAULT_K)

    @staticmethod
    def relevance_threshold(ratings: pd.Series, options: dict[str, Any]) -> float:
        """Ratings >= this are relevant: the option, 4.0 on a 1-5 scale, else the 75th percentile."""
        given = option_float(options, "relevance_threshold", None)
        if given is not None:
            return given
        if len(ratings) and ratings.min() >= 1 and ratings.max() <= 5:
            return 4.0
        return float(ratings.quantile(0.75)) if len(ratings) else 0.0

    # -- protocol ----------------------------------------------------------------------------

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        """User and item columns exist without missing ids; ratings, if any, are numeric; valid options."""
        import pandas as pd

        user, item = self._ids(frame, options)
        for column in (user, item):
            missing = int(frame[column].isna().sum())
            if missing:
                raise InvalidInput(
                    f"column {quote(column)} has {missing} missing id(s)", field="task_options"
                )
        rating = self._rating(options, target)
        if rating is not None:
            series = check_target_column(frame, rating, self.name)
            if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
                raise InvalidInput(
                    f"rating column {quote(rating)} is not numeric ({series.dtype}); "
                    "omit rating_column for implicit feedback",
                    field="target" if rating == target else "task_options.rating_column",
                )
        for column, what in ((user, "users"), (item, "items")):
            if frame[column].nunique() < 2:
                raise InvalidInput(
                    f"task recommendation needs at least 2 {what} in {quote(column)}", field="dataset"
                )
        self.k(options)
        option_float(options, "relevance_threshold", None)

    def split(
        self, frame: pd.DataFrame, target: str | None, split: SplitSpec, seed: int, options: dict[str, Any]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-user holdout of a ``test_size`` share of each user's interactions (seeded).

        Users with fewer than 2 interactions stay in training; every tested user keeps at least
        one training interaction. With a time column (``task_options.time_column`` or
        ``split.time_column``) each user's latest interactions are held out; split kind ``time``
        requires one.
        """
        import numpy as np

        from carnet.tasks._splits import check_split

        if split.kind not in ("holdout", "time"):
            raise InvalidInput(
                f"split kind {split.kind!r} is not supported by task recommendation; use holdout "
                "(a share of each user's interactions) or time (each user's latest interactions)",
                field="split.kind",
            )
        check_split(split, len(frame), ("holdout", "time"), self.name)
        user, _ = self._ids(frame, options)
        time_column = option_str(options, "time_column") or split.time_column
        times = None
        if time_column is not None:
            from carnet.tasks._time import parse_time

            if time_column not in frame.columns:
                raise InvalidInput(
                    f"time column {quote(time_column)} is not a column of the data", field="split.time_column"
                )
            times = parse_time(frame[time_column], time_column, "split.time_column")
        elif split.kind == "time":
            raise InvalidInput(
                "split kind time needs split.time_column or task_options.time_column",
                field="split.time_column",
            )
        rng = np.random.default_rng(seed)
        test_parts = []
        for rows in frame.groupby(user, sort=True, dropna=False).indices.values():
            n_u = len(rows)
            if n_u < 2:
                continue
            n_test = min(n_u - 1, max(1, round(n_u * split.test_size)))
            if times is not None:
                ordered = rows[np.argsort(times[rows], kind="stable")]
                test_parts.append(ordered[-n_test:])
            else:
                test_parts.append(rng.choice(rows, size=n_test, replace=False))
        test = np.sort(np.concatenate(test_parts)).astype(np.int64) if test_parts else np.empty(0, np.int64)
        if test.size == 0:
            raise InvalidInput("no user has 2 or more interactions; nothing can be held out", field="split")
        train = np.setdiff1d(np.arange(len(frame), dtype=np.int64), test)
        return [(train, test)]

    def fit(self, estimator: Any, X: pd.DataFrame, y: pd.Series | None, options: dict[str, Any]) -> Any:
        """Fit a recommender on the (user, item) pairs of ``X`` and the ratings, when explicit."""
        user, item = self._ids(X, options)
        rating = option_str(options, "rating_column")
        ratings = None
        if rating is not None and rating in X.columns:
            ratings = X[rating]
        elif rating is not None or y is not None:
            if y is None:
                raise InvalidInput(
                    f"rating column {quote(rating)} is not in the features and no target values were given",
                    field="task_options.rating_column",
                )
            ratings = y
        fitted = estimator.fit(X[[user, item]], None if ratings is None else ratings.to_numpy(dtype=float))
        return estimator if fitted is None else fitted

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        """``ranking``: the top-``k`` unseen items for each user of ``X``."""
        user, _ = self._ids(X, options)
        k = self.k(options)
        users = X[user].drop_duplicates().tolist()
        ranking = fitted.recommend(users, k=k)
        catalog = len(getattr(fitted, "items_", ()))
        return Predictions(task=self.name, ranking=ranking, extra={"k": k, "catalog_size": catalog})

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        """``{user: set(relevant items)}`` of ``frame``, for users with at least one relevant item."""
        user, item = self._ids(frame, options)
        rating = self._rating(options, target)
        rows = frame
        if rating is not None and rating in frame.columns:
            threshold = self.relevance_threshold(frame[rating], options)
            rows = frame[frame[rating] >= threshold]
        relevant: dict[Any, set[Any]] = {}
        for u, i in zip(rows[user].tolist(), rows[item].tolist(), strict=True):
            relevant.setdefault(u, set()).add(i)
        return relevant
