"""The compliance map of a dossier: framework items, each linked to the dossier files that evidence it.

A mapping (YAML, the same schema for carnet's built-ins and a user's internal policies) lists the
items of a framework; each item names its evidence: a file of the dossier (``card.md``,
``promotions.json``, ``reports/``...) and/or a fact about the model version (``approval_gate_passed``,
``stress_gate_ran``, ``monitor_exists``...). :func:`build_checklist` resolves the evidence against
one dossier: an item is ``evidenced`` when all of it is there, ``partly evidenced`` when some is,
and ``to be provided by the organisation`` when none is (or when carnet has none to offer).

The built-in maps (``compliance_maps/*.yaml``, shipped with the package) cover Annex IV of the EU AI
Act and the NIST AI RMF 1.0. The checklist is evidence for an assessment, not a conformity
assessment. Pure computation: no storage; the renderers give Markdown, HTML (template
``compliance.html``) and JSON whose links are relative to the checklist's folder in the dossier.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from carnet.errors import InvalidInput
from carnet.reports import render

__all__ = [
    "BUILTIN_MAPPINGS",
    "CHECKLIST_FORMAT",
    "DOSSIER_FILES",
    "EVIDENCED",
    "FACTS",
    "NOTE",
    "PARTIAL",
    "TO_PROVIDE",
    "ComplianceMap",
    "Evidence",
    "Item",
    "build_checklist",
    "builtin_mappings",
    "load_mapping",
    "render_checklist_html",
    "render_checklist_json",
    "render_checklist_markdown",
    "render_index_markdown",
]

CHECKLIST_FORMAT = "carnet.compliance_checklist/v1"
#: the built-in maps, always in a checklist, in this order (files of ``compliance_maps/``)
BUILTIN_MAPPINGS = ("eu_ai_act_annex_iv", "nist_ai_rmf")
EVIDENCED = "evidenced"
PARTIAL = "partly evidenced"
TO_PROVIDE = "to be provided by the organisation"
NOTE = (
    "This checklist maps the records carnet keeps about this model version to framework items. "
    "It is evidence for an assessment, not a conformity assessment: the organisation assesses "
    "conformity and provides every item marked 'to be provided by the organisation'."
)

#: the files a dossier holds (a path ending in ``/`` is a folder: any file under it)
DOSSIER_FILES: dict[str, str] = {
    "card.md": "the model card (Markdown)",
    "card.html": "the model card (self-contained HTML, with plots)",
    "model_version.json": "the registry's record of the version: flavor, digest, signature, metrics",
    "promotions.json": "every promotion and rollback of the model, with the policy and gate results",
    "alias_history.json": "every move of the model's aliases: who, when, why",
    "audit_events.jsonl": "the audit events of the model, its runs and datasets (hash-chained)",
    "audit_verification.json": "the recomputation of those events' hashes and of the whole chain",
    "monitoring.json": "the monitors following the model, their rules and alerts",
    "manifest.json": "every file of the dossier with its SHA-256; the mappings used",
    "reports/": "the evaluation reports stored with the version",
}

#: the facts a mapping may require, as the checklist words them
FACTS: dict[str, str] = {
    "intended_use_recorded": "an intended use is recorded",
    "limitations_recorded": "limitations are recorded",
    "training_data_recorded": "the training dataset versions are recorded",
    "source_run_recorded": "the training run is recorded",
    "signature_recorded": "an input signature is recorded",
    "metrics_recorded": "metrics are recorded",
    "metric_intervals_recorded": "metrics have confidence intervals",
    "policy_recorded": "a promotion policy applies to the model",
    "promotion_ran": "a gated promotion of the version ran",
    "promotion_passed": "a gated promotion of the version passed",
    "metric_gate_ran": "a metric or non-regression gate ran",
    "fairness_gate_ran": "a fairness gate ran",
    "explainability_gate_ran": "an explainability gate ran",
    "stress_gate_ran": "a stress gate ran",
    "privacy_gate_ran": "a privacy gate ran",
    "approval_gate_passed": "an approval gate passed",
    "approvals_recorded": "the version has approvals",
    "audit_chain_verified": "the audit chain verifies",
    "monitor_exists": "a monitor follows the model",
    "alert_rules_defined": "a monitor of the model has alert rules",
    "alert_notifies": "an alert rule of the model notifies people",
    "alert_rollback": "an alert rule rolls the model back",
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_TOP_KEYS = ("name", "title", "framework", "description", "items")
_ITEM_KEYS = ("id", "title", "section", "evidence", "organisation")
_EVIDENCE_KEYS = ("file", "fact", "shows")
_MAX_ITEMS = 500
_MAX_EVIDENCE = 50
_MAX_MAPPINGS = 20


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence: a dossier file, a fact about the version, or a file shown when a fact holds."""

    file: str | None
    fact: str | None
    shows: str = ""


