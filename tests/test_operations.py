"""The operation table is the one declaration of the REST API: the server's routes are built from
it and the remote client sends nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

import carnet.server.api.routes as routes
from carnet.operations import API_PREFIX, OPERATIONS, Operation, call, operation
from carnet.server.api import ROUTE_ROLES, create_api_app
from carnet.server.api.app import UPLOAD_ROUTES, iter_routes
from carnet.server.ui import PAGES

CLIENT = Path(routes.__file__).parents[2] / "client"


def _api_routes() -> list[APIRoute]:
    app = create_api_app(None, require_auth=False)  # type: ignore[arg-type] - routes only
    return [r for r in iter_routes(app.routes) if isinstance(r, APIRoute)]


def test_every_route_is_an_operation_of_the_table_in_its_order() -> None:
    built = [(r.name, sorted(r.methods), r.path, r.status_code or 200) for r in _api_routes()]
    declared = [
        (op.name, [op.method], (API_PREFIX if op.api else "") + op.path, op.status) for op in OPERATIONS
    ]
    pages = [(p.name, [p.method], p.path, 200) for p in PAGES]
    assert built == declared + pages


def test_every_page_names_an_operation_whose_role_it_takes() -> None:
    for page in PAGES:
        if page.operation != "public":
            assert page.role == ROUTE_ROLES[page.operation], page.name
    assert {p.name for p in PAGES}.isdisjoint(ROUTE_ROLES)


def test_names_and_routes_are_declared_once() -> None:
    names = [op.name for op in OPERATIONS]
    assert len(names) == len(set(names))
    routes_ = [op.route for op in OPERATIONS]
    assert len(routes_) == len(set(routes_))


def test_roles_and_upload_limits_come_from_the_table() -> None:
    for op in OPERATIONS:
        assert ROUTE_ROLES[op.name] == op.role
    assert set(ROUTE_ROLES) == {op.name for op in OPERATIONS} | {"openapi"}
    assert {"upload_dataset", "upload_artifact", "upload_artifacts", "log_model_object"} <= UPLOAD_ROUTES
    assert "create_run" not in UPLOAD_ROUTES


def test_a_handler_whose_body_differs_from_the_table_stops_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = tuple(
        Operation(**{**op.__dict__, "body": "ProjectIn"}) if op.name == "create_run" else op
        for op in OPERATIONS
    )
    monkeypatch.setattr(routes, "OPERATIONS", wrong)
    with pytest.raises(TypeError, match="create_run: the table says body ProjectIn"):
        create_api_app(None, require_auth=False)  # type: ignore[arg-type]


def test_a_handler_taking_a_body_the_table_does_not_declare_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = tuple(
        Operation(**{**op.__dict__, "body": None}) if op.name == "set_tags" else op for op in OPERATIONS
    )
    monkeypatch.setattr(routes, "OPERATIONS", wrong)
    with pytest.raises(TypeError, match="set_tags: the table names no JSON model"):
        create_api_app(None, require_auth=False)  # type: ignore[arg-type]


def test_call_fills_and_encodes_the_path() -> None:
    assert call("get_run", run_id="ab/c d") == ("GET", "/runs/ab%2Fc%20d")
    assert (
        call("download_artifact", run_id="r1", path="model/meta.json").path
        == "/runs/r1/artifacts/model/meta.json"
    )
    assert call("get_model", ref="churn@prod").path == "/models/churn%40prod"
    assert call("approve_model_version", name="m", version=3) == ("POST", "/models/m/versions/3/approvals")
    assert call("list_projects") == ("GET", "/projects")


def test_call_refuses_missing_or_unknown_path_values() -> None:
    with pytest.raises(KeyError, match="get_run takes"):
        call("get_run")
    with pytest.raises(KeyError, match="get_run takes"):
        call("get_run", run_id="x", other="y")
    with pytest.raises(KeyError):
        operation("no_such_operation")


def _client_sources() -> list[Path]:
    return sorted(p for p in CLIENT.glob("remote*.py"))


def test_the_remote_client_writes_no_path_of_its_own() -> None:
    """Every request goes through call(): no API path literal and no hand-made Call in the client."""
    tops = {op.path.split("/")[1] for op in OPERATIONS}  # runs, models, datasets, ...
    found = []
    for path in _client_sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            text = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                text = str(node.values[0].value)
            if text and text[:1] == "/" and (text[1:].split("/")[0] in tops or text.startswith(API_PREFIX)):
                found.append(f"{path.name}:{node.lineno}: {text}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Call":
                found.append(f"{path.name}:{node.lineno}: Call(...)")
    assert _client_sources() and not found, found
