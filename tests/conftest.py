"""Shared fixtures: a workspace on SQLite and, when reachable, on PostgreSQL (own schema per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class Workspace:
    """A test workspace: its URI, artifact root and backend name."""

    uri: str
    artifacts: str | None
    backend: str
    path: Path
    schema: str | None = None

    def client(self):  # noqa: ANN201 - carnet.Client, imported lazily
        from carnet import Client

        return Client(self.uri, artifacts=self.artifacts)


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


@pytest.fixture(params=["sqlite", "postgres"])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace on each backend (PostgreSQL skipped with the reason when unreachable)."""
    if request.param == "sqlite":
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


@pytest.fixture
def client(workspace: Workspace) -> Iterator:  # noqa: ANN201
    """A carnet.Client on the parametrised workspace."""
    c = workspace.client()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's CARNET_* settings or writes ./.carnet in the repo."""
    for key in list(os.environ):
        if key.startswith("CARNET_") and key != "CARNET_TEST_POSTGRES_URL":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CARNET_ACTOR", "tester")  # CARNET_USER (deleted above) would win
    monkeypatch.chdir(tmp_path)
