"""Scale: batch prediction, AutoML trials and drift through the executors (local, Ray, Dask).

Measured on this machine, side by side in one run:

1. Batch prediction. A generated table of ``--rows`` rows (8 numeric features, 4 float32 and 4
   float64, no target) is written as Parquet in row groups of 250,000 rows and registered as a
   dataset; a LightGBM model (100 trees) is trained through carnet on a 200,000-row sample with a
   binary target from a logistic rule. The in-process baseline reads the whole table with pandas
   and times ``model.predict_proba(frame)`` alone (the whole table in memory). ``carnet predict``
   then runs as a subprocess (the console script) per executor: ``local`` (this process),
   ``local --jobs 2``, ``ray:local --jobs 2`` and ``dask:local --jobs 2``, with 250,000-row
   batches. Figures: carnet's own rows/s (its JSON), the command's wall time (imports and
   executor start-up included), the driver's peak RSS and the peak RSS summed over the command's
   process tree (workers, raylet, Dask nannies...), sampled every 0.2 s with psutil; shared pages
   (Ray's object store) count once per process that maps them. The driver's peak is its VmHWM
   (read while it runs, so a peak in its last 0.2 s is missed) and GNU time's ``%M`` (the largest
   single process the command waited for). ``getrusage(RUSAGE_CHILDREN)`` is not used: it is a
   running maximum over every child, and a child started by vfork + exec inherits this process's
   peak. ``local`` is also run on the first tenth of the table (1,000,000 rows by default), to show
   the driver's peak memory is flat in the number of rows.
2. AutoML trials per minute on scikit-learn's breast cancer table, ``jobs=2``, per executor (local,
   ray:local, dask:local) within ``--budget`` seconds: trials (complete and failed) / elapsed * 60.
   Beside it, Ray's and Dask's start-up (``ray.init(num_cpus=2)``; a ``LocalCluster`` of 2
   single-threaded worker processes) in a fresh subprocess, and the idle RSS of the processes each
   starts (the subprocess's descendants, 5 s after start-up).
3. Drift over large data: ``services.monitoring.drift(reference, current, executor=E,
   batch_rows=N)`` between the table and a second one of the same size with the means of f0 and
   f1 shifted by 0.5, in a subprocess per executor (its time and peak RSS as above), next to the
   in-memory call (no executor). The first streamed call stores the reference's profile, so
   ``local`` is run first and again last (the repeat reuses it).

With ``--only`` the sections run are merged into an existing JSON file (the others kept), so the
parts can be run separately; the Markdown is rebuilt from the merged figures.

    python benchmarks/bench_scale.py [--rows 10000000] [--only predict|automl|drift]
                                     [--json PATH] [--markdown PATH] [--budget 60]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK_ROWS = 250_000
TRAIN_ROWS = 200_000
FEATURES = [f"f{i}" for i in range(8)]
WEIGHTS = np.array([1.2, -0.8, 0.6, 0.0, 0.9, -0.5, 0.3, -1.1])
#: the drifted table's mean shift, on f0 and f1
SHIFT = 0.5
SAMPLE_SECONDS = 0.2
PREDICT_RUNS: list[tuple[str, str, int | None]] = [
    ("local (in process)", "local", None),
    ("local --jobs 2", "local", 2),
    ("ray:local --jobs 2", "ray:local", 2),
    ("dask:local --jobs 2", "dask:local", 2),
]
AUTOML_EXECUTORS = ["local", "ray:local", "dask:local"]
DRIFT_RUNS: list[tuple[str, str | None]] = [
    ("in memory (no executor)", None),
    ("local", "local"),
    ("dask:local", "dask:local"),
    ("ray:local", "ray:local"),
    ("local (again: reference profile stored)", "local"),
]
MB = 1024 * 1024


# --------------------------------------------------------------------------- data


def _chunk(rng: np.random.Generator, n: int, shift: float) -> tuple[pa.Table, np.ndarray]:
    """``n`` rows of the 8 features (f0-f3 float32, f4-f7 float64) and the logistic-rule target."""
    low = rng.normal(0.0, 1.0, (n, 4)).astype(np.float32)
    high = rng.normal(0.0, 1.0, (n, 4))
    low[:, :2] += np.float32(shift)
    logits = np.hstack([low.astype(np.float64), high]) @ WEIGHTS + 0.5 * np.sin(2 * high[:, 0])
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int8)
    columns = {f"f{i}": low[:, i] for i in range(4)} | {f"f{i + 4}": high[:, i] for i in range(4)}
    return pa.table(columns), y


def write_tables(
    rows: int, work: Path, name: str, *, seed: int, shift: float = 0.0, head_rows: int = 0
) -> dict[str, Path]:
    """Write ``NAME.parquet`` (all rows, no target) in 250,000-row groups, chunk by chunk, with
    ``NAME-head.parquet`` (the first ``head_rows`` rows) and ``NAME-train.parquet`` (the first
    200,000 rows with the target ``y``) when asked."""
    rng = np.random.default_rng(seed)
    paths = {"all": work / f"{name}.parquet"}
    writers: dict[str, pq.ParquetWriter] = {}
    schema = _chunk(np.random.default_rng(0), 1, 0.0)[0].schema
    writers["all"] = pq.ParquetWriter(paths["all"], schema)
    if head_rows:
        paths["head"] = work / f"{name}-head.parquet"
        writers["head"] = pq.ParquetWriter(paths["head"], schema)
    train_parts: list[pd.DataFrame] = []
    done = 0
    try:
        while done < rows:
            n = min(CHUNK_ROWS, rows - done)
            table, y = _chunk(rng, n, shift)
            writers["all"].write_table(table, row_group_size=CHUNK_ROWS)
            if done < head_rows:
                writers["head"].write_table(table.slice(0, head_rows - done), row_group_size=CHUNK_ROWS)
            if head_rows and done < TRAIN_ROWS:
                part = table.slice(0, TRAIN_ROWS - done).to_pandas()
                part["y"] = y[: len(part)]
                train_parts.append(part)
            done += n
    finally:
        for writer in writers.values():
            writer.close()
    if train_parts:
        paths["train"] = work / f"{name}-train.parquet"
        pd.concat(train_parts, ignore_index=True).to_parquet(paths["train"], index=False)
    return paths


# --------------------------------------------------------------------------- measuring a command


def _vm_hwm(pid: int) -> int | None:
    """A process's peak RSS so far (VmHWM, bytes), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def run_measured(command: list[str], timeout: float = 7200.0) -> dict[str, Any]:
    """Run ``command`` and measure it: wall seconds, exit code, output, the driver's peak RSS (VmHWM
    sampled, and GNU time's ``%M`` when /usr/bin/time exists) and the peak of the RSS summed over
    its process tree, sampled every 0.2 s."""
    gnu_time = shutil.which("time", path="/usr/bin")
    with tempfile.TemporaryDirectory(prefix="carnet-bench-scale-run-") as tmp:
        folder = Path(tmp)
        full = [gnu_time, "-f", "%M", "-o", str(folder / "time"), *command] if gnu_time else command
        with open(folder / "out", "wb") as out, open(folder / "err", "wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(full, stdout=out, stderr=err)
            root = psutil.Process(proc.pid)
            driver: psutil.Process | None = None if gnu_time else root
            tree_peak = driver_hwm = processes = 0
            while proc.poll() is None:
                if time.perf_counter() - started > timeout:
                    proc.kill()
                    break
                members = _tree(root)
                if gnu_time:
                    members = members[1:]  # the time wrapper itself
                    if driver is None and members:
                        driver = members[0]
                total = 0
                for member in members:
                    with contextlib.suppress(psutil.Error):
                        total += member.memory_info().rss
                tree_peak = max(tree_peak, total)
                processes = max(processes, len(members))
                if driver is not None:
                    driver_hwm = max(driver_hwm, _vm_hwm(driver.pid) or 0)
                time.sleep(SAMPLE_SECONDS)
            proc.wait()
            wall = time.perf_counter() - started
        stdout = (folder / "out").read_text(errors="replace")
        stderr = (folder / "err").read_text(errors="replace")
        time_max = None
        if gnu_time and (folder / "time").exists():
            last = (folder / "time").read_text().strip().splitlines()
            if last and last[-1].strip().isdigit():
                time_max = int(last[-1]) * 1024
    return {
        "returncode": proc.returncode,
        "wall_seconds": wall,
        "driver_peak_rss_bytes": driver_hwm or None,
        "time_max_rss_bytes": time_max,
        "tree_peak_rss_bytes": tree_peak,
        "max_processes": processes,
        "stdout": stdout,
        "stderr": stderr,
    }


def _json_from(text: str) -> Any:
    """The JSON document a command printed (the first ``{`` on), or None."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        return json.loads(text[start:])
    except json.JSONDecodeError:
        for line in reversed(text.splitlines()):
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    return json.loads(line)
    return None


def _measured_row(measured: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in measured.items() if k not in ("stdout", "stderr")}
    if measured["returncode"] != 0:
        row["error"] = (measured["stderr"].strip() or measured["stdout"].strip())[-3000:]
    return row


# --------------------------------------------------------------------------- 1. batch prediction


def carnet_command() -> str:
    found = Path(sys.executable).with_name("carnet")
    return str(found) if found.exists() else (shutil.which("carnet") or "carnet")


def _predict_run(workspace: Path, data: str, out: Path, executor: str, jobs: int | None) -> dict[str, Any]:
    command = [carnet_command(), "--uri", str(workspace), "predict", "scale/1", data, "-o", str(out)]
    command += ["--json", "--batch-rows", str(CHUNK_ROWS), "--executor", executor]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    measured = run_measured(command)
    row = _measured_row(measured)
    row["command"] = " ".join(["carnet", *command[1:]])
    printed = _json_from(measured["stdout"]) if measured["returncode"] == 0 else None
    if isinstance(printed, dict):
        for key in ("rows", "seconds", "rows_per_second", "peak_driver_bytes", "executor", "output_digest"):
            row[key] = printed.get(key)
    elif measured["returncode"] == 0:
        row["error"] = f"no JSON on stdout: {measured['stdout'][-500:]!r}"
    if out.exists():
        row["predictions_digest"] = predictions_digest(out)
        out.unlink()
    return row


def predictions_digest(path: Path) -> str:
    """A digest of the output's prediction columns (the request ids hold the run id, so they differ
    between runs), to check every executor wrote the same predictions in the same order."""
    digest = hashlib.sha256()
    names = [name for name in pq.read_schema(path).names if name != "request_id"]
    for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS, columns=names):
        for name in names:
            digest.update(np.asarray(batch.column(name).to_numpy(zero_copy_only=False)).tobytes())
    return f"sha256:{digest.hexdigest()}"


def bench_predict(rows: int, work: Path) -> dict[str, Any]:
    import carnet

    head_rows = min(1_000_000, max(rows // 10, 1))
    started = time.perf_counter()
    paths = write_tables(rows, work, "big", seed=0, head_rows=head_rows)
    generate_seconds = time.perf_counter() - started
    workspace = work / "ws"
    client = carnet.Client(str(workspace))
    result: dict[str, Any] = {
        "rows": rows,
        "head_rows": head_rows,
        "train_rows": min(TRAIN_ROWS, rows),
        "batch_rows": CHUNK_ROWS,
        "parquet_bytes": paths["all"].stat().st_size,
        "generate_seconds": generate_seconds,
    }
    try:
        train_ref = client.add_dataset(paths["train"], "train")[0].ref
        model = {"name": "lightgbm", "params": {"n_estimators": 100}}
        spec = {"dataset": train_ref, "task": "binary", "target": "y", "model": model}
        started = time.perf_counter()
        out = client.train({**spec, "split": {"kind": "holdout"}})
        result["train_seconds"] = time.perf_counter() - started
        result["train_metrics"] = {k: v for k, v in out.metrics.items() if isinstance(v, int | float)}
        mv = client.register_model(out.run_id, "scale")
        result["model"] = mv.ref if hasattr(mv, "ref") else f"scale/{mv.version}"
        started = time.perf_counter()
        big = client.add_dataset(paths["all"], "big")[0].ref
        result["add_dataset_seconds"] = time.perf_counter() - started
        head = client.add_dataset(paths["head"], "head")[0].ref
        result["datasets"] = {"big": big, "head": head}
        result["in_process"] = _in_process(client, paths["all"])
    finally:
        client.close()
    gc.collect()
    result["carnet_predict"] = {}
    for label, executor, jobs in PREDICT_RUNS:
        print(f"[predict] {label} on {rows:,} rows", flush=True)
        result["carnet_predict"][label] = _predict_run(workspace, big, work / "out.parquet", executor, jobs)
    print(f"[predict] local (in process) on {head_rows:,} rows", flush=True)
    result["head_local"] = _predict_run(workspace, head, work / "out.parquet", "local", None)
    base = result["in_process"]["rows_per_second"]
    local = result["carnet_predict"][PREDICT_RUNS[0][0]]
    if local.get("rows_per_second"):
        result["ratio_local_to_in_process"] = local["rows_per_second"] / base
        result["ratio_local_wall_to_in_process"] = rows / local["wall_seconds"] / base
    runs = result["carnet_predict"].values()
    digests = {r.get("predictions_digest") for r in runs}
    result["same_predictions_every_executor"] = len(digests) == 1 and None not in digests
    return result


def _in_process(client: Any, path: Path) -> dict[str, Any]:
    """``model.predict_proba`` on the whole table in memory: the baseline."""
    me = psutil.Process()
    model, _ = client.services.registry.load("scale/1")
    rss_before = me.memory_info().rss
    started = time.perf_counter()
    frame = pd.read_parquet(path)
    read_seconds = time.perf_counter() - started
    rss_loaded = me.memory_info().rss
    model.predict_proba(frame.head(1000))  # first-call set-up left out
    started = time.perf_counter()
    proba = model.predict_proba(frame)
    seconds = time.perf_counter() - started
    rss_after = me.memory_info().rss
    rows = len(frame)
    del frame, proba
    gc.collect()
    return {
        "rows": rows,
        "read_seconds": read_seconds,
        "predict_seconds": seconds,
        "rows_per_second": rows / seconds,
        "rss_before_bytes": rss_before,
        "rss_table_loaded_bytes": rss_loaded,
        "rss_after_predict_bytes": rss_after,
    }


# --------------------------------------------------------------------------- 2. AutoML and start-up

RAY_STARTUP = """
import json, os, time
import psutil
t = time.perf_counter()
import ray
imported = time.perf_counter() - t
me = psutil.Process()
own = me.memory_info().rss
t = time.perf_counter()
ray.init(num_cpus=2, include_dashboard=False)
started = time.perf_counter() - t
t = time.perf_counter()
ray.get(ray.remote(lambda: 1).remote())
first = time.perf_counter() - t
time.sleep(float(os.environ["SETTLE"]))
kids = me.children(recursive=True)
rss, names = 0, []
for p in kids:
    try:
        rss += p.memory_info().rss
        names.append(p.name() if p.name() != "python" else " ".join(p.cmdline()[1:3])[:80])
    except psutil.Error:
        pass
