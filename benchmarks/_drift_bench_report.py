"""Report of ``benchmarks/bench_drift.py``: the drift checks, the targets and the Markdown tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from _drift_bench_data import CATEGORIES, LABELS, NUMERIC, SHIFTED, SIDES, SIZES, TARGET_ROWS

#: the finished ``Bench`` of ``bench_drift.py`` (not imported: that script imports this module)
Bench = Any


# -- checks and targets ----------------------------------------------------------------------
def drift_checks(b: Bench) -> tuple[list[str], list[str]]:
    """(lines for the report, warnings): do all sides flag the shifted columns, and only them?"""
    lines, warnings = [], []
    shifted = set(SHIFTED)
    for key, by_side in b.flags.items():
        n = int(key)
        sets = {side: {frozenset(r) for r in rounds} for side, rounds in by_side.items()}
        for side, variants in sets.items():
            if len(variants) > 1:
                warnings.append(f"{n:,} rows: {side} flags different columns between rounds")
        final = {side: set(next(iter(v))) for side, v in sets.items() if v}
        missed = {side: shifted - f for side, f in final.items() if shifted - f}
        extra = {side: f - shifted for side, f in final.items() if f - shifted}
        if missed:
            for side, cols in missed.items():
                warnings.append(f"{n:,} rows: {side} misses shifted column(s) {', '.join(sorted(cols))}")
        if len({frozenset(f) for f in final.values()}) > 1:
            detail = "; ".join(f"{side}: {', '.join(sorted(f)) or 'none'}" for side, f in final.items())
            warnings.append(f"{n:,} rows: the sides disagree on the flagged columns ({detail})")
        ok = "all flag" if not missed else "NOT all flag"
        more = (
            "; also flagged: " + "; ".join(f"{s}: {', '.join(sorted(c))}" for s, c in extra.items())
            if extra
            else "; no other column flagged"
        )
        lines.append(f"- {n:,} rows: {ok} the 3 shifted columns ({', '.join(sorted(final))}){more}.")
    return lines, warnings


def _last_run(b: Bench, n: int, side: str) -> dict[str, Any] | None:
    runs = [r for r in b.raw if r.get("rows") == n and r.get("side") == side]
    return runs[-1] if runs else None


def agreement(b: Bench) -> list[str]:
    """How close carnet's statistics are to the floor's exact ones (same data, same statistics)."""
    lines = []
    for n in b.sizes:
        c, f = _last_run(b, n, "carnet"), _last_run(b, n, "floor")
        if not c or not f:
            continue
        w = [
            (abs(c["scores"][k] - f["scores"][k]), k)
            for k in NUMERIC
            if k in c["scores"] and k in f["scores"]
        ]
        p = [
            (abs(c["p_values"][k] - f["scores"][k]), k)
            for k in CATEGORIES
            if isinstance(c.get("p_values", {}).get(k), float) and k in f["scores"]
        ]
        parts = []
        if w:
            d, k = max(w)
            parts.append(
                f"normalised Wasserstein max |carnet - exact| = {d:.4f} ({k}: {c['scores'][k]:.4f} vs "
                f"{f['scores'][k]:.4f})"
            )
        if p:
            d, k = max(p)
            parts.append(f"categorical chi-square p-values max |carnet - floor| = {d:.2g} ({k})")
        if parts:
            lines.append(f"- {n:,} rows: " + "; ".join(parts) + ".")
    return lines


def carnet_methods(b: Bench) -> str:
    """carnet's default methods as its report states them (``options``)."""
    for r in reversed(b.raw):
        opts = r.get("report", {}).get("options") if isinstance(r.get("report"), dict) else None
        if opts:
            m, t = opts.get("methods", {}), opts.get("thresholds", {})
            sig = opts.get("significance")
            text = ", ".join(
                f"{kind} {meth} >= {t.get(meth)}" for kind, meth in m.items() if kind != "boolean"
            )
            guard = f", each also needing chi-square p < {sig} on the same bins" if sig is not None else ""
            return f"carnet — its defaults: {text}{guard}"
    return "carnet — its defaults"


