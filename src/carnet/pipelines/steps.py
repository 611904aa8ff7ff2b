"""What each kind of pipeline step does, through the SDK's client: the same calls as the CLI verbs.

Each kind has two functions: ``prepare`` turns the step's resolved inputs into the material of its
cache key (file contents digested, documents read and checked, dataset names resolved to their
digest) and ``execute`` does the work and returns the step's outputs (the fields of
:data:`carnet.domain.pipelines.STEP_KINDS`). Both only call the client, so a pipeline runs the same
on a local workspace and against a server.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carnet.digests import hash_bytes, hash_file
from carnet.documents import read_document
from carnet.errors import AlreadyExists, GateFailed, InvalidInput

__all__ = ["KINDS", "StepContext", "resolve_path"]

ProgressFn = Callable[[str, int, int], None]


@dataclass
class StepContext:
    """What a step runs with: the client, the pipeline's project and folder, where work runs."""

    client: Any
    project: str
    base_dir: Path
    where: str
    executor: str | None = None
    progress: ProgressFn | None = None
    #: files the step wrote for its record (artifact path -> bytes)
    logs: dict[str, bytes] = field(default_factory=dict)


def resolve_path(ctx: StepContext, text: str, key: str) -> Path:
    """A path of the pipeline file, relative to its folder; a missing file is refused naming the field."""
    path = Path(text).expanduser()
    path = path if path.is_absolute() else ctx.base_dir / path
    if not path.exists():
        raise InvalidInput(
            f"{ctx.where}.{key}: no file {text!r} (paths are relative to the pipeline file)",
            field=f"{ctx.where}.{key}",
        )
    return path


def _doc(ctx: StepContext, value: Any, key: str) -> dict[str, Any]:
    """A document input: an inline mapping, or a YAML/JSON file next to the pipeline."""
    if isinstance(value, Mapping):
        return dict(value)
    path = resolve_path(ctx, str(value), key)
    data = read_document(path, f"{ctx.where}.{key}")
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{ctx.where}.{key}: {value} must hold a mapping", field=f"{ctx.where}.{key}")
    return dict(data)


def _dataset(ctx: StepContext, ref: str, key: str) -> dict[str, Any]:
    """A dataset reference resolved now: its exact version and digest (a name alone means its latest)."""
    v = ctx.client.get_dataset(str(ref))
    return {"ref": f"{v.name}@{v.version}", "digest": v.digest}


def _dataset_outputs(v: Any) -> dict[str, Any]:
    return {
        "ref": f"{v.name}@{v.version}",
        "name": v.name,
        "version": v.version,
        "digest": v.digest,
        "rows": v.num_rows,
    }


def _dependencies(ctx: StepContext, deps: tuple[str, ...]) -> dict[str, str]:
    """The digest of every file a step declares it depends on (folders: every file inside)."""
    out: dict[str, str] = {}
    for dep in deps:
        path = resolve_path(ctx, dep, "deps")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            out[str(f.relative_to(ctx.base_dir) if f.is_relative_to(ctx.base_dir) else f)] = hash_file(
                f
            ).digest
    return out


# data.add ---------------------------------------------------------------------------------------


