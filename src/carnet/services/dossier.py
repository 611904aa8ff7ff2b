"""Model cards and the auditor's dossier of a model version.

The card gathers what the registry knows of a version: training data, metrics with
intervals, fairness, top features and stress results of its latest gated promotion,
limitations, lineage, approvals. The dossier is one zip an auditor can take away: the
card, the evaluation reports, every gate result, every audit event touching the model,
its runs and datasets, and the verification of the whole chain; the monitors of the model; and
the compliance checklist mapping those files to the EU AI Act's Annex IV, the NIST AI RMF and the
caller's own mappings (evidence for an assessment, not a conformity assessment).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from carnet.domain import AuditEvent, DatasetRef, ModelVersion, Promotion
from carnet.domain.audit import chain_hash, payload_digest
from carnet.errors import InvalidInput, NotFound
from carnet.services.audit import AuditService
from carnet.services.context import ServiceContext
from carnet.services.datasets import DatasetService
from carnet.services.promotion import PromotionService
from carnet.services.registry import RegistryService

__all__ = ["DossierService"]

#: a fixed timestamp for zip entries, so the same content gives the same archive
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
_MAX_PROFILE = 30
#: compliance mappings of the caller's own a dossier takes
_MAX_MAPPINGS = 20


class DossierService:
    """Renders model cards and writes dossiers."""

    def __init__(
        self,
        ctx: ServiceContext,
        registry: RegistryService,
        promotion: PromotionService,
        datasets: DatasetService,
        audit: AuditService,
    ) -> None:
        self.ctx = ctx
        self.registry = registry
        self.promotion = promotion
        self.datasets = datasets
        self.audit = audit

    def card_data(self, name: str, version: int | None = None, *, plots: bool = False) -> dict[str, Any]:
        """Everything the model card shows, as JSON-ready data."""
        from carnet.reports.card import CARD_FORMAT

        mv = self.registry.resolve(name, version)
        model = self.registry.get_model(name)
        promotions = self.promotion.promotions(name, mv.version)
        gated = [p for p in promotions if p.kind == "promote"]
        last = gated[-1] if gated else None
        policy = self.promotion.policy_for(name)
        card: dict[str, Any] = {
            "format": CARD_FORMAT,
            "name": mv.name,
            "version": mv.version,
            "aliases": mv.aliases,
            "tags": {**model.tags, **mv.tags},
            "description": mv.description or model.description,
            "task": mv.task,
            "flavor": mv.flavor,
            "artifact_digest": mv.artifact_digest,
            "created_at": mv.created_at,
            "created_by": mv.created_by,
            "source_run": mv.run_id,
            "derived_from": mv.derived_from,
            "reuse": _reuse(mv),
            "built_on": _built_on(mv),
            "intended_use": (policy.intended_use if policy else "") or mv.description,
            "limitations": policy.limitations if policy else "",
            "signature": mv.signature.to_dict(),
            "training_data": [self._dataset(ref) for ref in mv.datasets],
            "metrics": {k: v for k, v in mv.metrics.items() if not k.endswith(("_ci_low", "_ci_high"))},
            "intervals": {
                k[: -len("_ci_low")]: [v, mv.metrics.get(k[: -len("_ci_low")] + "_ci_high")]
                for k, v in mv.metrics.items()
                if k.endswith("_ci_low")
            },
            "confidence": 0.95,
            "gates": [r.to_dict() for r in last.results] if last else [],
            "promotions": [_promotion_row(p) for p in promotions],
            "approvals": [
                {
                    "actor": a.actor,
                    "alias": a.alias,
                    "comment": a.comment,
                    "time": a.created_at,
                    "authenticated": a.authenticated,
                }
                for a in self.registry.approvals(name, mv.version)
            ],
            "lineage": {
                "run": mv.run_id,
                "datasets": mv.datasets,
                "derived_from": _parent_ref(mv),
                "reuse_chain": self._chain(mv),
            },
        }
        card["data_protection"] = self._data_protection(mv, card["gates"])
        card.update(_from_gates(last))
        if "top_features" not in card:
            card.update(self._importance_from_report(mv))
        events = self._events(mv)
        verification = self.audit.verify()
        card["audit"] = {
            "events": len(events),
            "verified": verification.ok,
            "chain_length": verification.count,
        }
        if plots:
            card["plots"] = [
                {
                    "name": p.rsplit("/", 1)[-1][:-4],
                    "title": p,
                    "png_base64": base64.b64encode(self.ctx.artifacts.get_bytes(d)).decode(),
                }
                for p, d in sorted(dict(mv.extra.get("plots") or {}).items())
                if p.endswith(".png")
            ]
        return card

    def card(self, name: str, version: int | None = None, fmt: str = "markdown") -> str:
        """The model card as Markdown (``markdown``) or self-contained HTML (``html``)."""
        from carnet.reports.card import render_card_html, render_card_markdown

        if fmt not in ("markdown", "html"):
            raise InvalidInput(f"card format must be markdown or html, got {fmt!r}", field="format")
        if fmt == "html":
            return render_card_html(self.card_data(name, version, plots=True))
        return render_card_markdown(self.card_data(name, version))

    def dossier(
        self, name: str, version: int | None, out: str | Path, *, mappings: Sequence[object] = ()
    ) -> dict[str, Any]:
        """Write the auditor's dossier zip to ``out``; returns its manifest.

        The zip holds the compliance checklist (``compliance/checklist.{md,html,json}``) of the
        built-in maps and of ``mappings`` (YAML texts, file paths or mappings of your own), and an
        ``index.md`` linking every file.

        Raises:
            InvalidInput: a mapping is not valid (``field`` names the offending entry).
        """
        user_maps = _user_mappings(mappings)
        mv = self.registry.resolve(name, version)
        files, checklist = self._contents(mv, user_maps)
        manifest = {
            "format": "carnet.dossier/v1",
            "model": mv.ref,
            "created_at": self.ctx.clock(),
            "created_by": self.ctx.actor,
            "files": {
                p: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)} for p, b in sorted(files.items())
            },
            "compliance": _manifest_compliance(checklist),
        }
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path, data in sorted({**files, "manifest.json": _json(manifest)}.items()):
                info = zipfile.ZipInfo(f"{mv.name}-v{mv.version}/{path}", date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(target)
        return manifest

    def compliance(
        self, name: str, version: int | None = None, *, mappings: Sequence[object] = ()
    ) -> dict[str, Any]:
        """The compliance checklist the dossier of a version would hold (built-in maps and
        ``mappings``), as data; file paths are relative to the dossier's root.

        Raises:
            InvalidInput: a mapping is not valid (``field`` names the offending entry).
        """
        user_maps = _user_mappings(mappings)
        mv = self.registry.resolve(name, version)
        return self._contents(mv, user_maps)[1]

    def _contents(
        self, mv: ModelVersion, user_maps: Sequence[Any]
    ) -> tuple[dict[str, bytes], dict[str, Any]]:
        """Every file of ``mv``'s dossier but the manifest, and its compliance checklist."""
        from carnet.reports.card import render_card_html, render_card_markdown
        from carnet.reports.compliance import (
            build_checklist,
            builtin_mappings,
            render_checklist_html,
            render_checklist_json,
            render_checklist_markdown,
            render_index_markdown,
        )

        name = mv.name
        card = self.card_data(name, mv.version, plots=True)
        promotions = self.promotion.promotions(name)
        files: dict[str, bytes] = {
            "card.md": render_card_markdown({k: v for k, v in card.items() if k != "plots"}).encode(),
            "card.html": render_card_html(card).encode(),
            "model_version.json": _json(_version_dict(mv)),
            "promotions.json": _json([_promotion_row(p, full=True) for p in promotions]),
            "alias_history.json": _json(self.registry.alias_history(name)),
        }
        for path, digest in sorted(mv.reports.items()):
            files[f"reports/{path.split('/', 1)[-1]}"] = self.ctx.artifacts.get_bytes(digest)
        events = self._events(mv)
        files["audit_events.jsonl"] = "".join(
            json.dumps(_event_dict(e), sort_keys=True) + "\n" for e in events
        ).encode()
        verification = self.audit.verify()
        key = self.ctx.settings.audit_key
        recomputed = [
            e.seq
            for e in events
            if chain_hash(e.prev_hash, e.body(), key) != e.hash
            or payload_digest(e.payload) != e.payload_digest
        ]
        files["audit_verification.json"] = _json(
            {
                "ok": verification.ok and not recomputed,
                "events_recomputed": len(events),
                "events_not_matching_their_hash": recomputed,
                "events_in_chain": verification.count,
                "broken_seq": verification.broken_seq,
                "reason": verification.reason,
                "events_in_dossier": len(events),
                "note": "each event's hash chains to the previous one; recompute with: carnet audit verify",
            }
        )
        monitoring, monitor_facts = self._monitoring(name)
        files["monitoring.json"] = _json(monitoring)
        facts = {**_facts(mv, card, [p for p in promotions if p.version == mv.version]), **monitor_facts}
        facts["policy_recorded"] = self.promotion.policy_for(name) is not None
        facts["audit_chain_verified"] = bool(verification.ok and not recomputed)
        checklist = build_checklist(
            [*builtin_mappings(), *user_maps], [*files, "manifest.json"], facts, subject=mv.ref
        )
        files["compliance/checklist.md"] = render_checklist_markdown(checklist).encode()
        files["compliance/checklist.html"] = render_checklist_html(checklist).encode()
        files["compliance/checklist.json"] = render_checklist_json(checklist).encode()
        files["index.md"] = render_index_markdown([*files, "manifest.json", "index.md"], checklist).encode()
        return files, checklist

    def _monitoring(self, name: str) -> tuple[dict[str, Any], dict[str, bool]]:
        """The monitors following model ``name`` (notifier secrets hidden) with their alerts, and
        the checklist's facts about them."""
        from carnet.services.delivery import redacted

        with self.ctx.store.transaction(write=False) as tx:
            found = [(m, tx.monitors.alerts(m.id)) for m in tx.monitors.list() if _follows(m.model, name)]
        monitors = []
        for m, alerts in found:
            spec = m.to_spec()
            if "notify" in spec:
                spec["notify"] = redacted(spec["notify"])
            monitors.append(
                {
                    "spec": spec,
                    "created_at": m.created_at,
                    "created_by": m.actor,
                    "alerts": [
                        {k: v for k, v in a.to_dict().items() if k not in ("actions", "history")}
                        for a in alerts
                    ],
                }
            )
        rules = [r for m, _ in found for r in m.rules]
        facts = {
            "monitor_exists": bool(found),
            "alert_rules_defined": bool(rules),
            "alert_notifies": any(m.notify and any("notify" in r.actions for r in m.rules) for m, _ in found),
            "alert_rollback": any("rollback" in r.actions for r in rules),
        }
        return {"model": name, "monitors": monitors}, facts

    # -- pieces -------------------------------------------------------------------
    def _dataset(self, ref: str) -> dict[str, Any]:
        try:
            v = self.datasets.get(DatasetRef.parse(ref))
        except NotFound:
            return {"ref": ref, "missing": True}
        return {
            "ref": v.ref,
            "digest": v.digest,
            "rows": v.num_rows,
            "columns": v.num_columns,
            "profile": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "missing_share": c.missing_share,
                    "min": c.min,
                    "max": c.max,
                    "mean": c.mean,
                }
                for c in v.profile[:_MAX_PROFILE]
            ],
        }

    def _data_protection(self, mv: ModelVersion, gates: list[dict[str, Any]]) -> dict[str, Any]:
        """Personal data in the training versions, how they were de-identified, PII among the
        inputs, and the privacy gate's last verdict (k, l)."""
        inputs = set(mv.signature.input_names())
        datasets: list[dict[str, Any]] = []
        pii_inputs: dict[str, str] = {}
        for ref in mv.datasets:
            try:
                v = self.datasets.get(DatasetRef.parse(ref))
            except NotFound:
                continue
            pii = {c.name: str(c.pii["kind"]) for c in v.profile if c.pii}
            pii_inputs.update({c: k for c, k in pii.items() if c in inputs})
            entry: dict[str, Any] = {"ref": v.ref, "pii": pii, "deidentified_from": None, "methods": {}}
            parts = v.source.split(" ")
            if len(parts) == 4 and parts[0] == "deidentify" and parts[2] == "config":
                entry["deidentified_from"] = parts[1]
                try:
                    config = json.loads(self.ctx.artifacts.get_bytes(parts[3]))
                    entry["methods"] = {c: s.get("method") for c, s in (config.get("columns") or {}).items()}
                    entry["key_fingerprint"] = config.get("key_fingerprint")
                except (NotFound, ValueError, AttributeError):
                    entry["methods"] = {}
            if v.erasure is not None:
                entry["erasure"] = self._erasure(v)
            datasets.append(entry)
        gate = next((g for g in gates if g.get("type") == "privacy"), None)
        risk = (gate or {}).get("details", {}).get("risk") or {}
        transforms = (mv.signature.transforms or {}).get("columns") or {}
        return {
            "datasets": datasets,
            "input_transforms": {c: str(s.get("method")) for c, s in transforms.items()},
            "erasures": [d["ref"] for d in datasets if d.get("erasure")],
            "pii_inputs": pii_inputs,
            "privacy_gate": None
            if gate is None
            else {
                "passed": gate.get("passed"),
                "k": risk.get("k"),
                "l": risk.get("l"),
                "measured": gate.get("measured"),
            },
        }

    def _erasure(self, v: Any) -> dict[str, Any]:
        """The erasure that superseded training version ``v``: when, why, rows removed, successor."""
        with self.ctx.store.transaction(write=False) as tx:
            found = next((e for e in tx.datasets.erasures(v.name) if e["id"] == v.erasure), {})
            after = (
                tx.datasets.get(v.superseded_by.name, v.superseded_by.version) if v.superseded_by else None
            )
        return {
            "id": v.erasure,
            "reason": found.get("reason"),
            "at": found.get("created_at"),
            "rows_removed": None if after is None else v.num_rows - after.num_rows,
            "superseded_by": str(v.superseded_by) if v.superseded_by else None,
            "purged": v.purged,
        }

    def _importance_from_report(self, mv: ModelVersion) -> dict[str, Any]:
        digest = mv.reports.get("reports/evaluation.json")
        if not digest:
            return {}
        report = json.loads(self.ctx.artifacts.get_bytes(digest))
        table = (report.get("details") or {}).get("permutation_importance") or []
        top = [{"feature": r["feature"], "importance": r["importance_mean"]} for r in table[:10]]
        return {"top_features": top, "attribution_method": "permutation (training evaluation)"} if top else {}

    def _chain(self, mv: ModelVersion, limit: int = 50) -> list[str]:
        """``mv``'s ancestry, oldest first: ``churn/1``, ``churn/2 (warm_start)``, ... (``mv`` last)."""
        chain: list[str] = []
        current: ModelVersion | None = mv
        seen: set[str] = set()
        while current is not None and current.ref not in seen and len(chain) < limit:
            seen.add(current.ref)
            reuse = current.extra.get("reuse")
            how = f" ({reuse.get('reuse')})" if isinstance(reuse, dict) and reuse.get("reuse") else ""
            chain.append(current.ref + how)
            parent = _parent_ref(current)
            try:
                current = self.registry.resolve(parent) if parent else None
            except NotFound:
                chain.append(f"{parent} (deleted)")
                current = None
        return chain[::-1] if len(chain) > 1 else []

    def _events(self, mv: ModelVersion) -> list[AuditEvent]:
        """Audit events about the model, the runs behind its versions and their datasets, in order."""
        subjects = {("model", mv.name)}
        for v in self.registry.versions(mv.name):
            if v.run_id:
                subjects.add(("run", v.run_id))
            for ref in v.datasets:
                subjects.add(("dataset", ref.split("@", 1)[0]))
        seen: dict[int, AuditEvent] = {}
        for subject_type, subject_id in sorted(subjects):
            for event in self.audit.log(subject_type, subject_id, limit=None):
                seen[event.seq] = event
        return [seen[k] for k in sorted(seen)]


