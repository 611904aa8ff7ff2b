"""The web UI's security, over a live server with authentication on: every page x every kind of
caller (no session, a bad or revoked token, each role on the project, a server admin, a user of
another project) gets what the API would give it, forms need their CSRF token and this site's
origin, sign-in cannot be turned into an open redirect, and every page has a strict CSP. Pages are
read from the page table, so a new page this matrix cannot reach fails here by name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_matrix_helpers import DATASET, MODEL, MONITOR, PROJECT, ROLES, LiveApi, live_api

from carnet.server.ui import PAGES
from carnet.server.ui.app import Page
from carnet.server.ui.session import CSP, CSRF_COOKIE, SESSION_COOKIE

ENDPOINT = "matrix-endpoint"
#: pages that need their role on every project ('*'), as their API operations do
GLOBAL = {"ui_audit", "ui_audit_verify", "ui_deployments", "ui_deployment", "ui_deploy"}
#: pages that list what the caller may read (no 403: other projects are left out)
FILTERED = {"ui_home", "ui_runs", "ui_models", "ui_approvals", "ui_datasets", "ui_monitors"}
#: sign-in pages: public
PUBLIC_PAGES = {"ui_login", "ui_login_post", "ui_logout"}
#: pages whose object this matrix cannot create (an alert, a background job of the user's): looked
#: up before the role check (404)
UNKNOWN = {"ui_alert_acknowledge", "ui_alert_resolve", "ui_automl_job", "ui_promotion_job"}
CALLERS = (*ROLES, "root", "outsider")
RANK = {role: i for i, role in enumerate(ROLES)}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_api(tmp_path_factory.mktemp("ui-matrix")) as api:
        api.services.deployments.set(
            {"endpoint": ENDPOINT, "routes": [{"model": f"{MODEL}@production", "weight": 100}]}
        )
        yield api


def _path(page: Page, live: LiveApi) -> str:
    values = {
        "run_id": live.run_id,
        "path": "a.txt",
        "version": "1",
        "endpoint": ENDPOINT,
        "alert_id": "987654",
        "job_id": "0123456789abcdef0123456789abcdef",
        "name": {"ops": DATASET, "models": MODEL}.get(page.area, MODEL),
    }
    if page.name in ("ui_monitor",):
        values["name"] = MONITOR
    if page.name in ("ui_automl_start",):
        values["name"] = DATASET
    path = page.path
    for key, value in values.items():
        path = re.sub(r"\{" + key + r"(:path)?\}", value, path)
    assert "{" not in path, f"{page.name}: the matrix cannot fill {path}"
    query = {
        "ui_compare": f"?run={live.run_id}",
        "ui_run_series": "?key=loss",
        "ui_run_chart": "?key=loss",
        "ui_compare_series": f"?key=loss&run={live.run_id}",
        "ui_dataset_diff": "?a=1&b=1",
        "ui_lineage": f"?ref={DATASET}@1",
    }.get(page.name, "")
    return path + query


@contextmanager
def _client(live: LiveApi, user: str | None) -> Iterator[httpx.Client]:
    """A browser-like client: the CSRF cookie from the sign-in page, the session cookie of ``user``."""
    with httpx.Client(base_url=live.url, follow_redirects=False, timeout=60) as http:
        http.get("/login")
        if user is not None:
            http.cookies.set(SESSION_COOKIE, live.tokens[user])
        yield http


def _form(http: httpx.Client, **extra: str) -> dict[str, str]:
    return {"csrf_token": http.cookies.get(CSRF_COOKIE) or "", **extra}


FORMS: dict[str, dict[str, str]] = {
    "ui_promote": {"alias": "production", "dry_run": "1"},
    "ui_approve": {"alias": "production", "comment": "matrix"},
    "ui_audit_verify": {},
    "ui_alert_acknowledge": {"comment": "matrix"},
    "ui_alert_resolve": {"comment": "matrix"},
    # each fails its own validation once the role is checked: a missing file, a budget of 0, a run
    # that is no study, a model without a policy (the deployment is the one it has: unchanged)
    "ui_dataset_upload": {"name": DATASET, "project": PROJECT},
    "ui_automl_start": {"target": "b", "time_budget": "0"},
    "ui_register_best": {"name": "matrix-model"},
    "ui_promote_request": {"alias": "production"},
    "ui_deploy": {"endpoint": ENDPOINT, "target": f"{MODEL}@production", "weight": "100"},
}


def _send(http: httpx.Client, page: Page, live: LiveApi, *, csrf: bool = True) -> httpx.Response:
    path = _path(page, live)
    if page.method == "GET":
        return http.get(path)
    data = _form(http, **FORMS.get(page.name, {})) if csrf else FORMS.get(page.name, {})
    return http.post(path, data=data)


def _allowed(page: Page, user: str) -> bool:
    if user == "root":
        return True
    if page.name in GLOBAL or user == "outsider":
        return False
    return RANK[user] >= RANK[page.role]


MATRIX = [p for p in PAGES if p.name not in PUBLIC_PAGES]


def test_the_matrix_tables_follow_the_api_s() -> None:
    from test_api_security_matrix import FILTERED_ROUTES, GLOBAL_ROUTES

    names = {p.name for p in PAGES}
    assert names >= GLOBAL | FILTERED | PUBLIC_PAGES | UNKNOWN, "stale entries in the UI matrix"
    for page in PAGES:
        assert page.role in (*ROLES, "public"), page.name
        assert (page.name in PUBLIC_PAGES) == (page.role == "public"), page.name
        # a page is global exactly when the operation it takes its role from is
        assert (page.name in GLOBAL) == (page.operation in GLOBAL_ROUTES), page.name
        if page.name in FILTERED:
            assert page.operation in FILTERED_ROUTES | {"list_projects"}, page.name


@pytest.mark.parametrize("page", MATRIX, ids=lambda p: p.name)
def test_without_a_session_a_page_sends_to_sign_in_and_changes_nothing(live: LiveApi, page: Page) -> None:
    events = len(live.services.audit.log(limit=10_000))
    for user in (None, "bad", "revoked", "disabled"):
        with _client(live, user) as http:
            r = _send(http, page, live)
        assert r.status_code == 303, (page.name, user, r.status_code)
        assert r.headers["location"].startswith("/login?next="), (page.name, user)
    assert len(live.services.audit.log(limit=10_000)) == events


@pytest.mark.parametrize("page", MATRIX, ids=lambda p: p.name)
def test_each_role_gets_what_the_api_would_give_it(live: LiveApi, page: Page) -> None:
    for user in CALLERS:
        with _client(live, user) as http:
            r = _send(http, page, live)
        status = r.status_code
        assert status < 500, (page.name, user, status, r.text[:300])
        if page.name in FILTERED:
            assert status == 200, (page.name, user, status)
            continue
        if page.name in UNKNOWN:
            assert status in (403, 404) if not _allowed(page, user) else status == 404, (
                page.name,
                user,
                status,
            )
            continue
        if _allowed(page, user):  # through to the operation (which may refuse the request itself)
            assert status not in (401, 403), (page.name, user, status, r.text[:300])
        else:
            assert status == 403, (page.name, user, status)
            if not page.name.endswith("_series"):
                assert "Permission" in r.text and r.headers["content-type"].startswith("text/html")


def test_filtered_pages_leave_out_what_the_caller_cannot_read(live: LiveApi) -> None:
    with _client(live, "outsider") as out, _client(live, "viewer") as viewer:
        for path, needle in (
            ("/", PROJECT),
            ("/models", MODEL),
            ("/datasets", DATASET),
            ("/monitors", MONITOR),
        ):
            assert needle in viewer.get(path).text, path
            assert f">{needle}<" not in out.get(path).text, path
        assert live.run_id[:8] in viewer.get("/runs").text
        assert live.run_id[:8] not in out.get("/runs").text


@pytest.mark.parametrize("page", [p for p in PAGES if p.method == "POST"], ids=lambda p: p.name)
def test_a_form_without_its_csrf_token_or_from_another_site_is_refused(live: LiveApi, page: Page) -> None:
    events = len(live.services.audit.log(limit=10_000))
    with _client(live, "root") as http:
        missing = _send(http, page, live, csrf=False)
        wrong = http.post(_path(page, live), data={**FORMS.get(page.name, {}), "csrf_token": "forged"})
        foreign = http.post(
            _path(page, live),
            data=_form(http, **FORMS.get(page.name, {})),
            headers={"Origin": "https://attacker.example"},
        )
    for r in (missing, wrong, foreign):
        assert r.status_code == 403, (page.name, r.status_code)
    assert len(live.services.audit.log(limit=10_000)) == events


def test_sign_in_keeps_the_token_in_a_strict_http_only_cookie_and_never_redirects_away(live: LiveApi) -> None:
    with _client(live, None) as http:
        page = http.get("/login?next=/models")
        assert page.status_code == 200 and 'name="token"' in page.text
        bad = http.post("/login", data=_form(http, token="carnet_wrong", next="/models"))
        assert (
            bad.status_code == 401
            and 'role="alert"' in bad.text
            and SESSION_COOKIE not in bad.headers.get("set-cookie", "")
        )
        ok = http.post("/login", data=_form(http, token=live.tokens["viewer"], next="/models"))
        assert ok.status_code == 303 and ok.headers["location"] == "/models"
        cookie = ok.headers["set-cookie"]
        assert (
            cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        )
        assert http.get("/models").status_code == 200
        for target in (
            "//attacker.example/x",
            "https://attacker.example",
            "/\\attacker.example",
            "javascript:alert(1)",
        ):
            r = http.post("/login", data=_form(http, token=live.tokens["viewer"], next=target))
            assert r.headers["location"] == "/", target
        out = http.post("/logout", data=_form(http))
        assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]


def test_a_revoked_token_ends_the_session_at_once(live: LiveApi) -> None:
    token, info = live.services.auth.create_token("viewer", "ui-session")
    with _client(live, None) as http:
        http.cookies.set(SESSION_COOKIE, token)
        assert http.get("/runs").status_code == 200
        live.services.auth.revoke_token(info.id)
        r = http.get("/runs")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.mark.parametrize("page", [p for p in PAGES if p.method == "GET"], ids=lambda p: p.name)
def test_every_page_has_a_strict_content_security_policy(live: LiveApi, page: Page) -> None:
    with _client(live, "root") as http:
        r = _send(http, page, live)
    policy = r.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy.split("style-src")[0] or "sandbox" in policy
    if page.name == "ui_card":
        assert policy.startswith("sandbox") and "script-src" not in policy and "default-src 'none'" in policy
    else:
        assert policy == CSP, page.name
    assert r.headers["x-content-type-options"] == "nosniff"
    if r.headers.get("content-type", "").startswith("text/html"):
        assert "<script>" not in r.text and " on" + "click=" not in r.text
        for script in re.findall(r"<script[^>]*>", r.text):
            assert 'src="/static/' in script or 'type="application/json"' in script, script


def test_the_vendored_front_end_matches_its_manifest_and_stays_small() -> None:
    import gzip
    import hashlib
    import json

    folder = Path(__file__).parents[2] / "src" / "carnet" / "server" / "ui" / "static"
    manifest: dict[str, Any] = json.loads((folder / "vendor" / "MANIFEST.json").read_text())
    assert {"htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css"} <= set(manifest)
    for name, entry in manifest.items():
        assert hashlib.sha256((folder / "vendor" / name).read_bytes()).hexdigest() == entry["sha256"], name
    shipped = [
        *folder.glob("*.js"),
        *folder.glob("*.css"),
        *(folder / "vendor").glob("*.js"),
        *(folder / "vendor").glob("*.css"),
    ]
    total = sum(len(gzip.compress(p.read_bytes())) for p in shipped)
    assert total < 100 * 1024, total
