"""``GET /healthz``: the server is up (no authentication, no database round trip)."""

from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter
from pydantic import BaseModel

__all__ = ["Health", "router"]

router = APIRouter(tags=["service"])


class Health(BaseModel):
    """The server answers, and which carnet it runs."""

    status: str
    version: str


@router.get("/healthz", name="healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: answers while the server runs."""
    return Health(status="ok", version=version("carnet"))
