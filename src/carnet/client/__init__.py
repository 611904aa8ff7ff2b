"""The Python SDK: ``Client``/``connect`` for queries and changes, fluent ``start_run`` for tracking.

``connect(uri)`` (or ``Client(uri)``) opens a local workspace (folder, ``sqlite:///``,
``postgresql://``) in-process, or a ``http(s)://`` carnet server; either way the result implements
:class:`~carnet.client.api.ClientAPI`, the SDK surface written once.
"""

from __future__ import annotations

from carnet.client import fluent
from carnet.client.api import ClientAPI
from carnet.client.connect import Client, connect
from carnet.client.fluent import *  # noqa: F403 - the fluent API, listed once in fluent.__all__
from carnet.client.local import LocalClient
from carnet.client.remote import RemoteClient

__all__ = ["Client", "ClientAPI", "LocalClient", "RemoteClient", "connect", *fluent.__all__]
