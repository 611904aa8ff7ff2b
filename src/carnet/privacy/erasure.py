"""Which rows an erasure removes: a ``--where`` predicate parsed into a safe, vectorised filter.

The predicate is a Python-style boolean expression over column names and literal values, e.g.
``customer_id in (1001, 1002)``, ``email == "ann@example.org" or phone == "+33612345678"``,
``country == "FR" and not (age < 18)``. Column names with spaces or symbols are written between
backticks: ```first name` == "Ann"``. ``== None`` matches missing values.

Only comparisons (``== != < <= > >= in``, ``not in``), ``and``/``or``/``not``, parentheses, column
names and literals (strings, numbers, booleans, ``None``, and lists/tuples/sets of them) are
accepted: the text is parsed with :mod:`ast` and never evaluated as code, so a predicate sent
through the REST API cannot run anything. A value is compared with the column in the column's
type (``"1001"`` matches the integer 1001, and 1001 the text ``"1001"``), so an id written either
way finds its rows.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["Predicate", "parse_where"]

MAX_LENGTH = 1_000_000  # characters: room for a list of many ids
MAX_NODES = 200_000
_BACKTICK = re.compile(r"`([^`]+)`")
_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
        ast.In: "in", ast.NotIn: "not in"}  # fmt: skip


def _fail(message: str) -> InvalidInput:
    return InvalidInput(f"--where: {message}", field="where")


@dataclass(frozen=True)
class Predicate:
    """A parsed ``--where``: the columns it reads, a digest of its text, and the row filter."""

    text: str
    columns: tuple[str, ...]
    _mask: Callable[[Any], Any]

    @property
    def digest(self) -> str:
        """SHA-256 of the predicate's text: what records keep (the text itself names a person)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def mask(self, frame: Any) -> Any:
        """A boolean pandas Series over ``frame``'s rows: True where the row is to be erased.

        Raises:
            InvalidInput: ``frame`` lacks a column the predicate reads.
        """
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise _fail(f"the table has no column {missing[0]!r}")
        return self._mask(frame).fillna(False).astype(bool)


