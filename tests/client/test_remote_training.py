"""Training, search, evaluation, reproduction and AutoML through the SDK on a local workspace and
against ``carnet server`` (real uvicorn on 127.0.0.1): the work runs on the server, progress arrives
as it would locally, results have the same types and values, errors the same classes."""

from __future__ import annotations

import json
import math
import os
import platform
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from carnet.bootstrap import open_services
from carnet.client import Client, LocalClient, RemoteClient
from carnet.client.wire_training import read_events
from carnet.config import resolve_settings
from carnet.errors import InvalidInput, NotFound, PermissionDenied, StorageError
from carnet.evaluation import EvaluationResult
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.server.api.app import ApiServer
from carnet.server.api.training import TrainingSlots, configure
from carnet.services import Services, TrainOutcome

SPEC = """
dataset: cancer@1
task: binary
target: target
split: {kind: stratified_kfold, folds: 3}
model: {name: logistic_regression, params: {C: 1.0, max_iter: 500}}
preprocess: {scale: standard}
seed: 3
project: demo
"""
#: a multiclass spec on a CSV file of the caller's machine (named ``flowers``)
FILE_SPEC = """
dataset: {path}
task: multiclass
target: target
model: {{name: logistic_regression, params: {{max_iter: 500}}}}
preprocess: {{scale: standard}}
seed: 1
project: garden
"""
SEARCH = {
    "dataset": "cancer@1",
    "task": "binary",
    "target": "target",
    "model": {"name": "logistic_regression", "params": {"max_iter": 500}},
    "preprocess": {"scale": "standard"},
    "search": {"space": {"C": [0.1, 1.0]}, "n_trials": 2, "sampler": "random", "pruner": "none"},
    "seed": 5,
    "project": "demo",
}


@dataclass
class Side:
    """One way to reach a workspace: ``client`` is local or remote over ``services``' workspace."""

    kind: str
    client: Any
    services: Services
    tmp: Path
    server: ApiServer | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/api/v1"


def _data(tmp: Path) -> tuple[Path, Path]:
    from sklearn.datasets import load_breast_cancer, load_iris

    cancer, flowers = tmp / "cancer.csv", tmp / "flowers.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(cancer, index=False)
    load_iris(as_frame=True).frame.to_csv(flowers, index=False)
    return cancer, flowers


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Side]]:
    """A local workspace and a served one, each with the dataset ``cancer@1`` in project demo."""
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("CARNET_") and key != "CARNET_TEST_POSTGRES_URL":
                mp.delenv(key, raising=False)
        out: dict[str, Side] = {}
        for kind in ("local", "remote"):
            tmp = tmp_path_factory.mktemp(kind)
            settings = resolve_settings(str(tmp / "ws"), env={"CARNET_ACTOR": "tester"}, cwd=tmp)
            cancer, _ = _data(tmp)
            if kind == "local":
                local = Client(settings)
                local.add_dataset(cancer, "cancer", project="demo")
                out[kind] = Side(kind, local, local.services, tmp)
                continue
            services = open_services(settings)
            services.datasets.add(cancer, "cancer", project="demo")
            server = serve_api_in_thread(create_api_app(services, require_auth=False, max_body_bytes=1 << 24))
            out[kind] = Side(kind, Client(server.url), services, tmp, server)
        try:
            yield out
        finally:
            for s in out.values():
                s.client.close()
                if s.server is not None:
                    s.server.stop()
                    s.services.close()


@pytest.fixture(params=["local", "remote"])
def side(request: pytest.FixtureRequest, sides: dict[str, Side]) -> Side:
    return sides[request.param]


def _trained(s: Side) -> tuple[TrainOutcome, list[tuple[str, int, int]]]:
    """The SPEC trained once per side (with the progress it reported)."""
    if "trained" not in s.cache:
        events: list[tuple[str, int, int]] = []
        s.cache["trained"] = (s.client.train(SPEC, progress=lambda *e: events.append(e)), events)
    return s.cache["trained"]


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _same_numbers(a: dict[str, float], b: dict[str, float]) -> None:
    assert set(a) == set(b)
    different = {k: (a[k], b[k]) for k in a if not _close(a[k], b[k])}
    assert not different, different


