"""Neural networks on PyTorch: seeded, early-stopped, tracked per epoch, stored without pickle, and
continued from a registered parent by fine-tuning or with frozen features."""

from __future__ import annotations

import copy
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_diabetes, make_classification

from carnet import Client
from carnet.errors import InvalidInput
from carnet.flavors import flavor_for
from carnet.plugins.loader import registry
from carnet.services.training import MetricScorer
from carnet.tasks import get_task
from carnet.testing import check_task
from carnet.training import build_pipeline, fit_and_evaluate, load_spec
from carnet.training.reuse import Derivation, check_reuse
from carnet.training.torch_models import TorchMLPClassifier, TorchMLPRegressor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))
from test_encoders import reviews  # noqa: E402 - the generated review texts, shared


def _classification() -> pd.DataFrame:
    X, y = make_classification(n_samples=600, n_features=8, n_informative=5, random_state=2)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    frame["label"] = np.array(["no", "yes"])[y]
    return frame


def _fit(name: str, frame: pd.DataFrame, target: str, task: str = "binary", **params: Any) -> Any:
    model = {"name": name, "params": params}
    spec = load_spec(
        {
            "dataset": "d",
            "task": task,
            "target": target,
            "model": model,
            "preprocess": {"scale": "standard"},
            "seed": 4,
        }
    )
    names = ("accuracy",) if task == "binary" else ("rmse",)
    family = "classification" if task == "binary" else "regression"
    return fit_and_evaluate(get_task(task), spec, frame, scorer=MetricScorer(family, names))


def test_the_mlp_learns_is_seeded_and_keeps_its_best_epoch() -> None:
    frame = _classification()
    first, second = _fit("torch_mlp", frame, "label", epochs=60), _fit("torch_mlp", frame, "label", epochs=60)
    assert first.scores["accuracy"] > 0.85 and first.scores == second.scores
    net = first.fitted.steps[-1][1]
    assert isinstance(net, TorchMLPClassifier)
    history = net.history_
    assert {"epoch", "loss", "val_loss", "val_accuracy", "lr"} <= set(history[0])
    assert history[-1]["loss"] < history[0]["loss"]
    assert 1 <= net.best_epoch_ <= len(history) <= 60
    regression = _fit("torch_mlp", load_diabetes(as_frame=True).frame, "target", task="regression", epochs=80)
    assert isinstance(regression.fitted.steps[-1][1], TorchMLPRegressor)
    assert regression.scores["rmse"] < 70  # the target's standard deviation is 77


def test_a_network_is_stored_as_an_architecture_and_a_state_dict_never_as_pickle() -> None:
    result = _fit("torch_mlp", _classification(), "label", epochs=10)
    flavor = flavor_for(result.fitted)
    data = flavor.dumps(result.fitted)
    assert flavor.name == "sklearn" and flavor.untrusted(data) == []
    state = result.fitted.steps[-1][1].__getstate__()
    assert "net_" not in state and isinstance(state["weights_"], bytes)
    weights = torch.load(io.BytesIO(state["weights_"]), weights_only=True)  # plain tensors only
    assert all(isinstance(v, torch.Tensor) for v in weights.values())
    loaded = registry("flavor").get("sklearn").loads(data)
    frame = _classification().drop(columns="label").head(50)
    np.testing.assert_allclose(loaded.predict_proba(frame), result.fitted.predict_proba(frame), rtol=1e-6)


