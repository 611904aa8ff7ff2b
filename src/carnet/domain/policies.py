"""Promotion policies, gate specs and results, approvals and promotions (pure data)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Approval",
    "GateResult",
    "GateSpec",
    "Policy",
    "Promotion",
    "policy_from_dict",
    "policy_to_dict",
]


@dataclass(frozen=True)
class GateSpec:
    """One gate of a policy: its type (a ``carnet.gates`` plugin name), a label and its settings."""

    type: str
    config: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.type


@dataclass(frozen=True)
class Policy:
    """What a promotion to an alias must pass.

    Attributes:
        name: the policy's name (for display and the record).
        evaluation_data: ``dataset@version`` the gates evaluate on (None = the dataset the
            candidate's run evaluated on is not assumed: gates that need data then fail).
        target: the target column in that data (default: the one the model was trained on).
        gates: the gates, in order.
        aliases: the aliases this policy guards (empty = every alias).
        intended_use: free text carried into the model card.
        limitations: free text carried into the model card.
        seed: seeds every resampling and perturbation of the gates.
    """

    name: str
    gates: tuple[GateSpec, ...]
    evaluation_data: str | None = None
    target: str | None = None
    aliases: tuple[str, ...] = ()
    intended_use: str = ""
    limitations: str = ""
    seed: int = 0
    source: dict[str, Any] = field(default_factory=dict)

    def guards(self, alias: str) -> bool:
        return not self.aliases or alias in self.aliases


@dataclass
class GateResult:
    """The verdict of one gate: what was measured, against what, and whether it passed.

    ``measured`` and ``threshold`` are short human-readable strings for the table;
    ``value`` is the headline number when there is one; ``details`` holds everything
    else (per-group tables, per-scenario metrics, attributions) as JSON-ready data.
    """

    gate: str
    type: str
    passed: bool
    measured: str = ""
    threshold: str = ""
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "type": self.type,
            "passed": self.passed,
            "measured": self.measured,
            "threshold": self.threshold,
            "value": self.value,
            "details": self.details,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return cls(
            gate=str(data["gate"]),
            type=str(data["type"]),
            passed=bool(data["passed"]),
            measured=str(data.get("measured", "")),
            threshold=str(data.get("threshold", "")),
            value=data.get("value"),
            details=dict(data.get("details") or {}),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class Approval:
    """One person's approval of a model version for an alias."""

    name: str
    version: int
    alias: str
    actor: str
    comment: str
    created_at: float
    authenticated: bool = False


@dataclass(frozen=True)
class Promotion:
    """An attempt to move an alias to a version, with the gate results it was judged on."""

    id: int
    name: str
    version: int
    alias: str
    previous_version: int | None
    passed: bool
    applied: bool
    results: tuple[GateResult, ...]
    policy: dict[str, Any]
    actor: str
    created_at: float
    kind: str = "promote"
    reason: str = ""


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """The policy as a JSON-ready mapping in canonical form; ``load_policy`` reads it back."""
    return {
        "name": policy.name,
        "aliases": list(policy.aliases),
        "evaluation_data": policy.evaluation_data,
        "target": policy.target,
        "seed": policy.seed,
        "intended_use": policy.intended_use,
        "limitations": policy.limitations,
        "gates": [
            {"type": g.type, **({"name": g.name} if g.name else {}), **copy.deepcopy(g.config)}
            for g in policy.gates
        ],
    }


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    """A policy from the canonical form :func:`policy_to_dict` (or a server) wrote, without
    validating it again (``carnet.gates.load_policy`` validates any other document)."""
    gates = tuple(
        GateSpec(
            str(g["type"]),
            {k: copy.deepcopy(v) for k, v in g.items() if k not in ("type", "name")},
            str(g.get("name") or ""),
        )
        for g in data.get("gates") or []
    )
    return Policy(
        name=str(data["name"]),
        gates=gates,
        evaluation_data=data.get("evaluation_data"),
        target=data.get("target"),
        aliases=tuple(data.get("aliases") or ()),
        intended_use=str(data.get("intended_use") or ""),
        limitations=str(data.get("limitations") or ""),
        seed=int(data.get("seed") or 0),
        source=copy.deepcopy(dict(data)),
    )
