"""The per-call costs of carnet's executors and of recording a trial: the inputs of docs/scaling.md.

Measured on this machine, side by side in one run:

1. **Executor start-up**: opening ``local`` with 2 worker processes (first call answered), a
   ``ray:local`` instance of 2 CPUs, a ``dask:local`` cluster of 2 workers.
2. **Per-call overhead**: 400 no-op calls through ``map_unordered`` (2 in flight): the mean time
   per call, i.e. what dispatching, pickling and collecting cost beyond the work itself.
3. **Per-part overhead of map_batches**: a 2,000,000-row Parquet table in parts of 50,000 rows,
   each part counted (a trivial function) where the work runs; the time per part beyond reading.
4. **Driver cost of one trial record**: creating a child run, logging its metrics and ending it
   (what the driver does per trial), on SQLite and on PostgreSQL when reachable.

    python benchmarks/bench_overheads.py [--calls 400] [--json PATH] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BACKENDS = ("local", "ray:local", "dask:local")


def noop(x: int) -> int:
    """The call whose cost is measured: nothing but the round trip."""
    return x


def count_rows(batch: Any, offset: int) -> int:
    """A trivial per-batch function: the rows of the batch."""
    return int(batch.num_rows)


def _startup(backend: str) -> tuple[float, Any]:
    from carnet.execution import open_executor

    start = time.perf_counter()
    runner = open_executor(backend, 2)
    runner.submit(noop, 0).result()
    return time.perf_counter() - start, runner


def _per_call(runner: Any, calls: int) -> float:
    start = time.perf_counter()
    for _ in runner.map_unordered(noop, range(calls), max_in_flight=2):
        pass
    return (time.perf_counter() - start) / calls


def _per_part(runner: Any, path: Path, rows: int, part_rows: int) -> dict[str, float]:
    from carnet.services.tables import FileTable

    source = FileTable(path, "parquet", rows, remote=not runner.in_process)
    start = time.perf_counter()
    total = sum(runner.map_batches(count_rows, source, part_rows))
    seconds = time.perf_counter() - start
    assert total == rows
    parts = -(-rows // part_rows)
    return {
        "seconds": seconds,
        "parts": parts,
        "per_part_ms": 1000 * seconds / parts,
        "rows_per_second": rows / seconds,
    }


def _trial_record(uri: str, artifacts: str | None, trials: int) -> float:
    import carnet
    from carnet.domain import Metric, RunStatus

    client = carnet.Client(uri, artifacts=artifacts) if artifacts else carnet.Client(uri)
    tracking = client.services.tracking
    parent = tracking.create_run("bench", "search")
    start = time.perf_counter()
    for i in range(trials):
        run = tracking.create_run(
            "bench", f"trial-{i}", parent_id=parent.id, params={"model.name": "x", "i": i}
        )
        now = time.time()
        tracking.log_metrics(run.id, [Metric("roc_auc", 0.9, 0, now), Metric("trial_seconds", 1.0, 0, now)])
        tracking.end_run(run.id, RunStatus.FINISHED)
    seconds = (time.perf_counter() - start) / trials
    client.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/overheads.json"))
    parser.add_argument("--markdown", type=Path, default=Path("benchmarks/results/overheads.md"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="carnet-overheads-"))
    table = pd.DataFrame(
        np.random.default_rng(0).normal(size=(args.rows, 8)), columns=[f"f{i}" for i in range(8)]
    )
    path = tmp / "t.parquet"
    table.to_parquet(path, row_group_size=50_000)
    del table
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "backends": {},
    }
    for backend in BACKENDS:
        startup, runner = _startup(backend)
        with runner:
            per_call = _per_call(runner, args.calls)
            parts = _per_part(runner, path, args.rows, 50_000)
        results["backends"][backend] = {
            "startup_seconds": startup,
            "per_call_ms": 1000 * per_call,
            "map_batches": parts,
        }
        print(backend, results["backends"][backend], flush=True)
    from carnet.execution import InlineExecutor

    results["in_process"] = {"map_batches": _per_part(InlineExecutor(), path, args.rows, 50_000)}
    results["trial_record_ms"] = {"sqlite": 1000 * _trial_record(str(tmp / "ws"), None, 200)}
    pg = os.environ.get("CARNET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        import psycopg

        schema = f"bench_{int(time.time())}"
        with psycopg.connect(pg.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        uri = f"{pg}?options=-csearch_path%3D{schema}"
        results["trial_record_ms"]["postgresql"] = 1000 * _trial_record(
            uri, "file://" + str(tmp / "pg-art"), 200
        )
        with psycopg.connect(pg.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    except Exception as exc:  # noqa: BLE001 - PostgreSQL is optional here
        results["trial_record_ms"]["postgresql"] = f"not measured: {exc}"
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    lines = [
        "| backend | start-up (s) | per call (ms) | map_batches: per 50k-row part (ms) | rows/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results["backends"].items():
        mb = r["map_batches"]
        lines.append(
            f"| {name} | {r['startup_seconds']:.2f} | {r['per_call_ms']:.2f} | {mb['per_part_ms']:.1f} | "
            f"{mb['rows_per_second']:,.0f} |"
        )
    mb = results["in_process"]["map_batches"]
    lines.append(f"| in process | 0 | 0 | {mb['per_part_ms']:.1f} | {mb['rows_per_second']:,.0f} |")
    lines += ["", "| driver cost of one trial record | ms |", "|---|---:|"]
    for name, v in results["trial_record_ms"].items():
        lines.append(f"| {name} | {v:.1f} |" if isinstance(v, float) else f"| {name} | {v} |")
    args.markdown.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