@dataclass(frozen=True)
class Item:
    """One framework item and its evidence (none: only the organisation can provide it)."""

    id: str
    title: str
    section: str
    evidence: tuple[Evidence, ...]
    organisation: str = ""


@dataclass(frozen=True)
class ComplianceMap:
    """A validated mapping; ``digest`` is the SHA-256 of its canonical JSON."""

    name: str
    title: str
    framework: str
    description: str
    items: tuple[Item, ...]
    digest: str
    builtin: bool = False


# -- reading and validating --------------------------------------------------------------------------
def builtin_mappings() -> list[ComplianceMap]:
    """carnet's built-in maps (EU AI Act Annex IV, NIST AI RMF 1.0), read from the package."""
    from importlib.resources import files

    folder = files("carnet.reports").joinpath("compliance_maps")
    return [
        load_mapping(folder.joinpath(f"{name}.yaml").read_text(encoding="utf-8"), builtin=True)
        for name in BUILTIN_MAPPINGS
    ]


def load_mapping(source: object, *, builtin: bool = False, where: str = "mapping") -> ComplianceMap:
    """A mapping from YAML text, a file path or a mapping, validated strictly.

    Raises:
        InvalidInput: not a mapping, an unknown or missing key, a value of the wrong type, a duplicate
            item id, or evidence naming a file a dossier does not hold or an unknown fact; ``field``
            names it (``items[2].evidence[0].file``).
    """
    from carnet.documents import read_document

    data = read_document(source, "mapping")
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"{where}: a compliance mapping is a YAML mapping with {', '.join(_TOP_KEYS)}", field="mapping"
        )
    _keys(data, _TOP_KEYS, ("name", "title", "framework", "items"), "", where)
    name = _text(data, "name", "", where, limit=64)
    if not _NAME.match(name):
        raise InvalidInput(
            f"{where}: name {name!r} must be lower-case letters, digits, '_', '-' or '.' (64 at most)",
            field="name",
        )
    raw_items = data["items"]
    if not isinstance(raw_items, list) or not raw_items or len(raw_items) > _MAX_ITEMS:
        raise InvalidInput(f"{where}: items must be a list of 1 to {_MAX_ITEMS} items", field="items")
    items: list[Item] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_items):
        item = _item(raw, f"items[{i}]", where)
        if item.id in seen:
            raise InvalidInput(f"{where}: items[{i}].id {item.id!r} appears twice", field=f"items[{i}].id")
        seen.add(item.id)
        items.append(item)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return ComplianceMap(
        name=name,
        title=_text(data, "title", "", where, limit=300),
        framework=_text(data, "framework", "", where, limit=200),
        description=_text(data, "description", "", where, limit=2000, required=False),
        items=tuple(items),
        digest="sha256:" + hashlib.sha256(canonical.encode()).hexdigest(),
        builtin=builtin,
    )


