"""Run a pipeline file: its steps in order, each a child run of one pipeline run, cached by content.

A step's cache key is the digest of what it reads: its inputs with references resolved, the
content of the files it names (specs, policies, data), the digests of the dataset versions it
uses, the files it lists under ``deps`` and carnet's version. A step whose key matches a finished
step run reuses that run's outputs and says so (``reused``); steps that change live state
(``deploy``, ``monitor``, a promotion that is not a dry run) always apply. The pipeline run keeps
the document, the parameters and its graph (``pipeline/graph.json``): each step's status, times,
key, outputs and error. Everything goes through the client, so the same file runs on a local
workspace and against a ``carnet server``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from carnet.documents import read_document
from carnet.domain.pipelines import (
    GRAPH_PATH,
    Pipeline,
    Step,
    find_refs,
    load_pipeline,
    parse_param_value,
    substitute,
)
from carnet.errors import CarnetError, InvalidInput, NotFound
from carnet.pipelines.steps import KINDS, StepContext, dependency_digests, digest_of

__all__ = [
    "GRAPH_PATH",
    "PIPELINE_KIND",
    "plan_pipeline",
    "read_pipeline",
    "reproduce_pipeline",
    "run_pipeline",
    "show_pipeline",
]

#: the artifact of a step run holding its outputs; its resolved inputs
OUTPUTS_PATH = "step/outputs.json"
INPUTS_PATH = "step/inputs.json"
#: the tag value marking a pipeline run (tag ``carnet.kind``)
PIPELINE_KIND = "pipeline"
ProgressFn = Callable[[str, int, int], None]
EventFn = Callable[[dict[str, Any]], None]


def _version() -> str:
    from carnet import __version__

    return str(__version__)


def read_pipeline(source: Any, params: Mapping[str, str] | None = None) -> tuple[Pipeline, Path]:
    """The checked pipeline of a file (or mapping) with ``--param`` values applied, and its folder."""
    doc = read_document(source, "pipeline")
    if not isinstance(doc, Mapping):
        raise InvalidInput("a pipeline file must hold a mapping with name and steps", field="pipeline")
    pipeline = load_pipeline(doc)
    base = (
        Path(source).resolve().parent
        if isinstance(source, str | Path) and Path(str(source)).is_file()
        else Path.cwd()
    )
    if params:
        merged = dict(pipeline.params)
        for key, text in params.items():
            if key not in merged:
                known = ", ".join(merged) or "none"
                raise InvalidInput(
                    f"--param {key}: the pipeline declares no parameter {key!r} (it has: {known})",
                    field=f"params.{key}",
                )
            merged[key] = parse_param_value(str(text), merged[key], key) if isinstance(text, str) else text
        pipeline = load_pipeline({**doc, "params": merged})
    return pipeline, base


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``["k=v", ...]`` from the command line as a mapping."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--param must be NAME=VALUE, got {item!r}", field="param")
        out[key.strip()] = value
    return out


class _Runner:
    """One pass over a pipeline: resolves inputs, looks up the cache, runs or reuses each step."""

    def __init__(
        self,
        client: Any,
        pipeline: Pipeline,
        base_dir: Path,
        *,
        executor: str | None,
        progress: ProgressFn | None,
        on_event: EventFn | None,
        use_cache: bool = True,
    ) -> None:
        self.client = client
        self.p = pipeline
        self.base = base_dir
        self.executor = executor
        self.progress = progress
        self.on_event = on_event
        self.use_cache = use_cache
        self.outputs: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, Any]] = {}

    # lookups ------------------------------------------------------------------------------------

    def ctx(self, step: Step) -> StepContext:
        return StepContext(
            self.client, self.p.project, self.base, f"steps.{step.name}", self.executor, self.progress
        )

    def lookup(self) -> dict[tuple[str, str], Any]:
        table: dict[tuple[str, str], Any] = {("params", k): v for k, v in self.p.params.items()}
        for name, outs in self.outputs.items():
            table.update({(name, k): v for k, v in outs.items()})
        return table

    def known(self, step: Step) -> bool:
        """Whether every step this one refers to has outputs now."""
        return all(
            n in self.outputs for n in step.needs if self.records.get(n, {}).get("status") != "skipped"
        )

    def inputs_of(self, step: Step) -> dict[str, Any]:
        table = self.lookup()
        missing = [r for r in find_refs(dict(step.inputs)) if (r.source, r.field) not in table]
        if missing:
            raise InvalidInput(
                f"steps.{step.name}: {missing[0]} has no value (its step was skipped)",
                field=f"steps.{step.name}",
            )
        return dict(substitute(dict(step.inputs), table))

    def condition(self, step: Step) -> bool | None:
        """``when`` evaluated: True/False, None when its step has no outputs (skipped or unknown)."""
        if step.when is None:
            return True
        source, out, expect = step.when
        value = self.p.params.get(out) if source == "params" else self.outputs.get(source, {}).get(out)
        return None if value is None else bool(value) is expect

    def key(self, step: Step, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        ctx = self.ctx(step)
        prepare, _ = KINDS[step.kind]
        material = {
            "kind": step.kind,
            "inputs": prepare(ctx, dict(inputs)),
            "deps": dependency_digests(ctx, step.deps),
            "carnet": _version(),
        }
        return digest_of(material), material

    def cached(self, step: Step, key: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The latest finished step run with this key and its outputs (still valid), or None."""
        if not self.use_cache or not _cacheable(step, inputs):
            return None
        for run in _search(
            self.client, self.p.project, f"tags.`carnet.pipeline.key` = '{key}' and status = 'finished'", 5
        ):
            outputs = _read_json(self.client, run.id, OUTPUTS_PATH)
            if outputs is not None and _still_there(self.client, step, outputs):
                return run.id, outputs
        return None

    # running ------------------------------------------------------------------------------------

    def emit(self, record: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(dict(record))

    def run_step(self, step: Step, parent: str, forced: bool, previous: dict[str, Any] | None) -> None:
        rec: dict[str, Any] = {
            "name": step.name,
            "kind": step.kind,
            "needs": list(step.needs),
            "status": "pending",
            "run_id": None,
            "started": None,
            "ended": None,
            "outputs": {},
            "error": None,
            "cache_key": None,
            "reused_from": None,
        }
        self.records[step.name] = rec
        upstream_failed = [
            n for n in step.needs if self.records.get(n, {}).get("status") in ("failed", "not run")
        ]
        if upstream_failed:
            rec.update(status="not run", error=f"{upstream_failed[0]} failed")
            self.emit(rec)
            return
        cond = self.condition(step)
        if not cond or any(self.records.get(n, {}).get("status") == "skipped" for n in step.needs):
            why = f"when: {_when_text(step)} is false" if cond is False else "an upstream step was skipped"
            rec.update(status="skipped", error=None, reason=why)
            self.emit(rec)
            return
        rec["started"] = time.time()
        if previous is not None:  # --from: an earlier step keeps the previous pipeline run's outputs
            rec.update(
                status="reused",
                reused_from=previous["run_id"],
                outputs=previous["outputs"],
                cache_key=previous.get("cache_key"),
                ended=time.time(),
            )
            self.outputs[step.name] = previous["outputs"]
            rec["run_id"] = self._record(step, parent, rec, {}, reused=True)
            self.emit(rec)
            return
        ctx = self.ctx(step)
        try:
            inputs = self.inputs_of(step)
            key, material = self.key(step, inputs)
            rec["cache_key"] = key
            hit = None if forced else self.cached(step, key, inputs)
            if hit is not None:
                rec.update(status="reused", reused_from=hit[0], outputs=hit[1], ended=time.time())
                self.outputs[step.name] = hit[1]
                rec["run_id"] = self._record(step, parent, rec, material, reused=True)
                self.emit(rec)
                return
            rec["status"] = "running"
            self.emit(rec)
            run_id = self._open(step, parent, key, material)
            rec["run_id"] = run_id
            _, execute = KINDS[step.kind]
            outputs = execute(ctx, inputs)
        except Exception as exc:  # noqa: BLE001 - a failed step is recorded; the pipeline stops below it
            rec.update(status="failed", error=_message(exc), ended=time.time())
            if rec.get("run_id"):
                self._close(rec["run_id"], ctx, {}, error=rec["error"])
            self.emit(rec)
            return
        rec.update(status="done", outputs=outputs, ended=time.time())
        self.outputs[step.name] = outputs
        self._close(run_id, ctx, outputs)
        self.emit(rec)

    def _open(self, step: Step, parent: str, key: str, material: dict[str, Any]) -> str:
        run = self.client.create_run(
            self.p.project,
            f"{self.p.name}.{step.name}",
            parent_id=parent,
            params={k: _short(v) for k, v in material["inputs"].items()},
            tags={
                "carnet.kind": "pipeline_step",
                "carnet.pipeline.name": self.p.name,
                "carnet.pipeline.step": step.name,
                "carnet.pipeline.step_kind": step.kind,
                "carnet.pipeline.key": key,
                "carnet.pipeline.run": parent,
            },
        )
        self.client.log_artifact_bytes(run.id, _dump(material), INPUTS_PATH)
        return str(run.id)

    def _close(
        self, run_id: str, ctx: StepContext, outputs: dict[str, Any], error: str | None = None
    ) -> None:
        for path, data in ctx.logs.items():
            self.client.log_artifact_bytes(run_id, data, path)
        if error is None:
            self.client.log_artifact_bytes(run_id, _dump(outputs), OUTPUTS_PATH)
            for k, v in outputs.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    self.client.log_metric(run_id, k, float(v))
            self.client.end_run(run_id, "finished")
        else:
            self.client.end_run(run_id, "failed", error=error[:2000])

    def _record(
        self, step: Step, parent: str, rec: dict[str, Any], material: dict[str, Any], *, reused: bool
    ) -> str:
        """A finished child run standing for a reused step (so every pipeline run has all its steps)."""
        run = self.client.create_run(
            self.p.project,
            f"{self.p.name}.{step.name}",
            parent_id=parent,
            tags={
                "carnet.kind": "pipeline_step",
                "carnet.pipeline.name": self.p.name,
                "carnet.pipeline.step": step.name,
                "carnet.pipeline.step_kind": step.kind,
                "carnet.pipeline.run": parent,
                "carnet.pipeline.reused_from": str(rec["reused_from"]),
            },
        )
        if material:
            self.client.log_artifact_bytes(run.id, _dump(material), INPUTS_PATH)
        self.client.log_artifact_bytes(run.id, _dump(rec["outputs"]), OUTPUTS_PATH)
        self.client.end_run(run.id, "finished")
        return str(run.id)


def _cacheable(step: Step, inputs: Mapping[str, Any]) -> bool:
    if step.kind == "promote":
        return bool(inputs.get("dry_run", False))
    return step.spec.cacheable


def _still_there(client: Any, step: Step, outputs: Mapping[str, Any]) -> bool:
    """Whether what a cached step made still exists (a deleted run or dataset means run again)."""
    try:
        if step.kind.startswith("data."):
            return bool(client.get_dataset(str(outputs["ref"])).digest == outputs.get("digest"))
        if step.kind in ("train", "automl", "evaluate"):
            run = client.get_run(str(outputs["run_id"]))
            return str(getattr(run.status, "value", run.status)).lower() == "finished" and not run.deleted
        if step.kind == "register":
            client.get_model_version(str(outputs["model"]), int(outputs["version"]))
    except (NotFound, KeyError, AttributeError):
        return False
    return True


def _when_text(step: Step) -> str:
    assert step.when is not None
    source, out, expect = step.when
    return f"{'' if expect else 'not '}{source}.{out}"


def _message(exc: BaseException) -> str:
    if isinstance(exc, CarnetError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 500 else text[:497] + "..."


def _dump(data: Any) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True, default=str).encode()


def _read_json(client: Any, run_id: str, path: str) -> Any:
    with tempfile.TemporaryDirectory(prefix="carnet-pipeline-") as tmp:
        try:
            files = client.download_artifact(run_id, path, tmp)
        except NotFound:
            return None
        if not files:
            return None
        return json.loads(Path(files[0]).read_text(encoding="utf-8"))


def _search(client: Any, project: str, where: str, n: int) -> list[Any]:
    """The newest runs of ``project`` matching ``where`` (none when the project does not exist yet)."""
    try:
        return list(
            client.search_runs(project, filter=where, order_by=["start_time desc"], max_results=n).runs
        )
    except NotFound:
        return []


def _previous_steps(client: Any, pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """The finished steps of the latest run of this pipeline that has a graph (for ``--from``)."""
    where = f"tags.`carnet.pipeline.name` = '{pipeline.name}' and tags.`carnet.kind` = 'pipeline'"
    for run in _search(client, pipeline.project, where, 20):
        graph = _read_json(client, run.id, GRAPH_PATH)
        if graph:
            return {s["name"]: s for s in graph["steps"] if s["status"] in ("done", "reused")}
    return {}


def plan_pipeline(
    client: Any, source: Any, *, params: Mapping[str, str] | None = None, from_step: str | None = None
) -> dict[str, Any]:
    """What ``run_pipeline`` would do, without running anything: each step reused, run or skipped."""
    pipeline, base = read_pipeline(source, params)
    runner = _Runner(client, pipeline, base, executor=None, progress=None, on_event=None)
    forced, previous = _from(client, pipeline, from_step)
    rows: list[dict[str, Any]] = []
    for step in pipeline.steps:
        row: dict[str, Any] = {"name": step.name, "kind": step.kind, "needs": list(step.needs)}
        ctx = runner.ctx(step)
        _check_documents(runner, step, ctx)
        if step.name in previous:
            row.update(
                action="reuse",
                reused_from=previous[step.name]["run_id"],
                why="--from: kept from the last run",
            )
            runner.outputs[step.name] = previous[step.name]["outputs"]
        elif not runner.known(step):
            waiting = [n for n in step.needs if n not in runner.outputs]
            why = f"its inputs come from {', '.join(waiting)}, which will run first"
            if step.when is not None and step.when[0] in waiting:
                why = f"only when {_when_text(step)} (known once {step.when[0]} has run)"
            row.update(action="run", why=why)
        else:
            cond = runner.condition(step)
            if cond is False:
                row.update(action="skip", why=f"when: {_when_text(step)} is false")
            else:
                inputs = runner.inputs_of(step)
                key, _ = runner.key(step, inputs)
                hit = None if step.name in forced else runner.cached(step, key, inputs)
                row["cache_key"] = key
                if hit is not None:
                    row.update(action="reuse", reused_from=hit[0], why="inputs unchanged")
                    runner.outputs[step.name] = hit[1]
                elif step.name in forced:
                    row.update(action="run", why=f"--from {from_step}")
                elif not _cacheable(step, inputs):
                    row.update(action="run", why="changes live state: always applied")
                else:
                    row.update(action="run", why="no finished step with these inputs")
        rows.append(row)
    return {
        "pipeline": pipeline.name,
        "project": pipeline.project,
        "params": dict(pipeline.params),
        "steps": rows,
    }


def _check_documents(runner: _Runner, step: Step, ctx: StepContext) -> None:
    """Files a step names exist and the documents it reads are valid, before anything runs."""
    from carnet.pipelines.steps import check_documents, resolve_path

    value = step.inputs.get("path")
    if step.kind == "data.add" and isinstance(value, str) and not find_refs(value):
        resolve_path(ctx, value, "path")
    for dep in step.deps:
        resolve_path(ctx, dep, "deps")
    check_documents(ctx, step.kind, dict(step.inputs))


def _from(
    client: Any, pipeline: Pipeline, from_step: str | None
) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """For ``--from STEP``: the steps forced to run, and the earlier steps' previous records."""
    if from_step is None:
        return set(), {}
    forced = set(pipeline.downstream(from_step))
    before = _previous_steps(client, pipeline)
    earlier = [s.name for s in pipeline.steps if s.name not in forced]
    missing = [n for n in earlier if n not in before]
    if missing:
        raise InvalidInput(
            f"--from {from_step}: no earlier run of pipeline {pipeline.name} finished step {missing[0]}; "
            "run the whole pipeline first",
            field="from",
        )
    return forced, {n: before[n] for n in earlier}


def run_pipeline(
    client: Any,
    source: Any,
    *,
    params: Mapping[str, str] | None = None,
    from_step: str | None = None,
    executor: str | None = None,
    progress: ProgressFn | None = None,
    on_event: EventFn | None = None,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Run a pipeline: every step a child run of one pipeline run; returns the run's graph.

    The pipeline is checked completely first (kinds, fields, references, cycles, files), so a bad
    file fails before anything runs. A failed step stops the steps that need it (``not run``);
    the others still run. The result's ``status`` is ``FINISHED`` or ``FAILED``; ``passed`` is
    False when a step failed or a promotion's gates failed.
    """
    pipeline, base = read_pipeline(source, params)
    forced, previous = _from(client, pipeline, from_step)
    runner = _Runner(
        client, pipeline, base, executor=executor, progress=progress, on_event=on_event, use_cache=use_cache
    )
    for step in pipeline.steps:
        _check_documents(runner, step, runner.ctx(step))
    run = client.create_run(
        pipeline.project,
        f"pipeline-{pipeline.name}",
        params={k: _short(v) for k, v in pipeline.params.items()},
        tags={
            "carnet.kind": PIPELINE_KIND,
            "carnet.pipeline.name": pipeline.name,
            **({"carnet.pipeline.from": from_step} if from_step else {}),
        },
    )
    client.log_artifact_bytes(
        run.id, _dump({"document": pipeline.document, "params": pipeline.params}), "pipeline/pipeline.json"
    )
    started = time.time()
    status = "FINISHED"
    try:
        for step in pipeline.steps:
            runner.run_step(step, run.id, step.name in forced, previous.get(step.name))
    except BaseException:
        status = "KILLED"
        raise
    finally:
        steps = [
            runner.records.get(s.name)
            or {"name": s.name, "kind": s.kind, "needs": list(s.needs), "status": "not run"}
            for s in pipeline.steps
        ]
        failed = [s["name"] for s in steps if s["status"] == "failed"]
        status = "FAILED" if failed and status == "FINISHED" else status
        refused = [
            s["name"] for s in steps if s["kind"] == "promote" and s.get("outputs", {}).get("passed") is False
        ]
        graph = {
            "run_id": run.id,
            "name": pipeline.name,
            "project": pipeline.project,
            "params": dict(pipeline.params),
            "from": from_step,
            "status": status,
            "passed": status == "FINISHED" and not refused,
            "failed": failed,
            "refused": refused,
            "started": started,
            "ended": time.time(),
            "edges": [list(e) for e in pipeline.edges()],
            "steps": steps,
        }
        client.log_artifact_bytes(run.id, _dump(graph), GRAPH_PATH)
        client.set_tags(run.id, {"carnet.pipeline.passed": str(graph["passed"]).lower()})
        client.end_run(run.id, status.lower(), error=(f"step {failed[0]} failed" if failed else None))
    return graph


def show_pipeline(client: Any, run_id: str) -> dict[str, Any]:
    """The graph of a pipeline run (its steps' status, times and outputs)."""
    run_id = client.resolve_run_id(run_id)
    run = client.get_run(run_id)
    if run.tags.get("carnet.kind") != PIPELINE_KIND:
        raise InvalidInput(
            f"run {run_id} is not a pipeline run (carnet pipeline run makes them)", field="run_id"
        )
    graph = _read_json(client, run_id, GRAPH_PATH)
    if graph is None:  # still running: what the child runs say so far
        doc = _read_json(client, run_id, "pipeline/pipeline.json") or {}
        pipeline = load_pipeline(doc.get("document") or {})
        children = {}
        for cid in client.child_runs(run_id):
            child = client.get_run(cid)
            children[child.tags.get("carnet.pipeline.step")] = child
        steps: list[dict[str, Any]] = []
        for s in pipeline.steps:
            child = children.get(s.name)
            state = "pending" if child is None else str(getattr(child.status, "value", child.status)).lower()
            steps.append(
                {
                    "name": s.name,
                    "kind": s.kind,
                    "needs": list(s.needs),
                    "status": {"finished": "done", "running": "running"}.get(state, state),
                    "run_id": child.id if child else None,
                    "started": child.start_time if child else None,
                    "ended": child.end_time if child else None,
                    "outputs": {},
                    "error": None,
                }
            )
        graph = {
            "run_id": run_id,
            "name": pipeline.name,
            "project": pipeline.project,
            "status": "RUNNING",
            "edges": [list(e) for e in pipeline.edges()],
            "steps": steps,
            "params": doc.get("params", {}),
        }
    return dict(graph)


def reproduce_pipeline(client: Any, run_id: str, *, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Re-run a pipeline run's computations from what it recorded and compare the results.

    Data steps check that their versions still hold the recorded digests; train steps re-train from
    their recorded spec, data and seed (``carnet runs reproduce``); evaluate steps evaluate again;
    dry-run promotions run their gates again. Steps that change live state (register, a real
    promotion, deploy, monitor) are not applied again.
    """
    graph = show_pipeline(client, run_id)
    out: list[dict[str, Any]] = []
    warnings: list[str] = []
    for step in graph["steps"]:
        outputs = step.get("outputs") or {}
        row: dict[str, Any] = {
            "name": step["name"],
            "kind": step["kind"],
            "original_run": outputs.get("run_id") or step.get("run_id"),
        }
        if step["status"] not in ("done", "reused"):
            row.update(result="not run", differing=False)
        elif step["kind"].startswith("data."):
            current = client.get_dataset(outputs["ref"])
            same = current.digest == outputs.get("digest")
            row.update(result="same digest" if same else "digest changed", differing=not same)
        elif step["kind"] == "train":
            again = client.reproduce(outputs["run_id"], progress=progress)
            warnings += again.get("warnings", [])
            row.update(
                new_run=again["new_run_id"],
                metrics=again["metrics"],
                differing=bool(again["differing"]),
                result="identical metrics"
                if not again["differing"]
                else f"differ: {', '.join(again['differing'])}",
            )
        elif step["kind"] == "evaluate":
            inputs = _read_json(client, step["run_id"], INPUTS_PATH) or {}
            recorded = inputs.get("inputs") or {}
            res = client.evaluate(recorded["run"], recorded["dataset"]["ref"], progress=progress)
            keys = sorted(set(outputs.get("metrics", {})) & set(res.metrics))
            differing = [k for k in keys if not _close(outputs["metrics"][k], res.metrics[k])]
            row.update(
                new_run=res.run_id,
                metrics={k: [outputs["metrics"][k], res.metrics[k]] for k in keys},
                differing=bool(differing),
                result="identical metrics" if not differing else f"differ: {', '.join(differing)}",
            )
        elif step["kind"] == "promote" and outputs.get("dry_run"):
            inputs = (_read_json(client, step["run_id"], INPUTS_PATH) or {}).get("inputs") or {}
            p = client.promote(
                outputs["model"],
                int(outputs["version"]),
                outputs["alias"],
                dry_run=True,
                policy=inputs.get("policy"),
                progress=progress,
            )
            before = [(g["gate"], g["passed"]) for g in outputs.get("gates", [])]
            now = [(r.gate, r.passed) for r in p.results]
            row.update(
                result="same verdicts" if before == now else "verdicts differ", differing=before != now
            )
        else:
            row.update(result="not applied again (changes live state)", differing=False)
        out.append(row)
    differing = [r["name"] for r in out if r["differing"]]
    return {
        "run_id": graph["run_id"],
        "pipeline": graph["name"],
        "steps": out,
        "differing": differing,
        "warnings": list(dict.fromkeys(warnings)),
    }


def _close(a: Any, b: Any) -> bool:
    try:
        fa, fb = float(a), float(b)
    except (TypeError, ValueError):
        return bool(a == b)
    return abs(fa - fb) <= 1e-9 * max(1.0, abs(fa), abs(fb)) or (fa != fa and fb != fb)
