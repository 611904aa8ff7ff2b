"""Model cards: one JSON-ready dict rendered as Markdown or as ONE self-contained HTML file.

Both renderers build the same sections, in this order: model details, intended use, training
data, metrics, fairness, top features, stress scenarios, gate results, limitations, lineage,
approvals and promotions, audit (then plots, HTML images only, when the card has any). A
missing section is a "not recorded" line; unknown keys are ignored.

The HTML (template ``card.html``) has inline CSS, PNGs embedded as validated base64 ``data:`` URIs
and no external reference; every string from the card is escaped by the template. Markdown tables escape
``|`` and line breaks inside cells, and ``<`` everywhere, so card text cannot open raw HTML.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from carnet.domain.evaluation import jsonable
from carnet.errors import InvalidInput
from carnet.reports import render

__all__ = ["CARD_FORMAT", "render_card_html", "render_card_markdown"]

CARD_FORMAT = "carnet.model_card/v1"
MAX_ROWS = 100
MAX_PROFILE = 30
MAX_TEXT = 300
NOT_RECORDED = "not recorded"
_PNG = b"\x89PNG\r\n\x1a\n"


# -- a format-neutral document ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Cell:
    """One table cell: plain text and a style (``num``, ``pass``, ``fail``, ``muted`` or none)."""

    text: str
    cls: str = ""


@dataclass(frozen=True)
class _Table:
    """A table; ``kv`` tables are field/value pairs (no header row in HTML)."""

    head: tuple[str, ...]
    rows: tuple[tuple[_Cell, ...], ...]
    kv: bool = False
    note: str = ""
    kind = "table"


@dataclass(frozen=True)
class _Para:
    """A line of text: ``text`` (free text from the card), ``muted``, ``pass``, ``fail`` or plain."""

    text: str
    cls: str = ""
    kind = "para"


@dataclass(frozen=True)
class _Sub:
    """A sub-heading."""

    title: str
    kind = "sub"


@dataclass(frozen=True)
class _Figures:
    """Plots as (name, title, base64 PNG or "" when the image data was invalid)."""

    plots: tuple[tuple[str, str, str], ...]
    kind = "figures"


_Block = _Table | _Para | _Sub | _Figures


@dataclass(frozen=True)
class _Section:
    title: str
    blocks: tuple[_Block, ...]


# -- values -------------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    """A value as plain text: floats with 4 significant digits, missing as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 200 else text[:199] + "…"
    return str(value)


