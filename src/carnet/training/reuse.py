"""Continue a fitted model on new rows with its library's own mechanism (warm start, fine-tuning).

:func:`reuse_modes` says what a fitted model supports, :func:`check_reuse` refuses a combination
that cannot work before anything runs (naming what would), and :class:`Derivation` is the
estimator the training engine fits in place of a fresh pipeline: it copies the parent, reuses its
fitted preprocessing (or refits it), and continues the model:

- LightGBM: ``fit(..., init_model=parent.booster_)``: ``n_estimators`` more boosting rounds (with
  ``reg_lambda`` at least 1 unless params say otherwise: see :meth:`Derivation._continue`);
- XGBoost: ``fit(..., xgb_model=parent.get_booster())``: ``n_estimators`` more rounds;
- scikit-learn ensembles (forests, extra trees, bagging, gradient boosting, isolation forest):
  ``warm_start=True``: ``n_estimators`` more trees (histogram gradient boosting is refused: it
  re-bins its input on every fit, so its trees cannot be continued on other rows);
- ``partial_fit`` models (SGD, MLP, MiniBatchKMeans, naive Bayes, perceptron, ...): ``epochs``
  passes of ``partial_fit`` over the new rows;
- other models with a ``warm_start`` parameter (logistic regression, elastic net, ...): refit on
  the new rows starting from the parent's coefficients;
- models that declare ``carnet_reuse_modes`` (the torch flavor's networks): their own
  ``carnet_continue(X, y, mode, params)``.

The parent is never modified; the result is a fitted object of the parent's own kind (a
pipeline of the same steps), stored and served like any other model.
"""

from __future__ import annotations

import copy
from typing import Any

from carnet.errors import InvalidInput
from carnet.plugins.api import final_step

__all__ = ["ADDITIVE", "Derivation", "check_reuse", "describe_modes", "reuse_modes", "unwrap"]

#: the count param that, in a derivation, says how many trees or rounds to *add* to the parent's
ADDITIVE = ("n_estimators",)
#: partial_fit models that see each row once per update (more epochs would count rows twice)
_ONE_PASS = ("GaussianNB", "MultinomialNB", "BernoulliNB", "ComplementNB", "CategoricalNB", "IncrementalPCA")


def unwrap(fitted: Any) -> tuple[Any, Any]:
    """(the fitted pipeline or model, the label-encoding wrapper around it or None).

    The classification tasks wrap models that need labels 0..k-1 (XGBoost) in a
    ``LabelEncodedClassifier``: a fitted ``estimator_`` answering in the wrapper's ``classes_``.
    """
    if type(fitted).__name__ == "LabelEncodedClassifier" and hasattr(fitted, "estimator_"):
        return fitted.estimator_, fitted
    return fitted, None


def _last(fitted: Any) -> Any:
    return final_step(unwrap(fitted)[0])[1]


def _library(model: Any) -> str:
    return type(model).__module__.split(".", 1)[0]


def _count_param(model: Any) -> str | None:
    """``n_estimators`` for a scikit-learn ensemble that can grow with ``warm_start``, else None."""
    from sklearn.ensemble import BaseEnsemble

    if isinstance(model, BaseEnsemble) and "warm_start" in model.get_params():
        return "n_estimators"
    return None


