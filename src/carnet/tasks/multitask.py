"""Multitask learning: several targets (classification and regression, mixed) from one spec.

A spec names its targets in ``task_options.targets`` (``target`` stays empty); each target's kind
is read from its values (text, booleans and integers with at most 20 distinct values are classes,
other numbers are values) unless ``task_options.target_types`` says it. Every target shares the
same preprocessing; the model is one estimator per target (:class:`MultiTargetModel`: a
classifier and a regressor of the same family, e.g. ``lightgbm``) or a network with a shared
trunk and one head per target (``torch_mlp``). Metrics are per target (``churned.roc_auc``) plus
``mean_primary``; the signature lists every output; serving answers every target by name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, ClassVar

from sklearn.base import BaseEstimator, clone

from carnet.domain.training import Predictions, SplitSpec
from carnet.errors import InvalidInput
from carnet.plugins.api import final_step
from carnet.tasks._base import TaskBase

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = ["PAIRS", "MultiTargetModel", "Multitask", "target_kinds"]

_LGBM = {"n_jobs": 1, "verbose": -1}
#: model short name -> (classifier class path, regressor class path, default params)
PAIRS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "hist_gradient_boosting": (
        "sklearn.ensemble:HistGradientBoostingClassifier",
        "sklearn.ensemble:HistGradientBoostingRegressor",
        {},
    ),
    "random_forest": (
        "sklearn.ensemble:RandomForestClassifier",
        "sklearn.ensemble:RandomForestRegressor",
        {"n_jobs": 1},
    ),
    "extra_trees": (
        "sklearn.ensemble:ExtraTreesClassifier",
        "sklearn.ensemble:ExtraTreesRegressor",
        {"n_jobs": 1},
    ),
    "linear": ("sklearn.linear_model:LogisticRegression", "sklearn.linear_model:Ridge", {}),
    "lightgbm": ("lightgbm:LGBMClassifier", "lightgbm:LGBMRegressor", _LGBM),
    "xgboost": ("xgboost:XGBClassifier", "xgboost:XGBRegressor", {"n_jobs": 1}),
}
#: a network with a shared trunk and one head per target
NETWORK = "carnet.training.torch_models:TorchMultiTaskMLP"
_CLASSES_AT_MOST = 20
_OWN = ("classifier", "regressor", "target_types", "random_state")


def _import(path: str) -> Any:
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        extra = module.split(".")[0] if module.split(".")[0] in ("lightgbm", "xgboost") else "torch"
        raise InvalidInput(
            f"model class {path} cannot be imported ({exc}); pip install 'carnet[{extra}]'",
            field="model.name",
        ) from None


def target_kinds(frame: pd.DataFrame, targets: list[str], declared: dict[str, str]) -> dict[str, str]:
    """Each target's family: ``classification`` or ``regression`` (declared, else from its values)."""
    import pandas as pd

    out: dict[str, str] = {}
    for name in targets:
        if name in declared:
            out[name] = declared[name]
            continue
        series = frame[name]
        numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
        integral = numeric and pd.api.types.is_integer_dtype(series.dtype)
        out[name] = (
            "regression"
            if numeric and not (integral and series.nunique() <= _CLASSES_AT_MOST)
            else "classification"
        )
    return out