def _keys(
    data: Mapping[Any, Any], allowed: Sequence[str], required: Sequence[str], at: str, where: str
) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise InvalidInput(
            f"{where}: unknown key {unknown[0]!r}{' in ' + at if at else ''}; "
            f"the keys are {', '.join(allowed)}",
            field=f"{at}.{unknown[0]}" if at else unknown[0],
        )
    for key in required:
        if data.get(key) in (None, ""):
            raise InvalidInput(
                f"{where}: {at + '.' if at else ''}{key} is required", field=f"{at}.{key}" if at else key
            )


def _text(
    data: Mapping[Any, Any], key: str, at: str, where: str, *, limit: int, required: bool = True
) -> str:
    field = f"{at}.{key}" if at else key
    value = data.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{where}: {field} must be text", field=field)
    text = str(value).strip()
    if (required and not text) or len(text) > limit:
        raise InvalidInput(f"{where}: {field} must be 1 to {limit} characters", field=field)
    return text


def _item(raw: Any, at: str, where: str) -> Item:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where}: {at} must be a mapping with id, title and evidence", field=at)
    _keys(raw, _ITEM_KEYS, ("id", "title"), at, where)
    if "evidence" not in raw:
        raise InvalidInput(
            f"{where}: {at}.evidence is required (an empty list: none)", field=f"{at}.evidence"
        )
    raw_evidence = raw["evidence"] if raw["evidence"] is not None else []
    if not isinstance(raw_evidence, list) or len(raw_evidence) > _MAX_EVIDENCE:
        raise InvalidInput(
            f"{where}: {at}.evidence must be a list of at most {_MAX_EVIDENCE} entries",
            field=f"{at}.evidence",
        )
    return Item(
        id=_text(raw, "id", at, where, limit=64),
        title=_text(raw, "title", at, where, limit=300),
        section=_text(raw, "section", at, where, limit=200, required=False),
        evidence=tuple(_evidence(e, f"{at}.evidence[{j}]", where) for j, e in enumerate(raw_evidence)),
        organisation=_text(raw, "organisation", at, where, limit=1000, required=False),
    )


def _evidence(raw: Any, at: str, where: str) -> Evidence:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where}: {at} must be a mapping with file and/or fact", field=at)
    _keys(raw, _EVIDENCE_KEYS, (), at, where)
    file = _text(raw, "file", at, where, limit=300, required=False) or None
    fact = _text(raw, "fact", at, where, limit=64, required=False) or None
    if file is None and fact is None:
        raise InvalidInput(f"{where}: {at} needs a file of the dossier, a fact, or both", field=at)
    if file is not None and not _known_file(file):
        raise InvalidInput(
            f"{where}: {at}.file {file!r} is not a file of a dossier; the files are "
            f"{', '.join(DOSSIER_FILES)} and reports/NAME",
            field=f"{at}.file",
        )
    if fact is not None and fact not in FACTS:
        raise InvalidInput(
            f"{where}: {at}.fact {fact!r} is not a fact carnet records; the facts are {', '.join(FACTS)}",
            field=f"{at}.fact",
        )
    return Evidence(file, fact, _text(raw, "shows", at, where, limit=300, required=False))


def _known_file(path: str) -> bool:
    if path in DOSSIER_FILES:
        return True
    name = path[len("reports/") :] if path.startswith("reports/") else ""
    return bool(name) and "\\" not in name and all(p not in ("", ".", "..") for p in name.split("/"))


