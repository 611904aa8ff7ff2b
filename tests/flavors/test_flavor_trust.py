"""Trust follows where a class is defined; some types are refused whoever trusts them; what loads
must be a model."""

from __future__ import annotations

import io
import json
import multiprocessing.connection
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sklearn.utils
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from carnet.errors import InvalidInput, PermissionDenied
from carnet.flavors import LightGBMFlavor, OnnxFlavor, PickleFlavor, SklearnFlavor, XGBoostFlavor
from carnet.flavors.trust import (
    check_estimator,
    denied,
    is_model,
    names_a_class,
    require_model,
    resolve,
    unsafe_instance,
)
from carnet.inference.predictor import compile_predictor


def _schema(data: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return dict(json.loads(zf.read("schema.json")))


def _zip(schema: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
    return out.getvalue()


def _json(v: Any) -> dict[str, Any]:
    return {"__class__": type(v).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(v), "is_json": True, "__id__": id(v)}  # fmt: skip


def renamed(name: str, state: dict[str, Any] | None = None) -> bytes:
    """A skops file (a dumped StandardScaler) whose object is rebuilt as class ``name`` from ``state``."""
    schema = _schema(sio.dumps(StandardScaler()))
    schema["__module__"], schema["__class__"] = name.rsplit(".", 1)
    if state is not None:
        schema["content"]["content"] = {k: _json(v) for k, v in state.items()}
    return _zip(schema)


def with_function(name: str) -> bytes:
    """A FunctionTransformer whose ``func`` is the function ``name``."""
    schema = _schema(sio.dumps(FunctionTransformer(func=np.cumsum)))
    func = schema["content"]["content"]["func"]
    func["__module__"], func["__class__"] = name.rsplit(".", 1)
    return _zip(schema)


@pytest.fixture
def victim_fd() -> Iterator[int]:
    """An open descriptor that must still be open when the test ends."""
    r, w = os.pipe()
    try:
        yield r
        os.fstat(r)  # raises if anything rebuilt from a file closed it
    finally:
        os.close(r)
        os.close(w)


@pytest.fixture
def reexport(monkeypatch: pytest.MonkeyPatch) -> str:
    """multiprocessing's Connection re-exported under a scikit-learn name (as sklearn.callback does)."""
    monkeypatch.setattr(sklearn.utils, "Connection", multiprocessing.connection.Connection, raising=False)
    return "sklearn.utils.Connection"


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """An importable module whose import writes a marker file."""
    name = f"carnet_trust_planted_{os.getpid()}"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nclass Foo:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


# -- where a class is defined ------------------------------------------------------------------


def test_a_reexported_class_is_judged_by_its_defining_module(reexport: str, victim_fd: int) -> None:
    assert names_a_class("sklearn.linear_model.LogisticRegression")
    assert resolve(reexport) is multiprocessing.connection.Connection
    assert not names_a_class(reexport)
    assert denied(reexport, resolve(reexport))
    data = renamed(reexport, {"_handle": victim_fd, "_readable": True, "_writable": True})
    flavor = SklearnFlavor()
    assert flavor.untrusted(data) == [reexport]
    for trusted in ((), (reexport,), ("multiprocessing.connection.Connection",)):
        with pytest.raises(PermissionDenied, match="can never be loaded"):
            flavor.loads(data, trusted=trusted)


def test_a_class_whose_base_is_defined_elsewhere_is_not_trusted() -> None:
    # scikit-learn's Parallel derives from joblib's: defined under sklearn, but not all of it
    assert not names_a_class("sklearn.utils.parallel.Parallel")
    assert names_a_class("sklearn.preprocessing.StandardScaler")


def test_an_untrusted_module_is_never_imported_to_judge_a_name(planted: tuple[str, Path]) -> None:
    module, marker = planted
    for name in (f"{module}.Foo", "this.Foo"):
        data = renamed(name)
        assert SklearnFlavor().untrusted(data) == [name]
        with pytest.raises(PermissionDenied, match="pass trusted"):
            SklearnFlavor().loads(data)
    assert resolve(f"{module}.Foo") is None
    assert not marker.exists() and module not in sys.modules
    assert "this" not in sys.modules


# -- refused whoever trusts them ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "builtins.eval",
        "builtins.exec",
        "builtins.open",
        "builtins.getattr",
        "builtins.__import__",
        "os.system",
        "subprocess.Popen",
        "socket.socket",
        "ctypes.CDLL",
        "numpy.save",
        "numpy.load",
        "numpy.lib._npyio_impl.save",  # the same function under another name
        "operator.methodcaller",
    ],
)
def test_dangerous_callables_are_refused_even_when_trusted(name: str) -> None:
    data = with_function(name)
    assert name in SklearnFlavor().untrusted(data, trusted=(name,))
    with pytest.raises(PermissionDenied, match="can never be loaded"):
        SklearnFlavor().loads(data, trusted=(name,))