t = time.perf_counter()
ray.shutdown()
down = time.perf_counter() - t
print(json.dumps({"import_seconds": imported, "start_seconds": started, "first_task_seconds": first,
                  "shutdown_seconds": down, "driver_rss_bytes": own, "started_rss_bytes": rss,
                  "processes": len(names), "names": sorted(names)}))
"""

DASK_STARTUP = """
import json, os, time
import psutil
t = time.perf_counter()
import distributed
imported = time.perf_counter() - t
me = psutil.Process()
own = me.memory_info().rss
t = time.perf_counter()
cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
client = distributed.Client(cluster)
started = time.perf_counter() - t
t = time.perf_counter()
client.submit(lambda: 1).result()
first = time.perf_counter() - t
time.sleep(float(os.environ["SETTLE"]))
kids = me.children(recursive=True)
rss, names = 0, []
for p in kids:
    try:
        rss += p.memory_info().rss
        names.append(p.name() if p.name() != "python" else " ".join(p.cmdline()[1:3])[:80])
    except psutil.Error:
        pass
t = time.perf_counter()
client.close()
cluster.close()
down = time.perf_counter() - t
print(json.dumps({"import_seconds": imported, "start_seconds": started, "first_task_seconds": first,
                  "shutdown_seconds": down, "driver_rss_bytes": own, "started_rss_bytes": rss,
                  "processes": len(names), "names": sorted(names)}))