def test_frozen_features_train_the_output_layer_only_and_finetune_trains_every_layer() -> None:
    frame = _classification()
    parent = _fit("torch_mlp", frame.iloc[:400], "label", epochs=20).fitted
    new_X, new_y = frame.iloc[400:].drop(columns="label"), frame.iloc[400:]["label"]
    assert check_reuse(parent, None, "net/1") == "finetune"
    before = copy.deepcopy(parent.steps[-1][1].net_.state_dict())
    frozen = Derivation(parent, "frozen_features", {"epochs": 5}).fit(new_X, new_y)
    after = frozen.steps[-1][1].net_.state_dict()
    layers = [k for k in before if k.endswith("weight")]
    assert all(torch.equal(before[k], after[k]) for k in layers[:-1])  # hidden layers untouched
    assert not torch.equal(before[layers[-1]], after[layers[-1]])  # the output layer learned
    tuned = Derivation(parent, "finetune", {"epochs": 5, "learning_rate": 0.01}).fit(new_X, new_y)
    changed = tuned.steps[-1][1].net_.state_dict()
    assert not torch.equal(before[layers[0]], changed[layers[0]])
    assert all(
        torch.equal(before[k], parent.steps[-1][1].net_.state_dict()[k]) for k in before
    )  # parent kept
    with pytest.raises(InvalidInput, match=r"cannot change when continuing a network") as info:
        Derivation(parent, "finetune", {"hidden": [8]}).fit(new_X, new_y)
    assert info.value.field == "model.params.hidden"
    with pytest.raises(InvalidInput, match="supports finetune"):
        check_reuse(parent, "warm_start", "net/1")


def test_a_run_records_each_epoch_and_the_mlp_passes_the_conformance_kit(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    _classification().to_csv(path, index=False)
    client = Client(str(tmp_path / "ws"))
    try:
        model = {"name": "torch_mlp", "params": {"epochs": 12, "patience": 50}}
        outcome = client.train({"dataset": str(path), "task": "binary", "target": "label", "model": model})
        losses = client.get_metric_history(outcome.run_id, "epoch_loss")
        assert [m.step for m in losses] == list(range(1, 13))
        assert len(client.get_metric_history(outcome.run_id, "epoch_lr")) == 12
    finally:
        client.close()
    report = check_task(get_task("binary"), _classification(), "label", model="torch_mlp")
    assert report["deterministic"]


def test_the_text_network_frozen_or_fine_tuned_stores_only_what_it_trained() -> None:
    frame = reviews(160).drop(columns=["id", "price"])
    frozen = _fit("text_net", frame, "label", epochs=4)
    tuned = _fit("text_net", frame, "label", epochs=2, finetune_layers=1)
    assert frozen.scores["accuracy"] >= 0.9 and tuned.scores["accuracy"] >= 0.9
    flavor = flavor_for(frozen.fitted)
    small, larger = flavor.dumps(frozen.fitted), flavor.dumps(tuned.fitted)
    assert len(small) < 200_000 < len(larger) < 30_000_000  # the head; the head and one layer
    for result, data in ((frozen, small), (tuned, larger)):
        loaded = registry("flavor").get("sklearn").loads(data)
        rows = frame.drop(columns="label").head(8)
        np.testing.assert_allclose(loaded.predict_proba(rows), result.fitted.predict_proba(rows), atol=1e-5)
    with pytest.raises(InvalidInput, match="reads one text column") as info:
        _fit("text_net", reviews(40).drop(columns=["id"]), "label")
    assert info.value.field == "features"


def test_a_text_network_continues_with_its_encoder_frozen() -> None:
    frame = reviews(160).drop(columns=["id", "price"])
    parent = _fit("text_net", frame.iloc[:100], "label", epochs=3).fitted
    head = copy.deepcopy(parent.steps[-1][1].head_.state_dict())
    child = Derivation(parent, "frozen_features", {"epochs": 2}).fit(
        frame.iloc[100:][["review"]], frame.iloc[100:]["label"]
    )
    assert not torch.equal(child.steps[-1][1].head_.state_dict()["weight"], head["weight"])
    assert torch.equal(parent.steps[-1][1].head_.state_dict()["weight"], head["weight"])
    assert set(child.predict(frame.head(5)[["review"]])) <= {"yes", "no"}


def test_build_pipeline_says_when_torch_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if the extra were not installed
    spec = load_spec({"dataset": "d", "task": "binary", "target": "label", "model": "torch_mlp"})
    frame = _classification()
    with pytest.raises(InvalidInput, match=r"pip install 'carnet\[torch\]'") as info:
        build_pipeline(spec, get_task("binary"), frame, [c for c in frame.columns if c != "label"])
    assert info.value.field == "model.name"
