"""The fluent SDK: carnet.start_run() and the module-level logging functions, on a folder workspace."""

from __future__ import annotations

import platform
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import carnet
from carnet import Client, RunStatus
from carnet.client import fluent
from carnet.errors import Conflict, InvalidInput


@pytest.fixture(autouse=True)
def _clean_fluent_state() -> Iterator[None]:
    """End every run a test left active and close the SDK's cached workspaces."""
    yield
    while (run := carnet.active_run()) is not None:
        try:
            run.end(RunStatus.KILLED)
        except Exception:  # noqa: BLE001 - cleanup must go on
            with fluent._STACK_LOCK:
                if run in fluent._STACK:
                    fluent._STACK.remove(run)
    for key, (client, buf) in list(fluent._CLIENTS.items()):
        try:
            buf.close()
        finally:
            client.close()
            fluent._CLIENTS.pop(key, None)


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return str(tmp_path / "ws")


@pytest.fixture
def reader(uri: str) -> Iterator[Client]:
    """An independent client on the same workspace, to read what the SDK wrote."""
    c = Client(uri)
    try:
        yield c
    finally:
        c.close()


def _read_artifact(client: Client, run_id: str, path: str, tmp_path: Path) -> bytes:
    out = tmp_path / "downloads" / path.replace("/", "_")
    [got] = client.download_artifact(run_id, path, out)
    return got.read_bytes()


def test_start_run_logs_params_metrics_and_artifacts(uri: str, reader: Client, tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"\x00\x01weights")
    with carnet.start_run(project="demo", name="first", uri=uri, params={"a": 1}, tags={"t": "x"}) as run:
        assert carnet.active_run() is run
        run.log_param("lr", 0.1)
        run.log_params({"depth": 6, "model": "lgbm"})
        run.set_tag("stage", "dev")
        run.set_tags({"owner": "me"})
        run.log_metric("auc", 0.9)
        run.log_metrics({"loss": 0.5, "acc": 0.7})
        run.log_artifact(model)
        run.log_artifact(model, "weights/")
        run.log_text("hello", "notes/readme.txt")
        run.log_dict({"b": 2, "a": 1}, "config.json")
        assert run.info.metrics["auc"] == 0.9  # info flushes first
    assert carnet.active_run() is None
    stored = reader.get_run(run.id)
    assert stored.status is RunStatus.FINISHED
    assert (stored.project, stored.name) == ("demo", "first")
    assert stored.params == {"a": "1", "lr": "0.1", "depth": "6", "model": "lgbm"}
    assert stored.tags == {"t": "x", "stage": "dev", "owner": "me"}
    assert stored.metrics == {"auc": 0.9, "loss": 0.5, "acc": 0.7}
    paths = {a.path for a in reader.list_artifacts(run.id)}
    assert {"model.bin", "weights/model.bin", "notes/readme.txt", "config.json"} <= paths
    assert _read_artifact(reader, run.id, "weights/model.bin", tmp_path) == b"\x00\x01weights"
    assert _read_artifact(reader, run.id, "notes/readme.txt", tmp_path) == b"hello"
    assert _read_artifact(reader, run.id, "config.json", tmp_path) == b'{\n  "a": 1,\n  "b": 2\n}'


def test_module_level_functions_act_on_the_active_run(uri: str, reader: Client, tmp_path: Path) -> None:
    f = tmp_path / "data.txt"
    f.write_text("payload")
    with carnet.start_run(project="demo", uri=uri) as run:
        carnet.log_param("p", "v")
        carnet.log_params({"q": 2})
        carnet.set_tag("t", "x")
        carnet.log_metric("m", 1.5)
        carnet.log_metrics({"n": 2.5, "o": -1})
        carnet.log_artifact(f, "files/")
    stored = reader.get_run(run.id)
    assert stored.params == {"p": "v", "q": "2"}
    assert stored.tags == {"t": "x"}
    assert stored.metrics == {"m": 1.5, "n": 2.5, "o": -1.0}
    assert "files/data.txt" in {a.path for a in reader.list_artifacts(run.id)}


def test_module_level_end_run(uri: str, reader: Client) -> None:
    run = carnet.start_run(project="demo", uri=uri)
    carnet.log_metric("m", 3.0)
    carnet.end_run("killed")
    assert carnet.active_run() is None
    stored = reader.get_run(run.id)
    assert stored.status is RunStatus.KILLED
    assert stored.metrics == {"m": 3.0}
    run.end()  # already ended: no-op