def test_a_harmless_function_may_be_trusted_explicitly() -> None:
    data = with_function("numpy.cumsum")
    with pytest.raises(PermissionDenied, match="pass trusted"):
        SklearnFlavor().loads(data)
    model = SklearnFlavor().loads(data, trusted=("numpy.cumsum",))
    assert isinstance(model, FunctionTransformer)
    assert not denied("builtins.dict", dict) and not denied("numpy.cumsum", np.cumsum)


def test_non_estimators_with_finalizers_or_state_hooks_are_refused_even_when_trusted() -> None:
    from scipy.spatial import Delaunay

    assert unsafe_instance(Delaunay)  # __del__ frees a native handle
    assert not unsafe_instance(LogisticRegression)
    name = "scipy.spatial._qhull.Delaunay"
    data = renamed(name)
    for trusted in ((), (name,)):
        assert SklearnFlavor().untrusted(data, trusted=trusted) == [name]


def test_native_boosters_stay_loadable() -> None:
    lightgbm = pytest.importorskip("lightgbm")
    from lightgbm.basic import Booster

    assert not unsafe_instance(Booster)  # its state is the model text, rebuilt by __setstate__
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(StandardScaler(), lightgbm.LGBMClassifier(n_estimators=5, verbose=-1)).fit(X, y)
    back = SklearnFlavor().loads(SklearnFlavor().dumps(pipe))
    assert np.array_equal(back.predict(X), pipe.predict(X))


# -- what loads must be a model ----------------------------------------------------------------


def test_a_file_of_plain_data_is_not_a_model() -> None:
    data = sio.dumps({"weights": [1, 2, 3]})  # every type trusted by skops
    assert SklearnFlavor().untrusted(data) == []
    with pytest.raises(PermissionDenied, match="not a scikit-learn model"):
        SklearnFlavor().loads(data)


def test_the_post_load_checks() -> None:
    model = LogisticRegression()
    assert check_estimator(model) is model and require_model(model, "sklearn") is model
    assert is_model(model) and not is_model({"a": 1}) and not is_model(io.BytesIO())
    with pytest.raises(PermissionDenied, match="not a model"):
        require_model({"a": 1}, "thirdparty")
    with pytest.raises(PermissionDenied):
        check_estimator(io.BytesIO())


def test_every_builtin_flavor_gives_back_a_model() -> None:
    X = np.random.default_rng(1).normal(size=(80, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    models: list[tuple[Any, Any]] = [(SklearnFlavor(), LogisticRegression().fit(X, y))]
    boosters = (("lightgbm", "LGBMClassifier", LightGBMFlavor), ("xgboost", "XGBClassifier", XGBoostFlavor))
    for module, cls, flavor in boosters:
        lib = pytest.importorskip(module)
        models.append((flavor(), getattr(lib, cls)(n_estimators=5).fit(X, y)))
    for flavor, model in models:
        assert is_model(flavor.loads(flavor.dumps(model))), flavor.name
    pytest.importorskip("skl2onnx")
    onnx = OnnxFlavor()
    assert is_model(onnx.loads(onnx.dumps(LogisticRegression().fit(X, y))))


def test_an_opted_in_pickle_must_hold_a_model() -> None:
    import pickle

    with pytest.raises(InvalidInput, match="not a model"):
        PickleFlavor().loads(pickle.dumps({"a": 1}), allow_pickle=True)


def test_serving_refuses_an_object_without_predict() -> None:
    with pytest.raises(InvalidInput, match="cannot be served"):
        compile_predictor({"a": 1}, "classification", None, ["x"], None)