def parse_where(text: str) -> Predicate:
    """Parse an erasure predicate (see the module docs); InvalidInput naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise _fail("give a condition on columns, e.g. customer_id in (1001, 1002)")
    if len(text) > MAX_LENGTH:
        raise _fail(f"the condition is longer than {MAX_LENGTH:,} characters")
    names: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        key = f"_carnet_col_{len(names)}"
        names[key] = match.group(1)
        return key

    source = _BACKTICK.sub(placeholder, text.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        hint = " (use == for equality)" if re.search(r"(?<![=!<>])=(?!=)", source) else ""
        raise _fail(f"not a condition{hint}: {getattr(exc, 'msg', exc)}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise _fail(f"the condition has more than {MAX_NODES:,} parts")
    columns: list[str] = []
    build = _Builder(names, columns)
    try:
        mask = build.node(tree.body)
    except RecursionError:
        raise _fail("the condition is nested too deeply") from None
    return Predicate(text, tuple(dict.fromkeys(columns)), mask)


class _Builder:
    """Turns an expression tree into a function of a DataFrame, refusing any other construct."""

    def __init__(self, names: dict[str, str], columns: list[str]) -> None:
        self.names = names
        self.columns = columns

    def node(self, node: ast.AST) -> Callable[[Any], Any]:
        if isinstance(node, ast.BoolOp):
            parts = [self.node(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda f: _fold(parts, f, lambda a, b: a & b)
            return lambda f: _fold(parts, f, lambda a, b: a | b)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.node(node.operand)
            return lambda f: ~inner(f).fillna(False).astype(bool)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Name | ast.Constant):
            raise _fail(
                f"{ast.unparse(node)!r} alone is not a condition; compare it, e.g. {ast.unparse(node)} == ..."
            )
        raise _fail(f"{ast.unparse(node)!r} is not allowed (only comparisons, and, or, not)")

    def compare(self, node: ast.Compare) -> Callable[[Any], Any]:
        steps = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            steps.append(self.one(left, op, right))
            left = right
        return lambda f: _fold(steps, f, lambda a, b: a & b)

    def one(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> Callable[[Any], Any]:
        symbol = _OPS.get(type(op))
        if symbol is None:
            raise _fail(f"the operator {type(op).__name__} is not allowed; use == != < <= > >= in, not in")
        if isinstance(right, ast.Name) and not isinstance(left, ast.Name):
            left, right = right, left
            symbol = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(symbol, symbol)
            if symbol in ("in", "not in"):
                raise _fail("write column in (values), not values in column")
        if not isinstance(left, ast.Name):
            raise _fail(f"{ast.unparse(left)!r}: one side of a comparison must be a column")
        column = self.names.get(left.id, left.id)
        self.columns.append(column)
        if isinstance(right, ast.Name):
            if symbol in ("in", "not in"):
                raise _fail(f"{symbol} compares a column with a list of values, not with another column")
            other = self.names.get(right.id, right.id)
            self.columns.append(other)
            return lambda f: _apply(f[column], symbol, f[other])
        value = _literal(right, many=symbol in ("in", "not in"))
        return lambda f: _compare(f[column], symbol, value)


def _fold(parts: list[Callable[[Any], Any]], frame: Any, join: Callable[[Any, Any], Any]) -> Any:
    out = parts[0](frame).fillna(False).astype(bool)
    for part in parts[1:]:
        out = join(out, part(frame).fillna(False).astype(bool))
    return out


def _literal(node: ast.AST, *, many: bool) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise _fail(f'{ast.unparse(node)!r} is not a literal value (quote text: "...")') from None
    if many:
        if not isinstance(value, list | tuple | set | frozenset):
            raise _fail("in needs a list of values, e.g. customer_id in (1001, 1002)")
        values = list(value)
        if not all(_scalar(v) for v in values):
            raise _fail("in takes a list of plain values (text, numbers, booleans, None)")
        return values
    if not _scalar(value):
        raise _fail(f"{ast.unparse(node)!r}: compare with one plain value (text, number, boolean, None)")
    return value


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _coerce(series: Any, value: Any) -> Any:
    """``value`` in the column's type where that makes it comparable (1001 vs "1001")."""
    import pandas as pd

    if value is None or isinstance(value, bool):
        return value
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        if isinstance(value, str):
            try:
                return float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                return value
        return value
    if pd.api.types.is_datetime64_any_dtype(series):
        try:
            return pd.Timestamp(value)
        except (ValueError, TypeError):
            return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int | float) else value


def _as_text(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _text_form(series: Any) -> Any:
    """An object column's values as text where they are numbers (1001.0 -> "1001"), for matching."""
    import pandas as pd

    if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        return series.map(_as_text)
    return series


def _compare(series: Any, symbol: str, value: Any) -> Any:
    if symbol in ("in", "not in"):
        values = [_coerce(series, v) for v in value]
        present = [v for v in values if v is not None]
        hit = _text_form(series).isin(present)
        if len(present) < len(values):
            hit = hit | series.isna()
        return ~hit if symbol == "not in" else hit
    if value is None:
        if symbol not in ("==", "!="):
            raise _fail("None is compared with == or != only")
        return series.isna() if symbol == "==" else series.notna()
    target = _coerce(series, value)
    data = _text_form(series) if symbol in ("==", "!=") else series
    try:
        return _apply(data, symbol, target)
    except TypeError:
        raise _fail(
            f"cannot compare column {series.name!r} ({series.dtype}) with {value!r} using {symbol}"
        ) from None
    except ValueError as exc:
        raise _fail(f"cannot compare column {series.name!r} with {value!r}: {exc}") from None


def _apply(left: Any, symbol: str, right: Any) -> Any:
    if symbol == "==":
        return left == right
    if symbol == "!=":
        return left != right
    if symbol == "<":
        return left < right
    if symbol == "<=":
        return left <= right
    if symbol == ">":
        return left > right
    if symbol == ">=":
        return left >= right
    raise _fail(f"{symbol} compares a column with a list, not with another column")
