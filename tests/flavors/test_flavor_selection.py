"""Which flavor stores a model: native formats first, skops for the rest, onnx and pickle never."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pytest
import xgboost
from flavor_models import Doubler
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from carnet.errors import InvalidInput, NotFound
from carnet.flavors import Flavor, flavor_for, flavor_named
from carnet.plugins.loader import registry

X, Y = make_classification(120, 4, random_state=2)


class Tagged:
    """A model type only the third-party flavor below knows (it also looks like an estimator)."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {}

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))


class TaggedFlavor:
    name = "zz_tagged"
    file_name = "model.tagged"
    requires_opt_in = False

    def can_save(self, model: Any) -> bool:
        return isinstance(model, Tagged)

    def dumps(self, model: Any) -> bytes:
        return b"tagged"

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        if data != b"tagged":
            raise InvalidInput("not a tagged model", field="data")
        return Tagged()


class GreedyOptInFlavor(TaggedFlavor):
    """Claims everything, but needs an opt-in: must never be picked automatically."""

    name = "aa_greedy"
    requires_opt_in = True

    def can_save(self, model: Any) -> bool:
        return True


def test_every_builtin_is_registered_through_entry_points() -> None:
    names = registry("flavor").names()
    assert {"sklearn", "lightgbm", "xgboost", "onnx", "pickle"} <= set(names)
    for name in ("sklearn", "lightgbm", "xgboost", "onnx", "pickle"):
        flavor = flavor_named(name)
        assert isinstance(flavor, Flavor) and flavor.name == name
        assert flavor.requires_opt_in is (name == "pickle")
    with pytest.raises(NotFound, match="known: "):
        flavor_named("no_such_flavor")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, Y), "lightgbm"),
        (lambda: lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, Y).booster_, "lightgbm"),
        (lambda: xgboost.XGBClassifier(n_estimators=3, n_jobs=1).fit(X, Y), "xgboost"),
        (lambda: xgboost.XGBRegressor(n_estimators=3, n_jobs=1).fit(X, Y).get_booster(), "xgboost"),
        (lambda: make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y), "sklearn"),
        (
            lambda: make_pipeline(StandardScaler(), lightgbm.LGBMClassifier(n_estimators=3, verbose=-1)).fit(
                X, Y
            ),
            "sklearn",
        ),
        (lambda: lightgbm.LGBMClassifier(), "sklearn"),  # unfitted: not a native model yet
        (lambda: LogisticRegression().fit(X, Y), "sklearn"),  # onnx could, but is never automatic
    ],
)
def test_flavor_for_prefers_native_formats(make: Any, expected: str) -> None:
    assert flavor_for(make()).name == expected


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """In-process registrations of the test do not leak to other tests."""
    yield
    registry("flavor").reset()


@pytest.mark.usefixtures("fresh_registry")
def test_third_party_flavors_come_before_sklearn_and_opt_in_ones_never() -> None:
    registry("flavor").register("zz_tagged", TaggedFlavor)
    registry("flavor").register("aa_greedy", GreedyOptInFlavor())
    assert flavor_for(Tagged()).name == "zz_tagged"
    assert flavor_for(LogisticRegression()).name == "sklearn"
    with pytest.raises(InvalidInput, match="no model flavor can store a Doubler"):
        flavor_for(Doubler())


@pytest.mark.usefixtures("fresh_registry")
def test_a_plugin_missing_a_member_is_rejected_by_name() -> None:
    class Old:
        name = "old"
        file_name = "model.old"

        def can_save(self, model: Any) -> bool:
            return False

        def dumps(self, model: Any) -> bytes:
            return b""

        def loads(self, data: bytes, *, trusted: tuple[str, ...] = ()) -> Any:
            return None

    with pytest.raises(TypeError, match="requires_opt_in"):
        registry("flavor").register("old", Old)


def test_importing_flavors_loads_no_model_library(tmp_path: Path) -> None:
    heavy = ["lightgbm", "xgboost", "onnx", "onnxruntime", "skl2onnx", "skops", "sklearn", "numpy"]
    code = (
        "import sys, json, carnet.flavors, carnet.testing\n"
        "from carnet.plugins import registry\n"
        "registry('flavor').names()\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []
