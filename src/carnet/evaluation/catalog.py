"""The metric registry: every metric carnet computes, by (family, name), and the default lists.

Cheap to import: it holds names, directions and lazy callables only; the numeric code is
loaded when a metric is first computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from carnet.errors import InvalidInput
from carnet.plugins.api import EVALUATION_FAMILIES

__all__ = [
    "DATA_DEFAULT_FAMILIES",
    "DEFAULT_METRICS",
    "METRICS",
    "Metric",
    "check_family",
    "default_metrics",
    "get_metric",
    "metric_names",
]


@dataclass(frozen=True)
class Metric:
    """One metric: its family, its direction and what it needs (computed by
    :func:`carnet.evaluation.engine.score`).

    ``objective`` is False for descriptive numbers (``n_clusters``, ``anomaly_share``) that
    model selection should not optimise. ``needs`` lists inputs beyond truth and ``y_pred``.
    """

    name: str
    family: str
    greater_is_better: bool
    description: str
    needs: tuple[str, ...] = ()
    objective: bool = True
    bootstrap: bool = True


def _m(family: str, name: str, up: bool, description: str, *needs: str, **kw: bool) -> Metric:
    return Metric(name, family, up, description, tuple(needs), **kw)


_C, _R, _K, _A = "classification", "regression", "clustering", "anomaly"
_D, _F, _S = "dim_reduction", "forecasting", "recommendation"
_L = "rl"

_ALL: list[Metric] = [
    _m(_C, "accuracy", True, "share of rows whose predicted label equals the truth"),
    _m(_C, "balanced_accuracy", True, "mean recall over the classes present in the truth"),
    _m(_C, "precision_macro", True, "unweighted mean of per-class precision"),
    _m(_C, "recall_macro", True, "unweighted mean of per-class recall"),
    _m(_C, "f1_macro", True, "unweighted mean of per-class F1"),
    _m(_C, "precision_weighted", True, "per-class precision weighted by support"),
    _m(_C, "recall_weighted", True, "per-class recall weighted by support"),
    _m(_C, "f1_weighted", True, "per-class F1 weighted by support"),
    _m(_C, "precision", True, "binary precision, positive = classes[1]", "binary"),
    _m(_C, "recall", True, "binary recall, positive = classes[1]", "binary"),
    _m(_C, "f1", True, "binary F1, positive = classes[1]", "binary"),
    _m(_C, "roc_auc", True, "binary ROC AUC of the positive-class score", "binary", "y_score"),
    _m(_C, "roc_auc_ovr", True, "macro one-vs-rest ROC AUC", "multiclass", "y_score"),
    _m(_C, "pr_auc", True, "binary average precision of the positive-class score", "binary", "y_score"),
    _m(_C, "log_loss", False, "cross-entropy of the class probabilities", "y_score"),
    _m(_C, "brier", False, "binary Brier score of the positive-class probability", "binary", "y_score"),
    _m(_C, "ece", False, "expected calibration error, 10 equal-width bins of max probability", "y_score"),
    _m(_R, "rmse", False, "root mean squared error"),
    _m(_R, "mae", False, "mean absolute error"),
    _m(_R, "mape", False, "mean absolute percentage error (fraction, scikit-learn definition)"),
    _m(_R, "r2", True, "coefficient of determination"),
    _m(_K, "silhouette", True, "mean silhouette coefficient", "X", bootstrap=False),
    _m(_K, "davies_bouldin", False, "Davies-Bouldin index", "X", bootstrap=False),
    _m(_K, "calinski_harabasz", True, "Calinski-Harabasz index", "X", bootstrap=False),
    _m(_K, "adjusted_rand", True, "adjusted Rand index against the truth labels", "truth"),
    _m(
        _K,
        "n_clusters",
        True,
        "distinct cluster labels, noise (-1) excluded",
        objective=False,
        bootstrap=False,
    ),
    _m(_A, "roc_auc", True, "ROC AUC of the anomaly score against the labels", "truth", "y_score"),
    _m(_A, "pr_auc", True, "average precision of the anomaly score", "truth", "y_score"),
    _m(_A, "precision_at_k", True, "share of true anomalies among the k highest scores", "truth", "y_score"),
    _m(_A, "anomaly_share", False, "share of rows flagged as anomalies (y_pred == 1)", objective=False),
    _m(_D, "explained_variance", True, "sum of explained_variance_ratio_", "fitted", bootstrap=False),
    _m(_D, "trustworthiness", True, "neighbourhood trustworthiness (5 neighbours)", "X", bootstrap=False),
    _m(_D, "reconstruction_error", False, "mean squared reconstruction error", "X", "reconstruction"),
    _m(_F, "mae", False, "mean absolute error over the horizon"),
    _m(_F, "rmse", False, "root mean squared error over the horizon"),
    _m(_F, "smape", False, "symmetric MAPE on a 0-200 scale (0/0 counts as 0)"),
    _m(_F, "mase", False, "MAE scaled by the in-sample seasonal naive MAE", "y_train"),
    _m(_S, "precision_at_k", True, "relevant share of the top k, averaged over users"),
    _m(_S, "recall_at_k", True, "share of relevant items in the top k, averaged over users"),
    _m(_S, "ndcg_at_k", True, "normalised DCG at k (binary relevance, log2 discount)"),
    _m(_S, "coverage", True, "distinct items in top-k lists / catalogue size", bootstrap=False),
]

#: every metric, by (family, name)
_ALL.append(
    _m("multitask", "mean_primary", True, "mean of each target's primary metric (ROC AUC, macro F1 or R²)")
)
# reinforcement learning: measured by playing episodes in the environment over several seeds
_ALL += [
    _m(_L, "mean_return", True, "mean episodic return over the evaluation seeds and episodes", "environment"),
    _m(_L, "iqm_return", True, "interquartile mean of the episodic returns (rliable)", "environment"),
    _m(_L, "success_rate", True, "share of episodes whose return reaches success_threshold", "environment"),
    _m(_L, "mean_episode_length", True, "mean steps per evaluation episode", "environment", objective=False),
]
METRICS: Mapping[tuple[str, str], Metric] = {(m.family, m.name): m for m in _ALL}
#: families whose default metrics depend on the data (each target of a multitask model)
DATA_DEFAULT_FAMILIES = frozenset({"multitask"})

_BINARY = ["accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss"]
_BINARY += ["brier", "ece"]
_MULTI = ["accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted"]
_MULTI += ["roc_auc_ovr", "log_loss", "ece"]

#: headline metrics per family; classification has binary and multiclass lists
DEFAULT_METRICS: Mapping[str, tuple[str, ...]] = {
    "classification/binary": tuple(_BINARY),
    "classification/multiclass": tuple(_MULTI),
    "classification": tuple(m for m in _MULTI if m != "roc_auc_ovr"),
    _R: ("rmse", "mae", "mape", "r2"),
    _K: ("silhouette", "davies_bouldin", "calinski_harabasz", "adjusted_rand", "n_clusters"),
    _A: ("roc_auc", "pr_auc", "precision_at_k", "anomaly_share"),
    _D: ("explained_variance", "trustworthiness", "reconstruction_error"),
    _F: ("mae", "rmse", "smape", "mase"),
    _S: ("precision_at_k", "recall_at_k", "ndcg_at_k", "coverage"),
    "multitask": ("mean_primary",),
    _L: ("mean_return", "iqm_return"),
}


def check_family(family: str) -> str:
    """Return ``family`` or raise ``InvalidInput`` (field ``family``) when it is unknown."""
    if family not in EVALUATION_FAMILIES:
        raise InvalidInput(
            f"unknown evaluation family {family!r}; expected one of {', '.join(EVALUATION_FAMILIES)}",
            field="family",
        )
    return family


def metric_names(family: str) -> list[str]:
    """All metric names of ``family``, in registry order."""
    check_family(family)
    return [m.name for m in _ALL if m.family == family]


def get_metric(family: str, name: str) -> Metric:
    """The registered metric, or ``InvalidInput`` (field ``metrics``) naming the valid choices.

    A ``multitask`` metric may also be ``TARGET.METRIC``: the classification or regression metric
    ``METRIC`` of one target (its direction and needs are that metric's).
    """
    if family == "multitask" and "." in str(name):
        target, _, inner = str(name).rpartition(".")
        found = METRICS.get(("classification", inner)) or METRICS.get(("regression", inner))
        if not target or found is None:
            raise InvalidInput(
                f"unknown multitask metric {name!r}: TARGET.METRIC with a classification or regression "
                "metric (e.g. churned.roc_auc, spend.rmse), or mean_primary",
                field="metrics",
            )
        return Metric(
            name,
            family,
            found.greater_is_better,
            found.description,
            found.needs,
            found.objective,
            found.bootstrap,
        )
    metric = METRICS.get((check_family(family), name))
    if metric is None:
        raise InvalidInput(
            f"unknown {family} metric {name!r}; expected one of {', '.join(metric_names(family))}",
            field="metrics",
        )
    return metric


def default_metrics(family: str, *, binary: bool | None = None) -> list[str]:
    """Headline metric names of ``family``.

    For classification, ``binary=True``/``False`` picks the binary or multiclass list;
    ``None`` gives the metrics valid for both.
    """
    check_family(family)
    if family == _C and binary is not None:
        return list(DEFAULT_METRICS["classification/binary" if binary else "classification/multiclass"])
    return list(DEFAULT_METRICS[family])