def _add_prepare(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    path = resolve_path(ctx, str(inputs["path"]), "path")
    if not path.is_file():
        raise InvalidInput(f"{ctx.where}.path: {inputs['path']} is not a file", field=f"{ctx.where}.path")
    return {**inputs, "path": hash_file(path).digest}


def _add_execute(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    path = resolve_path(ctx, str(inputs["path"]), "path")
    kwargs = {k: inputs[k] for k in ("description", "format") if k in inputs}
    v, _ = ctx.client.add_dataset(
        path, str(inputs["name"]), project=inputs.get("project") or ctx.project, **kwargs
    )
    return _dataset_outputs(v)


# data.derive ------------------------------------------------------------------------------------


def _command(inputs: dict[str, Any], where: str) -> list[str]:
    raw = inputs["command"]
    words = shlex.split(raw) if isinstance(raw, str) else [str(w) for w in raw]
    if not words:
        raise InvalidInput(f"{where}.command is empty", field=f"{where}.command")
    return words


def _derive_prepare(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {**inputs, "from": _dataset(ctx, inputs["from"], "from"), "command": _command(inputs, ctx.where)}


def _derive_execute(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    source = _dataset(ctx, inputs["from"], "from")["ref"]
    output = Path(str(inputs["output"])).expanduser()
    output = output if output.is_absolute() else ctx.base_dir / output
    with tempfile.TemporaryDirectory(prefix="carnet-derive-") as tmp:
        given = ctx.client.download_dataset(source, Path(tmp))
        words = [
            w.replace("{input}", str(given)).replace("{output}", str(output))
            for w in _command(inputs, ctx.where)
        ]
        output.parent.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(words, cwd=ctx.base_dir, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise InvalidInput(
                f"{ctx.where}.command: cannot run {words[0]!r}: {exc.strerror}", field=f"{ctx.where}.command"
            ) from None
    ctx.logs["logs/command.txt"] = (
        f"$ {shlex.join(words)}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}\n"
        f"--- exit {done.returncode}\n"
    ).encode()
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"the command exited with {done.returncode}: {' | '.join(tail)}")
    if not output.is_file():
        raise RuntimeError(f"the command did not write {inputs['output']}")
    v, _ = ctx.client.add_dataset(
        output,
        str(inputs["name"]),
        project=ctx.project,
        parent=source,
        source=shlex.join(_command(inputs, ctx.where)),
        description=inputs.get("description", ""),
    )
    return _dataset_outputs(v)


# data.deidentify --------------------------------------------------------------------------------


def _deid_prepare(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        **inputs,
        "from": _dataset(ctx, inputs["from"], "from"),
        "config": _doc(ctx, inputs["config"], "config"),
    }


def _deid_execute(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    v, _ = ctx.client.deidentify_dataset(
        _dataset(ctx, inputs["from"], "from")["ref"],
        _doc(ctx, inputs["config"], "config"),
        name=inputs.get("name"),
        description=inputs.get("description", ""),
    )
    return _dataset_outputs(v)


# train ------------------------------------------------------------------------------------------


def _set_dotted(target: dict[str, Any], key: str, value: Any, where: str) -> None:
    parts = key.split(".")
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if child is None or isinstance(child, str):
            child = {} if child is None else {"name": child}
            node[part] = child
        if not isinstance(child, dict):
            raise InvalidInput(
                f"{where}.set.{key}: {part} is not a mapping in the spec", field=f"{where}.set.{key}"
            )
        node = child
    node[parts[-1]] = value


def train_spec(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    """The spec a train step runs: its document, the step's ``dataset`` and ``set`` applied, checked."""
    from carnet.training import load_spec

    spec = _doc(ctx, inputs["spec"], "spec")
    if inputs.get("dataset") is not None:
        spec["dataset"] = str(inputs["dataset"])
    for key, value in (inputs.get("set") or {}).items():
        _set_dotted(spec, str(key), value, ctx.where)
    spec.setdefault("project", ctx.project)
    try:
        load_spec(spec)
    except InvalidInput as exc:
        raise InvalidInput(
            f"{ctx.where}.spec: {exc}", field=f"{ctx.where}.spec.{exc.field or ''}".rstrip(".")
        ) from None
    return spec


def _train_prepare(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    spec = train_spec(ctx, inputs)
    spec["dataset"] = _dataset(ctx, spec["dataset"], "dataset")
    return {"spec": spec, "jobs": inputs.get("jobs", 1)}


def _train_execute(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    spec = train_spec(ctx, inputs)
    spec["dataset"] = _dataset(ctx, spec["dataset"], "dataset")["ref"]
    outcome = ctx.client.train(
        spec,
        jobs=int(inputs.get("jobs", 1)),
        progress=ctx.progress,
        executor=inputs.get("executor") or ctx.executor,
    )
    if isinstance(outcome, Mapping):  # a search: its best trial refitted
        metrics = outcome.get("test_metrics") or outcome.get("metrics") or {}
        return {"run_id": str(outcome["run_id"]), "metrics": _numbers(metrics), "model": _model_name(spec)}
    return {"run_id": outcome.run_id, "metrics": _numbers(outcome.metrics), "model": _model_name(spec)}


def _model_name(spec: Mapping[str, Any]) -> str:
    model = spec.get("model")
    if isinstance(model, Mapping):
        return str(model.get("name") or "")
    return str(model or "")


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in metrics.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            continue
    return out


# automl -----------------------------------------------------------------------------------------


def _automl_prepare(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: v for k, v in inputs.items() if k != "executor"},
        "dataset": _dataset(ctx, inputs["dataset"], "dataset"),
    }


def _automl_execute(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    kwargs = {
        k: inputs[k] for k in ("target", "task", "time_budget", "max_trials", "seed", "jobs") if k in inputs
    }
    result = ctx.client.automl(
        _dataset(ctx, inputs["dataset"], "dataset")["ref"],
        project=ctx.project,
        progress=ctx.progress,
        executor=inputs.get("executor") or ctx.executor,
        **kwargs,
    )
    return {
        "run_id": str(result["run_id"]),
        "study_run_id": str(result.get("parent_run_id") or result["run_id"]),
        "metrics": _numbers(result.get("test_metrics") or {}),
        "model": str((result.get("best") or {}).get("model") or ""),
    }


# evaluate ---------------------------------------------------------------------------------------


def _evaluate_prepare(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": ctx.client.resolve_run_id(str(inputs["run"])),
        "dataset": _dataset(ctx, inputs["dataset"], "dataset"),
    }


def _evaluate_execute(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    outcome = ctx.client.evaluate(
        ctx.client.resolve_run_id(str(inputs["run"])),
        _dataset(ctx, inputs["dataset"], "dataset")["ref"],
        progress=ctx.progress,
    )
    return {"run_id": outcome.run_id, "metrics": _numbers(outcome.metrics)}


# register ---------------------------------------------------------------------------------------


def _register_prepare(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {**inputs, "run": ctx.client.resolve_run_id(str(inputs["run"]))}


def _register_execute(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    mv = ctx.client.register_model(
        ctx.client.resolve_run_id(str(inputs["run"])),
        str(inputs["model"]),
        description=inputs.get("description", ""),
    )
    return {"model": mv.name, "version": mv.version, "ref": f"{mv.name}/{mv.version}"}


# promote ----------------------------------------------------------------------------------------


def _policy(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any] | None:
    if inputs.get("policy") is None:
        return None
    from carnet.gates import load_policy, policy_to_dict

    doc = _doc(ctx, inputs["policy"], "policy")
    try:
        return policy_to_dict(load_policy(doc))
    except InvalidInput as exc:
        raise InvalidInput(f"{ctx.where}.policy: {exc}", field=f"{ctx.where}.policy") from None


def _promote_prepare(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    policy = _policy(ctx, inputs)
    if policy is None:
        from carnet.domain.policies import policy_to_dict

        stored = ctx.client.get_policy(str(inputs["model"]))
        policy = policy_to_dict(stored) if stored is not None else None
    return {**inputs, "policy": policy, "alias": inputs.get("alias", "production")}


def _promote_execute(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    alias = str(inputs.get("alias", "production"))
    dry_run = bool(inputs.get("dry_run", False))
    try:
        p = ctx.client.promote(
            str(inputs["model"]),
            int(inputs["version"]),
            alias,
            dry_run=dry_run,
            policy=_policy(ctx, inputs),
            progress=ctx.progress,
        )
    except GateFailed as exc:
        if exc.promotion is None:
            raise
        p = exc.promotion
    return {
        "model": p.name,
        "version": p.version,
        "alias": p.alias,
        "passed": bool(p.passed),
        "applied": bool(p.applied),
        "dry_run": dry_run,
        "gates": [r.to_dict() for r in p.results],
        "policy": dict(p.policy or {}),
        "promotion_id": str(p.id) if p.id else "",
    }


# deploy and monitor -----------------------------------------------------------------------------


def _deploy_prepare(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    from carnet.domain.deployments import load_deployment

    doc = _doc(ctx, inputs["deployment"], "deployment")
    try:
        load_deployment(doc)
    except InvalidInput as exc:
        raise InvalidInput(f"{ctx.where}.deployment: {exc}", field=f"{ctx.where}.deployment") from None
    return {"deployment": doc}


def _deploy_execute(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    d = ctx.client.set_deployment(_doc(ctx, inputs["deployment"], "deployment"))
    return {"endpoint": d.endpoint, "revision": int(d.revision or 0)}


def _monitor_prepare(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"spec": _doc(ctx, inputs["spec"], "spec")}


def _monitor_execute(ctx: StepContext, inputs: dict[str, Any]) -> dict[str, Any]:
    spec = _doc(ctx, inputs["spec"], "spec")
    try:
        m = ctx.client.create_monitor(spec)
    except AlreadyExists:
        return {"name": str(spec.get("name", "")), "created": False}
    return {"name": m.name, "created": True}


Prepare = Callable[[StepContext, dict[str, Any]], dict[str, Any]]
Execute = Callable[[StepContext, dict[str, Any]], dict[str, Any]]

#: kind -> (prepare: the cache key's material, execute: the outputs)
KINDS: dict[str, tuple[Prepare, Execute]] = {
    "data.add": (_add_prepare, _add_execute),
    "data.derive": (_derive_prepare, _derive_execute),
    "data.deidentify": (_deid_prepare, _deid_execute),
    "train": (_train_prepare, _train_execute),
    "automl": (_automl_prepare, _automl_execute),
    "evaluate": (_evaluate_prepare, _evaluate_execute),
    "register": (_register_prepare, _register_execute),
    "promote": (_promote_prepare, _promote_execute),
    "deploy": (_deploy_prepare, _deploy_execute),
    "monitor": (_monitor_prepare, _monitor_execute),
}


def check_documents(ctx: StepContext, kind: str, inputs: dict[str, Any]) -> None:
    """The documents a step names (files or inline) read and checked now; ones holding references wait."""
    from carnet.domain.pipelines import find_refs

    def ready(key: str) -> bool:
        value = inputs.get(key)
        return value is not None and not find_refs(value)

    if kind == "train" and ready("spec"):
        spec_inputs = {k: v for k, v in inputs.items() if not find_refs(v)}
        spec_inputs.setdefault("dataset", None)
        if spec_inputs["dataset"] is None and inputs.get("dataset") is not None:
            spec_inputs["dataset"] = "pending"  # a reference: resolved when the step runs
        train_spec(ctx, spec_inputs)
    elif kind == "promote" and ready("policy"):
        _policy(ctx, inputs)
    elif kind == "deploy" and ready("deployment"):
        _deploy_prepare(ctx, inputs)
    elif kind == "data.deidentify" and ready("config"):
        _doc(ctx, inputs["config"], "config")
    elif kind == "monitor" and ready("spec"):
        _doc(ctx, inputs["spec"], "spec")


def dependency_digests(ctx: StepContext, deps: tuple[str, ...]) -> dict[str, str]:
    """Public form of the ``deps`` digests (for the plan shown to users)."""
    return _dependencies(ctx, deps)


def digest_of(material: Any) -> str:
    """The digest of a step's key material (canonical JSON)."""
    import json

    return hash_bytes(json.dumps(material, sort_keys=True, default=str, separators=(",", ":")).encode())
