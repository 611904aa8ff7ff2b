"""Who uses the web UI, and the browser-side protections: the login cookie, CSRF, security headers.

A browser signs in with an API token (``POST /login``); the token is then kept in an HttpOnly,
``SameSite=Strict`` cookie and checked on every request exactly as the REST API checks a bearer
token (a revoked token ends the session at once). A server that does not require authentication
(the embedded default on 127.0.0.1) needs no login, as its API does not.

Every state-changing request carries a CSRF token: a random value kept in its own
``SameSite=Strict`` cookie, repeated in the form (or in the ``X-CSRF-Token`` header htmx sends), and
compared in constant time; a request whose ``Origin`` is another site is refused too. Every UI
answer has a Content-Security-Policy without inline script or style.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carnet.domain.auth import Principal
from carnet.errors import CarnetError, PermissionDenied, Unauthenticated
from carnet.server.api.auth import ROUTE_ROLES, ApiState, Caller

__all__ = [
    "CSP",
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "CsrfRefused",
    "LoginRequired",
    "SecurityHeaders",
    "check_csrf",
    "csrf_token",
    "local_path",
    "session_token",
    "ui_caller",
]

SESSION_COOKIE = "carnet_session"
CSRF_COOKIE = "carnet_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

#: the policy of every UI page: scripts, styles and everything else from this server only
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: the policy of a stored HTML report shown in the run page's frame: no script, no network, sandboxed
REPORT_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "frame-ancestors 'self'"
)


class LoginRequired(CarnetError):
    """The page needs a signed-in user (the UI answers with the login page)."""


class CsrfRefused(PermissionDenied):
    """A state-changing request without the page's CSRF token, or from another site."""


def session_token(request: Request) -> str | None:
    """The API token of this browser session (or of an ``Authorization: Bearer`` header)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(SESSION_COOKIE) or None


def ui_caller(request: Request, operation: str) -> Caller:
    """The caller of ``operation`` (a name of the operation table) for this browser request.

    The role is the operation's, as over the REST API, so a page shows and does exactly what its
    user could through the API.

    Raises:
        LoginRequired: authentication is on and the browser has no valid session.
    """
    state: ApiState = request.app.state.carnet
    role = ROUTE_ROLES[operation]
    if not state.require_auth:
        return Caller(state.services, None, role, state)
    principal = principal_of(request)
    if principal is None:
        raise LoginRequired("sign in with an API token to see this page", field="token")
    return Caller(state.services_for(principal), principal, role, state)


def principal_of(request: Request) -> Principal | None:
    """Who this browser is signed in as (None without a valid session or without authentication)."""
    state: ApiState = request.app.state.carnet
    token = session_token(request)
    if not state.require_auth or token is None:
        return None
    try:
        principal = state.auth.authenticate(token)
    except Unauthenticated:
        return None
    return principal if isinstance(principal, Principal) else None


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (a new one when it has none; the response sets the cookie)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token or len(token) > 128:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return str(token)


async def check_csrf(request: Request) -> dict[str, Any]:
    """The posted form, once its CSRF token matches the cookie and its origin is this site.

    Raises:
        CsrfRefused: no or a different token, or an ``Origin`` / ``Referer`` of another site.
    """
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and origin != "null":
        parts = urlsplit(origin)
        if parts.netloc != request.headers.get("host", request.url.netloc):
            raise CsrfRefused(
                "this form was sent from another site; open carnet's page and retry", field="origin"
            )
    form = dict(await request.form())
    sent = str(form.pop(CSRF_FIELD, "") or request.headers.get(CSRF_HEADER, ""))
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused(
            "the form's security token is missing or stale; reload the page and send it again",
            field="csrf_token",
        )
    return {k: v for k, v in form.items()}


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path of this site (``/runs?...``); ``default`` otherwise (no open
    redirect to another host, ``//host`` or ``/\\host`` included)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


class SecurityHeaders:
    """ASGI middleware: the UI's security headers on every answer outside ``/api/``, and the CSRF
    cookie when a page made a new token."""

    def __init__(self, app: ASGIApp, *, api_prefix: str) -> None:
        self.app = app
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.api_prefix):
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                for name, value in (
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ):
                    if name not in names:
                        headers.append((name, value))
                token = scope.get("state", {}).get("new_csrf")
                if token:
                    cookie = f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                    headers.append((b"set-cookie", (cookie + ("; Secure" if secure else "")).encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def session_cookie(token: str, *, secure: bool) -> str:
    """The ``Set-Cookie`` value that signs a browser in with ``token``."""
    return f"{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")


def ended_session_cookie() -> str:
    """The ``Set-Cookie`` value that signs a browser out."""
    return f"{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
