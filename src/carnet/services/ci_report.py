"""The CI report of a pipeline run or a training run: gates, metrics against the incumbent, drift of
the training data, links.

Read-only: a pipeline run's gates are those its promote step recorded; a training run's are a dry
run of the policy (which stores nothing). The renderers (Markdown, JUnit XML, JSON) are in
:mod:`carnet.reports.ci`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from carnet.domain import ModelVersion, Policy
from carnet.domain.pipelines import GRAPH_PATH
from carnet.errors import CarnetError, InvalidInput, NotFound
from carnet.services.context import ServiceContext
from carnet.services.monitoring import MonitoringService
from carnet.services.promotion import PromotionService
from carnet.services.registry import RegistryService
from carnet.services.tracking import TrackingService

__all__ = ["REPORT_FORMAT", "CIReportService"]

#: the ``format`` field of every report
REPORT_FORMAT = "carnet.ci-report/v1"
#: the artifact a step run holds the inputs it ran with in
STEP_INPUTS_PATH = "step/inputs.json"
_PIPELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
_MAX_METRICS = 8
_DEFAULT_RESAMPLES = 200


class CIReportService:
    """Builds the report a CI job posts: what the gates said, by how much, and on what data."""

    def __init__(
        self,
        ctx: ServiceContext,
        tracking: TrackingService,
        registry: RegistryService,
        promotion: PromotionService,
        monitoring: MonitoringService,
    ) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.registry = registry
        self.promotion = promotion
        self.monitoring = monitoring

    def latest_pipeline_run(self, pipeline: str, projects: list[str] | None = None) -> str:
        """The id of the newest run of the pipeline called ``pipeline`` (in ``projects``; None: any).

        Raises:
            InvalidInput: not a pipeline name. NotFound: the pipeline never ran.
        """
        if not isinstance(pipeline, str) or not _PIPELINE_NAME.match(pipeline):
            raise InvalidInput(
                "a pipeline name is letters, digits, _ . - (the name: of carnet.pipeline.yaml); "
                f"got {pipeline!r}",
                field="pipeline",
            )
        where = f"tags.carnet.kind = 'pipeline' and tags.carnet.pipeline.name = '{pipeline}'"
        if projects is not None and not projects:
            page_runs: list[Any] = []
        else:
            page_runs = self.tracking.search_runs(
                projects, where, ["attributes.start_time desc"], max_results=1
            ).runs
        if not page_runs:
            raise NotFound(
                f"pipeline {pipeline!r} has no run; run it with: carnet pipeline run carnet.pipeline.yaml",
                field="pipeline",
            )
        return str(page_runs[0].id)

    def report(
        self,
        run: str | None = None,
        *,
        pipeline: str | None = None,
        model: str | None = None,
        policy: str | Path | Mapping[str, Any] | None = None,
        alias: str = "production",
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """The CI report (JSON-ready, stable keys) of a pipeline run, of the latest run of
        ``pipeline``, or of a training run whose registered version of ``model`` is judged by a dry
        run of ``policy`` (default: the policy stored for the model).

        ``report["exit_code"]`` is 0 when every gate passed (and the pipeline finished), else 1.

        Raises:
            InvalidInput: neither or both of ``run`` and ``pipeline``; a training run without
                ``model``; no policy; a bad policy (its field named).
            NotFound: unknown run, pipeline, model, or no version of ``model`` from the run.
        """
        if (run is None) == (pipeline is None):
            raise InvalidInput("give a RUN id or --pipeline NAME (one of them)", field="run")
        if base_url is not None and not re.match(r"^https?://[^\s]+$", base_url):
            raise InvalidInput(f"base_url must be an http(s):// URL, got {base_url!r}", field="base_url")
        run_id = (
            self.latest_pipeline_run(str(pipeline))
            if pipeline is not None
            else self.tracking.resolve_run_id(str(run))
        )
        subject = self.tracking.get_run(run_id)
        if subject.tags.get("carnet.kind") == "pipeline":
            out = self._pipeline(subject, model=model, policy=policy, alias=alias)
        else:
            out = self._training(subject, model=model, policy=policy, alias=alias)
        out["links"] = _links(base_url, out)
        failed = [g for g in out["gates"] if not g["passed"]]
        out["summary"] = {
            "gates": len(out["gates"]),
            "passed": len(out["gates"]) - len(failed),
            "failed": len(failed),
            "failed_gates": [g["name"] for g in failed],
            "failed_steps": [s["name"] for s in out["steps"] if s["status"] == "failed"],
        }
        finished = out["subject"]["kind"] != "pipeline" or out["subject"]["status"] == "FINISHED"
        out["passed"] = not failed and finished
        out["exit_code"] = 0 if out["passed"] else 1
        cleaned: dict[str, Any] = _clean(out)
        return cleaned

    # -- the two subjects --------------------------------------------------------------------------
    def _pipeline(self, run: Any, *, model: str | None, policy: Any, alias: str) -> dict[str, Any]:
        graph = self._graph(run.id)
        steps = [s for s in graph.get("steps") or [] if isinstance(s, Mapping)]
        by_kind = {str(s.get("kind")): s for s in steps}
        promote = dict(by_kind.get("promote", {}).get("outputs") or {})
        register = dict(by_kind.get("register", {}).get("outputs") or {})
        alias = str(promote.get("alias") or alias)
        name = model or register.get("model") or promote.get("model")
        version = register.get("version") or promote.get("version")
        mv = self.registry.resolve(str(name), int(version)) if name and version else None
        recorded = promote.get("policy") or self._step_input(by_kind.get("promote"), "policy")
        chosen = self._policy(policy, recorded, mv)
        status = str(graph.get("status") or run.status.value).upper()
        out = self._base(run, "pipeline", status, mv, alias, chosen)
        out["subject"]["pipeline"] = graph.get("name") or run.tags.get("carnet.pipeline.name")
        out["subject"]["params"] = graph.get("params") or {}
        out["dry_run"] = promote.get("dry_run")
        out["applied"] = promote.get("applied")
        out["gates"] = [_gate(g) for g in promote.get("gates") or [] if isinstance(g, Mapping)]
        out["steps"] = [
            {
                "name": str(s.get("name")),
                "kind": str(s.get("kind")),
                "status": str(s.get("status")),
                "run_id": s.get("run_id"),
                "seconds": _seconds(s.get("started"), s.get("ended")),
                "error": s.get("error"),
            }
            for s in steps
        ]
        self._compare(out, mv, alias, chosen)
        return out

    def _training(self, run: Any, *, model: str | None, policy: Any, alias: str) -> dict[str, Any]:
        if not model:
            raise InvalidInput(
                f"run {run.id} is a training run: name the model registered from it (--model NAME) "
                "and the policy to check (--policy FILE, else the model's stored policy)",
                field="model",
            )
        found = [v for v in self.registry.versions(model) if v.run_id == run.id]
        if not found:
            raise NotFound(
                f"no version of model {model!r} was registered from run {run.id}; register it with: "
                f"carnet models register {run.id} {model}",
                field="model",
            )
        mv = found[-1]
        chosen = self._policy(policy, None, mv)
        if chosen is None:
            raise InvalidInput(
                f"no promotion policy for model {model!r}: pass --policy FILE or store one with "
                f"carnet models policy set FILE --model {model}",
                field="policy",
            )
        dry = self.promotion.promote(mv.name, mv.version, alias, dry_run=True, policy=_policy_dict(chosen))
        out = self._base(run, "run", run.status.value.upper(), mv, alias, chosen)
        out["dry_run"], out["applied"] = True, False
        out["gates"] = [_gate(r.to_dict()) for r in dry.results]
        out["steps"] = []
        self._compare(out, mv, alias, chosen)
        return out

    def _base(
        self, run: Any, kind: str, status: str, mv: ModelVersion | None, alias: str, policy: Policy | None
    ) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "subject": {
                "kind": kind,
                "run_id": run.id,
                "name": run.name,
                "project": run.project,
                "status": status,
                "pipeline": None,
            },
            "model": _version(mv),
            "incumbent": None,
            "alias": alias,
            "policy": None if policy is None else policy.name,
            "evaluation_data": None if policy is None else policy.evaluation_data,
        }

    # -- pieces ------------------------------------------------------------------------------------
    def _graph(self, run_id: str) -> dict[str, Any]:
        for art in self.tracking.list_artifacts(run_id):
            if art.path == GRAPH_PATH:
                try:
                    graph = json.loads(self.ctx.artifacts.get_bytes(art.digest))
                except ValueError:
                    break
                if isinstance(graph, dict):
                    return graph
                break
        raise InvalidInput(
            f"run {run_id} is tagged as a pipeline run but holds no readable {GRAPH_PATH} "
            "(is it still running?)",
            field="run",
        )

    def _step_input(self, step: Mapping[str, Any] | None, key: str) -> Any:
        """One input a step ran with (its run's ``step/inputs.json``), or None."""
        if not step or not step.get("run_id"):
            return None
        for art in self.tracking.list_artifacts(str(step["run_id"])):
            if art.path == STEP_INPUTS_PATH:
                try:
                    material = json.loads(self.ctx.artifacts.get_bytes(art.digest))
                except ValueError:
                    return None
                inputs = material.get("inputs") if isinstance(material, dict) else None
                return inputs.get(key) if isinstance(inputs, dict) else None
        return None

    def _policy(self, given: Any, recorded: Any, mv: ModelVersion | None) -> Policy | None:
        """The policy given (a file, YAML text or a mapping), else the one the pipeline recorded (a
        mapping; a path of the machine that ran it is not read here), else the model's stored one."""
        from carnet.gates.policy import load_policy

        if given is not None:
            return load_policy(given)
        if isinstance(recorded, Mapping):
            try:
                return load_policy(recorded)
            except InvalidInput:
                pass
        return self.promotion.policy_for(mv.name) if mv is not None else None

    def _incumbent(self, mv: ModelVersion, alias: str) -> ModelVersion | None:
        """The version ``mv`` is judged against: the alias's holder, or the one it replaced when the
        alias already moved to ``mv``."""
        try:
            holder = self.registry.resolve(f"{mv.name}@{alias}")
        except NotFound:
            return None
        if holder.version != mv.version:
            return holder
        applied = [
            p for p in self.promotion.promotions(mv.name, mv.version) if p.applied and p.alias == alias
        ]
        previous = applied[-1].previous_version if applied else None
        return None if previous is None else self.registry.resolve(mv.name, previous)

    def _compare(
        self, out: dict[str, Any], mv: ModelVersion | None, alias: str, policy: Policy | None
    ) -> None:
        """Fill ``incumbent``, ``metrics`` and ``drift``."""
        if mv is None:
            note = "no registered candidate in this run"
            out["metrics"] = {"source": None, "rows": [], "note": note}
            out["drift"] = {"note": note}
            return
        incumbent = self._incumbent(mv, alias)
        out["incumbent"] = _version(incumbent)
        out["metrics"] = self._metrics(mv, incumbent, alias, policy)
        out["drift"] = self._drift(mv, incumbent, alias)

    def _metrics(
        self, mv: ModelVersion, incumbent: ModelVersion | None, alias: str, policy: Policy | None
    ) -> dict[str, Any]:
        names = _metric_names(mv, policy)
        if policy is None or not policy.evaluation_data:
            why = "no policy" if policy is None else "the policy names no evaluation_data"
            return {
                "source": "recorded",
                "data": None,
                "confidence": 0.95,
                "n_bootstrap": None,
                "rows": _recorded(names, mv, incumbent),
                "note": f"{why}: the metrics each version recorded on its own test split",
            }
        from carnet.gates.metrics import compare_metrics

        confidence, resamples = _bootstrap_settings(policy)
        try:
            ctx = self.promotion.gate_context(mv, alias, policy, False)
            if (ctx.incumbent_version.version if ctx.incumbent_version else None) != (
                incumbent.version if incumbent else None
            ):
                loaded = self.registry.load(incumbent.ref)[0] if incumbent is not None else None
                ctx = replace(ctx, incumbent=loaded, incumbent_version=incumbent, _cache={})
            rows = compare_metrics(ctx, names, confidence=confidence, resamples=resamples)
        except (CarnetError, ValueError) as exc:
            return {
                "source": None,
                "data": policy.evaluation_data,
                "rows": [],
                "note": f"metrics not computed: {getattr(exc, 'message', exc)}",
            }
        return {
            "source": "evaluation",
            "data": policy.evaluation_data,
            "confidence": confidence,
            "n_bootstrap": resamples,
            "rows": rows,
            "note": None,
        }

    def _drift(self, mv: ModelVersion, incumbent: ModelVersion | None, alias: str) -> dict[str, Any]:
        current = mv.datasets[0] if mv.datasets else None
        reference = incumbent.datasets[0] if incumbent is not None and incumbent.datasets else None
        base: dict[str, Any] = {"reference": reference, "current": current}
        if current is None:
            return {**base, "note": f"{mv.ref} records no training dataset"}
        if incumbent is None:
            return {**base, "note": f"no version holds alias {alias!r}: no earlier training data to compare"}
        if reference is None:
            return {**base, "note": f"{incumbent.ref} records no training dataset"}
        if reference == current:
            same = "both versions trained on the same dataset version"
            return {**base, "dataset_drift": False, "share_drifted": 0.0, "drifted_columns": [], "note": same}
        try:
            report = self.monitoring.drift(reference, current, datasets_only=True)
        except CarnetError as exc:
            return {**base, "note": f"drift not computed: {exc.message}"}
        return {
            **base,
            "dataset_drift": report.dataset_drift,
            "share_drifted": report.share_drifted,
            "drifted_columns": list(report.drifted_columns),
            "reference_rows": report.reference_rows,
            "current_rows": report.current_rows,
            "columns": [
                {
                    "column": c.column,
                    "kind": c.kind,
                    "method": c.method,
                    "statistic": c.statistic,
                    "p_value": c.p_value,
                    "threshold": c.threshold,
                    "drifted": c.drifted,
                    "note": c.note,
                }
                for c in report.columns
            ],
            "note": None,
        }


# -- helpers -----------------------------------------------------------------------------------------
def _policy_dict(policy: Policy) -> dict[str, Any]:
    from carnet.domain.policies import policy_to_dict

    return policy_to_dict(policy)


def _version(mv: ModelVersion | None) -> dict[str, Any] | None:
    if mv is None:
        return None
    return {
        "name": mv.name,
        "version": mv.version,
        "ref": mv.ref,
        "run_id": mv.run_id,
        "datasets": list(mv.datasets),
    }


def _gate(g: Mapping[str, Any]) -> dict[str, Any]:
    """A gate result (as the REST API answers it) with the report's one-line ``message``."""
    details = dict(g.get("details") or {})
    passed = bool(g.get("passed"))
    error = g.get("error")
    if error:
        message = str(error)
    elif details.get("message"):
        message = str(details["message"])
    elif passed:
        message = ""
    else:
        message = f"measured {g.get('measured') or '-'}, needs {g.get('threshold') or '-'}"
    return {
        "name": str(g.get("gate") or g.get("name") or g.get("type")),
        "type": str(g.get("type")),
        "passed": passed,
        "measured": str(g.get("measured") or ""),
        "threshold": str(g.get("threshold") or ""),
        "value": g.get("value"),
        "message": message,
        "error": error,
        "details": details,
    }


def _metric_names(mv: ModelVersion, policy: Policy | None) -> list[str]:
    """The metric and non-regression gates' metrics, the task's primary metric, then the headline
    metrics the candidate recorded with intervals (at most eight)."""
    names: list[str] = []
    for spec in policy.gates if policy is not None else ():
        if spec.type == "non_regression" and spec.config.get("metric"):
            names.append(str(spec.config["metric"]))
        elif spec.type == "metric":
            condition = spec.config.get("condition")
            if isinstance(condition, str):
                names.append(re.split(r"\s*[<>=]", condition.strip(), maxsplit=1)[0])
            elif spec.config.get("metric"):
                names.append(str(spec.config["metric"]))
    if mv.task:
        try:
            from carnet.tasks import get_task

            names.append(get_task(mv.task).primary_metric()[0])
        except CarnetError:
            pass
    names += [k[: -len("_ci_low")] for k in mv.metrics if k.endswith("_ci_low")]
    return list(dict.fromkeys(n for n in names if n))[:_MAX_METRICS]


def _recorded(names: list[str], mv: ModelVersion, incumbent: ModelVersion | None) -> list[dict[str, Any]]:
    """Rows from the metrics each version recorded (each on its own test split: no paired delta)."""
    rows = []
    for name in names:
        if name not in mv.metrics:
            continue
        row: dict[str, Any] = {"metric": name, "candidate": mv.metrics[name], "candidate_ci": _ci(mv, name)}
        if incumbent is not None and name in incumbent.metrics:
            row.update(
                incumbent=incumbent.metrics[name],
                incumbent_ci=_ci(incumbent, name),
                delta=mv.metrics[name] - incumbent.metrics[name],
                delta_ci=None,
            )
        rows.append(row)
    return rows


def _ci(mv: ModelVersion, name: str) -> list[float] | None:
    low, high = mv.metrics.get(f"{name}_ci_low"), mv.metrics.get(f"{name}_ci_high")
    return None if low is None or high is None else [low, high]


def _bootstrap_settings(policy: Policy) -> tuple[float, int]:
    """The confidence and resamples of the policy's non-regression gate (else 0.95 and 200)."""
    for spec in policy.gates:
        if spec.type == "non_regression":
            return float(spec.config.get("confidence", 0.95)), int(
                spec.config.get("n_bootstrap", _DEFAULT_RESAMPLES)
            )
    return 0.95, _DEFAULT_RESAMPLES


def _seconds(started: Any, ended: Any) -> float | None:
    if isinstance(started, int | float) and isinstance(ended, int | float):
        return float(ended) - float(started)
    return None


def _links(base_url: str | None, out: dict[str, Any]) -> dict[str, Any]:
    """Web UI pages of the run, its steps, the candidate and the incumbent (empty without a URL)."""
    if not base_url:
        return {}
    base = base_url.rstrip("/")
    links: dict[str, Any] = {"run": f"{base}/runs/{out['subject']['run_id']}"}
    steps = {s["name"]: f"{base}/runs/{s['run_id']}" for s in out.get("steps") or [] if s.get("run_id")}
    if steps:
        links["steps"] = steps
    for key, found in (("model_version", out.get("model")), ("incumbent", out.get("incumbent"))):
        if found:
            links[key] = f"{base}/models/{quote(str(found['name']), safe='')}/{found['version']}"
    if out.get("model"):
        links["promotions"] = links["model_version"]
    return links


def _clean(value: Any) -> Any:
    """JSON-ready: tuples as lists, NaN and infinities as None, numpy scalars as Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)
    if callable(item):
        return _clean(item())
    return str(value)
