"""Alert notifiers of production monitoring (entry-point group ``carnet.notifiers``).

A monitor lists its notifiers as ``notify: [{type: webhook, url: ...}, ...]``.
:func:`validate_notifiers` checks that list when the monitor is created; :func:`notify` delivers
one alert event to every notifier and returns one :class:`Delivery` per notifier, never raising,
so a monitoring pass goes on when a receiver is down.

Built-ins, registered through the same entry points as third-party notifiers:

- ``webhook``: POST the event as JSON, optionally signed (``X-Carnet-Signature: sha256=<hmac>``);
- ``slack``: a Slack incoming-webhook message (Mattermost shows its ``text``);
- ``logfile``: append the event as one JSON line to a local file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import enum
import functools
import hashlib
import hmac
import importlib.metadata
import json
import logging
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from typing import Any

from carnet.config import ServerPolicy
from carnet.errors import CarnetError, InvalidInput, NotFound
from carnet.plugins.api import ENTRY_POINT_GROUPS, Notifier
from carnet.plugins.registry import Registry
from carnet.services.destinations import active_policy, check_log_path, check_url, guarded, pinned_request
from carnet.services.validation import check_document

__all__ = [
    "Delivery",
    "DeliveryFailed",
    "LogFileNotifier",
    "SlackNotifier",
    "WebhookNotifier",
    "check_notifier",
    "get_notifier",
    "notifier_registry",
    "notify",
    "redacted",
    "sign",
    "validate_notifiers",
]

_log = logging.getLogger(__name__)

_NOTIFIER_MEMBERS = ("name", "description", "validate", "send")
_BACKOFF_S = 0.2  # wait before retry k (from 0): 0.2 s x 2**k
_MAX_RETRIES = 10
_MAX_RETRY_AFTER_S = 10.0  # a Retry-After header is honoured up to this many seconds
_RETRY_STATUSES = frozenset({408, 425, 429})  # client errors worth retrying (besides every 5xx)
_HTTP_KEYS = ("url", "timeout", "retries")


class DeliveryFailed(CarnetError):
    """A notifier could not deliver an event; ``attempts`` is how many times it tried."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclasses.dataclass(frozen=True)
class Delivery:
    """What became of one event at one notifier.

    ``target`` is the type and the redacted destination (``webhook https://example.com/hook``),
    ``error`` reads ``"<ExcType>: message"`` when ``ok`` is false, ``attempts`` counts the tries
    (0 when the notifier could not even start: unknown type, invalid settings).
    """

    target: str
    ok: bool
    error: str | None
    attempts: int


# -- registry --------------------------------------------------------------------------------------


def check_notifier(obj: object) -> Notifier:
    """A notifier instance from a loaded plugin object (a class is instantiated without arguments).

    Raises:
        TypeError: the object does not implement the :class:`~carnet.plugins.api.Notifier` Protocol
            (the message lists the missing members).
    """
    notifier = obj() if isinstance(obj, type) else obj
    if not isinstance(notifier, Notifier):
        missing = [m for m in _NOTIFIER_MEMBERS if not hasattr(notifier, m)]
        raise TypeError(
            f"{obj!r} is not a carnet notifier: missing {', '.join(missing) or 'Notifier members'}"
        )
    return notifier


@functools.cache
def notifier_registry() -> Registry[Notifier]:
    """The registry of notifiers (entry-point group ``carnet.notifiers``); created once, discovered lazily."""
    return Registry(ENTRY_POINT_GROUPS["notifier"], "notifier", check=check_notifier)


def get_notifier(name: str) -> Notifier:
    """The notifier registered as ``name``.

    Raises:
        NotFound: no such notifier (the message lists the known ones).
        InvalidInput: the plugin failed to import or is not a valid notifier.
    """
    return notifier_registry().get(name)


# -- validation and delivery -----------------------------------------------------------------------


def validate_notifiers(
    configs: Any, *, field: str = "notify", server: ServerPolicy | None = None
) -> list[dict[str, Any]]:
    """Check a monitor's notifier list completely; returns plain copies (``{"type": ..., **settings}``).

    Args:
        configs: a list of mappings, each with a ``type`` and that notifier's settings.
        field: the name of the list in error fields (``notify[1].url``).
        server: on a carnet server, its policy: a ``path`` must lie in its notifier folder (and is
            returned as the absolute path there), a ``url`` must reach a public or allowed address
            (see :mod:`carnet.services.destinations`).

    Raises:
        InvalidInput: ``field`` names the first problem (``notify[1].url``, ``notify[0].type``) and
            the message says how to fix it; an unknown type lists the registered ones.
    """
    if configs is None:
        return []
    if not isinstance(configs, list | tuple):
        raise InvalidInput(
            f"{field} must be a list of notifiers such as [{{type: webhook, url: https://...}}], "
            f"got {type(configs).__name__}",
            field=field,
        )
    checked = [_validate_one(item, f"{field}[{i}]") for i, item in enumerate(configs)]
    if server is not None:
        checked = [_guard(config, f"{field}[{i}]", server) for i, config in enumerate(checked)]
    return checked