"""


def bench_startup(settle: float = 5.0) -> dict[str, Any]:
    out: dict[str, Any] = {"settle_seconds": settle}
    for name, code in (("ray", RAY_STARTUP), ("dask", DASK_STARTUP)):
        print(f"[startup] {name}", flush=True)
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "SETTLE": str(settle)},
            timeout=600,
        )
        printed = _json_from(done.stdout) if done.returncode == 0 else None
        if isinstance(printed, dict):
            out[name] = printed
        else:
            out[name] = {"error": (done.stderr.strip() or done.stdout.strip())[-3000:]}
    return out


def bench_automl(budget: float, work: Path) -> dict[str, Any]:
    from sklearn.datasets import load_breast_cancer

    import carnet

    frame = load_breast_cancer(as_frame=True).frame
    path = work / "breast_cancer.parquet"
    frame.to_parquet(path, index=False)
    out: dict[str, Any] = {"rows": len(frame), "budget_seconds": budget, "jobs": 2, "executors": {}}
    client = carnet.Client(str(work / "automl-ws"))
    try:
        ref = client.add_dataset(path, "breast_cancer")[0].ref
        for executor in AUTOML_EXECUTORS:
            print(f"[automl] {executor}, {budget:g} s", flush=True)
            started = time.perf_counter()
            try:
                result = client.automl(
                    ref, target="target", time_budget=budget, jobs=2, executor=executor, max_trials=None
                )
            except Exception as exc:
                out["executors"][executor] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            wall = time.perf_counter() - started
            board = result["leaderboard"]
            failed = [row for row in board if row.get("state") != "complete"]
            out["executors"][executor] = {
                "trials": len(board),
                "complete": len(board) - len(failed),
                "failed": len(failed),
                "failed_errors": sorted({str(row.get("error")) for row in failed}),
                "elapsed_seconds": result["elapsed"],
                "wall_seconds": wall,
                "trials_per_minute": len(board) / result["elapsed"] * 60,
                "complete_per_minute": (len(board) - len(failed)) / result["elapsed"] * 60,
                "best": result["best"],
                "models": sorted({row["model"] for row in board}),
            }
    finally:
        client.close()
    out["startup"] = bench_startup()
    return out


# --------------------------------------------------------------------------- 3. drift

DRIFT_CODE = """
import json, sys, time
import carnet
workspace, reference, current, executor, batch_rows = sys.argv[1:6]
client = carnet.Client(workspace)
kwargs = {} if executor == "-" else {"executor": executor, "batch_rows": int(batch_rows)}
t = time.perf_counter()
try:
    report = client.services.monitoring.drift(reference, current, **kwargs)
