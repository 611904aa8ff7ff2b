"""Executors: results and errors come back, deadlines cut long calls, kill terminates workers."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from carnet.errors import InvalidInput
from carnet.execution import (
    DeadlineExceeded,
    Executor,
    InlineExecutor,
    LocalProcessExecutor,
    executor_for,
)


# -- functions run in workers: module level, so spawned processes can import them by name
def square(x: int) -> int:
    return x * x


def fail_on_odd(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


def nap(job: tuple[str, float, str]) -> int:
    """Write this process id to ``job[2]/<name>.pid`` then sleep ``job[1]`` seconds."""
    name, seconds, folder = job
    Path(folder, f"{name}.pid").write_text(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


def whoami() -> int:
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return pid in {p.pid for p in multiprocessing.active_children()}


def _wait_for(path: Path, seconds: float = 60.0) -> int:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_inline_runs_in_process_and_hands_back_errors() -> None:
    with InlineExecutor() as ex:
        assert isinstance(ex, Executor) and ex.in_process
        assert ex.submit(whoami).result() == os.getpid()
        assert isinstance(ex.submit(fail_on_odd, 3).exception(), ValueError)
        out = dict(ex.map_unordered(fail_on_odd, [1, 2, 4]))
    assert out[2] == 2 and out[4] == 4 and isinstance(out[1], ValueError)
    with pytest.raises(RuntimeError):
        ex.submit(square, 2)


def test_inline_takes_items_lazily_and_stops_at_the_deadline() -> None:
    events: list[str] = []

    def items():
        for i in range(3):
            events.append(f"take {i}")
            yield i

    for item, result in InlineExecutor().map_unordered(square, items()):
        events.append(f"got {item}={result}")
    assert events == ["take 0", "got 0=0", "take 1", "got 1=1", "take 2", "got 2=4"]
    past = time.monotonic() - 1
    assert list(InlineExecutor().map_unordered(square, [1, 2], deadline=past)) == []


def test_executor_for_and_bad_settings() -> None:
    assert isinstance(executor_for(1), InlineExecutor)
    assert isinstance(executor_for(None), InlineExecutor)
    pool = executor_for(2)
    assert isinstance(pool, LocalProcessExecutor) and pool.max_workers == 2 and not pool.in_process
    with pytest.raises(InvalidInput):
        executor_for(0)
    with pytest.raises(InvalidInput) as err:
        LocalProcessExecutor(2, start_method="fork")
    assert err.value.field == "start_method"


def test_process_pool_returns_results_and_exceptions() -> None:
    with LocalProcessExecutor(2) as ex:
        assert ex.submit(whoami).result(timeout=60) != os.getpid()
        out = dict(ex.map_unordered(fail_on_odd, [1, 2, 3, 4]))
    assert out[2] == 2 and out[4] == 4
    assert isinstance(out[1], ValueError) and str(out[1]) == "odd 1"
    assert isinstance(out[3], ValueError)


def test_deadline_kills_a_long_call_and_the_pool_recovers(tmp_path: Path) -> None:
    ex = LocalProcessExecutor(2)
    try:
        ex.submit(square, 1).result(timeout=60)  # workers started: the deadline measures the calls
        jobs = [("fast", 0.0, str(tmp_path)), ("slow", 120.0, str(tmp_path))]
        out = {job[0]: result for job, result in ex.map_unordered(nap, jobs, deadline=time.monotonic() + 6)}
        assert isinstance(out["fast"], int)
        assert isinstance(out["slow"], DeadlineExceeded)  # cut at the deadline, not waited for
        slow_pid = _wait_for(tmp_path / "slow.pid", 1)
        assert not _alive(slow_pid)
        assert ex.submit(square, 3).result(timeout=60) == 9  # a fresh pool after the kill
    finally:
        ex.shutdown(kill=True)


def test_shutdown_kill_terminates_running_workers(tmp_path: Path) -> None:
    ex = LocalProcessExecutor(1)
    future = ex.submit(nap, ("sleeper", 120.0, str(tmp_path)))
    pid = _wait_for(tmp_path / "sleeper.pid")
    assert pid in ex.worker_pids and _alive(pid)
    ex.shutdown(kill=True)
    assert not _alive(pid)
    # killed: the 120 s call never returned (the pool's manager thread settles the future)
    assert future.exception(timeout=30) is not None
    assert ex.worker_pids == []
    with pytest.raises(Exception):  # noqa: B017 - BrokenProcessPool or CancelledError
        future.result(timeout=30)
    with pytest.raises(RuntimeError):
        ex.submit(square, 2)


def test_closing_map_early_cancels_what_is_left(tmp_path: Path) -> None:
    with LocalProcessExecutor(2) as ex:
        jobs = [("quick", 0.0, str(tmp_path)), ("stuck", 120.0, str(tmp_path))]
        stream = ex.map_unordered(nap, jobs)
        item, _ = next(stream)
        assert item[0] == "quick"
        stuck = _wait_for(tmp_path / "stuck.pid")
        stream.close()
        assert not _alive(stuck)


def die_once(folder: str) -> int:
    """Kill this worker process the first time (a marker file remembers), then answer."""
    marker = Path(folder, "died")
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)
    return os.getpid()


def always_die(_: int) -> int:
    os._exit(1)


def test_a_killed_worker_is_retried_once_then_reported(tmp_path: Path) -> None:
    with LocalProcessExecutor(1) as pool:
        [(item, pid)] = list(pool.map_unordered(die_once, [str(tmp_path)]))
        assert item == str(tmp_path) and isinstance(pid, int)
        assert pid != int((tmp_path / "died").read_text())  # a new worker ran it the second time
        [(_, error)] = list(pool.map_unordered(always_die, [1]))
    from concurrent.futures.process import BrokenProcessPool

    assert isinstance(error, BrokenProcessPool)  # killed twice: the reason comes back, nothing hangs


def test_ordered_map_and_the_protocol() -> None:
    with LocalProcessExecutor(2) as pool:
        assert list(pool.map(square, range(6))) == [0, 1, 4, 9, 16, 25]
        assert isinstance(pool, Executor) and pool.name == "local"
    with InlineExecutor() as inline:
        assert list(inline.map(square, [3, 4])) == [9, 16]