def _guard(
    config: dict[str, Any], where: str, server: ServerPolicy, *, delivering: bool = False
) -> dict[str, Any]:
    """``config`` under a server's policy: its ``path`` inside the notifier folder, its ``url`` public."""
    out = dict(config)
    if "path" in out:
        if not isinstance(out["path"], str):
            raise InvalidInput(f"{where}.path must be a file name", field=f"{where}.path")
        out["path"] = check_log_path(out["path"], server, field=f"{where}.path")
    if isinstance(out.get("url"), str):
        check_url(out["url"], server, field=f"{where}.url", unresolved_ok=not delivering)
    return out


def _validate_one(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping) or not all(isinstance(k, str) for k in item):
        raise InvalidInput(f"{where} must be a mapping such as {{type: webhook, url: ...}}", field=where)
    check_document(item, where)  # no NUL in a path, URL, channel or header, on any backend
    settings = dict(item)
    kind = settings.pop("type", None)
    names = notifier_registry().names()
    if not isinstance(kind, str) or not kind:
        raise InvalidInput(
            f"{where} needs a type: one of {', '.join(names) or 'none'}", field=f"{where}.type"
        )
    try:
        notifier = get_notifier(kind)
    except NotFound:
        close = difflib.get_close_matches(kind, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InvalidInput(
            f"unknown notifier type {kind!r} in {where}; {hint}registered: {', '.join(names) or 'none'} "
            "(a third-party notifier must be installed, in the carnet.notifiers entry-point group)",
            field=f"{where}.type",
        ) from None
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=f"{where}.type") from None
    try:
        notifier.validate(settings)
    except InvalidInput as exc:
        sub = f"{where}.{exc.field}" if exc.field else where
        raise InvalidInput(f"{where} ({kind}): {exc.message}", field=sub) from None
    except Exception as exc:  # noqa: BLE001 - a third-party validate that crashes is reported, named
        raise InvalidInput(
            f"{where} ({kind}): the notifier rejected its settings: {type(exc).__name__}: {exc}", field=where
        ) from None
    try:
        json.dumps(settings, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{where} ({kind}): settings must be plain numbers, strings, lists, maps: {exc}", field=where
        ) from None
    return {"type": kind, **settings}


def notify(
    configs: list[dict[str, Any]], event: dict[str, Any], *, server: ServerPolicy | None = None
) -> list[Delivery]:
    """Deliver ``event`` to every notifier of ``configs``, in order; one :class:`Delivery` each.

    Never raises: an unknown type, invalid settings, a receiver that is down or a notifier that
    crashes becomes a ``Delivery`` with ``ok=False`` and the error (also logged as a warning).
    On a server (``server`` set) every destination is checked again first, and HTTP deliveries
    connect to the address that was checked.
    """
    with guarded(server):
        return [_deliver(config, event, server) for config in configs]


def _deliver(config: dict[str, Any], event: dict[str, Any], server: ServerPolicy | None) -> Delivery:
    """One delivery (see :func:`notify`)."""
    settings = dict(config) if isinstance(config, Mapping) else {}
    kind = settings.pop("type", None)
    target = str(kind or "?")
    attempts = 0
    try:
        if not isinstance(kind, str) or not kind:
            raise InvalidInput("a notifier needs a type such as webhook, slack or logfile", field="type")
        notifier = get_notifier(kind)
        target = _target(kind, notifier, settings)
        notifier.validate(settings)
        if server is not None:
            settings = _guard(settings, "notify", server, delivering=True)
        attempts = 1
        deliver = getattr(notifier, "deliver", None)
        if callable(deliver):
            tries = deliver(settings, event)
            attempts = tries if isinstance(tries, int) and tries > 0 else 1
        else:
            notifier.send(settings, event)
        return Delivery(target, True, None, attempts)
    except Exception as exc:  # noqa: BLE001 - a failed notifier is recorded, never stops the pass
        attempts = getattr(exc, "attempts", attempts)
        error = f"{type(exc).__name__}: {exc}"
        _log.warning("notification to %s failed: %s", target, error)
        return Delivery(target, False, error, attempts)


