"""Seed an MLflow SQLite store with the web UI benchmark's runs (run in the MLflow venv).

The schema is MLflow's own (made by its client on first use); rows are then written in bulk
with sqlite3 into MLflow's tables (runs, params, latest_metrics, metrics, tags), which is what
its store's log_batch writes, only faster to set up. The count is checked through MLflow's client.

    python benchmarks/_ui_mlflow_seed.py DB RUNS LONG_RUNS STEPS   # prints {"experiment_id", ...}
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _ui_data import loss, runs  # noqa: E402


def main() -> None:
    db, count, long_runs, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(
        "bench-ui", artifact_location=str(Path(db).parent / "mlartifacts")
    )
    started = time.perf_counter()
    con = sqlite3.connect(db)
    with con:
        for r in runs(count):
            ms = int(r.start * 1000)
            con.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id,"
                " status,"
                " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)"
                " VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', ?, ?)",
                (r.run_id, r.name, ms, int(r.end * 1000), f"mlartifacts/{r.run_id}", int(experiment_id)),
            )
            con.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                [(k, v, r.run_id) for k, v in r.params.items()],
            )
            rows = [(k, v, ms, r.run_id, 0, 0) for k, v in r.metrics.items()]
            if r.index < long_runs:
                history = list(loss(steps, r.index))
                rows += [("loss", v, ms + s, r.run_id, s, 0) for s, v in history]
            con.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            latest = [(k, v, ms, 0, 0, r.run_id) for k, v in r.metrics.items()]
            if r.index < long_runs:
                s, v = history[-1]
                latest.append(("loss", v, ms + s, s, 0, r.run_id))
            con.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                latest,
            )
            con.execute(
                "INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', ?, ?)", (r.name, r.run_id)
            )
    con.close()
    seeded = time.perf_counter() - started
    found = client.search_runs([experiment_id], max_results=1, order_by=["attributes.start_time DESC"])
    total = sqlite3.connect(db).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert total == count and found and found[0].info.run_name == f"run-{count - 1}", (total, found)
    print(
        json.dumps(
            {"experiment_id": experiment_id, "runs": total, "seconds": seeded, "mlflow": mlflow.__version__}
        )
    )


if __name__ == "__main__":
    main()
