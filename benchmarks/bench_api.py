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
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _api_report import as_json, markdown, plot, print_report  # noqa: E402
from _api_servers import (  # noqa: E402
    HOST,
    SERVER_LABELS,
    SERVERS,
    Running,
    Sampler,
    Server,
    cpu_seconds,
    process_tree,
    stop_group,
)

CARNET_CLIENT = HERE / "_api_carnet.py"
MLFLOW_CLIENT = HERE / "_api_mlflow.py"
CLIENT_TIMEOUT = 3600.0
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


# -- the benchmark -----------------------------------------------------------------------------
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
                stop_group(proc, grace=5)
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
        Path(args.json).write_text(json.dumps(as_json(bench, info), indent=2, default=str) + "\n")
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
