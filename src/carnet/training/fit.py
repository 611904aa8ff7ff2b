"""Fit and evaluate one spec on one frame: the building block of training runs, HPO and AutoML.

For each (train, test) pair of ``task.split`` a fresh clone of the pipeline is fitted on
the train rows and scored on the test rows by the caller's ``scorer``; with several
folds the final model is refitted on all rows. Nothing is stored here.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carnet.domain.training import ModelSpec, Predictions
from carnet.errors import CarnetError, InvalidInput
from carnet.training.estimators import invalid_params
from carnet.training.preprocess import build_pipeline, model_choice
from carnet.training.spec import validate_against_data

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from carnet.domain.training import TrainSpec
    from carnet.plugins.api import Task

__all__ = ["FitResult", "FoldResult", "ProgressFn", "Scorer", "fit_and_evaluate"]

#: (predictions on a test fold, truth of that fold) -> metrics; supplied by the caller
Scorer = Callable[[Predictions, Any], dict[str, float]]
#: (stage, done, total); stages: ``fold`` (after each fold) and ``refit`` (0 then 1 of 1)
ProgressFn = Callable[[str, int, int], None]

_LIBRARY_ERRORS = ("InvalidParameterError", "LightGBMError", "XGBoostError")


@dataclass
class FoldResult:
    """One fold: its rows (positions in the frame), predictions, truth, scores and timings."""

    fold: int
    train_index: np.ndarray
    test_index: np.ndarray
    predictions: Predictions
    truth: Any
    scores: dict[str, float]
    fit_seconds: float
    predict_seconds: float


@dataclass
class FitResult:
    """The outcome of :func:`fit_and_evaluate`."""

    fitted: Any  # fitted on the train part (one split) or refitted on all rows (several folds)
    folds: list[FoldResult]
    scores: dict[str, float]  # mean over folds
    scores_std: dict[str, float]  # population standard deviation over folds (0 for one fold)
    features: list[str]
    spec: TrainSpec  # as used: ``model`` filled in with the task's default when the spec had none
    fit_seconds: float
    #: the libraries' warnings during the fits (``Category: message``, ``(xN)`` when repeated)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def holdout(self) -> FoldResult:
        """The last fold (the one the final evaluation uses)."""
        return self.folds[-1]


def _aggregate(folds: list[FoldResult]) -> tuple[dict[str, float], dict[str, float]]:
    keys: list[str] = []
    for f in folds:
        keys += [k for k in f.scores if k not in keys]
    mean: dict[str, float] = {}
    std: dict[str, float] = {}
    for key in keys:
        values = [f.scores[key] for f in folds if key in f.scores]
        m = math.fsum(values) / len(values)
        mean[key] = m
        std[key] = math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values))
    return mean, std


def _fit(
    task: Task,
    template: Any,
    rebuild: Callable[[], Any],
    X: Any,
    y: Any,
    spec: TrainSpec,
    caught: list[warnings.WarningMessage] | None = None,
) -> Any:
    """Fit a fresh copy of ``template``, turning the model's parameter errors into InvalidInput; the
    library warnings raised meanwhile go to ``caught`` (for the training log) instead of the console."""
    if caught is None:
        return _fit_quietly(task, template, rebuild, X, y, spec)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            return _fit_quietly(task, template, rebuild, X, y, spec)
        finally:
            caught += seen


def summarize_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """``Category: first line of the message`` once per distinct warning, ``(xN)`` when repeated."""
    counts: dict[str, int] = {}
    for w in caught:
        text = str(w.message).strip().splitlines()[0] if str(w.message).strip() else ""
        key = f"{w.category.__name__}: {text}"
        counts[key] = counts.get(key, 0) + 1
    return [f"{key} (x{n})" if n > 1 else key for key, n in counts.items()]


def _fit_quietly(
    task: Task, template: Any, rebuild: Callable[[], Any], X: Any, y: Any, spec: TrainSpec
) -> Any:
    from sklearn.base import clone

    try:
        estimator = clone(template)
    except Exception:  # noqa: BLE001 - not a scikit-learn estimator: build a new one
        estimator = rebuild()
    try:
        return task.fit(estimator, X, y, spec.task_options)
    except CarnetError:
        raise
    except Exception as exc:
        error = _user_error(exc, spec)
        if error is exc:
            raise
        raise error from exc


def _user_error(exc: Exception, spec: TrainSpec) -> Exception:
    """InvalidInput when ``exc`` is a user mistake (bad param value, NaN left unimputed); else ``exc``."""
    name = spec.model.name if spec.model else "?"
    params = spec.model.params if spec.model else {}
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if type(exc).__name__ in _LIBRARY_ERRORS:
        return invalid_params(exc, name, params)
    if not isinstance(exc, ValueError | TypeError):
        return exc
    if "Invalid classes inferred" in text:  # XGBClassifier wants labels 0..k-1
        return InvalidInput(
            f"model {name!r} needs class labels 0..k-1 ({text.split('.', 1)[-1].strip()}); "
            "encode the target as integers or use another model",
            field="target",
        )
    if "contains NaN" in text or "missing values" in text.lower():
        return InvalidInput(
            f"model {name!r} cannot handle missing values ({text}); set preprocess.impute_numeric / "
            "impute_categorical, or use a model that accepts NaN (hist_gradient_boosting, lightgbm, xgboost)",
            field="preprocess",
        )
    if any(re.search(rf"\b{re.escape(key)}\b", text) for key in params):
        return invalid_params(exc, name, params)
    return exc


def fit_and_evaluate(
    task: Task,
    spec: TrainSpec,
    frame: pd.DataFrame,
    *,
    scorer: Scorer,
    features: list[str] | None = None,
    progress: ProgressFn | None = None,
    on_fold: Callable[[int, dict[str, float]], None] | None = None,
    refit: bool = True,
    estimator: Callable[[], Any] | None = None,
) -> FitResult:
    """Fit ``spec``'s model on every split of ``frame`` and score each test part.

    Args:
        task: the resolved task plugin.
        spec: the training spec (``spec.model`` None = ``task.default_model()``).
        frame: all rows; targets, groups and times included.
        scorer: ``(predictions, truth) -> {metric: value}`` for one test part.
        features: feature columns already validated (skips :func:`validate_against_data`).
        progress: called as ``progress("fold", i + 1, n)`` after each fold and
            ``progress("refit", 0, 1)`` / ``("refit", 1, 1)`` around the final refit.
        on_fold: called as ``on_fold(i, scores)`` after each fold; an exception it raises
            (e.g. ``optuna.TrialPruned``) propagates unchanged and stops the evaluation.
        refit: with several folds, refit on all rows (else the last fold's model is kept).
        estimator: builds what is fitted per fold instead of the spec's pipeline (a
            :class:`~carnet.training.reuse.Derivation` when the spec starts from a registered model).

    Returns:
        a :class:`FitResult`; identical scores for the same spec, data and seed.

    Raises:
        InvalidInput: bad spec for this data, or a model parameter error (``model.params``).
    """
    start = time.perf_counter()
    if spec.model is None:
        spec = dataclasses.replace(spec, model=ModelSpec(name=model_choice(spec, task)[0]))
    if features is None:
        features = validate_against_data(spec, task, frame)
    else:
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise InvalidInput(f"feature columns not in the dataset: {', '.join(missing)}", field="features")
        features = list(features)
    options = spec.task_options
    target = spec.target
    from carnet.plugins.api import task_targets

    targets = task_targets(task, dict(options)) if target is None else []
    supervised = bool(task.supervised) and (target is not None or bool(targets))
    labels: Any = targets if targets else target  # a frame of targets for a multitask model

    splits = list(task.split(frame, target, spec.split, spec.seed, options))
    if not splits:
        raise InvalidInput(f"task {task.name!r} produced no train/test split for this data", field="split")

    def rebuild() -> Any:
        return estimator() if estimator is not None else build_pipeline(spec, task, frame, features)

    template = rebuild()

    folds: list[FoldResult] = []
    fitted: Any = None
    caught: list[warnings.WarningMessage] = []
    for i, (train_idx, test_idx) in enumerate(splits):
        train, test = frame.iloc[train_idx], frame.iloc[test_idx]
        y_train = train[labels] if supervised else None
        t0 = time.perf_counter()
        fitted = _fit(task, template, rebuild, train[features], y_train, spec, caught)
        t1 = time.perf_counter()
        predictions = task.predict(fitted, test[features], options)
        t2 = time.perf_counter()
        truth = task.truth(test, target, options)
        scores = {str(k): float(v) for k, v in scorer(predictions, truth).items()}
        folds.append(FoldResult(i, train_idx, test_idx, predictions, truth, scores, t1 - t0, t2 - t1))
        if progress is not None:
            progress("fold", i + 1, len(splits))
        if on_fold is not None:
            on_fold(i, scores)

    if refit and len(splits) > 1:
        if progress is not None:
            progress("refit", 0, 1)
        y_all = frame[labels] if supervised else None
        fitted = _fit(task, template, rebuild, frame[features], y_all, spec, caught)
        if progress is not None:
            progress("refit", 1, 1)

    mean, std = _aggregate(folds)
    elapsed = time.perf_counter() - start
    return FitResult(fitted, folds, mean, std, features, spec, elapsed, summarize_warnings(caught))