# -- train -----------------------------------------------------------------------------------------
def test_the_remote_client_trains_on_the_server(sides: dict[str, Side]) -> None:
    assert isinstance(sides["local"].client, LocalClient)
    assert isinstance(sides["remote"].client, RemoteClient)
    remote = sides["remote"]
    outcome, _ = _trained(remote)
    # the run is in the server's workspace: the remote client has no workspace of its own
    assert remote.services.tracking.get_run(outcome.run_id).project == "demo"


def test_train_gives_the_same_outcome_locally_and_remotely(sides: dict[str, Side]) -> None:
    (local, local_events), (remote, remote_events) = _trained(sides["local"]), _trained(sides["remote"])
    for outcome in (local, remote):
        assert isinstance(outcome, TrainOutcome) and isinstance(outcome.evaluation, EvaluationResult)
    _same_numbers(local.metrics, remote.metrics)
    _same_numbers(local.cv, remote.cv)
    assert set(local.cv) >= {"cv_roc_auc_mean", "cv_roc_auc_std"}
    assert set(local.intervals) == set(remote.intervals)
    for name, (low, high) in local.intervals.items():
        assert isinstance(remote.intervals[name], tuple)
        assert _close(low, remote.intervals[name][0]) and _close(high, remote.intervals[name][1])
    assert local.spec == remote.spec and remote.spec.dataset == "cancer@1"
    _same_numbers(local.evaluation.metrics, remote.evaluation.metrics)
    assert (local.evaluation.family, local.evaluation.n) == (remote.evaluation.family, remote.evaluation.n)
    assert [p.name for p in local.evaluation.plots] == [p.name for p in remote.evaluation.plots]
    assert all(p.png.startswith(b"\x89PNG") for p in remote.evaluation.plots)
    assert remote.evaluation.plot("roc") is not None and remote.evaluation.plot("roc").data
    # the fitted model stays with the run on the server
    assert local.fitted is not None and remote.fitted is None
    # progress: the same (stage, done, total) calls, in the same order
    assert remote_events == local_events
    assert ("fold", 3, 3) in remote_events and remote_events[-1] == ("refit", 1, 1)


def test_train_leaves_the_same_run_record(sides: dict[str, Side]) -> None:
    records = {}
    for kind, s in sides.items():
        run_id = _trained(s)[0].run_id
        run = s.client.get_run(run_id)
        inputs = [(i.dataset, i.version, i.digest, i.context) for i in s.client.list_inputs(run_id)]
        artifacts = sorted(a.path for a in s.client.list_artifacts(run_id))
        records[kind] = (run, inputs, artifacts)
    (local, local_inputs, local_artifacts), (remote, remote_inputs, remote_artifacts) = records.values()
    assert remote.status.value == "finished" and remote.project == local.project == "demo"
    assert remote.params == local.params and remote.tags == local.tags
    timed = {"fit_seconds"}
    _same_numbers(
        {k: v for k, v in local.metrics.items() if k not in timed},
        {k: v for k, v in remote.metrics.items() if k not in timed},
    )
    assert remote_inputs == local_inputs and remote_artifacts == local_artifacts
    assert {"model/model.skops", "spec.yaml", "reports/evaluation.html"} <= set(remote_artifacts)
    # the environment recorded is the caller's, as on a local workspace
    assert remote.environment["python"] == platform.python_version()
    assert set(remote.environment) == set(local.environment)


def test_a_spec_naming_a_local_file_uploads_it_first(side: Side) -> None:
    from sklearn.datasets import load_iris

    from carnet.domain import DatasetVersion

    path = side.tmp / "flowers.csv"
    if not path.exists():
        load_iris(as_frame=True).frame.to_csv(path, index=False)
    outcome = side.client.train(FILE_SPEC.format(path=path))
    assert isinstance(outcome, TrainOutcome) and outcome.spec.dataset == "flowers@1"
    version = side.client.get_dataset("flowers@1")
    assert isinstance(version, DatasetVersion) and (version.num_rows, version.project) == (150, "garden")
    assert outcome.metrics["accuracy"] > 0.8
    inputs = side.client.list_inputs(outcome.run_id)
    assert [(i.dataset, i.version) for i in inputs] == [("flowers", 1)]
    # the same file again is the same version, not a new one
    again = side.client.train(FILE_SPEC.format(path=path).replace("seed: 1", "seed: 2"))
    assert again.spec.dataset == "flowers@1" and len(side.client.dataset_versions("flowers")) == 1


