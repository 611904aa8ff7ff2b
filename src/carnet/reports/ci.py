"""The CI report as a pull-request comment (Markdown), JUnit XML and JSON.

Pure functions of the report dict :class:`carnet.services.ci_report.CIReportService` builds. The
Markdown stays under GitHub's comment limit (65,536 characters) by cutting long tables, with a
note; the JUnit XML is written with :mod:`xml.etree.ElementTree`, so every value is escaped, and
has the shape CI systems read: ``testsuites`` > ``testsuite`` (``tests``, ``failures``,
``errors``, ``skipped``, ``time``) > one ``testcase`` per gate (``classname="carnet.gates.TYPE"``),
with a ``failure`` when the gate failed and its details in ``system-out``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "FORMATS",
    "GITHUB_COMMENT_LIMIT",
    "headline",
    "render",
    "render_json",
    "render_junit",
    "render_markdown",
]

#: the formats :func:`render` writes
FORMATS = ("markdown", "junit", "json")
#: the longest comment GitHub accepts, in characters
GITHUB_COMMENT_LIMIT = 65_536
#: rows kept per table on each try, until the comment fits (None: every row)
_ROW_CAPS: tuple[int | None, ...] = (None, 100, 40, 15, 5)
_XML_INVALID = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render(report: dict[str, Any], fmt: str) -> str:
    """The report in ``fmt`` (``markdown``, ``junit`` or ``json``); ValueError for another format."""
    writers: dict[str, Callable[[dict[str, Any]], str]] = {
        "markdown": render_markdown,
        "junit": render_junit,
        "json": render_json,
    }
    if fmt not in writers:
        raise ValueError(f"unknown CI report format {fmt!r}; known: {', '.join(FORMATS)}")
    return writers[fmt](report)


def render_json(report: dict[str, Any]) -> str:
    """The report as indented JSON with sorted keys (stable across runs)."""
    return json.dumps(report, indent=2, sort_keys=True, allow_nan=False, default=str) + "\n"


# -- words shared by the formats ---------------------------------------------------------------------
def _subject(report: dict[str, Any]) -> str:
    subject = report.get("subject") or {}
    if subject.get("pipeline"):
        return f"pipeline {subject['pipeline']}"
    model = report.get("model") or {}
    return f"model {model['ref']}" if model.get("ref") else f"run {subject.get('run_id', '?')}"


def headline(report: dict[str, Any]) -> str:
    """One line: the verdict, the gate counts and what was judged."""
    summary = report.get("summary") or {}
    total, failed = int(summary.get("gates", 0)), int(summary.get("failed", 0))
    mark = "✅" if report.get("passed") else "❌"
    if failed:
        counts = f"{failed} of {total} gates failed"
    elif total:
        counts = f"{total} of {total} gates passed"
    else:
        counts = "no gates"
    steps = summary.get("failed_steps") or []
    if steps:
        counts += f"; the pipeline failed at {', '.join(steps)}"
    elif (report.get("subject") or {}).get("kind") == "pipeline" and report["subject"].get(
        "status"
    ) != "FINISHED":
        counts += f"; the pipeline ended {str(report['subject'].get('status')).lower()}"
    return f"{mark} carnet: {_subject(report)}: {counts}"


def _num(value: Any, digits: int = 4) -> str:
    if value is None or isinstance(value, bool):
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "-" if not math.isfinite(number) else f"{number:.{digits}g}"


def _signed(value: Any) -> str:
    if value is None:
        return "-"
    number = float(value)
    return "-" if not math.isfinite(number) else f"{number:+.4f}"


def _interval(ci: Any, signed: bool = False) -> str:
    if not isinstance(ci, Sequence) or len(ci) != 2 or any(v is None for v in ci):
        return ""
    fmt = _signed if signed else _num
    return f"{fmt(ci[0])} to {fmt(ci[1])}"


# -- Markdown ------------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    """Text safe in a Markdown table cell: one line, pipes and HTML tags escaped."""
    text = "" if value is None else str(value)
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], cap: int | None) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    shown = rows if cap is None else rows[:cap]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in shown]
    if len(shown) < len(rows):
        lines += ["", f"_… {len(rows) - len(shown)} more rows not shown: see the JSON report._"]
    return lines


def _context_line(report: dict[str, Any]) -> str:
    parts = []
    model, incumbent = report.get("model"), report.get("incumbent")
    if model:
        against = f" vs incumbent **{incumbent['ref']}**" if incumbent else " (no incumbent)"
        parts.append(f"candidate **{model['ref']}**{against} for `{report.get('alias')}`")
    if report.get("policy"):
        data = report.get("evaluation_data")
        parts.append(f"policy `{report['policy']}`" + (f" on `{data}`" if data else ""))
    if report.get("dry_run"):
        parts.append("dry run")
    elif report.get("applied"):
        parts.append("promotion applied")
    parts.append(f"run `{(report.get('subject') or {}).get('run_id', '?')}`")
    return _cell(" · ".join(parts)).replace("\\|", "|")


def _gate_rows(report: dict[str, Any]) -> list[Sequence[Any]]:
    rows: list[Sequence[Any]] = []
    for g in report.get("gates") or []:
        measured = str(g["measured"])
        if g["message"]:  # a gate that names its failure in measured too: say it once
            measured = measured.removesuffix(f"; {g['message']}")
        rows.append(
            ("✅" if g["passed"] else "❌", g["name"], g["type"], measured, g["threshold"], g["message"])
        )
    return rows


def _slice_sections(report: dict[str, Any], cap: int | None) -> list[str]:
    lines: list[str] = []
    for g in report.get("gates") or []:
        slices = (g.get("details") or {}).get("slices")
        if not slices:
            continue
        confidence = (g.get("details") or {}).get("confidence", 0.95)
        rows = [
            (
                "❌" if s.get("regressed") else "✅",
                s.get("slice"),
                s.get("rows"),
                _num(s.get("candidate")),
                _num(s.get("incumbent")),
                _signed(s.get("difference")),
                _interval(s.get("ci"), signed=True),
                s.get("error") or s.get("note") or "",
            )
            for s in slices
        ]
        lines += ["", f"#### Pinned slices: {g['name']}", ""]
        headers = (
            "",
            "slice",
            "rows",
            "candidate",
            "incumbent",
            "difference",
            f"{confidence * 100:g}% CI",
            "note",
        )
        lines += _table(headers, rows, cap)
        notes = (g.get("details") or {}).get("slice_notes") or []
        if notes:
            lines += ["", *(f"- {_cell(n)}" for n in notes)]
    return lines


def _metric_section(report: dict[str, Any], cap: int | None) -> list[str]:
    metrics = report.get("metrics") or {}
    rows_in = metrics.get("rows") or []
    lines = ["", "### Metrics", ""]
    if metrics.get("source") == "evaluation":
        confidence = float(metrics.get("confidence") or 0.95)
        lines += [
            f"On `{metrics.get('data')}`, with {confidence * 100:g}% bootstrap intervals "
            f"({metrics.get('n_bootstrap')} resamples; the delta's interval is paired).",
            "",
        ]
    if metrics.get("note"):
        lines += [f"_{_cell(metrics['note'])}_", ""]
    if not rows_in:
        return lines if metrics.get("note") else []
    rows = []
    for r in rows_in:
        if r.get("error"):
            rows.append((r["metric"], "-", "-", "-", r["error"]))
            continue
        cand = _num(r.get("candidate")) + (
            f" ({_interval(r.get('candidate_ci'))})" if r.get("candidate_ci") else ""
        )
        inc = _num(r.get("incumbent")) + (
            f" ({_interval(r.get('incumbent_ci'))})" if r.get("incumbent_ci") else ""
        )
        delta = _signed(r.get("delta")) + (
            f" ({_interval(r.get('delta_ci'), signed=True)})" if r.get("delta_ci") else ""
        )
        arrow = ""
        if r.get("delta") is not None and r.get("greater_is_better") is not None:
            better = (r["delta"] > 0) == bool(r["greater_is_better"])
            arrow = "" if r["delta"] == 0 else ("better" if better else "worse")
        rows.append((r["metric"], cand, inc if r.get("incumbent") is not None else "-", delta, arrow))
    return lines + _table(("metric", "candidate", "incumbent", "delta", ""), rows, cap)


def _drift_section(report: dict[str, Any], cap: int | None) -> list[str]:
    drift = report.get("drift") or {}
    if not drift:
        return []
    lines = ["", "### Training data drift", ""]
    pair = ""
    if drift.get("current") and drift.get("reference"):
        pair = f"`{drift['current']}` (candidate) against `{drift['reference']}` (incumbent): "
    columns = drift.get("columns") or []
    if "dataset_drift" in drift:
        drifted = drift.get("drifted_columns") or []
        verdict = "**drift**" if drift.get("dataset_drift") else "no dataset drift"
        share = float(drift.get("share_drifted") or 0.0)
        what = f"{len(drifted)} of {len(columns)} columns drifted ({share:.0%})" if columns else ""
        lines.append(_cell(pair + ", ".join(p for p in (verdict, what) if p)).replace("\\|", "|") + ".")
        rows = [
            (c["column"], c.get("kind"), c.get("method"), _num(c.get("statistic")), _num(c.get("threshold")))
            for c in columns
            if c.get("drifted")
        ]
        if rows:
            lines += ["", *_table(("drifted column", "kind", "method", "statistic", "threshold"), rows, cap)]
    if drift.get("note"):
        lines += [f"_{_cell(drift['note'])}_"]
    return lines


def _step_section(report: dict[str, Any], cap: int | None) -> list[str]:
    steps = report.get("steps") or []
    if not steps:
        return []
    marks = {"done": "✅", "reused": "♻️", "skipped": "⏭️", "failed": "❌"}
    rows = [
        (
            marks.get(s["status"], ""),
            s["name"],
            s["kind"],
            s["status"],
            _num(s.get("seconds"), 3),
            s.get("error") or "",
        )
        for s in steps
    ]
    return [
        "",
        "### Pipeline steps",
        "",
        *_table(("", "step", "kind", "status", "seconds", "error"), rows, cap),
    ]


def _link_section(report: dict[str, Any]) -> list[str]:
    links = report.get("links") or {}
    if not links:
        return []
    titles = {
        "run": "Run",
        "model_version": "Candidate",
        "incumbent": "Incumbent",
        "promotions": "Promotions",
    }
    lines = ["", "### Links", ""]
    lines += [f"- [{titles[k]}]({links[k]})" for k in titles if links.get(k)]
    steps = links.get("steps") or {}
    if steps:
        lines.append("- Steps: " + ", ".join(f"[{_cell(n)}]({u})" for n, u in steps.items()))
    return lines


def _markdown(report: dict[str, Any], cap: int | None) -> str:
    lines = [f"## {_cell(headline(report))}", "", _context_line(report), "", "### Gates", ""]
    gate_rows = _gate_rows(report)
    if gate_rows:
        lines += _table(("", "gate", "type", "measured", "threshold", "message"), gate_rows, cap)
    else:
        lines.append("_No gate ran (no promote step, or it did not run)._")
    lines += _slice_sections(report, cap)
    lines += _metric_section(report, cap)
    lines += _drift_section(report, cap)
    lines += _step_section(report, cap)
    lines += _link_section(report)
    lines += ["", f"<sub>carnet ci report · {_cell(report.get('format', ''))}</sub>", ""]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any], limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """The report as a pull-request comment of at most ``limit`` characters: headline with counts,
    gate table, pinned slices, metrics with intervals and deltas, drift summary, steps, links."""
    for cap in _ROW_CAPS:
        text = _markdown(report, cap)
        if len(text) <= limit:
            return text
    note = "\n\n_… the comment was cut at GitHub's length limit: see the JSON report._\n"
    return text[: limit - len(note)] + note


# -- JUnit XML -----------------------------------------------------------------------------------------
def _xml(value: Any) -> str:
    """Text XML 1.0 can hold (control characters dropped); ElementTree escapes the rest."""
    return _XML_INVALID.sub("", "" if value is None else str(value))


def render_junit(report: dict[str, Any]) -> str:
    """The report as JUnit XML: one testsuite named after the pipeline (or model), one testcase per
    gate, and one for the pipeline run itself (an ``error`` when it failed)."""
    import xml.etree.ElementTree as ET

    gates = report.get("gates") or []
    subject = report.get("subject") or {}
    steps = report.get("steps") or []
    pipeline = subject.get("kind") == "pipeline"
    failures = sum(1 for g in gates if not g["passed"])
    errors = 1 if pipeline and subject.get("status") != "FINISHED" else 0
    seconds = sum(float(s.get("seconds") or 0.0) for s in steps)
    counts = {
        "tests": str(len(gates) + (1 if pipeline else 0)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": "0",
        "time": f"{seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": "carnet", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": _xml(f"carnet {_subject(report)}"), **counts})
    props = ET.SubElement(suite, "properties")
    model, incumbent = report.get("model") or {}, report.get("incumbent") or {}
    for key, value in (
        ("run_id", subject.get("run_id")),
        ("status", subject.get("status")),
        ("model", model.get("ref")),
        ("incumbent", incumbent.get("ref")),
        ("alias", report.get("alias")),
        ("policy", report.get("policy")),
        ("evaluation_data", report.get("evaluation_data")),
        ("dry_run", report.get("dry_run")),
    ):
        if value is not None:
            ET.SubElement(props, "property", {"name": key, "value": _xml(value)})
    if pipeline:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "carnet.pipeline", "name": _xml(_subject(report)), "time": f"{seconds:.3f}"},
        )
        if errors:
            failed = [s for s in steps if s["status"] == "failed"]
            message = "; ".join(
                f"step {s['name']} failed: {s.get('error') or 'no error recorded'}" for s in failed
            )
            message = message or f"the pipeline ended {str(subject.get('status')).lower()}"
            error = ET.SubElement(case, "error", {"message": _xml(message), "type": "PipelineFailed"})
            error.text = _xml(message)
        out = ET.SubElement(case, "system-out")
        out.text = _xml("\n".join(f"{s['name']} ({s['kind']}): {s['status']}" for s in steps))
    for g in gates:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": _xml(f"carnet.gates.{g['type']}"), "name": _xml(g["name"]), "time": "0"},
        )
        if not g["passed"]:
            failure = ET.SubElement(
                case, "failure", {"message": _xml(g["message"] or "the gate failed"), "type": _xml(g["type"])}
            )
            failure.text = _xml(f"measured: {g['measured']}\nthreshold: {g['threshold']}\n{g['message']}")
        out = ET.SubElement(case, "system-out")
        out.text = _xml(json.dumps(g.get("details") or {}, indent=2, sort_keys=True, default=str))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
