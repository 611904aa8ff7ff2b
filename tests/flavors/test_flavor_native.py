"""LightGBM and XGBoost in their native formats: exact round trips, readable files, clean refusals."""

from __future__ import annotations

import io
import json
import pickle
import warnings
import zipfile
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from flavor_models import ShellPayload
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression

from carnet.errors import InvalidInput
from carnet.flavors import (
    LightGBMClassifierModel,
    LightGBMFlavor,
    LightGBMModel,
    XGBoostFlavor,
    flavor_for,
)
from carnet.flavors.base import pack_envelope


@pytest.fixture(scope="module")
def multiclass() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(400, 6, n_informative=4, n_classes=3, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame["shop"] = pd.Categorical(np.random.default_rng(0).choice(["a", "b", "c"], len(frame)))
    return frame, y


@pytest.fixture(scope="module")
def regression() -> tuple[np.ndarray, np.ndarray]:
    return make_regression(300, 5, noise=5.0, random_state=1)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


# -- LightGBM ------------------------------------------------------------------------------


def test_lightgbm_classifier_with_text_labels_and_categories(
    multiclass: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = multiclass
    labels = np.array(["low", "mid", "high"])[y]
    model = lightgbm.LGBMClassifier(n_estimators=25, verbose=-1).fit(X, labels)
    flavor = flavor_for(model)
    assert isinstance(flavor, LightGBMFlavor)
    data = flavor.dumps(model)
    assert data == flavor.dumps(model)  # byte-identical: same model, same digest
    loaded = flavor.loads(data)
    assert isinstance(loaded, LightGBMClassifierModel)
    assert loaded.classes_.tolist() == model.classes_.tolist()
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(loaded.predict(X, raw_score=True), model.predict(X, raw_score=True))
    assert np.array_equal(loaded.feature_importances_, model.feature_importances_)
    assert loaded.n_features_in_ == model.n_features_in_ and loaded.feature_name_ == model.feature_name_
    # a loaded model can be stored again, and keeps predicting the same
    again = flavor.loads(flavor.dumps(loaded))
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))


def test_lightgbm_early_stopping_keeps_the_best_iteration() -> None:
    X, y = make_classification(500, 8, random_state=4)
    with warnings.catch_warnings():  # eval_set is renamed in recent LightGBM versions only
        warnings.simplefilter("ignore")
        model = lightgbm.LGBMClassifier(n_estimators=300, learning_rate=0.3, verbose=-1).fit(
            X[:350],
            y[:350] == 1,
            eval_set=[(X[350:], y[350:] == 1)],
            callbacks=[lightgbm.early_stopping(3, verbose=False)],
        )
    assert 0 < model.best_iteration_ < 300
    loaded = LightGBMFlavor().loads(LightGBMFlavor().dumps(model))
    assert loaded.best_iteration_ == model.best_iteration_
    assert loaded.classes_.dtype == np.bool_
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # every tree is kept: asking for all iterations still works
    assert np.array_equal(loaded.predict_proba(X, num_iteration=-1), model.predict_proba(X, num_iteration=-1))


