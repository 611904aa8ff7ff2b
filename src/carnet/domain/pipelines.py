"""Pipelines: a file of named steps (``carnet.pipeline.yaml``), checked completely before anything runs.

A pipeline names steps of the kinds carnet already has (add, derive and de-identify data; train;
AutoML; evaluate; register; promote; deploy; create a monitor). A step's inputs may refer to the
parameters (``${params.alias}``) and to earlier steps' outputs (``${train.run_id}``); a step runs
only ``when`` an earlier step's boolean output holds. :func:`load_pipeline` takes the document as a
mapping (the edge reads files) and refuses, naming the step and field: unknown kinds and fields,
missing required fields, wrong literal types, references to unknown steps, outputs or parameters,
references whose type does not fit the field, and cycles.

The kinds are one declarative table, :data:`STEP_KINDS`: each kind's inputs with their types and
its outputs with theirs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from carnet.errors import InvalidInput

__all__ = [
    "GRAPH_PATH",
    "PIPELINE_KEYS",
    "STEP_KINDS",
    "Pipeline",
    "Ref",
    "Step",
    "StepKind",
    "find_refs",
    "load_pipeline",
    "parse_param_value",
    "substitute",
]

#: a reference inside a value: ``${step.output}`` or ``${params.name}``
_REF = re.compile(r"\$\{\s*([A-Za-z_][\w-]*)\.([A-Za-z_]\w*)\s*\}")
_NAME = re.compile(r"^[A-Za-z_][\w-]{0,63}$")
#: the artifact of a pipeline run that holds its graph (steps, status, keys, outputs)
GRAPH_PATH = "pipeline/graph.json"
#: the keys of a pipeline document
PIPELINE_KEYS = ("name", "description", "project", "params", "steps")
#: keys every step may have besides its kind's inputs
_COMMON = ("kind", "needs", "when", "deps", "description")

# input types: str, int, float, bool, doc (a file path or an inline mapping), mapping, list, ref
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "doc": (str, Mapping),
    "mapping": (Mapping,),
    "list": (list, tuple),
    "command": (str, list, tuple),
}
# which output types fit which input types
_FITS: dict[str, frozenset[str]] = {
    "str": frozenset({"str", "int", "float"}),
    "int": frozenset({"int"}),
    "float": frozenset({"int", "float"}),
    "bool": frozenset({"bool"}),
    "doc": frozenset({"str", "mapping"}),
    "mapping": frozenset({"mapping"}),
    "list": frozenset({"list"}),
    "command": frozenset({"str", "list"}),
}


@dataclass(frozen=True)
class StepKind:
    """One kind of step: its inputs (name -> type, required ones listed) and outputs (name -> type)."""

    name: str
    description: str
    inputs: Mapping[str, str]
    required: tuple[str, ...]
    outputs: Mapping[str, str]
    #: whether unchanged inputs reuse the previous outputs (steps that change live state re-apply)
    cacheable: bool = True


#: every step kind, once
STEP_KINDS: dict[str, StepKind] = {
    k.name: k
    for k in (
        StepKind(
            "data.add",
            "store a CSV or Parquet file as a dataset version",
            {"path": "str", "name": "str", "project": "str", "description": "str", "format": "str"},
            ("path", "name"),
            {"ref": "str", "name": "str", "version": "int", "digest": "str", "rows": "int"},
        ),
        StepKind(
            "data.derive",
            "run a command that turns a dataset version into a file, stored as a child version",
            {"from": "str", "command": "command", "output": "str", "name": "str", "description": "str"},
            ("from", "command", "output", "name"),
            {"ref": "str", "name": "str", "version": "int", "digest": "str", "rows": "int"},
        ),
        StepKind(
            "data.deidentify",
            "de-identify a dataset version into a new dataset (carnet data deidentify)",
            {"from": "str", "config": "doc", "name": "str", "description": "str"},
            ("from", "config"),
            {"ref": "str", "name": "str", "version": "int", "digest": "str", "rows": "int"},
        ),
        StepKind(
            "train",
            "train from a spec (carnet train), optionally on another dataset version",
            {"spec": "doc", "dataset": "str", "set": "mapping", "executor": "str", "jobs": "int"},
            ("spec",),
            {"run_id": "str", "metrics": "mapping", "model": "str"},
        ),
        StepKind(
            "automl",
            "search model families and settings within a time budget (carnet train automl)",
            {
                "dataset": "str",
                "target": "str",
                "task": "str",
                "time_budget": "float",
                "max_trials": "int",
                "seed": "int",
                "executor": "str",
                "jobs": "int",
            },
            ("dataset", "target"),
            {"run_id": "str", "study_run_id": "str", "metrics": "mapping", "model": "str"},
        ),
        StepKind(
            "evaluate",
            "evaluate a run's model on a dataset version",
            {"run": "str", "dataset": "str"},
            ("run", "dataset"),
            {"run_id": "str", "metrics": "mapping"},
        ),
        StepKind(
            "register",
            "register a run's model as the next version of a registered model",
            {"run": "str", "model": "str", "description": "str"},
            ("run", "model"),
            {"model": "str", "version": "int", "ref": "str"},
        ),
        StepKind(
            "promote",
            "run a policy's gates and move an alias when they pass (dry_run: gates only)",
            {"model": "str", "version": "int", "alias": "str", "policy": "doc", "dry_run": "bool"},
            ("model", "version"),
            {
                "model": "str",
                "version": "int",
                "alias": "str",
                "passed": "bool",
                "applied": "bool",
                "dry_run": "bool",
                "gates": "list",
                "policy": "mapping",
                "promotion_id": "str",
            },
        ),
        StepKind(
            "deploy",
            "create or update a deployment (carnet deploy set)",
            {"deployment": "doc"},
            ("deployment",),
            {"endpoint": "str", "revision": "int"},
            cacheable=False,
        ),
        StepKind(
            "monitor",
            "create a monitor (carnet monitor create); an existing one of that name is kept",
            {"spec": "doc"},
            ("spec",),
            {"name": "str", "created": "bool"},
            cacheable=False,
        ),
    )
}


@dataclass(frozen=True)
class Ref:
    """A reference ``${source.field}``: ``source`` is ``params`` or a step's name."""

    source: str
    field: str

    def __str__(self) -> str:
        return f"${{{self.source}.{self.field}}}"


