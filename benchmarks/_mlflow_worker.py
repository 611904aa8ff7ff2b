"""One MLflow benchmark scenario in a fresh process of the .bench-venv interpreter.

Started by ``benchmarks/bench_tracking.py`` with ``MLFLOW_TRACKING_URI=sqlite:///<workdir>/mlflow.db``;
the experiment's artifact location is ``<workdir>/mlartifacts`` (same disk). Writes its timings as
JSON to ``--out``. Every scenario checks afterwards, outside the timed part, that what it wrote is
stored. The workspace (database and migrations) is created before the timed part, as for carnet.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

EXPERIMENT = "bench"


def _clock() -> float:
    return time.perf_counter()


def _fail(msg: str) -> None:
    raise SystemExit(f"mlflow worker: check failed: {msg}")


def _experiment(a: argparse.Namespace) -> str:
    """Create the database (untimed) and the experiment, and make it the active one."""
    import mlflow
    from mlflow import MlflowClient

    art = Path(a.workdir) / "mlartifacts"
    art.mkdir(exist_ok=True)
    exp_id = MlflowClient().create_experiment(EXPERIMENT, artifact_location=art.as_uri())
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def log_metric(a: argparse.Namespace) -> dict:
    """``mlflow.log_metric`` called ``n`` times (synchronous: durable when each call returns)."""
    import mlflow

    _experiment(a)
    run = mlflow.start_run()
    t0 = _clock()
    if a.asynchronous:
        ops = [mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False) for i in range(a.n)]
        t_calls = _clock() - t0
        for op in ops:
            op.wait()
    else:
        for i in range(a.n):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        t_calls = _clock() - t0
    total = _clock() - t0
    mlflow.end_run()
    got = len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    if got != a.n:
        _fail(f"{got} of {a.n} values stored")
    return {"seconds": total, "calls_seconds": t_calls}


def log_batch(a: argparse.Namespace) -> dict:
    """One ``MlflowClient.log_batch`` call with ``n`` metrics (MLflow splits it into 1000-metric batches)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    exp_id = _experiment(a)
    client = MlflowClient()
    run_id = client.create_run(exp_id).info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(f"m{i % 10}", random.random(), now, i // 10) for i in range(a.n)]
    t0 = _clock()
    client.log_batch(run_id, metrics=metrics)
    total = _clock() - t0
    client.set_terminated(run_id)
    got = sum(len(client.get_metric_history(run_id, f"m{k}")) for k in range(10))
    if got != a.n:
        _fail(f"{got} of {a.n} values stored")
    return {"seconds": total}


def _search(client, exp_id: str, a: argparse.Namespace) -> list:
    return list(
        client.search_runs(
            [exp_id], filter_string=a.filter, order_by=["metrics.m0 DESC"], max_results=a.max_results
        )
    )


def runs_and_search(a: argparse.Namespace) -> dict:
    """``n`` fluent runs with 10 params and 10 metrics each, then the filtered search over them."""
    import mlflow
    from mlflow import MlflowClient

    exp_id = _experiment(a)
    rng = random.Random(42)
    values = [[rng.random() for _ in range(10)] for _ in range(a.n)]
    t0 = _clock()
    for i in range(a.n):
        with mlflow.start_run():
            mlflow.log_params({f"p{j}": f"v{(i + j) % 3}" for j in range(10)})
            mlflow.log_metrics({f"m{j}": values[i][j] for j in range(10)})
    create = _clock() - t0
    client = MlflowClient()
    expected = sum(1 for i in range(a.n) if values[i][0] > 0.5 and i % 3 == 1)
    res = _search(client, exp_id, a)  # warm-up (and the check)
    if len(res) != min(expected, a.max_results):
        _fail(f"search found {len(res)} runs, expected {expected}")
    times = []
    for _ in range(a.search_repeat):
        t = _clock()
        _search(client, exp_id, a)
        times.append(_clock() - t)
    return {
        "create_seconds": create,
        "search_seconds": statistics.median(times),
        "search_mean_seconds": statistics.fmean(times),
        "search_min_seconds": min(times),
        "matches": len(res),
    }


def artifact(a: argparse.Namespace) -> dict:
    """``mlflow.log_artifact`` of one file of random bytes (created beforehand, untimed)."""
    import mlflow

    path = Path(a.workdir) / "blob.bin"
    _random_file(path, a.mb)
    _experiment(a)
    run = mlflow.start_run()
    t0 = _clock()
    mlflow.log_artifact(str(path))
    total = _clock() - t0
    mlflow.end_run()
    arts = mlflow.MlflowClient().list_artifacts(run.info.run_id)
    if not arts or arts[0].file_size != a.mb * 1024 * 1024:
        _fail(f"artifacts {arts}")
    return {"seconds": total}


def _random_file(path: Path, mb: int) -> None:
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1024 * 1024))
        f.flush()
        os.fsync(f.fileno())


SCENARIOS = {
    "log_metric": log_metric,
    "log_batch": log_batch,
    "runs_and_search": runs_and_search,
    "artifact": artifact,
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--mb", type=int, default=50)
    p.add_argument("--search-repeat", type=int, default=20)
    p.add_argument("--max-results", type=int, default=1000)
    p.add_argument("--filter", default="metrics.m0 > 0.5 and params.p0 = 'v1'")
    p.add_argument("--asynchronous", action="store_true", help="log_metric(synchronous=False) + wait")
    a = p.parse_args()
    if not os.environ.get("MLFLOW_TRACKING_URI", "").startswith("sqlite:///"):
        raise SystemExit("mlflow worker: MLFLOW_TRACKING_URI must be a sqlite:/// URI")
    result = SCENARIOS[a.scenario](a)
    import mlflow

    result["mlflow"] = mlflow.__version__
    result["python"] = sys.version.split()[0]
    Path(a.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
