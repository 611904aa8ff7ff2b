"""Report of ``benchmarks/bench_serving.py``: the Markdown tables and the targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the finished ``Bench`` of ``bench_serving.py`` (not imported: that script imports this module)
Bench = Any


# -- report --------------------------------------------------------------------------------
ORDER: list[tuple[str, str, str]] = [  # (variant, server, label)
    ("carnet_v2", "carnet", "carnet serve, v2 infer"),
    ("carnet_v2_binary", "carnet", "carnet serve, v2 infer, binary tensors"),
    ("carnet_mlflow", "carnet", "carnet serve, /invocations"),
    ("mlflow", "mlflow", "MLflow `models serve`"),
    ("bento", "bento", "BentoML `serve`"),
    ("bento_batched", "bento", "BentoML, adaptive batching (defaults)"),
    ("bento_batched_20ms", "bento", "BentoML, adaptive batching, max_latency_ms=20"),
    ("floor", "floor", "floor: bare Starlette + predict"),
    ("null", "null", "null server (calibration)"),
]


def _fmt(fmt: str, x: float | None) -> str:
    return "—" if x is None else fmt.format(x)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(head: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A Markdown table; ``align`` has one letter per column (l, r), default: first left, others right."""
    align = align or "l" + "r" * (len(head) - 1)
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return [_row(head), rule, *(_row(r) for r in rows)]


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


@dataclass
class Target:
    """One target of the issue, on carnet's v2 route (for 1,000 rows: its fastest route)."""

    label: str
    value: float | None
    required: str
    ok: bool | None  # None: not measured
    errors: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.errors:
            return "ERROR"
        if self.ok is None:
            return "n/a"
        return "PASS" if self.ok else "FAIL"

    def shown(self, pending: bool) -> str:
        if self.value is None:
            return "pending" if pending else "—"
        if self.required.endswith("x"):
            return f"{self.value:.2f}x"
        return f"{self.value:.0f}" if self.required == "0" else f"{self.value:.2f}"


def targets(b: Bench) -> list[Target]:
    c, cv = b.sizes.concurrency, "carnet_v2"
    rps = b.med(cv, "conc_rps")
    out = []
    for peer, label, need in (
        ("mlflow", "MLflow", 5.0),
        ("bento", "BentoML", 2.0),
        ("floor", "the floor", 1.0),
    ):
        r = _ratio(rps, b.med(peer, "conc_rps"))
        ok = None if r is None else r >= need
        out.append(Target(f"1-row throughput at {c} clients, carnet / {label}", r, f">= {need:g}x", ok))
    p99 = [x for x in (b.med(cv, "seq_p99_ms"), b.med(cv, "conc_p99_ms")) if x is not None]
    worst = max(p99) if p99 else None
    ok = None if worst is None else worst <= 20.0
    out.append(Target("1-row p99 of carnet, ms (worst of sequential and concurrent)", worst, "<= 20 ms", ok))
    errs = b.samples.get(cv, {}).get("conc_errors")
    total = None if errs is None else sum(errs)
    out.append(
        Target(f"failed requests of carnet at {c} clients", total, "0", None if total is None else total == 0)
    )
    routes = [(b.med(k, "big_rows_per_s"), lab) for k, s, lab in ORDER if s == "carnet"]
    best, route = max(((x, lab) for x, lab in routes if x is not None), default=(None, "none measured"))
    r = _ratio(best, b.med("inproc", "big_rows_per_s"))
    out.append(
        Target(
            f"{b.sizes.big_rows:,}-row throughput, carnet / in-process predict (best route: {route})",
            r,
            ">= 0.5x",
            None if r is None else r >= 0.5,
        )
    )
    for t in out:
        t.errors = list(b.errors.get("carnet", [])) + list(b.errors.get(cv, []))
    return out