def _time(value: Any) -> str:
    """A UNIX timestamp as ``YYYY-MM-DD HH:MM:SS UTC``; anything else as text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        except (OverflowError, OSError, ValueError):
            pass
    return _text(value)


def _short(value: Any) -> str:
    text = _text(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _cell(value: Any) -> _Cell:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return _Cell(_short(value), "num" if numeric else "")


def _verdict(passed: Any, *, error: Any = None) -> _Cell:
    if passed is True:
        return _Cell("passed", "pass")
    if passed is False:
        return _Cell("failed", "fail")
    return _Cell("error", "fail") if error else _Cell("—", "muted")


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _records(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _missing(what: str) -> _Para:
    return _Para(f"{what} {NOT_RECORDED}.", "muted")


def _label(key: str) -> str:
    return key.replace("_", " ")


def _kv(rows: Sequence[tuple[str, _Cell]]) -> _Table:
    return _Table(("Field", "Value"), tuple((_Cell(k), v) for k, v in rows), kv=True)


def _field(value: Any, fmt: Callable[[Any], str] = _text, *, empty: str = NOT_RECORDED) -> _Cell:
    """A detail value; a muted "not recorded" when absent, ``empty`` when an empty string/list/dict."""
    if value is None:
        return _Cell(NOT_RECORDED, "muted")
    if value in ("", [], {}):
        return _Cell(empty, "muted")
    numeric = isinstance(value, int | float) and not isinstance(value, bool) and fmt is _text
    return _Cell(fmt(value), "num" if numeric else "")


def _table(
    rows: list[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    limit: int = MAX_ROWS,
    what: str = "rows",
    always: Sequence[str] = (),
    cells: Mapping[str, Callable[[dict[str, Any]], _Cell]] | None = None,
) -> _Table:
    """Records as a table of the known ``columns`` (key, label) that occur (or are in ``always``)."""
    cells = cells or {}
    shown = [(k, lab) for k, lab in columns if k in always or k in cells or any(k in r for r in rows)]
    body = tuple(
        tuple(cells[k](r) if k in cells else _cell(r.get(k)) for k, _ in shown) for r in rows[:limit]
    )
    note = f"first {limit} of {len(rows)} {what}" if len(rows) > limit else ""
    return _Table(tuple(lab for _, lab in shown), body, note=note)


def _plot(plot: dict[str, Any]) -> tuple[str, str, str]:
    """(name, title, base64 PNG), the base64 empty when it does not decode to a PNG."""
    name = _text(plot.get("name") or "plot")
    title = _text(plot.get("title") or name)
    data = plot.get("png_base64")
    encoded = ""
    if isinstance(data, str):
        data = data.removeprefix("data:image/png;base64,")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if raw.startswith(_PNG):
            encoded = base64.b64encode(raw).decode("ascii")
    return name, title, encoded


# -- sections -----------------------------------------------------------------------------------------
def _details(card: dict[str, Any]) -> _Section:
    tags = _mapping(card.get("tags"))
    derived = card.get("derived_from")
    rows = [
        ("Name", _field(card.get("name"))),
        ("Version", _field(card.get("version"))),
        ("Aliases", _field(card.get("aliases"))),
        ("Task", _field(card.get("task"))),
        ("Flavor", _field(card.get("flavor"))),
        ("Artifact digest", _field(card.get("artifact_digest"))),
        ("Created", _field(card.get("created_at"), _time)),
        ("Created by", _field(card.get("created_by"))),
        ("Source run", _field(card.get("source_run"))),
        ("Derived from", _field(f"version {derived}" if isinstance(derived, int) else derived)),
        ("Reuse", _field(card.get("reuse") or "", empty="none: trained from scratch")),
        ("Built on", _field(card.get("built_on") or "", empty="no text encoder")),
        ("Tags", _field(", ".join(f"{k}={_text(tags[k])}" for k in sorted(tags)))),
    ]
    blocks: list[_Block] = [_kv(rows), _Sub("Description")]
    description = card.get("description")
    blocks.append(_Para(str(description), "text") if description else _missing("Description"))
    blocks.append(_Sub("Signature"))
    signature = _mapping(card.get("signature"))
    columns = [
        {"role": role, **c} for role in ("input", "output") for c in _records(signature.get(f"{role}s"))
    ]
    if columns:
        blocks.append(
            _table(columns, [("role", "role"), ("name", "column"), ("dtype", "dtype")], what="columns")
        )
    else:
        blocks.append(_missing("Signature"))
    return _Section("Model details", tuple(blocks))


def _free_text(title: str, value: Any) -> _Section:
    text = value if isinstance(value, str) else None if value is None else _text(value)
    return _Section(title, (_Para(text, "text") if text and text.strip() else _missing(title),))


def _training_data(card: dict[str, Any]) -> _Section:
    datasets = _records(card.get("training_data"))
    if not datasets:
        return _Section("Training data", (_missing("Training data"),))
    blocks: list[_Block] = []
    for d in datasets:
        blocks.append(_Sub(_text(d.get("ref") or "dataset")))
        if d.get("missing"):
            blocks.append(_Para("This dataset version is not in the registry.", "fail"))
            continue
        rows, cols = d.get("rows"), d.get("columns")
        shape = (
            f"{_text(rows)} rows \N{MULTIPLICATION SIGN} {_text(cols)} columns"
            if rows is not None or cols is not None
            else None
        )
        blocks.append(_kv([("Digest", _field(d.get("digest"))), ("Shape", _field(shape))]))
        profile = _records(d.get("profile"))
        if not profile:
            blocks.append(_missing("Column profile"))
            continue
        known = [
            ("name", "column"),
            ("kind", "kind"),
            ("type", "type"),
            ("missing_share", "missing share"),
            ("min", "min"),
            ("max", "max"),
            ("mean", "mean"),
            ("std", "std"),
            ("distinct", "distinct"),
        ]
        blocks.append(_table(profile, known, limit=MAX_PROFILE, what="columns", always=("name",)))
    return _Section("Training data", tuple(blocks))


def _data_protection(card: dict[str, Any]) -> _Section:
    """Personal data found in the training data, de-identification applied, PII among the inputs,
    and the privacy gate's k and l."""
    data = _mapping(card.get("data_protection"))
    if not data:
        return _Section("Data protection", (_missing("Data protection"),))
    blocks: list[_Block] = []
    transforms = _mapping(data.get("input_transforms"))
    inputs = {c: k for c, k in _mapping(data.get("pii_inputs")).items() if c not in transforms}
    if inputs:
        listed = ", ".join(f"{_text(c)} ({_text(k)})" for c, k in inputs.items())
        blocks.append(_Para(f"Personal data among the model's inputs: {listed}.", "fail"))
    else:
        blocks.append(_Para("No column flagged as personal data is among the model's raw inputs.", "pass"))
    if transforms:
        listed = ", ".join(f"{_text(c)} ({_text(m)})" for c, m in transforms.items())
        blocks.append(
            _Para(f"The model de-identifies these inputs before use, with its training key: {listed}.")
        )
    rows = []
    for d in _records(data.get("datasets")):
        pii = _mapping(d.get("pii"))
        methods = _mapping(d.get("methods"))
        rows.append(
            {
                "dataset": d.get("ref"),
                "pii": ", ".join(f"{c} ({k})" for c, k in pii.items()) or "none found",
                "deidentified": (
                    f"from {d.get('deidentified_from')}: " + ", ".join(f"{c} {m}" for c, m in methods.items())
                    if d.get("deidentified_from")
                    else "no"
                ),
            }
        )
    if rows:
        columns = [
            ("dataset", "training version"),
            ("pii", "personal data found"),
            ("deidentified", "de-identified"),
        ]
        blocks.append(_table(rows, columns, limit=20, what="versions", always=("dataset",)))
    erased = [d for d in _records(data.get("datasets")) if _mapping(d.get("erasure"))]
    if erased:
        rows = []
        for d in erased:
            e = _mapping(d.get("erasure"))
            rows.append(
                {
                    "dataset": d.get("ref"),
                    "erasure": f"#{e.get('id')}",
                    "rows": e.get("rows_removed"),
                    "reason": e.get("reason"),
                    "now": f"{e.get('superseded_by')}" + (" (content purged)" if e.get("purged") else ""),
                }
            )
        blocks.append(
            _Para(
                "Rows of the training data were erased on request after training: review whether to retrain "
                "on the successor versions.",
                "fail",
            )
        )
        columns = [
            ("dataset", "training version"),
            ("erasure", "erasure"),
            ("rows", "rows removed"),
            ("reason", "reason"),
            ("now", "superseded by"),
        ]
        blocks.append(_table(rows, columns, limit=20, what="erasures", always=("dataset",)))
    gate = _mapping(data.get("privacy_gate"))
    if gate:
        facts = [("Privacy gate", _verdict(gate.get("passed")))]
        measures = (("k-anonymity", "k"), ("l-diversity", "l"))
        facts += [(label, _field(gate.get(key))) for label, key in measures if gate.get(key) is not None]
        blocks.append(_kv(facts))
    return _Section("Data protection", tuple(blocks))


