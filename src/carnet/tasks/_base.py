"""Shared pieces of the built-in tasks: the base class, target checks, pipeline helpers.

Cheap to import: pandas, numpy and scikit-learn are imported inside the functions that use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from carnet.domain.training import SplitSpec
from carnet.errors import InvalidInput
from carnet.plugins.api import final_step

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from carnet.plugins.api import ModelFactory

__all__ = [
    "TaskBase",
    "check_target_column",
    "final_step",
    "fingerprint",
    "model_input",
    "option_float",
    "option_int",
    "option_str",
    "quote",
    "remember_training_rows",
    "require_target",
    "training_rows_only",
]

#: attribute set on an estimator that can only label the rows it was fitted on
_FINGERPRINT = "carnet_fit_fingerprint_"


def quote(name: object) -> str:
    """A column name as shown in messages: ``"y"``."""
    return f'"{name}"'


class TaskBase:
    """Defaults shared by carnet's built-in tasks (third-party tasks need not inherit it).

    Subclasses set the class attributes; the methods below read them. Tasks are stateless:
    the registry hands one instance to every caller.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    supervised: ClassVar[bool] = True
    tabular: ClassVar[bool] = True
    family: ClassVar[str] = ""
    #: accepted ``task_options`` and what they mean (unknown keys are ignored: the
    #: training engine keeps its own options, e.g. ``date_columns``, in the same mapping)
    option_help: ClassVar[dict[str, str]] = {}

    _metrics: ClassVar[tuple[str, ...]] = ()
    _primary: ClassVar[tuple[str, str]] = ("", "maximize")
    _default_model: ClassVar[str] = ""
    _candidates: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        return f"<task {self.name} ({self.family})>"

    def default_metrics(self) -> list[str]:
        """Metric names of :attr:`family` reported by default."""
        return list(self._metrics)

    def primary_metric(self) -> tuple[str, str]:
        """The model-selection metric and ``maximize`` / ``minimize``."""
        return self._primary

    def default_model(self) -> str:
        """Model used when the spec names none."""
        return self._default_model

    def candidate_models(self) -> list[str]:
        """Models AutoML tries, best-known first (optional packages may be missing: skip those)."""
        return list(self._candidates)

    def models(self) -> dict[str, ModelFactory]:
        """Task-specific models by short name (none: the training engine resolves general names)."""
        return {}

    def default_split(self) -> SplitSpec:
        """The split this task recommends when the spec leaves it at its default."""
        return SplitSpec()

    def required_columns(self, options: dict[str, Any]) -> list[str]:
        """Columns that must stay in the feature frame even if they would be dropped (time, ids)."""
        return []


def option_int(options: dict[str, Any], key: str, default: int | None, minimum: int = 1) -> int | None:
    """``options[key]`` as an int >= ``minimum`` (``default`` when absent or None)."""
    value = options.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or (not isinstance(value, int) and not _is_np_integer(value)):
        raise InvalidInput(
            f"task option {key} must be an integer >= {minimum}, got {value!r}", field=f"task_options.{key}"
        )
    if int(value) < minimum:
        raise InvalidInput(
            f"task option {key} must be an integer >= {minimum}, got {value!r}", field=f"task_options.{key}"
        )
    return int(value)


def option_float(options: dict[str, Any], key: str, default: float | None) -> float | None:
    """``options[key]`` as a float (``default`` when absent or None)."""
    value = options.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        raise InvalidInput(f"task option {key} must be a number, got {value!r}", field=f"task_options.{key}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"task option {key} must be a number, got {value!r}", field=f"task_options.{key}"
        ) from None


def option_str(options: dict[str, Any], key: str) -> str | None:
    """``options[key]`` as a non-empty string, or None when absent."""
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"task option {key} must be a column name, got {value!r}", field=f"task_options.{key}"
        )
    return value


def _is_np_integer(value: object) -> bool:
    import numpy as np

    return isinstance(value, np.integer)


def check_target_column(frame: pd.DataFrame, target: str, task: str) -> pd.Series:
    """The target column of ``frame``: present, one column, no missing values.

    Raises:
        InvalidInput: (field ``target``) naming the target and the problem.
    """
    if len(frame) == 0:
        raise InvalidInput(f"task {task} got a dataset with no rows", field="target")
    if target not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:20]))
        raise InvalidInput(
            f"target {quote(target)} is not a column of the data; columns: {cols}", field="target"
        )
    series = frame[target]
    if getattr(series, "ndim", 1) != 1:
        raise InvalidInput(
            f"target {quote(target)} names several columns; make column names unique", field="target"
        )
    missing = int(series.isna().sum())
    if missing:
        raise InvalidInput(
            f"target {quote(target)} has {missing} missing value(s) out of {len(series)} rows; "
            "drop or fill those rows first",
            field="target",
        )
    return series


def require_target(frame: pd.DataFrame, target: str | None, task: str) -> pd.Series:
    """Like :func:`check_target_column`, for supervised tasks (a target is mandatory)."""
    if target is None:
        raise InvalidInput(f"task {task} is supervised: set target to the label column", field="target")
    return check_target_column(frame, target, task)


def model_input(fitted: Any, X: pd.DataFrame) -> np.ndarray:
    """``X`` as the last step of ``fitted`` sees it (after preprocessing), as a float matrix."""
    import numpy as np

    head, _ = final_step(fitted)
    data = head.transform(X) if head is not None else X
    if hasattr(data, "toarray"):
        data = data.toarray()
    if hasattr(data, "to_numpy"):
        return np.asarray(data.to_numpy(dtype=float))
    return np.asarray(data, dtype=float)


def fingerprint(X: Any) -> str:
    """A digest of the content of ``X`` (rows in order; the index is ignored)."""
    import hashlib

    import numpy as np
    import pandas as pd

    if isinstance(X, pd.DataFrame | pd.Series):
        hashed = pd.util.hash_pandas_object(X, index=False).to_numpy()
        return hashlib.sha256(hashed.tobytes()).hexdigest()
    arr = np.ascontiguousarray(np.asarray(X))
    return hashlib.sha256(arr.tobytes() + str(arr.shape).encode()).hexdigest()


def remember_training_rows(fitted: Any, X: Any) -> None:
    """Record which rows a model without ``predict``/``transform`` was fitted on."""
    _, last = final_step(fitted)
    setattr(last, _FINGERPRINT, fingerprint(X))


def training_rows_only(fitted: Any, X: Any, what: str) -> None:
    """Raise ``InvalidInput`` unless ``X`` is exactly the data ``fitted`` was fitted on.

    Models such as agglomerative clustering, LocalOutlierFactor (``novelty=False``) and
    t-SNE only describe their training rows; ``what`` names the missing ability.
    """
    _, last = final_step(fitted)
    expected = getattr(last, _FINGERPRINT, None)
    if expected is None or expected != fingerprint(X):
        raise InvalidInput(
            f"model {type(last).__name__} cannot {what} for new rows, only for the rows it was fitted on; "
            "use split kind 'none' (fit and evaluate on all rows) or a model that supports new data",
            field="model",
        )
