"""XGBoost models in XGBoost's own binary JSON format (UBJSON), never pickle.

A bare ``xgboost.Booster`` comes back as a Booster; a fitted scikit-learn estimator
(``XGBClassifier``, ``XGBRegressor``, ``XGBRanker``, random-forest variants) comes back
as the same estimator class through XGBoost's documented ``load_model``, with its
``predict`` / ``predict_proba`` / ``classes_``. The file is a zip of ``model.ubj``
(readable by any XGBoost) and ``carnet.json`` naming the class to rebuild, chosen from
a fixed list.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from carnet.errors import InvalidInput
from carnet.flavors.base import is_fitted, pack_envelope, type_names, unpack_envelope, wrap_load_error

__all__ = ["XGBoostFlavor"]

FORMAT = "carnet.xgboost"
MODEL_MEMBER = "model.ubj"

_BOOSTER = "xgboost.core.Booster"
_ESTIMATOR = "xgboost.sklearn.XGBModel"
#: the classes a file may ask to rebuild (most specific first)
_CLASSES = ("XGBRFClassifier", "XGBRFRegressor", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBModel")


def _estimator_class(model: Any) -> str:
    names = type_names(model)
    for cls in _CLASSES:
        if f"xgboost.sklearn.{cls}" in names:
            return cls
    raise InvalidInput(f"{type(model).__name__} is not an XGBoost model", field="model")


class XGBoostFlavor:
    """XGBoost boosters and scikit-learn estimators in XGBoost's native UBJSON format."""

    name = "xgboost"
    file_name = "model.xgboost.zip"
    requires_opt_in = False

    def can_save(self, model: Any) -> bool:
        """True for a Booster, or a fitted ``XGBModel`` without a custom objective function."""
        names = type_names(model)
        if _BOOSTER in names:
            return True
        return _ESTIMATOR in names and is_fitted(model) and not callable(getattr(model, "objective", None))

    def dumps(self, model: Any) -> bytes:
        """A zip of the model in UBJSON (the estimator's attributes included) and the class to rebuild.

        Raises:
            InvalidInput: not an XGBoost model, not fitted, or a custom objective.
        """
        names = type_names(model)
        if _BOOSTER in names:
            cls, raw = "Booster", bytes(model.save_raw("ubj"))
        else:
            cls = _estimator_class(model)
            if not is_fitted(model):
                raise InvalidInput(
                    f"{type(model).__name__} is not fitted: fit it before storing it", field="model"
                )
            if callable(getattr(model, "objective", None)):
                raise InvalidInput(
                    "an XGBoost model with a custom objective function cannot be stored in XGBoost's format",
                    field="model",
                )
            with tempfile.TemporaryDirectory(prefix="carnet-xgb-") as tmp:
                path = Path(tmp) / MODEL_MEMBER
                model.save_model(str(path))  # the documented way to keep the estimator's attributes
                raw = path.read_bytes()
        import xgboost

        meta = {
            "format": FORMAT,
            "format_version": 1,
            "estimator": cls,
            "library_version": xgboost.__version__,
        }
        return pack_envelope(meta, {MODEL_MEMBER: raw})

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        """The Booster or scikit-learn estimator that was stored.

        ``trusted`` and ``allow_pickle`` are accepted for a uniform call and ignored: nothing is unpickled.

        Raises:
            InvalidInput: not an XGBoost model file of carnet.
        """
        parts = unpack_envelope(data, FORMAT, [MODEL_MEMBER])
        cls = parts["meta"].get("estimator")
        if cls != "Booster" and cls not in _CLASSES:
            raise InvalidInput(f"XGBoost model file names an unknown class {cls!r}", field="data")
        import xgboost

        try:
            model = getattr(xgboost, cls)()
            model.load_model(bytearray(parts[MODEL_MEMBER]))
        except Exception as exc:  # noqa: BLE001 - library failures on foreign bytes become a carnet error
            raise wrap_load_error(exc, "the XGBoost model") from exc
        return model
