"""The result of a gate made of scenarios (the ``stress`` gate on a table model or a policy): one
verdict, the worst drop, and every scenario's record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from carnet.domain.evaluation import jsonable
from carnet.domain.policies import GateResult

__all__ = ["scenario_result"]


def scenario_result(
    gate: str, records: Sequence[Mapping[str, Any]], details: Mapping[str, Any], *, error: str | None = None
) -> GateResult:
    """A gate that passes when every scenario did: ``k/n scenarios within limits``, each limit
    (relative ones in %), the largest degradation as the value, and ``details`` with the records."""
    passed = sum(bool(r["passed"]) for r in records)
    drops = [r["degradation"] for r in records if r.get("degradation") is not None]
    return GateResult(
        gate=gate,
        type=gate,
        passed=passed == len(records),
        measured=f"{passed}/{len(records)} scenarios within limits",
        threshold=", ".join(
            f"{r['name']} drop <= "
            + (f"{100 * r['max_degradation']:g}%" if r["relative"] else f"{r['max_degradation']:g}")
            for r in records
        ),
        value=max(drops) if drops else None,
        details=jsonable({**details, "scenarios": list(records)}),
        error=error,
    )
