"""The model flavor seam: how a fitted model becomes bytes and comes back, safely."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Flavor"]


@runtime_checkable
class Flavor(Protocol):
    """Saves and loads one family of models.

    ``load`` must never execute code from the bytes beyond constructing objects of
    trusted types; the caller has already checked the bytes against the registry digest.
    """

    name: str
    file_name: str

    def can_save(self, model: Any) -> bool:
        """True when this flavor knows how to store ``model``."""
        ...

    def dumps(self, model: Any) -> bytes:
        """Serialise a fitted model."""
        ...

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = ()) -> Any:
        """Rebuild a model; types outside the flavor's allowlist and ``trusted`` are refused."""
        ...
