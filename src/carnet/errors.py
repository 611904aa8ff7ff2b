"""The one error tree of carnet.

Every error carnet raises on purpose is a :class:`CarnetError`. The CLI turns
them into one line and an exit code, the server into problem+json (and
:func:`error_from_problem` turns a problem document back into the error).
No HTTP status lives here: the mapping is kept by the server.

::

    CarnetError
    ├── InvalidInput          bad argument, spec, filter, file or URI (user mistake)
    │   ├── FilterSyntaxError a search filter that does not parse (carries position)
    │   └── MetricUnavailable a metric cannot be computed from the given inputs
    ├── NotFound              no such project, run, dataset, artifact ...
    ├── AlreadyExists         a name or id that must be unique is taken
    ├── Conflict              the state forbids the change (e.g. run already finished)
    │   └── HookRefused       a lifecycle hook (``before_*``) refused the change
    ├── GateFailed            a promotion policy gate did not pass
    ├── PermissionDenied      the actor may not do this
    │   └── Unauthenticated   no valid credentials (missing, unknown, revoked or disabled token)
    ├── StorageError          the metadata or artifact store failed or is unreachable
    │   ├── ArtifactCorrupted stored bytes no longer match their digest
    │   └── AuditIntegrityError the ledger's own bookkeeping is damaged (e.g. its head row is missing)
    ├── DeliveryFailed        a notifier could not deliver an event (carries attempts)
    ├── Overloaded            a model cannot take a request now (carries retry_after)
    ├── ConfigurationError    this process is set up inconsistently with the workspace (operator's fix)
    │   └── AuditKeyMismatch  CARNET_AUDIT_KEY differs from the key the audit ledger is written with
    └── AuditChainBroken      the audit ledger failed verification

A few exceptions carnet raises and catches itself are signals, not errors, and stay beside their
code: a scan to start again, a write to stage again, a call cut at its deadline, a request body an
HTTP app refuses. None reaches a user as such, and an ``except CarnetError`` must not take one;
``tests/test_architecture.py`` names each.
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
    "DeliveryFailed",
    "FilterSyntaxError",
    "GateFailed",
    "HookRefused",
    "InvalidInput",
    "MetricUnavailable",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "StorageError",
    "Unauthenticated",
    "error_from_problem",
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


class MetricUnavailable(InvalidInput):
    """A metric cannot be computed from the given inputs (e.g. no scores, no ``X``, not binary)."""


class NotFound(CarnetError):
    """The named object does not exist."""


class AlreadyExists(CarnetError):
    """An object with that unique name or id already exists."""


class Conflict(CarnetError):
    """The object's current state forbids the requested change."""


class HookRefused(Conflict):
    """A lifecycle hook (``before_*``) refused the change; ``hook`` and ``plugin`` say which.

    A hook plugin raises it as ``HookRefused("reason")``; carnet adds the hook and plugin names."""

    def __init__(self, message: str, *, field: str | None = None, hook: str = "", plugin: str = "") -> None:
        super().__init__(message, field=field)
        self.hook = hook
        self.plugin = plugin


class GateFailed(CarnetError):
    """A promotion gate did not pass; ``promotion`` holds the stored, refused promotion (its gate
    results), when there is one."""

    def __init__(self, message: str, *, field: str | None = None, promotion: Any = None) -> None:
        super().__init__(message, field=field)
        self.promotion = promotion


class DeliveryFailed(CarnetError):
    """A notifier could not deliver an event; ``attempts`` is how many times it tried."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class Overloaded(CarnetError):
    """The model cannot take the request now (queue full, or stopping): retry after ``retry_after`` s."""

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message or f"the model is overloaded; retry in {retry_after:.2f} s")
        self.retry_after = retry_after


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


def error_from_problem(doc: dict[str, Any]) -> CarnetError:
    """The :class:`CarnetError` a problem+json document describes (for HTTP clients).

    Unknown class names give ``CarnetError`` with the document's detail.
    """
    name = str(doc.get("error") or "")
    message = str(doc.get("detail") or doc.get("title") or "the server refused the request")
    field = doc.get("field") if isinstance(doc.get("field"), str) else None
    cls = globals().get(name) if name in __all__ else None
    if cls is FilterSyntaxError:
        return InvalidInput(message, field=field or "filter")
    if cls is ArtifactCorrupted:
        return ArtifactCorrupted(message, digest=str(doc.get("digest") or ""))
    if cls is AuditChainBroken:
        seq = doc.get("seq")
        return AuditChainBroken(message, seq=seq if isinstance(seq, int) else None)
    if cls is Overloaded:
        retry = doc.get("retry_after")
        return Overloaded(float(retry) if isinstance(retry, int | float) else 1.0, message)
    if cls is DeliveryFailed:
        return DeliveryFailed(message)
    if isinstance(cls, type) and issubclass(cls, CarnetError):
        return cls(message, field=field)
    return CarnetError(message, field=field)
