"""LightGBM models in LightGBM's own text format, never pickle.

A bare ``lightgbm.Booster`` comes back as a Booster. A fitted scikit-learn estimator
(``LGBMClassifier``, ``LGBMRegressor``, ``LGBMRanker``) comes back as a
:class:`LightGBMModel` (:class:`LightGBMClassifierModel` for classifiers): the same
booster behind the same ``predict`` / ``predict_proba`` / ``classes_`` API, predicting
exactly what the original did. The file is a zip of ``model.txt`` (the booster's model
text, readable by any LightGBM) and ``carnet.json`` (kind, class labels, best iteration).
"""

from __future__ import annotations

from typing import Any, cast

from carnet.errors import InvalidInput
from carnet.flavors.base import (
    decode_labels,
    encode_labels,
    is_fitted,
    pack_envelope,
    type_names,
    unpack_envelope,
    wrap_load_error,
)

__all__ = ["LightGBMClassifierModel", "LightGBMFlavor", "LightGBMModel"]

FORMAT = "carnet.lightgbm"
MODEL_MEMBER = "model.txt"

_BOOSTER = "lightgbm.basic.Booster"
_ESTIMATOR = "lightgbm.sklearn.LGBMModel"
_KINDS = {
    "lightgbm.sklearn.LGBMClassifier": "classifier",
    "lightgbm.sklearn.LGBMRanker": "ranker",
    "lightgbm.sklearn.LGBMRegressor": "regressor",
}
_LOADED_KINDS = frozenset({"booster", "classifier", "ranker", "regressor", "model"})