@pytest.mark.parametrize(
    "call",
    [
        lambda: carnet.log_param("a", 1),
        lambda: carnet.log_params({"a": 1}),
        lambda: carnet.log_metric("m", 1.0),
        lambda: carnet.log_metrics({"m": 1.0}),
        lambda: carnet.set_tag("t", "x"),
        lambda: carnet.log_artifact("whatever.txt"),
        lambda: carnet.end_run(),
    ],
)
def test_no_active_run_is_invalid(call) -> None:
    assert carnet.active_run() is None
    with pytest.raises(InvalidInput):
        call()


def test_exception_marks_run_failed_and_reraises(uri: str, reader: Client, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad things"), carnet.start_run(project="demo", uri=uri) as run:
        carnet.log_metric("before", 1.0)
        raise ValueError("bad things")
    assert carnet.active_run() is None
    stored = reader.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.error == "ValueError: bad things"
    assert stored.metrics == {"before": 1.0}
    text = _read_artifact(reader, run.id, "logs/error.txt", tmp_path).decode()
    assert "Traceback" in text
    assert "ValueError: bad things" in text


def test_keyboard_interrupt_marks_run_killed(uri: str, reader: Client) -> None:
    with pytest.raises(KeyboardInterrupt), carnet.start_run(project="demo", uri=uri) as run:
        raise KeyboardInterrupt
    stored = reader.get_run(run.id)
    assert stored.status is RunStatus.KILLED
    assert stored.error is not None and stored.error.startswith("KeyboardInterrupt")


def test_nested_runs(uri: str, reader: Client) -> None:
    with carnet.start_run(project="demo", uri=uri) as parent:
        with carnet.start_run(project="demo", uri=uri, nested=True) as child:
            assert carnet.active_run() is child
            carnet.log_metric("inner", 1.0)
        assert carnet.active_run() is parent
        carnet.log_metric("outer", 2.0)
        with carnet.start_run(project="demo", uri=uri, nested=True) as child2:
            pass
    assert reader.get_run(child.id).parent_id == parent.id
    assert reader.get_run(parent.id).parent_id is None
    assert sorted(reader.child_runs(parent.id)) == sorted([child.id, child2.id])
    assert reader.get_run(child.id).metrics == {"inner": 1.0}
    assert reader.get_run(parent.id).metrics == {"outer": 2.0}
    assert {reader.get_run(r).status for r in (parent.id, child.id, child2.id)} == {RunStatus.FINISHED}


def test_nested_run_uses_the_parents_workspace(uri: str, reader: Client) -> None:
    with (
        carnet.start_run(project="demo", uri=uri) as parent,
        carnet.start_run(project="demo", nested=True) as child,
    ):
        pass
    assert reader.get_run(child.id).parent_id == parent.id


def test_metric_after_end_is_a_conflict(uri: str, reader: Client) -> None:
    run = carnet.start_run(project="demo", uri=uri, capture_output=False)
    run.log_metric("m", 1.0)
    run.end()
    with pytest.raises(Conflict):
        run.log_param("p", 1)  # params already refuse
    try:
        run.log_metric("m", 2.0, step=5)
    except Conflict:
        pass
    carnet.flush()
    assert [(m.step, m.value) for m in reader.get_metric_history(run.id, "m")] == [(0, 1.0)]


def test_nested_without_active_run_is_invalid(uri: str) -> None:
    with pytest.raises(InvalidInput):
        carnet.start_run(project="demo", uri=uri, nested=True)
    assert carnet.active_run() is None


def test_second_top_level_run_is_invalid(uri: str, reader: Client) -> None:
    with carnet.start_run(project="demo", uri=uri) as run:
        with pytest.raises(InvalidInput):
            carnet.start_run(project="demo", uri=uri)
        assert carnet.active_run() is run
    assert [r.id for r in reader.search_runs("demo").runs] == [run.id]


def test_stdout_is_captured(uri: str, reader: Client, tmp_path: Path) -> None:
    with carnet.start_run(project="demo", uri=uri) as run:
        print("hello from the run")
        print("second line", file=sys.stderr)
        with carnet.start_run(project="demo", uri=uri, nested=True):
            print("printed in a child")
    print("after the run")
    text = _read_artifact(reader, run.id, "logs/output.txt", tmp_path).decode()
    assert "hello from the run\n" in text
    assert "second line\n" in text
    assert "printed in a child" in text
    assert "after the run" not in text


def test_capture_output_can_be_disabled(uri: str, reader: Client) -> None:
    with carnet.start_run(project="demo", uri=uri, capture_output=False) as run:
        print("not captured")
    assert "logs/output.txt" not in {a.path for a in reader.list_artifacts(run.id)}


def test_environment_is_captured(uri: str, reader: Client) -> None:
    with carnet.start_run(project="demo", uri=uri) as run:
        pass
    env = reader.get_run(run.id).environment
    assert env["python"] == platform.python_version()
    assert "sqlalchemy" in env["packages"]
    assert env["command"] == [sys.executable, *sys.argv]
    assert env["cwd"] == str(Path.cwd())
    assert "git" not in env  # the test's working folder is not a git repository
    with carnet.start_run(project="demo", uri=uri, log_environment=False) as bare:
        pass
    assert reader.get_run(bare.id).environment == {}


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _make_repo(path: Path) -> str:
    path.mkdir()
    _git(path, "init", "-q")
    (path / "train.py").write_text("print('train')\n")
    _git(path, "add", "train.py")
    _git(path, "commit", "-q", "-m", "first")
    return _git(path, "rev-parse", "HEAD")


@pytest.mark.parametrize("dirty", [False, True])
def test_git_state_is_captured(
    uri: str, reader: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dirty: bool
) -> None:
    repo = tmp_path / f"repo_{'dirty' if dirty else 'clean'}"  # git state is cached per folder
    commit = _make_repo(repo)
    (repo / "untracked.txt").write_text("ignored for dirtiness")
    if dirty:
        (repo / "train.py").write_text("print('changed')\n")
    monkeypatch.chdir(repo)
    with carnet.start_run(project="demo", uri=uri) as run:
        pass
    git = reader.get_run(run.id).environment["git"]
    assert git["commit"] == commit
    assert git["dirty"] is dirty
    assert Path(git["root"]).resolve() == repo.resolve()


def test_seed_is_recorded_and_reproducible(uri: str, reader: Client) -> None:
    draws = []
    for _ in range(2):
        with carnet.start_run(project="demo", uri=uri, seed=1234) as run:
            draws.append((random.random(), random.random(), float(np.random.rand())))
        stored = reader.get_run(run.id)
        assert stored.params == {"seed": "1234"}
        assert stored.environment["seed"] == 1234
    assert draws[0] == draws[1]
    with carnet.start_run(project="demo", uri=uri, seed=99):
        other = (random.random(), random.random(), float(np.random.rand()))
    assert other != draws[0]
    with pytest.raises(InvalidInput):
        carnet.start_run(project="demo", uri=uri, seed="x")  # type: ignore[arg-type]


def test_set_seed_records_on_the_active_run(uri: str, reader: Client) -> None:
    with carnet.start_run(project="demo", uri=uri) as run:
        carnet.set_seed(7)
        first = random.random()
        random.seed(7)
        assert random.random() == first
    assert reader.get_run(run.id).params == {"seed": "7"}


def test_step_auto_increments_per_key(uri: str, reader: Client) -> None:
    with carnet.start_run(project="demo", uri=uri) as run:
        for v in (1.0, 2.0, 3.0):
            carnet.log_metric("loss", v)
        run.log_metric("acc", 0.5)
        run.log_metric("loss", 4.0, step=10)
        run.log_metric("loss", 5.0)
        run.log_metrics({"acc": 0.6, "f1": 0.1})
        run.log_metrics({"acc": 0.7}, step=50)
    loss = reader.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in loss] == [(0, 1.0), (1, 2.0), (2, 3.0), (10, 4.0), (11, 5.0)]
    assert [(m.step, m.value) for m in reader.get_metric_history(run.id, "acc")] == [
        (0, 0.5),
        (1, 0.6),
        (50, 0.7),
    ]
    assert [m.step for m in reader.get_metric_history(run.id, "f1")] == [0]


