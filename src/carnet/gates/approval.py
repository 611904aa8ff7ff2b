"""The approval gate: enough distinct people approved this version for this alias."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carnet.domain.policies import GateResult
from carnet.errors import InvalidInput
from carnet.gates.runner import reject_unknown, setting_bool, setting_number

if TYPE_CHECKING:  # pragma: no cover
    from carnet.gates.context import GateContext

__all__ = ["ApprovalGate"]


class ApprovalGate:
    """Human sign-off: at least ``required`` distinct approvers of the version for the alias."""

    name = "approval"
    description = "at least N distinct people approved this version for this alias"

    _SETTINGS = ("required", "authenticated_only", "allow_unauthenticated", "exclude_registrant")

    def _settings(self, config: dict[str, Any], has_users: bool = False) -> tuple[int, bool, bool]:
        """``required``, whether only authenticated approvals count, ``exclude_registrant``.

        Only authenticated approvals count when the policy says ``authenticated_only: true``, and by
        default when the workspace has users; ``allow_unauthenticated: true`` relaxes that.
        """
        required = int(setting_number(config, "required", 1, minimum=1, integer=True))
        only = setting_bool(config, "authenticated_only", False)
        relaxed = setting_bool(config, "allow_unauthenticated", False)
        if only and relaxed:
            raise InvalidInput(
                "authenticated_only and allow_unauthenticated contradict each other; keep one",
                field="allow_unauthenticated",
            )
        authenticated = only or (has_users and not relaxed)
        return required, authenticated, setting_bool(config, "exclude_registrant", False)

    def validate(self, config: dict[str, Any]) -> None:
        """Check the settings: ``required`` a whole number >= 1, the others booleans."""
        reject_unknown(config, self._SETTINGS, "approval")
        self._settings(config)

    def check(self, config: dict[str, Any], ctx: GateContext) -> GateResult:
        """Count the distinct actors who approved this version for this alias."""
        required, authenticated_only, exclude_registrant = self._settings(config, ctx.workspace_has_users)
        version = ctx.candidate_version
        registrant = version.created_by
        approvers: list[dict[str, Any]] = []
        ignored: list[dict[str, Any]] = []
        seen: set[str] = set()
        for approval in sorted(ctx.approvals, key=lambda a: a.created_at):
            entry = {
                "actor": approval.actor,
                "comment": approval.comment,
                "created_at": approval.created_at,
                "authenticated": approval.authenticated,
            }
            reason = None
            if (approval.name, approval.version, approval.alias) != (
                version.name,
                version.version,
                ctx.alias,
            ):
                reason = f"for {approval.name}/{approval.version} -> {approval.alias}"
            elif authenticated_only and not approval.authenticated:
                reason = "not authenticated"
            elif exclude_registrant and approval.actor == registrant:
                reason = "the registrant of the version"
            elif approval.actor in seen:
                reason = "same actor approved earlier"
            if reason is not None:
                ignored.append({**entry, "reason": reason})
                continue
            seen.add(approval.actor)
            approvers.append(entry)
        count = len(approvers)
        qualifiers = [
            q
            for q, on in (("authenticated", authenticated_only), ("not the registrant", exclude_registrant))
            if on
        ]
        threshold = f">= {required} distinct approver{'s' if required != 1 else ''}"
        if qualifiers:
            threshold += f" ({', '.join(qualifiers)})"
        details: dict[str, Any] = {
            "required": required,
            "approvers": approvers,
            "ignored": ignored,
            "authenticated_only": authenticated_only,
            "unauthenticated_counted": sum(not a["authenticated"] for a in approvers),
        }
        if count < required:
            details["note"] = (
                f"{required - count} more approval(s) of {version.name}/{version.version} "
                f"for alias {ctx.alias!r} needed"
            )
        loose = details["unauthenticated_counted"]
        measured = f"{count} of {required}" + (f" ({loose} unauthenticated)" if loose else "")
        return GateResult(self.name, self.name, count >= required, measured, threshold, count, details)
