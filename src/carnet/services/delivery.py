"""Delivery of alert events to the notifiers of a monitor (plugin kind ``notifier``).

A monitor lists its notifiers as ``notify: [{type: webhook, url: ...}, ...]``.
:func:`validate_notifiers` checks that list when the monitor is created; :func:`notify` delivers
one alert event to every notifier and returns one :class:`Delivery` per notifier, never raising,
so a monitoring pass goes on when a receiver is down.

The built-in notifiers (``webhook``, ``slack``, ``logfile``) are in :mod:`carnet.notifiers.builtin`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
from collections.abc import Mapping
from typing import Any

from carnet.config import ServerPolicy
from carnet.domain.validation import check_document
from carnet.errors import InvalidInput, NotFound
from carnet.notifiers.builtin import redact_url
from carnet.notifiers.destinations import check_log_path, check_url, guarded
from carnet.plugins.api import Notifier
from carnet.plugins.loader import registry

__all__ = [
    "Delivery",
    "get_notifier",
    "notify",
    "redacted",
    "validate_notifiers",
]

_log = logging.getLogger(__name__)

_BACKOFF_S = 0.2  # wait before retry k (from 0): 0.2 s x 2**k
_MAX_RETRIES = 10
_MAX_RETRY_AFTER_S = 10.0  # a Retry-After header is honoured up to this many seconds
_RETRY_STATUSES = frozenset({408, 425, 429})  # client errors worth retrying (besides every 5xx)
_HTTP_KEYS = ("url", "timeout", "retries")


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


def get_notifier(name: str) -> Notifier:
    """The notifier registered as ``name``.

    Raises:
        NotFound: no such notifier (the message lists the known ones).
        InvalidInput: the plugin failed to import or is not a valid notifier.
    """
    return registry("notifier").get(name)


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
            (see :mod:`carnet.notifiers.destinations`).

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
    names = registry("notifier").names()
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
            where = redact_url(settings["url"])
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
            shown["url"] = redact_url(shown["url"], path=shown.get("type") != "slack")
        out.append(shown)
    return out
