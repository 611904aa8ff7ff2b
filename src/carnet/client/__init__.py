"""The Python SDK: ``Client`` for queries and changes, fluent ``start_run`` for tracking.

``Client(uri)`` opens a local workspace (folder, ``sqlite:///``, ``postgresql://``) in-process, and
gives a :class:`~carnet.client.remote.RemoteClient` for a ``http(s)://`` carnet server URI.
"""

from __future__ import annotations

from typing import Any

from carnet.client.fluent import (
    ActiveRun,
    active_run,
    end_run,
    flush,
    log_artifact,
    log_dataset,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_seed,
    set_tag,
    start_run,
)
from carnet.client.local import Client as LocalClient
from carnet.client.remote import RemoteClient, is_server_uri
from carnet.config import Settings, chosen_uri

__all__ = [
    "ActiveRun",
    "Client",
    "LocalClient",
    "RemoteClient",
    "active_run",
    "end_run",
    "flush",
    "log_artifact",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_seed",
    "set_tag",
    "start_run",
]


class Client(LocalClient):
    """Queries and changes a workspace addressed by a URI: a folder, ``sqlite:///``, ``postgresql://``
    (in-process), or ``http(s)://host:port`` (a :class:`RemoteClient` of ``carnet server``).

    ``uri`` defaults to ``CARNET_URI``, then ``carnet.toml``, then ``./.carnet``; ``token`` (default
    ``CARNET_TOKEN``) is the API token of a server that requires authentication.
    """

    def __new__(
        cls,
        uri: str | Settings | None = None,
        *,
        artifacts: str | None = None,
        create: bool = True,
        token: str | None = None,
    ) -> Any:
        if not isinstance(uri, Settings):
            target = chosen_uri(uri)
            if is_server_uri(target):
                return RemoteClient(target, token=token)
        return super().__new__(cls)

    def __init__(
        self,
        uri: str | Settings | None = None,
        *,
        artifacts: str | None = None,
        create: bool = True,
        token: str | None = None,
    ) -> None:
        super().__init__(uri, artifacts=artifacts, create=create)
