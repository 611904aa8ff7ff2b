"""One client scenario against a running ``mlflow server``, in a fresh .bench-venv process.

Started by ``benchmarks/bench_api.py``; writes its timings as JSON to ``--out``. The client is
the SDK a user writes against: ``MlflowClient(tracking_uri="http://host:port")`` (the fluent API
for the ``fluent`` scenario). Each scenario warms the server up (untimed), runs its timed part,
then reads everything back through the SDK and checks that what it sent is stored. HTTP requests
are counted by wrapping ``requests.Session.send`` (MLflow's REST client goes through it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REQUESTS = [0]


def _clock() -> float:
    return time.perf_counter()


def _fail(msg: str) -> None:
    raise SystemExit(f"mlflow api worker: check failed: {msg}")


def _count_requests() -> None:
    import requests

    send = requests.Session.send

    def counted(self: Any, request: Any, **kwargs: Any) -> Any:
        REQUESTS[0] += 1
        return send(self, request, **kwargs)

    requests.Session.send = counted  # type: ignore[method-assign]


def _client(url: str) -> Any:
    from mlflow import MlflowClient

    _count_requests()
    return MlflowClient(tracking_uri=url)


def _experiment(client: Any, name: str) -> str:
    return client.create_experiment(name)


def _warm_up(client: Any, name: str) -> None:
    """A throwaway run with a few values: the server's first requests are not timed."""
    from mlflow.entities import Param

    exp = _experiment(client, name)
    run_id = client.create_run(exp, tags={"warm": "up"}).info.run_id
    client.log_batch(run_id, params=[Param("w", "1")], metrics=_metrics(50))
    for i in range(20):
        client.log_metric(run_id, "warm", float(i), step=i)
    client.set_terminated(run_id)
    client.search_runs([exp], max_results=10)


def _metrics(n: int) -> list[Any]:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(f"m{i % 10}", 1.0 / (i + 1), now, i // 10) for i in range(n)]


def _all_runs(client: Any, exp: str) -> list[Any]:
    runs, token = [], None
    while True:
        page = client.search_runs([exp], max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def per_call(a: argparse.Namespace) -> dict:
    """One run, ``n`` x ``MlflowClient.log_metric`` (one request each), created and ended in the timing."""
    client = _client(a.url)
    _warm_up(client, f"{a.tag}-{a.scenario}-warmup")
    exp = _experiment(client, f"{a.tag}-per-call")
    REQUESTS[0] = 0
    t0 = _clock()
    run_id = client.create_run(exp).info.run_id
    for i in range(a.n):
        client.log_metric(run_id, "loss", 1.0 / (i + 1), step=i)
    client.set_terminated(run_id)
    total = _clock() - t0
    requests = REQUESTS[0]
    got = client.get_metric_history(run_id, "loss")
    if len(got) != a.n:
        _fail(f"{len(got)} of {a.n} values stored")
    if sorted(m.step for m in got) != list(range(a.n)):
        _fail("the stored steps are not 0..n-1")
    if client.get_run(run_id).info.status != "FINISHED":
        _fail("the run is not finished")
    return {"seconds": total, "calls": a.n + 2, "requests": requests, "stored": len(got)}


def runs(a: argparse.Namespace) -> dict:
    """``n`` runs: create_run (tags), log_param x P, log_metric x M, set_terminated: one call each."""
    client = _client(a.url)
    _warm_up(client, f"{a.tag}-{a.scenario}-warmup")
    exp = _experiment(client, f"{a.tag}-runs")
    REQUESTS[0] = 0
    t0 = _clock()
    for i in range(a.n):
        run_id = client.create_run(
            exp, tags={f"t{j}": f"tag{(i + j) % 4}" for j in range(a.tags)}
        ).info.run_id
        for j in range(a.params):
            client.log_param(run_id, f"p{j}", f"v{(i + j) % 3}")
        for j in range(a.metrics):
            client.log_metric(run_id, f"m{j}", (i * 31 + j) % 97 / 97.0, step=0)
        client.set_terminated(run_id)
    total = _clock() - t0
    requests = REQUESTS[0]
    stored = _all_runs(client, exp)
    if len(stored) != a.n:
        _fail(f"{len(stored)} of {a.n} runs stored")
    for r in stored:
        if r.info.status != "FINISHED":
            _fail(f"run {r.info.run_id} is {r.info.status}")
        if len(r.data.params) != a.params or len(r.data.metrics) != a.metrics:
            _fail(f"run {r.info.run_id} has {len(r.data.params)} params and {len(r.data.metrics)} metrics")
        if not all(f"t{j}" in r.data.tags for j in range(a.tags)):
            _fail(f"run {r.info.run_id} lacks tags: {sorted(r.data.tags)}")
    calls = a.n * (2 + a.params + a.metrics)
    return {"seconds": total, "calls": calls, "requests": requests, "stored": len(stored)}


def batch(a: argparse.Namespace) -> dict:
    """One ``MlflowClient.log_batch`` of ``n`` values (the SDK sends at most 1,000 per request)."""
    client = _client(a.url)
    _warm_up(client, f"{a.tag}-{a.scenario}-warmup")
    exp = _experiment(client, f"{a.tag}-batch")
    run_id = client.create_run(exp).info.run_id
    metrics = _metrics(a.n)
    REQUESTS[0] = 0
    t0 = _clock()
    client.log_batch(run_id, metrics=metrics)
    total = _clock() - t0
    requests = REQUESTS[0]
    client.set_terminated(run_id)
    got = sum(len(client.get_metric_history(run_id, f"m{k}")) for k in range(10))
    if got != a.n:
        _fail(f"{got} of {a.n} values stored")
    return {"seconds": total, "calls": 1, "requests": requests, "stored": got}


def fluent(a: argparse.Namespace) -> dict:
    """``mlflow.log_metric(..., synchronous=False)`` x ``n``, then ``wait()`` on every operation.

    MLflow's asynchronous logging queues the values and a background thread sends them in batches.
    """
    import mlflow

    client = _client(a.url)
    _warm_up(client, f"{a.tag}-{a.scenario}-warmup")
    mlflow.set_tracking_uri(a.url)
    exp = _experiment(client, f"{a.tag}-fluent")
    run = mlflow.start_run(experiment_id=exp)
    REQUESTS[0] = 0
    t0 = _clock()
    ops = [mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False) for i in range(a.n)]
    for op in ops:
        op.wait()
    total = _clock() - t0
    requests = REQUESTS[0]
    mlflow.end_run()
    got = len(client.get_metric_history(run.info.run_id, "loss"))
    if got != a.n:
        _fail(f"{got} of {a.n} values stored")
    return {"seconds": total, "calls": a.n, "requests": requests, "stored": got}


SCENARIOS = {"per_call": per_call, "runs": runs, "batch": batch, "fluent": fluent}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--url", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--tag", default="bench", help="prefix of the experiment names")
    p.add_argument("--params", type=int, default=3)
    p.add_argument("--tags", type=int, default=2)
    p.add_argument("--metrics", type=int, default=5)
    a = p.parse_args()
    result = SCENARIOS[a.scenario](a)
    import mlflow

    result["mlflow"] = mlflow.__version__
    result["python"] = sys.version.split()[0]
    Path(a.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
