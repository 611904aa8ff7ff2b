"""The metric buffer's durability contract, checked with real child processes and SIGKILL.

Contract (carnet.client.buffer): values are written by a background thread, by
``flush()``, at run end and at interpreter exit; once ``flush()`` or the run's
end returns, every value queued before it survives a SIGKILL.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from carnet import Client, RunStatus

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

N = 5000
NEVER = "3600"  # a flush interval so long that the background thread never writes during a test

_PRELUDE = """
import sys, time
import carnet
uri = sys.argv[1]
"""


class Child:
    """A ``python -c`` child process whose stdout lines are read on a thread."""

    def __init__(self, script: str, uri: str, cwd: Path, **env: str) -> None:
        environ = {**os.environ, "CARNET_ACTOR": "tester", **env}
        self.stderr_path = cwd / f"stderr-{time.monotonic_ns()}.txt"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PRELUDE + textwrap.dedent(script), uri],
            cwd=cwd,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, word: str, timeout: float = 120) -> list[str]:
        """Fields of the first stdout line starting with ``word``; fails with the child's stderr."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"child did not print {word!r} in time; stderr:\n{self.stderr()}")
            if line is None:
                pytest.fail(f"child exited before printing {word!r}; stderr:\n{self.stderr()}")
            if line.split() and line.split()[0] == word:
                return line.split()[1:]

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def sigkill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)
        assert self.proc.returncode == -signal.SIGKILL

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator:
    children: list[Child] = []

    def make(script: str, uri: str, **env: str) -> Child:
        child = Child(script, uri, tmp_path, **env)
        children.append(child)
        return child

    yield make
    for child in children:
        child.close()


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return str(tmp_path / "ws")


def _history(uri: str, run_id: str, key: str = "m") -> list[float]:
    with Client(uri) as client:
        return [m.value for m in client.get_metric_history(run_id, key)]


def test_flushed_values_survive_sigkill(spawn, uri: str) -> None:
    child = spawn(
        f"""
        run = carnet.start_run(project="durable", uri=uri, capture_output=False)
        for i in range({N}):
            carnet.log_metric("m", float(i))
        carnet.flush()
        print("FLUSHED", run.id, flush=True)
        for i in range(100):
            carnet.log_metric("late", float(i))  # queued after the flush: may be lost
        time.sleep(600)
        """,
        uri,
        CARNET_FLUSH_INTERVAL=NEVER,
    )
    [run_id] = child.wait_for("FLUSHED")
    child.sigkill()
    assert _history(uri, run_id) == [float(i) for i in range(N)]
    with Client(uri) as client:
        steps = [m.step for m in client.get_metric_history(run_id, "m")]
        assert steps == list(range(N))
        run = client.get_run(run_id)
    assert run.status is RunStatus.RUNNING  # killed processes cannot end their runs
    assert run.metrics["m"] == float(N - 1)


def test_unflushed_values_are_written_at_normal_exit(spawn, uri: str) -> None:
    child = spawn(
        f"""
        run = carnet.start_run(project="durable", uri=uri, capture_output=False)
        print("STARTED", run.id, flush=True)
        for i in range({N}):
            carnet.log_metric("m", float(i))
        # no flush, no end: the interpreter just exits
        """,
        uri,
        CARNET_FLUSH_INTERVAL=NEVER,
    )
    [run_id] = child.wait_for("STARTED")
    assert child.proc.wait(timeout=120) == 0, child.stderr()
    assert _history(uri, run_id) == [float(i) for i in range(N)]


def test_background_thread_writes_without_flush(spawn, uri: str) -> None:
    child = spawn(
        """
        run = carnet.start_run(project="durable", uri=uri, capture_output=False)
        for i in range(100):
            carnet.log_metric("m", float(i))
        print("LOGGED", run.id, flush=True)
        time.sleep(600)
        """,
        uri,
        CARNET_FLUSH_INTERVAL="0.05",
    )
    [run_id] = child.wait_for("LOGGED")
    deadline = time.monotonic() + 30
    values: list[float] = []
    while time.monotonic() < deadline:
        values = _history(uri, run_id)
        if len(values) >= 100:
            break
        assert child.proc.poll() is None, child.stderr()
        time.sleep(0.1)
    child.sigkill()  # nothing else (flush, run end, exit hook) could have written them
    assert values == [float(i) for i in range(100)]


def test_ended_run_has_all_its_metrics(spawn, uri: str) -> None:
    child = spawn(
        f"""
        run = carnet.start_run(project="durable", uri=uri, capture_output=False)
        for i in range({N}):
            run.log_metric("m", float(i))
            if i % 1000 == 0:
                run.log_metric("k", float(i), step=i)
        run.end()
        print("ENDED", run.id, flush=True)
        time.sleep(600)
        """,
        uri,
        CARNET_FLUSH_INTERVAL=NEVER,
    )
    [run_id] = child.wait_for("ENDED")
    child.sigkill()
    assert _history(uri, run_id) == [float(i) for i in range(N)]
    assert _history(uri, run_id, "k") == [0.0, 1000.0, 2000.0, 3000.0, 4000.0]
    with Client(uri) as client:
        run = client.get_run(run_id)
    assert run.status is RunStatus.FINISHED
    assert run.metrics == {"m": float(N - 1), "k": 4000.0}


def test_context_manager_exit_flushes(spawn, uri: str) -> None:
    child = spawn(
        f"""
        with carnet.start_run(project="durable", uri=uri) as run:
            carnet.log_metrics({{"a": 1.0, "b": 2.0}})
            for i in range({N}):
                carnet.log_metric("m", float(i))
        print("DONE", run.id, flush=True)
        time.sleep(600)
        """,
        uri,
        CARNET_FLUSH_INTERVAL=NEVER,
    )
    [run_id] = child.wait_for("DONE")
    child.sigkill()
    assert len(_history(uri, run_id)) == N
    with Client(uri) as client:
        assert client.get_run(run_id).metrics == {"a": 1.0, "b": 2.0, "m": float(N - 1)}


def test_run_active_at_exit_leaves_no_temp_file(spawn, uri: str, tmp_path: Path) -> None:
    tmpdir = tmp_path / "child-tmp"
    tmpdir.mkdir()
    child = spawn(
        """
        run = carnet.start_run(project="durable", uri=uri)
        print("STARTED", run.id, flush=True)
        """,
        uri,
        CARNET_FLUSH_INTERVAL=NEVER,
        TMPDIR=str(tmpdir),
    )
    child.wait_for("STARTED")
    assert child.proc.wait(timeout=120) == 0, child.stderr()
    assert sorted(p.name for p in tmpdir.iterdir()) == []
    with Client(uri) as client:
        finished = client.search_runs("durable", filter="status = 'finished'").runs
        assert len(finished) == 1
        paths = [a.path for a in client.list_artifacts(finished[0].id)]
    assert paths == ["logs/output.txt"]
