"""The pickle flavor: stores anything with predict, loads only with allow_pickle=True."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from flavor_models import Doubler, ShellPayload, TouchPayload

from carnet.errors import CarnetError, InvalidInput, PermissionDenied
from carnet.flavors import PickleFlavor, flavor_for, flavor_named
from carnet.plugins.loader import registry

X = np.array([[1.0, 2.0], [3.0, 4.0]])


def test_a_python_model_round_trips_only_with_the_opt_in() -> None:
    flavor = flavor_named("pickle")
    assert isinstance(flavor, PickleFlavor) and flavor.requires_opt_in
    data = flavor.dumps(Doubler())
    assert pickle.loads(data).__class__ is Doubler and data[1] == 5  # protocol 5
    with pytest.raises(PermissionDenied) as err:
        flavor.loads(data)
    message = str(err.value)
    assert "allow_pickle=True" in message and "audit" in message and "\n" not in message
    assert flavor.loads(data, allow_pickle=True).predict(X).tolist() == [6.0, 14.0]


def test_pickle_is_never_chosen_automatically() -> None:
    with pytest.raises(InvalidInput, match="no model flavor"):
        flavor_for(Doubler())


@pytest.mark.parametrize("payload", [TouchPayload, ShellPayload])
def test_a_payload_never_runs_without_the_opt_in(payload: type, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = PickleFlavor().dumps(payload(marker))
    assert not marker.exists()  # dumping runs nothing
    with pytest.raises(PermissionDenied):
        PickleFlavor().loads(data)
    with pytest.raises(PermissionDenied):
        PickleFlavor().loads(data, trusted=("builtins.object", "posix.system"))
    with pytest.raises(PermissionDenied):
        PickleFlavor().loads(data, allow_pickle="yes")  # type: ignore[arg-type]  # only True opts in
    # the same bytes handed to every safe flavor: a carnet error, nothing executed
    for name, flavor in registry("flavor").items():
        if flavor.requires_opt_in:
            continue
        with pytest.raises(CarnetError):
            flavor.loads(data, allow_pickle=True)  # ignored by safe flavors
        assert not marker.exists(), name
    assert not marker.exists()
    # the opt-in really does run the file's code: that is why it is explicit (and what it
    # rebuilt is then refused for not being a model)
    with pytest.raises(InvalidInput, match="not a model"):
        PickleFlavor().loads(data, allow_pickle=True)
    assert marker.exists()


def test_what_pickle_cannot_store_or_read() -> None:
    flavor = PickleFlavor()
    assert not flavor.can_save(object())
    with pytest.raises(InvalidInput, match="no predict"):
        flavor.dumps(object())

    class Local:  # not importable by name
        def predict(self, X: np.ndarray) -> np.ndarray:
            return X

    with pytest.raises(InvalidInput, match="importable module"):
        flavor.dumps(Local())
    for garbage in (b"", b"not a pickle", bytes(range(256))):
        with pytest.raises(InvalidInput):
            flavor.loads(garbage, allow_pickle=True)