@dataclass
class Target:
    label: str
    value: float | None
    required: str
    ok: bool | None
    unit: str = "x"

    @property
    def verdict(self) -> str:
        return "n/a" if self.ok is None else ("PASS" if self.ok else "FAIL")

    def shown(self, why: str) -> str:
        if self.value is None:
            return why
        return f"{self.value:.2f} s" if self.unit == "s" else f"{self.value:.2f}x"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def targets(b: Bench) -> list[Target]:
    n = TARGET_ROWS
    c, ev, fl = (
        b.med(n, "carnet", "compute_s"),
        b.med(n, "evidently", "compute_s"),
        b.med(n, "floor", "compute_s"),
    )
    speed = _ratio(ev, c)
    floor = _ratio(c, fl)
    stored = b.med(n, "carnet_stored", "compute_s")
    mem = _ratio(b.med(n, "carnet", "compute_mb"), b.med(n, "evidently", "compute_mb"))
    return [
        Target(
            "1M rows: speed-up over Evidently (Evidently compute s / carnet compute s)",
            speed,
            ">= 10x",
            None if speed is None else speed >= 10,
        ),
        Target(
            "1M rows: carnet / floor compute time",
            floor,
            "<= 1.5x",
            None if floor is None else floor <= 1.5,
        ),
        Target(
            "1M rows: reference profile stored (load JSON + from_dict + detect_drift), s",
            stored,
            "<= 0.5 s",
            None if stored is None else stored <= 0.5,
            "s",
        ),
        Target(
            "1M rows: peak memory of the computation, carnet / Evidently",
            mem,
            "<= 0.5x",
            None if mem is None else mem <= 0.5,
        ),
    ]


