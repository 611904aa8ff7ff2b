"""Training, AutoML, evaluation and reproduction over HTTP: part of
:class:`~carnet.client.remote.RemoteClient`."""

from __future__ import annotations

from typing import Any

from carnet.client.remote_http import HttpTransport

__all__ = ["RemoteTraining"]


class RemoteTraining(HttpTransport):
    """The training calls of the remote client."""

    # -- training (server-side only through a local workspace) -----------------------------------------
    def train(self, spec: Any, *, jobs: int = 1, progress: Any = None) -> Any:
        """Train from a spec (needs a local workspace)."""
        self._local_only("train")

    def automl(self, data: str, **kwargs: Any) -> dict[str, Any]:
        """AutoML (needs a local workspace)."""
        self._local_only("automl")

    def evaluate(self, run_id: str, data: str, *, progress: Any = None) -> Any:
        """Evaluate a run's model (needs a local workspace)."""
        self._local_only("evaluate")

    def reproduce(self, run_id: str, *, progress: Any = None) -> dict[str, Any]:
        """Re-run a training (needs a local workspace)."""
        self._local_only("reproduce")

    def load_model(self, ref: str, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        """Load a fitted model (needs a local workspace: the server sends no model files)."""
        self._local_only("load_model")
