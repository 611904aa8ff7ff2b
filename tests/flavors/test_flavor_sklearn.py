"""The skops flavor: carnet pipelines round-trip; crafted files cannot run code."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from flavor_models import Shift, TouchPayload
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from carnet.errors import InvalidInput, PermissionDenied
from carnet.flavors import SklearnFlavor, flavor_for
from carnet.training.transformers import CategoryStrings


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 240
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "n": rng.integers(0, 5, n),
            "city": rng.choice(["paris", "lyon", "nantes"], n),
            "y": rng.choice(["stay", "churn"], n),
        }
    )


def carnet_like_pipeline(frame: pd.DataFrame, model: Any) -> Pipeline:
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["x", "n"]),
            ("cat", make_pipeline(CategoryStrings(), OneHotEncoder(handle_unknown="ignore")), ["city"]),
        ]
    )
    return Pipeline([("preprocess", pre), ("model", model)]).fit(frame[["x", "n", "city"]], frame["y"])


def skops_file(root: dict[str, Any]) -> bytes:
    """A skops file whose schema is ``root`` (what an attacker can write by hand)."""
    with zipfile.ZipFile(io.BytesIO(sio.dumps([]))) as zf:
        header = json.loads(zf.read("schema.json"))
    schema = {**root, "protocol": header["protocol"], "_skops_version": header["_skops_version"]}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
    return buf.getvalue()


def call_node(module: str, name: str, *args: str) -> dict[str, Any]:
    """A node that makes skops call ``module.name(*args)`` while loading."""
    items = [
        {
            "__class__": "str",
            "__module__": "builtins",
            "__loader__": "JsonNode",
            "content": json.dumps(a),
            "is_json": True,
            "__id__": i,
        }
        for i, a in enumerate(args, start=10)
    ]
    content = {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": items,
        "__id__": 2,
    }
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": content,
        "__id__": 1,
    }


def test_a_carnet_pipeline_round_trips_without_extra_trust(frame: pd.DataFrame) -> None:
    fitted = carnet_like_pipeline(frame, LogisticRegression())
    flavor = flavor_for(fitted)
    assert isinstance(flavor, SklearnFlavor)
    loaded = flavor.loads(flavor.dumps(fitted))
    X = frame[["x", "n", "city"]]
    assert np.array_equal(loaded.predict(X), fitted.predict(X))
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_a_pipeline_around_lightgbm_stays_with_skops(frame: pd.DataFrame) -> None:
    import lightgbm

    fitted = carnet_like_pipeline(frame, lightgbm.LGBMClassifier(n_estimators=10, verbose=-1))
    flavor = flavor_for(fitted)
    assert flavor.name == "sklearn"
    loaded = flavor.loads(flavor.dumps(fitted))
    X = frame[["x", "n", "city"]]
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_a_foreign_class_needs_explicit_trust(frame: pd.DataFrame) -> None:
    fitted = make_pipeline(Shift(2.0), LogisticRegression()).fit(frame[["x", "n"]], frame["y"])
    flavor = SklearnFlavor()
    data = flavor.dumps(fitted)
    with pytest.raises(PermissionDenied, match=r"flavor_models\.Shift"):
        flavor.loads(data)
    loaded = flavor.loads(data, trusted=("flavor_models.Shift",), allow_pickle=False)
    assert np.array_equal(loaded.predict(frame[["x", "n"]]), fitted.predict(frame[["x", "n"]]))


@pytest.mark.parametrize(
    ("module", "name", "args"),
    [
        ("builtins", "exec", ("open({marker!r}, 'w').write('pwned')",)),
        ("numpy", "save", ("{marker}", "pwned")),  # a function under a trusted prefix
        ("numpy", "memmap", ("{marker}", "uint8", "w+")),  # a class, but called with file arguments
    ],
)
def test_a_crafted_constructor_call_is_refused_and_never_runs(
    tmp_path: Path, module: str, name: str, args: tuple[str, ...]
) -> None:
    marker = tmp_path / "marker"
    data = skops_file(call_node(module, name, *(a.format(marker=str(marker)) for a in args)))
    with pytest.raises(PermissionDenied, match=f"{module}.{name}"):
        SklearnFlavor().loads(data)
    assert list(tmp_path.iterdir()) == []


def test_pickle_bytes_and_garbage_are_invalid_input(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    flavor = SklearnFlavor()
    for data in (pickle.dumps(TouchPayload(marker)), b"", b"garbage", skops_file({"oops": 1})[:-7]):
        with pytest.raises(InvalidInput) as err:
            flavor.loads(data)
        assert err.value.field == "data"
    assert not marker.exists()


def test_an_object_without_get_params_is_not_for_skops() -> None:
    assert not SklearnFlavor().can_save(object())
    with pytest.raises(InvalidInput, match="skops"):
        SklearnFlavor().dumps(x for x in [])


def test_prefix_trust_covers_classes_only() -> None:
    def type_node(module: str, name: str) -> dict[str, Any]:
        return {"__class__": name, "__module__": module, "__loader__": "TypeNode", "__id__": 1}

    flavor = SklearnFlavor()
    assert flavor.untrusted(skops_file(type_node("lightgbm.sklearn", "LGBMClassifier"))) == []
    assert flavor.untrusted(skops_file(type_node("numpy", "save"))) == ["numpy.save"]
    assert flavor.untrusted(skops_file(type_node("numpy", "cumsum"))) == ["numpy.cumsum"]
    assert flavor.untrusted(skops_file(type_node("numpy", "cumsum")), trusted=("numpy.cumsum",)) == []
    # file I/O functions stay refused even when named in trusted
    assert flavor.untrusted(skops_file(type_node("numpy", "save")), trusted=("numpy.save",)) == ["numpy.save"]
    assert flavor.untrusted(skops_file(type_node("os", "system"))) == ["os.system"]
