"""Importing an MLflow tracking store: a full import, then a re-import that finds nothing new.

MLflow writes a SQLite store of RUNS runs x METRICS metrics x STEPS steps (untimed
setup, reported), then ``carnet import mlflow`` reads it into a fresh SQLite workspace (timed),
and once more (timed: every run is already there, nothing is written). Both imports run in this
process through the same service the CLI calls; each value is counted, and a sample of runs is
compared value by value with MLflow's.

    python benchmarks/bench_mlflow_import.py [--runs 10000] [--metrics 20] [--steps 100] \\
        [--writer bulk|client] [--source URI] [--json PATH] [--tmp DIR] [--keep]

The store is written fast by default (``--writer bulk``): each run is created and ended by
MLflow's client, and its params and metric values are inserted many runs a statement into
MLflow's own tables through MLflow's SQLAlchemy models (the rows ``log_batch`` writes); about 6
minutes for 10,000 runs on 2 cores. ``--writer client`` logs every value through
``MlflowClient.log_batch`` (about 40 minutes for 10,000 runs).

MLflow runs in its own Python: CARNET_MLFLOW_PYTHON, else .bench-venv (bash
benchmarks/setup_mlflow_venv.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

T0 = 1_700_000_000_000  # ms
ROOT = Path(__file__).resolve().parents[1]

#: run by the Python that has MLflow: writes the store with MLflow's client, one log_batch call
#: per 1,000 values (what a training script does; about 4 runs/s, so 40 minutes for 10,000 runs)
MAKE = r"""
import json, sys, time
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
a = json.loads(sys.stdin.read())
T0 = a["t0"]
client = MlflowClient(tracking_uri=a["uri"])
eid = client.create_experiment("bench", artifact_location=a["artifacts"])
start = time.perf_counter()
keys = [f"metric_{k:02d}" for k in range(a["metrics"])]
for i in range(a["runs"]):
    rid = client.create_run(eid, run_name=f"run-{i}", start_time=T0 + i).info.run_id
    values = [Metric(key, (k + 1) / (s + 1), T0 + i + s, s)
              for s in range(a["steps"]) for k, key in enumerate(keys)]
    params = [Param("i", str(i)), Param("lr", "0.1")]
    for j in range(0, len(values), 1000):
        client.log_batch(rid, metrics=values[j : j + 1000], params=params if j == 0 else [])
    client.set_terminated(rid, "FINISHED", end_time=T0 + i + a["steps"])
    if (i + 1) % 500 == 0:
        print(f"  mlflow: {i + 1}/{a['runs']} runs written", file=sys.stderr, flush=True)
print(json.dumps({"experiment_id": eid, "seconds": time.perf_counter() - start}))
"""

#: run by the Python that has MLflow: the same store, written in bulk. Each run is created and
#: ended by MLflow's client (its row and default tags); its params, metric values and latest
#: values are inserted through MLflow's own SQLAlchemy tables (mlflow.store.tracking.dbmodels),
#: the rows log_batch writes, many runs per statement. MLflow's client then reads the store as
#: any other (the benchmark compares a sample value by value).
MAKE_BULK = r"""
import json, sys, time
from sqlalchemy import insert
from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam
from mlflow.tracking import MlflowClient
a = json.loads(sys.stdin.read())
T0, steps = a["t0"], a["steps"]
client = MlflowClient(tracking_uri=a["uri"])
store = client._tracking_client.store
eid = client.create_experiment("bench", artifact_location=a["artifacts"])
start = time.perf_counter()
keys = [f"metric_{k:02d}" for k in range(a["metrics"])]
ids = []
for i in range(a["runs"]):
    ids.append(client.create_run(eid, run_name=f"run-{i}", start_time=T0 + i).info.run_id)
    if (i + 1) % 2000 == 0:
        print(f"  mlflow: {i + 1}/{a['runs']} runs created", file=sys.stderr, flush=True)
per = max(1, 200_000 // max(1, len(keys) * steps))  # runs a statement
for c in range(0, len(ids), per):
    metrics, latest, params = [], [], []
    for i in range(c, min(c + per, len(ids))):
        rid = ids[i]
        for k, key in enumerate(keys):
            rows = [dict(key=key, value=(k + 1) / (s + 1), timestamp=T0 + i + s, step=s, is_nan=False,
                         run_uuid=rid) for s in range(steps)]
            metrics.extend(rows)
            latest.append(rows[-1])
        params += [dict(key="i", value=str(i), run_uuid=rid), dict(key="lr", value="0.1", run_uuid=rid)]
    with store.ManagedSessionMaker() as session:
        session.execute(insert(SqlParam.__table__), params)
        session.execute(insert(SqlMetric.__table__), metrics)
        session.execute(insert(SqlLatestMetric.__table__), latest)
    done = min(c + per, len(ids))
    if done % 1000 < per:
        print(f"  mlflow: {done}/{a['runs']} runs filled", file=sys.stderr, flush=True)
for i, rid in enumerate(ids):
    client.set_terminated(rid, "FINISHED", end_time=T0 + i + steps)
print(json.dumps({"experiment_id": eid, "seconds": time.perf_counter() - start}))
"""

#: run by the Python that has MLflow: every value of a sample of runs, as MLflow's client reads them
SAMPLE = r"""
import json, random, sys
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
a = json.loads(sys.stdin.read())
client = MlflowClient(tracking_uri=a["uri"])
exp = client.get_experiment_by_name("bench")
runs = list(client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=50000))
out = {}
for r in random.Random(0).sample(runs, min(a["sample"], len(runs))):
    out[r.info.run_id] = {
        "params": dict(r.data.params),
        "metrics": {k: sorted([m.step, m.timestamp, m.value]
                              for m in client.get_metric_history(r.info.run_id, k))
                    for k in r.data.metrics},
    }