except Exception as exc:
    print(json.dumps({"seconds": time.perf_counter() - t, "error": f"{type(exc).__name__}: {exc}"}))
else:
    print(json.dumps({"seconds": time.perf_counter() - t, "drifted_columns": list(report.drifted_columns),
                      "reference_rows": report.reference_rows, "current_rows": report.current_rows,
                      "share_drifted": report.share_drifted}))
finally:
    client.close()
"""


def bench_drift(rows: int, work: Path) -> dict[str, Any]:
    import carnet

    big = work / "big.parquet"
    started = time.perf_counter()
    if not big.exists():
        write_tables(rows, work, "big", seed=0)
    big2 = write_tables(rows, work, "big2", seed=1, shift=SHIFT)["all"]
    generate_seconds = time.perf_counter() - started
    workspace = work / "drift-ws"
    with carnet.Client(str(workspace)) as client:
        reference = client.add_dataset(big, "big")[0].ref
        current = client.add_dataset(big2, "big2")[0].ref
    out: dict[str, Any] = {
        "rows": rows,
        "batch_rows": CHUNK_ROWS,
        "shift": {"f0": SHIFT, "f1": SHIFT},
        "generate_seconds": generate_seconds,
        "reference": reference,
        "current": current,
        "runs": {},
    }
    for label, executor in DRIFT_RUNS:
        print(f"[drift] {label} on {rows:,} rows", flush=True)
        command = [sys.executable, "-c", DRIFT_CODE, str(workspace), reference, current]
        command += [executor or "-", str(CHUNK_ROWS)]
        measured = run_measured(command)
        row = _measured_row(measured)
        printed = _json_from(measured["stdout"])
        if isinstance(printed, dict):
            row.update(printed)
        out["runs"][label] = row
    return out


# --------------------------------------------------------------------------- report


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("carnet", "ray", "distributed", "dask", "lightgbm", "numpy", "pandas", "pyarrow", "psutil"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": psutil.virtual_memory().total,
        "load_average_at_start": list(os.getloadavg()),
    }


def _mb(value: Any) -> str:
    return f"{value / MB:,.0f}" if isinstance(value, int | float) else "-"


def _num(value: Any, fmt: str = ",.0f") -> str:
    return format(value, fmt) if isinstance(value, int | float) else "-"


def _predict_lines(p: dict[str, Any]) -> list[str]:
    base = p["in_process"]
    lines = [
        f"### Batch prediction: LightGBM (100 trees) on {p['rows']:,} rows x 8 features ({p['date']})",
        "",
        "| how | rows/s (carnet's figure) | wall s (whole command) | driver peak RSS MB "
        "| largest process MB (GNU time) | process-tree peak RSS MB | processes |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| in-process `predict_proba` (whole table in memory; read {base['read_seconds']:.1f} s "
        f"not counted) | {base['rows_per_second']:,.0f} | {base['predict_seconds']:.1f} "
        f"| {_mb(base['rss_after_predict_bytes'])} (RSS after) | - | - | 1 |",
    ]
    for label, row in p["carnet_predict"].items():
        if row.get("error"):
            lines.append(
                f"| `carnet predict` {label} | failed: see JSON | {row['wall_seconds']:.1f} | | | | |"
            )
            continue
        lines.append(
            f"| `carnet predict` {label} | {_num(row.get('rows_per_second'))} | {row['wall_seconds']:.1f} "
            f"| {_mb(row['driver_peak_rss_bytes'])} | {_mb(row['time_max_rss_bytes'])} "
            f"| {_mb(row['tree_peak_rss_bytes'])} | {row['max_processes']} |"
        )
    head = p["head_local"]
    big = p["carnet_predict"][PREDICT_RUNS[0][0]]
    lines += [
        "",
        f"Driver peak RSS of `carnet predict --executor local`: {_mb(head.get('driver_peak_rss_bytes'))} MB "
        f"on {p['head_rows']:,} rows, {_mb(big.get('driver_peak_rss_bytes'))} MB on {p['rows']:,} rows "
        f"(carnet's own peak_driver_bytes: {_mb(head.get('peak_driver_bytes'))} / "
        f"{_mb(big.get('peak_driver_bytes'))} MB).",
    ]
    if "ratio_local_to_in_process" in p:
        lines.append(
            f"carnet local rows/s / in-process rows/s = **{p['ratio_local_to_in_process']:.2f}** "
            f"(target >= 0.8); on the command's wall time: {p['ratio_local_wall_to_in_process']:.2f}. "
            f"Same predictions, same order, on every executor: {p.get('same_predictions_every_executor')}."
        )
    return [*lines, ""]


def _automl_lines(a: dict[str, Any]) -> list[str]:
    lines = [
        f"### AutoML trials per minute: breast cancer ({a['rows']} rows), jobs=2, "
        f"budget {a['budget_seconds']:g} s ({a['date']})",
        "",
        "| executor | trials (failed) | elapsed s | wall s (refit included) | trials/min | complete/min |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for executor, row in a["executors"].items():
        if "error" in row:
            lines.append(f"| {executor} | failed: {row['error'][:200]} | | | | |")
            continue
        lines.append(
            f"| {executor} | {row['trials']} ({row['failed']}) | {row['elapsed_seconds']:.1f} "
            f"| {row['wall_seconds']:.1f} | {row['trials_per_minute']:.1f} "
            f"| {row['complete_per_minute']:.1f} |"
        )
    startup = a.get("startup", {})
    lines += [
        "",
        f"Start-up in a fresh process (idle RSS {startup.get('settle_seconds', 5):g} s after start):",
        "",
        "| backend | import s | start s | first task s | shutdown s | processes started "
        "| their idle RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in (("ray", "Ray `ray.init(num_cpus=2)`"), ("dask", "Dask `LocalCluster(2 procs)`")):
        row = startup.get(name, {})
        if "error" in row or not row:
            lines.append(f"| {label} | failed | | | | | |")
            continue
        lines.append(
            f"| {label} | {row['import_seconds']:.2f} | {row['start_seconds']:.2f} "
            f"| {row['first_task_seconds']:.2f} | {row['shutdown_seconds']:.2f} | {row['processes']} "
            f"| {_mb(row['started_rss_bytes'])} |"
        )
    return [*lines, ""]


def _drift_lines(d: dict[str, Any]) -> list[str]:
    lines = [
        f"### Drift: {d['rows']:,} rows vs {d['rows']:,} rows (f0, f1 shifted by {SHIFT}), "
        f"batches of {d['batch_rows']:,} ({d['date']})",
        "",
        "| executor | drift s | wall s | driver peak RSS MB | process-tree peak RSS MB | drifted columns |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, row in d["runs"].items():
        if row.get("error"):
            first = row["error"].strip().splitlines()[-1][:200] if row["error"].strip() else "?"
            lines.append(f"| {label} | failed: `{first}` | {row['wall_seconds']:.1f} | | | |")
            continue
        lines.append(
            f"| {label} | {row['seconds']:.1f} | {row['wall_seconds']:.1f} "
            f"| {_mb(row['driver_peak_rss_bytes'])} | {_mb(row['tree_peak_rss_bytes'])} "
            f"| {', '.join(row.get('drifted_columns', []))} |"
        )
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    v = results["versions"]
    lines = [
        f"Machine: {m['processor']}, {m['cpu_count']} CPUs, {m['memory_bytes'] / 1024**3:.0f} GiB, "
        f"{m['platform']}; Python {v['python']}, carnet {v['carnet']}, ray {v['ray']}, "
        f"distributed {v['distributed']}, lightgbm {v['lightgbm']}. Other work shared the machine "
        "(figures as measured).",
        "",
    ]
    if "predict" in results:
        lines += _predict_lines(results["predict"])
    if "automl" in results:
        lines += _automl_lines(results["automl"])
    if "drift" in results:
        lines += _drift_lines(results["drift"])
    return "\n".join(lines)


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="carnet-bench-scale-") as tmp:
        yield Path(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--only", choices=["predict", "automl", "drift"])
    parser.add_argument("--budget", type=float, default=60.0, help="AutoML time budget per executor (s)")
    parser.add_argument("--json", type=Path, default=RESULTS / "scale.json")
    parser.add_argument("--markdown", type=Path, default=RESULTS / "scale.md")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.only and args.json.exists():  # keep the sections not run now
        with contextlib.suppress(json.JSONDecodeError):
            results = json.loads(args.json.read_text())
    results["machine"] = machine()
    results["versions"] = _versions()
    date = time.strftime("%Y-%m-%d %H:%M")
    with _workdir() as work:
        if args.only in (None, "predict"):
            results["predict"] = {"date": date, **bench_predict(args.rows, work)}
        if args.only in (None, "automl"):
            results["automl"] = {"date": date, **bench_automl(args.budget, work)}
        if args.only in (None, "drift"):
            results["drift"] = {"date": date, **bench_drift(args.rows, work)}
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    report = markdown(results)
    print(report)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(report)


if __name__ == "__main__":
    main()