@dataclass(frozen=True)
class Step:
    """One checked step: its kind, its raw inputs (references unresolved) and what it waits for."""

    name: str
    kind: str
    inputs: Mapping[str, Any]
    needs: tuple[str, ...] = ()
    when: tuple[str, str, bool] | None = None
    deps: tuple[str, ...] = ()
    description: str = ""

    @property
    def spec(self) -> StepKind:
        return STEP_KINDS[self.kind]


@dataclass(frozen=True)
class Pipeline:
    """A checked pipeline: its steps in an order where every step follows what it needs."""

    name: str
    project: str
    params: Mapping[str, Any]
    steps: tuple[Step, ...]
    description: str = ""
    document: Mapping[str, Any] = field(default_factory=dict)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise InvalidInput(f"no step named {name!r}; steps are {', '.join(self.names)}", field="step")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def downstream(self, name: str) -> list[str]:
        """``name`` and every step that needs it, directly or not, in run order."""
        self.step(name)
        hit = {name}
        for s in self.steps:
            if set(s.needs) & hit:
                hit.add(s.name)
        return [s.name for s in self.steps if s.name in hit]

    def edges(self) -> list[tuple[str, str]]:
        """(from, to) for every dependency."""
        return [(n, s.name) for s in self.steps for n in s.needs]


def find_refs(value: Any) -> list[Ref]:
    """Every reference in a value (strings, nested mappings and lists)."""
    out: list[Ref] = []
    if isinstance(value, str):
        out += [Ref(m.group(1), m.group(2)) for m in _REF.finditer(value)]
    elif isinstance(value, Mapping):
        for v in value.values():
            out += find_refs(v)
    elif isinstance(value, list | tuple):
        for v in value:
            out += find_refs(v)
    return out


def substitute(value: Any, lookup: Mapping[tuple[str, str], Any]) -> Any:
    """``value`` with every reference replaced; a string that is one reference keeps the value's type."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value.strip())
        if whole:
            return lookup[(whole.group(1), whole.group(2))]
        return _REF.sub(lambda m: _text(lookup[(m.group(1), m.group(2))]), value)
    if isinstance(value, Mapping):
        return {k: substitute(v, lookup) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(v, lookup) for v in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_param_value(text: str, default: Any, name: str) -> Any:
    """A ``--param name=TEXT`` value, converted to the type of the parameter's default."""
    field_ = f"params.{name}"
    if isinstance(default, bool):
        low = text.strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise InvalidInput(f"parameter {name} is a boolean: give true or false, got {text!r}", field=field_)
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(f"parameter {name} is an integer, got {text!r}", field=field_) from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise InvalidInput(f"parameter {name} is a number, got {text!r}", field=field_) from None
    if default is None or isinstance(default, str):
        return text
    raise InvalidInput(
        f"parameter {name} is a {type(default).__name__}: it cannot be set from the command line",
        field=field_,
    )


