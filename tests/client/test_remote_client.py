"""The SDK against a local workspace and against ``carnet server`` (real uvicorn on 127.0.0.1):
the same calls, the same results, the same error classes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from carnet.bootstrap import open_services
from carnet.client import Client, LocalClient, RemoteClient
from carnet.config import resolve_settings
from carnet.domain import DatasetVersion, Metric, ModelVersion, Run, RunStatus
from carnet.errors import AlreadyExists, ArtifactCorrupted, Conflict, InvalidInput, NotFound, Unauthenticated
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.services import Services

SPEC = """
dataset: {ref}
task: binary
target: target
split: {{kind: holdout, test_size: 0.25}}
model: {{name: logistic_regression, params: {{C: 1.0}}}}
preprocess: {{scale: standard}}
seed: 3
project: demo
"""


@dataclass
class Side:
    """One way to reach the workspace: ``client`` is local or remote; ``services`` is the workspace."""

    kind: str
    client: Any
    services: Services
    trained: str


@pytest.fixture(scope="module", params=["local", "remote"])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    from sklearn.datasets import load_breast_cancer

    tmp = tmp_path_factory.mktemp(request.param)
    settings = resolve_settings(str(tmp / "ws"), env={"CARNET_ACTOR": "tester"}, cwd=tmp)
    csv = tmp / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(csv, index=False)
    if request.param == "local":
        local = Client(settings)
        services = local.services
        ref = services.datasets.add(csv, "cancer", project="demo")[0].ref
        trained = services.search.run_spec(SPEC.format(ref=ref)).run_id
        try:
            yield Side("local", local, services, trained)
        finally:
            local.close()
        return
    services = open_services(settings)
    ref = services.datasets.add(csv, "cancer", project="demo")[0].ref
    trained = services.search.run_spec(SPEC.format(ref=ref)).run_id
    server = serve_api_in_thread(create_api_app(services, require_auth=False, max_body_bytes=1 << 24))
    remote = Client(server.url)
    try:
        yield Side("remote", remote, services, trained)
    finally:
        remote.close()
        server.stop()
        services.close()


def test_the_entry_point_picks_the_implementation(client: Side, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = RemoteClient if client.kind == "remote" else LocalClient
    assert isinstance(client.client, expected)
    if client.kind == "remote":
        monkeypatch.setenv("CARNET_URI", client.client.uri)
        with Client() as again:
            assert isinstance(again, RemoteClient) and again.uri == client.client.uri
            assert again.list_projects() == client.client.list_projects()


def test_runs_params_tags_and_lifecycle(client: Side) -> None:
    c = client.client
    run = c.create_run("track", "first", params={"lr": 0.1, "deep": True}, tags={"team": "a"})
    assert isinstance(run, Run) and run.status is RunStatus.RUNNING
    assert run.params == {"lr": "0.1", "deep": "True"} and run.tags == {"team": "a"}
    assert c.resolve_run_id(run.id[:8]) == run.id
    c.log_param(run.id, "model", "lgbm")
    c.log_params(run.id, {"depth": 3})
    c.set_tag(run.id, "stage", "dev")
    c.set_tags(run.id, {"owner": "me", "tmp": 1})
    c.delete_tag(run.id, "tmp")
    got = c.get_run(run.id)
    assert got.params == {"lr": "0.1", "deep": "True", "model": "lgbm", "depth": "3"}
    assert got.tags == {"team": "a", "stage": "dev", "owner": "me"}
    ended = c.end_run(run.id, "finished")
    assert ended.status is RunStatus.FINISHED and ended.end_time is not None
    c.delete_run(run.id)
    assert c.get_run(run.id).deleted
    c.restore_run(run.id)
    assert not c.get_run(run.id).deleted
    projects = {p.name: n for p, n in c.list_projects()}
    assert projects["track"] >= 1


def test_metrics_go_in_batches_and_come_back_in_order(client: Side) -> None:
    c = client.client
    run = c.create_run("metrics")
    c.log_metric(run.id, "loss", 1.0, step=0, timestamp=100.0)
    c.log_metrics(run.id, {"loss": 0.5, "acc": 0.8}, step=1, timestamp=101.0)
    batch = [Metric("loss", 1.0 / (s + 2), s + 2, 102.0 + s) for s in range(500)]
    batch.append(Metric("nan", math.nan, 0, 1.0))
    assert c.log_batch(run.id, batch) == 501
    history = c.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(502))
    assert history[1] == Metric("loss", 0.5, 1, 101.0)
    assert math.isnan(c.get_metric_history(run.id, "nan")[0].value)
    latest = c.get_run(run.id).metrics
    assert latest["acc"] == 0.8 and latest["loss"] == pytest.approx(1 / 501)
    # one batch, one transaction, one audit event (the client sent one request)
    events = c.audit_log("run", run.id, action="run.log_metrics", limit=None)
    assert len(events) == 3 and events[0].payload == client.services.audit.log("run", run.id)[0].payload
    assert c.verify_audit().ok


def test_search_with_a_filter(client: Side) -> None:
    c = client.client
    for auc, model in ((0.95, "lgbm"), (0.85, "lgbm"), (0.99, "tree")):
        r = c.create_run("search", params={"model": model})
        c.log_metric(r.id, "auc", auc)
    page = c.search_runs("search", filter="metrics.auc > 0.9 and params.model = 'lgbm'")
    assert [r.metrics["auc"] for r in page.runs] == [0.95] and page.next_page_token is None
    ordered = c.search_runs(["search"], order_by=["metrics.auc DESC"], max_results=2)
    assert [r.metrics["auc"] for r in ordered.runs] == [0.99, 0.95] and ordered.next_page_token
    rest = c.search_runs(["search"], order_by=["metrics.auc DESC"], page_token=ordered.next_page_token)
    assert [r.metrics["auc"] for r in rest.runs] == [0.85]


def test_artifacts_round_trip(client: Side, tmp_path: Path) -> None:
    c = client.client
    run = c.create_run("arts")
    one = tmp_path / "model.txt"
    one.write_text("weights")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "sub" / "b.txt").write_text("b" * 3_000_000)
    seen: list[int] = []
    assert [a.path for a in c.log_artifact(run.id, one, progress=seen.append)] == ["model.txt"]
    assert sum(seen) == len("weights")
    assert [a.path for a in c.log_artifact(run.id, one, "renamed.txt")] == ["renamed.txt"]
    assert [a.path for a in c.log_artifact(run.id, one, "docs/")] == ["docs/model.txt"]
    assert sorted(a.path for a in c.log_artifact(run.id, folder)) == ["plots/a.csv", "plots/sub/b.txt"]
    listed = {a.path: a for a in c.list_artifacts(run.id)}
    assert set(listed) == {"model.txt", "renamed.txt", "docs/model.txt", "plots/a.csv", "plots/sub/b.txt"}
    assert listed["plots/sub/b.txt"].size == 3_000_000
    out = tmp_path / "out"
    out.mkdir()
    assert c.download_artifact(run.id, "model.txt", out) == [out / "model.txt"]
    assert (out / "model.txt").read_text() == "weights"
    got = c.download_artifact(run.id, "plots", out / "p")
    assert sorted(p.relative_to(out / "p").as_posix() for p in got) == ["a.csv", "sub/b.txt"]
    assert (out / "p" / "sub" / "b.txt").stat().st_size == 3_000_000
    with pytest.raises(NotFound) as err:
        c.download_artifact(run.id, "nope", out)
    assert err.value.field == "path"


def test_datasets_add_get_list_download_and_inputs(client: Side, tmp_path: Path) -> None:
    c = client.client
    csv = tmp_path / "iris.csv"
    csv.write_text("a,b,label\n1,2.5,x\n3,4.5,y\n5,6.5,x\n")
    v1, created = c.add_dataset(csv, "iris", project="data", description="first")
    assert (
        created
        and isinstance(v1, DatasetVersion)
        and (v1.ref, v1.num_rows, v1.num_columns) == ("iris@1", 3, 3)
    )
    assert [f.name for f in v1.schema] == ["a", "b", "label"] and v1.profile
    again, created = c.add_dataset(csv, "iris")
    assert not created and again.version == 1
    csv.write_text("a,b,label\n1,2.5,x\n")
    v2, created = c.add_dataset(csv, "iris", parent="iris@1")
    assert created and v2.version == 2 and str(v2.parent) == "iris@1" and v2.project == "data"
    got = c.get_dataset("iris@1")
    assert (got.digest, got.description, [p.name for p in got.profile]) == (
        v1.digest,
        "first",
        ["a", "b", "label"],
    )
    assert c.get_dataset("iris").version == 2
    assert [v.version for v in c.dataset_versions("iris")] == [1, 2]
    with pytest.raises(NotFound) as missing:
        c.dataset_versions("unknown")
    assert missing.value.field == "dataset"
    assert "iris@2" in {v.ref for v in c.list_datasets()}
    folder = tmp_path / "dl"
    folder.mkdir()
    path = c.download_dataset("iris@1", folder)
    assert path == folder / "iris-v1.csv" and path.read_text().startswith("a,b,label\n1,2.5,x\n3")
    assert c.download_dataset("iris", tmp_path / "x.csv").read_text() == "a,b,label\n1,2.5,x\n"
    run = c.create_run("data")
    inputs = c.log_inputs(run.id, ["iris@1", "iris"], context="training")
    assert [(i.dataset, i.version) for i in inputs] == [("iris", 1), ("iris", 2)]
    assert c.list_inputs(run.id) == inputs


def test_registry_register_alias_resolve_approve(client: Side) -> None:
    c = client.client
    name = f"clf-{client.kind}"
    v1 = c.register_model(client.trained[:8], name, description="first", tags={"team": "a"})
    assert isinstance(v1, ModelVersion) and (v1.name, v1.version, v1.run_id) == (name, 1, client.trained)
    assert v1.signature.inputs and v1.tags == {"team": "a"}
    v2 = c.register_model(client.trained, name, derived_from=1)
    assert v2.version == 2 and v2.derived_from == 1
    assert c.set_model_alias(name, "staging", 1, reason="try") is None
    assert c.set_model_alias(name, "staging", 2) == 1
    assert c.get_model_version(f"{name}@staging").version == 2
    assert c.get_model_version(f"{name}/1").version == 1
    assert c.get_model_version(name).version == 2
    assert c.get_model_version(name, 1).description == "first"
    model = c.get_model(name)
    assert model.aliases == {"staging": 2} and model.latest_version == 2 and model.project == "demo"
    assert name in {m.name for m in c.list_models("demo")}
    assert [v.version for v in c.model_versions(name)] == [1, 2]
    approval = c.approve(name, 2, "production", comment="ok")
    assert (approval.version, approval.alias, approval.comment) == (2, "production", "ok")
    assert c.delete_model_alias(name, "staging") == 2
    with pytest.raises(NotFound):
        c.get_model_version(f"{name}@staging")


def test_errors_are_the_same_classes(client: Side) -> None:
    c = client.client
    with pytest.raises(NotFound) as nf:
        c.get_run("0" * 32)
    assert nf.value.field == "run_id"
    c.create_project("dup")
    with pytest.raises(AlreadyExists) as ae:
        c.create_project("dup")
    assert ae.value.field == "project"
    with pytest.raises(InvalidInput) as ii:
        c.create_project("no spaces")
    assert ii.value.field == "project"
    with pytest.raises(InvalidInput) as bad_filter:
        c.search_runs("dup", filter="metrics.auc >")
    assert bad_filter.value.field == "filter"
    run = c.create_run("dup", params={"a": 1})
    with pytest.raises(Conflict):
        c.log_param(run.id, "a", 2)
    with pytest.raises(NotFound):
        c.get_dataset("missing@1")
    with pytest.raises(NotFound):
        c.get_model("missing")


def test_remote_only_behaviours(tmp_path: Path) -> None:
    services = open_services(str(tmp_path / "ws"))
    services.auth.add_user("alice", {"*": "admin"})
    token = services.auth.create_token("alice", "tests")[0]
    server = serve_api_in_thread(create_api_app(services, require_auth=True, max_body_bytes=1 << 20))
    try:
        with Client(server.url, token="not-a-token") as bad, pytest.raises(Unauthenticated) as err:
            bad.list_projects()
        assert err.value.field in ("token", "authorization")
        with Client(server.url) as anonymous, pytest.raises(Unauthenticated):
            anonymous.create_run("p")
        with Client(server.url, token=token) as good:
            assert good.create_run("p").project == "p"
            assert good.audit_log(action="run.create")[0].actor == "alice"
            with pytest.raises(InvalidInput) as local_only:
                _ = good.services
            assert "local workspace" in str(local_only.value) and local_only.value.field == "uri"
    finally:
        server.stop()
        services.close()


def test_the_token_comes_from_carnet_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = open_services(str(tmp_path / "ws"))
    services.auth.add_user("bob", {"*": "admin"})
    monkeypatch.setenv("CARNET_TOKEN", services.auth.create_token("bob", "tests")[0])
    server = serve_api_in_thread(create_api_app(services, require_auth=True, max_body_bytes=1 << 20))
    try:
        with RemoteClient(server.url + "/api/v1/") as c:
            assert c.create_project("viaenv").name == "viaenv"
    finally:
        server.stop()
        services.close()


def test_the_fluent_api_works_the_same(client: Side) -> None:
    import carnet

    with carnet.start_run(project="demo", name=f"fluent-{client.kind}", uri=client.client.uri) as run:
        run.log_params({"lr": 0.1, "layers": 3})
        for step in range(250):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_text("hello", "notes/hello.txt")
        run_id = run.id
    stored = client.services.tracking.get_run(run_id)
    assert stored.status.value == "finished" and stored.params == {"lr": "0.1", "layers": "3"}
    history = client.services.tracking.metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(250))
    assert {a.path for a in client.services.tracking.list_artifacts(run_id)} >= {"notes/hello.txt"}


def test_the_whole_audit_ledger_comes_back_in_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import carnet.client.remote as remote_module

    services = open_services(str(tmp_path / "ws"))
    for i in range(7):
        services.tracking.create_run("paged", f"r{i}")
    server = serve_api_in_thread(create_api_app(services, require_auth=False, max_body_bytes=1 << 20))
    monkeypatch.setattr(remote_module, "_MAX_EVENTS", 3)  # pages of 3 events
    try:
        with Client(server.url) as c:
            everything = [e.seq for e in services.audit.log(limit=None)]
            assert len(everything) > 7
            assert [e.seq for e in c.audit_log(limit=None)] == everything
            assert [e.seq for e in c.audit_log(limit=0)] == everything
            assert [e.seq for e in c.audit_log(limit=5)] == everything[:5]
            runs = [e.seq for e in c.audit_log(action="run.create", limit=None)]
            assert runs == [e.seq for e in services.audit.log(action="run.create", limit=None)]
            assert len(runs) == 7
    finally:
        server.stop()
        services.close()


def test_a_listed_path_that_climbs_out_is_refused_before_any_download(tmp_path: Path) -> None:
    from carnet.domain import Artifact

    services = open_services(str(tmp_path / "ws"))
    run = services.tracking.create_run("p", "planted")
    info = services.ctx.artifacts.put_bytes(b"planted")
    services.tracking.record_artifacts(run.id, [Artifact("docs/a.txt", info.digest, info.size)])
    # a record no API accepts, planted straight in the store: the client must not follow it
    services.tracking.record_artifacts(run.id, [Artifact("docs/../../evil.txt", info.digest, info.size)])
    server = serve_api_in_thread(create_api_app(services, require_auth=False, max_body_bytes=1 << 20))
    dest = tmp_path / "out" / "inner"
    dest.mkdir(parents=True)
    try:
        with Client(server.url) as c, pytest.raises(ArtifactCorrupted, match="not a plain relative path"):
            c.download_artifact(run.id, "docs", dest)
    finally:
        server.stop()
        services.close()
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert list(dest.rglob("*")) == []
