"""The ``privacy`` gate: no raw personal data among a model's inputs, and a training table that
does not single people out.

    gates:
      - type: privacy
        allow: [zip_prefix]                      # PII inputs accepted on purpose (default: none)
        quasi_identifiers: [age, zip, gender]    # optional: k-anonymity of the training data
        sensitive: diagnosis                     # optional: l-diversity of this column
        min_k: 5                                 # default 5 when quasi_identifiers are given
        min_l: 2                                 # default 2 when sensitive is given

The inputs are the candidate's signature; personal data is what the scan flagged in the
profile of the training dataset version (see docs/privacy.md); an input the model de-identifies
itself (``preprocess.deidentify`` of its spec, in its signature) is not raw. k and l are computed over the
training version's rows (:func:`carnet.privacy.risk.reidentification_risk`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carnet.domain.policies import GateResult
from carnet.errors import InvalidInput
from carnet.gates.runner import reject_unknown, setting_number

if TYPE_CHECKING:  # pragma: no cover
    from carnet.gates.context import GateContext

__all__ = ["PrivacyGate"]


def _names(config: dict[str, Any], key: str) -> list[str]:
    value = config.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"{key} must be a list of column names", field=key)
    return list(value)


class PrivacyGate:
    """Raw personal data among the inputs (unless allowed), k-anonymity and l-diversity."""

    name = "privacy"
    description = (
        "no column flagged as personal data among the model's inputs unless allowed; k-anonymity and "
        "l-diversity of the training data over declared quasi-identifiers"
    )
    _SETTINGS = ("allow", "quasi_identifiers", "sensitive", "min_k", "min_l")

    def validate(self, config: dict[str, Any]) -> None:
        """Check the settings' types (columns are checked against the data at ``check``)."""
        reject_unknown(config, self._SETTINGS, "privacy")
        _names(config, "allow")
        qi = _names(config, "quasi_identifiers")
        sensitive = config.get("sensitive")
        if sensitive is not None and (not isinstance(sensitive, str) or not sensitive):
            raise InvalidInput("sensitive must be a column name", field="sensitive")
        if (sensitive or "min_k" in config or "min_l" in config) and not qi:
            raise InvalidInput("min_k, min_l and sensitive need quasi_identifiers", field="quasi_identifiers")
        if "min_l" in config and not sensitive:
            raise InvalidInput(
                "min_l needs sensitive: the column whose values must stay diverse", field="min_l"
            )
        setting_number(config, "min_k", 5, minimum=1, integer=True)
        setting_number(config, "min_l", 2, minimum=1, integer=True)

    def check(self, config: dict[str, Any], ctx: GateContext) -> GateResult:
        """Judge the candidate's inputs and, with quasi-identifiers, its training data."""
        self.validate(config)
        allow = set(_names(config, "allow"))
        details: dict[str, Any] = {"allowed": sorted(allow)}
        if not ctx.training_profile:
            why = "the candidate has no training dataset on record: its inputs cannot be checked for PII"
            return GateResult("privacy", self.name, False, details=details, error=why)
        flagged = {
            c: p.pii["kind"] for c, p in ctx.training_profile.items() if p.pii and c in set(ctx.features)
        }
        transforms = (ctx.candidate_version.signature.transforms or {}).get("columns") or {}
        protected = {c: str(s.get("method")) for c, s in transforms.items() if c in flagged}
        raw = {c: kind for c, kind in flagged.items() if c not in allow and c not in protected}
        details.update(pii_inputs=flagged, refused_inputs=raw, deidentified_inputs=protected)
        problems = (
            [f"personal data among the inputs: {', '.join(f'{c} ({k})' for c, k in raw.items())}"]
            if raw
            else []
        )
        measured = [f"{len(raw)} raw PII input(s)"]
        thresholds = ["no raw PII input"]
        qi = _names(config, "quasi_identifiers")
        if qi:
            from carnet.privacy.risk import reidentification_risk

            sensitive = config.get("sensitive")
            min_k = int(setting_number(config, "min_k", 5, minimum=1, integer=True))
            min_l = int(setting_number(config, "min_l", 2, minimum=1, integer=True))
            try:
                wanted = [*qi, *([str(sensitive)] if sensitive else [])]
                risk = reidentification_risk(ctx.training_data(list(dict.fromkeys(wanted))), qi, sensitive)
            except Exception as exc:  # noqa: BLE001 - missing data or columns fail the gate, never raise
                return GateResult("privacy", self.name, False, details=details, error=f"{exc}")
            details.update(risk=risk, min_k=min_k, min_l=min_l if sensitive else None)
            measured.append(f"k={risk['k']}" + (f", l={risk['l']}" if sensitive else ""))
            thresholds.append(f"k >= {min_k}" + (f", l >= {min_l}" if sensitive else ""))
            if risk["k"] < min_k:
                problems.append(f"k-anonymity {risk['k']} < {min_k} over {', '.join(qi)}")
            if sensitive and risk["l"] < min_l:
                problems.append(f"l-diversity {risk['l']} < {min_l} of {sensitive}")
        if problems:
            details["problems"] = problems
        return GateResult(
            "privacy", self.name, not problems, "; ".join(measured), "; ".join(thresholds), None, details
        )