# -- the checklist -------------------------------------------------------------------------------------
def build_checklist(
    mapping_docs: Sequence[ComplianceMap | object],
    dossier_files: Iterable[str],
    facts: Mapping[str, Any],
    *,
    subject: str = "",
) -> dict[str, Any]:
    """The checklist of ``mapping_docs`` (maps, or documents :func:`load_mapping` reads) against one
    dossier: its file paths and the facts of its version (a fact missing from ``facts`` is false).

    Raises:
        InvalidInput: a bad mapping (the field named), two mappings of the same name, too many mappings.
    """
    if len(mapping_docs) > _MAX_MAPPINGS + len(BUILTIN_MAPPINGS):
        raise InvalidInput(f"at most {_MAX_MAPPINGS} mappings of your own", field="mappings")
    maps = [
        m if isinstance(m, ComplianceMap) else load_mapping(m, where=f"mapping {i + 1}")
        for i, m in enumerate(mapping_docs)
    ]
    names: set[str] = set()
    for m in maps:
        if m.name in names:
            raise InvalidInput(
                f"two mappings are named {m.name!r} (the built-in ones are {', '.join(BUILTIN_MAPPINGS)}); "
                "rename yours",
                field="name",
            )
        names.add(m.name)
    files = sorted(set(dossier_files))
    out = [_checked_map(m, files, facts) for m in maps]
    items = [item for m in out for item in m["items"]]
    summary = {
        "items": len(items),
        "evidenced": sum(i["status"] == EVIDENCED for i in items),
        "partly_evidenced": sum(i["status"] == PARTIAL for i in items),
        "to_be_provided": sum(i["status"] == TO_PROVIDE for i in items),
    }
    return {
        "format": CHECKLIST_FORMAT,
        "subject": subject,
        "note": NOTE,
        "facts": {k: bool(facts.get(k)) for k in FACTS},
        "summary": summary,
        "mappings": out,
    }


def _checked_map(m: ComplianceMap, files: list[str], facts: Mapping[str, Any]) -> dict[str, Any]:
    items = []
    for item in m.items:
        evidence = [_checked_evidence(e, files, facts) for e in item.evidence]
        found = sum(e["available"] for e in evidence)
        status = TO_PROVIDE if not found else EVIDENCED if found == len(evidence) else PARTIAL
        linked = sorted({f for e in evidence if e["available"] for f in e["files"]})
        items.append(
            {
                "framework": m.framework,
                "mapping": m.name,
                "id": item.id,
                "title": item.title,
                "section": item.section,
                "status": status,
                "evidence": evidence,
                "files": linked,
                "organisation": item.organisation,
            }
        )
    return {
        "name": m.name,
        "title": m.title,
        "framework": m.framework,
        "description": m.description,
        "digest": m.digest,
        "builtin": m.builtin,
        "items": items,
    }


def _checked_evidence(e: Evidence, files: list[str], facts: Mapping[str, Any]) -> dict[str, Any]:
    matched: list[str] = []
    if e.file is not None:
        matched = (
            [f for f in files if f.startswith(e.file)]
            if e.file.endswith("/")
            else [f for f in files if f == e.file]
        )
    holds = True if e.fact is None else bool(facts.get(e.fact))
    available = holds and (e.file is None or bool(matched))
    return {
        "file": e.file,
        "fact": e.fact,
        "fact_text": FACTS.get(e.fact, "") if e.fact else "",
        "shows": e.shows,
        "available": available,
        "files": matched if available else [],
    }


# -- rendering -----------------------------------------------------------------------------------------
_MD_INLINE = str.maketrans(
    {"\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*", "_": "\\_", "[": "\\[", "]": "\\]", "<": "&lt;"}
)
_NEWLINES = re.compile(r"\r\n|\r|\n")


def _md(text: Any) -> str:
    """Text for a Markdown line or table cell: specials escaped, line breaks as spaces."""
    return _NEWLINES.sub(" ", str(text).translate(_MD_INLINE))


def _href(path: str, base: str) -> str:
    return base + quote(path)


def _evidence_lines(item: Mapping[str, Any]) -> list[tuple[bool, str, list[str], str]]:
    """(available, what, files, fact text) for each evidence entry of an item."""
    lines = []
    for e in item["evidence"]:
        what = e["shows"] or (DOSSIER_FILES.get(e["file"], "") if e["file"] else "")
        target = e["files"] if e["available"] else ([e["file"]] if e["file"] else [])
        lines.append((bool(e["available"]), what, target, e["fact_text"]))
    return lines