def _options(options: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The targets and declared target types of ``task_options``; InvalidInput names the field."""
    targets = options.get("targets")
    if (
        not isinstance(targets, list | tuple)
        or len(targets) < 2
        or not all(isinstance(t, str) and t for t in targets)
    ):
        raise InvalidInput(
            "task multitask needs task_options.targets: two or more target columns, e.g. [churned, spend]",
            field="task_options.targets",
        )
    if len(set(targets)) != len(targets):
        raise InvalidInput("task_options.targets names a column twice", field="task_options.targets")
    declared = options.get("target_types") or {}
    if not isinstance(declared, dict) or not all(
        v in ("classification", "regression") for v in declared.values()
    ):
        raise InvalidInput(
            "task_options.target_types maps a target to classification or regression",
            field="task_options.target_types",
        )
    unknown = [k for k in declared if k not in targets]
    if unknown:
        raise InvalidInput(
            f"task_options.target_types names {unknown[0]!r}, not a target", field="task_options.target_types"
        )
    return list(targets), dict(declared)


class MultiTargetModel(BaseEstimator):
    """One classifier or regressor per target, all on the same inputs.

    Params set on the model (``max_depth``...) go to both the classifier and the regressor when
    they have them.
    """

    def __init__(
        self,
        classifier: Any = None,
        regressor: Any = None,
        target_types: dict[str, str] | None = None,
        random_state: int | None = None,
    ) -> None:
        self.classifier = classifier
        self.regressor = regressor
        self.target_types = target_types
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Its own params; with ``deep``, also the inner estimators' (without a prefix)."""
        own: dict[str, Any] = super().get_params(deep=False)
        if not deep:
            return own
        inner: dict[str, Any] = {}
        for est in (self.classifier, self.regressor):
            if est is not None:
                inner.update(est.get_params(deep=False))
        return {**inner, **own}

    def set_params(self, **params: Any) -> MultiTargetModel:
        """Own params here; any other goes to each inner estimator that has it."""
        own = {k: params.pop(k) for k in list(params) if k in _OWN}
        super().set_params(**own)
        for key, value in params.items():
            takers = [e for e in (self.classifier, self.regressor) if e is not None and key in e.get_params()]
            if not takers:
                raise ValueError(f"Invalid parameter {key!r} for the multitask model")
            for est in takers:
                est.set_params(**{key: value})
        return self

    def fit(self, X: Any, Y: pd.DataFrame) -> MultiTargetModel:
        """Fit one estimator per column of ``Y`` (classes encoded 0..k-1 for XGBoost)."""
        import numpy as np

        kinds = dict(self.target_types or {})
        self.targets_ = [str(c) for c in Y.columns]
        self.estimators_: dict[str, Any] = {}
        self.classes_: dict[str, Any] = {}
        for target in self.targets_:
            kind = kinds.get(target, "regression")
            template = self.classifier if kind == "classification" else self.regressor
            est = clone(template)
            if self.random_state is not None and "random_state" in est.get_params():
                est.set_params(random_state=self.random_state)
            y = Y[target].to_numpy()
            if kind == "classification":
                classes, encoded = np.unique(y.astype(str) if y.dtype == object else y, return_inverse=True)
                self.classes_[target] = classes
                self.estimators_[target] = est.fit(X, encoded)
            else:
                self.estimators_[target] = est.fit(X, y.astype(float))
        self.target_types_ = {t: kinds.get(t, "regression") for t in self.targets_}
        return self

    def predict(self, X: Any) -> pd.DataFrame:
        """One column per target: labels or values."""
        import pandas as pd

        return pd.DataFrame({t: self.predict_target(X, t) for t in self.targets_})

    def predict_target(self, X: Any, target: str) -> np.ndarray:
        """One target's labels or values."""
        import numpy as np

        raw = np.asarray(self.estimators_[target].predict(X))
        if self.target_types_[target] == "classification":
            return np.asarray(self.classes_[target][raw.astype(int)])
        return raw.astype(float)

    def predict_proba_target(self, X: Any, target: str) -> np.ndarray | None:
        """One classification target's probabilities (columns in ``classes_[target]`` order)."""
        import numpy as np

        est = self.estimators_[target]
        if self.target_types_[target] != "classification" or not hasattr(est, "predict_proba"):
            return None
        return np.asarray(est.predict_proba(X), dtype=float)


class Multitask(TaskBase):
    """Several targets, classification and regression mixed, from shared inputs."""

    name = "multitask"
    description = "several targets at once (classes and values mixed), shared preprocessing"
    supervised = True
    family = "multitask"
    option_help: ClassVar[dict[str, str]] = {
        "targets": "two or more target columns",
        "target_types": "optional: target -> classification | regression (default: read from the values)",
    }
    _metrics = ("mean_primary",)
    _primary = ("mean_primary", "maximize")
    _default_model = "hist_gradient_boosting"
    _candidates = ("hist_gradient_boosting", "lightgbm", "random_forest", "torch_mlp")

    def targets(self, options: dict[str, Any]) -> list[str]:
        """The target columns (``task_options.targets``)."""
        return _options(options)[0]

    def models(self) -> dict[str, Any]:
        """``hist_gradient_boosting``, ``random_forest``, ``extra_trees``, ``linear``, ``lightgbm``,
        ``xgboost`` (one estimator per target) and ``torch_mlp`` (shared trunk, one head each)."""
        import functools

        out: dict[str, Any] = {name: functools.partial(_pair, name) for name in PAIRS}
        out["torch_mlp"] = functools.partial(_network)
        return out

    def default_split(self) -> SplitSpec:
        """A shuffled 80/20 holdout."""
        return SplitSpec()

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        """Targets: two or more columns without missing values; ``target`` unused."""
        if target is not None:
            raise InvalidInput(
                "task multitask takes its targets in task_options.targets; leave target out", field="target"
            )
        targets, declared = _options(options)
        for name in targets:
            if name not in frame.columns:
                raise InvalidInput(
                    f"target column {name!r} is not in the dataset", field="task_options.targets"
                )
            missing = int(frame[name].isna().sum())
            if missing:
                raise InvalidInput(
                    f'target "{name}" has {missing} missing value(s)', field="task_options.targets"
                )
        for name, kind in target_kinds(frame, targets, declared).items():
            if kind == "classification" and frame[name].nunique() < 2:
                raise InvalidInput(
                    f'classification target "{name}" has a single class', field="task_options.targets"
                )

    def split(
        self, frame: pd.DataFrame, target: str | None, split: SplitSpec, seed: int, options: dict[str, Any]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Holdout, kfold, group_kfold, time or none."""
        from carnet.tasks._splits import split_rows

        return split_rows(frame, split, seed, self.name, time_column=options.get("time_column"))

    def fit(self, estimator: Any, X: pd.DataFrame, y: Any, options: dict[str, Any]) -> Any:
        """Fit on the targets ``y`` (a frame), telling the model each target's kind."""
        import pandas as pd

        if not isinstance(y, pd.DataFrame):
            raise InvalidInput("task multitask needs its target columns to fit", field="task_options.targets")
        targets, declared = _options(options)
        kinds = target_kinds(y, targets, declared)
        final_step(estimator)[1].set_params(target_types=kinds)
        return estimator.fit(X, y[targets])

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        """Every target's predictions (``extra["targets"]``), their kinds (``extra["families"]``)
        and one frame of all labels and values (``y_pred``)."""
        import numpy as np
        import pandas as pd

        head, model = final_step(fitted)
        Xt = head.transform(X) if head is not None else X
        per_target: dict[str, Predictions] = {}
        for target in model.targets_:
            labels = model.predict_target(Xt, target)
            if model.target_types_[target] == "classification":
                proba = model.predict_proba_target(Xt, target)
                classes = list(model.classes_[target])
                if proba is None:
                    proba = (np.asarray(labels)[:, None] == np.asarray(classes)[None, :]).astype(float)
                per_target[target] = Predictions(
                    task="classification", y_pred=labels, y_score=proba, classes=classes
                )
            else:
                per_target[target] = Predictions(task="regression", y_pred=np.asarray(labels, dtype=float))
        frame = pd.DataFrame({t: p.y_pred for t, p in per_target.items()})
        return Predictions(
            task=self.name,
            y_pred=frame,
            extra={"targets": per_target, "families": dict(model.target_types_)},
        )

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        """The target columns."""
        return frame[_options(options)[0]]


def _pair(name: str, **params: Any) -> MultiTargetModel:
    """A :class:`MultiTargetModel` of model family ``name`` with ``params``."""
    classifier_path, regressor_path, defaults = PAIRS[name]
    model = MultiTargetModel(_import(classifier_path)(**defaults), _import(regressor_path)(**defaults))
    return model.set_params(**params) if params else model


def _network(**params: Any) -> Any:
    """The multitask network (extra ``torch``)."""
    return _import(NETWORK)(**params)
