"""Every model of carnet's catalog, fitted as ``carnet train`` fits it, is stored and loaded back by its
flavor under the default trust rules (a model carnet trains is always a model carnet can load)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from carnet.flavors import flavor_for
from carnet.training.estimators import MODELS

_X, _y = make_classification(n_samples=120, n_features=6, random_state=0)
_Xr, _yr = make_regression(n_samples=120, n_features=6, random_state=0)


def _fit(family: str, name: str) -> object:
    import importlib

    path, defaults = MODELS[family][name]
    module, _, cls = path.partition(":")
    est = getattr(importlib.import_module(module), cls)(**defaults)
    if name == "text_net":  # reads one text column
        return est.set_params(epochs=2).fit(_texts(), _y if family == "classification" else _yr)
    if family == "classification":
        return est.fit(_X, _y)
    if family == "regression":
        return est.fit(_Xr, _yr)
    return est.fit(np.abs(_X))  # NMF needs non-negative values


def _texts() -> np.ndarray:
    words = np.array(["good", "bad", "parcel", "late", "fine", "broken", "great", "box"])
    picks = np.random.default_rng(0).integers(0, len(words), (len(_y), 4))
    return np.array([[" ".join(words[row])] for row in picks], dtype=object)


CASES = [(family, name) for family, models in MODELS.items() for name in models]


@pytest.mark.parametrize(("family", "name"), CASES, ids=[f"{f}-{n}" for f, n in CASES])
def test_every_catalog_model_round_trips_under_the_default_trust_rules(family: str, name: str) -> None:
    model = _fit(family, name)
    flavor = flavor_for(model)
    loaded = flavor.loads(flavor.dumps(model))
    assert loaded is not None
    X = _X if family == "classification" else _Xr if family == "regression" else np.abs(_X)
    X = _texts() if name == "text_net" else X
    for method in ("predict", "transform"):
        if hasattr(model, method) and not (name == "agglomerative" or name == "dbscan"):
            assert np.allclose(getattr(loaded, method)(X[:10]), getattr(model, method)(X[:10]))
