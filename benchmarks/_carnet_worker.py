"""One carnet benchmark scenario in a fresh process; writes its timings as JSON to ``--out``.

Started by ``benchmarks/bench_tracking.py``; not meant to be run by hand (but it can be:
``python benchmarks/_carnet_worker.py log_metric --workdir /tmp/x --out /tmp/x/r.json``).
Every scenario checks afterwards, outside the timed part, that what it wrote is stored.
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

PROJECT = "bench"


def _clock() -> float:
    return time.perf_counter()


def _fail(msg: str) -> None:
    raise SystemExit(f"carnet worker: check failed: {msg}")


def log_metric(ws: str, a: argparse.Namespace) -> dict:
    """``run.log_metric`` called ``n`` times, then ``run.flush()`` (durable when it returns)."""
    import carnet

    run = carnet.start_run(PROJECT, uri=ws)
    t0 = _clock()
    for i in range(a.n):
        run.log_metric("loss", 1.0 / (i + 1), step=i)
    t_calls = _clock() - t0
    run.flush()
    total = _clock() - t0
    run.end()
    got = len(carnet.Client(ws).get_metric_history(run.id, "loss"))
    if got != a.n:
        _fail(f"{got} of {a.n} values stored")
    return {"seconds": total, "calls_seconds": t_calls, "flush_seconds": total - t_calls}


def log_batch(ws: str, a: argparse.Namespace) -> dict:
    """One ``Client.log_batch`` of ``n`` metric values (one transaction)."""
    import carnet
    from carnet import Metric

    client = carnet.Client(ws)
    run = client.create_run(PROJECT)
    now = time.time()
    metrics = [Metric(f"m{i % 10}", random.random(), i // 10, now) for i in range(a.n)]
    t0 = _clock()
    client.log_batch(run.id, metrics)
    total = _clock() - t0
    client.end_run(run.id)
    got = sum(len(client.get_metric_history(run.id, f"m{k}")) for k in range(10))
    if got != a.n:
        _fail(f"{got} of {a.n} values stored")
    return {"seconds": total}


def _search(client, a: argparse.Namespace) -> list:
    return client.search_runs(
        PROJECT, filter=a.filter, order_by=["metrics.m0 DESC"], max_results=a.max_results
    ).runs


def runs_and_search(ws: str, a: argparse.Namespace) -> dict:
    """``n`` fluent runs with 10 params and 10 metrics each, then the filtered search over them."""
    import carnet

    carnet.Client(ws).close()  # the workspace exists beforehand (its creation is its own scenario)
    rng = random.Random(42)
    values = [[rng.random() for _ in range(10)] for _ in range(a.n)]
    t0 = _clock()
    for i in range(a.n):
        with carnet.start_run(PROJECT, uri=ws) as run:
            run.log_params({f"p{j}": f"v{(i + j) % 3}" for j in range(10)})
            run.log_metrics({f"m{j}": values[i][j] for j in range(10)})
    create = _clock() - t0
    client = carnet.Client(ws)
    expected = sum(1 for i in range(a.n) if values[i][0] > 0.5 and i % 3 == 1)
    res = _search(client, a)  # warm-up (and the check)
    if len(res) != min(expected, a.max_results):
        _fail(f"search found {len(res)} runs, expected {expected}")
    if [r.metrics["m0"] for r in res] != sorted((r.metrics["m0"] for r in res), reverse=True):
        _fail("search results are not ordered by metrics.m0 desc")
    times = []
    for _ in range(a.search_repeat):
        t = _clock()
        _search(client, a)
        times.append(_clock() - t)
    return {
        "create_seconds": create,
        "search_seconds": statistics.median(times),
        "search_mean_seconds": statistics.fmean(times),
        "search_min_seconds": min(times),
        "matches": len(res),
    }


def big_search(ws: str, a: argparse.Namespace) -> dict:
    """Search over ``n`` runs (created untimed through the Client, with the environment a run records)."""
    import carnet
    from carnet.client.environment import capture_environment

    client = carnet.Client(ws)
    env = capture_environment()
    rng = random.Random(7)
    t0 = _clock()
    for i in range(a.n):
        run = client.create_run(
            PROJECT, params={f"p{j}": f"v{(i + j) % 3}" for j in range(10)}, environment=env
        )
        client.log_metrics(run.id, {f"m{j}": rng.random() for j in range(10)})
        client.end_run(run.id)
    setup = _clock() - t0
    client.close()
    client = carnet.Client(ws)
    res = _search(client, a)  # warm-up
    if not res:
        _fail("search over the big project found nothing")
    times = []
    for _ in range(a.search_repeat):
        t = _clock()
        _search(client, a)
        times.append(_clock() - t)
    return {
        "seconds": statistics.median(times),
        "mean_seconds": statistics.fmean(times),
        "min_seconds": min(times),
        "matches": len(res),
        "setup_seconds": setup,
    }


def artifact(ws: str, a: argparse.Namespace) -> dict:
    """``run.log_artifact`` of one file of random bytes (created beforehand, untimed)."""
    import carnet

    path = Path(a.workdir) / "blob.bin"
    _random_file(path, a.mb)
    run = carnet.start_run(PROJECT, uri=ws)
    t0 = _clock()
    arts = run.log_artifact(path)
    total = _clock() - t0
    run.end()
    if arts[0].size != a.mb * 1024 * 1024:
        _fail(f"artifact size {arts[0].size}")
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
    "big_search": big_search,
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
    a = p.parse_args()
    ws = str(Path(a.workdir) / "ws")
    result = SCENARIOS[a.scenario](ws, a)
    result["python"] = sys.version.split()[0]
    Path(a.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