def _suggest(word: str, options: Sequence[str]) -> str:
    close = get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _param_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    return "str"


def _check_name(name: Any, what: str, field_: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"{what} must be 1-64 letters, digits, _ or - starting with a letter or _, got {name!r}",
            field=field_,
        )
    if name == "params":
        raise InvalidInput("a step cannot be named params (it is the parameters' prefix)", field=field_)
    return name


def _check_literal(kind: StepKind, key: str, value: Any, where: str) -> None:
    """A literal input (a whole reference is checked later, against the output's type)."""
    want = kind.inputs[key]
    if isinstance(value, str) and _REF.fullmatch(value.strip()):
        return
    if isinstance(value, str) and want not in ("str", "doc", "command") and find_refs(value):
        raise InvalidInput(
            f"{where}: a {want} cannot be built from text with references; write the reference alone",
            field=where,
        )
    ok = isinstance(value, _PY_TYPES[want]) and not (want in ("int", "float") and isinstance(value, bool))
    if not ok:
        raise InvalidInput(f"{where} must be a {want}, got {_type_name(value)} {value!r}", field=where)


def _parse_when(text: Any, where: str) -> tuple[str, str, bool]:
    if not isinstance(text, str):
        raise InvalidInput(f"{where} must be STEP.OUTPUT or not STEP.OUTPUT, got {text!r}", field=where)
    words = text.strip()
    negate = False
    if words.startswith("not "):
        negate, words = True, words[4:].strip()
    m = re.fullmatch(r"\$?\{?\s*([A-Za-z_][\w-]*)\.([A-Za-z_]\w*)\s*\}?", words)
    if not m:
        raise InvalidInput(
            f"{where} must be STEP.OUTPUT or not STEP.OUTPUT (e.g. promote.passed), got {text!r}", field=where
        )
    return m.group(1), m.group(2), not negate


def _step(name: str, raw: Any) -> Step:
    where = f"steps.{name}"
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where} must be a mapping with a kind, got {_type_name(raw)}", field=where)
    kind_name = raw.get("kind")
    if kind_name not in STEP_KINDS:
        raise InvalidInput(
            f"{where}.kind must be one of {', '.join(STEP_KINDS)}, got {kind_name!r}"
            + (_suggest(kind_name, list(STEP_KINDS)) if isinstance(kind_name, str) else ""),
            field=f"{where}.kind",
        )
    kind = STEP_KINDS[kind_name]
    allowed = (*_COMMON, *kind.inputs)
    for key in raw:
        if key not in allowed:
            raise InvalidInput(
                f"{where}: unknown field {key!r} for a {kind_name} step{_suggest(str(key), allowed)}; "
                f"its fields are {', '.join(kind.inputs)}",
                field=f"{where}.{key}",
            )
    for key in kind.required:
        if raw.get(key) is None:
            raise InvalidInput(f"{where}: a {kind_name} step needs {key}", field=f"{where}.{key}")
    inputs = {k: v for k, v in raw.items() if k in kind.inputs and v is not None}
    for key, value in inputs.items():
        _check_literal(kind, key, value, f"{where}.{key}")
    needs = raw.get("needs") or []
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise InvalidInput(f"{where}.needs must be a list of step names", field=f"{where}.needs")
    deps = raw.get("deps") or []
    if isinstance(deps, str):
        deps = [deps]
    if not isinstance(deps, list) or not all(isinstance(d, str) and d for d in deps):
        raise InvalidInput(f"{where}.deps must be a list of file or folder paths", field=f"{where}.deps")
    when = _parse_when(raw["when"], f"{where}.when") if raw.get("when") is not None else None
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise InvalidInput(f"{where}.description must be text", field=f"{where}.description")
    return Step(name, kind_name, inputs, tuple(needs), when, tuple(deps), description)


def _order(steps: dict[str, Step]) -> list[Step]:
    """Steps in file order, moved after what they need; a cycle is refused, naming its steps."""
    done: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            loop = [*path[path.index(name) :], name]
            raise InvalidInput(
                f"steps form a cycle: {' -> '.join(loop)}; a step cannot need its own outputs",
                field=f"steps.{name}",
            )
        state[name] = 1
        for dep in steps[name].needs:
            visit(dep, [*path, name])
        state[name] = 2
        done.append(name)

    for name in steps:
        visit(name, [])
    return [steps[n] for n in done]


