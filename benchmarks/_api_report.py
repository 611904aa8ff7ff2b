"""The report of ``bench_api.py``: rich tables, Markdown, JSON and a PNG figure.

Every function reads a finished ``Bench`` (its medians, memory figures, errors and versions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _api_servers import SERVER_LABELS, SERVERS
from bench_serving import _ratio, _table
from bench_tracking import _fmt_ratio

#: the finished ``Bench`` of ``bench_api.py`` (not imported: that script imports this module)
Bench = Any

SCENARIO_LABELS = {
    "per_call": "{metrics:,} x log_metric, one request each (one run)",
    "runs": "{runs} runs: create (+{tags} tags), {params} x log_param, {run_metrics} x log_metric, end",
    "batch": "batch API: one log_batch of {batch:,} values (not per call)",
    "fluent": "SDK-side batching: {metrics:,} x log_metric on a fluent run",
}


def _secs(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 0.1:
        return f"{x:.2f}"
    return f"{x * 1000:.1f} ms"


def _label(b: Bench, key: str) -> str:
    server = b.servers.get(key)
    if server is not None:
        return server.label
    return SERVER_LABELS[key].format(workers=b.versions.get("mlflow_default_workers", "?"))


def _throughput(b: Bench, scenario: str, sec: float | None, calls: float | None) -> str:
    """SDK calls per second; for the batch scenario (one call), metric values per second."""
    if sec is None or calls is None or sec <= 0:
        return "—"
    if scenario == "batch":
        return f"{b.sizes.batch / sec:,.0f} values/s"
    return f"{calls / sec:,.0f}"


def timing_rows(b: Bench) -> list[list[str]]:
    rows = []
    for scenario in b.args.scenarios:
        label = SCENARIO_LABELS[scenario].format(**b.sizes.__dict__)
        base = b.median(scenario, "carnet")
        for i, key in enumerate(k for k in SERVERS if k in b.args.only):
            sec = b.median(scenario, key)
            calls = b.median(scenario, key, "calls")
            reqs = b.median(scenario, key, "requests")
            cpu = b.median(scenario, key, "server_cpu_seconds")
            failed = b.errors.get(f"{scenario}:{key}")
            rows.append(
                [
                    label if i == 0 else "",
                    _label(b, key),
                    "ERROR" if failed and sec is None else _secs(sec),
                    _throughput(b, scenario, sec, calls),
                    "—" if reqs is None else f"{reqs:,.0f}",
                    _secs(cpu),
                    "—" if key == "carnet" else _fmt_ratio(_ratio(sec, base)),
                ]
            )
    return rows


TIMING_HEAD = [
    "scenario",
    "server",
    "seconds",
    "SDK calls/s",
    "HTTP requests",
    "server CPU s",
    "MLflow s / carnet s",
]


def memory_rows(b: Bench) -> list[list[str]]:
    rows = []
    base = b.memory.get("carnet", {})

    def mb(x: float | None) -> str:
        return "—" if x is None else f"{x:,.0f}"

    for key in (k for k in SERVERS if k in b.args.only):
        m = b.memory.get(key)
        if not m:
            rows.append([_label(b, key), "ERROR" if b.errors.get(key) else "—"] + [""] * 6)
            continue
        rows.append(
            [
                _label(b, key),
                f"{m.get('peak_processes', m['idle_processes'])}",
                f"{m['ready_seconds']:.1f}",
                mb(m["idle_rss_mb"]),
                mb(m.get("peak_rss_mb")),
                mb(m.get("after_rss_mb")),
                "—" if key == "carnet" else _fmt_ratio(_ratio(m["idle_rss_mb"], base.get("idle_rss_mb"))),
                "—" if key == "carnet" else _fmt_ratio(_ratio(m.get("peak_rss_mb"), base.get("peak_rss_mb"))),
            ]
        )
    return rows


MEMORY_HEAD = [
    "server",
    "processes",
    "ready s",
    "RSS idle MB",
    "RSS peak MB",
    "RSS after MB",
    "RSS idle / carnet",
    "RSS peak / carnet",
]


def footer(b: Bench, info: dict[str, Any]) -> list[str]:
    s = b.sizes
    v = b.versions
    return [
        f"Median of {b.args.repeat} repetition(s), the order of the servers rotating; "
        "seconds measured in the client process, the server's CPU time read from /proc over its whole "
        "process tree. RSS is summed over the server's processes (idle: after start-up, once no process "
        "appears and no CPU is used; peak: the highest 50 ms sample while a client ran; after: idle again "
        f"after every scenario). Scenario sizes: {s.metrics:,} per-call "
        f"values, {s.runs} runs, a batch of {s.batch:,}.",
        "",
        f"Python {info['python']} (MLflow venv {v.get('mlflow_venv_python', '—')}), SQLite {info['sqlite']} "
        f"(MLflow venv {v.get('mlflow_venv_sqlite', '—')}), carnet {info.get('carnet', '—')}, "
        f"MLflow {v.get('mlflow_venv_mlflow', '—')} (uvicorn {v.get('mlflow_venv_uvicorn', '—')}), "
        f"carnet's uvicorn {info.get('uvicorn', '—')}, {info['cpus']} cpus; "
        f"took {info.get('bench_seconds')} s.",
        "",
        f"Command: `{info['command']}`",
    ]


def markdown(b: Bench, info: dict[str, Any]) -> str:
    lines = ["### Time (median; lower is better)", ""]
    lines += _table(TIMING_HEAD, timing_rows(b), "ll" + "r" * (len(TIMING_HEAD) - 2))
    lines += ["", "### Resident memory of the server's process tree", ""]
    lines += _table(MEMORY_HEAD, memory_rows(b))
    lines += ["", *footer(b, info)]
    problems = {k: v for k, v in b.errors.items() if v}
    if problems:
        lines += ["", "Errors:", ""]
        lines += [f"- {k}: " + "; ".join(sorted(set(v)))[:600] for k, v in problems.items()]
    return "\n".join(lines)


def print_report(b: Bench, info: dict[str, Any], plain: bool) -> None:
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            plain = True
    if plain:
        print(markdown(b, info))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    for title, head, rows, left in (
        ("carnet server vs mlflow server: time (median; lower is better)", TIMING_HEAD, timing_rows(b), 2),
        ("resident memory of each server's process tree", MEMORY_HEAD, memory_rows(b), 1),
    ):
        t = Table(title=title)
        for i, h in enumerate(head):
            t.add_column(h, justify="left" if i < left else "right")
        for r in rows:
            t.add_row(*[f"[bold red]{c}[/]" if c == "ERROR" else c for c in r])
        console.print(t)
    for line in footer(b, info):
        if line:
            console.print(line, highlight=False)
    for k, v in b.errors.items():
        for e in v:
            console.print(f"[bold red]ERROR[/] {k}: {e}", highlight=False)


def plot(b: Bench, path: Path) -> None:
    """Two panels: median seconds per scenario (log scale), and idle / peak RSS per server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in SERVERS if k in b.args.only]
    colors = {"carnet": "#2a9d8f", "mlflow_w1": "#e76f51", "mlflow_default": "#f4a261"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / max(1, len(keys))
    scen = list(b.args.scenarios)
    short = {
        "per_call": f"{b.sizes.metrics:,} x log_metric\n(one request each)",
        "runs": f"{b.sizes.runs} runs\n({b.sizes.params + b.sizes.run_metrics + 2} calls each)",
        "batch": f"log_batch of {b.sizes.batch:,}\n(batch API)",
        "fluent": f"{b.sizes.metrics:,} x log_metric\n(SDK-side batching)",
    }
    for j, key in enumerate(keys):
        xs, ys = [], []
        for i, scenario in enumerate(scen):
            sec = b.median(scenario, key)
            if sec is not None:
                xs.append(i + (j - (len(keys) - 1) / 2) * width)
                ys.append(sec)
        bars = ax1.bar(xs, ys, width, label=_label(b, key), color=colors[key])
        for bar, y in zip(bars, ys, strict=True):
            ax1.annotate(
                _secs(y).replace(" ms", "ms") + ("" if y < 0.1 else "s"),
                (bar.get_x() + bar.get_width() / 2, y),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax1.set_yscale("log")
    ax1.set_xticks(range(len(scen)), [short[s] for s in scen], fontsize=8)
    ax1.set_ylabel("seconds (median, log scale)")
    ax1.set_title("time per scenario (lower is better)")
    ax1.legend(fontsize=8)
    idle = [b.memory.get(k, {}).get("idle_rss_mb") or 0 for k in keys]
    peak = [b.memory.get(k, {}).get("peak_rss_mb") or 0 for k in keys]
    xs = list(range(len(keys)))
    ax2.bar([x - 0.2 for x in xs], idle, 0.4, label="idle", color="#8ecae6")
    ax2.bar([x + 0.2 for x in xs], peak, 0.4, label="peak under load", color="#219ebc")
    for x, i_mb, p_mb in zip(xs, idle, peak, strict=True):
        ax2.annotate(f"{i_mb:,.0f}", (x - 0.2, i_mb), ha="center", va="bottom", fontsize=7)
        ax2.annotate(f"{p_mb:,.0f}", (x + 0.2, p_mb), ha="center", va="bottom", fontsize=7)
    ax2.set_xticks(xs, [_label(b, k).replace(" (", "\n(").replace(" --", "\n--") for k in keys], fontsize=8)
    ax2.set_ylabel("RSS of the process tree, MB")
    ax2.set_title("resident memory (lower is better)")
    ax2.legend(fontsize=8)
    fig.suptitle(
        f"carnet server vs mlflow server, SQLite on local disk, median of {b.args.repeat}", fontsize=10
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def as_json(b: Bench, info: dict[str, Any]) -> dict[str, Any]:
    scenarios = []
    for scenario in b.args.scenarios:
        base = b.median(scenario, "carnet")
        per_server = {}
        for key in (k for k in SERVERS if k in b.args.only):
            sec = b.median(scenario, key)
            calls = b.median(scenario, key, "calls")
            per_server[key] = {
                "label": _label(b, key),
                "seconds": sec,
                "calls": calls,
                "calls_per_second": None if sec is None or calls is None else calls / sec,
                "http_requests": b.median(scenario, key, "requests"),
                "server_cpu_seconds": b.median(scenario, key, "server_cpu_seconds"),
                "ratio_mlflow_over_carnet": None if key == "carnet" else _ratio(sec, base),
                "samples": b.results.get((scenario, key), []),
                "errors": b.errors.get(f"{scenario}:{key}", []),
            }
        scenarios.append(
            {
                "scenario": scenario,
                "label": SCENARIO_LABELS[scenario].format(**b.sizes.__dict__),
                "servers": per_server,
            }
        )
    memory = {}
    base = b.memory.get("carnet", {})
    for key, m in b.memory.items():
        memory[key] = dict(m) | {
            "label": _label(b, key),
            "workers": b.servers[key].workers if key in b.servers else None,
            "ratio_idle_rss_over_carnet": None
            if key == "carnet"
            else _ratio(m["idle_rss_mb"], base.get("idle_rss_mb")),
            "ratio_peak_rss_over_carnet": None
            if key == "carnet"
            else _ratio(m.get("peak_rss_mb"), base.get("peak_rss_mb")),
        }
    return {
        "machine": info,
        "sizes": b.sizes.__dict__,
        "scenarios": scenarios,
        "memory": memory,
        "errors": b.errors,
    }