def test_a_search_spec_runs_its_trials_where_the_data_is(sides: dict[str, Side]) -> None:
    results = {}
    for kind, s in sides.items():
        events: list[tuple[str, int, int]] = []
        results[kind] = (s.client.train(dict(SEARCH), progress=lambda *e, ev=events: ev.append(e)), events)
    (local, local_events), (remote, remote_events) = results["local"], results["remote"]
    assert isinstance(remote, dict) and set(remote) == set(local)
    assert remote["trials"] == local["trials"] == 2
    assert remote["best_params"] == local["best_params"] and remote["best_trial"] == local["best_trial"]
    assert _close(remote["best_value"], local["best_value"])
    assert (remote["metric"], remote["direction"]) == (local["metric"], local["direction"])
    assert ("search", 2, 2) in remote_events and remote_events == local_events
    client = sides["remote"].client
    best = client.get_run(remote["best_run"])
    assert remote["run_id"] == remote["best_run"] and [r["rank"] for r in remote["leaderboard"]] == [1, 2]
    assert best.parent_id == remote["parent_run_id"] and best.tags["best_trial"] == str(remote["best_trial"])
    parent = client.get_run(remote["parent_run_id"])
    assert parent.tags["kind"] == "search" and parent.environment.get("seed") == 5


# -- evaluate and reproduce ------------------------------------------------------------------------
def test_evaluate_scores_a_trained_run_the_same_way(sides: dict[str, Side]) -> None:
    results = {}
    for kind, s in sides.items():
        events: list[tuple[str, int, int]] = []
        run_id = _trained(s)[0].run_id
        results[kind] = (
            s.client.evaluate(run_id, "cancer@1", progress=lambda *e, ev=events: ev.append(e)),
            events,
        )
    (local, local_events), (remote, remote_events) = results["local"], results["remote"]
    assert isinstance(remote, TrainOutcome) and isinstance(remote.evaluation, EvaluationResult)
    _same_numbers(local.metrics, remote.metrics)
    assert remote.cv == {} and remote.spec == local.spec and remote.spec.dataset == "cancer@1"
    assert remote_events == local_events == [("predict", 0, 1), ("predict", 1, 1)]
    run = sides["remote"].client.get_run(remote.run_id)
    assert run.tags["kind"] == "evaluation" and run.tags["evaluates"] == _trained(sides["remote"])[0].run_id


def test_reproduce_reruns_the_training_and_finds_the_same_metrics(side: Side) -> None:
    original = _trained(side)[0]
    result = side.client.reproduce(original.run_id)
    assert set(result) == {"run_id", "new_run_id", "metrics", "differing", "warnings"}
    assert result["run_id"] == original.run_id and result["differing"] == []
    assert result["warnings"] == []
    assert set(result["metrics"]) >= {"roc_auc", "accuracy"}
    old, new = result["metrics"]["roc_auc"]
    assert _close(old, new) and _close(old, original.metrics["roc_auc"])
    again = side.client.get_run(result["new_run_id"])
    assert again.tags["reproduces"] == original.run_id and again.tags["reproduced"] == "identical"


# -- AutoML ----------------------------------------------------------------------------------------
def test_automl_with_a_small_budget(side: Side) -> None:
    path = side.tmp / "flowers.csv"
    if not path.exists():
        from sklearn.datasets import load_iris

        load_iris(as_frame=True).frame.to_csv(path, index=False)
    stages: set[str] = set()
    result = side.client.automl(
        str(path),
        target="target",
        time_budget=60,
        max_trials=4,
        project="garden",
        seed=0,
        progress=lambda stage, _d, _t: stages.add(stage),
    )
    assert set(result) == {
        "run_id",
        "parent_run_id",
        "metric",
        "direction",
        "leaderboard",
        "best",
        "baseline",
        "elapsed",
        "test_metrics",
    }
    assert "automl" in stages
    assert result["best"]["value"] >= result["baseline"]["value"]
    assert result["leaderboard"][0]["rank"] == 1
    assert all(isinstance(v, float) for v in result["test_metrics"].values())
    best = side.client.get_run(result["run_id"])
    assert best.parent_id == result["parent_run_id"] and best.project == "garden"
    assert side.client.get_run(result["parent_run_id"]).tags["kind"] == "automl"
    with pytest.raises(InvalidInput) as err:
        side.client.automl("flowers@1", target="target", time_budget=0)
    assert err.value.field == "time_budget"


