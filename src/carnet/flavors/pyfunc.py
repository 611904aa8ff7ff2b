"""Any Python object with ``predict``, stored with pickle: only with an explicit opt-in.

Unpickling runs code named by the file, so :class:`PickleFlavor` is never chosen
automatically (``requires_opt_in = True``) and refuses to load, before reading a single
byte, unless the caller passes ``allow_pickle=True``. The registry records that opt-in in
the audit log. The object's class must be importable where the model is loaded.
"""

from __future__ import annotations

import pickle
from typing import Any

from carnet.errors import InvalidInput, PermissionDenied

__all__ = ["PICKLE_PROTOCOL", "PickleFlavor"]

PICKLE_PROTOCOL = 5

_REFUSAL = (
    "this model is stored with pickle, and loading it runs code from the file: pass allow_pickle=True "
    "if you trust its source (the opt-in is recorded in the audit log)"
)


class PickleFlavor:
    """Generic Python models (anything with ``predict``) as a pickle, behind the ``allow_pickle`` opt-in."""

    name = "pickle"
    file_name = "model.pkl"
    requires_opt_in = True

    def can_save(self, model: Any) -> bool:
        """True for any object with a callable ``predict``."""
        return callable(getattr(model, "predict", None))

    def dumps(self, model: Any) -> bytes:
        """Pickle bytes (protocol 5) of the model.

        Raises:
            InvalidInput: no ``predict``, or the object cannot be pickled (lambdas, open files...).
        """
        if not self.can_save(model):
            raise InvalidInput(f"{type(model).__name__} has no predict method", field="model")
        try:
            return pickle.dumps(model, protocol=PICKLE_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                f"cannot pickle {type(model).__name__}: {exc}; define its class in an importable module",
                field="model",
            ) from exc

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        """Unpickle the model, only when ``allow_pickle`` is True (``trusted`` is ignored).

        Raises:
            PermissionDenied: ``allow_pickle`` is False (nothing is read).
            InvalidInput: the bytes are not a pickle, or unpickling failed.
        """
        if allow_pickle is not True:
            raise PermissionDenied(_REFUSAL)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"a pickle model file must be bytes, got {type(data).__name__}", field="data")
        try:
            model = pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - opted in: any failure is reported as a bad model file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise InvalidInput(
                f"cannot unpickle the model: {type(exc).__name__}: {first}", field="data"
            ) from exc
        if not any(callable(getattr(model, m, None)) for m in ("predict", "transform", "fit_predict")):
            raise InvalidInput(
                f"the pickle holds a {type(model).__module__}.{type(model).__qualname__}, not a model "
                "(no predict, transform or fit_predict)",
                field="data",
            )
        return model
