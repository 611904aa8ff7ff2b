"""Promotion checks: the gates a model version must pass, and what they evaluate on.

Pure computation over models and data (no storage): the registry service builds a
:class:`GateContext`, the gates (plugins of the ``carnet.gates`` entry-point group)
judge it and return :class:`carnet.domain.GateResult` objects.
"""

from carnet.domain.policies import policy_to_dict
from carnet.gates.approval import ApprovalGate
from carnet.gates.context import GateContext
from carnet.gates.metrics import MetricGate, NonRegressionGate
from carnet.gates.policy import load_policy
from carnet.gates.runner import get_gate, run_gates
from carnet.gates.signature import SignatureGate

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
