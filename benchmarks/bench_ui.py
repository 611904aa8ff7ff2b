"""Web UI benchmark: ``carnet ui`` against ``mlflow ui`` on the same 30,000 runs, side by side.

Reproduce (see docs/benchmarks.md)::

    bash benchmarks/setup_mlflow_venv.sh      # .bench-venv/ with MLflow 3 (once)
    python benchmarks/bench_ui.py --json benchmarks/results/ui.json --markdown benchmarks/results/ui.md
    python benchmarks/bench_ui.py --runs 2000 --postgres none     # a quick look

One carnet workspace (SQLite, and the same again on PostgreSQL) and one MLflow SQLite store get the
same runs: ``--runs`` runs x 50 params x 100 metrics, and on ``--long-runs`` of them a ``loss`` of
``--steps`` steps. carnet's are written through its services, audit events included; MLflow's in
bulk into the schema MLflow creates (``_ui_mlflow_seed.py``). The seeded stores are kept in
``--work`` (and the database ``carnet_bench_ui``) and reused while their sizes match. PostgreSQL's
planner statistics are refreshed (``ANALYZE``) before measuring, as autovacuum does on its own
some time after a bulk load.

Both servers run on 127.0.0.1 (``carnet server``, which serves the UI, and ``mlflow ui`` from
``.bench-venv``). Headless Chromium (Debian's, driven by Playwright) opens each page ``--repeat``
times in a fresh browser context (nothing cached) and the time from navigation to the element that
shows the result is taken: the first row of the runs table, a drawn ``loss`` chart of 100,000 steps
(carnet's chart page; MLflow's run page "Model metrics" tab, where ``loss`` is the first chart), the
parallel coordinates of a 100-run compare (carnet). Server times are read with an HTTP client
(``--repeat`` x 6 requests after a warm-up). Figures are medians, with p95 for server times; the
ratio is MLflow / carnet (above 1: carnet is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _ui_data import loss, run_id, runs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_VENV = Path(os.environ.get("BENCH_VENV", ROOT / ".bench-venv"))
HOST = "127.0.0.1"
PROJECT = "bench-ui"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# -- seeding -----------------------------------------------------------------------------------------
def seed_carnet(uri: str, artifacts: str | None, count: int, long_runs: int, steps: int) -> float:
    """Write the runs through carnet's services (each run: create, one batch, end); seconds taken."""
    from carnet.bootstrap import open_services

    services = open_services(uri, artifacts=artifacts)
    t = services.tracking
    started = time.perf_counter()
    try:
        for r in runs(count):
            t.create_run(PROJECT, r.name, params=r.params, run_id=r.run_id)
            t.log_batch(r.run_id, [t.make_metric(k, v, 0, r.start) for k, v in r.metrics.items()])
            if r.index < long_runs:
                history = [t.make_metric("loss", v, s, r.start + s / 1000) for s, v in loss(steps, r.index)]
                for i in range(0, len(history), 20_000):
                    t.log_batch(r.run_id, history[i : i + 20_000])
            t.end_run(r.run_id, "finished")
            if r.index % 2000 == 1999:
                print(f"  carnet: {r.index + 1:,} runs, {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        services.close()
    return time.perf_counter() - started


def seed_mlflow(db: Path, count: int, long_runs: int, steps: int) -> dict[str, Any]:
    out = subprocess.run(
        [str(MLFLOW_VENV / "bin" / "python"), str(ROOT / "benchmarks" / "_ui_mlflow_seed.py"), str(db),
         str(count), str(long_runs), str(steps)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def postgres_uri(base: str, *, fresh: bool) -> str:
    """The database ``carnet_bench_ui`` on the server of ``base`` (dropped and made again if ``fresh``)."""
    import sqlalchemy as sa

    if fresh:
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text("DROP DATABASE IF EXISTS carnet_bench_ui WITH (FORCE)"))
            c.execute(sa.text("CREATE DATABASE carnet_bench_ui"))
        admin.dispose()
    return base.rsplit("/", 1)[0] + "/carnet_bench_ui"


def analyze(uri: str) -> None:
    """Refresh PostgreSQL's planner statistics, as autovacuum does on its own some time after a bulk
    load (without them the planner scans whole tables for a page of 50 runs)."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(sa.text("ANALYZE"))
    engine.dispose()


# -- servers -----------------------------------------------------------------------------------------
@contextmanager
def server(command: list[str], url: str, ready: str) -> Iterator[str]:
    """Run ``command`` until the block ends; yields ``url`` once ``url + ready`` answers 200."""
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(url + ready, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{command[0]} did not start: "
                    f"{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
                )
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def carnet_server(uri: str, artifacts: str | None) -> Any:
    port = free_port()
    command = [str(Path(sys.executable).parent / "carnet"), "server", "--uri", uri, "--port", str(port)]
    if artifacts:
        command += ["--artifacts", artifacts]
    return server(command, f"http://{HOST}:{port}", "/healthz")


def mlflow_server(db: Path) -> Any:
    port = free_port()
    command = [str(MLFLOW_VENV / "bin" / "mlflow"), "ui", "--backend-store-uri", f"sqlite:///{db}",
               "--host", HOST, "--port", str(port)]  # fmt: skip
    return server(command, f"http://{HOST}:{port}", "/health")


# -- measures ----------------------------------------------------------------------------------------
def browser_times(
    browser: Any, url: str, selector: str, repeat: int, before: Callable[[Any], None] | None = None
) -> list[float]:
    """Seconds from navigation to ``selector`` visible, each time in a fresh context (cold cache)."""
    times = []
    for _ in range(repeat + 1):  # the first is a warm-up of the server, not counted
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        if before is not None:
            before(page)
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.locator(selector).first.wait_for(state="visible", timeout=300_000)
        times.append(time.perf_counter() - started)
        context.close()
    return times[1:]


def server_times(request: Callable[[], httpx.Response], repeat: int) -> list[float]:
    request().raise_for_status()  # warm-up
    times = []
    for _ in range(repeat * 6):
        started = time.perf_counter()
        response = request()
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(values) * 1000, "p95_ms": p95(values) * 1000, "n": len(values)}


def measure_carnet(browser: Any, url: str, long_run: str, compare: list[str], repeat: int) -> dict[str, Any]:
    http = httpx.Client(base_url=url, timeout=300)
    compare_url = "/compare?" + "&".join(f"run={i}" for i in compare)
    out = {
        "server_runs_page": summary(server_times(lambda: http.get("/runs"), repeat)),
        "server_series": summary(
            server_times(lambda: http.get(f"/runs/{long_run}/series", params={"key": "loss"}), repeat)
        ),
        "server_compare_100": summary(server_times(lambda: http.get(compare_url), max(1, repeat // 2))),
        "browser_runs_table": summary(browser_times(browser, url + "/runs", "#runs tbody tr", repeat)),
        "browser_chart_100k": summary(
            browser_times(
                browser, f"{url}/runs/{long_run}/chart?key=loss", "#chart[data-drawn] canvas", repeat
            )
        ),
        "browser_compare_100": summary(
            browser_times(browser, url + compare_url, "#parcoords svg path.run", repeat)
        ),
    }
    series = http.get(f"/runs/{long_run}/series", params={"key": "loss"}).json()
    out["series_points"] = {"total": series["total"], "drawn": len(series["step"])}
    http.close()
    return out


def measure_mlflow(browser: Any, url: str, experiment: str, long_run: str, repeat: int) -> dict[str, Any]:
    http = httpx.Client(base_url=url, timeout=300)
    body = {"experiment_ids": [experiment], "max_results": 100, "order_by": ["attributes.start_time DESC"]}

    out = {
        "server_runs_search": summary(
            server_times(lambda: http.post("/ajax-api/2.0/mlflow/runs/search", json=body), repeat)
        ),
        "server_metric_history": summary(
            server_times(
                lambda: http.get(
                    "/ajax-api/2.0/mlflow/metrics/get-history",
                    params={"run_id": long_run, "metric_key": "loss"},
                ),
                max(1, repeat // 2),
            )
        ),
        "browser_runs_table": summary(
            browser_times(browser, f"{url}/#/experiments/{experiment}/runs", ".ag-row", repeat)
        ),
        "browser_chart_100k": summary(
            browser_times(
                browser,
                f"{url}/#/experiments/{experiment}/runs/{long_run}/model-metrics",
                "path.js-line",
                repeat,
            )
        ),
    }
    http.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30_000)
    parser.add_argument("--long-runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server to repeat carnet's figures on, or 'none'")  # fmt: skip
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".ui-work")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs Debian's chromium: apt-get install chromium")
    if not (MLFLOW_VENV / "bin" / "mlflow").exists():
        sys.exit("needs the MLflow venv: bash benchmarks/setup_mlflow_venv.sh")
    sizes = {"runs": args.runs, "long_runs": args.long_runs, "steps": args.steps}
    args.work.mkdir(parents=True, exist_ok=True)
    marker = args.work / "sizes.json"
    workspace, mlflow_db = args.work / "carnet", args.work / "mlflow" / "mlflow.db"
    seeding: dict[str, Any] = {}
    if not marker.exists() or json.loads(marker.read_text()).get("sizes") != sizes:
        shutil.rmtree(workspace, ignore_errors=True)
        shutil.rmtree(mlflow_db.parent, ignore_errors=True)
        mlflow_db.parent.mkdir(parents=True)
        print(
            f"seeding {args.runs:,} runs (x50 params x100 metrics, {args.long_runs} x {args.steps:,} steps)"
        )
        seeding["mlflow"] = seed_mlflow(mlflow_db, args.runs, args.long_runs, args.steps)
        seeding["carnet_sqlite_s"] = seed_carnet(str(workspace), None, args.runs, args.long_runs, args.steps)
        marker.write_text(json.dumps({"sizes": sizes, "seeding": seeding}))
    else:
        seeding = json.loads(marker.read_text())["seeding"]
    experiment = str(seeding["mlflow"]["experiment_id"])
    long_run = run_id(0)
    compare = [run_id(i) for i in range(args.runs - 100, args.runs)]
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {
        "sizes": sizes,
        "seeding": seeding,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "chromium": chromium},
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        with carnet_server(str(workspace), None) as url:
            print("measuring carnet (SQLite)")
            result["carnet_sqlite"] = measure_carnet(browser, url, long_run, compare, args.repeat)
        with mlflow_server(mlflow_db) as url:
            print("measuring mlflow ui")
            result["mlflow"] = measure_mlflow(browser, url, experiment, long_run, args.repeat)
        if args.postgres != "none":
            artifacts = args.work / "pg-artifacts"
            state = json.loads(marker.read_text())
            seeded = state.get("postgres") == sizes and artifacts.exists()
            uri = postgres_uri(args.postgres, fresh=not seeded)
            if not seeded:
                shutil.rmtree(artifacts, ignore_errors=True)
                print("seeding carnet on PostgreSQL")
                state["seeding"]["carnet_postgres_s"] = seed_carnet(
                    uri, str(artifacts), args.runs, args.long_runs, args.steps
                )
                marker.write_text(json.dumps({**state, "postgres": sizes}))
            result["seeding"] = state["seeding"]
            analyze(uri)
            with carnet_server(uri, str(artifacts)) as url:
                print("measuring carnet (PostgreSQL)")
                result["carnet_postgres"] = measure_carnet(browser, url, long_run, compare, args.repeat)
        browser.close()
    report(result, args.json, args.markdown)


def report(result: dict[str, Any], json_path: Path | None, md_path: Path | None) -> None:
    c, m = result["carnet_sqlite"], result["mlflow"]
    pg = result.get("carnet_postgres")
    rows = [
        (
            "runs table, first page in the browser",
            c["browser_runs_table"],
            m["browser_runs_table"],
            "≥ 5x faster than MLflow",
        ),
        (
            "100,000-step chart drawn in the browser",
            c["browser_chart_100k"],
            m["browser_chart_100k"],
            "≤ 500 ms",
        ),
        (
            "runs page, server (carnet HTML; MLflow runs/search JSON)",
            c["server_runs_page"],
            m["server_runs_search"],
            "p95 ≤ 150 ms",
        ),
        (
            "series of 100,000 steps, server (MLflow: get-history)",
            c["server_series"],
            m["server_metric_history"],
            "≤ 100 ms",
        ),
        ("compare 100 runs in the browser", c["browser_compare_100"], None, "≤ 1 s"),
        ("compare 100 runs, server", c["server_compare_100"], None, ""),
    ]
    lines = [
        f"{result['sizes']['runs']:,} runs x 50 params x 100 metrics; "
        f"{result['sizes']['long_runs']} runs with a "
        f"{result['sizes']['steps']:,}-step loss. Medians (p95) in ms; ratio = MLflow / carnet.",
        "",
        "| measure | carnet | mlflow ui | ratio | target |"
        + (" carnet on PostgreSQL | PG / SQLite |" if pg else ""),
        "|---|---|---|---|---|" + ("---|---|" if pg else ""),
    ]
    keys = [
        "browser_runs_table",
        "browser_chart_100k",
        "server_runs_page",
        "server_series",
        "browser_compare_100",
        "server_compare_100",
    ]
    for (label, cv, mv, target), key in zip(rows, keys, strict=True):
        cell = f"{cv['median_ms']:.0f} ({cv['p95_ms']:.0f})"
        mcell = f"{mv['median_ms']:.0f} ({mv['p95_ms']:.0f})" if mv else "-"
        ratio = f"{mv['median_ms'] / cv['median_ms']:.1f}x" if mv else "-"
        line = f"| {label} | {cell} | {mcell} | {ratio} | {target} |"
        if pg:
            pv = pg[key]
            line += f" {pv['median_ms']:.0f} ({pv['p95_ms']:.0f}) | {pv['median_ms'] / cv['median_ms']:.2f} |"
        lines.append(line)
    text = "\n".join(lines)
    print(text)
    if json_path:
        json_path.write_text(json.dumps(result, indent=2) + "\n")
    if md_path:
        md_path.write_text(text + "\n")


if __name__ == "__main__":
    main()
