"""``GET /healthz``: the server is up (no authentication, no database round trip)."""

from __future__ import annotations

from importlib.metadata import version

from carnet.schemas import Health

__all__ = [
    "healthz",
]


def healthz() -> Health:
    """Liveness: answers while the server runs."""
    return Health(status="ok", version=version("carnet"))