def _rebins(model: Any) -> bool:
    """Histogram gradient boosting re-bins its input on every fit: its trees only fit the old bins."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    return isinstance(model, HistGradientBoostingClassifier | HistGradientBoostingRegressor)


def reuse_modes(fitted: Any) -> dict[str, str]:
    """What ``fitted`` (a pipeline, a model, or a label-encoded wrapper) supports: mode -> what it does."""
    model = _last(fitted)
    own = getattr(model, "carnet_reuse_modes", None)
    if callable(own):
        return dict(own())
    lib = _library(model)
    if lib == "lightgbm" and hasattr(model, "booster_"):
        return {"warm_start": "continue boosting (init_model): n_estimators more rounds on the new rows"}
    if lib == "xgboost" and hasattr(model, "get_booster"):
        return {"warm_start": "continue boosting (xgb_model): n_estimators more rounds on the new rows"}
    if _rebins(model):
        return {}
    if _count_param(model) is not None:
        return {"warm_start": "add trees: n_estimators more trees fitted on the new rows"}
    if hasattr(model, "partial_fit"):
        return {"warm_start": "continue learning with partial_fit: `epochs` passes over the new rows"}
    if hasattr(model, "get_params") and "warm_start" in model.get_params():
        return {"warm_start": "refit on the new rows starting from the parent's coefficients"}
    return {}


def describe_modes(modes: dict[str, str]) -> str:
    """``warm_start (add trees: ...)`` for each mode, or ``nothing``."""
    return "; ".join(f"{mode} ({what})" for mode, what in modes.items()) or "nothing"


def check_reuse(fitted: Any, mode: str | None, label: str) -> str:
    """The reuse mode to apply to ``fitted`` (``mode``, or its first supported one when None).

    Raises:
        InvalidInput: (field ``model.reuse``) the model cannot be reused this way; the message says
            what it supports, or that it cannot be derived at all.
    """
    modes = reuse_modes(fitted)
    if not modes and _rebins(_last(fitted)):
        raise InvalidInput(
            f"{label} ({type(_last(fitted)).__name__}) re-bins its input on every fit, so its trees "
            "cannot be continued on new rows; derive from a lightgbm model (init_model) or a "
            "random_forest instead",
            field="model.reuse",
        )
    if not modes:
        raise InvalidInput(
            f"{label} ({type(_last(fitted)).__name__}) cannot be continued: it has no warm_start, "
            "partial_fit or init_model; train a new model with carnet train, or derive from a model that "
            "can (lightgbm, xgboost, random_forest, gradient_boosting, sgd, mlp, ...)",
            field="model.reuse",
        )
    if mode is None:
        return next(iter(modes))
    if mode not in modes:
        torch = "" if mode == "warm_start" else f"; reuse: {mode} is for torch models (extra torch)"
        raise InvalidInput(
            f"{label} ({type(_last(fitted)).__name__}) supports {describe_modes(modes)}{torch}",
            field="model.reuse",
        )
    return mode


def _classes_check(parent_classes: Any, y: Any, exact: bool) -> None:
    import numpy as np

    known = {str(c) for c in np.asarray(parent_classes).tolist()}
    seen = {str(c) for c in np.unique(np.asarray(y)).tolist()}
    unknown = sorted(seen - known)
    if unknown:
        raise InvalidInput(
            f"the new rows' target has classes the parent never saw: {', '.join(unknown[:10])}; "
            "a derived model keeps its parent's classes (train a new model instead)",
            field="target",
        )
    if exact and seen != known:
        missing = sorted(known - seen)
        raise InvalidInput(
            f"warm start needs every class of the parent in the new rows; missing: {', '.join(missing[:10])} "
            "(add rows of those classes, or use a model with partial_fit)",
            field="target",
        )


class Derivation:
    """What the training engine fits in place of a fresh pipeline when a spec says ``model.from``.

    ``fit(X, y)`` returns a new fitted object shaped like ``parent``; ``parent`` is left as it was.
    Deliberately not a scikit-learn estimator: ``clone`` must not copy (and unfit) the parent, so
    the engine builds a new Derivation per fold.
    """

    def __init__(
        self,
        parent: Any,
        mode: str,
        params: dict[str, Any] | None = None,
        *,
        refit_preprocessing: bool = False,
        supervised: bool = True,
    ) -> None:
        self.parent = parent
        self.mode = mode
        self.params = dict(params or {})
        self.refit_preprocessing = refit_preprocessing
        self.supervised = supervised

    # the training engine reads a pipeline's steps to decide on label encoding: a Derivation has none

    def fit(self, X: Any, y: Any = None) -> Any:
        """Continue a copy of the parent on ``X`` (and ``y``); returns the new fitted object.

        Raises:
            InvalidInput: a class the parent never saw, refitted preprocessing of another width,
                a parameter the model does not have.
        """
        import numpy as np
        from sklearn.base import clone

        inner, wrapper = unwrap(self.parent)
        inner = copy.deepcopy(inner)
        head, model = final_step(inner)
        y_fit = y
        if wrapper is not None and y is not None:
            _classes_check(wrapper.classes_, y, exact=True)
            y_fit = np.searchsorted(wrapper.classes_, np.asarray(y))
        if head is not None and self.refit_preprocessing:
            width = getattr(model, "n_features_in_", None)
            head = clone(head).fit(X, y)
            new_width = np.asarray(head.transform(X[:1])).shape[1]
            if width is not None and new_width != width:
                raise InvalidInput(
                    f"the refitted preprocessing makes {new_width} model inputs, the parent's model takes "
                    f"{width}; keep the parent's preprocessing (refit_preprocessing: false)",
                    field="model.refit_preprocessing",
                )
        Xt = head.transform(X) if head is not None else X
        model = self._continue(model, Xt, y_fit if self.supervised else None)
        if head is not None:
            steps = list(getattr(head, "steps", [("preprocess", head)]))
            fitted: Any = type(inner)([*steps, (inner.steps[-1][0], model)])
        else:
            fitted = model
        if wrapper is not None:
            out = copy.copy(wrapper)  # the same wrapper class, answering in the parent's classes
            out.estimator_ = fitted
            return out
        return fitted

    def _continue(self, model: Any, X: Any, y: Any) -> Any:
        own = getattr(model, "carnet_continue", None)
        if callable(own):
            return own(X, y, self.mode, dict(self.params))
        params = dict(self.params)
        classes = getattr(model, "classes_", None)
        lib = _library(model)
        if lib in ("lightgbm", "xgboost"):
            if classes is not None and y is not None:
                _classes_check(classes, y, exact=True)
            rounds = int(params.pop("n_estimators", _quarter(model.get_params()["n_estimators"])))
            if lib == "lightgbm":
                # rows the parent predicts with near certainty have hessians near 0: unregularised, one
                # of them can blow a new leaf up (xgboost's default lambda is 1 for the same reason)
                params.setdefault("reg_lambda", max(1.0, float(model.get_params().get("reg_lambda") or 0.0)))
                new = clone_with(model, params, n_estimators=rounds).fit(X, y, init_model=model.booster_)
                # a deep copy rebuilds the booster from its model text: it no longer holds the parent's
                # predictor (a native handle no model file may contain)
                return copy.deepcopy(new)
            new = clone_with(model, params, n_estimators=rounds)
            return new.fit(X, y, xgb_model=model.get_booster())
        count = _count_param(model)
        if count is not None:
            if classes is not None and y is not None:
                _classes_check(classes, y, exact=True)
            before = int(model.get_params()[count])
            add = int(params.pop(count, _quarter(before)))
            _set(model, {**params, "warm_start": True, count: before + add})
            return _fit(model, X, y)
        if hasattr(model, "partial_fit"):
            epochs = params.pop("epochs", 1 if type(model).__name__ in _ONE_PASS else 5)
            if not isinstance(epochs, int) or isinstance(epochs, bool) or not 1 <= epochs <= 10_000:
                raise InvalidInput(
                    f"model.params.epochs must be an integer from 1 to 10000, got {epochs!r}",
                    field="model.params.epochs",
                )
            _set(model, params)
            if classes is not None and y is not None:
                _classes_check(classes, y, exact=False)
            for _ in range(epochs):
                if y is None:
                    model.partial_fit(X)
                elif classes is not None:
                    model.partial_fit(X, y, classes=classes)
                else:
                    model.partial_fit(X, y)
            return model
        if classes is not None and y is not None:
            _classes_check(classes, y, exact=True)
        _set(model, {**params, "warm_start": True})
        return _fit(model, X, y)


def _quarter(count: int) -> int:
    """The default number to add: a quarter of the parent's, at least 10."""
    return max(10, round(count / 4))


def _set(model: Any, params: dict[str, Any]) -> None:
    known = model.get_params()
    unknown = [k for k in params if k not in known]
    if unknown:
        raise InvalidInput(
            f"model.params: {type(model).__name__} has no parameter {unknown[0]!r}",
            field=f"model.params.{unknown[0]}",
        )
    model.set_params(**params)


def clone_with(model: Any, params: dict[str, Any], **fixed: Any) -> Any:
    """An unfitted copy of ``model`` with ``params`` and ``fixed`` set."""
    from sklearn.base import clone

    new = clone(model)
    _set(new, {**params, **fixed})
    return new


def _fit(model: Any, X: Any, y: Any) -> Any:
    fitted = model.fit(X) if y is None else model.fit(X, y)
    return model if fitted is None else fitted