def _target(kind: str, notifier: Notifier, settings: dict[str, Any]) -> str:
    """``type destination`` for a Delivery: the notifier's ``target(config)`` when it has one."""
    try:
        method = getattr(notifier, "target", None)
        if callable(method):
            where = str(method(settings))
        elif isinstance(settings.get("url"), str):
            where = _redact_url(settings["url"])
        else:
            where = str(settings.get("path", ""))
    except Exception:  # noqa: BLE001 - a label is never worth a failed delivery
        where = ""
    return f"{kind} {where}".strip()


def redacted(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Notifier settings safe to show or audit: secrets and header values hidden, URLs without
    credentials or query (a Slack URL without its token path)."""
    out = []
    for config in configs:
        shown = dict(config)
        for key in ("secret", "token", "password"):
            if key in shown:
                shown[key] = "***"
        if isinstance(shown.get("headers"), Mapping):
            shown["headers"] = {k: "***" for k in shown["headers"]}
        if isinstance(shown.get("url"), str):
            shown["url"] = _redact_url(shown["url"], path=shown.get("type") != "slack")
        out.append(shown)
    return out


# -- shared helpers --------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The ``X-Carnet-Signature`` value of ``body``: ``sha256=`` + hex HMAC-SHA256 keyed by ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data: NaN/inf -> null, datetimes -> ISO 8601, enums -> value."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    return str(value)


def _body(event: dict[str, Any]) -> bytes:
    return json.dumps(_plain(event), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _redact_url(url: str, *, path: bool = True) -> str:
    """``url`` without credentials, query and fragment; ``path=False`` hides the path too (``/…``)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path if path else "/…", "", ""))


def _check_settings(config: dict[str, Any], known: tuple[str, ...], kind: str) -> None:
    for key in config:
        if key not in known and key != "type":
            raise InvalidInput(f"unknown {kind} setting {key!r}; known: {', '.join(known)}", field=str(key))


