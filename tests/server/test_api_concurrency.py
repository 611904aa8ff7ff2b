"""Eight processes at once, each creating a run and logging metrics in batches and params: through one
``carnet server`` (authentication on; the server over SQLite and over PostgreSQL), and directly to
one workspace (SQLite, PostgreSQL). Every process finishes without error, no row is lost (each run
has every metric value, step by step, and every param) and the audit chain still verifies."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from carnet.bootstrap import open_services
from carnet.server.api import create_api_app, serve_api_in_thread
from conftest import Workspace

PROCESSES = 8
METRICS = 200
BATCH = 20
PARAMS = 5
PROJECT = "load"

#: one worker: builds a client, waits for the start signal, then logs; prints its run id as JSON
WORKER = r"""
import json, sys, time
from pathlib import Path

from carnet import Client
from carnet.domain import Metric

uri, artifacts, token, index, go, ready, params, metrics, batch_size = sys.argv[1:10]
index, params, metrics, batch_size = int(index), int(params), int(metrics), int(batch_size)
client = Client(uri, artifacts=artifacts or None, token=token or None)
Path(ready).touch()
deadline = time.monotonic() + 60
while not Path(go).exists():
    if time.monotonic() > deadline:
        raise SystemExit("no start signal")
    time.sleep(0.01)
run = client.create_run("load", f"worker-{index}", tags={"worker": str(index)})
client.log_params(run.id, {f"p{k}": f"{index}-{k}" for k in range(params)})
for start in range(0, metrics, batch_size):
    batch = [Metric("m", index + step / 1000, step, time.time()) for step in range(start, start + batch_size)]
    batch += [Metric("w", float(index), step, time.time()) for step in range(start, start + batch_size)]
    assert client.log_batch(run.id, batch) == len(batch)
client.end_run(run.id, "finished")
client.close()
print(json.dumps({"run": run.id, "index": index}))
"""


def run_workers(uri: str, artifacts: str | None, token: str, tmp: Path) -> list[dict]:
    """Start the workers, release them together, and return what each printed (all must exit 0)."""
    go = tmp / "go"
    procs = []
    for i in range(PROCESSES):
        ready = tmp / f"ready-{i}"
        args = [sys.executable, "-c", WORKER, uri, artifacts or "", token, str(i), str(go), str(ready)]
        args += [str(PARAMS), str(METRICS), str(BATCH)]
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 60
    while not all((tmp / f"ready-{i}").exists() for i in range(PROCESSES)):
        if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.02)
    go.touch()
    results, failures = [], []
    for i, proc in enumerate(procs):
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        if proc.returncode != 0:
            failures.append(f"worker {i} exited {proc.returncode}:\n{err[-3000:]}")
        else:
            results.append(json.loads(out.strip().splitlines()[-1]))
    assert not failures, "\n\n".join(failures)
    return results


def check_rows(
    results: list[dict],
    history: Callable[[str, str], list[tuple[int, float]]],
    run: Callable[[str], tuple[str, dict]],
) -> None:
    """Every worker's run has all its metric values and params."""
    assert sorted(r["index"] for r in results) == list(range(PROCESSES))
    assert len({r["run"] for r in results}) == PROCESSES
    for r in results:
        rid, i = r["run"], r["index"]
        values = history(rid, "m")
        assert sorted(step for step, _ in values) == list(range(METRICS)), (rid, len(values))
        assert all(abs(value - (i + step / 1000)) < 1e-9 for step, value in values), rid
        assert len(history(rid, "w")) == METRICS, rid
        status, logged = run(rid)
        assert status == "finished", (rid, status)
        assert logged == {f"p{k}": f"{i}-{k}" for k in range(PARAMS)}, (rid, logged)


@pytest.fixture
def server(workspace: Workspace) -> Iterator[tuple[str, str, object]]:
    """A server with authentication on over the parametrised workspace; (url, editor token, services)."""
    services = open_services(workspace.uri, artifacts=workspace.artifacts)
    services.auth.add_user("writer", {PROJECT: "editor"})
    token = services.auth.create_token("writer", "load")[0]
    app = create_api_app(services, require_auth=True)
    srv = serve_api_in_thread(app)
    try:
        yield srv.url, token, services
    finally:
        srv.stop()
        services.close()


@pytest.mark.timeout(180)
def test_eight_processes_logging_through_one_server_lose_nothing(
    server: tuple[str, str, object], tmp_path: Path
) -> None:
    url, token, services = server
    results = run_workers(url, None, token, tmp_path)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=60) as http:

        def history(rid: str, key: str) -> list[tuple[int, float]]:
            r = http.get(f"/runs/{rid}/metrics/{key}")
            assert r.status_code == 200, r.text
            return [(m["step"], m["value"]) for m in r.json()]

        def run(rid: str) -> tuple[str, dict]:
            body = http.get(f"/runs/{rid}").json()
            return body["status"], {k: str(v) for k, v in body["params"].items()}

        check_rows(results, history, run)
        found = http.post("/runs/search", json={"projects": [PROJECT], "max_results": 100}).json()["runs"]
        assert len(found) == PROCESSES
    assert services.audit.verify().ok  # type: ignore[attr-defined]


@pytest.mark.timeout(180)
def test_eight_processes_logging_to_one_workspace_lose_nothing(workspace: Workspace, tmp_path: Path) -> None:
    results = run_workers(workspace.uri, workspace.artifacts, "", tmp_path)
    services = open_services(workspace.uri, artifacts=workspace.artifacts)
    try:
        tracking = services.tracking

        def history(rid: str, key: str) -> list[tuple[int, float]]:
            return [(m.step, m.value) for m in tracking.metric_history(rid, key)]

        def run(rid: str) -> tuple[str, dict]:
            found = tracking.get_run(rid)
            return found.status.value, {k: str(v) for k, v in found.params.items()}

        check_rows(results, history, run)
        assert services.audit.verify().ok
    finally:
        services.close()