def test_lightgbm_regressor_ranker_and_booster(regression: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = regression
    flavor = LightGBMFlavor()
    reg = lightgbm.LGBMRegressor(n_estimators=30, verbose=-1).fit(X, y)
    loaded = flavor.loads(flavor.dumps(reg))
    assert type(loaded) is LightGBMModel and not hasattr(loaded, "predict_proba")
    assert np.array_equal(loaded.predict(X), reg.predict(X))

    relevance = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    ranker = lightgbm.LGBMRanker(n_estimators=10, min_child_samples=5, verbose=-1).fit(
        X, relevance, group=[100] * 3
    )
    loaded_ranker = flavor.loads(flavor.dumps(ranker))
    assert loaded_ranker.kind == "ranker"
    assert np.array_equal(loaded_ranker.predict(X), ranker.predict(X))

    booster = reg.booster_
    assert flavor_for(booster).name == "lightgbm"
    loaded_booster = flavor.loads(flavor.dumps(booster))
    assert isinstance(loaded_booster, lightgbm.Booster)
    assert np.array_equal(loaded_booster.predict(X), booster.predict(X))


def test_lightgbm_file_is_model_text_plus_json(regression: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = regression
    reg = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, y)
    files = members(LightGBMFlavor().dumps(reg))
    assert sorted(files) == ["carnet.json", "model.txt"]
    meta = json.loads(files["carnet.json"])
    assert (meta["format"], meta["kind"]) == ("carnet.lightgbm", "regressor")
    plain = lightgbm.Booster(model_str=files["model.txt"].decode())  # any LightGBM reads it
    assert np.array_equal(plain.predict(X), reg.predict(X))


def test_lightgbm_can_save_only_fitted_lightgbm_models(regression: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = regression
    flavor = LightGBMFlavor()
    assert not flavor.can_save(lightgbm.LGBMRegressor())
    assert not flavor.can_save(LinearRegression().fit(X, y))
    assert not flavor.can_save(object())

    def squared(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return y_pred - y_true, np.ones_like(y_pred)

    custom = lightgbm.LGBMRegressor(n_estimators=3, objective=squared, verbose=-1).fit(X, y)
    assert not flavor.can_save(custom)
    assert flavor_for(custom).name == "sklearn"  # skops keeps it (the function needs trust to load)
    with pytest.raises(InvalidInput, match="custom objective"):
        flavor.dumps(custom)
    with pytest.raises(InvalidInput, match="not fitted"):
        flavor.dumps(lightgbm.LGBMRegressor())
    with pytest.raises(InvalidInput, match="not a LightGBM model"):
        flavor.dumps(LinearRegression())


# -- XGBoost -------------------------------------------------------------------------------


def test_xgboost_classifier_regressor_and_booster(
    multiclass: tuple[pd.DataFrame, np.ndarray], regression: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = multiclass
    X = X.drop(columns="shop")
    clf = xgboost.XGBClassifier(n_estimators=20, n_jobs=1).fit(X, y)
    flavor = flavor_for(clf)
    assert isinstance(flavor, XGBoostFlavor)
    data = flavor.dumps(clf)
    assert data == flavor.dumps(clf)
    loaded = flavor.loads(data)
    assert type(loaded) is xgboost.XGBClassifier
    assert loaded.classes_.tolist() == [0, 1, 2]
    assert list(loaded.feature_names_in_) == list(X.columns)
    assert np.array_equal(loaded.predict(X), clf.predict(X))
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))

    Xr, yr = regression
    reg = xgboost.XGBRegressor(n_estimators=20, n_jobs=1).fit(Xr, yr)
    loaded_reg = flavor.loads(flavor.dumps(reg))
    assert type(loaded_reg) is xgboost.XGBRegressor
    assert np.array_equal(loaded_reg.predict(Xr), reg.predict(Xr))

    booster = reg.get_booster()
    loaded_booster = flavor.loads(flavor.dumps(booster))
    assert isinstance(loaded_booster, xgboost.Booster)
    matrix = xgboost.DMatrix(Xr)
    assert np.array_equal(loaded_booster.predict(matrix), booster.predict(matrix))

    files = members(data)
    assert sorted(files) == ["carnet.json", "model.ubj"]
    plain = xgboost.XGBClassifier()
    plain.load_model(bytearray(files["model.ubj"]))  # any XGBoost reads it
    assert np.array_equal(plain.predict(X), clf.predict(X))


def test_xgboost_can_save_only_fitted_xgboost_models(regression: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = regression
    flavor = XGBoostFlavor()
    assert not flavor.can_save(xgboost.XGBRegressor())
    assert not flavor.can_save(LinearRegression().fit(X, y))
    assert not flavor.can_save(lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(X, y))
    with pytest.raises(InvalidInput, match="not fitted"):
        flavor.dumps(xgboost.XGBRegressor())
    with pytest.raises(InvalidInput, match="not an XGBoost model"):
        flavor.dumps(LinearRegression())


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", [LightGBMFlavor(), XGBoostFlavor()], ids=lambda f: f.name)
def test_native_flavors_refuse_foreign_bytes_without_running_them(flavor: object, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    fmt = f"carnet.{flavor.name}"  # type: ignore[attr-defined]
    member = "model.txt" if flavor.name == "lightgbm" else "model.ubj"  # type: ignore[attr-defined]
    bad = {
        "pickle payload": pickle.dumps(ShellPayload(marker)),
        "empty": b"",
        "other format": pack_envelope({"format": "carnet.other", "format_version": 1}, {member: b"x"}),
        "newer version": pack_envelope({"format": fmt, "format_version": 99}, {member: b"x"}),
        "unknown class": pack_envelope(
            {"format": fmt, "format_version": 1, "kind": "os.system", "estimator": "os.system"},
            {member: b"x"},
        ),
        "garbage model": pack_envelope(
            {"format": fmt, "format_version": 1, "kind": "booster", "estimator": "Booster"},
            {member: b"\x00garbage\xff" * 40},
        ),
    }
    for label, data in bad.items():
        with pytest.raises(InvalidInput) as err:
            flavor.loads(data)  # type: ignore[attr-defined]
        assert err.value.field == "data", label
    assert not marker.exists()
    with pytest.raises(InvalidInput, match="upgrade carnet"):
        flavor.loads(bad["newer version"])  # type: ignore[attr-defined]