def _check_url(config: dict[str, Any], example: str) -> None:
    url = config.get("url")
    if url is None or url == "":
        raise InvalidInput(f"url is required: the address to POST to, e.g. {example}", field="url")
    if not isinstance(url, str):
        raise InvalidInput(f"url must be a string such as {example}, got {url!r}", field="url")
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises on a bad port
    except ValueError as exc:
        raise InvalidInput(f"url {_redact_url(url)!r} is not a valid URL: {exc}", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise InvalidInput(
            f"url must be an http:// or https:// address such as {example}, got {_redact_url(url)!r}",
            field="url",
        )


def _check_number(config: dict[str, Any], key: str, default: float, *, integer: bool) -> None:
    """``config[key]``: a number > 0 (timeout), or a whole number from 0 to 10 (retries)."""
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        ok = False
    elif integer:
        ok = 0 <= value <= _MAX_RETRIES
    else:
        ok = math.isfinite(value) and value > 0
    if not ok:
        what = f"a whole number from 0 to {_MAX_RETRIES}" if integer else "a number of seconds > 0"
        raise InvalidInput(f"{key} must be {what}, got {value!r}", field=key)


def _check_http(config: dict[str, Any], example: str) -> None:
    _check_url(config, example)
    _check_number(config, "timeout", 5, integer=False)
    _check_number(config, "retries", 2, integer=True)


def _check_text(config: dict[str, Any], key: str) -> None:
    value = config.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidInput(f"{key} must be a non-empty string when set", field=key)


@functools.cache
def _user_agent() -> str:
    """``carnet/<version>`` (read from the installed distribution, not by importing ``carnet``)."""
    try:
        return f"carnet/{importlib.metadata.version('carnet')}"
    except importlib.metadata.PackageNotFoundError:
        return "carnet"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a signed POST is never replayed to another address."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _answer(exc: urllib.error.HTTPError) -> str:
    """The start of an error answer's body on one line (``invalid_payload``), then close it."""
    try:
        text = exc.read(300).decode("utf-8", "replace") if exc.fp is not None else ""
    except OSError:
        text = ""
    finally:
        exc.close()
    return " ".join(text.split())[:200]


def _retry_after(exc: urllib.error.HTTPError) -> float:
    try:
        return min(float(exc.headers.get("Retry-After", 0)), _MAX_RETRY_AFTER_S)
    except (TypeError, ValueError):
        return 0.0


def _post(config: dict[str, Any], body: bytes, headers: dict[str, str], shown: str) -> int:
    """POST ``body`` to ``config["url"]`` with retries; returns the attempts, raises DeliveryFailed.

    Retries connection errors, timeouts, 5xx, 408, 425 and 429 (0.2 s x 2**k apart, or the
    server's Retry-After up to 10 s); another status fails at once. ``shown`` names the URL in
    messages (never the secret, the headers or the query).
    """
    timeout = float(config.get("timeout", 5))
    retries = int(config.get("retries", 2))
    opener = urllib.request.build_opener(_NoRedirect)
    problem = ""
    attempts = 0
    for k in range(retries + 1):
        attempts = k + 1
        wait = _BACKOFF_S * 2**k
        url, sent_headers = pinned_request(config["url"], headers)
        request = urllib.request.Request(url, data=body, headers=sent_headers, method="POST")
        try:
            with opener.open(request, timeout=timeout) as response:
                try:
                    response.read(65536)
                except OSError:  # the status already said 2xx: delivered
                    pass
            return attempts
        except urllib.error.HTTPError as exc:
            detail = _answer(exc)
            problem = f"HTTP {exc.code} {exc.reason}" + (f" ({detail})" if detail else "")
            if 300 <= exc.code < 400:
                problem += "; redirects are not followed, use the final address"
            retryable = exc.code >= 500 or exc.code in _RETRY_STATUSES
            wait = max(wait, _retry_after(exc))
        except urllib.error.URLError as exc:
            problem, retryable = f"connection failed: {exc.reason}", True
        except (OSError, ValueError) as exc:  # timeouts, resets, bad status lines
            problem, retryable = f"connection failed: {type(exc).__name__}: {exc}", True
        if not retryable or k == retries:
            break
        time.sleep(wait)
    tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
    raise DeliveryFailed(f"POST {shown} failed after {tries}: {problem}", attempts=attempts)


# -- built-in notifiers ----------------------------------------------------------------------------


class WebhookNotifier:
    """POST each event as JSON to a URL, signed with HMAC-SHA256 when a ``secret`` is set."""

    name = "webhook"
    description = "POST the alert event as JSON to a URL (optionally HMAC-signed), with retries"
    SETTINGS = (*_HTTP_KEYS, "headers", "secret")

    def validate(self, config: dict[str, Any]) -> None:
        """Check url (http/https), timeout (> 0), retries (0-10), headers (strings), secret."""
        _check_settings(config, self.SETTINGS, self.name)
        _check_http(config, "https://alerts.example.com/carnet")
        headers = config.get("headers", {})
        if not isinstance(headers, Mapping):
            raise InvalidInput(
                f"headers must be a map of header name to value, got {type(headers).__name__}",
                field="headers",
            )
        for key, value in headers.items():
            if (
                not isinstance(key, str)
                or not isinstance(value, str)
                or any(c in key + value for c in "\r\n\0")
            ):
                raise InvalidInput(
                    f"headers must map names to single-line strings; fix header {key!r}", field="headers"
                )
        _check_text(config, "secret")

    def target(self, config: dict[str, Any]) -> str:
        """The URL without credentials or query."""
        return _redact_url(str(config.get("url", "")))

    def deliver(self, config: dict[str, Any], event: dict[str, Any]) -> int:
        """Send ``event``; returns the attempts it took. Raises DeliveryFailed after the retries."""
        body = _body(event)
        headers = {"User-Agent": _user_agent(), **dict(config.get("headers") or {})}
        headers["Content-Type"] = "application/json"
        headers["X-Carnet-Delivery"] = uuid.uuid4().hex  # the same across retries: receivers dedupe
        if isinstance(event.get("event"), str):
            headers["X-Carnet-Event"] = event["event"]
        if config.get("secret"):
            headers["X-Carnet-Signature"] = sign(str(config["secret"]), body)
        return _post(config, body, headers, self.target(config))

    def send(self, config: dict[str, Any], event: dict[str, Any]) -> None:
        """Deliver ``event``; raises DeliveryFailed (URL and status, never the secret) after the retries."""
        self.deliver(config, event)


_STATUS_EMOJI = {"opened": ":red_circle:", "acknowledged": ":eyes:", "resolved": ":white_check_mark:"}


def _label(value: Any) -> str:
    """A short human label for a monitor, model or rule given as a string or a mapping."""
    if value is None or value == "":
        return "-"
    if isinstance(value, Mapping):
        name = value.get("name") or value.get("id")
        if name is None:
            return json.dumps(_plain(value), separators=(", ", ": "))[:200]
        version = value.get("version")
        return f"{name}@{version}" if version is not None else str(name)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _mrkdwn(text: str, limit: int = 1900) -> str:
    """Escape Slack's control characters and cut to ``limit`` characters."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNotifier:
    """Post each event to a Slack (or Mattermost) incoming webhook as a readable message."""

    name = "slack"
    description = "post the alert to a Slack or Mattermost incoming webhook"
    SETTINGS = (*_HTTP_KEYS, "channel", "username")

    def validate(self, config: dict[str, Any]) -> None:
        """Check url (http/https), channel, username, timeout (> 0), retries (0-10)."""
        _check_settings(config, self.SETTINGS, self.name)
        _check_http(config, "https://hooks.slack.com/services/T000/B000/XXXX")
        _check_text(config, "channel")
        _check_text(config, "username")

    def target(self, config: dict[str, Any]) -> str:
        """The webhook's host only (its path is the token), and the channel when set."""
        where = _redact_url(str(config.get("url", "")), path=False)
        return f"{where} {config['channel']}" if config.get("channel") else where

    def payload(self, config: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        """The message: a fallback ``text`` and Block Kit ``blocks`` (header, fields, context)."""
        found = event.get("alert")
        alert: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        kind = str(event.get("event") or "alert.opened")
        verb = kind.removeprefix("alert.")
        monitor = _label(event.get("monitor") or alert.get("monitor"))
        model = _label(event.get("model") or alert.get("model"))
        rule = _label(alert.get("rule") or alert.get("metric") or alert.get("test"))
        value = f"{_label(alert.get('value'))} vs {_label(alert.get('threshold'))}"
        status = _label(alert.get("status") or verb)
        when = _label(
            event.get("time")
            or alert.get(f"{verb}_at")
            or alert.get("opened_at")
            or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        )
        message = str(event.get("message") or "")
        title = f"carnet alert {verb}: {monitor}"
        text = f"{_STATUS_EMOJI.get(verb, ':bell:')} {title} ({model}): {message or f'{rule} {value}'}"
        fields = [("Monitor", monitor), ("Model", model), ("Rule", rule), ("Value vs threshold", value)]
        fields.append(("Status", status))
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}}
        ]
        if message:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(message, 2900)}})
        blocks.append(
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_mrkdwn(v)}"} for k, v in fields],
            }
        )
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _mrkdwn(f"carnet · {kind} · {when}")}],
            }
        )
        payload: dict[str, Any] = {"text": _mrkdwn(text, 3000), "blocks": blocks}
        for key in ("channel", "username"):
            if config.get(key):
                payload[key] = config[key]
        return payload

    def deliver(self, config: dict[str, Any], event: dict[str, Any]) -> int:
        """Post ``event``; returns the attempts it took. Raises DeliveryFailed after the retries."""
        body = _body(self.payload(config, event))
        headers = {"User-Agent": _user_agent(), "Content-Type": "application/json"}
        return _post(config, body, headers, self.target(config))

    def send(self, config: dict[str, Any], event: dict[str, Any]) -> None:
        """Post ``event``; raises DeliveryFailed (host and status, never the token) after the retries."""
        self.deliver(config, event)


