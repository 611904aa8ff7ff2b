"""Typed checks of user-supplied spec values; each failure is an InvalidInput naming the dotted path."""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from carnet.errors import InvalidInput

__all__ = [
    "as_bool",
    "as_int",
    "as_number",
    "as_str",
    "close_matches",
    "describe",
    "fail",
    "free_mapping",
    "join_path",
    "one_of",
    "plain",
    "section",
    "str_list",
]


def close_matches(word: str, candidates: Sequence[str], n: int = 3) -> list[str]:
    """Candidates close to ``word`` (difflib), best first."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.6)


def fail(path: str, message: str) -> NoReturn:
    """Raise InvalidInput for the spec field at dotted ``path``."""
    raise InvalidInput(message, field=path)


def join_path(prefix: str, key: str) -> str:
    """``prefix.key`` (just ``key`` at the top level)."""
    return f"{prefix}.{key}" if prefix else key


def section(value: Any, path: str, allowed: Sequence[str]) -> dict[str, Any]:
    """A mapping with only ``allowed`` string keys (None = empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        fail(path or "spec", f"{path or 'a spec'} must be a mapping, got {describe(value)}")
    for key in value:
        if not isinstance(key, str):
            fail(path or "spec", f"keys of {path or 'the spec'} must be strings, got {key!r}")
        if key not in allowed:
            where = path or "spec"
            hint = close_matches(key, allowed, n=1)
            tail = f"did you mean {hint[0]!r}?" if hint else f"expected one of: {', '.join(allowed)}"
            fail(join_path(path, key), f"unknown key {key!r} in {where}; {tail}")
    return dict(value)


def describe(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r:.60}"


def as_str(value: Any, path: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        fail(path, f"{path} must be a non-empty string, got {describe(value)}")
    return value


def as_int(value: Any, path: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(path, f"{path} must be an integer, got {describe(value)}")
    out = int(value)
    if (minimum is not None and out < minimum) or (maximum is not None and out >= maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum})"
        fail(path, f"{path} must be an integer {bound}, got {out}")
    return out


def as_number(value: Any, path: str) -> float:
    """A real number; numeric strings are accepted (YAML 1.1 reads ``1e-3`` as a string)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        fail(path, f"{path} must be a finite number, got {describe(value)}")
    return float(value)


def as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        fail(path, f"{path} must be true or false, got {describe(value)}")
    return value


def one_of(value: Any, path: str, choices: Sequence[str], *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if value is None and "none" in choices:
        return "none"
    if not isinstance(value, str) or value not in choices:
        hint = close_matches(value, choices, n=1) if isinstance(value, str) else []
        tail = f"; did you mean {hint[0]!r}?" if hint else ""
        fail(path, f"{path} must be one of {', '.join(choices)}, got {describe(value)}{tail}")
    return value


def str_list(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        fail(path, f"{path} must be a list of column names, got {describe(value)}")
    out: list[str] = []
    for i, item in enumerate(value):
        as_str(item, f"{path}[{i}]")
        if item not in out:
            out.append(item)
    return out


def free_mapping(value: Any, path: str) -> dict[str, Any]:
    """A mapping with any string keys and plain-data values (None = empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        fail(path, f"{path} must be a mapping, got {describe(value)}")
    out: dict[str, Any] = plain(value, path)
    return out


#: the deepest nesting of lists and mappings accepted in a spec's plain data
MAX_PLAIN_DEPTH = 64


def plain(value: Any, path: str, depth: int = 0) -> Any:
    """Deep copy of plain data (str, number, bool, null, list, mapping); tuples become lists."""
    if depth > MAX_PLAIN_DEPTH and isinstance(value, Mapping | list | tuple):
        fail(path, f"{path} is nested more than {MAX_PLAIN_DEPTH} levels deep (the limit); flatten it")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                fail(path, f"keys of {path} must be strings, got {key!r}")
            out[key] = plain(item, join_path(path, key), depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [plain(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    fail(
        path,
        f"{path} must be plain data (string, number, bool, null, list or mapping), got {describe(value)}",
    )
