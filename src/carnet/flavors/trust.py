"""Which types a skops model file may rebuild: decided on where a class is defined.

A model file names types by text (``module.Class``). A library may re-export another
module's class under its own name (``sklearn.callback._transport.Connection`` *is*
``multiprocessing.connection.Connection``), so a name is never trusted for its prefix
alone: it is resolved, and the class found, with every class it derives from, must be
*defined* under :data:`TRUSTED_MODULE_PREFIXES` (the sklearn flavor's allow-list).

Some things are refused whoever trusts them (a caller's ``trusted=[...]`` cannot lift them):

- anything defined in :data:`DENIED_MODULE_ROOTS` or :data:`DENIED_MODULE_PREFIXES`
  (processes, sockets, files, foreign functions, imports; such a module is never imported
  on a file's say-so);
- the functions in :data:`DENIED_NAMES` (file I/O of NumPy, ``operator.methodcaller``) under
  any name that leads to them, and every built-in function (``eval``, ``exec``, ``open``...);
- a class the file instantiates that is not an estimator and has a finalizer
  (``__del__``) or its own ``__setstate__`` / ``__reduce__`` / ``__reduce_ex__``, except the
  few in :data:`NATIVE_STATE_CLASSES`, whose state is rebuilt from model bytes.

Only modules under a trusted prefix (or a name the caller trusts) are imported to resolve a
name, so reading a file's type table never runs another package's import-time code.
"""

from __future__ import annotations

import importlib
from typing import Any

from carnet.errors import PermissionDenied

__all__ = [
    "DENIED_MODULE_PREFIXES",
    "DENIED_MODULE_ROOTS",
    "DENIED_NAMES",
    "NATIVE_STATE_CLASSES",
    "TRUSTED_MODULE_PREFIXES",
    "check_estimator",
    "denied",
    "is_model",
    "names_a_class",
    "require_model",
    "resolve",
    "unsafe_instance",
]

#: where a class must be defined for a model file to rebuild it without the caller trusting it
TRUSTED_MODULE_PREFIXES = (
    "sklearn.",
    "numpy.",
    "scipy.",
    "lightgbm.",
    "xgboost.",
    "carnet.tasks.",
    "carnet.training.transformers.",
    "carnet.training.text.",
    "carnet.training.torch_models.",
    "carnet.training.torch_text.",
    "collections.OrderedDict",
    "collections.defaultdict",
)

#: top-level modules nothing in a model file may come from, whoever trusts it
DENIED_MODULE_ROOTS = frozenset(
    {
        *(
            "ctypes",
            "_ctypes",
            "cffi",
            "multiprocessing",
            "_multiprocessing",
            "subprocess",
            "_posixsubprocess",
        ),
        *("os", "posix", "nt", "pty", "fcntl", "mmap", "resource", "signal", "shutil", "tempfile", "pathlib"),
        *("io", "_io", "socket", "_socket", "ssl", "select", "selectors", "asyncio", "concurrent"),
        *("threading", "_thread", "importlib", "runpy", "code", "codeop", "pickle", "_pickle", "marshal"),
        *("shelve", "dbm", "webbrowser", "http", "urllib", "smtplib", "ftplib", "sqlite3", "zipimport"),
        *("weakref", "_weakref", "gc", "sys", "atexit", "inspect", "types"),
    }
)

#: modules of the trusted libraries that read or write files, reach the network or run processes
DENIED_MODULE_PREFIXES = (
    "numpy.lib.npyio",
    "numpy.lib._npyio_impl",
    "numpy.lib.format",
    "numpy.lib._datasource",
    "numpy.ctypeslib",
    "numpy.distutils",
    "numpy.f2py",
    "numpy.testing",
    "scipy.io",
    "scipy._lib._testutils",
    "sklearn.datasets",
    "sklearn.utils._testing",
    "lightgbm.dask",
    "xgboost.dask",
    "xgboost.spark",
    "xgboost.tracker",
    "xgboost.federated",
    "xgboost.collective",
    "xgboost.testing",
)

#: functions refused under any name that leads to them (their ``__module__`` is a trusted one)
DENIED_NAMES = (
    *("numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt", "numpy.load"),
    *("numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.fromregex", "numpy.memmap"),
    "operator.methodcaller",
)

#: non-estimator classes with their own state hooks or finalizer whose state is the model itself
#: (their ``__setstate__`` rebuilds the native handle from model bytes)
NATIVE_STATE_CLASSES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        # the trees of hist_gradient_boosting: __setstate__ only re-types the node array
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # the search trees of nearest-neighbour models: their state is the tree's arrays
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "lightgbm.basic.Booster",
        "xgboost.core.Booster",
    }
)

#: modules whose every class is plain state behind native code (the distance metrics of neighbours)
NATIVE_STATE_MODULES = ("sklearn.metrics._dist_metrics",)

#: modules whose classes may be bases of a trusted class (plain data and abstract bases)
_PLAIN_BASE_MODULES = frozenset({"builtins", "abc", "typing", "numbers", "_collections_abc"})
_STATE_HOOKS = ("__del__", "__setstate__", "__reduce__", "__reduce_ex__")
_MODEL_METHODS = ("predict", "predict_proba", "transform", "fit_predict")
_denied_ids: frozenset[int] | None = None


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', None) or ''}.{getattr(obj, '__qualname__', '')}"


