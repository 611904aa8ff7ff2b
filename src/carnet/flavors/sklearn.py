"""scikit-learn-compatible models (pipelines, LightGBM and XGBoost estimators) stored with skops.

skops stores object state without pickle. Loading refuses any type skops does not trust by
default unless the caller trusts it explicitly, or it is a *class* that the file only rebuilds
from its state (``__new__`` + ``__setstate__``, never a call with arguments taken from the file)
and that is *defined* in one of the libraries of :data:`~carnet.flavors.trust.TRUSTED_MODULE_PREFIXES`
(a re-export of another module's class is judged by the module that defines it). Denied modules,
built-in functions and non-estimator classes with finalizers or state hooks are refused even
when trusted explicitly (see :mod:`carnet.flavors.trust`). The object rebuilt must then be an
estimator (``get_params`` and ``predict``, ``transform`` or ``fit_predict``) of a trusted class.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from carnet.errors import CarnetError, InvalidInput, PermissionDenied
from carnet.flavors.base import wrap_load_error
from carnet.flavors.trust import (
    DENIED_MODULE_ROOTS,
    TRUSTED_MODULE_PREFIXES,
    check_estimator,
    denied,
    names_a_class,
    resolve,
    unsafe_instance,
)

__all__ = ["DENIED_MODULE_ROOTS", "TRUSTED_MODULE_PREFIXES", "SklearnFlavor", "check_estimator"]

#: skops loaders that rebuild an object without calling the named type with file-supplied arguments
_STATE_LOADERS = frozenset({"ObjectNode", "TypeNode", "DTypeNode", "TreeNode", "SparseMatrixNode"})
#: skops loaders that hand back a type without making an instance of it
_TYPE_LOADERS = frozenset({"TypeNode", "DTypeNode"})


def _schema(data: bytes) -> Any:
    """The parsed ``schema.json`` of a skops file (plain JSON: reading it runs nothing)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput(f"a skops model file must be bytes, got {type(data).__name__}", field="data")
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
            return json.loads(zf.read("schema.json"))
    except Exception as exc:  # noqa: BLE001 - any decoding failure means: not a skops file
        raise InvalidInput(f"not a skops model file ({type(exc).__name__}: {exc})", field="data") from exc


def _loaders(node: Any, out: dict[str, set[str]]) -> dict[str, set[str]]:
    """``module.Class`` -> the skops loaders the file uses for it."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module, cls = item.get("__module__"), item.get("__class__")
            if isinstance(module, str) and isinstance(cls, str):
                out.setdefault(f"{module}.{cls}", set()).add(str(item.get("__loader__")))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def _always_refused(name: str, loaders: set[str], obj: Any) -> bool:
    """Refused whoever trusts it: a denied name or object, or an unsafe class the file instantiates."""
    if denied(name, obj):
        return True
    return isinstance(obj, type) and bool(loaders - _TYPE_LOADERS) and unsafe_instance(obj)


def _refused(name: str, loaders: set[str], trusted: tuple[str, ...]) -> bool:
    """Whether a type skops does not trust by default is refused (see the module's rules)."""
    if _always_refused(name, loaders, resolve(name, trusted)):
        return True
    if name in trusted:
        return False
    return not (bool(loaders) and loaders <= _STATE_LOADERS and names_a_class(name))


class SklearnFlavor:
    """Any estimator following the scikit-learn API, serialised with skops."""

    name = "sklearn"
    file_name = "model.skops"
    requires_opt_in = False

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
        """Types in ``data`` that are neither trusted by skops, by the rules above, nor in ``trusted``.

        Raises:
            InvalidInput: ``data`` is not a skops file.
        """
        import skops.io as sio

        loaders = _loaders(_schema(data), {})
        try:
            found = sio.get_untrusted_types(data=bytes(data))
        except Exception as exc:  # noqa: BLE001 - a library failure on foreign bytes is reported as ours
            raise wrap_load_error(exc, "the skops model file") from exc
        refused = [t for t in found if _refused(t, loaders.get(t, set()), tuple(trusted))]
        # a name skops trusts by default is checked on where it leads too
        refused += [t for t in loaders if t not in found and denied(t, resolve(t))]
        return refused

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        """Rebuild the model; PermissionDenied naming the types when any is not trusted.

        ``allow_pickle`` is accepted for a uniform call and ignored: skops never unpickles.
        """
        import skops.io as sio

        refused = self.untrusted(data, tuple(trusted))
        if refused:
            loaders = _loaders(_schema(data), {})
            never = [t for t in refused if _always_refused(t, loaders.get(t, set()), resolve(t, trusted))]
            fix = (
                f"; {', '.join(never[:5])} can never be loaded (a process, file, socket or code "
                "type, or a non-model with a finalizer)"
                if never
                else "; pass trusted=[...] naming them if you trust this model's source"
            )
            raise PermissionDenied(
                "model file contains types that are not trusted: " + ", ".join(refused[:5]) + fix
            )
        try:
            model = sio.loads(bytes(data), trusted=sio.get_untrusted_types(data=bytes(data)))
        except CarnetError:
            raise
        except Exception as exc:  # noqa: BLE001 - library failures become one carnet error
            raise wrap_load_error(exc, "the scikit-learn model") from exc
        return check_estimator(model, tuple(trusted))
