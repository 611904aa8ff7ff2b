"""Tracking through carnet.Client on SQLite and PostgreSQL, in-process and through a live carnet
server: runs, params, metrics, artifacts, inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from carnet import Client, Metric, RunStatus
from carnet.domain import Run
from carnet.errors import Conflict, InvalidInput, NotFound

pytestmark = pytest.mark.served  # also through a live carnet server (remote-* workspaces)


def _run(client: Client, project: str = "proj", name: str | None = None, **kwargs: object) -> Run:
    return client.create_run(project, name, **kwargs)


# -- lifecycle -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED])
def test_run_lifecycle(client: Client, status: RunStatus) -> None:
    run = _run(client, name="first", params={"lr": 0.1}, tags={"team": "a"})
    assert run.status is RunStatus.RUNNING
    assert run.name == "first"
    stored = client.get_run(run.id)
    assert stored.status is RunStatus.RUNNING
    assert stored.end_time is None
    assert stored.params == {"lr": "0.1"}
    assert stored.tags == {"team": "a"}
    assert stored.project == "proj"

    ended = client.end_run(run.id, status, error="boom" if status is RunStatus.FAILED else None)
    assert ended.status is status
    stored = client.get_run(run.id)
    assert stored.status is status
    assert stored.end_time is not None
    assert stored.end_time >= stored.start_time
    assert stored.duration is not None and stored.duration >= 0
    assert stored.error == ("boom" if status is RunStatus.FAILED else None)


def test_a_run_is_got_by_its_full_id_and_found_by_a_prefix(client: Client) -> None:
    run = _run(client, environment={"python": "3.11", "odd": {1}})
    assert client.resolve_run_id(run.id[:8]) == run.id
    assert client.resolve_run_id(run.id[:8].upper()) == run.id
    with pytest.raises(NotFound) as info:
        client.get_run(run.id[:8])  # a prefix is for resolve_run_id, not get_run
    assert info.value.field == "run_id"
    with pytest.raises(NotFound):
        client.resolve_run_id("abc")
    # the environment is stored as JSON: what JSON lacks is kept as text
    assert client.get_run(run.id).environment == {"python": "3.11", "odd": "{1}"}


def test_run_gets_a_default_name_and_unique_id(client: Client) -> None:
    a, b = _run(client), _run(client)
    assert a.id != b.id
    assert a.name and b.name and a.name != b.name


def test_status_given_as_string(client: Client) -> None:
    run = _run(client)
    client.end_run(run.id, "killed")
    assert client.get_run(run.id).status is RunStatus.KILLED


def test_ending_twice_with_same_status_is_a_noop(client: Client) -> None:
    run = _run(client)
    first = client.end_run(run.id)
    end_time = client.get_run(run.id).end_time
    again = client.end_run(run.id, RunStatus.FINISHED)
    assert again.status is first.status is RunStatus.FINISHED
    assert client.get_run(run.id).end_time == end_time


def test_changing_a_finished_run_is_a_conflict(client: Client, tmp_path: Path) -> None:
    run = _run(client, params={"a": 1})
    client.end_run(run.id)
    with pytest.raises(Conflict):
        client.end_run(run.id, RunStatus.FAILED)
    with pytest.raises(Conflict):
        client.log_param(run.id, "b", 2)
    with pytest.raises(Conflict):
        client.log_metric(run.id, "m", 1.0)
    f = tmp_path / "f.txt"
    f.write_text("x")
    with pytest.raises(Conflict):
        client.log_artifact(run.id, f)
    stored = client.get_run(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.params == {"a": "1"}
    assert stored.metrics == {}
    assert client.list_artifacts(run.id) == []
    # tags are notes: they may still change after the end
    client.set_tag(run.id, "note", "reviewed")
    assert client.get_run(run.id).tags == {"note": "reviewed"}


def test_end_with_running_status_is_invalid(client: Client) -> None:
    run = _run(client)
    with pytest.raises(InvalidInput):
        client.end_run(run.id, RunStatus.RUNNING)
    assert client.get_run(run.id).status is RunStatus.RUNNING


# -- parents and children ---------------------------------------------------------------------------


def test_parent_and_child_runs(client: Client) -> None:
    parent = _run(client)
    kids = [_run(client, parent_id=parent.id) for _ in range(3)]
    assert sorted(client.child_runs(parent.id)) == sorted(k.id for k in kids)
    assert client.get_run(kids[0].id).parent_id == parent.id
    assert client.child_runs(kids[0].id) == []
    grandchild = _run(client, parent_id=kids[0].id)
    assert client.child_runs(kids[0].id) == [grandchild.id]
    assert grandchild.id not in client.child_runs(parent.id)


def test_parent_in_another_project_is_invalid(client: Client) -> None:
    parent = _run(client, project="one")
    with pytest.raises(InvalidInput) as info:
        _run(client, project="two", parent_id=parent.id)
    assert info.value.field == "parent_id"
    assert client.child_runs(parent.id) == []


def test_unknown_parent_is_not_found(client: Client) -> None:
    with pytest.raises(NotFound):
        _run(client, parent_id="0" * 32)


# -- params and tags --------------------------------------------------------------------------------


def test_params_are_immutable(client: Client) -> None:
    run = _run(client, params={"lr": 0.1})
    client.log_params(run.id, {"lr": 0.1, "depth": 6})  # same value again is fine
    client.log_param(run.id, "depth", "6")
    with pytest.raises(Conflict) as info:
        client.log_param(run.id, "depth", 7)
    assert "depth" in str(info.value)
    assert info.value.field == "params.depth"
    with pytest.raises(Conflict):
        client.log_params(run.id, {"new": "x", "lr": 0.2})  # whole batch rejected
    assert client.get_run(run.id).params == {"lr": "0.1", "depth": "6"}


def test_param_value_too_long_is_invalid(client: Client) -> None:
    run = _run(client)
    client.log_param(run.id, "ok", "x" * 8000)
    with pytest.raises(InvalidInput):
        client.log_param(run.id, "big", "x" * 8001)
    assert set(client.get_run(run.id).params) == {"ok"}


def test_tags_overwrite_and_delete(client: Client) -> None:
    run = _run(client, tags={"team": "a", "stage": "dev"})
    client.set_tag(run.id, "team", "b")
    client.set_tags(run.id, {"stage": "prod", "extra": 3})
    assert client.get_run(run.id).tags == {"team": "b", "stage": "prod", "extra": "3"}
    client.delete_tag(run.id, "extra")
    assert client.get_run(run.id).tags == {"team": "b", "stage": "prod"}
    with pytest.raises(NotFound):
        client.delete_tag(run.id, "extra")


@pytest.mark.parametrize("what", ["param", "metric", "tag"])
def test_key_too_long_is_invalid(client: Client, what: str) -> None:
    run = _run(client)
    ok, bad = "k" * 250, "k" * 251
    log = {
        "param": lambda k: client.log_param(run.id, k, 1),
        "metric": lambda k: client.log_metric(run.id, k, 1.0),
        "tag": lambda k: client.set_tag(run.id, k, 1),
    }[what]
    log(ok)
    with pytest.raises(InvalidInput):
        log(bad)
    with pytest.raises(InvalidInput):
        log("")
    stored = client.get_run(run.id)
    assert set({"param": stored.params, "metric": stored.metrics, "tag": stored.tags}[what]) == {ok}


# -- metrics ---------------------------------------------------------------------------------------


def test_metric_history_with_steps(client: Client) -> None:
    run = _run(client)
    for step in range(50):
        client.log_metrics(
            run.id, {"loss": 1.0 / (step + 1), "acc": step / 50}, step=step, timestamp=1000.0 + step
        )
    client.log_batch(run.id, [Metric("lr", 0.1 * i, i, 5.0) for i in range(200)])
    loss = client.get_metric_history(run.id, "loss")
    assert [m.step for m in loss] == list(range(50))
    assert [m.value for m in loss] == [1.0 / (s + 1) for s in range(50)]
    assert [m.timestamp for m in loss] == [1000.0 + s for s in range(50)]
    assert {m.key for m in loss} == {"loss"}
    assert len(client.get_metric_history(run.id, "lr")) == 200
    assert client.get_metric_history(run.id, "missing") == []
    stored = client.get_run(run.id)
    assert stored.metrics == {"loss": 1.0 / 50, "acc": 49 / 50, "lr": pytest.approx(0.1 * 199)}


def test_many_values_at_one_step_are_all_kept(client: Client) -> None:
    run = _run(client)
    client.log_batch(run.id, [Metric("m", float(i), 0, 10.0 + i) for i in range(10)])
    history = client.get_metric_history(run.id, "m")
    assert [m.value for m in history] == [float(i) for i in range(10)]


def test_latest_value_is_the_highest_step_then_timestamp(client: Client) -> None:
    run = _run(client)
    client.log_metric(run.id, "m", 5.0, step=5, timestamp=100.0)
    client.log_metric(run.id, "m", 3.0, step=3, timestamp=200.0)  # older step, newer time: not latest
    assert client.get_run(run.id).metrics["m"] == 5.0
    client.log_metric(run.id, "m", 6.0, step=5, timestamp=150.0)  # same step, newer time: latest
    assert client.get_run(run.id).metrics["m"] == 6.0
    client.log_metric(run.id, "m", 7.0, step=5, timestamp=120.0)  # same step, older time: not latest
    assert client.get_run(run.id).metrics["m"] == 6.0
    client.log_metric(run.id, "m", 8.0, step=6, timestamp=1.0)  # higher step wins whatever the time
    assert client.get_run(run.id).metrics["m"] == 8.0
    # inside one batch too
    client.log_batch(run.id, [Metric("b", 1.0, 9, 1.0), Metric("b", 2.0, 2, 99.0), Metric("b", 3.0, 9, 0.5)])
    assert client.get_run(run.id).metrics["b"] == 1.0
    assert len(client.get_metric_history(run.id, "m")) == 5


def test_nan_and_infinities_are_stored(client: Client) -> None:
    run = _run(client)
    values = [math.nan, math.inf, -math.inf, 0.0, -1.5e300]
    client.log_batch(run.id, [Metric("x", v, i, 1.0) for i, v in enumerate(values)])
    client.log_metric(run.id, "nan_last", math.nan)
    client.log_metric(run.id, "inf_last", math.inf)
    client.log_metric(run.id, "neg_inf_last", -math.inf)
    client.log_metric(run.id, "np", np.float32(0.25))
    history = [m.value for m in client.get_metric_history(run.id, "x")]
    assert len(history) == 5 and math.isnan(history[0]) and history[3:] == [0.0, -1.5e300]
    metrics = client.get_run(run.id).metrics
    assert math.isnan(metrics["nan_last"])
    assert metrics["x"] == -1.5e300
    assert metrics["np"] == 0.25
    # what was stored is an infinity, not a NaN: comparisons run where the values are
    assert [r.id for r in client.search_runs("proj", "metrics.inf_last > 1e308").runs] == [run.id]
    assert [r.id for r in client.search_runs("proj", "metrics.neg_inf_last < -1e308").runs] == [run.id]
    assert client.search_runs("proj", "metrics.nan_last > 0 or metrics.nan_last <= 0").runs == []


def test_infinities_read_back(client: Client) -> None:
    run = _run(client)
    client.log_batch(run.id, [Metric("x", v, i, 1.0) for i, v in enumerate([math.inf, -math.inf, 1.0])])
    client.log_metric(run.id, "inf_last", math.inf)
    assert [m.value for m in client.get_metric_history(run.id, "x")] == [math.inf, -math.inf, 1.0]
    assert client.get_run(run.id).metrics["inf_last"] == math.inf


@pytest.mark.parametrize("value", ["0.5", True, False, None, [1.0], 1 + 2j])
def test_invalid_metric_values(client: Client, value: object) -> None:
    run = _run(client)
    with pytest.raises(InvalidInput):
        client.log_metric(run.id, "m", value)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        client.log_batch(run.id, [Metric("ok", 1.0), Metric("m", value)])  # type: ignore[arg-type]
    assert client.get_run(run.id).metrics == {}


@pytest.mark.parametrize("max_results", [0, True, "5", 50_001])
def test_invalid_page_sizes(client: Client, max_results: object) -> None:
    _run(client)
    with pytest.raises(InvalidInput) as info:
        client.search_runs("proj", max_results=max_results)  # type: ignore[arg-type]
    assert info.value.field == "max_results"


@pytest.mark.parametrize("step", [1.5, "3", True])
def test_invalid_steps(client: Client, step: object) -> None:
    run = _run(client)
    with pytest.raises(InvalidInput):
        client.log_metric(run.id, "m", 1.0, step=step)  # type: ignore[arg-type]


# -- artifacts -------------------------------------------------------------------------------------


def test_artifact_file_and_download(client: Client, tmp_path: Path) -> None:
    run = _run(client)
    src = tmp_path / "weights.bin"
    payload = bytes(range(256)) * 1000
    src.write_bytes(payload)
    arts = client.log_artifact(run.id, src)
    assert [(a.path, a.size) for a in arts] == [("weights.bin", len(payload))]
    client.log_artifact(run.id, src, "model/")
    client.log_artifact(run.id, src, "model/renamed.bin")
    assert [a.path for a in client.list_artifacts(run.id)] == [
        "model/renamed.bin",
        "model/weights.bin",
        "weights.bin",
    ]
    out = tmp_path / "out"
    out.mkdir()
    [got] = client.download_artifact(run.id, "model/renamed.bin", out)
    assert got == out / "renamed.bin"
    assert got.read_bytes() == payload
    [as_file] = client.download_artifact(run.id, "weights.bin", tmp_path / "copy.bin")
    assert as_file.read_bytes() == payload


def test_artifact_folder_and_download(client: Client, tmp_path: Path) -> None:
    run = _run(client)
    src = tmp_path / "report"
    files = {
        "index.html": b"<html></html>",
        "img/plot.png": b"\x89PNG" + bytes(1000),
        "img/deep/data.json": b'{"a": 1}',
    }
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    client.log_artifact(run.id, src)
    client.log_artifact(run.id, src, "copies/r2")
    paths = [a.path for a in client.list_artifacts(run.id)]
    assert sorted(paths) == sorted([f"report/{r}" for r in files] + [f"copies/r2/{r}" for r in files])
    sizes = {a.path: a.size for a in client.list_artifacts(run.id)}
    assert all(sizes[f"report/{r}"] == len(d) for r, d in files.items())

    dest = tmp_path / "dl"
    got = client.download_artifact(run.id, "report", dest)
    assert len(got) == len(files)
    for rel, data in files.items():
        assert (dest / rel).read_bytes() == data
    sub = tmp_path / "dl_img"
    client.download_artifact(run.id, "copies/r2/img", sub)
    assert (sub / "plot.png").read_bytes() == files["img/plot.png"]
    assert (sub / "deep" / "data.json").read_bytes() == files["img/deep/data.json"]
    assert not (sub / "index.html").exists()


@pytest.mark.parametrize("bad", ["../escape.txt", "a/../../b", "..", "a/..", "./../x"])
def test_artifact_path_with_dotdot_is_invalid(client: Client, tmp_path: Path, bad: str) -> None:
    run = _run(client)
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(InvalidInput) as info:
        client.log_artifact(run.id, src, bad)
    assert info.value.field == "artifact_path"
    client.log_artifact(run.id, src)
    with pytest.raises(InvalidInput):
        client.download_artifact(run.id, bad, tmp_path / "out")
    assert [a.path for a in client.list_artifacts(run.id)] == ["f.txt"]


def test_artifact_bytes(client: Client, tmp_path: Path) -> None:
    run = _run(client)
    art = client.log_artifact_bytes(run.id, b"hello", "./notes//hello.txt")
    assert (art.path, art.size) == ("notes/hello.txt", 5)
    with pytest.raises(InvalidInput) as info:
        client.log_artifact_bytes(run.id, b"x", "notes/../../x.txt")
    assert info.value.field == "artifact_path"
    [got] = client.download_artifact(run.id, "notes", tmp_path / "out")
    assert got == tmp_path / "out" / "hello.txt" and got.read_bytes() == b"hello"
    assert [a.path for a in client.list_artifacts(run.id)] == ["notes/hello.txt"]


def test_artifact_errors(client: Client, tmp_path: Path) -> None:
    run = _run(client)
    with pytest.raises(InvalidInput):
        client.log_artifact(run.id, tmp_path / "missing.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput):
        client.log_artifact(run.id, empty)
    with pytest.raises(NotFound):
        client.download_artifact(run.id, "nothing.txt", tmp_path)
    assert client.list_artifacts(run.id) == []


# -- unknown runs ----------------------------------------------------------------------------------


def test_unknown_run_id_is_not_found(client: Client, tmp_path: Path) -> None:
    rid = "f" * 32
    f = tmp_path / "f.txt"
    f.write_text("x")
    calls = [
        lambda: client.get_run(rid),
        lambda: client.end_run(rid),
        lambda: client.log_param(rid, "a", 1),
        lambda: client.set_tag(rid, "a", 1),
        lambda: client.log_metric(rid, "m", 1.0),
        lambda: client.get_metric_history(rid, "m"),
        lambda: client.log_artifact(rid, f),
        lambda: client.list_artifacts(rid),
        lambda: client.list_inputs(rid),
        lambda: client.child_runs(rid),
        lambda: client.delete_run(rid),
        lambda: client.restore_run(rid),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()


# -- delete / restore, projects --------------------------------------------------------------------


def test_delete_and_restore_hide_and_show_runs(client: Client) -> None:
    keep, gone = _run(client), _run(client)
    client.delete_run(gone.id)
    assert [r.id for r in client.search_runs("proj").runs] == [keep.id]
    assert {r.id for r in client.search_runs("proj", include_deleted=True).runs} == {keep.id, gone.id}
    assert client.get_run(gone.id).deleted is True
    assert dict((p.name, n) for p, n in client.list_projects()) == {"proj": 1}
    client.delete_run(gone.id)  # idempotent
    client.restore_run(gone.id)
    assert client.get_run(gone.id).deleted is False
    assert {r.id for r in client.search_runs("proj").runs} == {keep.id, gone.id}
    assert dict((p.name, n) for p, n in client.list_projects()) == {"proj": 2}


def test_list_projects_counts(client: Client) -> None:
    assert client.list_projects() == []
    client.create_project("empty", "nothing yet")
    for _ in range(3):
        _run(client, project="a")
    for _ in range(2):
        _run(client, project="b")
    counts = {p.name: n for p, n in client.list_projects()}
    assert counts == {"empty": 0, "a": 3, "b": 2}
    descriptions = {p.name: p.description for p, _ in client.list_projects()}
    assert descriptions["empty"] == "nothing yet"


# -- dataset inputs --------------------------------------------------------------------------------


def test_dataset_inputs(client: Client, tmp_path: Path) -> None:
    csv1 = tmp_path / "iris.csv"
    csv1.write_text("a,b,label\n1,2.5,x\n3,4.5,y\n")
    csv2 = tmp_path / "iris2.csv"
    csv2.write_text("a,b,label\n1,2.5,x\n3,4.5,y\n5,6.5,z\n")
    v1, created1 = client.add_dataset(csv1, "iris", project="proj")
    v2, created2 = client.add_dataset(csv2, "iris", project="proj")
    other, _ = client.add_dataset(csv1, "other", project="proj")
    assert (created1, created2) == (True, True)
    assert (v1.version, v2.version) == (1, 2)

    run = _run(client)
    recorded = client.log_inputs(run.id, ["iris@1", "other"])
    assert [(i.dataset, i.version, i.digest) for i in recorded] == [
        ("iris", 1, v1.digest),
        ("other", 1, other.digest),
    ]
    client.log_inputs(run.id, ["iris"], context="evaluation")  # latest = version 2
    client.log_inputs(run.id, ["iris@1"])  # repeat: ignored
    inputs = client.list_inputs(run.id)
    assert sorted((i.dataset, i.version, i.context, i.digest) for i in inputs) == sorted(
        [
            ("iris", 1, "training", v1.digest),
            ("iris", 2, "evaluation", v2.digest),
            ("other", 1, "training", other.digest),
        ]
    )
    with pytest.raises(NotFound):
        client.log_inputs(run.id, ["iris@9"])
    with pytest.raises(NotFound):
        client.log_inputs(run.id, ["nope"])
    with pytest.raises(InvalidInput):
        client.log_inputs(run.id, ["iris@zero"])
    assert len(client.list_inputs(run.id)) == 3
    assert client.log_inputs(run.id, []) == []
    with pytest.raises(NotFound):
        client.log_inputs("f" * 32, [])
    client.end_run(run.id)
    with pytest.raises(Conflict):
        client.log_inputs(run.id, ["iris@2"])
    with pytest.raises(Conflict):
        client.log_inputs(run.id, [])


def test_a_folder_is_recorded_in_one_change(client: Client, tmp_path: Path) -> None:
    run = _run(client)
    src = tmp_path / "report"
    (src / "img").mkdir(parents=True)
    (src / "index.html").write_text("<html></html>")
    (src / "img" / "plot.png").write_bytes(b"\x89PNG")
    client.log_artifact(run.id, src)
    [event] = client.audit_log("run", run.id, action="run.log_artifacts")
    assert sorted(p for p, *_ in event.payload["artifacts"]) == ["report/img/plot.png", "report/index.html"]


def test_out_of_range_steps_bad_timestamps_and_escaped_paths_are_refused_everywhere(
    client: Client, tmp_path: Path
) -> None:
    run = _run(client)
    with pytest.raises(InvalidInput) as err:
        client.log_metric(run.id, "x", 1.0, step=2**70)
    assert err.value.field == "step"
    with pytest.raises(InvalidInput) as err:
        client.log_batch(run.id, [Metric("x", 1.0, 0, math.nan)])
    assert err.value.field == "timestamp"
    f = tmp_path / "a.txt"
    f.write_text("a")
    for bad in ("docs%2Fa.txt", "tab\there.txt"):
        with pytest.raises(InvalidInput) as err:
            client.log_artifact(run.id, f, bad)
        assert err.value.field == "artifact_path", bad
    assert client.list_artifacts(run.id) == [] and client.get_metric_history(run.id, "x") == []


def test_recording_no_inputs_is_no_change(client: Client) -> None:
    run = _run(client)
    before = len(client.audit_log(limit=None))
    assert client.log_inputs(run.id, []) == []
    assert len(client.audit_log(limit=None)) == before
