"""One client scenario against a running ``carnet server``, in a fresh process; JSON to ``--out``.

Started by ``benchmarks/bench_api.py`` (it can be run by hand against any carnet server:
``python benchmarks/_api_carnet.py per_call --url http://127.0.0.1:5000 --out /tmp/r.json``).
The client is the SDK a user writes against: ``carnet.Client("http://host:port")``. Each scenario
warms the server up (untimed), runs its timed part, then reads everything back through the SDK
and checks that what it sent is stored (a server that drops values cannot win).
HTTP requests are counted with an httpx event hook.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def _clock() -> float:
    return time.perf_counter()


def _fail(msg: str) -> None:
    raise SystemExit(f"carnet api worker: check failed: {msg}")


class Counter:
    """HTTP requests sent by the client (an httpx request hook)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, _request: Any) -> None:
        self.n += 1


def _client(url: str) -> tuple[Any, Counter]:
    import carnet

    client = carnet.Client(url)
    counter = Counter()
    client._http.event_hooks["request"].append(counter)  # noqa: SLF001 - counting only
    return client, counter


def _warm_up(client: Any, project: str) -> None:
    """A throwaway run with a few values: the server's first requests are not timed."""
    run = client.create_run(project, params={"w": 1}, tags={"warm": "up"})
    for i in range(20):
        client.log_metric(run.id, "warm", float(i), step=i)
    client.log_batch(run.id, _metrics(50))
    client.end_run(run.id)
    client.search_runs(project, max_results=10)


def _metrics(n: int) -> list[Any]:
    from carnet import Metric

    now = time.time()
    return [Metric(f"m{i % 10}", 1.0 / (i + 1), i // 10, now) for i in range(n)]


def _all_runs(client: Any, project: str) -> list[Any]:
    runs, token = [], None
    while True:
        page = client.search_runs(project, max_results=1000, page_token=token)
        runs.extend(page.runs)
        token = page.next_page_token
        if not token:
            return runs


def per_call(a: argparse.Namespace) -> dict:
    """One run, ``n`` x ``Client.log_metric`` (one request each), created and ended in the timing."""
    client, counter = _client(a.url)
    _warm_up(client, f"{a.tag}-{a.scenario}-warmup")
    counter.n = 0
    t0 = _clock()
    run = client.create_run(f"{a.tag}-per-call")
    for i in range(a.n):
        client.log_metric(run.id, "loss", 1.0 / (i + 1), step=i)
    client.end_run(run.id)
    total = _clock() - t0
    requests = counter.n
    got = client.get_metric_history(run.id, "loss")
    if len(got) != a.n:
        _fail(f"{len(got)} of {a.n} values stored")
    if sorted(m.step for m in got) != list(range(a.n)):
        _fail("the stored steps are not 0..n-1")
    if str(client.get_run(run.id).status.value) != "finished":
        _fail("the run is not finished")
    return {"seconds": total, "calls": a.n + 2, "requests": requests, "stored": len(got)}


def runs(a: argparse.Namespace) -> dict:
    """``n`` runs: create_run (tags), log_param x P, log_metric x M, end_run: one request per call."""
    client, counter = _client(a.url)
    project = f"{a.tag}-runs"
    _warm_up(client, f"{a.tag}-{a.scenario}-warmup")
    counter.n = 0
    t0 = _clock()
    for i in range(a.n):
        run = client.create_run(project, tags={f"t{j}": f"tag{(i + j) % 4}" for j in range(a.tags)})
        for j in range(a.params):
            client.log_param(run.id, f"p{j}", f"v{(i + j) % 3}")
        for j in range(a.metrics):
            client.log_metric(run.id, f"m{j}", (i * 31 + j) % 97 / 97.0, step=0)
        client.end_run(run.id)
    total = _clock() - t0
    requests = counter.n
    stored = _all_runs(client, project)
    if len(stored) != a.n:
        _fail(f"{len(stored)} of {a.n} runs stored")
    for r in stored:
        if str(r.status.value) != "finished":
            _fail(f"run {r.id} is {r.status}")
        if len(r.params) != a.params or len(r.metrics) != a.metrics:
            _fail(f"run {r.id} has {len(r.params)} params and {len(r.metrics)} metrics")
        if not all(f"t{j}" in r.tags for j in range(a.tags)):
            _fail(f"run {r.id} lacks tags: {sorted(r.tags)}")
    calls = a.n * (2 + a.params + a.metrics)
    return {"seconds": total, "calls": calls, "requests": requests, "stored": len(stored)}


def batch(a: argparse.Namespace) -> dict:
    """One ``Client.log_batch`` of ``n`` values (one request and one transaction up to 100,000)."""
    client, counter = _client(a.url)
    _warm_up(client, f"{a.tag}-{a.scenario}-warmup")
    run = client.create_run(f"{a.tag}-batch")
    metrics = _metrics(a.n)
    counter.n = 0
    t0 = _clock()
    client.log_batch(run.id, metrics)
    total = _clock() - t0
    requests = counter.n
    client.end_run(run.id)
    got = sum(len(client.get_metric_history(run.id, f"m{k}")) for k in range(10))
    if got != a.n:
        _fail(f"{got} of {a.n} values stored")
    return {"seconds": total, "calls": 1, "requests": requests, "stored": got}


def fluent(a: argparse.Namespace) -> dict:
    """``run.log_metric`` x ``n`` on a fluent run, then ``run.flush()`` (durable when it returns).

    The SDK queues the values and a background thread sends them in batches.
    """
    import carnet

    client, _ = _client(a.url)
    _warm_up(client, f"{a.tag}-{a.scenario}-warmup")
    run = carnet.start_run(f"{a.tag}-fluent", uri=a.url, capture_output=False)
    t0 = _clock()
    for i in range(a.n):
        run.log_metric("loss", 1.0 / (i + 1), step=i)
    run.flush()
    total = _clock() - t0
    run.end()
    got = len(client.get_metric_history(run.id, "loss"))
    if got != a.n:
        _fail(f"{got} of {a.n} values stored")
    return {"seconds": total, "calls": a.n + 1, "requests": None, "stored": got}


SCENARIOS = {"per_call": per_call, "runs": runs, "batch": batch, "fluent": fluent}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--url", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--tag", default="bench", help="prefix of the project names")
    p.add_argument("--params", type=int, default=3)
    p.add_argument("--tags", type=int, default=2)
    p.add_argument("--metrics", type=int, default=5)
    a = p.parse_args()
    result = SCENARIOS[a.scenario](a)
    import carnet

    result["carnet"] = carnet.__version__
    result["python"] = sys.version.split()[0]
    Path(a.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
