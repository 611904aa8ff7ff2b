"""The web UI's page table and its mounting on the server's app.

Each page is declared once in :data:`PAGES` (name, method and path, the operation of the REST API
whose role it needs, its module); its handler is the function of that name in
``carnet.server.ui.<area>``. Handlers parse the request, call the same API operation a client
would (so access rules and answers are the API's), and render a template. Errors are the API's
problem details, rendered as a page.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from carnet.errors import CarnetError
from carnet.operations import API_PREFIX, PUBLIC, operation
from carnet.reports import num
from carnet.server.api.auth import ROUTE_ROLES
from carnet.server.api.errors import problem_of
from carnet.server.ui.session import (
    CSRF_FIELD,
    LoginRequired,
    SecurityHeaders,
    csrf_token,
    principal_of,
)

__all__ = ["PAGES", "UI_ROLES", "Page", "add_ui", "render"]

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Page:
    """One page (or form target) of the UI."""

    name: str
    route: str
    operation: str
    area: str

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.route.split(" ", 1)[1]

    @property
    def role(self) -> str:
        """The role the page needs: its operation's (public for the login pages)."""
        return PUBLIC if self.operation == PUBLIC else operation(self.operation).role


#: every page of the UI, once
PAGES: tuple[Page, ...] = (
    Page("ui_login", "GET /login", PUBLIC, "pages"),
    Page("ui_login_post", "POST /login", PUBLIC, "pages"),
    Page("ui_logout", "POST /logout", PUBLIC, "pages"),
    Page("ui_home", "GET /", "list_projects", "pages"),
    Page("ui_runs", "GET /runs", "search_runs", "runs"),
    Page("ui_compare", "GET /compare", "get_run", "runs"),
    Page("ui_compare_series", "GET /compare/series", "metric_history", "runs"),
    Page("ui_run_series", "GET /runs/{run_id}/series", "metric_history", "runs"),
    Page("ui_run_chart", "GET /runs/{run_id}/chart", "metric_history", "runs"),
    Page("ui_run_artifact", "GET /runs/{run_id}/files/{path:path}", "download_artifact", "runs"),
    Page("ui_run", "GET /runs/{run_id}", "get_run", "runs"),
    Page("ui_models", "GET /models", "list_models", "models"),
    Page("ui_approvals", "GET /approvals", "list_models", "models"),
    Page("ui_approve", "POST /models/{name}/{version}/approve", "approve_model_version", "models"),
    Page("ui_promote", "POST /models/{name}/{version}/promote", "promote_model", "models"),
    Page("ui_card", "GET /models/{name}/{version}/card", "model_card", "models"),
    Page("ui_dossier", "GET /models/{name}/{version}/dossier", "model_dossier", "models"),
    Page("ui_version", "GET /models/{name}/{version}", "get_model_version", "models"),
    Page("ui_model", "GET /models/{name}", "model_versions", "models"),
    Page("ui_datasets", "GET /datasets", "list_datasets", "ops"),
    Page("ui_dataset_diff", "GET /datasets/{name}/diff", "get_dataset", "ops"),
    Page("ui_dataset_version", "GET /datasets/{name}/{version}", "get_dataset", "ops"),
    Page("ui_dataset", "GET /datasets/{name}", "dataset_versions", "ops"),
    Page("ui_deployments", "GET /deployments", "list_deployments", "ops"),
    Page("ui_deployment", "GET /deployments/{endpoint}", "resolve_deployment", "ops"),
    Page("ui_monitors", "GET /monitors", "list_monitors", "ops"),
    Page("ui_monitor", "GET /monitors/{name}", "get_monitor", "ops"),
    Page("ui_alert_acknowledge", "POST /alerts/{alert_id}/acknowledge", "acknowledge_alert", "ops"),
    Page("ui_alert_resolve", "POST /alerts/{alert_id}/resolve", "resolve_alert", "ops"),
    Page("ui_lineage", "GET /lineage", "lineage", "ops"),
    Page("ui_audit", "GET /audit", "audit_events", "pages"),
    Page("ui_audit_verify", "POST /audit/verify", "audit_verify", "pages"),
    Page("ui_dataset_upload", "POST /datasets", "upload_dataset", "nocode"),
    Page("ui_automl_start", "POST /datasets/{name}/{version}/automl", "automl", "nocode"),
    Page("ui_automl_job", "GET /automl/{job_id}", "get_run", "nocode"),
    Page("ui_register_best", "POST /runs/{run_id}/register", "register_model_version", "nocode"),
    Page("ui_promote_request", "POST /models/{name}/{version}/promotions", "request_promotion", "release"),
    Page(
        "ui_promotion_job", "GET /models/{name}/{version}/promotions/{job_id}", "model_promotions", "release"
    ),
    Page("ui_deploy", "POST /models/{name}/{version}/deploy", "set_deployment", "release"),
)

