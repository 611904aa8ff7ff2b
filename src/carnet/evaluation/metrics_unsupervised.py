"""Clustering, anomaly-detection and dimensionality-reduction metrics and details.

* Clustering internal metrics (silhouette, Davies-Bouldin, Calinski-Harabasz) use
  ``predictions.extra["embedding_input"]`` (the rows as the model saw them) when present, else
  ``X``: the numeric feature matrix after the caller's preprocessing (non-numeric DataFrame
  columns are one-hot encoded and everything standardised, see ``numeric_matrix``). Noise (-1) counts as
  a label there, as in scikit-learn; ``n_clusters`` leaves it out. Silhouette runs on a seeded
  sample of ``options["silhouette_sample_size"]`` (default 5000) rows when there are more.
* Anomaly truth is 0/1 (or bool), 1 = anomaly; ``y_pred`` flags use the same coding and
  ``y_score`` is higher = more anomalous. ``precision_at_k``: k = ``options["k"]`` or the
  number of true anomalies; ties in score keep row order.
* Dimensionality reduction compares against the same matrix as clustering (``embedding_input``
  or ``X``): ``trustworthiness`` with ``options["n_neighbors"]`` (default 5) on
  a seeded sample of at most 2000 rows; ``reconstruction_error`` = mean squared difference of
  ``predictions.extra["reconstruction"]`` and ``X`` over all cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from carnet.errors import InvalidInput
from carnet.evaluation._common import (
    Impl,
    as_1d,
    check_length,
    numeric_matrix,
    option_int,
    summary,
    take_rows,
    unavailable,
)
from carnet.evaluation.resampling import weighted_auc, weighted_average_precision, weighted_top_k_hits

__all__ = [
    "ANOMALY_IMPLS",
    "CLUSTERING_IMPLS",
    "DIM_IMPLS",
    "AnomalyData",
    "ClusteringData",
    "DimReductionData",
    "anomaly_details",
    "clustering_details",
    "dim_details",
    "prepare_anomaly",
    "prepare_clustering",
    "prepare_dim",
]

SILHOUETTE_SAMPLE = 5000
TRUST_SAMPLE = 2000


def geometry_input(predictions: Any, X: Any) -> tuple[Any, str]:
    """The matrix geometric metrics use: ``predictions.extra["embedding_input"]`` (the rows as
    the model saw them) when the task provides it, else ``X``; and its field name."""
    extra = predictions.extra or {}
    if extra.get("embedding_input") is not None:
        return extra["embedding_input"], "predictions.extra.embedding_input"
    return X, "X"


# -- clustering -----------------------------------------------------------------------------------


@dataclass
class ClusteringData:
    """Cluster labels (codes), optional truth codes and the numeric feature matrix."""

    labels: np.ndarray
    codes: np.ndarray
    truth_codes: np.ndarray | None
    X: np.ndarray | None
    seed: int
    sample_size: int
    n: int
    notes: list[str] = field(default_factory=list)


def prepare_clustering(
    truth: Any, predictions: Any, options: dict[str, Any], *, X: Any = None, fitted: Any = None, seed: int = 0
) -> ClusteringData:
    """Validate cluster labels, optional truth labels and ``X``."""
    import pandas as pd

    labels = as_1d(predictions.y_pred, "predictions.y_pred")
    n = len(labels)
    if n == 0:
        raise InvalidInput("predictions.y_pred is empty: nothing to evaluate", field="predictions.y_pred")
    truth_codes = None
    if truth is not None:
        y = as_1d(truth, "truth")
        check_length(n, len(y), "truth", against="predictions.y_pred")
        truth_codes = pd.factorize(y)[0]
    notes: list[str] = []
    matrix = None
    source, fieldname = geometry_input(predictions, X)
    if source is not None:
        matrix = numeric_matrix(source, notes, fieldname)
        check_length(n, matrix.shape[0], fieldname, against="predictions.y_pred")
    sample = option_int(options, "silhouette_sample_size", SILHOUETTE_SAMPLE, minimum=10) or SILHOUETTE_SAMPLE
    return ClusteringData(labels, pd.factorize(labels)[0], truth_codes, matrix, seed, sample, n, notes)


def _n_clusters(data: ClusteringData) -> float:
    return float(len({v for v in data.labels.tolist() if v != -1}))


def _internal(name: str) -> Any:
    def point(data: ClusteringData) -> float:
        import sklearn.metrics as skm

        if data.X is None:
            raise unavailable(name, "needs the feature matrix X", "X")
        k = len(np.unique(data.codes))
        if not 2 <= k <= data.n - 1:
            data.notes.append(f"{name} undefined: needs 2..n-1 distinct labels, found {k}")
            return float("nan")
        if name == "silhouette":
            if data.n > data.sample_size:
                data.notes.append(f"silhouette computed on a seeded sample of {data.sample_size} rows")
                return float(
                    skm.silhouette_score(
                        data.X, data.codes, sample_size=data.sample_size, random_state=data.seed
                    )
                )
            return float(skm.silhouette_score(data.X, data.codes))
        fn = skm.davies_bouldin_score if name == "davies_bouldin" else skm.calinski_harabasz_score
        return float(fn(data.X, data.codes))

    return point


def _need_truth(data: Any, name: str) -> np.ndarray:
    if data.truth_codes is None:
        raise unavailable(name, "needs truth labels", "truth")
    return np.asarray(data.truth_codes)


def _ari(data: ClusteringData) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(_need_truth(data, "adjusted_rand"), data.codes))


def _ari_batch(data: ClusteringData, W: np.ndarray) -> np.ndarray:
    t = _need_truth(data, "adjusted_rand")
    kt, kp = int(t.max()) + 1, int(data.codes.max()) + 1
    codes = t * kp + data.codes
    C = np.stack([np.bincount(codes, weights=w, minlength=kt * kp) for w in W]).reshape(-1, kt, kp)

    def pairs(x: np.ndarray) -> np.ndarray:
        return cast("np.ndarray", x * (x - 1) / 2.0)

    sum_ij = pairs(C).sum(axis=(1, 2))
    sum_a, sum_b = pairs(C.sum(axis=2)).sum(axis=1), pairs(C.sum(axis=1)).sum(axis=1)
    expected = sum_a * sum_b / pairs(W.sum(axis=1))
    denom = 0.5 * (sum_a + sum_b) - expected
    with np.errstate(all="ignore"):
        return np.where(denom != 0, (sum_ij - expected) / denom, 1.0)


CLUSTERING_IMPLS: dict[str, Impl] = {
    "silhouette": Impl(_internal("silhouette")),
    "davies_bouldin": Impl(_internal("davies_bouldin")),
    "calinski_harabasz": Impl(_internal("calinski_harabasz")),
    "adjusted_rand": Impl(_ari, _ari_batch),
    "n_clusters": Impl(_n_clusters),
}


def clustering_details(data: ClusteringData) -> dict[str, Any]:
    """Cluster sizes and shares (largest first), noise share and the share of the largest cluster."""
    values, counts = np.unique(data.labels, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    sizes = [
        {"cluster": values[i], "size": int(counts[i]), "share": float(counts[i] / data.n)} for i in order
    ]
    noise = int(sum(r["size"] for r in sizes if r["cluster"] == -1))
    return {
        "cluster_sizes": sizes,
        "noise_share": noise / data.n,
        "largest_cluster_share": sizes[0]["share"],
        "rows": data.n,
    }


# -- anomaly detection ----------------------------------------------------------------------------


@dataclass
class AnomalyData:
    """Flags (1 = anomaly), scores (higher = more anomalous) and optional 0/1 truth."""

    flags: np.ndarray | None
    score: np.ndarray | None
    truth_codes: np.ndarray | None
    k_option: int | None
    n: int
    notes: list[str] = field(default_factory=list)


def _binary01(values: Any, fieldname: str) -> np.ndarray:
    arr = as_1d(values, fieldname)
    try:
        num = arr.astype(float)
    except (TypeError, ValueError):
        num = np.array([np.nan])
    if not np.isin(num, (0.0, 1.0)).all():
        found = sorted(set(arr.tolist()), key=repr)[:5]
        raise InvalidInput(
            f"{fieldname} must be 0/1 (1 = anomaly) or boolean; found {found}", field=fieldname
        )
    return num.astype(int)


def prepare_anomaly(
    truth: Any, predictions: Any, options: dict[str, Any], *, X: Any = None, fitted: Any = None, seed: int = 0
) -> AnomalyData:
    """Validate flags, scores and (optional) labels of equal length."""
    flags = None if predictions.y_pred is None else _binary01(predictions.y_pred, "predictions.y_pred")
    score = None
    if predictions.y_score is not None:
        score = as_1d(predictions.y_score, "predictions.y_score", numeric=True)
    if flags is None and score is None:
        raise InvalidInput(
            "predictions.y_pred or predictions.y_score is required", field="predictions.y_pred"
        )
    n = len(flags) if flags is not None else len(score)  # type: ignore[arg-type]
    if flags is not None and score is not None:
        check_length(n, len(score), "predictions.y_score", against="predictions.y_pred")
    codes = None
    if truth is not None:
        codes = _binary01(truth, "truth")
        check_length(len(codes), n, "predictions.y_pred" if flags is not None else "predictions.y_score")
    if n == 0:
        raise InvalidInput("no rows to evaluate", field="predictions.y_pred")
    k = option_int(options, "k", None)
    if k is None:
        k = option_int(predictions.extra or {}, "k", None)
    return AnomalyData(flags, score, codes, k, n)


def _need_score(data: AnomalyData, name: str) -> np.ndarray:
    if data.score is None:
        raise unavailable(name, "needs anomaly scores (predictions.y_score)", "predictions.y_score")
    return data.score


def _anomaly_rank(name: str) -> Any:
    def point(data: AnomalyData) -> float:
        from sklearn.metrics import average_precision_score, roc_auc_score

        t, s = _need_truth(data, name), _need_score(data, name)
        if name == "roc_auc" and len(np.unique(t)) < 2:
            data.notes.append("roc_auc undefined: the labels hold a single class")
            return float("nan")
        if name == "pr_auc" and not t.any():
            data.notes.append("pr_auc undefined: no true anomalies")
            return float("nan")
        fn = roc_auc_score if name == "roc_auc" else average_precision_score
        return float(fn(t, s))

    return point


def anomaly_k(data: AnomalyData) -> int:
    """The k of precision_at_k: ``options["k"]`` or the number of true anomalies (capped at n)."""
    t = _need_truth(data, "precision_at_k")
    return min(data.k_option if data.k_option is not None else int(t.sum()), data.n)


def _precision_at_k(data: AnomalyData) -> float:
    t, s = _need_truth(data, "precision_at_k"), _need_score(data, "precision_at_k")
    k = anomaly_k(data)
    if k == 0:
        data.notes.append("precision_at_k undefined: k = 0 (no true anomalies)")
        return float("nan")
    top = np.argsort(-s, kind="stable")[:k]
    return float(t[top].sum() / k)


def _precision_at_k_batch(data: AnomalyData, W: np.ndarray) -> np.ndarray:
    t, s = _need_truth(data, "precision_at_k"), _need_score(data, "precision_at_k")
    k = np.full(W.shape[0], float(data.k_option)) if data.k_option is not None else W @ t.astype(float)
    k = np.minimum(k, W.sum(axis=1))
    with np.errstate(all="ignore"):
        return np.where(k > 0, weighted_top_k_hits(s, t, W, k) / k, np.nan)


def _flags(data: AnomalyData) -> np.ndarray:
    if data.flags is None:
        raise unavailable("anomaly_share", "needs anomaly flags (predictions.y_pred)", "predictions.y_pred")
    return data.flags.astype(float)


ANOMALY_IMPLS: dict[str, Impl] = {
    "roc_auc": Impl(
        _anomaly_rank("roc_auc"),
        lambda d, W: weighted_auc(_need_score(d, "roc_auc"), _need_truth(d, "roc_auc"), W),
    ),
    "pr_auc": Impl(
        _anomaly_rank("pr_auc"),
        lambda d, W: weighted_average_precision(_need_score(d, "pr_auc"), _need_truth(d, "pr_auc"), W),
    ),
    "precision_at_k": Impl(_precision_at_k, _precision_at_k_batch),
    "anomaly_share": Impl(lambda d: float(_flags(d).mean()), lambda d, W: (W @ _flags(d)) / W.sum(axis=1)),
}


def anomaly_details(data: AnomalyData) -> dict[str, Any]:
    """Score quantiles (overall and per label), flag counts, and flags vs labels when both exist."""
    out: dict[str, Any] = {"rows": data.n}
    if data.flags is not None:
        out["flagged"] = int(data.flags.sum())
    if data.truth_codes is not None:
        out["true_anomalies"] = int(data.truth_codes.sum())
        if data.score is not None:
            out["k"] = anomaly_k(data)
    if data.score is not None:
        out["score_quantiles"] = summary(data.score)
        if data.truth_codes is not None:
            out["score_quantiles_by_label"] = {
                "normal": summary(data.score[data.truth_codes == 0]),
                "anomaly": summary(data.score[data.truth_codes == 1]),
            }
    if data.flags is not None and data.truth_codes is not None:
        f, t = data.flags.astype(bool), data.truth_codes.astype(bool)
        tp, fp, fn = int((f & t).sum()), int((f & ~t).sum()), int((~f & t).sum())
        out["flags_vs_labels"] = {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": int((~f & ~t).sum()),
            "precision": tp / (tp + fp) if tp + fp else 0.0,
            "recall": tp / (tp + fn) if tp + fn else 0.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        }
    return out


# -- dimensionality reduction ---------------------------------------------------------------------


@dataclass
class DimReductionData:
    """The embedding, the numeric input it came from, and what the fitted reducer reports."""

    embedding: np.ndarray
    X: np.ndarray | None
    reconstruction: np.ndarray | None
    variance_ratio: np.ndarray | None
    n_neighbors: int
    seed: int
    n: int
    notes: list[str] = field(default_factory=list)


def _variance_ratio(fitted: Any, extra: dict[str, Any]) -> np.ndarray | None:
    candidates = [fitted]
    steps = getattr(fitted, "steps", None)
    if steps:
        candidates.append(steps[-1][1])
    for obj in candidates:
        ratio = getattr(obj, "explained_variance_ratio_", None)
        if ratio is not None:
            return np.asarray(ratio, dtype=float)
    if extra.get("explained_variance_ratio") is not None:
        return np.asarray(extra["explained_variance_ratio"], dtype=float)
    return None


def prepare_dim(
    truth: Any, predictions: Any, options: dict[str, Any], *, X: Any = None, fitted: Any = None, seed: int = 0
) -> DimReductionData:
    """Validate the embedding, ``X`` and an optional reconstruction of ``X``."""
    if predictions.embedding is None:
        raise InvalidInput("predictions.embedding is required", field="predictions.embedding")
    emb = np.asarray(predictions.embedding, dtype=float)
    if emb.ndim == 1:
        emb = emb[:, None]
    if emb.ndim != 2 or emb.shape[0] == 0:
        raise InvalidInput(
            f"predictions.embedding must be (n, d), got {emb.shape}", field="predictions.embedding"
        )
    notes: list[str] = []
    matrix = recon = None
    source, fieldname = geometry_input(predictions, X)
    if source is not None:
        matrix = numeric_matrix(source, notes, fieldname)
        check_length(emb.shape[0], matrix.shape[0], fieldname, against="predictions.embedding")
    extra = predictions.extra or {}
    if extra.get("reconstruction") is not None:
        recon = np.asarray(extra["reconstruction"], dtype=float)
        if matrix is not None and recon.shape != matrix.shape:
            raise InvalidInput(
                f"predictions.extra['reconstruction'] has shape {recon.shape}, X has {matrix.shape}",
                field="predictions.extra",
            )
    neighbors = option_int(options, "n_neighbors", 5) or 5
    ratio = _variance_ratio(fitted, extra)
    return DimReductionData(emb, matrix, recon, ratio, neighbors, seed, emb.shape[0], notes)


def _explained_variance(data: DimReductionData) -> float:
    if data.variance_ratio is None:
        raise unavailable(
            "explained_variance", "the fitted reducer has no explained_variance_ratio_", "fitted"
        )
    return float(data.variance_ratio.sum())


def _trustworthiness(data: DimReductionData) -> float:
    from sklearn.manifold import trustworthiness

    if data.X is None:
        raise unavailable("trustworthiness", "needs the feature matrix X", "X")
    rows = take_rows(data.n, TRUST_SAMPLE, data.seed)
    X, emb = (data.X, data.embedding) if rows is None else (data.X[rows], data.embedding[rows])
    if rows is not None:
        data.notes.append(f"trustworthiness computed on a seeded sample of {TRUST_SAMPLE} rows")
    if data.n_neighbors >= X.shape[0] / 2:
        data.notes.append(
            f"trustworthiness undefined: n_neighbors={data.n_neighbors} needs > 2x as many rows"
        )
        return float("nan")
    return float(trustworthiness(X, emb, n_neighbors=data.n_neighbors))


def _row_errors(data: DimReductionData) -> np.ndarray:
    if data.reconstruction is None:
        raise unavailable(
            "reconstruction_error", "needs predictions.extra['reconstruction']", "predictions.extra"
        )
    if data.X is None:
        raise unavailable("reconstruction_error", "needs the feature matrix X", "X")
    return np.asarray(((data.reconstruction - data.X) ** 2).mean(axis=1))


DIM_IMPLS: dict[str, Impl] = {
    "explained_variance": Impl(_explained_variance),
    "trustworthiness": Impl(_trustworthiness),
    "reconstruction_error": Impl(
        lambda d: float(np.mean(_row_errors(d))), lambda d, W: (W @ _row_errors(d)) / W.sum(axis=1)
    ),
}


def dim_details(data: DimReductionData) -> dict[str, Any]:
    """Embedding shape, per-component spread, and the explained variance ratio per component."""
    out: dict[str, Any] = {
        "rows": data.n,
        "components": int(data.embedding.shape[1]),
        "component_std": [float(v) for v in data.embedding.std(axis=0)],
    }
    if data.X is not None:
        out["input_columns"] = int(data.X.shape[1])
    if data.variance_ratio is not None:
        ratio = data.variance_ratio
        out["explained_variance_ratio"] = [float(v) for v in ratio]
        out["cumulative_explained_variance"] = [float(v) for v in np.cumsum(ratio)]
    return out
