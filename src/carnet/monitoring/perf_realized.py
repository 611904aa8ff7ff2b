"""Realized performance of a window once its labels arrived, computed with carnet's own metrics.

The numbers are exactly those of :func:`carnet.evaluation.evaluate` (same definitions, same
bootstrap), without detail tables or plots. For multiclass labels the short names CBPE uses
are accepted and mean the macro / one-vs-rest variants: ``f1`` -> ``f1_macro``,
``precision`` -> ``precision_macro``, ``recall`` -> ``recall_macro``, ``roc_auc`` ->
``roc_auc_ovr``; results keep the requested names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from carnet.errors import InvalidInput

__all__ = [
    "REALIZED_FAMILIES",
    "RealizedPerformance",
    "classification_metric_name",
    "realized_metrics",
    "realized_performance",
]

#: accepted ``task_family`` values and the carnet.evaluation family each maps to
REALIZED_FAMILIES = {
    "classification": "classification",
    "binary": "classification",
    "multiclass": "classification",
    "regression": "regression",
}
_MULTICLASS_NAMES = {
    "roc_auc": "roc_auc_ovr",
    "f1": "f1_macro",
    "precision": "precision_macro",
    "recall": "recall_macro",
}


def classification_metric_name(name: str, binary: bool) -> str:
    """carnet.evaluation's name of ``name``: for multiclass labels ``f1`` is ``f1_macro`` and so on."""
    return name if binary else _MULTICLASS_NAMES.get(name, name)


@dataclass
class RealizedPerformance:
    """Realized metrics of one labelled window, with optional bootstrap percentile intervals."""

    family: str
    rows: int
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    confidence: float = 0.95
    bootstrap: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None)."""
        from carnet.domain.evaluation import jsonable

        return cast(
            "dict[str, Any]",
            jsonable(
                {
                    "family": self.family,
                    "rows": self.rows,
                    "metrics": self.metrics,
                    "intervals": {k: list(v) for k, v in self.intervals.items()},
                    "confidence": self.confidence,
                    "bootstrap": self.bootstrap,
                    "notes": self.notes,
                }
            ),
        )


def _family(task_family: str) -> str:
    family = REALIZED_FAMILIES.get(task_family) if isinstance(task_family, str) else None
    if family is None:
        raise InvalidInput(
            f"unknown task_family {task_family!r}; expected one of {', '.join(REALIZED_FAMILIES)}",
            field="task_family",
        )
    return family


def realized_performance(
    task_family: str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    metrics: Sequence[str] | None = None,
    *,
    classes: Sequence[Any] | None = None,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> RealizedPerformance:
    """Realized metrics of a labelled window, and bootstrap intervals when ``bootstrap > 0``.

    Args:
        task_family: ``classification`` (or ``binary`` / ``multiclass``) or ``regression``.
        y_true: true labels or values.
        y_pred: predicted labels or values (classification: may be None with ``y_score`` and
            ``classes``, the arg-max class is used).
        y_score: class probabilities ``(n, k)`` in ``classes`` order, or ``(n,)`` positive-class
            scores for binary labels; needed for ``roc_auc`` and other score metrics.
        metrics: metric names (None = carnet's headline metrics that these inputs allow).
        classes: class labels in ``y_score`` column order (default: sorted labels).
        bootstrap: resamples for percentile intervals (0 = none; skipped below 20 rows).
        confidence: interval level.
        seed: seeds the resampling.

    Raises:
        InvalidInput: unknown family or metric, inconsistent inputs, or a requested metric
            these inputs cannot give (e.g. ``roc_auc`` without ``y_score``).
    """
    from carnet.domain.training import Predictions
    from carnet.errors import MetricUnavailable
    from carnet.evaluation.catalog import default_metrics, get_metric
    from carnet.evaluation.engine import bootstrap_intervals, prepare

    family = _family(task_family)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0:
        raise InvalidInput(f"bootstrap must be an integer >= 0, got {bootstrap!r}", field="bootstrap")
    if not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise InvalidInput(f"confidence must be in (0, 1), got {confidence!r}", field="confidence")
    if isinstance(metrics, str):
        raise InvalidInput("metrics must be a list of metric names, not a string", field="metrics")
    predictions = Predictions(
        task=family,
        y_pred=y_pred,
        y_score=y_score if family == "classification" else None,
        classes=None if classes is None else list(classes),
    )
    impl, data = prepare(family, y_true, predictions)
    binary = bool(getattr(data, "binary", False))
    if task_family in ("binary", "multiclass") and binary != (task_family == "binary"):
        raise InvalidInput(
            f"task_family is {task_family!r} but the labels have {len(data.labels)} classes; "
            "use 'classification' to decide from the data",
            field="task_family",
        )
    explicit = metrics is not None
    requested = (
        list(metrics)
        if metrics is not None
        else default_metrics(family, binary=binary if family == "classification" else None)
    )
    names = {
        name: classification_metric_name(name, binary) if family == "classification" else name
        for name in dict.fromkeys(requested)
    }
    for carnet_name in names.values():
        get_metric(family, carnet_name)
    values: dict[str, float] = {}
    skipped: list[str] = []
    import numpy as np

    with np.errstate(all="ignore"):
        for name, carnet_name in names.items():
            try:
                values[name] = float(impl.impls[carnet_name].point(data))
            except MetricUnavailable:
                if explicit:
                    raise
                skipped.append(name)
    notes = list(data.notes)
    if skipped:
        notes.append(f"skipped (not computable from these inputs): {', '.join(skipped)}")
    intervals, more = bootstrap_intervals(
        family, impl, data, values, bootstrap, float(confidence), seed, metric_names=names
    )
    notes += more
    return RealizedPerformance(
        family=family,
        rows=int(data.n),
        metrics=values,
        intervals=intervals,
        confidence=float(confidence),
        bootstrap=bootstrap if intervals else 0,
        notes=notes,
    )


def realized_metrics(
    task_family: str,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    metrics: Sequence[str] | None = None,
    *,
    classes: Sequence[Any] | None = None,
) -> dict[str, float]:
    """``{metric: value}`` realized on a labelled window (see :func:`realized_performance`)."""
    return realized_performance(task_family, y_true, y_pred, y_score, metrics, classes=classes).metrics