def _pair(value: Any) -> str:
    if isinstance(value, list) and len(value) == 2:
        return f"[{_text(value[0])}, {_text(value[1])}]"
    return "—" if value is None else _text(value)


def _metrics(card: dict[str, Any]) -> _Section:
    metrics = _mapping(card.get("metrics"))
    intervals = _mapping(card.get("intervals"))
    if not metrics and not intervals:
        return _Section("Metrics", (_missing("Metrics"),))
    confidence = card.get("confidence")
    level = ""
    if isinstance(confidence, int | float) and not isinstance(confidence, bool):
        level = f"{confidence * 100:.4g}% "
    names = list(metrics) + [k for k in intervals if k not in metrics]
    rows = tuple(
        (_Cell(name), _cell(metrics.get(name)), _Cell(_pair(intervals.get(name)), "num")) for name in names
    )
    blocks: list[_Block] = [_Table(("metric", "value", f"{level}CI [low, high]"), rows)]
    if not intervals:
        blocks.append(_Para(f"Confidence intervals {NOT_RECORDED}.", "muted"))
    return _Section("Metrics", tuple(blocks))


_FAIR_SETTINGS = {
    "sensitive": "Sensitive features",
    "measured": "Measured",
    "threshold": "Threshold",
    "thresholds": "Thresholds",
    "method": "Method",
    "positive_label": "Positive label",
    "min_group_size": "Minimum group size",
}
_GROUP_COLUMNS = [
    ("column", "column"),
    ("class", "class"),
    ("group", "group"),
    ("n", "n"),
    ("selection_rate", "selection rate"),
    ("tpr", "TPR"),
    ("fpr", "FPR"),
    ("accuracy", "accuracy"),
    ("included", "included"),
]


