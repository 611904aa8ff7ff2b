"""The built-in alert notifiers (plugin kind ``notifier``, entry-point group ``carnet.notifiers``).

Registered through the same entry points as third-party notifiers:

- ``webhook``: POST the event as JSON, optionally signed (``X-Carnet-Signature: sha256=<hmac>``);
- ``slack``: a Slack incoming-webhook message (Mattermost shows its ``text``);
- ``logfile``: append the event as one JSON line to a local file.

Delivery (retries are the notifier's own, validation at monitor creation, one ``Delivery`` per
notifier) is :mod:`carnet.services.delivery`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import hmac
import importlib.metadata
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from typing import Any

from carnet.errors import DeliveryFailed, InvalidInput
from carnet.notifiers.destinations import active_policy, pinned_request

__all__ = ["LogFileNotifier", "SlackNotifier", "WebhookNotifier", "redact_url", "sign"]

_BACKOFF_S = 0.2  # wait before retry k (from 0): 0.2 s x 2**k
_MAX_RETRIES = 10
_MAX_RETRY_AFTER_S = 10.0  # a Retry-After header is honoured up to this many seconds
_RETRY_STATUSES = frozenset({408, 425, 429})  # client errors worth retrying (besides every 5xx)
_HTTP_KEYS = ("url", "timeout", "retries")


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


def redact_url(url: str, *, path: bool = True) -> str:
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
        raise InvalidInput(f"url {redact_url(url)!r} is not a valid URL: {exc}", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise InvalidInput(
            f"url must be an http:// or https:// address such as {example}, got {redact_url(url)!r}",
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
        return redact_url(str(config.get("url", "")))

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
        where = redact_url(str(config.get("url", "")), path=False)
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
