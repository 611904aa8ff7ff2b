"""Every route of /api/v1 x every kind of caller: no token, a malformed header, a bad token, a revoked
token and a disabled user's token get 401 (problem+json with a Bearer challenge) and change nothing;
a role below the route's entry in ROUTE_ROLES gets 403; a role at or above it gets through (any
answer but 401, 403 and 5xx). Routes are read from the app, so a new route without an entry in the
role table, or one whose path parameters this matrix cannot fill, fails here by name."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_matrix_helpers import (
    CSV,
    DATASET,
    MODEL,
    MONITOR,
    OTHER,
    PROJECT,
    ROLES,
    LiveApi,
    is_problem,
    live_api,
    monitor_spec,
    walk_routes,
)
from fastapi.routing import APIRoute

from carnet.domain.auth import ROLES as DOMAIN_ROLES
from carnet.server.api import PUBLIC, ROUTE_ROLES, create_api_app
from carnet.server.api.app import API_PREFIX, iter_routes

#: routes that need their role on every project ('*'): the audit ledger, deployments, users, the
#: tokens of another user (the callers are never the user the token routes name), and the store
GLOBAL_ROUTES = frozenset(
    {
        "audit_events",
        "audit_verify",
        "list_deployments",
        "get_deployment",
        "set_deployment",
        "deployment_history",
        "delete_deployment",
        "resolve_deployment",
        "ab_analysis",
        "list_users",
        "create_user",
        "disable_user",
        "enable_user",
        "grant_role",
        "revoke_role",
        "list_user_tokens",
        "list_tokens",
        "create_user_token",
        "revoke_user_token",
        "dataset_usage",
        "collect_garbage",
        "chunk_datasets",
    }
)
#: routes that list what the caller may read (no 403: other projects are filtered out)
FILTERED_ROUTES = frozenset(
    {
        "list_projects",
        "list_datasets",
        "list_models",
        "list_encoders",
        "search_runs",
        "list_monitors",
        "list_alerts",
    }
)
#: routes whose resource this matrix cannot create (an alert needs a monitoring pass that fires a
#: rule): they are called with an unknown id, looked up before the role is checked, so a caller below
#: the role gets 404 instead of 403; the 401 cases and the callers at/above the role are still checked
UNKNOWN_RESOURCE = frozenset({"acknowledge_alert", "resolve_alert"})
#: the callers a role check is tried with: the four roles on PROJECT, a server admin, an outsider
ROLE_CALLERS = (*ROLES, "root", "outsider")
#: the callers that must get 401 (the header is sent as given)
UNAUTHENTICATED: dict[str, dict[str, str]] = {
    "no-token": {},
    "not-bearer": {"Authorization": "Basic cm9vdDpyb290"},
    "empty-bearer": {"Authorization": "Bearer"},
}
TOKEN_401 = ("bad", "revoked", "disabled")


@dataclass(frozen=True)
class RouteSpec:
    name: str
    method: str
    path: str

    @property
    def id(self) -> str:
        return f"{self.name}:{self.method} {self.path}"


def _api_routes() -> list[RouteSpec]:
    app = create_api_app(None, require_auth=False)  # type: ignore[arg-type] - routes only
    specs = []
    for route, path in walk_routes(app.routes):
        if not path.startswith(API_PREFIX + "/"):
            continue
        methods = sorted(getattr(route, "methods", None) or {"GET"})
        for method in methods:
            if method != "HEAD":
                specs.append(RouteSpec(route.name, method, path))
    return specs


ROUTES = _api_routes()


# -- requests: path parameters, bodies and per-route preparation -------------------------------------
@dataclass
class Req:
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] | None = None
    form: dict[str, Any] | None = None  # multipart: {"data": {...}, "files": {...}}

    def send(self, http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
        if self.form is not None:
            return http.request(self.method, self.path, params=self.params, headers=headers, **self.form)
        return http.request(
            self.method, self.path, json=self.json, content=self.content, params=self.params, headers=headers
        )


def _fresh_run(live: LiveApi) -> dict[str, str]:
    return {"run_id": live.services.tracking.create_run(PROJECT, "to-end").id}


def _tag_again(live: LiveApi) -> dict[str, str]:
    live.services.tracking.set_tags(live.run_id, {"t": "x"})
    return {}


def _staging(live: LiveApi) -> dict[str, str]:
    live.services.registry.set_alias(MODEL, "staging", 1)
    return {"alias": "staging"}


def _target_token(live: LiveApi) -> dict[str, str]:
    return {"token_id": str(live.services.auth.create_token("target", "matrix")[1].id)}


def _fresh_monitor(live: LiveApi) -> dict[str, str]:
    live.extra["monitors"] = str(int(live.extra.get("monitors", "0")) + 1)
    name = f"mon-{live.extra['monitors']}"
    live.services.monitoring.create(monitor_spec(name))
    return {"name": name}


def _model_tag(live: LiveApi) -> dict[str, str]:
    live.services.registry.set_tags(MODEL, {"t": "x"})
    return {}


def _canary_history(live: LiveApi) -> dict[str, str]:
    live.services.registry.set_alias(MODEL, "canary", 1)
    live.services.registry.set_alias(MODEL, "canary", 2)
    return {}


#: route -> (body or upload content, query params, preparation returning path-parameter overrides)
SETUP: dict[str, Callable[[LiveApi], dict[str, str]]] = {
    "update_run": _fresh_run,
    "delete_tag": _tag_again,
    "delete_model_alias": _staging,
    "rollback_model": _canary_history,
    "revoke_user_token": _target_token,
    "delete_monitor": _fresh_monitor,
    "delete_model_tag": _model_tag,
}
BODIES: dict[str, Any] = {
    "create_project": {"name": PROJECT},
    "create_run": {"project": PROJECT},
    "search_runs": {},
    "update_run": {"status": "finished"},
    "log_params": {"params": {"p": 1}},
    "log_metrics": {"metrics": [{"key": "loss", "value": 0.25, "step": 1}]},
    "set_tags": {"tags": {"t": "x"}},
    "log_inputs": {"datasets": [f"{DATASET}@1"]},
    "upload_artifact": b"uploaded by the matrix",
    "upload_dataset": CSV,
    "dataset_risk": {"quasi_identifiers": ["a"]},
    "deidentify_dataset": {"config": {"columns": {"b": "drop"}}},
    "erase_dataset": {"where": "a == -12345", "reason": "matrix", "dry_run": True},
    "purge_dataset": {"reason": "matrix"},
    "collect_garbage": {"dry_run": True},
    "chunk_datasets": {"dry_run": True},
    "register_model_version": None,  # filled with the run id
    "approve_model_version": {"alias": "production", "comment": "matrix"},
    "set_model_alias": {"version": 1, "reason": "matrix"},
    "promote_model": {"version": 2, "alias": "production", "dry_run": True},
    "request_promotion": {"version": 2, "alias": "production"},
    "check_promotion": {"version": 2, "alias": "production"},
    "rollback_model": {"alias": "canary", "reason": "matrix"},
    "set_model_tags": {"tags": {"t": "x"}},
    "create_user": {"name": "newcomer", "roles": {OTHER: "viewer"}},
    "grant_role": {"role": "viewer"},
    "create_user_token": {"label": "matrix"},
    "set_deployment": {"routes": [{"model": f"{MODEL}@production", "weight": 100}]},
    "create_monitor": monitor_spec(MONITOR),
    "run_monitor": {"flush": False},
    "acknowledge_alert": {"comment": "matrix"},
    "resolve_alert": {"comment": "matrix"},
    "upload_labels": b"request_id,label\nr1,1\n",
    "detect_drift": {"reference": "ref@1", "current": "ref@1"},  # the monitors' reference, in PROJECT
    # trainings are checked, then stream; the target is missing, so each stops at once (in-stream)
    "train": {"spec": {"dataset": f"{DATASET}@1", "task": "binary", "target": "missing", "project": PROJECT}},
    "automl": {"data": f"{DATASET}@1", "target": "missing", "project": PROJECT, "time_budget": 1},
    "evaluate_run": {"data": f"{DATASET}@1"},
    "explain": {"ref": f"{MODEL}@production", "data": f"{DATASET}@1", "rows": "0"},
    "stress": {"ref": f"{MODEL}@production", "data": f"{DATASET}@1"},
    "model_dossier_with_mappings": {"mappings": []},
    "model_compliance": {"mappings": []},
    "predict_batch": {"ref": f"{MODEL}@production", "data": f"{DATASET}@1", "batch_rows": 1000},
    "reproduce_run": {},
    "derive_model": {"ref": f"{MODEL}@production", "data": f"{DATASET}@1"},
    "add_encoder": {"name": "enc", "encoder": "hashing", "project": PROJECT},
    "embed": {"encoder": "hashing", "data": f"{DATASET}@1", "column": "a"},
}
QUERY: dict[str, dict[str, str]] = {
    "lineage": {"ref": f"{DATASET}@1"},
    "upload_dataset": {"filename": "table.csv", "project": PROJECT},
    "delete_model_alias": {"reason": "matrix"},
    "upload_labels": {"model": MODEL, "filename": "labels.csv"},
    "delete_deployment": {"reason": "matrix"},
}


def _path_value(spec: RouteSpec, param: str, live: LiveApi) -> str:
    top = spec.path.removeprefix(API_PREFIX + "/").split("/")[0]
    models, datasets = top == "models", top == "datasets"
    values = {
        "run_id": live.run_id,
        "key": "loss" if spec.name == "metric_history" else "t",
        "path": "up.txt" if spec.method == "PUT" else "a.txt",
        "version": "1",
        "alias": "production",
        "endpoint": "ep",  # deployed by set_deployment; deployment routes check '*' before any lookup
        "alert_id": "999999",
        "seq": "1",  # a window of the monitor (it has none: 404 once the role is checked)
        "project": OTHER if top == "users" else PROJECT,
    }
    if param in values:
        return values[param]
    names = {"models": MODEL, "datasets": DATASET, "users": "target", "monitors": MONITOR}
    if param == "name" and top in names:
        return names[top]
    if param == "ref" and (models or datasets):
        return f"{MODEL}@production" if models else f"{DATASET}@1"
    if param == "ref" and top == "encoders":
        return MODEL  # a model, not an encoder: 404 once the role is checked
    raise AssertionError(
        f"route {spec.id}: the security matrix does not know how to fill the path parameter {param!r}; "
        "add it to _path_value in tests/server/test_api_security_matrix.py"
    )


def build(spec: RouteSpec, live: LiveApi) -> Req:
    """A request that passes validation for ``spec``, with its resources prepared."""
    overrides = SETUP[spec.name](live) if spec.name in SETUP else {}
    path = _PARAM.sub(lambda m: overrides.get(m[1]) or _path_value(spec, m[1], live), spec.path)
    path = path.removeprefix(API_PREFIX)
    body = BODIES.get(spec.name, {} if spec.method in ("POST", "PUT", "PATCH") else None)
    if spec.name == "register_model_version":
        body = {"run_id": live.run_id}
    if spec.name == "upload_artifacts":
        form = {"data": {"paths": json.dumps(["many/a.txt"])}, "files": [("files", ("a.txt", b"a"))]}
        return Req(spec.method, path, form=form)
    if spec.name == "detect_drift_files":  # multipart; either side may be a dataset version
        form = {"data": {"reference": "ref@1", "current": "ref@1"}, "files": {}}
        return Req(spec.method, path, form=form)
    if spec.name == "log_model_object":
        meta = {"flavor": "sklearn", "signature": [{"name": "x", "dtype": "float64"}], "project": PROJECT}
        form = {"data": {"meta": json.dumps(meta)}, "files": {"file": ("model", b"model bytes")}}
        return Req(spec.method, path, form=form)
    if isinstance(body, bytes):
        return Req(spec.method, path, content=body, params=QUERY.get(spec.name))
    return Req(spec.method, path, json=body, params=QUERY.get(spec.name))


_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_APP_ROUTES = create_api_app(None, require_auth=False).routes  # type: ignore[arg-type] - routes only


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("CARNET_") and key != "CARNET_TEST_POSTGRES_URL":
                mp.delenv(key, raising=False)
        with live_api(tmp_path_factory.mktemp("matrix")) as api:
            yield api


@pytest.fixture(scope="module")
def http(live: LiveApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.api, timeout=60) as client:
        yield client


def _audit_count(live: LiveApi) -> int:
    return len(live.services.audit.log(None, None, limit=1_000_000))


# -- the table covers the routes, the routes cover the table ---------------------------------------
def test_every_route_has_a_role_and_every_role_entry_names_a_route() -> None:
    names = {getattr(r, "name", None) for r in iter_routes(_APP_ROUTES)}
    api_names = {s.name for s in ROUTES}
    missing = sorted(n for n in api_names if n not in ROUTE_ROLES)
    assert not missing, f"routes without an entry in ROUTE_ROLES: {missing}"
    stale = sorted(set(ROUTE_ROLES) - names)
    assert not stale, f"ROUTE_ROLES entries that name no route: {stale}"
    assert set(ROUTE_ROLES.values()) <= {PUBLIC, *DOMAIN_ROLES}
    assert api_names, "no /api/v1 routes found"
    for route in iter_routes(_APP_ROUTES):
        if route.name == "static":  # the web UI's script and style files: public, as any site's
            continue
        if not isinstance(route, APIRoute):
            assert ROUTE_ROLES.get(route.name) == PUBLIC, route.name


def test_the_matrix_tables_name_only_existing_routes() -> None:
    names = {s.name for s in ROUTES}
    for table in (SETUP, BODIES, QUERY, GLOBAL_ROUTES, FILTERED_ROUTES, UNKNOWN_RESOURCE):
        assert set(table) <= names, f"stale matrix entries: {set(table) - names}"


# -- authentication --------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ROUTES, ids=lambda s: s.id)
def test_unauthenticated_callers_get_401_and_change_nothing(
    spec: RouteSpec, live: LiveApi, http: httpx.Client
) -> None:
    req = build(spec, live)
    if ROUTE_ROLES.get(spec.name) == PUBLIC:
        for headers in (
            *UNAUTHENTICATED.values(),
            *({"Authorization": f"Bearer {live.tokens[u]}"} for u in TOKEN_401),
        ):
            r = req.send(http, headers)
            assert r.status_code < 400, (spec.id, r.status_code, r.text[:300])
        return
    before = _audit_count(live)
    cases = {**UNAUTHENTICATED, **{u: {"Authorization": f"Bearer {live.tokens[u]}"} for u in TOKEN_401}}
    for case, headers in cases.items():
        r = req.send(http, headers)
        assert is_problem(r, 401), (spec.id, case, r.status_code, r.text[:300])
        assert r.headers.get("www-authenticate", "").startswith("Bearer"), (spec.id, case, dict(r.headers))
        assert r.json()["error"] == "Unauthenticated", (spec.id, case, r.json())
    # an unauthenticated request without its body is refused for the token, not for the body
    bare = http.request(spec.method, req.path, headers={})
    assert is_problem(bare, 401), (spec.id, "no token, no body", bare.status_code, bare.text[:300])
    assert _audit_count(live) == before, f"{spec.id}: an unauthenticated request changed the workspace"


# -- authorisation ---------------------------------------------------------------------------------
def expected_allowed(spec: RouteSpec, user: str) -> bool:
    """Whether ``user`` holds the role the table names for ``spec`` where the request touches."""
    need = ROUTE_ROLES[spec.name]
    if need == PUBLIC or user == "root":
        return True
    if spec.name in FILTERED_ROUTES:
        return True  # lists are filtered, never refused
    if user == "outsider" or spec.name in GLOBAL_ROUTES:
        return False  # no role on PROJECT / no role on '*'
    return DOMAIN_ROLES.index(user) >= DOMAIN_ROLES.index(need)


@pytest.mark.parametrize("user", ROLE_CALLERS)
@pytest.mark.parametrize("spec", ROUTES, ids=lambda s: s.id)
def test_roles_below_the_table_get_403_and_at_or_above_get_through(
    spec: RouteSpec, user: str, live: LiveApi, http: httpx.Client
) -> None:
    req = build(spec, live)
    r = req.send(http, live.headers(user))
    if expected_allowed(spec, user):
        assert r.status_code not in (401, 403), (spec.id, user, r.status_code, r.text[:300])
        assert r.status_code < 500, (spec.id, user, r.status_code, r.text[:300])
    elif spec.name in UNKNOWN_RESOURCE:
        assert is_problem(r, 404) or is_problem(r, 403), (spec.id, user, r.status_code, r.text[:300])
    else:
        assert is_problem(r, 403), (spec.id, user, r.status_code, r.text[:300])
        body = r.json()
        assert (body["error"], body["field"]) == ("PermissionDenied", "project"), (spec.id, user, body)
        assert ROUTE_ROLES[spec.name] in body["detail"], (spec.id, user, body)


# -- request size limits ---------------------------------------------------------------------------
MAX_JSON = 8 * 1024
MAX_BODY = 64 * 1024


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[LiveApi, httpx.Client, Path]]:
    with (
        live_api(tmp_path, max_body_bytes=MAX_BODY, max_json_bytes=MAX_JSON) as api,
        httpx.Client(base_url=api.api, timeout=60, headers=api.headers("editor")) as client,
    ):
        yield api, client, tmp_path / "ws"


def _chunks(total: int, size: int = 4096) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def _stored(ws: Path) -> set[Path]:
    return {p for p in ws.rglob("*") if p.is_file() and {"objects", "packs", "manifests"} & set(p.parts)}


def test_json_bodies_over_the_json_limit_get_413_and_change_nothing(
    small: tuple[LiveApi, httpx.Client, Path],
) -> None:
    live, client, _ = small
    before = _audit_count(live)
    big = {"metrics": [{"key": "loss", "value": 0.5, "step": i} for i in range(MAX_JSON // 20)]}
    declared = client.post(f"/runs/{live.run_id}/metrics", json=big)
    assert is_problem(declared, 413), (declared.status_code, declared.text[:300])
    assert declared.json()["field"] == "body"
    chunked = client.post(
        f"/runs/{live.run_id}/metrics",
        content=_chunks(MAX_JSON * 2),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in chunked.request.headers
    assert is_problem(chunked, 413), (chunked.status_code, chunked.text[:300])
    too_big_search = client.post("/runs/search", json={"filter": "x" * (MAX_JSON + 1)})
    assert is_problem(too_big_search, 413), too_big_search.status_code
    assert _audit_count(live) == before
    assert [m.step for m in live.services.tracking.metric_history(live.run_id, "loss")] == [0]
    # just under the limit is fine
    ok = client.post(
        f"/runs/{live.run_id}/metrics", json={"metrics": [{"key": "loss", "value": 1, "step": 1}]}
    )
    assert ok.status_code == 200, ok.text


def test_uploads_over_the_body_limit_get_413_and_store_nothing(
    small: tuple[LiveApi, httpx.Client, Path],
) -> None:
    live, client, ws = small
    objects, before = _stored(ws), _audit_count(live)
    datasets = [(d.name, d.version) for d in live.services.datasets.list()]
    run = f"/runs/{live.run_id}/artifacts"
    declared = client.put(f"{run}/big.bin", content=b"z" * (MAX_BODY + 1))
    assert is_problem(declared, 413), (declared.status_code, declared.text[:300])
    chunked = client.put(f"{run}/big2.bin", content=_chunks(MAX_BODY * 2, 16 * 1024))
    assert "content-length" not in chunked.request.headers
    assert is_problem(chunked, 413), (chunked.status_code, chunked.text[:300])
    csv = b"a,b\n" + b"1,2\n" * (MAX_BODY // 4 + 1)
    dataset = client.post("/datasets/big", content=csv, params={"filename": "big.csv", "project": PROJECT})
    assert is_problem(dataset, 413), (dataset.status_code, dataset.text[:300])
    streamed = client.post(
        "/datasets/big",
        content=iter([csv[: MAX_BODY // 2], csv[MAX_BODY // 2 :]]),
        params={"filename": "b.csv", "project": PROJECT},
    )
    assert is_problem(streamed, 413), (streamed.status_code, streamed.text[:300])
    assert [a.path for a in live.services.tracking.list_artifacts(live.run_id)] == ["a.txt"]
    assert [(d.name, d.version) for d in live.services.datasets.list()] == datasets
    assert _stored(ws) == objects and _audit_count(live) == before
    # an upload over the JSON limit but under the body limit is accepted
    ok = client.put(f"{run}/fits.bin", content=b"y" * (MAX_JSON * 4))
    assert ok.status_code == 201, ok.text