def _fairness(card: dict[str, Any]) -> _Section:
    fair = _mapping(card.get("fairness"))
    if not fair:
        return _Section("Fairness", (_missing("Fairness"),))
    verdict: dict[bool | None, tuple[str, str]] = {
        True: ("Fairness check passed.", "pass"),
        False: ("Fairness check failed.", "fail"),
        None: (f"Fairness verdict {NOT_RECORDED}.", "muted"),
    }
    text, cls = verdict[_flag(fair.get("passed"))]
    blocks: list[_Block] = [_Para(text, cls)]
    if fair.get("error"):
        blocks.append(_Para(f"Error: {_short(fair['error'])}", "fail"))
    settings = [(label, _field(fair[k])) for k, label in _FAIR_SETTINGS.items() if k in fair]
    if settings:
        blocks.append(_kv(settings))
    summary = [{"metric": k, "value": v} for k, v in _mapping(fair.get("summary")).items()]
    for measure, worst in _mapping(fair.get("worst")).items():
        w = _mapping(worst)
        where = " / ".join(f"{k} {_text(w[k])}" for k in ("column", "class") if k in w)
        summary.append({"metric": measure, "value": w.get("value"), "worst": where or None})
    blocks.append(_Sub("Summary"))
    cols = [("metric", "metric"), ("value", "value"), ("worst", "worst at")]
    blocks.append(_table(summary, cols, what="metrics") if summary else _missing("Summary"))
    groups = _records(fair.get("groups"))
    for ev in _records(fair.get("evaluations")):
        extra = {k: ev[k] for k in ("column", "class") if k in ev}
        groups += [{**extra, **g} for g in _records(ev.get("groups"))]
    blocks.append(_Sub("Groups"))
    blocks.append(_table(groups, _GROUP_COLUMNS, what="groups") if groups else _missing("Groups"))
    return _Section("Fairness", tuple(blocks))


def _top_features(card: dict[str, Any]) -> _Section:
    features = _records(card.get("top_features"))
    if not features:
        return _Section("Top features", (_missing("Top features"),))
    method = card.get("attribution_method")
    rows = [{"rank": i, **f, "method": f.get("method") or method} for i, f in enumerate(features, 1)]
    cols = [("rank", "rank"), ("feature", "feature"), ("importance", "importance"), ("method", "method")]
    return _Section("Top features", (_table(rows, cols, what="features", always=("method",)),))


def _tally(rows: list[dict[str, Any]], what: str) -> _Para:
    failed = sum(1 for r in rows if r.get("passed") is not True)
    if not failed:
        return _Para(f"All {len(rows)} {what} passed.", "pass")
    return _Para(f"{failed} of {len(rows)} {what} did not pass.", "fail")


def _verdict_of(row: dict[str, Any]) -> _Cell:
    return _verdict(row.get("passed"), error=row.get("error"))


def _stress(card: dict[str, Any]) -> _Section:
    scenarios = _records(card.get("stress"))
    if not scenarios:
        return _Section("Stress scenarios", (_missing("Stress scenarios"),))
    cols = [
        ("name", "scenario"),
        ("metric", "metric"),
        ("base", "base"),
        ("value", "perturbed"),
        ("degradation", "degradation"),
        ("max_degradation", "limit"),
        ("verdict", "verdict"),
        ("error", "error"),
    ]
    table = _table(
        scenarios, cols, what="scenarios", always=[k for k, _ in cols], cells={"verdict": _verdict_of}
    )
    return _Section("Stress scenarios", (_tally(scenarios, "scenarios"), table))


