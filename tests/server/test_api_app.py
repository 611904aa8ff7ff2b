"""The API app itself: /healthz, the OpenAPI document, THE route -> role table, THE error -> status
table and problem+json rendering, and the ``carnet server`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.routing import APIRoute

from carnet import errors
from carnet.bootstrap import open_services
from carnet.cli.main import cli
from carnet.cli.server import is_loopback
from carnet.errors import error_from_problem
from carnet.server.api import (
    ERROR_STATUS,
    PUBLIC,
    ROUTE_ROLES,
    create_api_app,
    serve_api_in_thread,
    status_for,
)
from carnet.server.api.app import iter_routes
from carnet.server.api.auth import caller
from carnet.server.ui import UI_ROLES
from carnet.services import Services


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    s = open_services(str(tmp_path / "ws"))
    yield s
    s.close()


@pytest.fixture
def url(services: Services) -> Iterator[str]:
    with serve_api_in_thread(create_api_app(services, require_auth=False, max_body_bytes=1 << 20)) as server:
        yield server.url


def test_healthz_and_the_openapi_document_are_served(url: str) -> None:
    health = httpx.get(f"{url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    r = httpx.get(f"{url}/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "carnet"
    assert all(p.startswith("/api/v1/") or p == "/healthz" for p in doc["paths"])
    operations = [op for item in doc["paths"].values() for op in item.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) and set(ids) <= set(ROUTE_ROLES)
    for op in operations:
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert set(response["content"]) == {"application/problem+json"}, (op["operationId"], status)
    for path in ("/docs", "/redoc"):
        assert httpx.get(f"{url}{path}").status_code == 404
    import openapi_spec_validator as validator

    validator.validate(doc)


def test_every_route_declares_its_role_and_checks_the_caller(services: Services) -> None:
    app = create_api_app(services, require_auth=False)
    # the web UI's pages have their own table (checked page by page by tests/server/test_ui_security.py)
    # and its static files are public
    routes = [r for r in iter_routes(app.routes) if r.name not in UI_ROLES and r.name != "static"]
    names = [r.name for r in routes]
    missing = [n for n in names if n not in ROUTE_ROLES]
    assert not missing, f"routes without an entry in ROUTE_ROLES: {missing}"
    assert len(names) == len(set(names)), "route names must be unique: they key the role table"
    assert set(ROUTE_ROLES) == set(names), f"stale entries: {set(ROUTE_ROLES) - set(names)}"
    assert set(ROUTE_ROLES.values()) <= {PUBLIC, "viewer", "editor", "approver", "admin"}
    assert set(UI_ROLES.values()) <= {PUBLIC, "viewer", "editor", "approver", "admin"}
    assert {r.name for r in iter_routes(app.routes)} - set(names) == {*UI_ROLES, "static"}
    for route in routes:
        if not isinstance(route, APIRoute):
            assert ROUTE_ROLES[route.name] == PUBLIC, route.name
            continue
        checks = any(d.call is caller for d in route.dependant.dependencies)
        assert checks == (ROUTE_ROLES[route.name] != PUBLIC), route.name
    for name, role in {
        "get_run": "viewer",
        "log_metrics": "editor",
        "approve_model_version": "approver",
        "set_model_alias": "admin",
        "delete_model_alias": "admin",
        "promote_model": "admin",
        "rollback_model": "admin",
    }.items():
        assert ROUTE_ROLES[name] == role


def test_the_error_table_covers_the_whole_tree() -> None:
    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    assert {c for c in classes if issubclass(c, errors.CarnetError)} == set(ERROR_STATUS)
    expected = {
        errors.InvalidInput: 422,
        errors.FilterSyntaxError: 422,
        errors.NotFound: 404,
        errors.AlreadyExists: 409,
        errors.Conflict: 409,
        errors.HookRefused: 409,
        errors.GateFailed: 422,
        errors.PermissionDenied: 403,
        errors.Unauthenticated: 401,
        errors.StorageError: 503,
        errors.ArtifactCorrupted: 500,
        errors.AuditChainBroken: 500,
        errors.AuditIntegrityError: 500,
        errors.ConfigurationError: 500,
        errors.AuditKeyMismatch: 500,
        errors.MetricUnavailable: 422,
        errors.DeliveryFailed: 502,
        errors.Overloaded: 503,
        errors.CarnetError: 500,
    }
    assert expected == ERROR_STATUS
    assert status_for(errors.Unauthenticated("x")) == 401  # the nearest class wins over its parent
    assert status_for(errors.ArtifactCorrupted("x", digest="d")) == 500


@pytest.mark.parametrize(
    "name", [n for n in errors.__all__ if n != "CarnetError" and isinstance(getattr(errors, n), type)]
)
def test_a_problem_document_gives_back_the_same_error_class(name: str) -> None:
    cls = getattr(errors, name)
    doc = {"error": name, "detail": "what went wrong", "field": "f", "status": 400, "digest": "d", "seq": 3}
    exc = error_from_problem(doc)
    expected = errors.InvalidInput if cls is errors.FilterSyntaxError else cls
    assert type(exc) is expected and exc.message == "what went wrong"
    assert type(error_from_problem({"error": "Bogus", "detail": "?"})) is errors.CarnetError


def test_unknown_routes_methods_and_bodies_are_problems_too(url: str) -> None:
    nope = httpx.get(f"{url}/api/v1/nothing-here")
    assert nope.status_code == 404 and nope.headers["content-type"] == "application/problem+json"
    assert nope.json()["error"] == "NotFound"
    method = httpx.delete(f"{url}/api/v1/projects")
    assert method.status_code == 405 and method.json()["status"] == 405
    bad = httpx.post(f"{url}/api/v1/projects", json={"name": 5})
    assert (
        bad.status_code == 422
        and bad.json()["field"] == "name"
        and bad.json()["errors"][0]["field"] == "name"
    )
    query = httpx.get(f"{url}/api/v1/audit/events", params={"limit": 0})
    assert query.status_code == 422 and query.json()["field"] == "limit"


def test_auth_cannot_be_required_without_an_auth_service(services: Services) -> None:
    if hasattr(services, "auth"):
        del services.auth
    with pytest.raises(errors.InvalidInput) as err:
        create_api_app(services, require_auth=True)
    assert err.value.field == "require_auth"
    with pytest.raises(errors.InvalidInput):
        create_api_app(services, require_auth=False, max_body_bytes=0)


def test_audit_routes_list_and_verify(services: Services, url: str) -> None:
    httpx.post(f"{url}/api/v1/runs", json={"project": "p"})
    events = httpx.get(f"{url}/api/v1/audit/events", params={"subject_type": "run"}).json()
    assert [e["action"] for e in events] == ["run.create"] and events[0]["hash"]
    assert (
        httpx.get(f"{url}/api/v1/audit/events", params={"action": "project.create"}).json()[0]["subject_id"]
        == "p"
    )
    verified = httpx.get(f"{url}/api/v1/audit/verify").json()
    assert verified == {
        "ok": True,
        "count": 2,
        "broken_seq": None,
        "reason": None,
        "anchors": [],
        "state": [],
        "runs_checked": None,
        "runs_not_covered": None,
    }


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.org", "192.168.1.5"))


def test_server_refuses_no_auth_off_loopback_and_a_missing_workspace(tmp_path: Path) -> None:
    runner = CliRunner()
    refused = runner.invoke(cli, ["server", "--host", "0.0.0.0", "--no-auth", "--uri", str(tmp_path)])
    assert refused.exit_code == 2 and "--no-auth is refused" in refused.output
    missing = runner.invoke(cli, ["server", "--uri", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no carnet workspace" in missing.output
    helped = runner.invoke(cli, ["server", "--help"])
    assert helped.exit_code == 0 and "--require-auth / --no-auth" in helped.output


def test_carnet_server_runs_the_api(tmp_path: Path) -> None:
    from carnet.server.background import free_port

    ws = tmp_path / "ws"
    open_services(str(ws)).close()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "carnet.cli.main", "server", "--uri", str(ws), "--port", str(port), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert started["url"] == f"http://127.0.0.1:{port}" and started["auth"] is False
        assert httpx.get(f"{started['url']}/healthz", timeout=10).json()["status"] == "ok"
        created = httpx.post(f"{started['api']}/projects", json={"name": "from-cli"}, timeout=10)
        assert created.status_code == 201
    finally:
        proc.terminate()
        proc.wait(30)
