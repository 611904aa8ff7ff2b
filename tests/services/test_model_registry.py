"""The model registry end to end, through a local workspace and through `carnet server`: registration,
references, aliases, tags, audit, verified loading, in-memory models, approvals, ONNX export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from carnet import Client
from carnet.errors import AlreadyExists, ArtifactCorrupted, InvalidInput, NotFound, PermissionDenied
from carnet.plugins.loader import registry

SPEC = """
dataset: {ref}
task: binary
target: target
split: {{kind: holdout, test_size: 0.25}}
model: {{name: logistic_regression, params: {{C: {c}}}}}
preprocess: {{scale: standard}}
seed: 3
project: demo
"""


pytestmark = pytest.mark.served


@pytest.fixture
def ws(client: Any) -> Any:
    return client


@pytest.fixture
def cancer(ws: Client, tmp_path: Path) -> str:
    from sklearn.datasets import load_breast_cancer

    path = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return ws.add_dataset(path, "cancer", project="demo")[0].ref


@pytest.fixture
def run_id(services: Any, cancer: str) -> str:
    return services.search.run_spec(SPEC.format(ref=cancer, c=1.0)).run_id


def _features() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).data


def _events(ws: Client, action: str) -> list[Any]:
    return [e for e in ws.audit_log("model") if e.action == action]


def test_register_records_what_the_run_made(ws: Client, run_id: str, cancer: str) -> None:
    mv = ws.register_model(run_id, "cancer-clf", description="screening aid", tags={"team": "risk"})
    assert (mv.name, mv.version, mv.flavor, mv.run_id, mv.task) == (
        "cancer-clf",
        1,
        "sklearn",
        run_id,
        "binary",
    )
    model_art = {a.path: a for a in ws.list_artifacts(run_id)}["model/model.skops"]
    assert mv.artifact_digest == model_art.digest
    X = _features()
    assert mv.signature.input_names() == list(X.columns)
    assert {c.dtype for c in mv.signature.inputs} == {"float64"}
    assert [c.name for c in mv.signature.outputs] == ["prediction", "proba_0", "proba_1"]
    assert len(mv.input_example) == 3 and set(mv.input_example[0]) == set(X.columns)
    assert mv.metrics["roc_auc"] == ws.get_run(run_id).metrics["roc_auc"]
    assert mv.datasets == [cancer]
    assert {"reports/evaluation.html", "reports/evaluation.json"} <= set(mv.reports)
    assert mv.tags == {"team": "risk"} and mv.description == "screening aid"
    second = ws.register_model(run_id, "cancer-clf", derived_from=1)
    assert (second.version, second.derived_from) == (2, 1)
    assert ws.get_model("cancer-clf").latest_version == 2
    assert [e.payload["version"] for e in _events(ws, "model.register")] == [2, 1]


def test_a_failed_registration_leaves_nothing(ws: Client, run_id: str) -> None:
    ws.register_model(run_id, "m")
    before = len(ws.audit_log(limit=None))
    with pytest.raises(NotFound, match="no version 7"):
        ws.register_model(run_id, "m", derived_from=7)
    with pytest.raises(InvalidInput) as err:
        ws.register_model(run_id, "bad name!")
    assert err.value.field == "name"
    assert len(ws.audit_log(limit=None)) == before
    assert [v.version for v in ws.model_versions("m")] == [1]


def test_references_resolve_everywhere(ws: Client, services: Any, run_id: str) -> None:
    for _ in range(3):
        ws.register_model(run_id, "m")
    assert ws.get_model_version("m").version == 3
    assert ws.get_model_version("m/2").version == 2
    assert ws.get_model_version("m", 1).version == 1
    assert ws.set_model_alias("m", "production", 2) is None
    assert ws.get_model_version("m@production").version == 2
    assert ws.set_model_alias("m", "production", 3, reason="better") == 2
    assert ws.get_model_version("m@production").version == 3
    assert ws.get_model("m").aliases == {"production": 3}
    assert ws.get_model_version("m/3").aliases == ["production"]
    with pytest.raises(NotFound, match="no alias 'staging'"):
        ws.get_model_version("m@staging")
    with pytest.raises(NotFound, match="no version 9"):
        ws.get_model_version("m/9")
    with pytest.raises(InvalidInput):
        ws.get_model_version("m/x")
    with pytest.raises(InvalidInput):
        ws.get_model_version("m@1bad")
    with pytest.raises(NotFound, match="no registered model"):
        ws.get_model_version("nope@production")
    assert ws.delete_model_alias("m", "production") == 3
    with pytest.raises(NotFound):
        ws.get_model_version("m@production")
    moves = services.registry.alias_history("m", "production")
    assert [(h["kind"], h["version"], h["previous_version"]) for h in moves] == [
        ("set", 2, None),
        ("set", 3, 2),
        ("delete", None, 3),
    ]
    assert [e.payload["alias"] for e in _events(ws, "model.alias.set")] == ["production", "production"]


def test_tags_on_models_and_versions(ws: Client, run_id: str) -> None:
    ws.register_model(run_id, "m")
    ws.set_model_tags("m", {"team": "risk", "tier": "1"})
    ws.set_model_tags("m", {"validated": "yes"}, version=1)
    ws.set_model_tags("m", {"tier": "2"})
    assert ws.get_model("m").tags == {"team": "risk", "tier": "2"}
    assert ws.get_model_version("m/1").tags == {"validated": "yes"}
    ws.delete_model_tag("m", "team")
    assert ws.get_model("m").tags == {"tier": "2"}
    with pytest.raises(NotFound):
        ws.delete_model_tag("m", "team")
    with pytest.raises(InvalidInput):
        ws.set_model_tags("m", {})
    assert len(_events(ws, "model.tag.set")) == 3 and len(_events(ws, "model.tag.delete")) == 1


def test_loading_by_reference_verifies_the_digest(ws: Client, services: Any, run_id: str) -> None:
    ws.register_model(run_id, "m")
    ws.set_model_alias("m", "production", 1)
    X = _features()
    model = ws.load_model("m@production")
    assert (model.predict_proba(X) == ws.load_model(run_id).predict_proba(X)).all()
    assert (ws.load_model("m").predict(X) == model.predict(X)).all()
    digest = ws.get_model_version("m/1").artifact_digest
    stored = next(
        p
        for p in (Path(services.ctx.artifacts.root.removeprefix("file://"))).rglob("*")
        if p.name == digest.split(":")[1]
    )
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.chmod(0o644)
    stored.write_bytes(bytes(data))
    with pytest.raises(ArtifactCorrupted):
        ws.load_model("m@production")


class Doubler:
    """A plain Python model no safe flavor can store."""

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X).sum(axis=1) * 2


class Payload:
    """Pickles into a call that creates a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))

    def predict(self, X: Any) -> Any:
        return X