def _gates(card: dict[str, Any]) -> _Section:
    gates = _records(card.get("gates"))
    if not gates:
        return _Section("Gate results", (_missing("Gate results"),))
    cols = [
        ("gate", "gate"),
        ("type", "type"),
        ("measured", "measured"),
        ("threshold", "threshold"),
        ("verdict", "verdict"),
        ("error", "error"),
    ]
    if not any(g.get("error") for g in gates):
        cols.pop()
    always = [k for k, _ in cols]
    table = _table(gates, cols, what="gates", always=always, cells={"verdict": _verdict_of})
    return _Section("Gate results", (_tally(gates, "gates"), table))


def _lineage(card: dict[str, Any]) -> _Section:
    lineage = _mapping(card.get("lineage"))
    if not lineage:
        return _Section("Lineage", (_missing("Lineage"),))
    known = {
        "run": "Run",
        "datasets": "Datasets",
        "derived_from": "Derived from",
        "reuse_chain": "Reuse chain",
        "parent_runs": "Parent runs",
    }
    rows = [
        (label, _field(lineage.get(key), empty="none"))
        for key, label in known.items()
        if key != "reuse_chain" or key in lineage  # cards of older versions have no chain
    ]
    rows += [(_label(k).capitalize(), _field(v, empty="none")) for k, v in lineage.items() if k not in known]
    return _Section("Lineage", (_kv(rows),))


def _time_cell(row: dict[str, Any]) -> _Cell:
    return _Cell(_time(row.get("time")))


def _approvals(card: dict[str, Any]) -> _Section:
    blocks: list[_Block] = [_Sub("Approvals")]
    approvals = _records(card.get("approvals"))
    cols = [
        ("time", "time"),
        ("actor", "actor"),
        ("alias", "alias"),
        ("authenticated", "authenticated"),
        ("comment", "comment"),
    ]
    if approvals:
        marked = [
            {**a, "authenticated": "yes" if a.get("authenticated") else "NO (unauthenticated)"}
            for a in approvals
        ]
        blocks.append(_table(marked, cols, what="approvals", cells={"time": _time_cell}))
        if any(not a.get("authenticated") for a in approvals):
            blocks.append(
                _Para(
                    "Unauthenticated approvals were recorded without a signed-in user: on a local "
                    "workspace the approver's name is whatever CARNET_USER (or the operating system) "
                    "said, so one person can appear as several.",
                    "fail",
                )
            )
    else:
        blocks.append(_missing("Approvals"))
    blocks.append(_Sub("Promotions"))
    promotions = _records(card.get("promotions"))
    cols = [
        ("time", "time"),
        ("alias", "alias"),
        ("kind", "kind"),
        ("actor", "actor"),
        ("gates", "gates"),
        ("applied", "applied"),
        ("reason", "reason"),
    ]
    cells = {"time": _time_cell, "gates": _verdict_of}
    if promotions:
        blocks.append(_table(promotions, cols, what="promotions", cells=cells))
    else:
        blocks.append(_missing("Promotions"))
    return _Section("Approvals and promotions", tuple(blocks))


def _audit(card: dict[str, Any]) -> _Section:
    audit = _mapping(card.get("audit"))
    if not audit:
        return _Section("Audit", (_missing("Audit"),))
    state: dict[bool | None, _Cell] = {
        True: _Cell("verified", "pass"),
        False: _Cell("NOT verified", "fail"),
        None: _Cell(NOT_RECORDED, "muted"),
    }
    rows = [("Events", _field(audit.get("events"))), ("Chain", state[_flag(audit.get("verified"))])]
    rows += [(_label(k).capitalize(), _field(v)) for k, v in audit.items() if k not in ("events", "verified")]
    return _Section("Audit", (_kv(rows),))


def _plots(card: dict[str, Any]) -> _Section | None:
    if "plots" not in card:
        return None
    plots = tuple(_plot(p) for p in _records(card.get("plots")))
    return _Section("Plots", (_Figures(plots),) if plots else (_missing("Plots"),))