# -- mistakes and failures -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "error", "field_"),
    [
        ({"split": {"kind": "kfold", "folds": 1}}, InvalidInput, "split.folds"),
        ({"modle": "ridge"}, InvalidInput, "modle"),
        ({"dataset": "nope@1"}, NotFound, None),
        ({"task": "no_such_task"}, NotFound, None),
        ({"target": "nope"}, InvalidInput, "target"),  # found once the data is read: mid-stream
        ({"model": {"name": "no_such_model"}}, InvalidInput, "model.name"),
    ],
)
def test_a_bad_training_request_raises_the_same_error(
    sides: dict[str, Side], change: dict[str, Any], error: type[Exception], field_: str | None
) -> None:
    spec = {**SEARCH, **change}
    del spec["search"]
    raised = {}
    for kind, s in sides.items():
        with pytest.raises(error) as err:
            s.client.train(spec)
        raised[kind] = err.value
    local, remote = raised["local"], raised["remote"]
    assert type(remote) is type(local) and remote.field == local.field
    if field_ is not None:
        assert remote.field == field_


def test_unknown_runs_and_datasets_are_not_found(side: Side) -> None:
    run_id = _trained(side)[0].run_id
    with pytest.raises(NotFound):
        side.client.evaluate("0" * 32, "cancer@1")
    with pytest.raises(NotFound):
        side.client.reproduce("0" * 32)
    with pytest.raises(NotFound):
        side.client.evaluate(run_id, "cancer@9")
    with pytest.raises(NotFound):
        side.client.automl("nothing@1", target="target")


def test_errors_found_while_training_come_back_as_their_class(side: Side) -> None:
    plain = side.client.create_run("demo", "no-model")
    side.client.end_run(plain.id)
    with pytest.raises(InvalidInput) as no_model:
        side.client.evaluate(plain.id, "cancer@1")
    assert no_model.value.field == "run_id" and "no stored model" in str(no_model.value)
    with pytest.raises(InvalidInput) as no_spec:
        side.client.reproduce(plain.id)
    assert no_spec.value.field == "run_id"
    with pytest.raises(InvalidInput) as no_target:
        side.client.automl("cancer@1", target="nope", project="demo", time_budget=5)
    assert no_target.value.field == "target"


