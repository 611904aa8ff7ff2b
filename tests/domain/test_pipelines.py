"""Pipeline documents are checked completely before anything runs: each mistake names the step and field."""

from __future__ import annotations

from typing import Any

import pytest

from carnet.domain.pipelines import STEP_KINDS, load_pipeline, parse_param_value, substitute
from carnet.errors import InvalidInput


def doc(**steps: Any) -> dict[str, Any]:
    base = {
        "data": {"kind": "data.add", "path": "data.csv", "name": "churn"},
        "train": {"kind": "train", "spec": "train.yaml", "dataset": "${data.ref}"},
        "register": {"kind": "register", "run": "${train.run_id}", "model": "churn"},
        "promote": {
            "kind": "promote",
            "model": "${register.model}",
            "version": "${register.version}",
            "dry_run": "${params.dry_run}",
        },
        "deploy": {"kind": "deploy", "when": "promote.applied", "deployment": "deployment.yaml"},
    }
    base.update(steps)
    return {
        "name": "churn",
        "project": "demo",
        "params": {"dry_run": True, "alias": "production"},
        "steps": base,
    }


def refused(document: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        load_pipeline(document)
    return info.value


def test_a_valid_pipeline_is_ordered_by_what_each_step_needs() -> None:
    d = doc()
    # a step written before the step it refers to still runs after it
    d["steps"] = {
        "evaluate": {"kind": "evaluate", "run": "${train.run_id}", "dataset": "${data.ref}"},
        **d["steps"],
    }
    p = load_pipeline(d)
    names = p.names
    assert names.index("evaluate") > names.index("train") > names.index("data")
    assert p.step("deploy").needs == ("promote",)
    assert p.step("deploy").when == ("promote", "applied", True)
    assert set(p.downstream("register")) == {"register", "promote", "deploy"}
    assert ("train", "evaluate") in p.edges()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"train": {"kind": "trian", "spec": "t.yaml"}}, "steps.train.kind", "did you mean 'train'"),
        ({"train": {"kind": "train", "spce": "t.yaml"}}, "steps.train.spce", "unknown field"),
        ({"train": {"kind": "train"}}, "steps.train.spec", "needs spec"),
        (
            {"register": {"kind": "register", "run": "${nope.run_id}", "model": "m"}},
            "steps.register.run",
            "names no step",
        ),
        (
            {"register": {"kind": "register", "run": "${train.runid}", "model": "m"}},
            "steps.register.run",
            "no output 'runid'",
        ),
        (
            {"register": {"kind": "register", "run": "${train.run_id}", "model": "${params.nope}"}},
            "steps.register.model",
            "names no parameter",
        ),
        (
            {"promote": {"kind": "promote", "model": "m", "version": "${data.ref}"}},
            "steps.promote.version",
            "must be a int",
        ),
        (
            {"promote": {"kind": "promote", "model": "m", "version": "three"}},
            "steps.promote.version",
            "must be a int",
        ),
        (
            {"promote": {"kind": "promote", "model": "m", "version": 1, "dry_run": "yes"}},
            "steps.promote.dry_run",
            "must be a bool",
        ),
        (
            {"deploy": {"kind": "deploy", "when": "register.version", "deployment": "d.yaml"}},
            "steps.deploy.when",
            "needs a boolean",
        ),
        (
            {"deploy": {"kind": "deploy", "when": "promote.aplied", "deployment": "d.yaml"}},
            "steps.deploy.when",
            "did you mean 'applied'",
        ),
        (
            {"deploy": {"kind": "deploy", "when": "promote applied", "deployment": "d.yaml"}},
            "steps.deploy.when",
            "STEP.OUTPUT",
        ),
        (
            {"deploy": {"kind": "deploy", "needs": ["ghost"], "deployment": "d.yaml"}},
            "steps.deploy.needs",
            "no step named 'ghost'",
        ),
        (
            {"train": {"kind": "train", "spec": "t.yaml", "dataset": "${train.run_id}"}},
            "steps.train.dataset",
            "its own output",
        ),
        ({"params": {"kind": "train", "spec": "t.yaml"}}, "steps.params", "cannot be named params"),
    ],
)
def test_bad_steps_are_refused_naming_the_step_and_field(
    change: dict[str, Any], field: str, words: str
) -> None:
    d = doc(**change)
    if "params" in change:
        d["steps"] = {"params": change["params"]}
    exc = refused(d)
    assert exc.field == field, (exc.field, str(exc))
    assert words in str(exc)


def test_a_cycle_is_refused_naming_its_steps() -> None:
    exc = refused(
        doc(
            a={"kind": "evaluate", "run": "${b.run_id}", "dataset": "x@1"},
            b={"kind": "evaluate", "run": "${a.run_id}", "dataset": "x@1"},
        )
    )
    assert "cycle" in str(exc)
    assert "a -> b -> a" in str(exc) or "b -> a -> b" in str(exc)
    exc = refused(doc(a={"kind": "evaluate", "run": "r", "dataset": "x@1", "needs": ["a"]}))
    assert "a -> a" in str(exc)


def test_document_level_mistakes() -> None:
    assert refused({"name": "x", "steps": {}}).field == "steps"
    assert (
        refused({"name": "bad name", "steps": {"a": {"kind": "deploy", "deployment": "d"}}}).field == "name"
    )
    assert "did you mean 'steps'" in str(refused({"name": "x", "stpes": {}}))
    assert (
        refused({"name": "x", "params": [1], "steps": {"a": {"kind": "deploy", "deployment": "d"}}}).field
        == "params"
    )
    assert refused({"name": "x", "steps": {"a": "train"}}).field == "steps.a"
    assert (
        refused({"name": "x", "project": "a b", "steps": {"a": {"kind": "deploy", "deployment": "d"}}}).field
        == "project"
    )


def test_references_keep_their_type_when_whole_and_interpolate_inside_text() -> None:
    table = {("register", "version"): 3, ("params", "dry_run"): False, ("register", "model"): "churn"}
    assert substitute("${register.version}", table) == 3
    assert substitute("${params.dry_run}", table) is False
    assert substitute("model ${register.model}/${register.version}", table) == "model churn/3"
    nested = {"routes": [{"model": "${register.model}/${register.version}", "weight": 1}]}
    assert substitute(nested, table) == {"routes": [{"model": "churn/3", "weight": 1}]}


def test_command_line_parameters_take_the_type_of_their_default() -> None:
    assert parse_param_value("false", True, "dry_run") is False
    assert parse_param_value("7", 1, "n") == 7
    assert parse_param_value("0.5", 1.0, "x") == 0.5
    assert parse_param_value("staging", "production", "alias") == "staging"
    with pytest.raises(InvalidInput) as info:
        parse_param_value("maybe", True, "dry_run")
    assert info.value.field == "params.dry_run"
    with pytest.raises(InvalidInput):
        parse_param_value("x", 1, "n")


def test_every_kind_declares_its_required_inputs_among_its_inputs() -> None:
    for kind in STEP_KINDS.values():
        assert set(kind.required) <= set(kind.inputs), kind.name
        assert kind.outputs, kind.name
