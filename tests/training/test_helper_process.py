"""The helper process: calls run in a second interpreter, failures come back typed, it never lingers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from carnet.training.helper import HelperProcess, HelperUnavailable


def _exit_now() -> None:
    os._exit(3)


def _shout(text: str) -> str:
    print(text * 1000)  # fd 1 of the child: must not corrupt the reply stream
    sys.stdout.flush()
    os.write(1, b"raw bytes on fd 1\n")
    return text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); its state in /proc says it is gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_calls_run_in_another_process_in_order() -> None:
    with HelperProcess(warm=["json"]) as helper:
        pid = helper.submit(os.getpid).result(timeout=30)
        assert pid == helper.pid != os.getpid()
        results = [helper.submit(divmod, n, 7) for n in range(20)]
        assert [f.result(timeout=30) for f in results] == [divmod(n, 7) for n in range(20)]
        assert helper.warm(["no_such_module_xyz", "csv"]).result(timeout=30) == ["no_such_module_xyz"]


def test_the_call_s_own_exception_comes_back_with_its_type() -> None:
    with HelperProcess() as helper:
        with pytest.raises(ValueError, match="invalid literal"):
            helper.submit(int, "not a number").result(timeout=30)
        assert helper.submit(int, "12").result(timeout=30) == 12  # still serving


def test_what_cannot_cross_the_boundary_is_helper_unavailable() -> None:
    class Local:  # not importable by the child
        pass

    with HelperProcess() as helper:
        with pytest.raises(HelperUnavailable, match="cannot send"):
            helper.submit(lambda: 1).result(timeout=30)
        with pytest.raises(HelperUnavailable, match="cannot send"):
            helper.submit(repr, Local()).result(timeout=30)
        assert helper.submit(len, "abc").result(timeout=30) == 3


def test_printing_in_the_child_does_not_corrupt_replies() -> None:
    with HelperProcess() as helper:
        assert helper.submit(_shout, "x").result(timeout=30) == "x"
        assert helper.submit(abs, -4).result(timeout=30) == 4


def test_a_crashed_child_fails_pending_and_later_calls() -> None:
    helper = HelperProcess()
    try:
        crash = helper.submit(_exit_now)
        with pytest.raises(HelperUnavailable, match="ended"):
            crash.result(timeout=30)
        helper._proc.wait(10)
        with pytest.raises(HelperUnavailable, match="not running"):
            helper.submit(abs, -1).result(timeout=30)
    finally:
        helper.close()


def test_close_ends_an_idle_child_at_once_and_a_busy_one_within_seconds() -> None:
    helper = HelperProcess()
    pid = helper.submit(os.getpid).result(timeout=30)
    helper.close()
    assert not _alive(pid)

    helper = HelperProcess()
    pid = helper.submit(os.getpid).result(timeout=30)
    sleeping = helper.submit(time.sleep, 60)
    helper.close()
    with pytest.raises(HelperUnavailable):  # the 60 s call was cut, not waited for
        sleeping.result(timeout=1)
    assert not _alive(pid)
    with pytest.raises(HelperUnavailable):
        helper.submit(abs, 1).result(timeout=1)


def test_an_error_in_the_with_block_kills_the_child() -> None:
    with pytest.raises(KeyError), HelperProcess() as helper:
        pid = helper.submit(os.getpid).result(timeout=30)
        helper.submit(time.sleep, 60)
        raise KeyError("boom")
    assert not _alive(pid)


def test_a_script_without_a_main_guard_is_not_re_run_by_the_child(tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    marker = tmp_path / "runs.txt"
    script.write_text(
        textwrap.dedent(
            f"""
            from carnet.training.helper import HelperProcess
            with open({str(marker)!r}, "a") as f:
                f.write("ran\\n")
            with HelperProcess() as helper:
                print(helper.submit(sum, [1, 2, 3]).result(timeout=30))
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "6"
    assert marker.read_text() == "ran\n"
