"""scikit-learn-compatible models (pipelines, LightGBM, XGBoost, statsmodels wrappers) stored with skops.

skops stores object state without pickle; loading refuses any type that is not on
the allowlist below (modules of the ML libraries carnet builds models from) or
explicitly trusted by the caller, so a tampered or foreign file cannot run code.
"""

from __future__ import annotations

from typing import Any

from carnet.errors import InvalidInput, PermissionDenied

__all__ = ["TRUSTED_MODULE_PREFIXES", "SklearnFlavor"]

#: modules whose types a model file may contain without the caller trusting them explicitly
TRUSTED_MODULE_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.",
    "lightgbm.",
    "xgboost.",
    "statsmodels.",
    "carnet.tasks.",
    "carnet.training.",
    "collections.OrderedDict",
    "collections.defaultdict",
    "builtins.",
)


class SklearnFlavor:
    """Any estimator following the scikit-learn API, serialised with skops."""

    name = "sklearn"
    file_name = "model.skops"

    def can_save(self, model: Any) -> bool:
        """Estimators expose ``get_params``; pipelines and wrapped boosters included."""
        return hasattr(model, "get_params")

    def dumps(self, model: Any) -> bytes:
        """skops bytes of a fitted model."""
        import skops.io as sio

        try:
            return bytes(sio.dumps(model))
        except (TypeError, NotImplementedError) as exc:
            raise InvalidInput(
                f"cannot store model of type {type(model).__name__} with skops: {exc}", field="model"
            ) from exc

    def untrusted(self, data: bytes, trusted: tuple[str, ...] = ()) -> list[str]:
        """Types in ``data`` outside the allowlist and ``trusted``."""
        import skops.io as sio

        found = sio.get_untrusted_types(data=data)
        return [t for t in found if not t.startswith(TRUSTED_MODULE_PREFIXES) and t not in trusted]

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = ()) -> Any:
        """Rebuild the model; PermissionDenied naming the types when any is not trusted."""
        import skops.io as sio

        refused = self.untrusted(data, trusted)
        if refused:
            raise PermissionDenied(
                "model file contains types that are not trusted: "
                + ", ".join(refused[:5])
                + "; pass trusted=[...] naming them if you trust this model's source"
            )
        return sio.loads(data, trusted=sio.get_untrusted_types(data=data))
