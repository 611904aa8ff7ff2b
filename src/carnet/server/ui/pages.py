"""UI pages: sign-in and out, the projects (home) page, the audit ledger."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from carnet.domain.auth import Principal
from carnet.errors import InvalidInput, Unauthenticated
from carnet.server.api import audit, tracking
from carnet.server.ui.app import render
from carnet.server.ui.session import (
    check_csrf,
    ended_session_cookie,
    local_path,
    session_cookie,
    ui_caller,
)

__all__ = ["ui_audit", "ui_audit_verify", "ui_home", "ui_login", "ui_login_post", "ui_logout"]

_AUDIT_FILTERS = ("subject_type", "subject_id", "action", "actor")


def ui_login(request: Request) -> Response:
    """The sign-in form (an API token); straight to the home page where no sign-in is needed."""
    if not request.app.state.carnet.require_auth:
        return RedirectResponse(local_path(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", next=local_path(request.query_params.get("next")), error=None)


async def ui_login_post(request: Request) -> Response:
    """Check the token like the API does; on success keep it in the session cookie."""
    form = await check_csrf(request)
    target = local_path(str(form.get("next") or ""))
    state = request.app.state.carnet
    if not state.require_auth:
        return RedirectResponse(target, status_code=303)
    token = str(form.get("token") or "").strip()
    try:
        if not token or len(token) > 512 or not token.isascii() or not token.isprintable() or " " in token:
            raise Unauthenticated("paste an API token (carnet users token create NAME)", field="token")
        principal = await run_in_threadpool(state.auth.authenticate, token)
        if not isinstance(principal, Principal):
            raise Unauthenticated("the token is not valid", field="token")
    except Unauthenticated as exc:
        return render(request, "login.html", status=401, next=target, error=exc.message)
    response = RedirectResponse(target, status_code=303)
    response.headers.append("set-cookie", session_cookie(token, secure=request.url.scheme == "https"))
    return response


async def ui_logout(request: Request) -> Response:
    """End the browser's session."""
    await check_csrf(request)
    response = RedirectResponse("/login" if request.app.state.carnet.require_auth else "/", status_code=303)
    response.headers.append("set-cookie", ended_session_cookie())
    return response


def ui_home(request: Request) -> Response:
    """The projects the user may read, with their run counts."""
    projects = tracking.list_projects(ui_caller(request, "list_projects"))
    return render(request, "home.html", projects=projects)


def ui_audit(request: Request) -> Response:
    """The audit ledger, newest first, filtered by subject, action, actor and time (``since`` and
    ``until``, dates or ISO times, UTC), a page at a time (``before`` = the sequence number the
    next page starts under)."""
    q = request.query_params
    filters = {k: (q.get(k) or "").strip() or None for k in _AUDIT_FILTERS}
    limit = int_param(request, "limit", 100, 1, 1000)
    events = audit.audit_events(
        subject_type=filters["subject_type"],
        subject_id=filters["subject_id"],
        action=filters["action"],
        limit=limit + 1,
        before_seq=int_param(request, "before", 0, 0, 2**62) or None,
        actor=filters["actor"],
        since=_time(q.get("since"), "since"),
        until=_time(q.get("until"), "until", end=True),
        c=ui_caller(request, "audit_events"),
    )
    page = events[:limit]
    shown = {k: v or "" for k, v in filters.items()} | {
        "since": q.get("since") or "",
        "until": q.get("until") or "",
    }
    return render(
        request,
        "audit.html",
        events=page,
        filters=shown,
        next_before=page[-1].seq if len(events) > limit else None,
    )


def _time(text: str | None, field: str, *, end: bool = False) -> float | None:
    """A date (``2026-12-05``: its start, or its end with ``end``) or an ISO time, as epoch seconds (UTC
    unless the text names a zone)."""
    from datetime import UTC, datetime, timedelta

    if not text or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{field} must be a date (2026-12-05) or an ISO time, got {text[:40]!r}", field=field
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end and len(text.strip()) == 10:
        moment += timedelta(days=1) - timedelta(microseconds=1)
    return moment.timestamp()


async def ui_audit_verify(request: Request) -> Response:
    """Walk the whole chain (and the state, with ``deep``) and show the verdict."""
    form = await check_csrf(request)
    deep = str(form.get("deep") or "") in ("1", "on", "true")
    caller = ui_caller(request, "audit_verify")
    verdict = await run_in_threadpool(lambda: audit.audit_verify(anchors=False, deep=deep, c=caller))
    return render(request, "verify.html", verdict=verdict, deep=deep)


def _int(text: str | None, default: int, field: str, low: int, high: int) -> int:
    """A whole number from the query string, between ``low`` and ``high``."""
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput(f"{field} must be a whole number, got {text[:40]!r}", field=field) from None
    if not low <= value <= high:
        raise InvalidInput(f"{field} must be between {low} and {high}", field=field)
    return value


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as a whole number (InvalidInput naming it otherwise)."""
    return _int(request.query_params.get(name), default, name, low, high)
