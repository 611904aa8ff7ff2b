"""The servers of ``bench_api.py``: how they start and stop, and what they use.

A server runs in a process group of its own (``start_new_session``), so that stopping it stops
its workers too: SIGTERM to the group, SIGKILL to what is left after a grace period. Readiness is
polled over HTTP; the resident memory (RSS from ``/proc/<pid>/statm``, PSS from ``smaps_rollup``)
and the CPU time of the server's whole process tree are read from ``/proc``, once idle and, while a
client runs, by a sampler thread every ``SAMPLE_EVERY`` seconds.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The same as in the serving benchmark (HOST is 127.0.0.1 there too).
from bench_serving import free_port, process_tree

HOST = "127.0.0.1"
READY_TIMEOUT = 180.0
SETTLE_TIMEOUT = 90.0
SAMPLE_EVERY = 0.05  # seconds between two readings of a server's resident memory under load
PSS_EVERY = 10  # PSS (smaps_rollup, dearer to read) every this many RSS samples
TREE_EVERY = 20  # look for new processes in the server's tree every this many samples
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("carnet", "mlflow_w1", "mlflow_default")
SERVER_LABELS = {
    "carnet": "carnet server",
    "mlflow_w1": "mlflow server --workers 1",
    "mlflow_default": "mlflow server (default: {workers} workers)",
}


# -- memory and CPU of a process tree ----------------------------------------------------------
def rss_mb(pids: list[int]) -> float:
    """Resident memory summed over processes (``/proc/<pid>/statm``: same figure as VmRSS)."""
    pages = 0
    for p in pids:
        try:
            pages += int(Path(f"/proc/{p}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return pages * PAGE_KB / 1024


def pss_mb(pids: list[int]) -> float:
    """Proportional set size summed over processes: pages shared by several of them split between them."""
    kb = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    kb += int(line.split()[1])
                    break
        except (OSError, ValueError):
            continue
    return kb / 1024


def describe(pids: list[int]) -> list[dict[str, Any]]:
    """Command line (shortened), RSS and PSS of each process."""
    out = []
    for p in pids:
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out.append({"pid": p, "cmd": cmd.strip()[:160], "rss_mb": rss_mb([p]), "pss_mb": pss_mb([p])})
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (and of their children already waited for)."""
    ticks = 0
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        f = stat[stat.rfind(")") + 2 :].split()
        ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return ticks / CLK_TCK


class Sampler(threading.Thread):
    """Reads the resident memory of a process tree every ``SAMPLE_EVERY`` seconds until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.pids = process_tree(pid)
        self.halt = threading.Event()
        self.peak_rss = rss_mb(self.pids)
        self.peak_pss = pss_mb(self.pids)
        self.max_processes = len(self.pids)
        self.samples = 1

    def run(self) -> None:
        i = 0
        while not self.halt.wait(SAMPLE_EVERY):
            i += 1
            if i % TREE_EVERY == 0:
                self.pids = process_tree(self.pid)
                self.max_processes = max(self.max_processes, len(self.pids))
            self.peak_rss = max(self.peak_rss, rss_mb(self.pids))
            if i % PSS_EVERY == 0:
                self.peak_pss = max(self.peak_pss, pss_mb(self.pids))
            self.samples += 1

    def stop(self) -> dict[str, float]:
        self.halt.set()
        self.join(5)
        self.pids = process_tree(self.pid)
        self.peak_rss = max(self.peak_rss, rss_mb(self.pids))
        self.peak_pss = max(self.peak_pss, pss_mb(self.pids))
        return {
            "peak_rss_mb": self.peak_rss,
            "peak_pss_mb": self.peak_pss,
            "processes": self.max_processes,
            "samples": self.samples,
        }


# -- process groups ----------------------------------------------------------------------------
def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> list[str]:
    """SIGTERM the process group of ``proc`` (started with a new session); SIGKILL what is left
    after ``grace`` seconds. Returns the command lines of the processes that had to be killed."""
    killed: list[str] = []
    if _group_alive(proc.pid):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, so that a finished group is seen as gone
            if not _group_alive(proc.pid):
                break
            time.sleep(0.05)
        else:
            killed = _group_commands(proc.pid)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    return killed


def _group_commands(pgid: int) -> list[str]:
    """Command lines of the live processes of a process group."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        out.append(cmd.strip()[:160])
    return out


# -- servers -----------------------------------------------------------------------------------
@dataclass
class Server:
    """One server to benchmark: how to start it and which client talks to it."""

    key: str
    label: str
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    ready_path: str
    tool: str  # "carnet" or "mlflow": which client worker
    workers: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Running:
    """A started server: process group, port, log; idle memory once settled."""

    def __init__(self, server: Server, log: Path) -> None:
        self.server, self.log_path = server, log
        self.port = free_port()
        self.log = log.open("wb")
        self.t0 = time.perf_counter()
        cmd = [a.replace("{port}", str(self.port)) for a in server.cmd]
        self.proc = subprocess.Popen(
            cmd,
            cwd=server.cwd,
            env=server.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self) -> float:
        """Poll the readiness route until it answers 200; seconds since the process started."""
        deadline = self.t0 + READY_TIMEOUT
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited {self.proc.returncode} before ready: {self.tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
                conn.request("GET", self.server.ready_path)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return time.perf_counter() - self.t0
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"not ready after {READY_TIMEOUT:.0f} s: {self.tail()}")

    def settle(self) -> dict[str, Any]:
        """Wait until the tree is idle: the same processes, under 5% of a core and RSS within 2 MB
        for 2 s. Returns the idle memory and how long it took (a server may start more processes,
        e.g. worker pools, after it answers its readiness route)."""
        window, step = 2.0, 0.5
        history: list[tuple[float, frozenset[int], float, float]] = []
        t_start = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited {self.proc.returncode} while settling: {self.tail()}")
            pids = process_tree(self.proc.pid)
            now = time.perf_counter()
            history.append((now, frozenset(pids), cpu_seconds(pids), rss_mb(pids)))
            old = [h for h in history if now - h[0] >= window - 1e-6]
            if old:
                first = old[-1]
                recent = [h for h in history if h[0] >= first[0]]
                same = all(h[1] == recent[-1][1] for h in recent)
                cpu_share = (recent[-1][2] - first[2]) / max(now - first[0], 1e-6)
                rss_span = max(h[3] for h in recent) - min(h[3] for h in recent)
                if same and cpu_share < 0.05 and rss_span < 2.0:
                    return self._idle(pids, now - t_start, settled=True)
            if now - t_start > SETTLE_TIMEOUT:
                return self._idle(pids, now - t_start, settled=False)
            time.sleep(step)

    def _idle(self, pids: list[int], waited: float, settled: bool) -> dict[str, Any]:
        return {
            "idle_rss_mb": rss_mb(pids),
            "idle_pss_mb": pss_mb(pids),
            "idle_processes": len(pids),
            "settle_seconds": waited,
            "settled": settled,
            "idle_by_process": describe(pids),
        }

    def tail(self) -> str:
        self.log.flush()
        lines = self.log_path.read_text(errors="replace").strip().splitlines()[-6:]
        return " | ".join(line[:200] for line in lines)

    def stop(self) -> list[str]:
        """Stop the server's process group; the processes that had to be killed (SIGKILL)."""
        killed = stop_group(self.proc)
        self.log.close()
        return killed
