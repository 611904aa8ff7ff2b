"""Model flavors: saving and safely loading fitted models, discovered as plugins.

Built-ins (entry-point group ``carnet.flavors``): ``lightgbm`` and ``xgboost`` (native
formats), ``sklearn`` (skops with trusted types), ``onnx`` (explicit export), ``sb3``
(Stable-Baselines3 policies, without pickle) and ``pickle`` (explicit, audited opt-in).
Importing this package imports none of those libraries.
"""

from __future__ import annotations

from typing import Any

from carnet.errors import InvalidInput
from carnet.flavors.base import Flavor
from carnet.flavors.lightgbm import LightGBMClassifierModel, LightGBMFlavor, LightGBMModel
from carnet.flavors.onnx import OnnxFlavor, OnnxModel, export_onnx
from carnet.flavors.pyfunc import PickleFlavor
from carnet.flavors.sklearn import TRUSTED_MODULE_PREFIXES, SklearnFlavor
from carnet.flavors.xgboost import XGBoostFlavor
from carnet.plugins.loader import registry

__all__ = [
    "AUTO_ORDER",
    "EXPLICIT_ONLY",
    "TRUSTED_MODULE_PREFIXES",
    "Flavor",
    "LightGBMClassifierModel",
    "LightGBMFlavor",
    "LightGBMModel",
    "OnnxFlavor",
    "OnnxModel",
    "PickleFlavor",
    "SklearnFlavor",
    "XGBoostFlavor",
    "export_onnx",
    "flavor_for",
    "flavor_named",
]

#: flavors tried first by :func:`flavor_for`, in this order (native formats before skops)
AUTO_ORDER = ("lightgbm", "xgboost")
#: the generic flavor tried last, after any third-party flavor
_FALLBACK = "sklearn"
#: flavors :func:`flavor_for` never picks: ask for them by name
EXPLICIT_ONLY = frozenset({"onnx", "pickle"})


def flavor_named(name: str) -> Flavor:
    """The flavor registered as ``name``.

    Raises:
        NotFound: no such flavor (the message lists the known ones).
        InvalidInput: the flavor plugin failed to load.
    """
    return registry("flavor").get(name)


def _candidates(names: list[str]) -> list[str]:
    others = sorted(n for n in names if n not in AUTO_ORDER and n != _FALLBACK and n not in EXPLICIT_ONLY)
    ordered = [n for n in AUTO_ORDER if n in names] + others
    return ordered + ([_FALLBACK] if _FALLBACK in names else [])


def flavor_for(model: Any) -> Flavor:
    """The flavor that stores ``model`` safely, chosen automatically.

    Order: the native LightGBM and XGBoost formats, then third-party flavors (by name), then
    ``sklearn`` (skops) for anything else with ``get_params``. ``onnx`` and ``pickle`` (and any
    flavor with ``requires_opt_in``) are never chosen: ask for them with :func:`flavor_named`.
    A third-party flavor that fails to load is skipped.

    Raises:
        InvalidInput: no safe flavor can store the model.
    """
    reg = registry("flavor")
    for name in _candidates(reg.names()):
        try:
            flavor = reg.get(name)
        except InvalidInput:
            if name in AUTO_ORDER or name == _FALLBACK:
                raise
            continue
        if not getattr(flavor, "requires_opt_in", False) and flavor.can_save(model):
            return flavor
    raise InvalidInput(f"no model flavor can store a {type(model).__name__}", field="model")