print(json.dumps(out))
"""


def mlflow_python() -> str:
    return os.environ.get("CARNET_MLFLOW_PYTHON") or str(ROOT / ".bench-venv" / "bin" / "python")


def mlflow_side(script: str, **args: Any) -> Any:
    done = subprocess.run(
        [mlflow_python(), "-c", script], input=json.dumps(args), text=True, stdout=subprocess.PIPE, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_source(uri: str, root: Path, runs: int, metrics: int, steps: int, writer: str) -> dict[str, Any]:
    """Write the MLflow store (``writer``: ``bulk`` or ``client``); its description and timing."""
    artifacts = (root / "mlflow-artifacts").as_uri()
    script = MAKE_BULK if writer == "bulk" else MAKE
    return mlflow_side(script, uri=uri, artifacts=artifacts, runs=runs, metrics=metrics, steps=steps, t0=T0)


def timed_import(ws: str, uri: str) -> tuple[float, dict[str, Any]]:
    from carnet.bootstrap import open_services
    from carnet.services.mlflow_import import MlflowImporter

    services = open_services(ws)
    try:
        start = time.perf_counter()

        def progress(stage: str, done: int, total: int) -> None:
            if done % 1000 == 0 or done == total:
                print(f"  {stage}: {done}/{total} ({time.perf_counter() - start:.0f}s)", file=sys.stderr)

        with MlflowImporter(
            services.ctx, services.tracking, services.registry, uri, python=mlflow_python()
        ) as importer:
            summary = importer.run(progress=progress)
        return time.perf_counter() - start, summary.to_dict()
    finally:
        services.close()


def spot_check(ws: str, uri: str, sample: int = 20) -> int:
    """Compare ``sample`` random runs value by value with MLflow's; returns how many were compared."""
    from carnet.bootstrap import open_services

    seen = mlflow_side(SAMPLE, uri=uri, sample=sample)
    services = open_services(ws)
    try:
        for rid, theirs in seen.items():
            run = services.tracking.get_run(rid)
            assert run.params == theirs["params"], rid
            for key, values in theirs["metrics"].items():
                history = services.tracking.metric_history(rid, key)
                ours = sorted([m.step, round(m.timestamp * 1000), m.value] for m in history)
                assert ours == values, (rid, key)
        return len(seen)
    finally:
        services.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument(
        "--writer",
        choices=("bulk", "client"),
        default="bulk",
        help="how the MLflow store is written: runs by MLflow's client and values inserted in bulk "
        "into MLflow's tables (default), or every value through MLflow's client.log_batch (slow)",
    )
    parser.add_argument(
        "--source",
        metavar="URI",
        help="import this MLflow store (one this benchmark wrote and kept, with --runs/--metrics/"
        "--steps as it was written) instead of writing a new one",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--tmp", type=Path, help="where the temporary stores go")
    parser.add_argument("--keep", action="store_true", help="keep the MLflow store and the workspace")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-mlflow-import-", dir=args.tmp))
    uri = args.source or f"sqlite:///{root / 'mlflow.db'}"
    ws = str(root / "ws")
    try:
        if args.source:
            made: dict[str, Any] = {"seconds": None}
            print(f"importing {uri} ({args.runs} runs x {args.metrics} metrics x {args.steps} steps)")
        else:
            print(f"writing {args.runs} runs x {args.metrics} metrics x {args.steps} steps ({args.writer})")
            made = make_source(uri, root, args.runs, args.metrics, args.steps, args.writer)
            print(f"  took {made['seconds']:.1f}s (setup, not part of the figures)")
        first, summary = timed_import(ws, uri)
        values = summary["metric_values"]
        print(
            f"import:    {first:8.1f}s  {summary['runs_imported']} runs, {values} metric values "
            f"({values / first:,.0f} values/s, {summary['runs_imported'] / first:,.1f} runs/s)"
        )
        again, summary2 = timed_import(ws, uri)
        print(
            f"re-import: {again:8.1f}s  {summary2['runs_imported']} new runs, "
            f"{summary2['runs_present']} already there"
        )
        checked = spot_check(ws, uri)
        print(f"checked {checked} runs value by value against MLflow's client")
        result = {
            "runs": args.runs,
            "metrics": args.metrics,
            "steps": args.steps,
            "metric_values": values,
            "writer": "kept store" if args.source else args.writer,
            "setup_seconds": made["seconds"],
            "import_seconds": first,
            "reimport_seconds": again,
            "reimport_new_runs": summary2["runs_imported"],
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "system": platform.platform(),
            },
        }
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        ok = summary["runs_imported"] == args.runs and summary2["runs_imported"] == 0
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
