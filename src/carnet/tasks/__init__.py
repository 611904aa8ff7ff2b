"""carnet's learning tasks, found through the ``carnet.tasks`` entry-point group.

``import carnet.tasks`` is cheap: task classes load on first use and heavy libraries
(pandas, scikit-learn, statsmodels, scipy) only inside the methods that need them.

    from carnet.tasks import get_task
    task = get_task("binary")            # a built-in or a third-party plugin, same path
    task.check_target(frame, "churned", {})
    [(train, test)] = task.split(frame, "churned", task.default_split(), seed=0, options={})

Built-in tasks (registered in carnet's own ``pyproject.toml``): ``binary``, ``multiclass``,
``regression``, ``clustering``, ``anomaly``, ``dim_reduction``, ``forecasting``,
``recommendation``. Besides the :class:`~carnet.plugins.api.Task` Protocol they offer
``default_split()`` and ``required_columns(options)``; third-party tasks may not, so callers
use :func:`default_split` and :func:`required_columns`, which fall back.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from carnet.plugins.api import Task, default_split, required_columns
from carnet.plugins.loader import registry

if TYPE_CHECKING:  # pragma: no cover
    from carnet.domain import ModelVersion
    from carnet.tasks.anomaly import AnomalyDetection
    from carnet.tasks.classification import BinaryClassification, MulticlassClassification
    from carnet.tasks.clustering import Clustering
    from carnet.tasks.dim_reduction import DimensionalityReduction
    from carnet.tasks.forecasting import Forecasting
    from carnet.tasks.recommendation import Recommendation
    from carnet.tasks.regression import Regression

__all__ = [
    "AnomalyDetection",
    "BinaryClassification",
    "Clustering",
    "DimensionalityReduction",
    "Forecasting",
    "MulticlassClassification",
    "Recommendation",
    "Regression",
    "Task",
    "default_split",
    "get_task",
    "required_columns",
    "version_family",
]

_LAZY = {
    "AnomalyDetection": "carnet.tasks.anomaly",
    "BinaryClassification": "carnet.tasks.classification",
    "Clustering": "carnet.tasks.clustering",
    "DimensionalityReduction": "carnet.tasks.dim_reduction",
    "Forecasting": "carnet.tasks.forecasting",
    "MulticlassClassification": "carnet.tasks.classification",
    "Recommendation": "carnet.tasks.recommendation",
    "Regression": "carnet.tasks.regression",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'carnet.tasks' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def get_task(name: str) -> Task:
    """The task registered as ``name``.

    Raises:
        NotFound: no such task (the message lists the known ones).
        InvalidInput: the plugin failed to import or is not a valid task.
    """
    return registry("task").get(name)


def version_family(mv: ModelVersion) -> str | None:
    """The task family of a model version (classification, regression ...): recorded at
    registration, else its task plugin's; None when the version records neither."""
    family = (mv.extra or {}).get("family")
    if family:
        return str(family)
    return str(get_task(mv.task).family) if mv.task else None
