"""Tracking benchmark: carnet against MLflow (SQLite backend), side by side, in one run.

Reproduce (see docs/benchmarks.md)::

    bash benchmarks/setup_mlflow_venv.sh      # .bench-venv/ with MLflow 3 (once)
    python benchmarks/bench_tracking.py       # full run, about 15 minutes on 2 cores
    python benchmarks/bench_tracking.py --quick --repeat 1   # smoke run, under a minute or two

Every scenario runs in a fresh process and in fresh temporary folders: carnet in a subprocess of
this interpreter, MLflow in a subprocess of ``.bench-venv/bin/python`` with
``MLFLOW_TRACKING_URI=sqlite:///<tmp>/mlflow.db`` and the experiment's artifacts in ``<tmp>``
(the same disk). Each scenario is repeated ``--repeat`` times (carnet and MLflow alternating) and
the median is reported. The worker scripts (``_carnet_worker.py``, ``_mlflow_worker.py``) are
copied into the temporary folder, which is made a git repository with one commit, and run with it
as the working directory: both tools then see the "training script in a git repository" that a
real run has, and neither sees this repository's work tree.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CARNET_WORKER = HERE / "_carnet_worker.py"
MLFLOW_WORKER = HERE / "_mlflow_worker.py"
TIMEOUT = 3600
IMPORT_FLOOR = 0.001  # seconds; an import figure under it is shown as 1 ms (the ratio is then a lower bound)


@dataclass
class Sizes:
    """How big each scenario is (``--quick`` cuts them for a smoke run)."""

    metrics: int = 5000
    batch: int = 5000
    runs: int = 200
    search_repeat: int = 20
    artifact_mb: int = 50
    big_runs: int = 10_000
    big_max_results: int = 100
    import_repeat: int = 15

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            metrics=500, batch=500, runs=20, search_repeat=5, artifact_mb=5, big_runs=300, import_repeat=5
        )


@dataclass
class Row:
    """One line of the results table."""

    key: str
    label: str
    carnet: list[float] = field(default_factory=list)
    mlflow: list[float] = field(default_factory=list)
    target: str = ""
    min_ratio: float | None = None  # MLflow seconds / carnet seconds must be at least this
    max_carnet: float | None = None  # carnet seconds must be at most this
    note: str = ""
    errors: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def _med(xs: list[float]) -> float | None:
        return statistics.median(xs) if xs else None

    @property
    def c(self) -> float | None:
        return self._med(self.carnet)

    @property
    def m(self) -> float | None:
        return self._med(self.mlflow)

    @property
    def ratio(self) -> float | None:
        if self.c is None or self.m is None or self.c <= 0:
            return None
        return self.m / self.c

    @property
    def verdict(self) -> str:
        if self.errors:
            return "ERROR"
        checks = []
        if self.min_ratio is not None:
            if self.ratio is None:
                return "n/a"
            checks.append(self.ratio >= self.min_ratio)
        if self.max_carnet is not None:
            if self.c is None:
                return "n/a"
            checks.append(self.c <= self.max_carnet)
        if not checks:
            return ""
        return "PASS" if all(checks) else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.label,
            "carnet_seconds": self.c,
            "mlflow_seconds": self.m,
            "ratio_mlflow_over_carnet": self.ratio,
            "target": self.target,
            "result": self.verdict,
            "carnet_samples": self.carnet,
            "mlflow_samples": self.mlflow,
            "note": self.note,
            "errors": self.errors,
            "extra": self.extra,
        }


# -- processes ----------------------------------------------------------------
def _carnet_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _mlflow_env(tracking_uri: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON"))}
    # No network here: telemetry would only add noise (and try to reach the internet).
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    env["PYTHONUNBUFFERED"] = "1"
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def _git_repo(folder: Path, script: Path) -> Path:
    """Copy ``script`` into ``folder`` and commit it there; returns the copy."""
    dest = folder / script.name
    shutil.copy2(script, dest)
    git = [
        "git",
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.invalid",
        "-c",
        "init.defaultBranch=main",
    ]
    subprocess.run([*git, "init", "-q"], cwd=folder, check=True)
    subprocess.run([*git, "add", script.name], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "train script"], cwd=folder, check=True)
    return dest


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = Sizes.quick() if args.quick else Sizes()
        self.venv_python = Path(args.venv) / "bin" / "python"
        self.tmp_base = Path(args.tmp) if args.tmp else None
        self.versions: dict[str, Any] = {}

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def _tmp(self, tag: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"carnet-bench-{tag}-", dir=self.tmp_base))

    def _worker(self, tool: str, scenario: str, extra: list[str]) -> dict[str, Any]:
        work = self._tmp(f"{tool}-{scenario}")
        try:
            script = _git_repo(work, CARNET_WORKER if tool == "carnet" else MLFLOW_WORKER)
            out = work / "result.json"
            if tool == "carnet":
                cmd = [sys.executable, str(script)]
                env = _carnet_env()
            else:
                cmd = [str(self.venv_python), str(script)]
                env = _mlflow_env(f"sqlite:///{work / 'mlflow.db'}")
            cmd += [scenario, "--workdir", str(work), "--out", str(out), *extra]
            res = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT)
            if res.returncode != 0 or not out.exists():
                tail = (res.stderr or res.stdout).strip().splitlines()[-5:]
                raise RuntimeError(f"{tool} {scenario} exited {res.returncode}: " + " | ".join(tail))
            return json.loads(out.read_text())
        finally:
            if not self.args.keep:
                shutil.rmtree(work, ignore_errors=True)

    def _pair(
        self, rows: list[Row], tool: str, scenario: str, extra: list[str], pick: dict[str, str]
    ) -> None:
        """Run one worker and append its figures (``pick``: row key -> result field) to the rows."""
        by_key = {r.key: r for r in rows}
        try:
            data = self._worker(tool, scenario, extra)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            for key in pick:
                by_key[key].errors.append(f"{tool}: {exc}")
            self.log(f"  {tool} {scenario}: ERROR {exc}")
            return
        for key, fld in pick.items():
            (by_key[key].carnet if tool == "carnet" else by_key[key].mlflow).append(float(data[fld]))
            by_key[key].extra.setdefault(f"{tool}_raw", []).append(data)
        if tool == "mlflow" and "mlflow" in data:
            self.versions["mlflow"] = data["mlflow"]
        shown = ", ".join(f"{fld}={float(data[fld]):.4f}s" for fld in pick.values())
        self.log(f"  {tool} {scenario}: {shown}")

    # -- scenarios ----------------------------------------------------------------
    def scenario_workers(self) -> list[Row]:
        s, rep = self.sizes, self.args.repeat
        per_call = Row(
            "log_metric",
            f"{s.metrics:,} x log_metric in one run, until durable",
            target=">= 100x",
            min_ratio=100,
            note="carnet: run.log_metric x N then run.flush(); MLflow: mlflow.log_metric x N (synchronous)",
        )
        per_call_async = Row(
            "log_metric_async",
            "  same, MLflow synchronous=False + wait",
            note="MLflow: log_metric(synchronous=False) x N, then wait() on every returned operation",
        )
        batch = Row(
            "log_batch",
            f"one batch of {s.batch:,} metrics",
            note="carnet: Client.log_batch (one transaction); MLflow: MlflowClient.log_batch, which MLflow "
            "splits into batches of at most 1,000 metrics (so 5 transactions for 5,000)",
        )
        runs = Row(
            "runs",
            f"{s.runs} runs x (10 params + 10 metrics)",
            target=">= 10x",
            min_ratio=10,
            note="fluent API; carnet records the environment (log_environment default on)",
        )
        search = Row(
            "search",
            f"filtered search over those {s.runs} runs",
            target=">= 5x",
            min_ratio=5,
            note=f"median of {s.search_repeat} after a warm-up: metrics.m0 > 0.5 and params.p0 = 'v1', "
            "order by metrics.m0 desc",
        )
        artifact = Row(
            "artifact", f"{s.artifact_mb} MB artifact", note="run.log_artifact / mlflow.log_artifact"
        )
        rows = [per_call, per_call_async, batch, runs, search, artifact]
        common = ["--search-repeat", str(s.search_repeat)]
        plan = [
            ("log_metric", ["--n", str(s.metrics)], {"log_metric": "seconds"}, {"log_metric": "seconds"}),
            ("log_batch", ["--n", str(s.batch)], {"log_batch": "seconds"}, {"log_batch": "seconds"}),
            (
                "runs_and_search",
                ["--n", str(s.runs), *common],
                {"runs": "create_seconds", "search": "search_seconds"},
                {"runs": "create_seconds", "search": "search_seconds"},
            ),
            ("artifact", ["--mb", str(s.artifact_mb)], {"artifact": "seconds"}, {"artifact": "seconds"}),
        ]
        for scenario, extra, pick_c, pick_m in plan:
            if not self._selected(scenario):
                continue
            self.log(f"scenario {scenario}")
            for i in range(rep):
                self.log(f" repeat {i + 1}/{rep}")
                self._pair(rows, "carnet", scenario, extra, pick_c)
                if not self.args.no_mlflow:
                    self._pair(rows, "mlflow", scenario, extra, pick_m)
                    if scenario == "log_metric":
                        self._pair(
                            rows,
                            "mlflow",
                            scenario,
                            [*extra, "--asynchronous"],
                            {"log_metric_async": "seconds"},
                        )
        # the async row compares MLflow async against the same carnet figure
        per_call_async.carnet = list(per_call.carnet)
        return [r for r in rows if r.carnet or r.mlflow or r.errors]

    def scenario_import(self) -> list[Row]:
        s = self.sizes
        imp = Row(
            "import",
            "import time (import carnet / import mlflow)",
            target=">= 5x",
            min_ratio=5,
            note=f"median wall time of `python -c 'import X'` minus median of `python -c 'pass'`, "
            f"{s.import_repeat} runs each, same interpreter; a difference under 1 ms is shown as 1 ms",
        )
        sdk = Row(
            "import_sdk",
            "  import + load the tracking SDK",
            note="carnet: import carnet; carnet.Client; carnet.start_run (lazy SDK loaded) / "
            "mlflow: import mlflow; mlflow.MlflowClient; mlflow.start_run",
        )
        if not self._selected("import"):
            return []
        self.log("scenario import")
        cases = {
            ("carnet", "base"): (sys.executable, "pass"),
            ("carnet", "import"): (sys.executable, "import carnet"),
            ("carnet", "sdk"): (sys.executable, "import carnet; carnet.Client; carnet.start_run"),
        }
        if not self.args.no_mlflow:
            cases |= {
                ("mlflow", "base"): (str(self.venv_python), "pass"),
                ("mlflow", "import"): (str(self.venv_python), "import mlflow"),
                ("mlflow", "sdk"): (
                    str(self.venv_python),
                    "import mlflow; mlflow.MlflowClient; mlflow.start_run",
                ),
            }
        samples: dict[tuple[str, str], list[float]] = {k: [] for k in cases}
        work = self._tmp("import")
        try:
            for _ in range(s.import_repeat):  # interleaved, so that noise hits every case alike
                for key, (py, code) in cases.items():
                    env = _carnet_env() if key[0] == "carnet" else _mlflow_env(None)
                    t0 = time.perf_counter()
                    subprocess.run([py, "-c", code], cwd=work, env=env, check=True, capture_output=True)
                    samples[key].append(time.perf_counter() - t0)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for tool in ("carnet", "mlflow"):
            if (tool, "base") not in samples:
                continue
            base = statistics.median(samples[(tool, "base")])
            for row, case in ((imp, "import"), (sdk, "sdk")):
                # below the noise of process start-up a difference means nothing: floor at 1 ms
                value = max(statistics.median(samples[(tool, case)]) - base, IMPORT_FLOOR)
                (row.carnet if tool == "carnet" else row.mlflow).append(value)
                row.extra[f"{tool}_interpreter_start_seconds"] = base
                row.extra[f"{tool}_{case}_wall_samples"] = samples[(tool, case)]
            got = (imp.carnet if tool == "carnet" else imp.mlflow)[-1]
            self.log(f"  {tool}: interpreter start {base:.3f}s, import {got:.3f}s")
        return [imp, sdk]

    def _carnet_cli(self) -> str | None:
        """The ``carnet`` console script of this interpreter (not a pyenv shim), if installed."""
        exe = Path(sys.executable).parent / "carnet"
        return str(exe) if exe.exists() else shutil.which("carnet")

    def _timed(
        self, cmd: list[str], cwd: Path, env: dict[str, str]
    ) -> tuple[float, subprocess.CompletedProcess]:
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        return time.perf_counter() - t0, res

    def scenario_workspace(self) -> list[Row]:
        """New workspace: ``carnet init`` and ``carnet.Client(path)`` vs MLflow's first SQLite call.

        Both carnet variants are measured when the CLI exists; ``--init-cli`` says which one
        carries the target (the other is shown as information).
        """
        rep = self.args.repeat
        mlflow_note = (
            'MLflow: `python -c "from mlflow import MlflowClient; MlflowClient(tracking_uri='
            "'sqlite:///<tmp>/mlflow.db').search_experiments()\"` (creates and migrates the database)"
        )
        cli_row = Row(
            "workspace_cli",
            "new workspace: carnet init (absolute s)",
            note="wall time of `carnet init <tmp>/ws` (the console script); " + mlflow_note,
        )
        sdk_row = Row(
            "workspace_sdk",
            "new workspace: carnet.Client(path) (absolute s)",
            note="wall time of `python -c \"import carnet; carnet.Client('<tmp>/ws')\"`; " + mlflow_note,
        )
        main, other = (cli_row, sdk_row) if self.args.init_cli else (sdk_row, cli_row)
        main.target, main.max_carnet = "carnet <= 0.5 s", 0.5
        other.label = "  " + other.label.replace("new workspace: ", "")
        if not self._selected("workspace"):
            return []
        cli = self._carnet_cli()
        if cli is None and self.args.init_cli:
            cli_row.errors.append("carnet: no `carnet` console script installed")
        self.log("scenario workspace")
        for _ in range(rep):
            work = self._tmp("workspace")
            try:
                cases: list[tuple[Row, list[str], Path]] = []
                if cli is not None:
                    cases.append((cli_row, [cli, "init", str(work / "ws-cli")], work / "ws-cli"))
                sdk_code = f"import carnet; carnet.Client({str(work / 'ws-sdk')!r})"
                cases.append((sdk_row, [sys.executable, "-c", sdk_code], work / "ws-sdk"))
                for row, cmd, ws in cases:
                    dt, res = self._timed(cmd, work, _carnet_env())
                    if res.returncode != 0 or not (ws / "carnet.db").exists():
                        err = res.stderr.strip()[-300:]
                        row.errors.append(f"carnet: {' '.join(cmd)} exited {res.returncode}: {err}")
                    else:
                        row.carnet.append(dt)
                        self.log(f"  carnet {row.key}: {dt:.3f}s")
                if self.args.no_mlflow:
                    continue
                db = work / "mlflow.db"
                code = f"from mlflow import MlflowClient; MlflowClient(tracking_uri={f'sqlite:///{db}'!r}).search_experiments()"
                dt, res = self._timed([str(self.venv_python), "-c", code], work, _mlflow_env(None))
                if res.returncode != 0 or not db.exists():
                    for row in (cli_row, sdk_row):
                        row.errors.append(f"mlflow: exited {res.returncode}: {res.stderr.strip()[-300:]}")
                else:
                    cli_row.mlflow.append(dt)
                    sdk_row.mlflow.append(dt)
                    self.log(f"  mlflow workspace: {dt:.3f}s")
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return [r for r in (main, other) if r.carnet or r.errors]

    def scenario_big_search(self) -> list[Row]:
        s = self.sizes
        row = Row(
            "big_search",
            f"search over {s.big_runs:,} runs (carnet only)",
            target="carnet <= 0.05 s",
            max_carnet=0.05,
            note=f"same filter and order, max_results={s.big_max_results}, median of {s.search_repeat}; "
            "runs created untimed through the Client (create_run with 10 params and the environment, "
            "log_metrics of 10 metrics, end_run)",
        )
        if not self._selected("big_search"):
            return []
        self.log(f"scenario big_search ({s.big_runs:,} runs to create, untimed)")
        extra = [
            "--n",
            str(s.big_runs),
            "--max-results",
            str(s.big_max_results),
            "--search-repeat",
            str(s.search_repeat),
        ]
        for _ in range(self.args.big_repeat):
            self._pair([row], "carnet", "big_search", extra, {"big_search": "seconds"})
        return [row]

    def _selected(self, scenario: str) -> bool:
        return not self.args.only or scenario in self.args.only

    # -- machine ------------------------------------------------------------------
    def machine(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "loadavg_start": os.getloadavg(),
            "command": " ".join(["python", *[Path(sys.argv[0]).as_posix(), *sys.argv[1:]]]),
        }
        try:
            import carnet

            info["carnet"] = carnet.__version__
        except ImportError:
            pass
        try:
            import sqlalchemy

            info["sqlalchemy_carnet"] = sqlalchemy.__version__
        except ImportError:
            pass
        if not self.args.no_mlflow:
            code = (
                "import sqlite3, platform, mlflow, sqlalchemy; print(platform.python_version(), "
                "sqlite3.sqlite_version, mlflow.__version__, sqlalchemy.__version__)"
            )
            out = subprocess.run(
                [str(self.venv_python), "-c", code], capture_output=True, text=True, check=True
            )
            py, sq, ver, sa = out.stdout.split()
            info |= {"mlflow_python": py, "mlflow_sqlite": sq, "mlflow": ver, "sqlalchemy_mlflow": sa}
        tmp = self.tmp_base or Path(tempfile.gettempdir())
        info["tmp"] = str(tmp)
        try:
            df = (
                subprocess.run(["df", "-h", str(tmp)], capture_output=True, text=True)
                .stdout.splitlines()[-1]
                .split()
            )
            info["tmp_filesystem"] = df[0]
        except (OSError, IndexError):
            pass
        return info


# -- output -------------------------------------------------------------------
def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 0.1:
        return f"{x:.3f}"
    if x >= 0.001:
        return f"{x * 1000:.2f} ms"
    return f"{x * 1e6:.0f} µs"


def _fmt_ratio(x: float | None) -> str:
    return "—" if x is None else (f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x")


def table_lines(rows: list[Row]) -> list[list[str]]:
    out = []
    for r in rows:
        carnet, ratio = _fmt(r.c), _fmt_ratio(r.ratio)
        if r.c is not None and r.c <= IMPORT_FLOOR and r.key.startswith("import"):
            carnet, ratio = "≤ 1 ms", "≥ " + ratio  # floored: the real figure is below the noise
        out.append([r.label, carnet, _fmt(r.m), ratio, r.target or "—", r.verdict or "—"])
    return out


HEADER = ["scenario", "carnet (s)", "MLflow (s)", "ratio MLflow/carnet", "target", "result"]


def print_table(rows: list[Row], plain: bool) -> None:
    lines = table_lines(rows)
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table

            t = Table(title="carnet vs MLflow (median; lower seconds is better)")
            for h in HEADER:
                t.add_column(h, justify="left" if h in ("scenario", "target") else "right")
            for line in lines:
                style = {"PASS": "green", "FAIL": "bold red", "ERROR": "bold red"}.get(line[-1])
                t.add_row(*line[:-1], f"[{style}]{line[-1]}[/]" if style else line[-1])
            console = Console()
            if not console.is_terminal:
                console = Console(width=150)
            console.print(t)
            return
        except ImportError:
            pass
    print(markdown_table(rows))


def markdown_table(rows: list[Row]) -> str:
    lines = table_lines(rows)
    out = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---"] + ["---:"] * 3 + ["---", "---"]) + "|"]
    out += ["| " + " | ".join(x.replace("|", "\\|") for x in line) + " |" for line in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--repeat", type=int, default=3, help="runs of each scenario; the median is reported (default 3)"
    )
    p.add_argument(
        "--big-repeat",
        type=int,
        default=1,
        help="runs of the 10,000-run search (default 1; each "
        "takes minutes to set up, and the figure is already a median of searches)",
    )
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    p.add_argument(
        "--init-cli",
        action="store_true",
        help="time `carnet init <tmp>` for the new-workspace figure "
        "(default: python -c \"import carnet; carnet.Client('<tmp>')\")",
    )
    p.add_argument("--venv", default=str(ROOT / ".bench-venv"), help="the MLflow virtual environment")
    p.add_argument("--tmp", help="folder for the temporary workspaces (default: the system temp folder)")
    p.add_argument(
        "--only",
        nargs="+",
        choices=[
            "log_metric",
            "log_batch",
            "runs_and_search",
            "artifact",
            "import",
            "workspace",
            "big_search",
        ],
        help="run only these scenarios",
    )
    p.add_argument("--no-mlflow", action="store_true", help="carnet figures only")
    p.add_argument("--plain", action="store_true", help="plain Markdown table instead of rich")
    p.add_argument("--keep", action="store_true", help="keep the temporary folders (for debugging)")
    args = p.parse_args(argv)

    bench = Bench(args)
    if not args.no_mlflow and not bench.venv_python.exists():
        print(
            f"no MLflow venv at {args.venv}: run  bash benchmarks/setup_mlflow_venv.sh  first",
            file=sys.stderr,
        )
        return 2
    info = bench.machine()
    bench.log(f"machine: {json.dumps(info)}")
    t0 = time.perf_counter()
    rows = [
        *bench.scenario_workers(),
        *bench.scenario_import(),
        *bench.scenario_workspace(),
        *bench.scenario_big_search(),
    ]
    info["bench_seconds"] = round(time.perf_counter() - t0, 1)
    info["loadavg_end"] = os.getloadavg()
    info["repeat"] = args.repeat
    info["quick"] = args.quick
    info["sizes"] = bench.sizes.__dict__
    print()
    print_table(rows, args.plain)
    print(
        f"\nmedian of {args.repeat} runs; python {info['python']}, sqlite {info['sqlite']}, "
        f"mlflow {info.get('mlflow', '-')}, {info['cpus']} cpus; took {info['bench_seconds']} s"
    )
    for r in rows:
        for e in r.errors:
            print(f"ERROR {r.label}: {e}", file=sys.stderr)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"machine": info, "results": [r.as_dict() for r in rows]}, indent=2)
        )
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown_table(rows) + "\n")
    failed = [r for r in rows if r.verdict in ("FAIL", "ERROR")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
