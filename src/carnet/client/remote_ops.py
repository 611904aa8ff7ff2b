"""Deployments, monitors, alerts and drift over HTTP: part of :class:`~carnet.client.remote.RemoteClient`."""

from __future__ import annotations

from typing import Any

from carnet.client.remote_http import HttpTransport

__all__ = ["RemoteOps"]


class RemoteOps(HttpTransport):
    """The operations calls of the remote client (deployments, monitoring)."""

    # -- deployments (no routes) ---------------------------------------------------------------------
    def set_deployment(self, source: Any) -> Any:
        """Store a deployment (needs a local workspace)."""
        self._local_only("set_deployment")

    def get_deployment(self, endpoint: str) -> Any:
        """An endpoint's deployment (needs a local workspace)."""
        self._local_only("get_deployment")

    def list_deployments(self) -> list[Any]:
        """Every deployment (needs a local workspace)."""
        self._local_only("list_deployments")

    def deployment_history(self, endpoint: str) -> list[Any]:
        """Revisions of a deployment (needs a local workspace)."""
        self._local_only("deployment_history")

    def delete_deployment(self, endpoint: str, *, reason: str = "") -> Any:
        """Stop routing an endpoint (needs a local workspace)."""
        self._local_only("delete_deployment")