def report(b: Bench, info: dict[str, Any]) -> str:
    """The Markdown tables: single-row figures, start-up / memory / 1,000 rows, ratios, targets."""
    c, r = b.sizes.concurrency, b.sizes.big_rows
    med, f = b.med, _fmt

    def why(server: str, n: int) -> list[str]:
        """Cells of a server without figures: pending, or failed."""
        reason = b.notes.get(server) or ("ERROR (see below)" if b.errors.get(server) else "—")
        return [reason, *([""] * (n - 1))]

    def absent(key: str, server: str) -> bool:
        """No figures and nothing to say (not selected, or a second route of a failed server)."""
        first = key in ("carnet_v2", server)
        return key not in b.samples and not (first and (server in b.notes or b.errors.get(server)))

    def failed(key: str) -> str:
        n = sum(b.samples[key].get("conc_errors", [0]))
        total = sum(b.samples[key].get("conc_requests", [0]))
        return f"{n:,.0f} of {total:,.0f}" if n else "0"

    single = []
    for k, s, lab in ORDER:
        if absent(k, s) or (k in b.samples and "conc_rps" not in b.samples[k]):
            continue  # (or a route measured with 1,000-row requests only)
        if k not in b.samples:
            single.append([lab, *why(s, 7)])
            continue
        single.append(
            [
                lab,
                f("{:,.0f}", med(k, "seq_rps")),
                f("{:.2f}", med(k, "seq_p50_ms")),
                f("{:.2f}", med(k, "seq_p99_ms")),
                f("{:,.0f}", med(k, "conc_rps")),
                f("{:.2f}", med(k, "conc_p50_ms")),
                f("{:.2f}", med(k, "conc_p99_ms")),
                failed(k),
            ]
        )
    lines = ["### Single-row requests (median of rounds)", ""]
    head = [
        "server",
        "sequential req/s",
        "p50 ms",
        "p99 ms",
        f"{c} clients req/s",
        "p50 ms",
        "p99 ms",
        "failed (all rounds)",
    ]
    lines += _table(head, single)
    inproc = med("inproc", "big_rows_per_s")
    other = []
    for k, s, lab in ORDER:
        if absent(k, s) or k in ("null", "bento_batched", "bento_batched_20ms"):
            continue  # batched BentoML routes: the same process as the plain one
        if s not in b.samples:
            other.append([lab, *why(s, 8)])
            continue
        big = med(k, "big_rows_per_s")
        other.append(
            [
                lab,
                f("{:.2f}", med(s, "startup_s")),
                f("{:.2f}", med(s, "first_prediction_s")),
                f("{:.0f}", med(s, "rss_start_mb")),
                f("{:.0f}", med(s, "rss_load_mb")),
                f("{:.0f}", med(s, "pss_load_mb")),
                f("{:.0f}", med(s, "processes")),
                f("{:,.0f}", big),
                f("{:.0%}", _ratio(big, inproc)),
            ]
        )
    other.append(
        [f"in-process `pipeline.predict` (one row: {f('{:.2f}', med('inproc', 'one_row_ms'))} ms)"]
        + ["—"] * 6
        + [f("{:,.0f}", inproc), "100%"]
    )
    lines += ["", f"### Start-up, memory and {r:,}-row requests (median of rounds)", ""]
    lines += _table(
        [
            "server",
            "ready s",
            "first prediction s",
            "RSS start MB",
            "RSS after load MB",
            "PSS after load MB",
            "processes",
            f"{r:,}-row rows/s",
            "of in-process",
        ],
        other,
    )
    peers = [
        ("mlflow", "MLflow"),
        ("bento", "BentoML"),
        ("bento_batched", "BentoML batched"),
        ("floor", "floor"),
    ]
    ratio_rows = []
    for cv, cl in (("carnet_v2", "v2"), ("carnet_v2_binary", "v2 binary"), ("carnet_mlflow", "/invocations")):
        for pk, pl in peers:
            if cv == "carnet_v2_binary" and (cv not in b.samples or pk == "bento_batched"):
                continue  # 1,000-row requests only
            ratio_rows.append(
                [f"carnet {cl} / {pl}"]
                + [
                    f("{:.2f}x", _ratio(med(cv, m), med(pk, m)))
                    for m in ("seq_rps", "conc_rps", "big_rows_per_s")
                ]
            )
    lines += ["", "### Ratios (carnet / peer, throughput: higher is better for carnet)", ""]
    lines += _table(["", "1 row sequential", f"1 row, {c} clients", f"{r:,} rows"], ratio_rows)
    pending = "carnet" in b.notes
    lines += ["", f"### Targets (carnet serve: v2 infer; {r:,} rows: its best route)", ""]
    lines += _table(
        ["target", "measured", "required", "result"],
        [[t.label, t.shown(pending), t.required, t.verdict] for t in targets(b)],
        "lrll",
    )
    lines += [
        "",
        f"Load generator: one asyncio process (uvloop), {c} keep-alive connections at a time, pre-encoded "
        f"requests. Client CPU per single-row request: {f('{:.0f}', med('null', 'conc_client_cpu_us'))} µs "
        f"against the null server ({f('{:,.0f}', med('null', 'conc_rps'))} req/s at {c} clients, "
        f"{f('{:.0%}', med('null', 'conc_client_cpu_share'))} of one core), "
        f"{f('{:.0f}', med('floor', 'conc_client_cpu_us'))} µs against the floor "
        f"({f('{:.0%}', med('floor', 'conc_client_cpu_share'))} of one core). A phase sends "
        f"{b.sizes.seq:,} (sequential), {b.sizes.conc:,} ({c} clients) or {b.sizes.big} ({r:,}-row) "
        f"requests, or stops starting new ones after {b.sizes.max_seconds:g} s.",
        "",
        f"{info.get('rounds')} round(s); Python {info['python']}, scikit-learn {info.get('scikit-learn')}, "
        f"pandas {info.get('pandas')}, MLflow {b.versions.get('mlflow_venv_mlflow', '—')}, "
        f"BentoML {b.versions.get('bento_venv_bentoml', '—')}, carnet {info.get('carnet', '—')}, "
        f"{info['cpus']} cpus; took {info.get('bench_seconds')} s.",
        "",
        f"Command: `{info['command']}`",
    ]
    problems = {k: v for k, v in b.errors.items() if v}
    if problems:
        lines += ["", "Errors and observations:", ""]
        for k, v in problems.items():
            lines.append(f"- {k}: " + "; ".join(sorted(set(v)))[:600])
    return "\n".join(lines)
