"""scikit-learn-compatible models (pipelines, LightGBM, XGBoost, statsmodels wrappers) stored with skops.

skops stores object state without pickle. Loading refuses any type skops does not
trust by default unless it is trusted explicitly by the caller, or it is a *class* from
one of the ML libraries carnet builds models from (the prefixes below) that the file
only rebuilds from its state (``__new__`` + ``__setstate__``, never a call with
arguments taken from the file). So a tampered or foreign file cannot run code: naming
``builtins.exec`` or ``numpy.save`` as a constructor is refused.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from typing import Any

from carnet.errors import CarnetError, InvalidInput, PermissionDenied
from carnet.flavors.base import wrap_load_error

__all__ = ["TRUSTED_MODULE_PREFIXES", "SklearnFlavor"]

#: modules whose classes a model file may contain without the caller trusting them explicitly
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
)

#: skops loaders that rebuild an object without calling the named type with file-supplied arguments
_STATE_LOADERS = frozenset({"ObjectNode", "TypeNode", "DTypeNode", "TreeNode", "SparseMatrixNode"})


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


def _names_a_class(name: str) -> bool:
    """True when ``name`` (``pkg.module.Class``, under a trusted prefix) resolves to a class."""
    parts = name.split(".")
    if any(p.startswith("__") or not p.isidentifier() for p in parts):
        return False  # e.g. ``pkg.__main__``: importing it would run a program
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # noqa: BLE001 - not a module (or a broken one): try a shorter path
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return isinstance(obj, type)
    return False


def _auto_trusted(name: str, loaders: set[str]) -> bool:
    return (
        name.startswith(TRUSTED_MODULE_PREFIXES)
        and bool(loaders)
        and loaders <= _STATE_LOADERS
        and _names_a_class(name)
    )


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
        return [t for t in found if t not in trusted and not _auto_trusted(t, loaders.get(t, set()))]

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        """Rebuild the model; PermissionDenied naming the types when any is not trusted.

        ``allow_pickle`` is accepted for a uniform call and ignored: skops never unpickles.
        """
        import skops.io as sio

        refused = self.untrusted(data, tuple(trusted))
        if refused:
            raise PermissionDenied(
                "model file contains types that are not trusted: "
                + ", ".join(refused[:5])
                + "; pass trusted=[...] naming them if you trust this model's source"
            )
        try:
            return sio.loads(bytes(data), trusted=sio.get_untrusted_types(data=bytes(data)))
        except CarnetError:
            raise
        except Exception as exc:  # noqa: BLE001 - library failures become one carnet error
            raise wrap_load_error(exc, "the scikit-learn model") from exc
