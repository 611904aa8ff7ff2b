"""Promotion checks: the gates a model version must pass, and what they evaluate on.

Pure computation over models and data (no storage): the registry service builds a
:class:`GateContext`, the gates (plugins of the ``carnet.gates`` entry-point group)
judge it and return :class:`carnet.domain.GateResult` objects.
"""

from carnet.checks.approval import ApprovalGate
from carnet.checks.context import GateContext
from carnet.checks.gates import get_gate, run_gates
from carnet.checks.metric_gates import MetricGate, NonRegressionGate
from carnet.checks.policy import load_policy, policy_to_dict
from carnet.checks.signature import SignatureGate

__all__ = [
    "ApprovalGate",
    "GateContext",
    "MetricGate",
    "NonRegressionGate",
    "SignatureGate",
    "get_gate",
    "load_policy",
    "policy_to_dict",
    "run_gates",
]
