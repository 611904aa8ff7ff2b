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

import functools
import importlib
from typing import TYPE_CHECKING, Any

from carnet.plugins.api import ENTRY_POINT_GROUPS, EVALUATION_FAMILIES, Task, default_split, required_columns
from carnet.plugins.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
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
    "check_task",
    "default_split",
    "get_task",
    "required_columns",
    "task_registry",
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

#: what the Task Protocol asks for, to name the missing members of a rejected plugin
_TASK_MEMBERS = (
    *("name", "description", "supervised", "tabular", "family", "check_target", "default_metrics"),
    *("primary_metric", "default_model", "candidate_models", "models", "split", "fit", "predict", "truth"),
)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'carnet.tasks' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def check_task(obj: object) -> Task:
    """A task instance from a loaded plugin object (a class is instantiated without arguments).

    Raises:
        TypeError: the object does not implement the :class:`~carnet.plugins.api.Task` Protocol
            (the message lists the missing members).
        ValueError: its ``family`` is not one of the evaluation families.
    """
    task = obj() if isinstance(obj, type) else obj
    if not isinstance(task, Task):
        missing = [m for m in _TASK_MEMBERS if not hasattr(task, m)]
        raise TypeError(f"{obj!r} is not a carnet task: missing {', '.join(missing) or 'Task members'}")
    if task.family not in EVALUATION_FAMILIES:
        raise ValueError(
            f"task {task.name!r} has family {task.family!r}; expected one of {', '.join(EVALUATION_FAMILIES)}"
        )
    return task


@functools.cache
def task_registry() -> Registry[Task]:
    """The registry of tasks (entry-point group ``carnet.tasks``); created once, discovered lazily."""
    return Registry(ENTRY_POINT_GROUPS["task"], "task", check=check_task)


def get_task(name: str) -> Task:
    """The task registered as ``name``.

    Raises:
        NotFound: no such task (the message lists the known ones).
        InvalidInput: the plugin failed to import or is not a valid task.
    """
    return task_registry().get(name)
