"""Gate lookup (plugin kind ``gate``, group ``carnet.gates``) and the runner of a policy's gates."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from carnet.domain.policies import GateResult
from carnet.errors import InvalidInput
from carnet.plugins.api import Gate
from carnet.plugins.loader import registry

if TYPE_CHECKING:  # pragma: no cover
    from carnet.domain.policies import Policy
    from carnet.gates.context import GateContext

__all__ = [
    "ProgressFn",
    "get_gate",
    "reject_unknown",
    "run_gates",
    "setting_bool",
    "setting_number",
]

#: ``progress(label, i, n)``: gate ``i`` of ``n`` (from 1) named ``label`` is about to run
ProgressFn = Callable[[str, int, int], None]


def get_gate(name: str) -> Gate:
    """The gate registered as ``name``.

    Raises:
        NotFound: no such gate (the message lists the known ones).
        InvalidInput: the plugin failed to import or is not a valid gate.
    """
    return registry("gate").get(name)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_gates(
    policy: Policy,
    ctx: GateContext,
    progress: ProgressFn | None = None,
    on_result: Callable[[int, GateResult], None] | None = None,
) -> list[GateResult]:
    """Run every gate of ``policy`` on ``ctx``, in order, and return one result per gate.

    Never raises for a gate: one that crashes, cannot be loaded or returns something else
    than a ``GateResult`` becomes a failed result whose ``error`` reads ``"<ExcType>: message"``.
    Each result's ``type`` is the gate's type and its ``gate`` label the spec's ``name`` when
    set, else the label the gate chose (e.g. ``metric roc_auc``), else the type.

    Args:
        policy: the policy whose gates run.
        ctx: what the gates judge.
        progress: called as ``progress(label, i, n)`` before gate ``i`` (from 1) of ``n``.
        on_result: called as ``on_result(index, result)`` (from 0) as soon as a gate has its verdict.
    """
    results: list[GateResult] = []
    total = len(policy.gates)
    for i, spec in enumerate(policy.gates, start=1):
        if progress is not None:
            progress(spec.label, i, total)
        try:
            result = get_gate(spec.type).check(dict(spec.config), ctx)
            if not isinstance(result, GateResult):
                raise TypeError(f"gate {spec.type!r} returned {type(result).__name__}, not a GateResult")
        except Exception as exc:  # noqa: BLE001 - a crashing gate is a failed gate, never a crash
            result = GateResult(gate="", type=spec.type, passed=False, error=_describe(exc))
        result.gate = spec.name or result.gate or spec.type
        result.type = spec.type
        results.append(result)
        if on_result is not None:
            on_result(i - 1, result)
    return results


# -- settings helpers shared by gate implementations (fields are relative to the gate) ----------


def reject_unknown(config: dict[str, Any], known: tuple[str, ...], kind: str) -> None:
    """InvalidInput naming the first key of ``config`` that is not one of ``known``."""
    for key in config:
        if key not in known:
            raise InvalidInput(
                f"unknown {kind} setting {key!r}; known: {', '.join(known) or 'none'}", field=str(key)
            )


def setting_bool(config: dict[str, Any], key: str, default: bool) -> bool:
    """``config[key]`` as a bool (``default`` when absent); InvalidInput when it is not true/false."""
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{key} must be true or false, got {value!r}", field=key)
    return value


def setting_number(
    config: dict[str, Any],
    key: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    open_interval: bool = False,
) -> float:
    """``config[key]`` as a number within bounds (``default`` when absent), or InvalidInput.

    ``open_interval`` excludes the bounds themselves; ``integer`` asks for a whole number.
    """
    value = config.get(key, default)
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool) and value == value  # NaN != NaN
    if ok and minimum is not None:
        ok = value > minimum if open_interval else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if open_interval else value <= maximum
    if not ok:
        what = "a whole number" if integer else "a number"
        lo = "" if minimum is None else f"{'>' if open_interval else '>='} {minimum:g}"
        hi = "" if maximum is None else f"{'<' if open_interval else '<='} {maximum:g}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        raise InvalidInput(f"{key} must be {what}{' ' + bounds if bounds else ''}, got {value!r}", field=key)
    return cast("float", value)