def test_a_python_object_needs_the_pickle_opt_in_to_store_and_to_load(ws: Client) -> None:
    sample = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    with pytest.raises(PermissionDenied, match="allow_pickle"):
        ws.log_model(Doubler(), "doubler", sample)
    with pytest.raises(NotFound):
        ws.get_model("doubler")
    mv = ws.log_model(Doubler(), "doubler", sample, allow_pickle=True, task="regression")
    assert mv.allow_pickle and mv.flavor == "pickle" and mv.run_id is None
    event = _events(ws, "model.register")[0]
    assert event.payload["allow_pickle"] is True
    with pytest.raises(PermissionDenied, match="allow_pickle"):
        ws.load_model("doubler/1")
    model = ws.load_model("doubler/1", allow_pickle=True)
    assert model.predict(sample).tolist() == [8.0, 12.0]


def test_a_pickle_payload_never_runs_without_the_opt_in(ws: Client, services: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    sample = pd.DataFrame({"a": [1.0]})
    ws.log_model(Payload(marker), "evil", sample, allow_pickle=True)
    assert not marker.exists()  # dumping does not run it
    with pytest.raises(PermissionDenied):
        ws.load_model("evil/1")
    with pytest.raises(PermissionDenied):
        services.registry.load("evil/1", trusted=("builtins.object",))
    assert not marker.exists()
    # the same bytes handed to the safe flavor are refused without running anything

    data = services.ctx.artifacts.get_bytes(ws.get_model_version("evil/1").artifact_digest)
    assert data[:1] == b"\x80"  # the stored bytes are a pickle stream
    with pytest.raises(Exception) as err:
        registry("flavor").get("sklearn").loads(data)
    assert type(err.value).__module__.startswith("carnet")
    assert not marker.exists()


def test_approvals_count_once_per_user(
    ws: Client, services: Any, workspace: Any, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.register_model(run_id, "m")
    ws.approve("m", 1, comment="looks good")
    with pytest.raises(AlreadyExists):
        ws.approve("m", 1)
    with workspace.client_as("bob", monkeypatch) as bob:
        bob.approve("m", 1, comment="ok")
    approvals = services.registry.approvals("m", 1, "production")
    assert [(a.actor, a.comment) for a in approvals] == [("tester", "looks good"), ("bob", "ok")]
    assert {a.authenticated for a in approvals} == {workspace.remote}
    assert [e.actor for e in _events(ws, "model.approve")] == ["bob", "tester"]


def test_onnx_export_of_a_registered_version(ws: Client, run_id: str, tmp_path: Path) -> None:
    ws.register_model(run_id, "m")
    assert ws.export_model("m/1", tmp_path / "m.onnx") is None
    onnx_version = ws.export_model("m/1", tmp_path / "again.onnx", register=True)
    assert onnx_version is not None
    assert (onnx_version.version, onnx_version.flavor, onnx_version.derived_from) == (2, "onnx", 1)
    assert (tmp_path / "m.onnx").read_bytes() == (tmp_path / "again.onnx").read_bytes()
    X = _features()
    original, exported = ws.load_model("m/1"), ws.load_model("m/2")
    assert np.allclose(original.predict_proba(X), exported.predict_proba(X), atol=1e-5)
    assert (original.predict(X) == exported.predict(X)).mean() > 0.99
