"""The signature gate: the candidate accepts every input the incumbent accepted, with compatible types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carnet.domain.policies import GateResult
from carnet.gates.runner import reject_unknown, setting_bool

if TYPE_CHECKING:  # pragma: no cover
    from carnet.gates.context import GateContext

__all__ = ["SignatureGate", "dtype_kind"]

#: (prefix, kind) checked in order against the lower-cased dtype string
_KINDS = (
    ("bool", "bool"),
    ("uint", "integer"),
    ("int", "integer"),
    ("float", "float"),
    ("double", "float"),
    ("complex", "complex"),
    ("datetime", "datetime"),
    ("timestamp", "datetime"),
    ("timedelta", "timedelta"),
    ("duration", "timedelta"),
    ("period", "period"),
    ("object", "text"),
    ("string", "text"),
    ("large_string", "text"),
    ("str", "text"),
    ("category", "text"),
)


def dtype_kind(dtype: str) -> str:
    """The kind of a pandas dtype string: ``integer``, ``float``, ``bool``, ``text``, ``datetime``, ...

    ``text`` covers ``object``, ``string`` and ``category`` (all read as labels); an
    unrecognised dtype is its own kind.
    """
    raw = dtype.strip()
    if raw.lstrip("<>|=").startswith(("M8", "m8")):  # numpy's short codes: M8 datetime, m8 timedelta
        return "datetime" if raw.lstrip("<>|=")[0] == "M" else "timedelta"
    text = raw.lower()
    for prefix, kind in _KINDS:
        if text.startswith(prefix):
            return kind
    return text


def is_retyped(old: str, new: str) -> bool:
    """Whether an input typed ``old`` before is typed incompatibly as ``new`` now.

    Same kind is compatible (``int32`` -> ``int64``, ``object`` -> ``category``), and so is
    widening ``integer`` -> ``float``; anything else (``float`` -> ``integer`` included) is not.
    """
    before, after = dtype_kind(old), dtype_kind(new)
    return before != after and (before, after) != ("integer", "float")


class SignatureGate:
    """Input compatibility of the candidate with the version holding the alias."""

    name = "signature"
    description = (
        "the candidate keeps the incumbent's input columns with compatible types "
        "(removed or retyped inputs fail unless allowed; added inputs are reported)"
    )

    _SETTINGS = ("allow_removed", "allow_retyped", "allow_added")

    def validate(self, config: dict[str, Any]) -> None:
        """Check the settings (three booleans)."""
        reject_unknown(config, self._SETTINGS, "signature")
        for key in self._SETTINGS:
            setting_bool(config, key, key == "allow_added")

    def check(self, config: dict[str, Any], ctx: GateContext) -> GateResult:
        """Compare the input columns of candidate and incumbent; passes with no incumbent."""
        allow = {key: setting_bool(config, key, key == "allow_added") for key in self._SETTINGS}
        forbidden = [k.removeprefix("allow_") for k, v in allow.items() if not v]
        threshold = f"no {' or '.join(forbidden)} inputs" if forbidden else "any change allowed"
        if ctx.incumbent_version is None:
            note = f"no version holds alias {ctx.alias!r}: nothing to compare with"
            return GateResult(self.name, self.name, True, "no incumbent", threshold, details={"note": note})
        before = {c.name: c.dtype for c in ctx.incumbent_version.signature.inputs}
        after = {c.name: c.dtype for c in ctx.candidate_version.signature.inputs}
        removed = [name for name in before if name not in after]
        added = [{"column": name, "dtype": after[name]} for name in after if name not in before]
        retyped = [
            {"column": name, "from": before[name], "to": after[name]}
            for name in before
            if name in after and is_retyped(before[name], after[name])
        ]
        details: dict[str, Any] = {
            "incumbent_version": ctx.incumbent_version.version,
            "removed": removed,
            "retyped": retyped,
            "added": added,
        }
        failing = [
            kind
            for kind, found in (("removed", removed), ("retyped", retyped), ("added", added))
            if found and not allow[f"allow_{kind}"]
        ]
        parts = [
            f"{len(found)} {kind}"
            for kind, found in (("removed", removed), ("retyped", retyped), ("added", added))
        ]
        measured = "same inputs" if not (removed or retyped or added) else ", ".join(parts)
        if failing:
            details["failed_on"] = failing
        return GateResult(self.name, self.name, not failing, measured, threshold, None, details)