def _module_denied(module: str) -> bool:
    return module.split(".", 1)[0] in DENIED_MODULE_ROOTS or any(
        module == p or module.startswith(p + ".") for p in DENIED_MODULE_PREFIXES
    )


def _trusted_module(name: str, trusted: tuple[str, ...] = ()) -> bool:
    return name.startswith(TRUSTED_MODULE_PREFIXES) or name in trusted


def resolve(name: str, trusted: tuple[str, ...] = ()) -> Any:
    """The object ``name`` (``pkg.module.Class``) leads to; None when it leads to none.

    Only a name under :data:`TRUSTED_MODULE_PREFIXES`, in ``trusted`` or of :mod:`builtins` is
    resolved (its module imported); a denied module is never imported.
    """
    parts = name.split(".")
    if any(p.startswith("__") or not p.isidentifier() for p in parts) or len(parts) < 2:
        return None  # e.g. ``pkg.__main__``: importing it would run a program
    if _module_denied(".".join(parts[:-1])) or not (parts[0] == "builtins" or _trusted_module(name, trusted)):
        return None
    for cut in range(len(parts) - 1, 0, -1):
        if _module_denied(".".join(parts[:cut])):
            return None
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


def _denied_objects() -> frozenset[int]:
    global _denied_ids
    if _denied_ids is None:
        found = (resolve(n, (n,)) for n in DENIED_NAMES)
        _denied_ids = frozenset(id(obj) for obj in found if obj is not None)
    return _denied_ids


def denied(name: str, obj: Any = None) -> bool:
    """Whether ``name``, or the object it leads to, is refused whoever trusts it."""
    if _module_denied(name.rpartition(".")[0] or name):
        return True
    module, _, attr = name.rpartition(".")
    if module == "builtins":
        import builtins

        found = getattr(builtins, attr, None)
        if callable(found) and not isinstance(found, type):
            return True  # eval, exec, open, getattr, __import__...: never a model's part
    if obj is None:
        return False
    if id(obj) in _denied_objects():
        return True
    if isinstance(obj, type):
        return any(_module_denied(str(base.__module__)) for base in obj.__mro__)
    where = str(getattr(obj, "__module__", None) or "")
    if where == "builtins":
        return callable(obj)
    return _module_denied(where) or _module_denied(str(type(obj).__module__))


def unsafe_instance(cls: type) -> bool:
    """A non-estimator class with a finalizer or its own state hooks (pickle-style side effects)."""
    if hasattr(cls, "get_params") or _where(cls) in NATIVE_STATE_CLASSES:
        return False
    if getattr(cls, "__module__", None) in NATIVE_STATE_MODULES:
        return False
    return any(
        hook in vars(base) for base in cls.__mro__ if base.__module__ != "builtins" for hook in _STATE_HOOKS
    )


def defined_under_trusted(cls: type) -> bool:
    """The class is defined under a trusted prefix, and so is every base but plain ones.

    Plain bases are built-in types and the abstract and typing bases of the standard library.
    """
    return all(
        _where(base).startswith(TRUSTED_MODULE_PREFIXES)
        for base in cls.__mro__
        if base is cls or base.__module__ not in _PLAIN_BASE_MODULES
    )


def names_a_class(name: str) -> bool:
    """True when ``name`` leads to a class *defined* (not only re-exported) under a trusted prefix."""
    obj = resolve(name)
    return isinstance(obj, type) and not denied(name, obj) and defined_under_trusted(obj)


def is_model(model: Any) -> bool:
    """Whether ``model`` has a callable ``predict``, ``predict_proba``, ``transform`` or ``fit_predict``."""
    return any(callable(getattr(model, m, None)) for m in _MODEL_METHODS)


def check_estimator(model: Any, trusted: tuple[str, ...] = ()) -> Any:
    """``model`` when it is a scikit-learn-style model of a trusted class; PermissionDenied otherwise.

    A model has ``get_params`` and one of ``predict``, ``predict_proba``, ``transform``,
    ``fit_predict``; its class is defined under :data:`TRUSTED_MODULE_PREFIXES` (or named in
    ``trusted``), never in a denied module.
    """
    cls = type(model)
    where = _where(cls)
    ok = hasattr(model, "get_params") and is_model(model)
    if not ok or denied(where, cls) or not (defined_under_trusted(cls) or where in trusted):
        raise PermissionDenied(
            f"the model file holds a {where}, not a scikit-learn model of a trusted library; "
            "it is refused (store models with carnet's sklearn flavor)",
            field="model",
        )
    return model


def require_model(model: Any, flavor: str) -> Any:
    """``model`` when it can predict or transform; PermissionDenied naming the flavor otherwise.

    Every flavor's loaded object passes this check (third-party flavors included), so nothing
    that is not a model reaches a caller or ``carnet serve``.
    """
    if not is_model(model):
        cls = type(model)
        raise PermissionDenied(
            f"the {flavor} model file holds a {_where(cls)}, not a model (no predict, predict_proba, "
            "transform or fit_predict); it is refused",
            field="model",
        )
    return model
