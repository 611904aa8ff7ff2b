"""Extension points: Protocols and the generic lazy entry-point registry."""

from carnet.plugins.api import ENTRY_POINT_GROUPS
from carnet.plugins.registry import Registry

__all__ = ["ENTRY_POINT_GROUPS", "Registry"]