def _user_mappings(mappings: Sequence[object]) -> list[Any]:
    """The caller's compliance mappings, validated (the built-in ones are added by the checklist)."""
    from carnet.reports.compliance import load_mapping

    if isinstance(mappings, str | bytes | Mapping | Path) or not isinstance(mappings, Sequence):
        raise InvalidInput(
            "mappings must be a list of mapping files, YAML texts or mappings", field="mappings"
        )
    if len(mappings) > _MAX_MAPPINGS:
        raise InvalidInput(f"at most {_MAX_MAPPINGS} mappings of your own", field="mappings")
    return [load_mapping(m, where=f"mapping {i + 1}") for i, m in enumerate(mappings)]


def _follows(model: str, name: str) -> bool:
    """Whether a monitor's model reference (``NAME``, ``NAME/3``, ``NAME@alias``) is model ``name``."""
    return model.split("@", 1)[0].split("/", 1)[0] == name


def _facts(mv: ModelVersion, card: Mapping[str, Any], promotions: Sequence[Promotion]) -> dict[str, bool]:
    """What the compliance checklist may rely on, from the version, its card and its gated
    promotions (the policy, the audit chain and the monitors are added by the caller)."""
    gated = [p for p in promotions if p.kind == "promote"]
    results = [r for p in gated for r in p.results if r.error is None]
    ran = {r.type for r in results}
    return {
        "intended_use_recorded": bool(card.get("intended_use")),
        "limitations_recorded": bool(card.get("limitations")),
        "training_data_recorded": bool(mv.datasets),
        "source_run_recorded": bool(mv.run_id),
        "signature_recorded": bool(mv.signature.input_names()),
        "metrics_recorded": bool(card.get("metrics")),
        "metric_intervals_recorded": bool(card.get("intervals")),
        "promotion_ran": bool(gated),
        "promotion_passed": any(p.passed for p in gated),
        "metric_gate_ran": bool(ran & {"metric", "non_regression"}),
        "fairness_gate_ran": "fairness" in ran,
        "explainability_gate_ran": "explainability" in ran,
        "stress_gate_ran": "stress" in ran,
        "privacy_gate_ran": "privacy" in ran,
        "approval_gate_passed": any(r.type == "approval" and r.passed for r in results),
        "approvals_recorded": bool(card.get("approvals")),
    }