class LogFileNotifier:
    """Append each event as one JSON line to a local file (JSON Lines)."""

    name = "logfile"
    description = "append the alert event as one JSON line to a local file"
    SETTINGS = ("path",)

    def validate(self, config: dict[str, Any]) -> None:
        """Check ``path``: a non-empty string that is not a directory."""
        _check_settings(config, self.SETTINGS, self.name)
        path = config.get("path")
        if not isinstance(path, str) or not path.strip():
            raise InvalidInput(
                "path is required: the file to append to, e.g. /var/log/carnet/alerts.jsonl", field="path"
            )
        if os.path.isdir(os.path.expanduser(path)):
            raise InvalidInput(f"path {path!r} is a directory; name a file inside it", field="path")

    def target(self, config: dict[str, Any]) -> str:
        """The file's path."""
        return str(config.get("path", ""))

    def send(self, config: dict[str, Any], event: dict[str, Any]) -> None:
        """Append ``event`` and a newline with one write on an O_APPEND descriptor, then fsync.

        Concurrent appenders (threads or processes) never interleave within a line.
        """
        line = _body(event) + b"\n"
        path = os.path.expanduser(str(config["path"]))
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        if active_policy() is not None:  # on a server: never through a link planted in the folder
            flags |= getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o644)
        try:
            written = os.write(fd, line)
            while written < len(line):  # a short write (disk full, signal): finish the line
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
