"""What every service is given: the stores, the settings, a clock and, on a server, the caller."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from carnet.config import Settings
from carnet.domain.audit import AuditEvent
from carnet.domain.auth import Principal
from carnet.store.interfaces import ArtifactStore, MetadataStore, Transaction

__all__ = ["ContentReader", "ServiceContext", "record"]


class ContentReader(Protocol):
    """Verified reads of stored content by digest: what a download streams (the bytes are checked
    against the digest before any is handed out)."""

    def size(self, digest: str) -> int: ...
    def get_bytes(self, digest: str) -> bytes: ...
    def get_file(
        self, digest: str, dest: str | Path, progress: Callable[[int], None] | None = None
    ) -> Path: ...


@dataclass
class ServiceContext:
    """Dependencies of the application layer, built once by ``bootstrap``.

    ``principal`` is the authenticated caller (set per request by a server, see
    :meth:`carnet.services.auth.AuthService.authenticate`); without one, changes are attributed to
    the configured ``settings.actor`` and approvals count as unauthenticated.
    """

    settings: Settings
    store: MetadataStore
    artifacts: ArtifactStore
    clock: Callable[[], float] = field(default=time.time)
    principal: Principal | None = None
    #: builds the workspace's hook runner (:func:`carnet.services.hooks.hooks_of`; set by ``Services``)
    hooks_factory: Callable[[ServiceContext], Any] | None = None

    @property
    def actor(self) -> str:
        """Who changes are attributed to: the authenticated user, else the configured actor."""
        return self.principal.user if self.principal is not None else self.settings.actor

    @property
    def authenticated(self) -> bool:
        """Whether the actor was authenticated (by an API token), not just configured."""
        return self.principal is not None


def record(
    ctx: ServiceContext,
    tx: Transaction,
    action: str,
    subject_type: str,
    subject_id: str,
    payload: dict[str, Any],
    *,
    now: float | None = None,
) -> AuditEvent:
    """Append the audit event of a change, inside the transaction that makes the change (hook
    plugins' ``after_audit_append`` see it once the transaction has committed)."""
    event = tx.audit.append(
        actor=ctx.actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        payload=payload,
        time=ctx.clock() if now is None else now,
        key=ctx.settings.audit_key,
    )
    if ctx.hooks_factory is not None and (ctx.settings.hooks or _entry_point_hooks()):
        runner = ctx.hooks_factory(ctx)
        if runner.active:
            tx.on_commit(lambda: runner.audited(ctx, event))
    return event


def _entry_point_hooks() -> bool:
    """Whether any installed package declares a ``carnet.hooks`` entry point (looked up once)."""
    global _HOOK_ENTRY_POINTS
    if _HOOK_ENTRY_POINTS is None:
        from importlib.metadata import entry_points

        _HOOK_ENTRY_POINTS = bool(entry_points(group="carnet.hooks"))
    return _HOOK_ENTRY_POINTS


_HOOK_ENTRY_POINTS: bool | None = None
