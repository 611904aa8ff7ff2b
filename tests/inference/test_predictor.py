"""Compiled predictors take a shortcut only when it gives exactly the plain path's outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from carnet.inference.outputs import model_outputs
from carnet.inference.predictor import compile_predictor


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return set(a) == set(b) and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def test_pipeline_classifier_shares_preprocessing_and_takes_arrays(cancer) -> None:
    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    predictor, path = compile_predictor(model, "classification", [0, 1], list(X.columns), X.iloc[:3])
    assert path == "shared+array"
    rows = X.iloc[100:400].reset_index(drop=True)
    got = predictor(rows)
    assert set(got) == {"predict", "predict_proba"}
    assert _same(got, model_outputs(model, rows, "classification", [0, 1]))


def test_regressor_takes_the_array_path() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
    predictor, path = compile_predictor(model, "regression", None, list(X.columns), X.iloc[:3])
    assert path == "array"
    assert _same(predictor(X.iloc[50:90]), model_outputs(model, X.iloc[50:90], "regression", None))


def test_column_selection_by_name_keeps_frames() -> None:
    frame = pd.DataFrame({"city": ["a", "b", "c", "a"] * 25, "x": np.arange(100.0)})
    y = (frame["x"] % 3 == 0).astype(int)
    encoder = OneHotEncoder(handle_unknown="ignore")
    pre = ColumnTransformer([("cat", encoder, ["city"])], remainder="passthrough")
    model = make_pipeline(pre, LogisticRegression()).fit(frame, y)
    predictor, path = compile_predictor(model, "classification", [0, 1], ["city", "x"], frame.iloc[:3])
    assert path == "shared"  # text input: no array path, but the preprocessing still runs once
    assert _same(predictor(frame), model_outputs(model, frame, "classification", [0, 1]))


def test_columns_in_another_order_than_fitted_keep_frames(cancer) -> None:
    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    reordered = list(reversed(X.columns))
    _, path = compile_predictor(model, "classification", [0, 1], reordered, X[reordered].iloc[:3])
    assert "array" not in path


class _FrameOnly:
    """A model whose answer depends on getting a DataFrame: no shortcut may change it."""

    feature_names_in_ = np.array(["a", "b"], dtype=object)

    def predict(self, X):
        return np.full(X.shape[0], 1.0 if isinstance(X, pd.DataFrame) else 2.0)


def test_a_shortcut_that_changes_outputs_is_not_taken() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    predictor, path = compile_predictor(_FrameOnly(), "regression", None, ["a", "b"], frame)
    assert path == "plain"
    assert predictor(frame)["predict"].tolist() == [1.0, 1.0]


def test_without_an_example_the_plain_path_is_used(cancer) -> None:
    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    predictor, path = compile_predictor(model, "classification", [0, 1], list(X.columns), None)
    assert path == "plain"
    assert _same(predictor(X.iloc[:5]), model_outputs(model, X.iloc[:5], "classification", [0, 1]))
