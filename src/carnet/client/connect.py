"""``connect`` and ``Client``: the implementation of :class:`~carnet.client.api.ClientAPI` a URI calls for."""

from __future__ import annotations

from typing import Any

from carnet.client.api import ClientAPI
from carnet.client.local import LocalClient
from carnet.client.remote import RemoteClient, is_server_uri
from carnet.config import Settings, chosen_uri

__all__ = ["Client", "connect"]


def connect(
    uri: str | Settings | None = None,
    *,
    artifacts: str | None = None,
    create: bool = True,
    token: str | None = None,
) -> ClientAPI:
    """The client of the workspace at ``uri``: a folder, ``sqlite:///``, ``postgresql://`` (a
    :class:`LocalClient`, in-process) or ``http(s)://host:port`` (a :class:`RemoteClient` of
    ``carnet server``).

    ``uri`` defaults to ``CARNET_URI``, then ``carnet.toml``, then ``./.carnet``; ``artifacts`` and
    ``create`` apply to a local workspace, ``token`` (default ``CARNET_TOKEN``) to a server that
    requires authentication.
    """
    return Client(uri, artifacts=artifacts, create=create, token=token)


class Client(LocalClient):
    """Queries and changes a workspace addressed by a URI: a folder, ``sqlite:///``, ``postgresql://``
    (in-process), or ``http(s)://host:port`` (a :class:`RemoteClient` of ``carnet server``).

    ``Client(uri)`` is :func:`connect`: both return a :class:`~carnet.client.api.ClientAPI`, the
    one surface both transports implement.
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
