"""The registry test suites' one parametrized fixture: the same client calls through a local
workspace and through ``carnet server`` (real uvicorn on 127.0.0.1, authentication on)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from carnet import Client
from carnet.bootstrap import open_services
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.services import Services


@dataclass
class Side:
    """The registry reached locally or through ``carnet server`` (authentication on), and the
    workspace's services for what a test checks behind the API."""

    kind: str
    client: Any
    services: Services
    url: str = ""

    @contextmanager
    def as_user(self, user: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
        """A client acting as ``user``: CARNET_USER locally, an approver's token remotely."""
        if self.kind == "local":
            monkeypatch.setenv("CARNET_USER", user)
            with Client(self.client.uri) as other:
                yield other
            return
        self.services.auth.add_user(user, {"*": "approver"})
        with Client(self.url, token=self.services.auth.create_token(user)[0]) as other:
            yield other


@contextmanager
def open_side(kind: str, tmp_path: Path) -> Iterator[Side]:
    """A local or remote client over a fresh workspace in ``tmp_path``; ``tester`` acts remotely as a
    server admin."""
    if kind == "local":
        client = Client(str(tmp_path / "ws"))
        try:
            yield Side("local", client, client.services)
        finally:
            client.close()
        return
    services = open_services(str(tmp_path / "ws"))
    services.auth.add_user("tester", {"*": "admin"})
    server = serve_api_in_thread(create_api_app(services, require_auth=True, max_body_bytes=1 << 26))
    remote = Client(server.url, token=services.auth.create_token("tester")[0])
    try:
        yield Side("remote", remote, services, server.url)
    finally:
        remote.close()
        server.stop()
        services.close()