def render_checklist_markdown(checklist: Mapping[str, Any], *, base: str = "../") -> str:
    """The checklist as Markdown; links to dossier files are ``base`` + the file's path."""
    s = checklist["summary"]
    subject = f" of {checklist['subject']}" if checklist.get("subject") else ""
    out = [
        f"# Compliance checklist{_md(subject)}",
        "",
        f"> {_md(checklist['note'])}",
        "",
        f"{s['items']} items: {s['evidenced']} evidenced, {s['partly_evidenced']} partly evidenced, "
        f"{s['to_be_provided']} to be provided by the organisation.",
    ]
    for m in checklist["mappings"]:
        kind = "built-in" if m["builtin"] else "your mapping"
        out += [
            "",
            f"## {_md(m['title'])}",
            "",
            f"{_md(m['framework'])} ({kind} `{m['name']}`, {m['digest']})",
        ]
        if m["description"]:
            out += ["", _md(m["description"])]
        section = None
        for item in m["items"]:
            if item["section"] != section:
                section = item["section"]
                if section:
                    out += ["", f"### {_md(section)}"]
            out += ["", f"- **{_md(item['id'])}** {_md(item['title'])}: **{item['status']}**"]
            for available, what, targets, fact in _evidence_lines(item):
                mark = "[x]" if available else "[ ]"
                if available:
                    links = ", ".join(f"[{_md(t)}]({_href(t, base)})" for t in targets)
                else:
                    links = ", ".join(_md(t) for t in targets)
                parts = [p for p in (links, _md(what), f"when {_md(fact)}" if fact else "") if p]
                out.append(f"  - {mark} " + " — ".join(parts))
            if item["organisation"]:
                out.append(f"  - the organisation provides: {_md(item['organisation'])}")
    return "\n".join(out) + "\n"


def render_checklist_html(checklist: Mapping[str, Any], *, base: str = "../") -> str:
    """The checklist as one self-contained HTML page (template ``compliance.html``, autoescaped)."""
    maps = []
    for m in checklist["mappings"]:
        rows = []
        for item in m["items"]:
            evidence = [
                {
                    "available": available,
                    "what": what,
                    "fact": fact,
                    "links": [(t, _href(t, base)) for t in targets] if available else [],
                    "missing": [] if available else targets,
                }
                for available, what, targets, fact in _evidence_lines(item)
            ]
            rows.append({**item, "lines": evidence})
        maps.append({**m, "rows": rows})
    return render(
        "compliance.html",
        title=f"Compliance checklist{' of ' + checklist['subject'] if checklist.get('subject') else ''}",
        checklist=checklist,
        maps=maps,
        evidenced=EVIDENCED,
        partial=PARTIAL,
    )


def render_checklist_json(checklist: Mapping[str, Any]) -> str:
    """The checklist as indented JSON (file paths relative to the dossier's root)."""
    return json.dumps(checklist, indent=2, sort_keys=True) + "\n"


def render_index_markdown(files: Iterable[str], checklist: Mapping[str, Any]) -> str:
    """The dossier's ``index.md``: every file with a link and what it holds, and the checklist's summary."""
    s = checklist["summary"]
    subject = checklist.get("subject") or "a model version"
    out = [
        f"# Dossier of {_md(subject)}",
        "",
        "- [compliance/checklist.md](compliance/checklist.md) ([HTML](compliance/checklist.html), "
        "[JSON](compliance/checklist.json)): "
        f"{s['evidenced']} of {s['items']} items evidenced, {s['partly_evidenced']} partly, "
        f"{s['to_be_provided']} to be provided by the organisation. {_md(NOTE.split('. ', 1)[1])}",
        "",
        "## Files",
        "",
    ]
    for path in sorted(set(files)):
        what = DOSSIER_FILES.get(path) or (
            "a report stored with the version" if path.startswith("reports/") else ""
        )
        if path.startswith("compliance/"):
            what = "the compliance checklist"
        elif path == "index.md":
            what = "this index"
        out.append(f"- [{_md(path)}]({_href(path, '')})" + (f": {_md(what)}" if what else ""))
    return "\n".join(out) + "\n"