def load_pipeline(doc: Mapping[str, Any]) -> Pipeline:
    """Check a pipeline document completely and return it with its steps in run order.

    Raises:
        InvalidInput: anything wrong, with ``field`` naming the step and key (``steps.train.spec``).
    """
    if not isinstance(doc, Mapping):
        raise InvalidInput("a pipeline must be a mapping with name and steps", field="pipeline")
    for key in doc:
        if key not in PIPELINE_KEYS:
            raise InvalidInput(
                f"unknown pipeline key {key!r}{_suggest(str(key), PIPELINE_KEYS)}; "
                f"keys are {', '.join(PIPELINE_KEYS)}",
                field=str(key),
            )
    name = _check_name(doc.get("name"), "name", "name")
    project = doc.get("project") or "default"
    if not isinstance(project, str) or not re.fullmatch(r"[\w.-]{1,128}", project):
        raise InvalidInput(f"project must be a project name, got {project!r}", field="project")
    params = doc.get("params") or {}
    if not isinstance(params, Mapping):
        raise InvalidInput("params must be a mapping of names to default values", field="params")
    for key in params:
        _check_name(key, "a parameter name", f"params.{key}")
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, Mapping) or not raw_steps:
        raise InvalidInput("steps must be a non-empty mapping of step names to steps", field="steps")
    steps: dict[str, Step] = {}
    for step_name, raw in raw_steps.items():
        _check_name(step_name, "a step name", f"steps.{step_name}")
        steps[step_name] = _step(step_name, raw)
    # references: known source and output, type fits; they add to ``needs``
    for step in list(steps.values()):
        where = f"steps.{step.name}"
        needs = list(step.needs)
        for dep in needs:
            if dep not in steps:
                raise InvalidInput(
                    f"{where}.needs: no step named {dep!r}{_suggest(dep, list(steps))}",
                    field=f"{where}.needs",
                )
        for key, value in step.inputs.items():
            for ref in find_refs(value):
                _check_ref(ref, steps, params, step, f"{where}.{key}")
                if ref.source != "params" and ref.source not in needs:
                    needs.append(ref.source)
            whole = isinstance(value, str) and _REF.fullmatch(value.strip())
            if whole:
                ref = find_refs(value)[0]
                got = (
                    _param_type(params[ref.field])
                    if ref.source == "params"
                    else (steps[ref.source].spec.outputs[ref.field])
                )
                want = step.spec.inputs[key]
                if got not in _FITS[want]:
                    raise InvalidInput(
                        f"{where}.{key} must be a {want}, but {ref} is a {got}", field=f"{where}.{key}"
                    )
        if step.when is not None:
            source, out, _ = step.when
            ref = Ref(source, out)
            _check_ref(ref, steps, params, step, f"{where}.when")
            got = _param_type(params[out]) if source == "params" else steps[source].spec.outputs[out]
            if got != "bool":
                raise InvalidInput(
                    f"{where}.when needs a boolean, but {ref} is a {got}", field=f"{where}.when"
                )
            if source != "params" and source not in needs:
                needs.append(source)
        steps[step.name] = Step(
            step.name, step.kind, step.inputs, tuple(needs), step.when, step.deps, step.description
        )
    ordered = _order(steps)
    description = doc.get("description") or ""
    return Pipeline(name, project, dict(params), tuple(ordered), str(description), dict(doc))


def _check_ref(
    ref: Ref, steps: Mapping[str, Step], params: Mapping[str, Any], step: Step, where: str
) -> None:
    if ref.source == "params":
        if ref.field not in params:
            raise InvalidInput(
                f"{where}: {ref} names no parameter{_suggest(ref.field, list(params))}; "
                "declare it under params",
                field=where,
            )
        return
    if ref.source not in steps:
        raise InvalidInput(f"{where}: {ref} names no step{_suggest(ref.source, list(steps))}", field=where)
    if ref.source == step.name:
        raise InvalidInput(f"{where}: a step cannot use its own output {ref}", field=where)
    outputs = steps[ref.source].spec.outputs
    if ref.field not in outputs:
        raise InvalidInput(
            f"{where}: a {steps[ref.source].kind} step has no output {ref.field!r}"
            f"{_suggest(ref.field, list(outputs))}; its outputs are {', '.join(outputs)}",
            field=where,
        )