def _manifest_compliance(checklist: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's view of the checklist: the mappings used and each item's status and files."""
    return {
        "checklist": ["compliance/checklist.md", "compliance/checklist.html", "compliance/checklist.json"],
        "note": checklist["note"],
        "summary": checklist["summary"],
        "mappings": [
            {k: m[k] for k in ("name", "title", "framework", "digest", "builtin")}
            for m in checklist["mappings"]
        ],
        "items": [
            {"mapping": i["mapping"], "id": i["id"], "status": i["status"], "files": i["files"]}
            for m in checklist["mappings"]
            for i in m["items"]
        ],
    }


def _from_gates(promotion: Promotion | None) -> dict[str, Any]:
    """Fairness, attributions and stress results of a promotion's gates, for the card."""
    out: dict[str, Any] = {}
    if promotion is None:
        return out
    for r in promotion.results:
        d = r.details or {}
        if r.type == "fairness":
            out["fairness"] = {"passed": r.passed, "measured": r.measured, **d}
        elif r.type == "explainability":
            table = d.get("attributions") or d.get("table") or []
            out["top_features"] = [
                {"feature": x.get("feature"), "importance": x.get("importance")} for x in table[:10]
            ]
            out["attribution_method"] = d.get("method")
        elif r.type == "stress":
            out["stress"] = list(d.get("scenarios") or [])
    return out


def _promotion_row(p: Promotion, full: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": p.id,
        "version": p.version,
        "alias": p.alias,
        "previous_version": p.previous_version,
        "passed": p.passed,
        "applied": p.applied,
        "kind": p.kind,
        "actor": p.actor,
        "time": p.created_at,
        "reason": p.reason,
    }
    if full:
        row["results"] = [r.to_dict() for r in p.results]
        row["policy"] = p.policy
    return row


def _parent_ref(mv: ModelVersion) -> str | None:
    """``NAME/VERSION`` of the version ``mv`` was derived from (None when made from scratch)."""
    reuse = mv.extra.get("reuse")
    if isinstance(reuse, dict) and reuse.get("from"):
        return str(reuse["from"])
    return f"{mv.name}/{mv.derived_from}" if mv.derived_from else None


def _reuse(mv: ModelVersion) -> str | None:
    """How ``mv`` was made from its parent (``warm_start from churn/1``), None when from scratch."""
    reuse = mv.extra.get("reuse")
    if not isinstance(reuse, dict) or not reuse.get("from"):
        return None
    refit = ", preprocessing refitted" if reuse.get("refit_preprocessing") else ""
    return f"{reuse.get('reuse')} from {reuse['from']}{refit}"


def _built_on(mv: ModelVersion) -> str | None:
    """The text encoders the version's inputs go through, with what their vectors are built on."""
    parts = []
    for e in mv.extra.get("encoders") or []:
        if isinstance(e, dict):
            what = " ".join(str(e[k]) for k in ("package", "version") if e.get(k))
            digest = f", {str(e['digest'])[:23]}" if e.get("digest") else ""
            named = f" ({e['encoder']})" if e.get("encoder") else ""
            parts.append(f"{e.get('column')}: {e.get('plugin')}{named} on {what}{digest}")
    return "; ".join(parts) or None


def _version_dict(mv: ModelVersion) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": mv.version,
        "flavor": mv.flavor,
        "artifact_digest": mv.artifact_digest,
        "run_id": mv.run_id,
        "task": mv.task,
        "signature": mv.signature.to_dict(),
        "input_example": mv.input_example,
        "metrics": mv.metrics,
        "datasets": mv.datasets,
        "reports": mv.reports,
        "derived_from": mv.derived_from,
        "allow_pickle": mv.allow_pickle,
        "created_at": mv.created_at,
        "created_by": mv.created_by,
        "tags": mv.tags,
        "aliases": mv.aliases,
    }


def _event_dict(e: AuditEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "time": e.time,
        "actor": e.actor,
        "action": e.action,
        "subject_type": e.subject_type,
        "subject_id": e.subject_id,
        "payload": e.payload,
        "payload_digest": e.payload_digest,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def _json(data: Any) -> bytes:
    from carnet.evaluation import jsonable

    return (json.dumps(jsonable(data), indent=2, sort_keys=True) + "\n").encode()
