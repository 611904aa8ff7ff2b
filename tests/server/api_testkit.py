"""Shared by the REST API tests: a live `carnet server` app with users and tokens, and the
problem+json assertion."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from carnet.server.api import create_api_app, serve_api_in_thread
from conftest import test_server_policy


@dataclass
class Api:
    """A running API: its base URL, an HTTP client on ``/api/v1``, the services behind it and one
    token per user; ``extra`` holds what a test module's set-up made (frames, models ...)."""

    url: str
    http: httpx.Client
    services: Any
    tokens: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def as_(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


@contextmanager
def running_api(
    services: Any, users: Mapping[str, Mapping[str, str]], *, timeout: float = 60, policy: Any = None
) -> Iterator[Api]:
    """Create ``users`` (name -> {project: role}) with a token each and serve ``services`` with auth."""
    tokens = {}
    for user, roles in users.items():
        services.auth.add_user(user, dict(roles))
        tokens[user] = services.auth.create_token(user, "tests")[0]
    server = serve_api_in_thread(
        create_api_app(
            services, require_auth=True, max_body_bytes=1 << 20, policy=policy or test_server_policy()
        )
    )
    try:
        with httpx.Client(base_url=f"{server.url}/api/v1", timeout=timeout) as http:
            yield Api(server.url, http, services, tokens)
    finally:
        server.stop()


def problem(r: httpx.Response, status: int, error: str, field: str | None) -> dict:
    """Assert ``r`` is a problem+json answer with this status, error class and field."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert (body["status"], body["error"], body["field"]) == (status, error, field), body
    return body