# -- report --------------------------------------------------------------------------------
def _fmt(fmt: str, x: float | None) -> str:
    return "—" if x is None else fmt.format(x)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(head: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    align = align or "l" + "r" * (len(head) - 1)
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return [_row(head), rule, *(_row(r) for r in rows)]


def _rows_label(n: int) -> str:
    return next((k for k, v in SIZES.items() if v == n), f"{n:,}")


def _flagged(b: Bench, n: int, side: str) -> str:
    rounds = b.flags.get(str(n), {}).get(side)
    if not rounds:
        return "—"
    cols = rounds[-1]
    shifted = [c for c in cols if c in SHIFTED]
    other = [c for c in cols if c not in SHIFTED]
    text = f"{len(shifted)}/3 shifted"
    return text + (f" + {', '.join(other)}" if other else "")


def report(b: Bench, info: dict[str, Any]) -> str:
    med, f = b.med, _fmt
    lines: list[str] = []
    order = ["carnet", "carnet_stored", "evidently", "floor", "carnet_profile"]
    for n in b.sizes:
        rows = []
        for side in order:
            key = side.split("_")[0]
            if side not in b.samples.get(str(n), {}):
                if side in ("carnet", "carnet_stored", "evidently") and key in b.notes:
                    rows.append([LABELS[side], b.notes[key].split(":")[0] + " (see below)", *([""] * 7)])
                elif b.only and side.split("_")[0] not in b.only:
                    continue
                elif side in SIDES and not (side.startswith("carnet") and "carnet" in b.notes):
                    rows.append(
                        [LABELS[side], "ERROR (see below)" if b.errors.get(side) else "—", *([""] * 7)]
                    )
                continue
            read, comp = med(n, side, "read_s"), med(n, side, "compute_s")
            label = LABELS[side]
            if side == "carnet_profile":
                label += f", {f('{:,.0f}', med(n, side, 'profile_bytes'))} bytes of JSON"
            rows.append(
                [
                    label,
                    f("{:.3f}", read),
                    f("{:.3f}", comp),
                    f("{:.3f}", None if read is None or comp is None else read + comp),
                    f("{:.2f}", med(n, side, "compute_cpu_s")),
                    f("{:,.0f}", med(n, side, "peak_mb")),
                    f("{:,.0f}", med(n, side, "compute_mb")),
                    f("{:,.0f}", med(n, side, "baseline_mb")),
                    "—" if side == "carnet_profile" else _flagged(b, n, side),
                ]
            )
        rounds = f"median of {b.args.repeat} rounds" if b.args.repeat > 1 else "1 round"
        lines += [f"### {n:,} rows per side ({rounds})", ""]
        head = ["side", "read s", "compute s", "read + compute s", "compute CPU s", "peak MB", "computing MB"]
        lines += _table([*head, "baseline MB", "flagged"], rows, "lrrrrrrrl")
        lines.append("")
    ratio_rows = []
    for n in b.sizes:
        c = med(n, "carnet", "compute_s")
        ev, fl = med(n, "evidently", "compute_s"), med(n, "floor", "compute_s")
        ratio_rows.append(
            [
                _rows_label(n),
                f("{:.3f}x", _ratio(c, ev)),
                f("{:.1f}x", _ratio(ev, c)),
                f("{:.2f}x", _ratio(c, fl)),
                f("{:.3f}", med(n, "carnet_stored", "compute_s")),
                f("{:.2f}x", _ratio(med(n, "carnet_stored", "compute_s"), fl)),
                f("{:.2f}x", _ratio(med(n, "carnet", "compute_mb"), med(n, "evidently", "compute_mb"))),
                f("{:.2f}x", _ratio(med(n, "carnet", "peak_mb"), med(n, "evidently", "peak_mb"))),
                f("{:.1f}x", _ratio(ev, fl)),
            ]
        )
    lines += ["### Ratios (compute time; carnet = from both tables)", ""]
    lines += _table(
        [
            "rows per side",
            "carnet / Evidently time",
            "speed-up over Evidently",
            "carnet / floor time",
            "stored profile s",
            "stored profile / floor time",
            "computing MB carnet / Evidently",
            "peak MB carnet / Evidently",
            "Evidently / floor time",
        ],
        ratio_rows,
    )
    why = "pending (carnet unavailable)" if "carnet" in b.notes else "not measured"
    if TARGET_ROWS not in b.sizes:
        why = "not measured (1M rows not in this run)"
    lines += ["", "### Targets at 1M rows per side", ""]
    lines += _table(
        ["target", "measured", "required", "result"],
        [[t.label, t.shown(why), t.required, t.verdict] for t in targets(b)],
        "lrll",
    )
    checks, warnings = drift_checks(b)
    lines += [
        "",
        "### Drift check (shifted: " + ", ".join(f"{c} ({w})" for c, w in SHIFTED.items()) + ")",
        "",
    ]
    lines += checks or ["- no side produced flags"]
    if warnings:
        lines += ["", *(f"- WARNING: {w}" for w in warnings)]
    close = agreement(b)
    if close:
        lines += ["", "Statistics, carnet against the floor's exact computation:", "", *close]
    ev_v = b.versions.get("evidently_venv_evidently", b.versions.get("evidently_evidently", "—"))
    wraps = [(n, med(n, "evidently", "prepare_s")) for n in b.sizes]
    wrap = ", ".join(f"{x:.2f} s at {_rows_label(n)}" for n, x in wraps if x is not None)
    lines += [
        "",
        "Compute: from the DataFrames in memory to the per-column verdicts (Evidently: `report.run` and "
        "reading the snapshot's tests; wrapping the DataFrames in `Dataset`s is not counted"
        + (f": {wrap}" if wrap else "")
        + "). Read: "
        "`pandas.read_parquet` of both tables (stored profile: the current table only). Peak MB: the "
        "process's peak RSS; compute CPU s: user + system time of all the process's threads while "
        "computing; computing MB: the peak during the computation over the RSS before it (after "
        f"imports, reading and a warm-up on {b.args.warmup:,} rows). Methods: {carnet_methods(b)}; floor — "
        "normalised Wasserstein (exact, scipy) >= 0.1 for numeric, chi-square contingency p < 0.05 for "
        "categorical columns; Evidently — its defaults (above 1,000 rows: normed Wasserstein and "
        "Jensen-Shannon distance, 0.1).",
        "",
        f"{b.args.repeat} round(s); Python {info['python']}, pandas {info.get('pandas')} (Evidently venv: "
        f"pandas {b.versions.get('evidently_venv_pandas', '—')}), numpy {info.get('numpy')}, scipy "
        f"{info.get('scipy')}, pyarrow {info.get('pyarrow')}, Evidently {ev_v}, "
        f"carnet {info.get('carnet', '—')}, {info['cpus']} cpus; took {info.get('bench_seconds')} s; "
        "load average (1 min) at start / end: "
        + " / ".join(
            f"{x[0]:.2f}" if x else "—" for x in (info.get("loadavg_start"), info.get("loadavg_end"))
        )
        + ".",
        "",
        f"Command: `{info['command']}`",
    ]
    problems = {k: v for k, v in b.errors.items() if v}
    if problems or b.notes:
        lines += ["", "Notes and errors:", ""]
        for k, note in b.notes.items():
            lines.append(f"- {k}: {note}")
        for k, v in problems.items():
            lines.append(f"- {k}: " + "; ".join(sorted(set(v)))[:800])
    return "\n".join(lines)