def test_invalid_metric_value_is_rejected_at_log_time(uri: str) -> None:
    with carnet.start_run(project="demo", uri=uri):
        with pytest.raises(InvalidInput):
            carnet.log_metric("m", "high")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            carnet.log_metric("m", 1.0, step=1.5)  # type: ignore[arg-type]


def test_log_dataset_registers_a_version_and_an_input(uri: str, reader: Client) -> None:
    df = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"], "z": [0.5, 1.5, 2.5]})
    with carnet.start_run(project="demo", uri=uri) as run:
        v1 = carnet.log_dataset(df, name="train")
        again = carnet.log_dataset(df.copy(), name="train")
        v2 = run.log_dataset(df.iloc[:2], name="train", context="evaluation")
    assert (v1.name, v1.version, v1.num_rows, v1.num_columns) == ("train", 1, 3, 3)
    assert (again.version, again.digest) == (v1.version, v1.digest)
    assert (v2.version, v2.num_rows) == (2, 2)
    assert [v.version for v in reader.dataset_versions("train")] == [1, 2]
    inputs = sorted((i.dataset, i.version, i.context, i.digest) for i in reader.list_inputs(run.id))
    assert inputs == [("train", 1, "training", v1.digest), ("train", 2, "evaluation", v2.digest)]