def _document(card: Mapping[str, Any]) -> tuple[str, str, list[_Section]]:
    """Title, subtitle and sections of a card; raises InvalidInput without name and version."""
    data = jsonable(dict(card)) if isinstance(card, Mapping) else {}
    fmt = data.get("format")
    if fmt is not None and fmt != CARD_FORMAT:
        raise InvalidInput(f"not a {CARD_FORMAT} card: format is {fmt!r}", field="format")
    for key in ("name", "version"):
        if data.get(key) in (None, ""):
            raise InvalidInput(f"a model card needs a {key}", field=key)
    sections = [
        _details(data),
        _free_text("Intended use", data.get("intended_use")),
        _training_data(data),
        _data_protection(data),
        _metrics(data),
        _fairness(data),
        _top_features(data),
        _stress(data),
        _gates(data),
        _free_text("Limitations", data.get("limitations")),
        _lineage(data),
        _approvals(data),
        _audit(data),
    ]
    plots = _plots(data)
    if plots is not None:
        sections.append(plots)
    aliases = data.get("aliases") if isinstance(data.get("aliases"), list) else []
    words = [*(f"@{_text(a)}" for a in aliases), *(_text(data[k]) for k in ("task", "flavor") if data.get(k))]
    return f"Model card: {_text(data['name'])} v{_text(data['version'])}", " · ".join(words), sections


# -- Markdown -----------------------------------------------------------------------------------------
_MD_INLINE = str.maketrans({"\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*", "<": "&lt;"})
_NEWLINES = re.compile(r"\r\n|\r|\n")


def _md(text: str) -> str:
    """Inline text for a table cell or a line: Markdown specials escaped, line breaks as ``<br>``."""
    return _NEWLINES.sub("<br>", text.translate(_MD_INLINE))


def _md_cell(cell: _Cell) -> str:
    text = _md(cell.text)
    if cell.cls == "fail":
        return f"**{text}**"
    return f"_{text}_" if cell.cls == "muted" and text else text


def _md_table(table: _Table) -> list[str]:
    align = [
        "---:" if not table.kv and all(r[i].cls == "num" or r[i].text == "—" for r in table.rows) else "---"
        for i in range(len(table.head))
    ]
    lines = ["| " + " | ".join(_md(h) for h in table.head) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{_md(table.note)}_"]
    return lines


def _md_block(block: _Block) -> list[str]:
    if isinstance(block, _Table):
        return _md_table(block)
    if isinstance(block, _Sub):
        return [f"### {_md(' '.join(block.title.split()))}"]
    if isinstance(block, _Figures):
        return [
            f"- {_md(name)}: {_md(title)}"
            + (" (image in the HTML card)" if data else " (invalid PNG, skipped)")
            for name, title, data in block.plots
        ]
    if block.cls == "text":
        return [_NEWLINES.sub("\n", block.text.replace("<", "&lt;")).strip("\n")]
    return [_md_cell(_Cell(block.text, block.cls))]


def render_card_markdown(card: Mapping[str, Any]) -> str:
    """The model card as Markdown (GitHub-flavoured tables).

    Raises:
        InvalidInput: the card has no name or version, or another ``format``.
    """
    title, _, sections = _document(card)
    lines = [f"# {_md(title)}"]
    for section in sections:
        lines += ["", f"## {section.title}"]
        for block in section.blocks:
            lines += ["", *_md_block(block)]
    lines += ["", f"_{CARD_FORMAT}_", ""]
    return "\n".join(lines)


# -- HTML ---------------------------------------------------------------------------------------------
def render_card_html(card: Mapping[str, Any]) -> str:
    """The model card as one self-contained HTML page (template ``card.html``: inline CSS, embedded
    PNGs, nothing external).

    Raises:
        InvalidInput: the card has no name or version, or another ``format``.
    """
    title, subtitle, sections = _document(card)
    return render(
        "card.html",
        title=title,
        subtitle=subtitle,
        sections=[(s.title.lower().replace(" ", "-"), s) for s in sections],
        format=CARD_FORMAT,
    )
