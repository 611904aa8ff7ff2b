"""Tracking-server benchmark: ``carnet server`` against ``mlflow server``, side by side, in one run.

Reproduce (see docs/benchmarks.md)::

    bash benchmarks/setup_mlflow_venv.sh      # .bench-venv/ with MLflow 3 (once)
    python benchmarks/bench_api.py --json benchmarks/results/api.json \\
        --markdown benchmarks/results/api.md --plot benchmarks/results/api.png   # ~30 min on 2 cores
    python benchmarks/bench_api.py --repeat 1    # the same sizes once: ~11 min
    python benchmarks/bench_api.py --quick       # smoke run: 500 metrics, 20 runs, one repetition

Most of the time goes to ``mlflow server`` with its default workers, which answers a request about
every 60 ms here (see docs/benchmarks.md).

Three servers run on 127.0.0.1, each on a fresh SQLite store on the local disk: ``carnet server``
(a workspace made by ``carnet init``), ``mlflow server --workers 1`` and ``mlflow server`` with its
default worker count (both ``--backend-store-uri sqlite:///<tmp>/mlflow.db --artifacts-destination
<tmp>/mlartifacts``, from ``.bench-venv``). They are started one after the other, and each one's
resident memory is read once it is idle (no process appearing, no CPU used). Then each scenario runs
``--repeat`` times; in every repetition each server gets a fresh client process of its own SDK
(``carnet.Client("http://...")`` in this interpreter, ``MlflowClient(tracking_uri="http://...")`` in
``.bench-venv``), the order of the servers rotating from one repetition to the next. While a client
runs, the resident memory of its server's process tree (server and workers) is sampled every
50 ms. Each client checks afterwards, through its SDK, that everything it sent is stored.
Figures are medians over repetitions; the ratio is MLflow seconds / carnet seconds (above 1:
carnet is faster) and MLflow MB / carnet MB.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CARNET_CLIENT = HERE / "_api_carnet.py"
MLFLOW_CLIENT = HERE / "_api_mlflow.py"
HOST = "127.0.0.1"
READY_TIMEOUT = 180.0
SETTLE_TIMEOUT = 90.0
CLIENT_TIMEOUT = 3600.0
SAMPLE_EVERY = 0.05  # seconds between two readings of a server's resident memory under load
PSS_EVERY = 10  # PSS (smaps_rollup, dearer to read) every this many RSS samples
TREE_EVERY = 20  # look for new processes in the server's tree every this many samples
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("carnet", "mlflow_w1", "mlflow_default")
SCENARIOS = ("per_call", "runs", "batch", "fluent")
DEFAULT_SCENARIOS = ("per_call", "runs", "batch")


@dataclass
class Sizes:
    """How big each scenario is (``--quick`` cuts them for a smoke run)."""

    metrics: int = 5000
    runs: int = 200
    batch: int = 5000
    params: int = 3
    tags: int = 2
    run_metrics: int = 5

    @classmethod
    def quick(cls) -> Sizes:
        return cls(metrics=500, runs=20, batch=500)


# -- processes and memory ----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _parents() -> dict[int, list[int]]:
    """Children of every process (one pass over /proc)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    kids, out, todo = _parents(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


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


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop_group(proc: subprocess.Popen, grace: float = 10.0) -> list[str]:
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
        killed = _stop_group(self.proc)
        self.log.close()
        return killed


# -- the benchmark -----------------------------------------------------------------------------
SCENARIO_LABELS = {
    "per_call": "{metrics:,} x log_metric, one request each (one run)",
    "runs": "{runs} runs: create (+{tags} tags), {params} x log_param, {run_metrics} x log_metric, end",
    "batch": "batch API: one log_batch of {batch:,} values (not per call)",
    "fluent": "SDK-side batching: {metrics:,} x log_metric on a fluent run",
}
SERVER_LABELS = {
    "carnet": "carnet server",
    "mlflow_w1": "mlflow server --workers 1",
    "mlflow_default": "mlflow server (default: {workers} workers)",
}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = Sizes.quick() if args.quick else Sizes()
        for name in ("metrics", "runs", "batch"):
            if getattr(args, name) is not None:
                setattr(self.sizes, name, getattr(args, name))
        if args.metrics is not None and args.batch is None:
            self.sizes.batch = args.metrics
        self.venv_python = Path(args.venv) / "bin" / "python"
        self.tmp = Path(tempfile.mkdtemp(prefix="carnet-bench-api-", dir=args.tmp))
        self.running: dict[str, Running] = {}
        self.servers: dict[str, Server] = {}
        # (scenario, server) -> list of client results; server -> memory figures
        self.results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.memory: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, list[str]] = {}
        self.versions: dict[str, str] = {}

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def error(self, key: str, msg: str) -> None:
        self.errors.setdefault(key, []).append(msg)
        self.log(f"  ERROR {key}: {msg}")

    # -- servers ---------------------------------------------------------------------------
    def _carnet_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _mlflow_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON"))}
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = f"{self.venv_python.parent}{os.pathsep}{env.get('PATH', '')}"
        # No network here: telemetry would only add noise (and try to reach the internet).
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        env["DO_NOT_TRACK"] = "true"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _carnet_cli(self) -> list[str]:
        """The ``carnet`` console script of this interpreter, else ``python -m carnet.cli.main``."""
        exe = Path(sys.executable).parent / "carnet"
        return [str(exe)] if exe.exists() else [sys.executable, "-m", "carnet.cli.main"]

    def mlflow_default_workers(self) -> int | None:
        """MLflow's default worker count, as its ``mlflow server --help`` states it."""
        res = subprocess.run(
            [str(self.venv_python.parent / "mlflow"), "server", "--help"],
            capture_output=True,
            text=True,
            env=self._mlflow_env(),
        )
        text = " ".join(res.stdout.split())
        m = re.search(r"--workers TEXT .*?\(default: (\d+)\)", text)
        return int(m.group(1)) if m else None

    def prepare(self) -> list[Server]:
        servers = []
        if "carnet" in self.args.only:
            ws = self.tmp / "carnet-ws"
            cli = self._carnet_cli()
            res = subprocess.run(
                [*cli, "init", str(ws)], capture_output=True, text=True, env=self._carnet_env()
            )
            if res.returncode != 0:
                self.error("carnet", f"carnet init failed: {res.stderr.strip()[-300:]}")
            else:
                servers.append(
                    Server(
                        "carnet",
                        SERVER_LABELS["carnet"],
                        [*cli, "server", "--host", HOST, "--port", "{port}", "--uri", str(ws)],
                        self._carnet_env(),
                        self.tmp,
                        "/healthz",
                        "carnet",
                        info={"store": f"sqlite:///{ws / 'carnet.db'}", "created_by": "carnet init"},
                    )
                )
        wanted = [k for k in ("mlflow_w1", "mlflow_default") if k in self.args.only]
        if wanted and not self.venv_python.exists():
            for k in wanted:
                self.error(k, f"no MLflow venv at {self.args.venv}: bash benchmarks/setup_mlflow_venv.sh")
            wanted = []
        if wanted:
            code = (
                "import importlib.metadata as m, json, platform, sqlite3; print(json.dumps({"
                "'mlflow': m.version('mlflow'), 'uvicorn': m.version('uvicorn'), "
                "'sqlalchemy': m.version('sqlalchemy'), 'python': platform.python_version(), "
                "'sqlite': sqlite3.sqlite_version}))"
            )
            out = subprocess.run(
                [str(self.venv_python), "-c", code], capture_output=True, text=True, check=True
            )
            self.versions |= {f"mlflow_venv_{k}": v for k, v in json.loads(out.stdout).items()}
            default = self.mlflow_default_workers()
            self.versions["mlflow_default_workers"] = str(default)
        for key in wanted:
            folder = self.tmp / key
            folder.mkdir()
            workers = 1 if key == "mlflow_w1" else default
            cmd = [
                str(self.venv_python.parent / "mlflow"),
                "server",
                "--host",
                HOST,
                "--port",
                "{port}",
                "--backend-store-uri",
                f"sqlite:///{folder / 'mlflow.db'}",
                "--artifacts-destination",
                str(folder / "mlartifacts"),
            ]
            if key == "mlflow_w1":
                cmd += ["--workers", "1"]
            label = SERVER_LABELS[key].format(workers=default if default is not None else "?")
            servers.append(
                Server(
                    key,
                    label,
                    cmd,
                    self._mlflow_env(),
                    folder,
                    "/health",
                    "mlflow",
                    workers=workers,
                    info={"store": f"sqlite:///{folder / 'mlflow.db'}"},
                )
            )
        return servers

    def start(self, server: Server) -> None:
        run = Running(server, self.tmp / f"{server.key}.log")
        self.running[server.key] = run
        ready = run.wait_ready()
        idle = run.settle()
        idle["ready_seconds"] = ready
        idle["command"] = " ".join(server.cmd).replace("{port}", str(run.port))
        self.memory[server.key] = idle
        self.log(
            f" {server.key}: ready in {ready:.1f} s, idle after {idle['settle_seconds']:.1f} s more"
            f"{'' if idle['settled'] else ' (NOT settled)'}: RSS {idle['idle_rss_mb']:.0f} MB, "
            f"PSS {idle['idle_pss_mb']:.0f} MB, {idle['idle_processes']} processes"
        )

    # -- clients ---------------------------------------------------------------------------
    def client(self, scenario: str, key: str, rep: int) -> None:
        run = self.running[key]
        server = run.server
        s = self.sizes
        n = {"per_call": s.metrics, "runs": s.runs, "batch": s.batch, "fluent": s.metrics}[scenario]
        out = self.tmp / f"{key}-{scenario}-{rep}.json"
        log = self.tmp / f"{key}-{scenario}-{rep}.client.log"
        if server.tool == "carnet":
            cmd, env = [sys.executable, str(CARNET_CLIENT)], self._carnet_env()
        else:
            cmd, env = [str(self.venv_python), str(MLFLOW_CLIENT)], self._mlflow_env()
        cmd += [
            scenario,
            "--url",
            run.url,
            "--out",
            str(out),
            "--n",
            str(n),
            "--tag",
            f"r{rep}",
            "--params",
            str(s.params),
            "--tags",
            str(s.tags),
            "--metrics",
            str(s.run_metrics),
        ]
        server_pids = process_tree(run.proc.pid)
        cpu0 = cpu_seconds(server_pids)
        sampler = Sampler(run.proc.pid)
        sampler.start()
        t0 = time.perf_counter()
        with log.open("wb") as f:
            proc = subprocess.Popen(
                cmd, cwd=self.tmp, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                code = proc.wait(timeout=CLIENT_TIMEOUT)
            finally:
                _stop_group(proc, grace=5)
                mem = sampler.stop()
        wall = time.perf_counter() - t0
        server_cpu = cpu_seconds(sampler.pids) - cpu0
        if run.proc.poll() is not None:
            raise RuntimeError(f"{key} server exited {run.proc.returncode}: {run.tail()}")
        if code != 0 or not out.exists():
            lines = log.read_text(errors="replace").strip().splitlines()[-4:]
            self.error(f"{scenario}:{key}", f"client exited {code}: " + " | ".join(x[:300] for x in lines))
            return
        data = json.loads(out.read_text())
        data |= {"rep": rep, "client_process_seconds": wall, "server_cpu_seconds": server_cpu, **mem}
        self.results.setdefault((scenario, key), []).append(data)
        peak = self.memory[key].setdefault("peak_rss_mb", 0.0)
        self.memory[key]["peak_rss_mb"] = max(peak, mem["peak_rss_mb"])
        self.memory[key]["peak_pss_mb"] = max(self.memory[key].get("peak_pss_mb", 0.0), mem["peak_pss_mb"])
        self.memory[key]["peak_processes"] = max(self.memory[key].get("peak_processes", 0), mem["processes"])
        req = f", {data['requests']:,} requests" if data.get("requests") is not None else ""
        self.log(
            f"  {key:15s} {data['seconds']:8.3f} s ({data['calls'] / data['seconds']:,.0f} calls/s{req}), "
            f"server CPU {server_cpu:.2f} s, peak RSS {mem['peak_rss_mb']:.0f} MB"
        )

    def run(self) -> None:
        servers = self.prepare()
        self.servers = {s.key: s for s in servers}
        self.log(f"starting {len(servers)} server(s), one at a time; temporary folder {self.tmp}")
        for server in servers:
            try:
                self.start(server)
            except Exception as exc:  # noqa: BLE001 - reported in the tables
                self.error(server.key, f"start: {exc}")
                run = self.running.pop(server.key, None)
                if run is not None:
                    run.stop()
        keys = [s.key for s in servers if s.key in self.running]
        for rep in range(self.args.repeat):
            for i, scenario in enumerate(self.args.scenarios):
                k = (rep + i) % max(1, len(keys))
                order = keys[k:] + keys[:k]
                self.log(f"repetition {rep + 1}/{self.args.repeat}, {scenario}: {', '.join(order)}")
                for key in order:
                    try:
                        self.client(scenario, key, rep)
                    except Exception as exc:  # noqa: BLE001 - reported in the tables
                        self.error(f"{scenario}:{key}", str(exc))
        for key in keys:  # memory once the load is over and the server idle again
            try:
                after = self.running[key].settle()
                self.memory[key]["after_rss_mb"] = after["idle_rss_mb"]
                self.memory[key]["after_pss_mb"] = after["idle_pss_mb"]
            except Exception as exc:  # noqa: BLE001 - reported in the tables
                self.error(key, f"after the load: {exc}")

    def stop_all(self) -> None:
        for key, run in list(self.running.items()):
            self.running.pop(key, None)
            killed = run.stop()
            if killed:
                self.memory.setdefault(key, {})["killed_after_sigterm"] = killed
                self.log(
                    f" {key}: {len(killed)} process(es) still running 10 s after SIGTERM, killed: {killed}"
                )

    def cleanup(self) -> None:
        self.stop_all()
        if self.args.keep:
            self.log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- figures ---------------------------------------------------------------------------
    def median(self, scenario: str, key: str, what: str = "seconds") -> float | None:
        xs = [r[what] for r in self.results.get((scenario, key), []) if r.get(what) is not None]
        return statistics.median(xs) if xs else None

    def machine(self) -> dict[str, Any]:
        import importlib.metadata as md

        info: dict[str, Any] = {
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "loadavg_start": os.getloadavg(),
            "command": " ".join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        }
        for dist in ("carnet", "uvicorn", "fastapi", "httpx", "sqlalchemy"):
            try:
                info[dist] = md.version(dist)
            except md.PackageNotFoundError:
                pass
        tmp = self.tmp.parent
        try:
            df = subprocess.run(["df", "-h", str(tmp)], capture_output=True, text=True).stdout.splitlines()
            info["tmp"], info["tmp_filesystem"] = str(tmp), df[-1].split()[0]
        except (OSError, IndexError):
            pass
        return info


# -- report ------------------------------------------------------------------------------------
def _secs(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 0.1:
        return f"{x:.2f}"
    return f"{x * 1000:.1f} ms"


def _ratio(x: float | None) -> str:
    return "—" if x is None else (f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x")


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def _label(b: Bench, key: str) -> str:
    server = b.servers.get(key)
    if server is not None:
        return server.label
    return SERVER_LABELS[key].format(workers=b.versions.get("mlflow_default_workers", "?"))


def _throughput(b: Bench, scenario: str, sec: float | None, calls: float | None) -> str:
    """SDK calls per second; for the batch scenario (one call), metric values per second."""
    if sec is None or calls is None or sec <= 0:
        return "—"
    if scenario == "batch":
        return f"{b.sizes.batch / sec:,.0f} values/s"
    return f"{calls / sec:,.0f}"


def timing_rows(b: Bench) -> list[list[str]]:
    rows = []
    for scenario in b.args.scenarios:
        label = SCENARIO_LABELS[scenario].format(**b.sizes.__dict__)
        base = b.median(scenario, "carnet")
        for i, key in enumerate(k for k in SERVERS if k in b.args.only):
            sec = b.median(scenario, key)
            calls = b.median(scenario, key, "calls")
            reqs = b.median(scenario, key, "requests")
            cpu = b.median(scenario, key, "server_cpu_seconds")
            failed = b.errors.get(f"{scenario}:{key}")
            rows.append(
                [
                    label if i == 0 else "",
                    _label(b, key),
                    "ERROR" if failed and sec is None else _secs(sec),
                    _throughput(b, scenario, sec, calls),
                    "—" if reqs is None else f"{reqs:,.0f}",
                    _secs(cpu),
                    "—" if key == "carnet" else _ratio(_div(sec, base)),
                ]
            )
    return rows


TIMING_HEAD = [
    "scenario",
    "server",
    "seconds",
    "SDK calls/s",
    "HTTP requests",
    "server CPU s",
    "MLflow s / carnet s",
]


def memory_rows(b: Bench) -> list[list[str]]:
    rows = []
    base = b.memory.get("carnet", {})

    def mb(x: float | None) -> str:
        return "—" if x is None else f"{x:,.0f}"

    for key in (k for k in SERVERS if k in b.args.only):
        m = b.memory.get(key)
        if not m:
            rows.append([_label(b, key), "ERROR" if b.errors.get(key) else "—"] + [""] * 6)
            continue
        rows.append(
            [
                _label(b, key),
                f"{m.get('peak_processes', m['idle_processes'])}",
                f"{m['ready_seconds']:.1f}",
                mb(m["idle_rss_mb"]),
                mb(m.get("peak_rss_mb")),
                mb(m.get("after_rss_mb")),
                "—" if key == "carnet" else _ratio(_div(m["idle_rss_mb"], base.get("idle_rss_mb"))),
                "—" if key == "carnet" else _ratio(_div(m.get("peak_rss_mb"), base.get("peak_rss_mb"))),
            ]
        )
    return rows


MEMORY_HEAD = [
    "server",
    "processes",
    "ready s",
    "RSS idle MB",
    "RSS peak MB",
    "RSS after MB",
    "RSS idle / carnet",
    "RSS peak / carnet",
]


def _md_table(head: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    rule = "|" + "|".join("---" if i < left else "---:" for i in range(len(head))) + "|"
    esc = [" | ".join(c.replace("|", "\\|") for c in r) for r in rows]
    return ["| " + " | ".join(head) + " |", rule, *(f"| {r} |" for r in esc)]


def footer(b: Bench, info: dict[str, Any]) -> list[str]:
    s = b.sizes
    v = b.versions
    return [
        f"Median of {b.args.repeat} repetition(s), the order of the servers rotating; "
        "seconds measured in the client process, the server's CPU time read from /proc over its whole "
        "process tree. RSS is summed over the server's processes (idle: after start-up, once no process "
        "appears and no CPU is used; peak: the highest 50 ms sample while a client ran; after: idle again "
        f"after every scenario). Scenario sizes: {s.metrics:,} per-call "
        f"values, {s.runs} runs, a batch of {s.batch:,}.",
        "",
        f"Python {info['python']} (MLflow venv {v.get('mlflow_venv_python', '—')}), SQLite {info['sqlite']} "
        f"(MLflow venv {v.get('mlflow_venv_sqlite', '—')}), carnet {info.get('carnet', '—')}, "
        f"MLflow {v.get('mlflow_venv_mlflow', '—')} (uvicorn {v.get('mlflow_venv_uvicorn', '—')}), "
        f"carnet's uvicorn {info.get('uvicorn', '—')}, {info['cpus']} cpus; "
        f"took {info.get('bench_seconds')} s.",
        "",
        f"Command: `{info['command']}`",
    ]


def markdown(b: Bench, info: dict[str, Any]) -> str:
    lines = ["### Time (median; lower is better)", ""]
    lines += _md_table(TIMING_HEAD, timing_rows(b), left=2)
    lines += ["", "### Resident memory of the server's process tree", ""]
    lines += _md_table(MEMORY_HEAD, memory_rows(b))
    lines += ["", *footer(b, info)]
    problems = {k: v for k, v in b.errors.items() if v}
    if problems:
        lines += ["", "Errors:", ""]
        lines += [f"- {k}: " + "; ".join(sorted(set(v)))[:600] for k, v in problems.items()]
    return "\n".join(lines)


def print_report(b: Bench, info: dict[str, Any], plain: bool) -> None:
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            plain = True
    if plain:
        print(markdown(b, info))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    for title, head, rows, left in (
        ("carnet server vs mlflow server: time (median; lower is better)", TIMING_HEAD, timing_rows(b), 2),
        ("resident memory of each server's process tree", MEMORY_HEAD, memory_rows(b), 1),
    ):
        t = Table(title=title)
        for i, h in enumerate(head):
            t.add_column(h, justify="left" if i < left else "right")
        for r in rows:
            t.add_row(*[f"[bold red]{c}[/]" if c == "ERROR" else c for c in r])
        console.print(t)
    for line in footer(b, info):
        if line:
            console.print(line, highlight=False)
    for k, v in b.errors.items():
        for e in v:
            console.print(f"[bold red]ERROR[/] {k}: {e}", highlight=False)


def plot(b: Bench, path: Path) -> None:
    """Two panels: median seconds per scenario (log scale), and idle / peak RSS per server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in SERVERS if k in b.args.only]
    colors = {"carnet": "#2a9d8f", "mlflow_w1": "#e76f51", "mlflow_default": "#f4a261"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / max(1, len(keys))
    scen = list(b.args.scenarios)
    short = {
        "per_call": f"{b.sizes.metrics:,} x log_metric\n(one request each)",
        "runs": f"{b.sizes.runs} runs\n({b.sizes.params + b.sizes.run_metrics + 2} calls each)",
        "batch": f"log_batch of {b.sizes.batch:,}\n(batch API)",
        "fluent": f"{b.sizes.metrics:,} x log_metric\n(SDK-side batching)",
    }
    for j, key in enumerate(keys):
        xs, ys = [], []
        for i, scenario in enumerate(scen):
            sec = b.median(scenario, key)
            if sec is not None:
                xs.append(i + (j - (len(keys) - 1) / 2) * width)
                ys.append(sec)
        bars = ax1.bar(xs, ys, width, label=_label(b, key), color=colors[key])
        for bar, y in zip(bars, ys, strict=True):
            ax1.annotate(
                _secs(y).replace(" ms", "ms") + ("" if y < 0.1 else "s"),
                (bar.get_x() + bar.get_width() / 2, y),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax1.set_yscale("log")
    ax1.set_xticks(range(len(scen)), [short[s] for s in scen], fontsize=8)
    ax1.set_ylabel("seconds (median, log scale)")
    ax1.set_title("time per scenario (lower is better)")
    ax1.legend(fontsize=8)
    idle = [b.memory.get(k, {}).get("idle_rss_mb") or 0 for k in keys]
    peak = [b.memory.get(k, {}).get("peak_rss_mb") or 0 for k in keys]
    xs = list(range(len(keys)))
    ax2.bar([x - 0.2 for x in xs], idle, 0.4, label="idle", color="#8ecae6")
    ax2.bar([x + 0.2 for x in xs], peak, 0.4, label="peak under load", color="#219ebc")
    for x, i_mb, p_mb in zip(xs, idle, peak, strict=True):
        ax2.annotate(f"{i_mb:,.0f}", (x - 0.2, i_mb), ha="center", va="bottom", fontsize=7)
        ax2.annotate(f"{p_mb:,.0f}", (x + 0.2, p_mb), ha="center", va="bottom", fontsize=7)
    ax2.set_xticks(xs, [_label(b, k).replace(" (", "\n(").replace(" --", "\n--") for k in keys], fontsize=8)
    ax2.set_ylabel("RSS of the process tree, MB")
    ax2.set_title("resident memory (lower is better)")
    ax2.legend(fontsize=8)
    fig.suptitle(
        f"carnet server vs mlflow server, SQLite on local disk, median of {b.args.repeat}", fontsize=10
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _as_json(b: Bench, info: dict[str, Any]) -> dict[str, Any]:
    scenarios = []
    for scenario in b.args.scenarios:
        base = b.median(scenario, "carnet")
        per_server = {}
        for key in (k for k in SERVERS if k in b.args.only):
            sec = b.median(scenario, key)
            calls = b.median(scenario, key, "calls")
            per_server[key] = {
                "label": _label(b, key),
                "seconds": sec,
                "calls": calls,
                "calls_per_second": None if sec is None or calls is None else calls / sec,
                "http_requests": b.median(scenario, key, "requests"),
                "server_cpu_seconds": b.median(scenario, key, "server_cpu_seconds"),
                "ratio_mlflow_over_carnet": None if key == "carnet" else _div(sec, base),
                "samples": b.results.get((scenario, key), []),
                "errors": b.errors.get(f"{scenario}:{key}", []),
            }
        scenarios.append(
            {
                "scenario": scenario,
                "label": SCENARIO_LABELS[scenario].format(**b.sizes.__dict__),
                "servers": per_server,
            }
        )
    memory = {}
    base = b.memory.get("carnet", {})
    for key, m in b.memory.items():
        memory[key] = dict(m) | {
            "label": _label(b, key),
            "workers": b.servers[key].workers if key in b.servers else None,
            "ratio_idle_rss_over_carnet": None
            if key == "carnet"
            else _div(m["idle_rss_mb"], base.get("idle_rss_mb")),
            "ratio_peak_rss_over_carnet": None
            if key == "carnet"
            else _div(m.get("peak_rss_mb"), base.get("peak_rss_mb")),
        }
    return {
        "machine": info,
        "sizes": b.sizes.__dict__,
        "scenarios": scenarios,
        "memory": memory,
        "errors": b.errors,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--repeat",
        "--reps",
        type=int,
        default=None,
        help="repetitions of every scenario; the median is reported (default 3, quick 1)",
    )
    p.add_argument(
        "--quick", action="store_true", help="small sizes, one repetition unless --repeat is given"
    )
    p.add_argument("--metrics", type=int, help="per-call log_metric values of one run (default 5000)")
    p.add_argument("--runs", type=int, help="runs of the run scenario (default 200)")
    p.add_argument("--batch", type=int, help="values of the log_batch scenario (default: as --metrics)")
    p.add_argument(
        "--scenarios",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=list(DEFAULT_SCENARIOS),
        help=f"comma-separated among {','.join(SCENARIOS)} (default: {','.join(DEFAULT_SCENARIOS)}; "
        "fluent: each SDK's own client-side batching of per-call code)",
    )
    p.add_argument(
        "--only",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=list(SERVERS),
        help=f"comma-separated servers among {','.join(SERVERS)} (default: all)",
    )
    p.add_argument(
        "--json", metavar="PATH", help="also write every sample, the medians and the machine as JSON"
    )
    p.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    p.add_argument("--plot", metavar="PATH", help="also draw the figures as a PNG (matplotlib)")
    p.add_argument("--venv", default=str(ROOT / ".bench-venv"), help="the MLflow virtual environment")
    p.add_argument("--tmp", help="folder for the stores and logs (default: the system temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (stores, server logs)")
    p.add_argument("--plain", action="store_true", help="plain Markdown tables instead of rich")
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    for name, chosen, allowed in (("scenario", args.scenarios, SCENARIOS), ("server", args.only, SERVERS)):
        unknown = [x for x in chosen if x not in allowed]
        if unknown:
            p.error(f"unknown {name}(s) {unknown}; choose among {', '.join(allowed)}")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally below: servers stopped

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    bench = Bench(args)
    info = bench.machine()
    bench.log(f"machine: {json.dumps(info)}")
    t0 = time.perf_counter()
    try:
        bench.run()
    finally:
        bench.cleanup()
    info |= bench.versions
    info["bench_seconds"] = round(time.perf_counter() - t0, 1)
    info["loadavg_end"] = os.getloadavg()
    info["repeat"] = args.repeat
    print()
    print_report(bench, info, args.plain)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(_as_json(bench, info), indent=2, default=str) + "\n")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown(bench, info) + "\n")
    if args.plot:
        try:
            plot(bench, Path(args.plot))
        except ImportError as exc:
            print(f"no plot: {exc}", file=sys.stderr)
    return 1 if any(bench.errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
