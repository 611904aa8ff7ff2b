"""Checks on user-supplied keys and values, with messages naming the field and the fix."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

from carnet.domain.runs import Metric
from carnet.errors import InvalidInput

__all__ = [
    "MAX_DOCUMENT_DEPTH",
    "MAX_KEY",
    "MAX_VALUE",
    "artifact_path",
    "check_document",
    "check_key",
    "check_metric_value",
    "check_step",
    "check_text",
    "check_timestamp",
    "make_metric",
    "param_value",
]

MAX_KEY = 250
MAX_VALUE = 8000


def check_text(text: str, field: str) -> str:
    """Refuse U+0000 in a text value (PostgreSQL cannot store it; carnet refuses it on every backend)."""
    if "\x00" in text:
        raise InvalidInput(
            f"{field}: text may not contain the NUL character (U+0000); remove it", field=field
        )
    return text


#: the deepest nesting of mappings and lists accepted in a spec or an environment
MAX_DOCUMENT_DEPTH = 64


def check_document(value: Any, field: str) -> Any:
    """Refuse U+0000 in any text of a spec, and nesting past ``MAX_DOCUMENT_DEPTH``; returns ``value``.

    Specs (policies, monitors, notifiers, deployments) and run environments are stored as JSON
    text, which could hold an escaped NUL on every backend; carnet refuses it there too, so that no
    text it stores holds one. The error names the path of the text, e.g. ``notify[0].path``. The
    walk does not recurse: a document nested thousands of levels deep is refused, not a crash.
    """
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, where or "value")
            continue
        if not isinstance(item, Mapping | list | tuple):
            continue
        if depth >= MAX_DOCUMENT_DEPTH:
            shown = where if len(where) <= 60 else f"{where[:60]}..."
            raise InvalidInput(
                f"{shown or 'the document'} is nested more than {MAX_DOCUMENT_DEPTH} levels deep "
                "(the limit); flatten it",
                field=shown or None,
            )
        if isinstance(item, Mapping):
            for key, sub in item.items():
                name = check_text(key, where or "key") if isinstance(key, str) else str(key)
                stack.append((sub, f"{where}.{name}" if where else name, depth + 1))
        else:
            stack.extend((sub, f"{where}[{i}]", depth + 1) for i, sub in enumerate(item))
    return value


def check_key(key: Any, what: str) -> str:
    """A param, metric or tag key: a non-empty string of at most 250 characters."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"{what} key must be a non-empty string, got {key!r}", field=what)
    if len(key) > MAX_KEY:
        raise InvalidInput(
            f"{what} key {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY}", field=what
        )
    return check_text(key, what)


def param_value(value: Any, key: str, what: str = "param") -> str:
    """Params and tags are stored as strings of at most 8000 characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE:
        raise InvalidInput(
            f"{what} {key!r} value is {len(text)} characters; the limit is {MAX_VALUE} "
            "(log large values as an artifact instead)",
            field=f"{what}s.{key}",
        )
    return check_text(text, f"{what}s.{key}")


def check_metric_value(value: Any, key: str) -> float:
    """A metric value: a real number (NaN and infinities are kept as such)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(
            f"metric {key!r} value must be a number, got {type(value).__name__} {value!r:.60}",
            field=f"metrics.{key}",
        )
    out = float(value)
    return math.nan if math.isnan(out) else out


#: the range of a metric step (it is stored as a 64-bit integer)
STEP_RANGE = (-(2**63), 2**63 - 1)


def check_step(step: Any, key: str) -> int:
    """A metric step: an integer that fits in 64 bits."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidInput(f"metric {key!r} step must be an integer, got {step!r}", field="step")
    if not STEP_RANGE[0] <= int(step) <= STEP_RANGE[1]:
        raise InvalidInput(f"metric {key!r} step {step} does not fit in 64 bits", field="step")
    return int(step)


def check_timestamp(timestamp: Any, key: str) -> float:
    """A metric timestamp: a finite number of seconds since the epoch."""
    try:
        value = float(timestamp)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(timestamp, bool) or not math.isfinite(value):
        raise InvalidInput(
            f"metric {key!r} timestamp must be a finite number of seconds, got {timestamp!r}",
            field="timestamp",
        )
    return value


def make_metric(key: str, value: Any, step: int, timestamp: float) -> Metric:
    """A validated metric value (key, finite-or-NaN number, 64-bit step, finite timestamp)."""
    check_key(key, "metric")
    return Metric(key, check_metric_value(value, key), check_step(step, key), check_timestamp(timestamp, key))


_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def artifact_path(name: str) -> str:
    """Normalise a run artifact path (metadata only, never a filesystem path): ``a/b.txt``.

    Backslashes are separators; empty and ``.`` segments go; ``..``, control characters and
    percent-escapes are refused.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("artifact path must be a non-empty string", field="artifact_path")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInput(f"artifact path {name!r} contains a control character", field="artifact_path")
    if _PERCENT_ESCAPE.search(name):
        raise InvalidInput(
            f"artifact path {name!r} contains a percent-escape; use the plain name", field="artifact_path"
        )
    parts = [x for x in name.replace("\\", "/").split("/") if x not in ("", ".")]
    if not parts or any(x == ".." for x in parts):
        raise InvalidInput(
            f"artifact path {name!r} must be relative and must not contain '..'", field="artifact_path"
        )
    return "/".join(parts)
