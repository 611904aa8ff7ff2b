"""Recommenders of the ``recommendation`` task: popularity, item k-NN and matrix factorisation.

scikit-learn-compatible estimators (``get_params``/``set_params``, ``clone``). ``fit(X, y)``:
``X`` holds interactions, user in the first column and item in the second (a DataFrame or a
2-column array); ``y`` the explicit ratings, or None for implicit feedback (every interaction
counts 1; repeated pairs count once). Repeated (user, item) ratings are averaged.

``recommend(users, k)`` returns ``{user: [up to k items, best first]}`` of items the user did
not interact with in training; users unknown at fit time get the most popular items.
``predict(X)`` returns the score of each (user, item) row (0 for unknown users or items).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

__all__ = ["ItemKNN", "MatrixFactorization", "Popularity"]

_BATCH = 1024


def _pairs(X: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(X, "iloc"):
        if X.shape[1] < 2:
            raise ValueError("X needs a user column and an item column")
        return X.iloc[:, 0].to_numpy(), X.iloc[:, 1].to_numpy()
    arr = np.asarray(X, dtype=object)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError("X needs a user column and an item column")
    return arr[:, 0], arr[:, 1]


def _plain(values: np.ndarray) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values]


class _Recommender(BaseEstimator):
    """Shared plumbing: id maps, the user-item matrix, popularity, top-k selection."""

    def fit(self, X: Any, y: Any = None) -> _Recommender:
        """Build the user-item matrix from interactions ``X`` (and ratings ``y``) and fit the model."""
        import pandas as pd
        from scipy import sparse

        users, items = _pairs(X)
        u_codes, u_labels = pd.factorize(pd.Series(users), sort=True)
        i_codes, i_labels = pd.factorize(pd.Series(items), sort=True)
        if (u_codes < 0).any() or (i_codes < 0).any():
            raise ValueError("X has missing user or item ids")
        shape = (len(u_labels), len(i_labels))
        ones = np.ones(len(u_codes))
        counts = sparse.csr_matrix((ones, (u_codes, i_codes)), shape=shape)
        self.explicit_ = y is not None
        if self.explicit_:
            ratings = np.asarray(y, dtype=float).ravel()
            if len(ratings) != len(u_codes) or not np.all(np.isfinite(ratings)):
                raise ValueError("y must hold one finite rating per interaction")
            sums = sparse.csr_matrix((ratings, (u_codes, i_codes)), shape=shape)
            matrix = sums.multiply(counts.power(-1)).tocsr()
        else:
            matrix = (counts > 0).astype(float).tocsr()
        self.users_ = np.asarray(u_labels, dtype=object)
        self.items_ = np.asarray(i_labels, dtype=object)
        self.user_index_ = {u: i for i, u in enumerate(_plain(self.users_))}
        self.item_index_ = {t: i for i, t in enumerate(_plain(self.items_))}
        self.seen_ = (counts > 0).astype(np.int8).tocsr()
        self.item_popularity_ = np.asarray(self.seen_.sum(axis=0), dtype=float).ravel()
        self.interactions_ = matrix
        self._fit_matrix(matrix)
        return self

    def _fit_matrix(self, matrix: Any) -> None:
        """Learn from the user-item matrix (CSR; ratings or 1.0)."""

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        """Scores ``(len(rows), n_items)`` of known users ``rows``; higher is better."""
        raise NotImplementedError

    def _rank(self, scores: np.ndarray, seen: Any, k: int) -> list[list[Any]]:
        """Top-``k`` item labels per row, unseen items only; ties go to the more popular item."""
        scores = np.array(scores, dtype=float)
        if seen is not None:
            r, c = seen.nonzero()
            scores[r, c] = -np.inf
        n_items = scores.shape[1]
        k = min(int(k), n_items)
        popularity = self.item_popularity_
        out = []
        for row in scores:
            if k < n_items:  # candidates: the k best scores and everything tied with the k-th
                kth = np.partition(row, n_items - k)[n_items - k]
                candidates = np.flatnonzero(row >= kth)
            else:
                candidates = np.arange(n_items)
            best = candidates[np.lexsort((-popularity[candidates], -row[candidates]))][:k]
            out.append(_plain(self.items_[best[np.isfinite(row[best])]]))
        return out

    def _batch(self) -> int:
        """Users scored at once: dense score rows stay around 32 MB."""
        return max(1, min(_BATCH, 4_000_000 // max(1, len(self.items_))))

    def recommend(self, users: Iterable[Any], k: int = 10, exclude_seen: bool = True) -> dict[Any, list[Any]]:
        """``{user: top-k items}``, training interactions excluded; unknown users get the most popular."""
        check_is_fitted(self, "interactions_")
        users = _plain(np.asarray(list(users), dtype=object))
        known = [(u, self.user_index_[u]) for u in users if u in self.user_index_]
        result: dict[Any, list[Any]] = {}
        cold = [u for u in users if u not in self.user_index_]
        if cold:
            popular = self._rank(self.item_popularity_[None, :], None, k)[0]
            result.update({u: list(popular) for u in cold})
        size = self._batch()
        for start in range(0, len(known), size):
            batch = known[start : start + size]
            rows = np.array([row for _, row in batch], dtype=np.int64)
            seen = self.seen_[rows] if exclude_seen else None
            for (user, _), ranked in zip(batch, self._rank(self._scores(rows), seen, k), strict=True):
                result[user] = ranked
        return {u: result[u] for u in users}

    def predict(self, X: Any) -> np.ndarray:
        """The score of each (user, item) row of ``X`` (0 for unknown users or items)."""
        check_is_fitted(self, "interactions_")
        users, items = _pairs(X)
        rows = np.array([self.user_index_.get(u, -1) for u in _plain(users)], dtype=np.int64)
        cols = np.array([self.item_index_.get(t, -1) for t in _plain(items)], dtype=np.int64)
        out = np.zeros(len(rows), dtype=float)
        known = np.flatnonzero((rows >= 0) & (cols >= 0))
        size = self._batch()
        for start in range(0, len(known), size):
            pick = known[start : start + size]
            out[pick] = self._scores(rows[pick])[np.arange(len(pick)), cols[pick]]
        return out


class Popularity(_Recommender):
    """Recommend the items most users interacted with (a baseline)."""

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.item_popularity_, (len(rows), 1))


class ItemKNN(_Recommender):
    """Item-item collaborative filtering: cosine similarity of item columns of the user-item matrix.

    A user's score for an item is the similarity-weighted sum of the user's own interactions
    (ratings for explicit feedback, 1 for implicit), using each item's ``n_neighbors`` most
    similar items.

    Args:
        n_neighbors: similar items kept per item (None = all).
    """

    def __init__(self, n_neighbors: int | None = 50) -> None:
        self.n_neighbors = n_neighbors

    def _fit_matrix(self, matrix: Any) -> None:
        from scipy import sparse
        from sklearn.preprocessing import normalize

        cols = normalize(matrix.T.tocsr(), norm="l2", axis=1)
        sim = (cols @ cols.T).tocsr()
        sim.setdiag(0.0)
        sim.eliminate_zeros()
        k = self.n_neighbors
        if k is not None and int(k) < sim.shape[1]:
            sim = _top_per_row(sim, int(k))
        # score = interactions @ sim.T: row i of sim holds the neighbours of item i
        self.similarity_ = sparse.csr_matrix(sim.T)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.interactions_[rows] @ self.similarity_).toarray(), dtype=float)


def _top_per_row(matrix: Any, k: int) -> Any:
    """Keep the ``k`` largest entries of each row of a CSR matrix."""
    from scipy import sparse

    data, indices, indptr = [], [], [0]
    for i in range(matrix.shape[0]):
        lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
        vals, cols = matrix.data[lo:hi], matrix.indices[lo:hi]
        if len(vals) > k:
            keep = np.argpartition(-vals, k - 1)[:k]
            vals, cols = vals[keep], cols[keep]
        data.append(vals)
        indices.append(cols)
        indptr.append(indptr[-1] + len(vals))
    return sparse.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.asarray(indptr)), shape=matrix.shape
    )


class MatrixFactorization(_Recommender):
    """Truncated SVD of the user-item matrix: raw ratings (explicit) or the binary matrix (implicit).

    By default the raw ratings are factorised with unrated cells as 0 ("PureSVD"), which
    ranks better for top-k lists; with ``center=True`` explicit ratings are centred on each
    user's mean (unrated cells count as the mean). Scores are the rank-``n_components``
    reconstruction (plus the mean when centred).

    Args:
        n_components: latent factors (capped below the matrix's smaller side).
        seed: random state of the randomized SVD.
        center: centre explicit ratings on each user's mean (default False: raw ratings,
            unrated = 0, "PureSVD").
    """

    def __init__(self, n_components: int = 20, seed: int | None = 0, center: bool = False) -> None:
        self.n_components = n_components
        self.seed = seed
        self.center = center

    def _fit_matrix(self, matrix: Any) -> None:
        from sklearn.decomposition import TruncatedSVD

        data = matrix.astype(float).tocsr(copy=True)
        means = np.zeros(data.shape[0])
        if self.explicit_ and self.center:
            counts = np.diff(data.indptr)
            sums = np.asarray(data.sum(axis=1)).ravel()
            means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
            data.data -= np.repeat(means, counts)
        k = max(1, min(int(self.n_components), min(data.shape) - 1))
        svd = TruncatedSVD(n_components=k, random_state=self.seed)
        self.user_factors_ = svd.fit_transform(data)
        self.item_factors_ = svd.components_
        self.user_mean_ = means

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_factors_[rows] @ self.item_factors_ + self.user_mean_[rows, None])