def _lines(r: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def test_the_stream_on_the_wire(sides: dict[str, Side]) -> None:
    remote = sides["remote"]
    spec = {k: v for k, v in SEARCH.items() if k != "search"}
    with httpx.Client(base_url=remote.api, timeout=120) as http:
        ok = http.post("/train", json={"spec": {**spec, "split": "holdout"}})
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("application/x-ndjson")
        events = _lines(ok)
        assert events[0] == {"event": "started"}
        assert {"event": "progress", "stage": "fold", "done": 1, "total": 1} in events
        assert events[-1]["event"] == "result" and events[-1]["kind"] == "outcome"
        fields = {"run_id", "metrics", "intervals", "cv", "spec", "evaluation", "warnings"}
        assert set(events[-1]["result"]) == fields
        # found after the answer started: 200, then an error event with the problem document
        late = http.post("/train", json={"spec": {**spec, "target": "nope"}})
        assert late.status_code == 200
        last = _lines(late)[-1]
        assert last["event"] == "error"
        problem = last["problem"]
        assert (problem["status"], problem["error"], problem["field"]) == (422, "InvalidInput", "target")
        assert problem["instance"] == "/api/v1/train"
        # found before: a plain problem+json answer
        for body, status, field_ in (
            ({"spec": {**spec, "split": {"kind": "kfold", "folds": 1}}}, 422, "split.folds"),
            ({"spec": {**spec, "dataset": "nope@1"}}, 404, "dataset"),
            ({"spec": spec, "jobs": 0}, 422, "jobs"),
            ({"spec": spec, "environment": {"packages": {"a": {"deep": 1}}}}, 422, "environment"),
            ({"spec": spec, "environment": {"cwd": "x" * 5000}}, 422, "environment"),
            ({"spec": spec, "unknown": 1}, 422, "unknown"),
        ):
            r = http.post("/train", json=body)
            assert r.status_code == status, (body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["field"] == field_, r.json()
        # a file of the server is never read: only dataset versions are
        cancer = remote.tmp / "cancer.csv"
        for data in (str(cancer), "/etc/hosts"):
            r = http.post("/train", json={"spec": {**spec, "dataset": data}})
            assert r.status_code in (404, 422) and r.json()["field"] == "dataset", r.text
            r = http.post("/automl", json={"data": data, "target": "target"})
            assert r.status_code in (404, 422) and r.json()["field"] == "data", r.text
        assert [v.name for v in remote.services.datasets.list()].count("cancer") == 1
        r = http.post(f"/runs/{'0' * 32}/evaluate", json={"data": "cancer@1"})
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
        # the problem names the request's own field
        r = http.post("/automl", json={"data": "nope@1", "target": "target"})
        assert r.status_code == 404 and r.json()["field"] == "data", r.text
        run_id = _trained(remote)[0].run_id
        r = http.post(f"/runs/{run_id}/evaluate", json={"data": "cancer@7"})
        assert r.status_code == 404 and r.json()["field"] == "data", r.text


def test_read_events_skips_heartbeats_and_reports_the_queue() -> None:
    calls: list[tuple[str, int, int]] = []
    lines = [
        '{"event":"queued"}',
        '{"event":"queued"}',
        "",
        '{"event":"started"}',
        '{"event":"heartbeat"}',
        '{"event":"progress","stage":"fold","done":1,"total":2}',
        '{"event":"something-new"}',
        '{"event":"result","kind":"search","result":{"trials":2}}',
    ]
    assert read_events(lines, lambda *e: calls.append(e)) == ("search", {"trials": 2})
    assert calls == [("queued", 0, 1), ("queued", 1, 1), ("fold", 1, 2)]
    problem = {"status": 409, "error": "Conflict", "detail": "taken", "field": "name"}
    with pytest.raises(Exception) as err:
        read_events(['{"event":"started"}', json.dumps({"event": "error", "problem": problem})])
    assert type(err.value).__name__ == "Conflict" and err.value.field == "name"
    with pytest.raises(StorageError):
        read_events(['{"event":"started"}', '{"event":"progress","stage":"fold","done":1,"total":2}'])


# -- the training slots ----------------------------------------------------------------------------
def test_a_training_waits_for_a_free_slot(sides: dict[str, Side]) -> None:
    remote = sides["remote"]
    assert remote.server is not None
    slots: TrainingSlots = remote.server.app.state.training
    assert slots.slots == 1
    queued = threading.Event()
    calls: list[tuple[str, int, int]] = []
    result: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        calls.append((stage, done, total))
        if stage == "queued":
            queued.set()

    def call() -> None:
        try:
            result["outcome"] = remote.client.evaluate(
                _trained(remote)[0].run_id, "cancer@1", progress=progress
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            result["error"] = exc
            queued.set()

    assert slots.semaphore.acquire(timeout=120)  # every slot is taken
    worker = threading.Thread(target=call)
    try:
        worker.start()
        assert queued.wait(timeout=120) and "error" not in result, result
        assert calls == [("queued", 0, 1)]
    finally:
        slots.semaphore.release()
    worker.join(timeout=300)
    assert isinstance(result.get("outcome"), TrainOutcome), result
    assert calls == [("queued", 0, 1), ("queued", 1, 1), ("predict", 0, 1), ("predict", 1, 1)]


def test_a_disconnected_client_gives_up_its_place(tmp_path: Path) -> None:
    services = open_services(str(tmp_path / "ws"))
    cancer, _ = _data(tmp_path)
    services.datasets.add(cancer, "cancer", project="demo")
    app = create_api_app(services, require_auth=False)
    slots = configure(app, slots=1, heartbeat=0.05)
    spec = {k: v for k, v in SEARCH.items() if k != "search"}
    server = serve_api_in_thread(app)
    try:
        assert slots.semaphore.acquire(timeout=60)
        try:
            with (
                httpx.Client(base_url=f"{server.url}/api/v1", timeout=60) as http,
                http.stream("POST", "/train", json={"spec": spec}) as r,
            ):
                lines = r.iter_lines()
                assert json.loads(next(lines)) == {"event": "queued"}
                # while it waits, the keep-alive lines say it is still queued
                assert json.loads(next(lines)) == {"event": "queued"}
            # the connection is closed: the waiting training gives up without starting
            _wait_for(lambda: not any(t.name == "carnet-training" for t in threading.enumerate()))
        finally:
            slots.semaphore.release()
        assert services.tracking.search_runs("demo").runs == []
        assert slots.semaphore.acquire(timeout=60)  # nothing holds a slot any more
        slots.semaphore.release()
    finally:
        server.stop()
        services.close()


def _wait_for(condition: Any, limit: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "the condition never became true"
        time.sleep(0.02)


def test_the_number_of_slots_is_a_server_option(tmp_path: Path) -> None:
    services = open_services(str(tmp_path / "ws"))
    try:
        assert create_api_app(services, require_auth=False, training_slots=3).state.training.slots == 3
        for bad in (0, -1):
            with pytest.raises(InvalidInput) as err:
                create_api_app(services, require_auth=False, training_slots=bad)
            assert err.value.field == "training_slots"
    finally:
        services.close()


# -- roles -----------------------------------------------------------------------------------------
def test_roles_with_authentication_on(tmp_path: Path) -> None:
    services = open_services(str(tmp_path / "ws"))
    cancer, flowers = _data(tmp_path)
    services.datasets.add(cancer, "cancer", project="demo")
    services.datasets.add(flowers, "secret", project="vault")
    users = {"viewer": {"demo": "viewer"}, "editor": {"demo": "editor"}}
    tokens = {}
    for user, roles in users.items():
        services.auth.add_user(user, roles)
        tokens[user] = services.auth.create_token(user, "tests")[0]
    server = serve_api_in_thread(create_api_app(services, require_auth=True))
    spec = {k: v for k, v in SEARCH.items() if k != "search"}
    try:
        with Client(server.url, token=tokens["viewer"]) as viewer:
            with pytest.raises(PermissionDenied) as denied:
                viewer.train(spec)
            assert denied.value.field == "project" and "editor" in str(denied.value)
            with pytest.raises(PermissionDenied):
                viewer.automl("cancer@1", target="target", project="demo")
        with Client(server.url, token=tokens["editor"]) as editor:
            # training in a project of one's own on data one may not read is refused
            with pytest.raises(PermissionDenied) as hidden:
                editor.train({**spec, "dataset": "secret@1", "task": "multiclass"})
            assert "viewer" in str(hidden.value) and "vault" in str(hidden.value)
            outcome = editor.train({**spec, "split": "holdout"})
            assert isinstance(outcome, TrainOutcome)
            with Client(server.url, token=tokens["viewer"]) as viewer, pytest.raises(PermissionDenied):
                viewer.reproduce(outcome.run_id)
            created = services.audit.log("run", outcome.run_id, action="run.create")
            assert created and created[0].actor == "editor"
    finally:
        server.stop()
        services.close()


RL_SPEC = {
    "task": "rl",
    "task_options": {
        "env": "CartPole-v1",
        "total_timesteps": 1024,
        "eval_episodes": 2,
        "eval_seeds": [0, 1],
        "eval_every": 512,
    },
    "model": {"name": "ppo", "params": {"n_steps": 256, "batch_size": 64}},
    "seed": 2,
    "project": "agents",
}


def test_an_agent_trains_alike_through_a_server_and_is_stressed_there(sides: dict[str, Side]) -> None:
    local, remote = sides["local"].client, sides["remote"].client
    events: list[tuple[str, int, int]] = []
    here = local.train(RL_SPEC)
    there = remote.train(RL_SPEC, progress=lambda *e: events.append(e))
    _same_numbers(here.metrics, there.metrics)  # the same seeds: the same episodes
    assert isinstance(there.evaluation, EvaluationResult) and there.evaluation.family == "rl"
    assert there.evaluation.plot("learning_curve") is not None and there.intervals["mean_return"]
    assert ("learn", 1024, 1024) in events and any(stage == "evaluate" for stage, _, _ in events)
    version = remote.register_model(there.run_id, "agent")
    assert version.signature.spaces["action"]["n"] == 2
    result = remote.stress(
        "agent/1", "", scenarios=[{"type": "observation_noise", "scale": 0.01, "max_degradation": 1000}]
    )
    assert result["passed"] and result["scenarios"][0]["value"] is not None
    with pytest.raises(InvalidInput, match=r"task_options\.env"):
        remote.train({**RL_SPEC, "task_options": {"total_timesteps": 10}})
