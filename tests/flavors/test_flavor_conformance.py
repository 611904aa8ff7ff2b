"""check_flavor passes on every built-in flavor and catches flavors that break the contract."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from flavor_models import Doubler
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from carnet.errors import InvalidInput
from carnet.flavors import flavor_named
from carnet.testing import check_flavor
from carnet.training.transformers import CategoryStrings


def classification() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(300, 5, n_informative=3, n_redundant=0, class_sep=3.0, random_state=5)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]), y


def regression() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_regression(300, 5, noise=3.0, random_state=6)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]), y


def carnet_pipeline() -> tuple[Any, pd.DataFrame]:
    X, y = classification()
    X = X.assign(city=np.where(X["f4"] > 0, "paris", "lyon"))
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["f0", "f1", "f2"]),
            ("cat", make_pipeline(CategoryStrings(), OneHotEncoder()), ["city"]),
        ]
    )
    model = Pipeline(
        [("preprocess", pre), ("model", RandomForestClassifier(n_estimators=10, random_state=0))]
    )
    return model.fit(X, y), X


def fitted(model: Any, data: Callable[[], tuple[pd.DataFrame, np.ndarray]]) -> tuple[Any, pd.DataFrame]:
    X, y = data()
    return model.fit(X, y), X


CASES: dict[str, tuple[str, Callable[[], tuple[Any, Any]]]] = {
    "sklearn-carnet-pipeline": ("sklearn", carnet_pipeline),
    "lightgbm-classifier": (
        "lightgbm",
        lambda: fitted(lightgbm.LGBMClassifier(n_estimators=20, verbose=-1), classification),
    ),
    "lightgbm-regressor": (
        "lightgbm",
        lambda: fitted(lightgbm.LGBMRegressor(n_estimators=20, verbose=-1), regression),
    ),
    "xgboost-classifier": (
        "xgboost",
        lambda: fitted(xgboost.XGBClassifier(n_estimators=20, n_jobs=1), classification),
    ),
    "xgboost-regressor": (
        "xgboost",
        lambda: fitted(xgboost.XGBRegressor(n_estimators=20, n_jobs=1), regression),
    ),
    "onnx-scaler-logistic": (
        "onnx",
        lambda: fitted(make_pipeline(StandardScaler(), LogisticRegression()), classification),
    ),
    "pickle-python-object": ("pickle", lambda: (Doubler(), regression()[0])),
    "sb3-ppo-policy": ("sb3", lambda: _policy()),
}


def _policy() -> tuple[Any, Any]:
    """A loaded PPO CartPole policy (briefly trained) and observations inside its space."""
    import gymnasium

    from carnet.flavors.sb3 import SB3Flavor
    from carnet.training.rl import train

    model = train("CartPole-v1", "ppo", total_timesteps=128, seed=0, params={"n_steps": 64, "batch_size": 32})
    env = gymnasium.make("CartPole-v1")
    observations = np.stack([env.reset(seed=i)[0] for i in range(8)])
    return SB3Flavor().loads(SB3Flavor().dumps(model)), observations


@pytest.mark.parametrize("case", list(CASES))
def test_every_builtin_flavor_conforms(case: str) -> None:
    name, make = CASES[case]
    model, X = make()
    flavor = flavor_named(name)
    report = check_flavor(flavor, model, X, allow_pickle=name == "pickle")
    assert report["flavor"] == name and report["round_trip"] is True
    assert report["bytes"] > 0
    assert report["deterministic"] is (name != "sklearn")  # skops writes object ids into its files
    expected = ["predict", "predict_proba"] if hasattr(model, "predict_proba") else ["predict"]
    assert report["compared"] == expected
    assert report["tolerance"] == (1e-5 if name == "onnx" else None)
    assert set(report["load_errors"]) == {"empty", "text", "binary", "zip", "pickle"}
    assert report["load_errors"]["pickle"] == ("PermissionDenied" if name == "pickle" else "InvalidInput")


def test_an_opt_in_flavor_is_checked_without_loading_by_default() -> None:
    report = check_flavor(flavor_named("pickle"), Doubler(), regression()[0])
    assert report["round_trip"] is False and report["compared"] == []
    assert set(report["load_errors"].values()) == {"PermissionDenied"}


# -- flavors that break the contract ---------------------------------------------------------


class Honest:
    """A correct toy flavor over pickle with the opt-in; the broken ones below change one thing."""

    name = "honest"
    file_name = "model.pkl"
    requires_opt_in = True

    def can_save(self, model: Any) -> bool:
        return hasattr(model, "predict")

    def dumps(self, model: Any) -> bytes:
        return pickle.dumps(model)

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        if not allow_pickle:
            from carnet.errors import PermissionDenied

            raise PermissionDenied("pass allow_pickle=True to load a pickle")
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise InvalidInput(f"bad pickle: {exc}") from exc


class NoOptIn(Honest):
    """Unpickles anything, without asking: code in a file would run."""

    requires_opt_in = False

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        return super().loads(data, allow_pickle=True)


class RawErrors(Honest):
    """Lets library exceptions escape instead of carnet errors."""

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        if not allow_pickle:
            return super().loads(data)
        return pickle.loads(data)


class Lossy(Honest):
    """Stores a model that predicts something else."""

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        super().loads(data, allow_pickle=allow_pickle)
        return Tripler()


class Tripler(Doubler):
    def predict(self, X: Any) -> np.ndarray:
        return super().predict(X) * 1.5


class NoRequiresOptIn:
    name = "old"
    file_name = "model.old"

    def can_save(self, model: Any) -> bool:
        return True

    def dumps(self, model: Any) -> bytes:
        return b"x"

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = ()) -> Any:
        return None


class Picky(Honest):
    def can_save(self, model: Any) -> bool:
        return False


class Nameless(Honest):
    name = ""


@pytest.mark.parametrize(
    ("flavor", "message"),
    [
        (NoOptIn(), "ran code from a pickle payload"),
        (RawErrors(), r"loads\(empty bytes\) raised builtins\.EOFError .*raise InvalidInput"),
        (Lossy(), r"predict\(X\) differs from model\.predict\(X\): 300 value\(s\) differ"),
        (NoRequiresOptIn(), "missing requires_opt_in"),
        (Picky(), r"can_save\(Doubler\) is not True"),
        (Nameless(), "name must be a non-empty string"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_check_flavor_names_the_violation(flavor: Any, message: str) -> None:
    X = regression()[0]
    check_flavor(Honest(), Doubler(), X, allow_pickle=True)  # the baseline passes
    with pytest.raises(AssertionError, match=message):
        check_flavor(flavor, Doubler(), X, allow_pickle=True)


def test_an_opt_in_flavor_that_loads_without_it_is_caught() -> None:
    class Forgetful(Honest):
        def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
            return super().loads(data, allow_pickle=True)

    with pytest.raises(AssertionError, match="requires_opt_in is True but loads worked"):
        check_flavor(Forgetful(), Doubler(), regression()[0])