#: UI route name -> role, as :data:`carnet.server.api.auth.ROUTE_ROLES` for the API
UI_ROLES: dict[str, str] = {p.name: p.role for p in PAGES}


def local_time(ts: Any) -> Any:
    """A ``<time>`` element the browser shows in its own time zone (UTC text until then)."""
    import markupsafe

    if ts is None:
        return ""
    text = datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    iso = datetime.fromtimestamp(float(ts), UTC).isoformat()
    return markupsafe.Markup('<time datetime="{}">{}</time>').format(iso, text)


def duration(start: Any, end: Any) -> str:
    """A run's duration as ``1h 2m``, ``3m 4s`` or ``5.6s``; empty while it runs."""
    if start is None or end is None:
        return ""
    seconds = max(0.0, float(end) - float(start))
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h {m}m" if hours else f"{m}m {s}s"


@functools.cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("carnet.server.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=num, time=local_time, duration=duration, urlquote=lambda s: quote(str(s), safe=""))
    env.globals.update(urlencode=urlencode, API_PREFIX=API_PREFIX)
    from carnet.server.ui.roles import editable_projects, may, policy_in_force

    env.globals.update(may=may, editable_projects=editable_projects, policy_in_force=policy_in_force)
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered for this request (its user, CSRF token and role table in the context)."""
    principal = principal_of(request)
    state = request.app.state.carnet
    html = (
        _environment()
        .get_template(template)
        .render(
            request=request,
            user=principal.user
            if principal is not None
            else (None if state.require_auth else state.services.ctx.settings.actor),
            signed_in=principal is not None,
            require_auth=state.require_auth,
            csrf=csrf_token(request),
            csrf_field=CSRF_FIELD,
            partial=request.headers.get("hx-request") == "true"
            and request.headers.get("hx-boosted") != "true",
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


def _error_page(request: Request, exc: CarnetError) -> Response:
    """The API's problem detail for ``exc``, as a page (the login page when sign-in is needed)."""
    if isinstance(exc, LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
    status, problem = problem_of(request, exc)
    if request.url.path.endswith("/series"):  # the charts' data: JSON
        return JSONResponse(problem, status_code=status, media_type="application/problem+json")
    return render(request, "error.html", status=status, problem=problem)


def _wrap(page: Page, handler: Callable[..., Any]) -> Callable[..., Any]:
    """The handler with the UI's error pages around it (sync handlers run in the thread pool)."""
    is_async = inspect.iscoroutinefunction(handler)

    async def endpoint(request: Request) -> Response:
        try:
            if is_async:
                result = await handler(request, **request.path_params)
            else:
                result = await run_in_threadpool(handler, request, **request.path_params)
        except CarnetError as exc:
            return _error_page(request, exc)
        return result  # type: ignore[no-any-return]

    endpoint.__name__ = page.name
    endpoint.__doc__ = handler.__doc__
    return endpoint


def add_ui(app: FastAPI) -> None:
    """Mount the UI's pages, its static files and its security headers on the API's ``app``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for page in PAGES:
        module = importlib.import_module(f"carnet.server.ui.{page.area}")
        app.add_api_route(
            page.path,
            _wrap(page, getattr(module, page.name)),
            methods=[page.method],
            name=page.name,
            include_in_schema=False,
            response_class=HTMLResponse,
        )
    app.add_middleware(SecurityHeaders, api_prefix=API_PREFIX)
    api_handler = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        """Unknown pages and methods outside the API: the API's problem, as a page for browsers."""
        response = api_handler(request, exc)
        if inspect.isawaitable(response):
            response = await response
        wants_html = "text/html" in request.headers.get("accept", "")
        if request.url.path.startswith((API_PREFIX, "/healthz", "/static/")) or not wants_html:
            return response
        problem = json.loads(bytes(response.body))
        return render(request, "error.html", status=response.status_code, problem=problem)

    app.add_exception_handler(StarletteHTTPException, http_error)


def json_script(value: Any) -> str:
    """``value`` as JSON that is safe inside an HTML attribute or element (``<`` ``>`` ``&`` escaped)."""
    text = json.dumps(value, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def ui_roles() -> dict[str, str]:
    """Every route name of the server with its role: the API's and the UI's."""
    return {**ROUTE_ROLES, **UI_ROLES}
