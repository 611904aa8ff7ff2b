"""The one error tree of carnet.

Every error carnet raises on purpose is a :class:`CarnetError`. The CLI turns
them into one line and an exit code, the server (later) into problem+json.
No HTTP status lives here: the mapping is kept by the server.

::

    CarnetError
    ├── InvalidInput          bad argument, spec, filter, file or URI (user mistake)
    │   └── FilterSyntaxError a search filter that does not parse (carries position)
    ├── NotFound              no such project, run, dataset, artifact ...
    ├── AlreadyExists         a name or id that must be unique is taken
    ├── Conflict              the state forbids the change (e.g. run already finished)
    ├── GateFailed            a promotion policy gate did not pass
    ├── PermissionDenied      the actor may not do this
    │   └── Unauthenticated   no valid credentials (missing, unknown, revoked or disabled token)
    ├── StorageError          the metadata or artifact store failed or is unreachable
    │   ├── ArtifactCorrupted stored bytes no longer match their digest
    │   └── AuditIntegrityError the ledger's own bookkeeping is damaged (e.g. its head row is missing)
    ├── ConfigurationError    this process is set up inconsistently with the workspace (operator's fix)
    │   └── AuditKeyMismatch  CARNET_AUDIT_KEY differs from the key the audit ledger is written with
    └── AuditChainBroken      the audit ledger failed verification
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "ArtifactCorrupted",
    "AuditChainBroken",
    "AuditIntegrityError",
    "AuditKeyMismatch",
    "CarnetError",
    "ConfigurationError",
    "Conflict",
    "FilterSyntaxError",
    "GateFailed",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "StorageError",
    "Unauthenticated",
]


class CarnetError(Exception):
    """Base of every error carnet raises deliberately.

    Args:
        message: one line saying what is wrong and how to fix it.
        field: the offending field or argument, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidInput(CarnetError):
    """The caller supplied something carnet cannot use (a user mistake)."""


class FilterSyntaxError(InvalidInput):
    """A search filter does not parse; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, *, position: int, text: str) -> None:
        shown = text if len(text) <= 200 else f"{text[:200]}... ({len(text)} characters)"
        super().__init__(f"{message} at position {position} in filter: {shown!r}", field="filter")
        self.position = position
        self.text = text


class NotFound(CarnetError):
    """The named object does not exist."""


class AlreadyExists(CarnetError):
    """An object with that unique name or id already exists."""


class Conflict(CarnetError):
    """The object's current state forbids the requested change."""


class GateFailed(CarnetError):
    """A promotion gate did not pass; ``promotion`` holds the stored, refused promotion (its gate
    results), when there is one."""

    def __init__(self, message: str, *, field: str | None = None, promotion: Any = None) -> None:
        super().__init__(message, field=field)
        self.promotion = promotion


class PermissionDenied(CarnetError):
    """The actor is not allowed to perform the action."""


class Unauthenticated(PermissionDenied):
    """The request carries no valid credentials: a missing, unknown, revoked or disabled token."""


class StorageError(CarnetError):
    """The metadata database or the artifact store failed or cannot be reached."""


class ArtifactCorrupted(StorageError):
    """Bytes read from the artifact store do not match the digest they are stored under."""

    def __init__(self, message: str, *, digest: str) -> None:
        super().__init__(message, field="artifact")
        self.digest = digest


class AuditIntegrityError(StorageError):
    """The audit ledger's bookkeeping is damaged (its head row is missing): nothing can be appended."""


class ConfigurationError(CarnetError):
    """The process is configured inconsistently with the workspace (a setting to fix, not an input)."""


class AuditKeyMismatch(ConfigurationError):
    """``CARNET_AUDIT_KEY`` (set, unset or different) does not match the key the ledger is written with."""


class AuditChainBroken(CarnetError):
    """The audit ledger does not verify; ``seq`` is the first broken event."""

    def __init__(self, message: str, *, seq: int | None) -> None:
        super().__init__(message)
        self.seq = seq
