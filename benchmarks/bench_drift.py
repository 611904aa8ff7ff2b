"""Data-drift benchmark: carnet against Evidently's DataDriftPreset and a plain numpy/scipy floor.

Reproduce (see docs/benchmarks.md)::

    bash benchmarks/setup_evidently_venv.sh    # .bench-evidently-venv/ with Evidently 0.7 (once)
    python benchmarks/bench_drift.py \\
        --json benchmarks/results/drift.json --markdown benchmarks/results/drift.md
    python benchmarks/bench_drift.py --quick   # smoke run: 10k and 100k rows, one round

Data: 15 columns generated with numpy (seeded) — 10 numeric (normal, lognormal, uniform and
integer) and 5 categorical strings (5 to 50 categories) — with N rows in the reference and N in
the current table, for N = 10k, 100k and 1M (``--quick``: 10k and 100k). In the current table
three columns are shifted: one numeric mean (+0.5 sd), one numeric scale (sd x 1.5) and one
categorical share (the top category +20 points). Both tables are written once per size as
Parquet files into a temporary folder that every side reads.

Sides, each run in its own fresh process per round (order rotating between rounds), reading
the same files with ``pandas.read_parquet`` (timed apart from the computation):

* carnet, from both tables: ``build_profile(reference)`` then ``detect_drift(profile, current)``;
* carnet, reference profile stored: the profile built and saved as JSON beforehand
  (``profile.to_dict()``); timed: load the JSON, ``DatasetProfile.from_dict``, ``detect_drift``
  (the process reads the current table only);
* Evidently (``.bench-evidently-venv``, pandas < 3): ``Report([DataDriftPreset()])`` with its
  default methods; timed: ``report.run`` and reading the verdicts (``_drift_evidently.py``);
* the floor: the statistics carnet computes by default in plain numpy/scipy — normalised
  Wasserstein distance (>= 0.1) for numeric columns, chi-square contingency test (p < 0.05) for
  categorical ones (``_drift_floor.py``).

Before the timed part each process runs its computation once on the first 2,000 rows (lazy
imports, first-call set-up). Memory: the process's peak RSS (VmHWM, i.e. ``ru_maxrss`` without
the parent's share that a vfork'ed child inherits), and the peak during the computation over the
RSS after imports, reading and warm-up. Figures are medians over rounds (3, ``--quick`` 1).
Every side reports the columns it flags; the run checks that all flag the 3 shifted columns.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _drift_bench_data import SIDES, SIZES, write_data  # noqa: E402
from _drift_bench_report import drift_checks, report, targets  # noqa: E402
from _drift_floor import measure  # noqa: E402

WORKER_TIMEOUT = 3600.0


# -- the carnet side (run as a worker: python bench_drift.py --worker ...) ----------------------
def _scores(report: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in report.columns:
        for attr in ("score", "statistic", "distance", "p_value", "value"):
            v = getattr(c, attr, None)
            if isinstance(v, int | float):
                out[c.column] = float(v)
                break
    return out


def carnet_worker(mode: str, data: Path, out: Path, warmup: int) -> int:
    """One carnet measurement: ``carnet`` (both tables), ``carnet_stored`` or ``carnet_profile``."""
    t0 = time.perf_counter()
    import pandas as pd

    from carnet.monitoring.drift import DatasetProfile, build_profile, detect_drift

    import_s = time.perf_counter() - t0
    profile_path = data / "carnet-profile.json"
    holder: dict[str, Any] = {}

    def verdicts(report: Any) -> dict[str, Any]:
        holder["report"] = report
        return {
            "drifted": {c.column: bool(c.drifted) for c in report.columns},
            "scores": _scores(report),
            "methods": {c.column: getattr(c, "method", None) for c in report.columns},
            "p_values": {c.column: getattr(c, "p_value", None) for c in report.columns},
        }

    def read_both() -> tuple[Any, Any]:
        return pd.read_parquet(data / "reference.parquet"), pd.read_parquet(data / "current.parquet")

    if mode == "carnet":

        def read() -> Any:
            return read_both()

        def compute(frames: Any) -> dict[str, Any]:
            return verdicts(detect_drift(build_profile(frames[0]), frames[1]))

        def warm(frames: Any) -> None:
            detect_drift(build_profile(frames[0].head(warmup)), frames[1].head(warmup))

    elif mode == "carnet_stored":

        def read() -> Any:
            return pd.read_parquet(data / "current.parquet")

        def load() -> Any:
            return DatasetProfile.from_dict(json.loads(profile_path.read_text()))

        def compute(cur: Any) -> dict[str, Any]:
            return verdicts(detect_drift(load(), cur))

        def warm(cur: Any) -> None:
            detect_drift(load(), cur.head(warmup))

    elif mode == "carnet_profile":

        def read() -> Any:
            return pd.read_parquet(data / "reference.parquet")

        def compute(ref: Any) -> dict[str, Any]:
            text = json.dumps(build_profile(ref).to_dict())
            profile_path.write_text(text)
            return {"drifted": {}, "scores": {}, "profile_bytes": len(text.encode())}

        def warm(ref: Any) -> None:
            json.dumps(build_profile(ref.head(warmup)).to_dict())

    else:
        raise SystemExit(f"unknown carnet worker {mode!r}")
    versions = {"pandas": pd.__version__}
    try:
        import importlib.metadata as md

        versions["carnet"] = md.version("carnet")
    except Exception:  # noqa: BLE001
        pass
    measure(mode, out, import_s, read, compute, warm if warmup else None, {"versions": versions})
    if "report" in holder:  # untimed: the report as carnet serialises it, for the record
        record = json.loads(out.read_text())
        try:
            record["report"] = holder["report"].to_dict()
        except Exception as exc:  # noqa: BLE001
            record["report"] = f"to_dict failed: {exc!r}"
        out.write_text(json.dumps(record, default=str))
    return 0


# -- the benchmark ---------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes: list[int] = args.sizes
        self.evidently_py = Path(args.evidently_venv) / "bin" / "python"
        self.tmp = Path(tempfile.mkdtemp(prefix="carnet-bench-drift-", dir=args.tmp))
        self.only: list[str] = args.only
        self.samples: dict[str, dict[str, dict[str, list[float]]]] = {}  # size -> side -> metric -> values
        self.flags: dict[str, dict[str, list[list[str]]]] = {}  # size -> side -> flagged columns per round
        self.raw: list[dict[str, Any]] = []
        self.errors: dict[str, list[str]] = {}
        self.notes: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        self.meta: dict[str, dict[str, Any]] = {}

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def med(self, size: int, side: str, metric: str) -> float | None:
        xs = self.samples.get(str(size), {}).get(side, {}).get(metric)
        return statistics.median(xs) if xs else None

    def _env(self, venv: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CARNET_", "PYTHON"))}
        env |= {"PYTHONUNBUFFERED": "1", "DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
        if venv is not None:
            env.pop("VIRTUAL_ENV", None)
            env["PATH"] = f"{venv.parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    # -- which sides can run ------------------------------------------------------------------
    def available(self) -> list[str]:
        sides = [s for s in SIDES if not self.only or s in self.only or s.split("_")[0] in self.only]
        if any(s.startswith("carnet") for s in sides):
            probe = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from carnet.monitoring.drift import build_profile, detect_drift, DatasetProfile",
                ],
                capture_output=True,
                text=True,
                env=self._env(),
            )
            if probe.returncode != 0:
                err = (probe.stderr.strip().splitlines() or ["?"])[-1]
                self.notes["carnet"] = (
                    f"unavailable: carnet.monitoring.drift does not import here ({err[:160]})"
                )
                self.log(f"carnet: {self.notes['carnet']}")
                sides = [s for s in sides if not s.startswith("carnet")]
        if "evidently" in sides:
            if not self.evidently_py.exists():
                self.notes["evidently"] = (
                    f"unavailable: no venv at {self.evidently_py.parent.parent}: "
                    "bash benchmarks/setup_evidently_venv.sh"
                )
                self.log(f"evidently: {self.notes['evidently']}")
                sides.remove("evidently")
            else:
                code = (
                    "import importlib.metadata as m, json; "
                    "print(json.dumps({d: m.version(d) for d in ('evidently', 'pandas', 'numpy', 'scipy')}))"
                )
                out = subprocess.run(
                    [str(self.evidently_py), "-c", code],
                    capture_output=True,
                    text=True,
                    env=self._env(self.evidently_py),
                )
                if out.returncode == 0:
                    self.versions |= {f"evidently_venv_{k}": v for k, v in json.loads(out.stdout).items()}
        return sides

    # -- one worker ----------------------------------------------------------------------------
    def command(self, side: str, folder: Path, out: Path) -> tuple[list[str], dict[str, str]]:
        tail = ["--data", str(folder), "--out", str(out), "--warmup", str(self.args.warmup)]
        if side == "evidently":
            return [str(self.evidently_py), str(HERE / "_drift_evidently.py"), *tail], self._env(
                self.evidently_py
            )
        if side == "floor":
            return [sys.executable, str(HERE / "_drift_floor.py"), *tail], self._env()
        return [sys.executable, str(Path(__file__).resolve()), "--worker", side, *tail], self._env()

    def run_side(self, side: str, n: int, folder: Path, rnd: int) -> dict[str, Any] | None:
        out = self.tmp / f"{side}-{n}-{rnd}.json"
        cmd, env = self.command(side, folder, out)
        t0 = time.perf_counter()
        try:
            res = subprocess.run(
                cmd, cwd=self.tmp, env=env, capture_output=True, text=True, timeout=self.args.timeout
            )
        except subprocess.TimeoutExpired:
            self.errors.setdefault(side, []).append(f"{n:,} rows: no result after {self.args.timeout:.0f} s")
            self.log(f"  {side}: TIMEOUT")
            return None
        wall = time.perf_counter() - t0
        if res.returncode != 0 or not out.exists():
            tail = " | ".join(res.stderr.strip().splitlines()[-4:])[-600:]
            self.errors.setdefault(side, []).append(f"{n:,} rows: exit {res.returncode}: {tail}")
            self.log(f"  {side}: ERROR exit {res.returncode}: {tail}")
            return None
        rec: dict[str, Any] = json.loads(out.read_text())
        rec |= {"rows": n, "round": rnd, "process_s": wall}
        if rnd > 0:  # carnet's full report (bins, shares) once per size is enough for the record
            rec.pop("report", None)
        self.raw.append(rec)
        key = str(n)
        for metric in (
            "import_s",
            "read_s",
            "prepare_s",
            "compute_s",
            "compute_cpu_s",
            "run_s",
            "process_s",
            "peak_mb",
            "compute_mb",
            "baseline_mb",
            "ru_maxrss_mb",
            "profile_bytes",
        ):
            if isinstance(rec.get(metric), int | float):
                self.samples.setdefault(key, {}).setdefault(side, {}).setdefault(metric, []).append(
                    float(rec[metric])
                )
        flagged = sorted(c for c, d in rec.get("drifted", {}).items() if d)
        if side != "carnet_profile":
            self.flags.setdefault(key, {}).setdefault(side, []).append(flagged)
        for k, v in (rec.get("versions") or {}).items():
            self.versions.setdefault(f"{side.split('_')[0]}_{k}", str(v))
        self.log(
            f"  {side}: read {rec['read_s']:.3f} s, compute {rec['compute_s']:.3f} s, "
            f"peak {rec['peak_mb']:.0f} MB (+{rec['compute_mb']:.0f} MB computing)"
            + (f", flags {', '.join(flagged) or 'none'}" if side != "carnet_profile" else "")
        )
        return rec

    def run(self) -> None:
        sides = self.available()
        self.sides = sides
        for n in self.sizes:
            folder = self.tmp / f"data-{n}"
            t0 = time.perf_counter()
            self.meta[str(n)] = write_data(folder, n)
            mb = sum(self.meta[str(n)]["parquet_bytes"].values()) / 1e6
            self.log(f"{n:,} rows per side: data written in {time.perf_counter() - t0:.1f} s ({mb:.1f} MB)")
            if "carnet_stored" in sides and self.run_side("carnet_profile", n, folder, 0) is None:
                self.errors.setdefault("carnet_stored", []).append(f"{n:,} rows: no stored profile")
            for rnd in range(self.args.repeat):
                self.log(f"{n:,} rows, round {rnd + 1}/{self.args.repeat}")
                k = rnd % max(1, len(sides))
                for side in sides[k:] + sides[:k]:
                    if side == "carnet_stored" and not (folder / "carnet-profile.json").exists():
                        continue
                    self.run_side(side, n, folder, rnd)
            if not self.args.keep:
                shutil.rmtree(folder, ignore_errors=True)

    def cleanup(self) -> None:
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def machine(self) -> dict[str, Any]:
        import importlib.metadata as md

        info: dict[str, Any] = {
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
            "command": " ".join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        }
        for dist in ("carnet", "pandas", "numpy", "scipy", "pyarrow"):
            try:
                info[dist] = md.version(dist)
            except md.PackageNotFoundError:
                pass
        return info


def _sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if part:
            out.append(SIZES.get(part) or int(float(part.replace("_", ""))))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--repeat", type=int, default=None, help="rounds (default 3, quick 1)")
    p.add_argument("--quick", action="store_true", help="10k and 100k rows, one round unless --repeat")
    p.add_argument("--sizes", type=_sizes, default=None, help="rows per side, e.g. 10k,100k,1M or 50000")
    p.add_argument(
        "--only",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=[],
        help="comma-separated sides among carnet, carnet_stored, evidently, floor (default: all)",
    )
    p.add_argument("--warmup", type=int, default=2000, help="rows of each side's untimed warm-up (0: none)")
    p.add_argument("--json", metavar="PATH", help="also write every sample and the medians as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    p.add_argument(
        "--evidently-venv",
        default=str(ROOT / ".bench-evidently-venv"),
        help="the Evidently virtual environment",
    )
    p.add_argument("--timeout", type=float, default=WORKER_TIMEOUT, help="seconds allowed to one worker")
    p.add_argument("--tmp", help="folder for the temporary files (default: the system temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (data, results)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return carnet_worker(args.worker, Path(args.data), Path(args.out), args.warmup)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.sizes is None:
        args.sizes = [10_000, 100_000] if args.quick else list(SIZES.values())
    unknown = [x for x in args.only if x not in SIDES]
    if unknown:
        p.error(f"unknown side(s) {unknown}; choose among {', '.join(SIDES)}")

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
    info["rounds"] = args.repeat
    info["sizes"] = args.sizes
    text = report(bench, info)
    print()
    print(text)
    tgs = targets(bench)
    checks, warnings = drift_checks(bench)
    for w in warnings:
        bench.log(f"WARNING: {w}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        medians = {
            size: {side: {m: statistics.median(v) for m, v in ms.items()} for side, ms in by.items()}
            for size, by in bench.samples.items()
        }
        doc = {
            "machine": info,
            "data": bench.meta,
            "medians": medians,
            "samples": bench.samples,
            "flagged": bench.flags,
            "targets": [
                {"target": t.label, "measured": t.value, "required": t.required, "result": t.verdict}
                for t in tgs
            ],
            "drift_check": {"lines": checks, "warnings": warnings},
            "notes": bench.notes,
            "errors": bench.errors,
            "runs": bench.raw,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(text + "\n")
    failed = [t for t in tgs if t.verdict == "FAIL"] or any(bench.errors.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
