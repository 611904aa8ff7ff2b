"""Shared fixtures: a workspace on SQLite and, when reachable, on PostgreSQL (own schema per test),
used in-process or, in modules marked ``served``, also behind a live ``carnet server`` on 127.0.0.1.

Every test that asks for ``workspace`` (or ``client``) runs once per workspace kind: ``sqlite`` and
``postgres`` (in-process); in a module (or class, or test) marked ``@pytest.mark.served``, also
``remote-sqlite`` and ``remote-postgres``: a real uvicorn server over a fresh workspace of that backend,
started for the test and stopped after it, reached by ``carnet.Client(server_url)``. A test of such a
module whose behaviour is inherently local is marked ``@pytest.mark.local_only("why")``: it runs on the
local kinds only, and the reason is required.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PG_URL = os.environ.get("CARNET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, str | None] = {}


def postgres_unreachable_reason() -> str | None:
    """None when PostgreSQL answers at CARNET_TEST_POSTGRES_URL, else why not (checked once)."""
    if "reason" not in _pg_state:
        try:
            import psycopg

            conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(conninfo, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["reason"] = None
        except Exception as exc:  # noqa: BLE001 - any failure means: skip with the reason
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _pg_state["reason"] = f"PostgreSQL not reachable at CARNET_TEST_POSTGRES_URL={PG_URL}: {first}"
    return _pg_state["reason"]


#: workspaces used in-process (a local URI)
LOCAL_KINDS = ("sqlite", "postgres")
#: workspaces behind a live carnet server (an http:// URI), over each backend
REMOTE_KINDS = ("remote-sqlite", "remote-postgres")


@dataclass
class Workspace:
    """A test workspace: its URI, artifact root and backend name.

    For a remote kind, ``uri`` is the URL of the live server in front of the workspace (``remote`` is
    True, ``artifacts`` None): ``client()`` gives a :class:`carnet.client.RemoteClient`.
    """

    uri: str
    artifacts: str | None
    backend: str
    path: Path
    schema: str | None = None
    remote: bool = False
    token: str | None = None
    services: Any = None  # remote kinds: the services of the workspace behind the server

    def client(self):  # noqa: ANN201 - carnet.Client, imported lazily
        from carnet import Client

        if self.remote:
            return Client(self.uri, token=self.token)
        return Client(self.uri, artifacts=self.artifacts)

    @contextmanager
    def client_as(self, user: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
        """A client acting as ``user``: CARNET_USER locally; remotely an approver's API token."""
        from carnet import Client

        if not self.remote:
            monkeypatch.setenv("CARNET_USER", user)
            with Client(self.uri, artifacts=self.artifacts) as other:
                yield other
            return
        self.services.auth.add_user(user, {"*": "approver"})
        with Client(self.uri, token=self.services.auth.create_token(user, "tests")[0]) as other:
            yield other


def make_pg_schema() -> tuple[str, str]:
    """Create a fresh schema; returns (schema, workspace URI whose search_path is that schema)."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:16]
    conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    return schema, f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def drop_pg_schema(schema: str) -> None:
    """Drop a schema made by :func:`make_pg_schema`."""
    import psycopg

    conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers that choose the workspace kinds of a test."""
    config.addinivalue_line(
        "markers", "served: the workspace tests also run against a live carnet server (remote-* kinds)"
    )
    config.addinivalue_line(
        "markers", "local_only(reason): in a served module, run on the in-process workspaces only"
    )


