"""Loading promotion policies: YAML text, files, mappings; complete validation naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carnet.domain import GateResult, GateSpec
from carnet.errors import InvalidInput
from carnet.gates import load_policy, policy_to_dict
from carnet.plugins.loader import registry

POLICY = """
name: production-policy
aliases: [production]
evaluation_data: churn@3
target: churned
seed: 7
intended_use: rank accounts for retention calls
limitations: trained on 2023 customers only
gates:
  - metric: "roc_auc >= 0.85"
  - type: metric
    name: calibration
    metric: ece
    op: "<="
    value: 0.05
  - type: non_regression
    metric: roc_auc
    margin: 0.01
  - type: signature
    allow_added: false
  - type: approval
    required: 2
"""


def test_a_policy_loads_from_yaml_text() -> None:
    policy = load_policy(POLICY)
    assert policy.name == "production-policy" and policy.aliases == ("production",)
    assert (policy.evaluation_data, policy.target, policy.seed) == ("churn@3", "churned", 7)
    assert policy.intended_use.startswith("rank") and policy.limitations.endswith("only")
    assert policy.gates == (
        GateSpec("metric", {"condition": "roc_auc >= 0.85"}),
        GateSpec("metric", {"metric": "ece", "op": "<=", "value": 0.05}, "calibration"),
        GateSpec("non_regression", {"metric": "roc_auc", "margin": 0.01}),
        GateSpec("signature", {"allow_added": False}),
        GateSpec("approval", {"required": 2}),
    )
    assert [g.label for g in policy.gates][:2] == ["metric", "calibration"]
    assert policy.guards("production") and not policy.guards("staging")


def test_a_policy_loads_from_a_file_and_from_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    from_text = load_policy(POLICY)
    assert load_policy(path) == from_text and load_policy(str(path)) == from_text
    minimal = load_policy({"name": "m", "gates": [{"type": "approval"}]})
    assert minimal.aliases == () and minimal.guards("anything") and minimal.evaluation_data is None
    assert minimal.seed == 0 and minimal.target is None and minimal.source["name"] == "m"
    blank = load_policy({"name": "b", "target": "", "intended_use": "", "gates": [{"type": "signature"}]})
    assert blank.target is None and blank.intended_use == ""


def test_policy_to_dict_round_trips_through_json() -> None:
    policy = load_policy(POLICY)
    data = policy_to_dict(policy)
    assert data["gates"][0] == {"type": "metric", "condition": "roc_auc >= 0.85"}
    assert data["gates"][1]["name"] == "calibration"
    again = load_policy(json.loads(json.dumps(data)))
    assert policy_to_dict(again) == data
    assert again.gates == policy.gates and again.name == policy.name and again.seed == policy.seed
    assert load_policy(policy).gates == policy.gates  # a Policy is validated again


@pytest.mark.parametrize(
    ("change", "field", "hint"),
    [
        ({"gate": [{"type": "approval"}]}, "gate", "known: name, aliases"),
        ({"gates": None}, "gates", "non-empty list"),
        ({"gates": []}, "gates", "non-empty list"),
        ({"name": None}, "name", "name: production-policy"),
        ({"seed": -1}, "seed", ">= 0"),
        ({"seed": "0"}, "seed", ">= 0"),
        ({"aliases": ["production", "2"]}, "aliases[1]", "alias"),
        ({"aliases": {"production": 1}}, "aliases", "[production]"),
        ({"evaluation_data": "churn"}, "evaluation_data", "churn@N"),
        ({"evaluation_data": "churn@x"}, "evaluation_data", "churn@3"),
        ({"target": 3}, "target", "target: churned"),
    ],
)
def test_top_level_errors_name_the_field(change: dict[str, Any], field: str, hint: str) -> None:
    data = {"name": "p", "gates": [{"type": "approval"}], **change}
    with pytest.raises(InvalidInput) as err:
        load_policy(data)
    assert err.value.field == field
    assert hint in err.value.message


@pytest.mark.parametrize(
    ("gates", "field", "hint"),
    [
        ([{"type": "approval"}, {"type": "non_regresion"}], "gates[1].type", "registered: approval"),
        ([{"required": 1}], "gates[0].type", "needs a type"),
        (["approval"], "gates[0]", "must be a mapping"),
        ([{"type": "approval"}, {"type": "non_regression", "margin": -0.01}], "gates[1].margin", ">= 0"),
        ([{"type": "non_regression", "margni": 0.01}], "gates[0].margni", "known: metric, margin"),
        ([{"metric": "roc_auc => 0.8"}], "gates[0].metric", "METRIC OP NUMBER"),
        ([{"type": "metric", "condition": "auc > x"}], "gates[0].condition", "METRIC OP NUMBER"),
        ([{"metric": "roc_auc", "op": ">="}], "gates[0].value", "value"),
        ([{"type": "approval", "required": 0}], "gates[0].required", ">= 1"),
        ([{"type": "signature", "allow_removed": "no"}], "gates[0].allow_removed", "true or false"),
        ([{"type": "approval", "name": 3}], "gates[0].name", "label"),
    ],
)
def test_gate_errors_name_the_gate_and_setting(gates: list[Any], field: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as err:
        load_policy({"name": "p", "gates": gates})
    assert err.value.field == field
    assert hint in err.value.message


def test_unreadable_sources_are_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read policy file") as err:
        load_policy(tmp_path / "missing.yaml")
    assert err.value.field == "policy"
    with pytest.raises(InvalidInput, match=r"not valid YAML.*line 3"):
        load_policy("name: p\ngates: [\n")
    with pytest.raises(InvalidInput, match="a policy is a mapping"):
        load_policy("- just\n- a list\n")


class FreshnessGate:
    """A third-party gate: the candidate is not older than ``max_age`` seconds."""

    name = "freshness"
    description = "the candidate version is recent"

    def validate(self, config: dict[str, Any]) -> None:
        age = config.get("max_age")
        if isinstance(age, bool) or not isinstance(age, int | float) or age <= 0:
            raise InvalidInput(f"max_age must be a positive number of seconds, got {age!r}", field="max_age")

    def check(self, config: dict[str, Any], ctx: Any) -> GateResult:
        return GateResult("freshness", "freshness", True)


def test_a_third_party_gate_is_loaded_and_validated_like_a_built_in() -> None:
    registry("gate").register("freshness", FreshnessGate)
    try:
        policy = load_policy({"name": "p", "gates": [{"type": "freshness", "max_age": 86400}]})
        assert policy.gates == (GateSpec("freshness", {"max_age": 86400}),)
        with pytest.raises(InvalidInput) as err:
            load_policy({"name": "p", "gates": [{"type": "freshness", "max_age": 0}]})
        assert err.value.field == "gates[0].max_age" and "positive number" in err.value.message
    finally:
        registry("gate").reset()
    with pytest.raises(InvalidInput) as err:
        load_policy({"name": "p", "gates": [{"type": "freshness", "max_age": 1}]})
    assert err.value.field == "gates[0].type"