class LightGBMModel:
    """A LightGBM booster with the prediction API of the scikit-learn estimator it was saved from.

    Args:
        booster: the ``lightgbm.Booster``.
        kind: ``regressor``, ``ranker`` or ``model`` (a plain ``LGBMModel``).
        importance_type: what :attr:`feature_importances_` reports (``split`` or ``gain``).
    """

    def __init__(self, booster: Any, *, kind: str = "regressor", importance_type: str = "split") -> None:
        self.booster_ = booster
        self.kind = kind
        self.importance_type = importance_type

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, n_features_in_={self.n_features_in_})"

    @property
    def n_features_in_(self) -> int:
        """Number of input features."""
        return int(self.booster_.num_feature())

    @property
    def feature_name_(self) -> list[str]:
        """Feature names as LightGBM recorded them (``Column_0``... for arrays)."""
        return list(self.booster_.feature_name())

    @property
    def feature_names_in_(self) -> Any:
        """Feature names as a numpy array (the scikit-learn attribute)."""
        import numpy as np

        return np.array(self.feature_name_)

    @property
    def feature_importances_(self) -> Any:
        """Per-feature importance of kind :attr:`importance_type`."""
        return self.booster_.feature_importance(importance_type=self.importance_type)

    @property
    def best_iteration_(self) -> int:
        """The best iteration found by early stopping (0 or less: every iteration is used)."""
        return int(self.booster_.best_iteration)

    @property
    def objective_(self) -> str | None:
        """The objective the booster was trained with."""
        return cast("str | None", self.booster_.params.get("objective"))

    def predict(
        self,
        X: Any,
        raw_score: bool = False,
        start_iteration: int = 0,
        num_iteration: int | None = None,
        pred_leaf: bool = False,
        pred_contrib: bool = False,
        validate_features: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Predicted values, as ``LGBMRegressor.predict`` / ``LGBMRanker.predict``."""
        return self.booster_.predict(
            X,
            raw_score=raw_score,
            start_iteration=start_iteration,
            num_iteration=num_iteration,
            pred_leaf=pred_leaf,
            pred_contrib=pred_contrib,
            validate_features=validate_features,
            **kwargs,
        )


class LightGBMClassifierModel(LightGBMModel):
    """A LightGBM classifier: ``predict`` gives labels, ``predict_proba`` probabilities per class."""

    def __init__(self, booster: Any, *, classes: Any, importance_type: str = "split") -> None:
        super().__init__(booster, kind="classifier", importance_type=importance_type)
        self.classes_ = classes
        self.n_classes_ = len(classes)

    def predict_proba(
        self,
        X: Any,
        raw_score: bool = False,
        start_iteration: int = 0,
        num_iteration: int | None = None,
        pred_leaf: bool = False,
        pred_contrib: bool = False,
        validate_features: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Class probabilities, columns in the order of :attr:`classes_`."""
        import numpy as np

        result = super().predict(
            X,
            raw_score=raw_score,
            start_iteration=start_iteration,
            num_iteration=num_iteration,
            pred_leaf=pred_leaf,
            pred_contrib=pred_contrib,
            validate_features=validate_features,
            **kwargs,
        )
        if self.n_classes_ > 2 or raw_score or pred_leaf or pred_contrib:
            return result
        return np.vstack((1.0 - result, result)).transpose()

    def predict(
        self,
        X: Any,
        raw_score: bool = False,
        start_iteration: int = 0,
        num_iteration: int | None = None,
        pred_leaf: bool = False,
        pred_contrib: bool = False,
        validate_features: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Predicted class labels (raw scores, leaves or contributions when asked for)."""
        import numpy as np

        result = self.predict_proba(
            X,
            raw_score=raw_score,
            start_iteration=start_iteration,
            num_iteration=num_iteration,
            pred_leaf=pred_leaf,
            pred_contrib=pred_contrib,
            validate_features=validate_features,
            **kwargs,
        )
        if raw_score or pred_leaf or pred_contrib:
            return result
        return self.classes_[np.argmax(result, axis=1)]


def _parts(model: Any) -> tuple[Any, dict[str, Any]]:
    """(booster, metadata) of a model this flavor can store."""
    if isinstance(model, LightGBMModel):
        meta: dict[str, Any] = {"kind": model.kind, "importance_type": model.importance_type}
        if isinstance(model, LightGBMClassifierModel):
            meta["classes"] = encode_labels(model.classes_)
        return model.booster_, meta
    names = type_names(model)
    if _BOOSTER in names:
        return model, {"kind": "booster"}
    if not is_fitted(model):
        raise InvalidInput(f"{type(model).__name__} is not fitted: fit it before storing it", field="model")
    if callable(getattr(model, "objective", None)):
        raise InvalidInput(
            "a LightGBM model with a custom objective function cannot be stored in LightGBM's format",
            field="model",
        )
    kind = next((k for name, k in _KINDS.items() if name in names), "model")
    meta = {"kind": kind, "importance_type": str(getattr(model, "importance_type", "split"))}
    if kind == "classifier":
        meta["classes"] = encode_labels(model.classes_)
    return model.booster_, meta


class LightGBMFlavor:
    """LightGBM boosters and scikit-learn estimators in LightGBM's native text format."""

    name = "lightgbm"
    file_name = "model.lightgbm.zip"
    requires_opt_in = False

    def can_save(self, model: Any) -> bool:
        """True for a Booster, a fitted ``LGBMModel`` (no custom objective) or a loaded LightGBMModel."""
        if isinstance(model, LightGBMModel):
            return True
        names = type_names(model)
        if _BOOSTER in names:
            return True
        return _ESTIMATOR in names and is_fitted(model) and not callable(getattr(model, "objective", None))

    def dumps(self, model: Any) -> bytes:
        """A zip of the booster's model text (every iteration) and the metadata to rebuild the wrapper.

        Raises:
            InvalidInput: not a LightGBM model, not fitted, or a custom objective.
        """
        if not isinstance(model, LightGBMModel) and not type_names(model) & {_BOOSTER, _ESTIMATOR}:
            raise InvalidInput(f"{type(model).__name__} is not a LightGBM model", field="model")
        booster, meta = _parts(model)
        import lightgbm

        text = booster.model_to_string(num_iteration=-1)
        meta.update(
            format=FORMAT,
            format_version=1,
            best_iteration=int(booster.best_iteration),
            library_version=lightgbm.__version__,
        )
        return pack_envelope(meta, {MODEL_MEMBER: text.encode("utf-8")})

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        """The Booster, or a :class:`LightGBMModel` for a model saved from a scikit-learn estimator.

        ``trusted`` and ``allow_pickle`` are accepted for a uniform call and ignored: nothing is unpickled.

        Raises:
            InvalidInput: not a LightGBM model file of carnet.
        """
        parts = unpack_envelope(data, FORMAT, [MODEL_MEMBER])
        meta = parts["meta"]
        kind = meta.get("kind")
        if kind not in _LOADED_KINDS:
            raise InvalidInput(f"LightGBM model file has an unknown kind {kind!r}", field="data")
        classes = decode_labels(meta.get("classes")) if kind == "classifier" else None
        importance = meta.get("importance_type", "split")
        if importance not in ("split", "gain"):
            raise InvalidInput(
                f"LightGBM model file has an unknown importance type {importance!r}", field="data"
            )
        import lightgbm

        try:
            booster = lightgbm.Booster(model_str=parts[MODEL_MEMBER].decode("utf-8"))
            booster.best_iteration = int(meta.get("best_iteration", 0))
        except Exception as exc:  # noqa: BLE001 - library failures on foreign bytes become a carnet error
            raise wrap_load_error(exc, "the LightGBM model") from exc
        if kind == "booster":
            return booster
        if classes is not None:
            return LightGBMClassifierModel(booster, classes=classes, importance_type=importance)
        return LightGBMModel(booster, kind=kind, importance_type=importance)
