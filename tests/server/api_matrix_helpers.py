"""Shared by the API security, fuzz and concurrency tests: a live server with authentication on, one
user per role on project P (plus a server admin, an outsider, a disabled user and a revoked token),
and the resources every route can be pointed at (a run with a metric, a tag, an artifact and an
input; a dataset version; a model with two versions and aliases)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from carnet.bootstrap import open_services
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.services import Services

PROJECT = "proj-p"
OTHER = "proj-q"
ROLES = ("viewer", "editor", "approver", "admin")
#: user name -> roles; the role users are named after their role on PROJECT
USERS: dict[str, dict[str, str]] = {
    **{role: {PROJECT: role} for role in ROLES},
    "root": {"*": "admin"},
    "outsider": {OTHER: "admin"},
    "disabled": {"*": "admin"},
    "revoked": {"*": "admin"},
    "target": {OTHER: "viewer"},  # the user the administration routes act on
}
MODEL = "clf"
MONITOR = "mon"
DATASET = "table"
CSV = b"a,b\n1,2\n3,4\n"


@dataclass
class LiveApi:
    """A running API server over a fresh workspace, with users, tokens and fixtures."""

    url: str
    services: Services
    tokens: dict[str, str]
    run_id: str = ""
    ended_run_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def _models(services: Services) -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    for c in (1.0, 0.5):
        model = LogisticRegression(C=c).fit(frame, [0, 0, 1, 1])
        services.registry.register_object(model, MODEL, frame, project=PROJECT, task="binary")
    services.registry.set_alias(MODEL, "production", 1)


def _fixtures(live: LiveApi, tmp: Path) -> None:
    s = live.services
    run = s.tracking.create_run(PROJECT, "matrix", params={"p": 1}, tags={"t": "x"})
    live.run_id = run.id
    s.tracking.log_batch(run.id, [s.tracking.make_metric("loss", 0.5, 0, 1.0)], None)
    artifact = tmp / "a.txt"
    artifact.write_bytes(b"artifact bytes")
    s.tracking.log_artifact(run.id, artifact, "a.txt")
    data = tmp / "table.csv"
    data.write_bytes(CSV)
    s.datasets.add(data, DATASET, project=PROJECT)
    s.tracking.log_inputs(run.id, [f"{DATASET}@1"], "training")
    _models(s)
    reference = tmp / "ref.csv"
    reference.write_text("x,target\n" + "".join(f"{i % 4}.0,{int(i % 4 > 1)}\n" for i in range(40)))
    s.datasets.add(reference, "ref", project=PROJECT)
    s.monitoring.create(monitor_spec(MONITOR))


def monitor_spec(name: str) -> dict[str, str]:
    """A valid monitor of the model's production version."""
    return {
        "name": name,
        "model": f"{MODEL}@production",
        "reference": "ref@1",
        "target": "target",
        "window": "50rows",
    }


@contextmanager
def live_api(
    tmp: Path, *, max_body_bytes: int = 1 << 20, max_json_bytes: int | None = None
) -> Iterator[LiveApi]:
    """A live server (authentication on) over a workspace in ``tmp`` with the users and fixtures."""
    services = open_services(str(tmp / "ws"))
    tokens: dict[str, str] = {}
    for user, roles in USERS.items():
        services.auth.add_user(user, roles)
        tokens[user] = services.auth.create_token(user, "tests")[0]
    services.auth.disable_user("disabled")
    services.auth.revoke_token(services.auth.list_tokens("revoked")[0].id)
    tokens["bad"] = "carnet_not-a-real-token"
    app = create_api_app(
        services, require_auth=True, max_body_bytes=max_body_bytes, max_json_bytes=max_json_bytes
    )
    server = serve_api_in_thread(app)
    live = LiveApi(server.url, services, tokens)
    try:
        _fixtures(live, tmp)
        yield live
    finally:
        server.stop()
        services.close()


def walk_routes(routes: Sequence[Any], prefix: str = "") -> Iterator[tuple[Any, str]]:
    """Every route of an app with its full path, descending into included routers (their prefix
    joined however this FastAPI keeps them: flattened, or as an included router with a context)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from walk_routes(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
        else:
            yield route, prefix + getattr(route, "path", "")


def is_problem(r: httpx.Response, status: int) -> bool:
    """Whether ``r`` is an ``application/problem+json`` document with ``status``."""
    return (
        r.status_code == status
        and r.headers.get("content-type", "").startswith("application/problem+json")
        and r.json().get("status") == status
    )
