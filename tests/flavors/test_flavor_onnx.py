"""ONNX export: explicit only, float32-close predictions, clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from carnet.errors import InvalidInput, PermissionDenied
from carnet.flavors import OnnxFlavor, OnnxModel, export_onnx, flavor_for, flavor_named
from carnet.training.transformers import CategoryStrings


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(300, 4, n_informative=3, n_redundant=0, class_sep=3.0, random_state=0)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]), np.array(["no", "yes"])[y]


@pytest.fixture(scope="module")
def mixed(data: tuple[pd.DataFrame, np.ndarray]) -> pd.DataFrame:
    X, _ = data
    return X.assign(c=np.where(X["c"] > 0, "north", "south"), d=(X["d"] * 3).round().astype("int64"))


def test_a_classifier_pipeline_from_its_feature_names(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    assert flavor_for(model).name == "sklearn"  # ONNX is never chosen automatically
    flavor = flavor_named("onnx")
    assert isinstance(flavor, OnnxFlavor) and flavor.can_save(model)
    loaded = flavor.loads(flavor.dumps(model))
    assert isinstance(loaded, OnnxModel)
    assert loaded.input_names == ["X"] and loaded.feature_names_in_ == ["a", "b", "c", "d"]
    assert loaded.classes_.tolist() == ["no", "yes"]
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)
    # columns are matched by name; a plain array is taken in input order
    assert np.array_equal(loaded.predict(X[["d", "c", "b", "a"]]), model.predict(X))
    assert np.array_equal(loaded.predict(X.to_numpy()), model.predict(X))
    with pytest.raises(InvalidInput, match="missing column"):
        loaded.predict(X.drop(columns="b"))
    numeric = OnnxFlavor().loads(export_onnx(model, X.head(2)))
    assert numeric.input_names == ["X"]
    assert np.array_equal(numeric.predict(X), model.predict(X))
    assert flavor.dumps(loaded) == loaded.onnx_bytes  # a loaded model stores again as is


def test_a_model_fitted_on_an_array_gets_one_matrix_input(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    model = LogisticRegression().fit(X.to_numpy(), y == "yes")
    loaded = OnnxFlavor().loads(OnnxFlavor().dumps(model))
    assert loaded.input_names == ["X"] and loaded.feature_names_in_ is None
    assert np.array_equal(loaded.predict(X.to_numpy()), model.predict(X.to_numpy()))
    assert np.allclose(loaded.predict_proba(X.to_numpy()), model.predict_proba(X.to_numpy()), atol=1e-5)


def test_export_with_a_sample_types_each_column(mixed: pd.DataFrame) -> None:
    target = mixed["a"] * 2 + (mixed["c"] == "north") + mixed["d"]
    pre = ColumnTransformer([("num", StandardScaler(), ["a", "b", "d"]), ("cat", OneHotEncoder(), ["c"])])
    model = make_pipeline(pre, Ridge()).fit(mixed, target)
    loaded = OnnxFlavor().loads(export_onnx(model, mixed.head(3)))
    assert not hasattr(loaded, "predict_proba")  # a regressor has no probabilities output
    assert np.allclose(loaded.predict(mixed), model.predict(mixed), rtol=1e-5, atol=1e-5)
    types = {
        i.name: i.type.tensor_type.elem_type for i in onnx.load_from_string(loaded.onnx_bytes).graph.input
    }
    assert types == {
        "a": onnx.TensorProto.FLOAT,
        "b": onnx.TensorProto.FLOAT,
        "c": onnx.TensorProto.STRING,
        "d": onnx.TensorProto.INT64,
    }


class Doubler(TransformerMixin, BaseEstimator):
    """A transformer skl2onnx knows no converter for."""

    def fit(self, X: object, y: object = None) -> Doubler:
        return self

    def transform(self, X: object) -> np.ndarray:
        return np.asarray(X, dtype=float) * 2


def test_a_step_without_converter_is_named(mixed: pd.DataFrame) -> None:
    pre = ColumnTransformer([("num", make_pipeline(Doubler(), StandardScaler()), ["a", "b"])])
    model = make_pipeline(pre, Ridge()).fit(mixed, mixed["a"])
    assert not OnnxFlavor().can_save(model)
    with pytest.raises(InvalidInput, match=r"columntransformer/num/doubler .*Doubler") as err:
        export_onnx(model, mixed[["a", "b"]])
    assert err.value.field == "model"
    with pytest.raises(InvalidInput, match="Doubler"):
        OnnxFlavor().dumps(model)


def test_carnet_category_strings_export_with_missing_values(tmp_path: Path) -> None:
    """A model carnet trains on a table with a categorical column (and missing values in it) exports
    to ONNX and predicts exactly as the scikit-learn pipeline does, missing values included."""
    from sklearn.datasets import load_wine

    from carnet import Client

    frame = load_wine(as_frame=True).frame
    frame["cellar"] = np.where(frame["alcohol"] > 13, "north", "south")
    frame.loc[::5, "cellar"] = None
    frame["grade"] = np.where(frame["hue"] > 1, 1.0, 2.0)  # numbers used as categories below
    frame["grade"] = frame["grade"].astype(object)
    frame.loc[::7, "grade"] = "unknown"
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    with Client(str(tmp_path / "ws")) as client:
        version, _ = client.add_dataset(path, "wine")
        spec = {"dataset": version.ref, "task": "multiclass", "target": "target",
                "model": {"name": "random_forest", "params": {"n_estimators": 20}}, "seed": 0}  # fmt: skip
        run = client.train(spec).run_id
        client.register_model(run, "wine")
        client.export_model("wine/1", tmp_path / "wine.onnx")
        model = client.load_model("wine/1")
    assert any(isinstance(est, CategoryStrings) for est in _steps(model))
    loaded = OnnxFlavor().loads((tmp_path / "wine.onnx").read_bytes())
    X = pd.read_csv(path).drop(columns=["target"])
    assert X["cellar"].isna().sum() > 0
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)


def _steps(model: object) -> list[object]:
    from sklearn.compose import ColumnTransformer as CT
    from sklearn.pipeline import Pipeline

    out: list[object] = [model]
    if isinstance(model, Pipeline):
        for _, step in model.steps:
            out += _steps(step)
    if isinstance(model, CT):
        for _, est, _cols in model.transformers_:
            out += _steps(est)
    return out


def test_bad_samples_and_models_are_invalid_input(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    with pytest.raises(InvalidInput) as err:
        export_onnx(model, X.to_numpy())  # type: ignore[arg-type]
    assert err.value.field == "sample"
    with pytest.raises(InvalidInput, match="dtype"):
        export_onnx(model, X.assign(a=pd.Timestamp("2024-01-01")))
    assert not OnnxFlavor().can_save(object())
    assert not OnnxFlavor().can_save(LogisticRegression())  # unfitted: no input schema
    with pytest.raises(InvalidInput, match="fit it first"):
        OnnxFlavor().dumps(LogisticRegression())


def test_garbage_and_external_data_are_refused(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    for garbage in (b"", b"not an onnx file", bytes(range(256)) * 4):
        with pytest.raises(InvalidInput):
            OnnxFlavor().loads(garbage)
    X, y = data
    proto = onnx.load_from_string(OnnxFlavor().dumps(LogisticRegression().fit(X, y)))
    tensor = proto.graph.initializer.add()  # a weight read from a file next to the model
    tensor.name, tensor.data_type = "weights", onnx.TensorProto.FLOAT
    tensor.dims.append(4)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/hostname"
    with pytest.raises(PermissionDenied, match="external data"):
        OnnxFlavor().loads(proto.SerializeToString())
