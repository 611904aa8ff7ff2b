"""scikit-learn-compatible models (pipelines, LightGBM, XGBoost, statsmodels wrappers) stored with skops.

skops stores object state without pickle. Loading refuses any type skops does not
trust by default unless it is trusted explicitly by the caller, or it is a *class* from
one of the ML libraries carnet builds models from (the prefixes below) that the file
only rebuilds from its state (``__new__`` + ``__setstate__``, never a call with
arguments taken from the file). So a tampered or foreign file cannot run code: naming
``builtins.exec`` or ``numpy.save`` as a constructor is refused.

Trust is decided on where a class is **defined**, not on the name the file gives it: a library
may re-export a class of another module (``sklearn.callback._transport.Connection`` is
``multiprocessing.connection.Connection``), so the name is resolved and the class and every
class it derives from must be defined under :data:`TRUSTED_MODULE_PREFIXES`. Classes defined in
:data:`DENIED_MODULE_ROOTS` (processes, sockets, files, foreign functions) are refused always,
even when a caller names them in ``trusted``. The object loaded must then be a model: an
estimator with ``get_params`` and ``predict``, ``transform`` or ``fit_predict``.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from typing import Any

from carnet.errors import CarnetError, InvalidInput, PermissionDenied
from carnet.flavors.base import wrap_load_error

__all__ = ["DENIED_MODULE_ROOTS", "TRUSTED_MODULE_PREFIXES", "SklearnFlavor", "check_estimator"]

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

#: top-level modules whose classes a model file may never contain, whoever trusts them
DENIED_MODULE_ROOTS = frozenset(
    {
        "ctypes",
        "multiprocessing",
        "subprocess",
        "os",
        "posix",
        "nt",
        "socket",
        "ssl",
        "select",
        "selectors",
        "signal",
        "shutil",
        "tempfile",
        "io",
        "_io",
        "pty",
        "fcntl",
        "mmap",
        "threading",
        "_thread",
        "asyncio",
        "concurrent",
        "importlib",
        "runpy",
        "code",
        "pickle",
        "_pickle",
        "marshal",
        "shelve",
        "webbrowser",
        "http",
        "urllib",
        "smtplib",
        "ftplib",
        "sqlite3",
        "weakref",
        "gc",
        "sys",
    }
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


def _resolve(name: str) -> Any:
    """The object ``name`` (``pkg.module.Class``) names, importing its module; None when it names none."""
    parts = name.split(".")
    if any(p.startswith("__") or not p.isidentifier() for p in parts):
        return None  # e.g. ``pkg.__main__``: importing it would run a program
    if parts[0] in DENIED_MODULE_ROOTS:
        return None  # never imported on a file's say-so
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # noqa: BLE001 - not a module (or a broken one): try a shorter path
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _root(module: Any) -> str:
    return str(module or "").split(".", 1)[0]


def _denied(name: str, obj: Any = None) -> bool:
    """Whether ``name`` or the class it resolves to (or any base of it) comes from a denied module."""
    if _root(name) in DENIED_MODULE_ROOTS:
        return True
    if isinstance(obj, type):
        return any(_root(base.__module__) in DENIED_MODULE_ROOTS for base in obj.__mro__)
    return obj is not None and _root(getattr(obj, "__module__", "")) in DENIED_MODULE_ROOTS


def _defined_under_trusted(cls: type) -> bool:
    """The class is defined under a trusted prefix, and so is every base but built-in types."""
    for base in cls.__mro__:
        if base is not cls and base.__module__ == "builtins":
            continue  # dict, tuple, object, ...: plain data without side effects
        where = f"{base.__module__}.{base.__qualname__}"
        if not where.startswith(TRUSTED_MODULE_PREFIXES):
            return False
    return True


def _names_a_class(name: str) -> bool:
    """True when ``name`` resolves to a class defined (not only re-exported) under a trusted prefix."""
    obj = _resolve(name)
    return isinstance(obj, type) and not _denied(name, obj) and _defined_under_trusted(obj)


def _auto_trusted(name: str, loaders: set[str]) -> bool:
    return (
        name.startswith(TRUSTED_MODULE_PREFIXES)
        and bool(loaders)
        and loaders <= _STATE_LOADERS
        and _names_a_class(name)
    )


def check_estimator(model: Any, trusted: tuple[str, ...] = ()) -> Any:
    """``model`` when it is a scikit-learn-style model of a trusted class; PermissionDenied otherwise.

    A model has ``get_params`` and one of ``predict``, ``transform``, ``fit_predict``, and its class
    is defined under :data:`TRUSTED_MODULE_PREFIXES` (or named in ``trusted``), never in a denied module.
    """
    cls = type(model)
    where = f"{cls.__module__}.{cls.__qualname__}"
    is_model = hasattr(model, "get_params") and any(
        callable(getattr(model, m, None)) for m in ("predict", "transform", "fit_predict")
    )
    if not is_model or _denied(where, cls) or not (_defined_under_trusted(cls) or where in trusted):
        raise PermissionDenied(
            f"the model file holds a {where}, not a scikit-learn model of a trusted library; "
            "it is refused (store models with carnet's sklearn flavor)",
            field="model",
        )
    return model


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
        refused = []
        for t in found:
            if _auto_trusted(t, loaders.get(t, set())):
                continue
            if t in trusted and not _denied(t, _resolve(t)):
                continue
            refused.append(t)
        # a name skops trusts by default is checked on where it leads too
        refused += [t for t in loaders if t not in found and _denied(t, _resolve(t))]
        return refused

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
            model = sio.loads(bytes(data), trusted=sio.get_untrusted_types(data=bytes(data)))
        except CarnetError:
            raise
        except Exception as exc:  # noqa: BLE001 - library failures become one carnet error
            raise wrap_load_error(exc, "the scikit-learn model") from exc
        return check_estimator(model, tuple(trusted))