def workspace_kinds(item: pytest.Item) -> tuple[str, ...]:
    """The workspace kinds a test runs on, from its ``served`` and ``local_only`` markers."""
    local_only = item.get_closest_marker("local_only")
    if local_only is not None and not (local_only.args or local_only.kwargs.get("reason")):
        pytest.fail(
            f"{item.nodeid}: @pytest.mark.local_only needs the reason the test is local", pytrace=False
        )
    if item.get_closest_marker("served") is None or local_only is not None:
        return LOCAL_KINDS
    return LOCAL_KINDS + REMOTE_KINDS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per workspace kind for every test that uses ``workspace`` (directly or through ``client``)."""
    if "workspace" in metafunc.fixturenames:
        metafunc.parametrize("workspace", workspace_kinds(metafunc.definition), indirect=True)


@contextmanager
def _local_workspace(backend: str, tmp_path: Path) -> Iterator[Workspace]:
    if backend == "sqlite":
        yield Workspace(str(tmp_path / "ws"), None, "sqlite", tmp_path)
        return
    reason = postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    schema, uri = make_pg_schema()
    try:
        yield Workspace(uri, "file://" + str(tmp_path / "artifacts"), "postgres", tmp_path, schema)
    finally:
        drop_pg_schema(schema)


def test_server_policy() -> Any:
    """The test servers' policy: the tests' own receivers on loopback are allowed, and logfile
    notifiers write in one temporary folder (a real server allows neither unless configured)."""
    import tempfile

    from carnet.config import ServerPolicy

    folder = Path(tempfile.gettempdir()) / f"carnet-test-notifiers-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    return ServerPolicy(str(folder.resolve()), ("127.0.0.1", "::1", "localhost"))


test_server_policy.__test__ = False  # type: ignore[attr-defined]


@contextmanager
def serve_workspace(local: Workspace, *, auth: bool = True) -> Iterator[Workspace]:
    """A live carnet server in front of ``local``, stopped on exit. Authentication is on, as on a
    team server: the clients act as ``tester``, a server admin, with an API token (``auth`` False:
    no users, no token, nothing in the ledger before the test's own changes)."""
    from carnet.bootstrap import open_services
    from carnet.server.api import create_api_app, serve_api_in_thread

    services = open_services(local.uri, artifacts=local.artifacts)
    try:
        token = None
        if auth:
            services.auth.add_user("tester", {"*": "admin"})
            token = services.auth.create_token("tester", "tests")[0]
        server = serve_api_in_thread(
            create_api_app(services, require_auth=auth, max_body_bytes=1 << 26, policy=test_server_policy())
        )
        try:
            yield Workspace(server.url, None, local.backend, local.path, local.schema, True, token, services)
        finally:
            server.stop()
    finally:
        services.close()


@pytest.fixture
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace of each kind (PostgreSQL ones skipped with the reason when unreachable)."""
    kind = getattr(request, "param", "sqlite")
    backend = kind.removeprefix("remote-")
    with _local_workspace(backend, tmp_path) as local:
        if kind in LOCAL_KINDS:
            yield local
            return
        with serve_workspace(local) as served:
            yield served


@pytest.fixture
def client(workspace: Workspace) -> Iterator:  # noqa: ANN201
    """A carnet.Client on the parametrised workspace (a RemoteClient on the remote kinds)."""
    c = workspace.client()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def services(workspace: Workspace, client: Any) -> Any:
    """The services of the parametrised workspace, to check what a test did behind the API (the
    server's own on the remote kinds)."""
    return workspace.services if workspace.remote else client.services


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's CARNET_* settings or writes ./.carnet in the repo."""
    for key in list(os.environ):
        if key.startswith("CARNET_") and key != "CARNET_TEST_POSTGRES_URL":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CARNET_ACTOR", "tester")  # CARNET_USER (deleted above) would win
    monkeypatch.chdir(tmp_path)


# -- time by area: printed at the end of every run (CI's log keeps it) --------------------------------

_AREA_SECONDS: Counter[str] = Counter()
_AREA_TESTS: Counter[str] = Counter()


def area_of(nodeid: str) -> str:
    """The area of a test: its folder under ``tests/`` (``top`` for the files directly in it)."""
    parts = nodeid.split("::", 1)[0].split("/")
    if parts and parts[0] == "tests":
        parts = parts[1:]
    return parts[0] if len(parts) > 1 else "top"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add each phase's duration (setup, call, teardown) to its area."""
    area = area_of(report.nodeid)
    _AREA_SECONDS[area] += report.duration
    if report.when == "call":
        _AREA_TESTS[area] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per area, slowest first: seconds, share of the run, tests."""
    total = sum(_AREA_SECONDS.values())
    if not total:
        return
    terminalreporter.section("time by area")
    for area, seconds in _AREA_SECONDS.most_common():
        terminalreporter.write_line(
            f"{area:<14} {seconds:8.1f} s {100 * seconds / total:5.1f} %  {_AREA_TESTS[area]:5d} tests"
        )
