"""The evaluation engine: metrics, bootstrap intervals, detail tables, plots and reports.

Pure computation over a task's ``truth`` and :class:`~carnet.domain.training.Predictions`;
no storage. ``import carnet.evaluation`` is cheap: numpy, scikit-learn and matplotlib load
when something is computed.

    from carnet.evaluation import evaluate, score
    result = evaluate("classification", y_test, predictions, X=X_test, fitted=pipeline)
    result.metrics["roc_auc"], result.intervals["roc_auc"]
    score("regression", "rmse", y_test, predictions)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carnet.domain.evaluation import EvaluationResult, Plot, jsonable
from carnet.evaluation.catalog import (
    DEFAULT_METRICS,
    METRICS,
    Metric,
    default_metrics,
    get_metric,
    metric_names,
)

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "EvaluationResult",
    "Metric",
    "Plot",
    "default_metrics",
    "evaluate",
    "get_metric",
    "jsonable",
    "metric_names",
    "permutation_importance_plot",
    "score",
    "score_all",
]

_LAZY = {
    "evaluate": "carnet.evaluation.engine",
    "score": "carnet.evaluation.engine",
    "score_all": "carnet.evaluation.engine",
    "permutation_importance_plot": "carnet.evaluation.importance",
}

if TYPE_CHECKING:
    from carnet.evaluation.engine import evaluate, score, score_all
    from carnet.evaluation.importance import permutation_importance_plot


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'carnet.evaluation' has no attribute {name!r}")
    import importlib

    mod = importlib.import_module(module)
    value = getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
