"""The run search filter grammar, parsed into a small expression tree.

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := term ("and" term)*
    term       := "(" or_expr ")" | comparison
    comparison := field op value
                | field ["not"] "in" "(" value ("," value)* ")"
    field      := ("metrics" | "params" | "tags" | "attributes") "." name | attribute
    name       := identifier (letters, digits, _ - . /) | `back quoted` | "double quoted"
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "like" | "ilike"
    value      := number | 'single quoted string' | "double quoted string"

Metrics compare as numbers; params and tags as strings (``=``, ``!=``, ``like``,
``ilike``, ``in``, ``not in``); attributes are ``run_id``, ``name``, ``status``,
``parent_id`` (strings) and ``start_time``, ``end_time`` (numbers, seconds since
the epoch); ``id`` and ``run_name`` are aliases of ``run_id`` and ``name``.
``metric.``, ``param.``, ``tag.``, ``attr.``, ``attribute.`` and ``run.`` are
accepted prefix aliases. A bare number compared with a param or tag matches the
text as written (``params.depth = 10`` matches ``"10"``). NaN metric values never
match a comparison and sort last.
A comparison on a metric, param or tag the run does not have is false.

Limits (so that any filter a caller sends is either answered or refused with a
clear message, on every backend): at most ``MAX_FILTER_LENGTH`` characters,
``MAX_DEPTH`` levels of nested parentheses, ``MAX_TERMS`` comparisons and
``MAX_VALUES`` values in all ``in (...)`` lists together; no NUL character.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from carnet.errors import FilterSyntaxError, InvalidInput

__all__ = [
    "MAX_DEPTH",
    "MAX_FILTER_LENGTH",
    "MAX_ORDER_BY",
    "MAX_TERMS",
    "MAX_VALUES",
    "NUMERIC_ATTRIBUTES",
    "STRING_ATTRIBUTES",
    "Comparison",
    "Expr",
    "Logical",
    "decode_page_token",
    "encode_page_token",
    "parse_filter",
    "parse_order_by",
]

#: the longest filter accepted, in characters
MAX_FILTER_LENGTH = 100_000
#: the deepest nesting of parentheses accepted
MAX_DEPTH = 32
#: the most comparisons one filter may hold
MAX_TERMS = 200
#: the most values all ``in (...)`` lists of one filter may hold together
MAX_VALUES = 1_000
#: the most ``order_by`` clauses accepted
MAX_ORDER_BY = 16

STRING_ATTRIBUTES = frozenset({"run_id", "name", "status", "parent_id"})
NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})
_KINDS = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
_STRING_OPS = frozenset({"=", "!=", "like", "ilike", "in", "not in"})
_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">=", "in", "not in"})


@dataclass(frozen=True)
class Comparison:
    """``kind.key op value``; kind is metric, param, tag or attribute."""

    kind: str
    key: str
    op: str
    value: float | str | tuple[float | str, ...]


@dataclass(frozen=True)
class Logical:
    """``and`` / ``or`` over two or more sub-expressions."""

    op: str
    items: tuple[Expr, ...]


Expr = Comparison | Logical

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))(?![A-Za-z_])
  | (?P<str>'(?:[^'\\]|\\.|'')*')
  | (?P<dq>"(?:[^"\\]|\\.)*")
  | (?P<bq>`[^`]*`)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_\-/]*(?:\.[A-Za-z0-9_\-/]+)*)
  | (?P<dot>\.)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise FilterSyntaxError(f"unexpected character {text[pos]!r}", position=pos, text=text)
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


def _unquote(tok: _Tok) -> str:
    body = tok.text[1:-1]
    if tok.kind == "str":
        return body.replace("''", "'").replace("\\'", "'").replace("\\\\", "\\")
    if tok.kind == "dq":
        return body.replace('\\"', '"').replace("\\\\", "\\")
    return body


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.terms = 0
        self.values = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: _Tok | None = None) -> FilterSyntaxError:
        tok = tok or self.peek()
        return FilterSyntaxError(message, position=tok.pos, text=self.text)

    def is_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "ident" and tok.text.lower() == word

    def parse(self) -> Expr:
        expr = self.or_expr()
        if self.peek().kind != "end":
            raise self.error(f"expected 'and', 'or' or end of filter, found {self.peek().text!r}")
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.is_kw("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Logical("or", tuple(items))

    def and_expr(self) -> Expr:
        items = [self.term()]
        while self.is_kw("and"):
            self.take()
            items.append(self.term())
        return items[0] if len(items) == 1 else Logical("and", tuple(items))

    def term(self) -> Expr:
        if self.peek().text == "(":
            if self.depth >= MAX_DEPTH:
                raise self.error(f"parentheses are nested more than {MAX_DEPTH} levels deep (the limit)")
            self.depth += 1
            self.take()
            expr = self.or_expr()
            if self.peek().text != ")":
                raise self.error("expected ')'")
            self.take()
            self.depth -= 1
            return expr
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(
                f"the filter has more than {MAX_TERMS} comparisons (the limit); "
                "use 'in (...)' for many values of one field, or split the search"
            )
        return self.comparison()

    def field(self) -> tuple[str, str, _Tok]:
        tok = self.take()
        if tok.kind != "ident":
            raise self.error("expected a field such as metrics.auc, params.model or status", tok)
        head, dot, rest = tok.text.partition(".")
        if not dot:
            if self.peek().kind == "dot" and head.lower() in _KINDS:
                self.take()
                name_tok = self.take()
                if name_tok.kind not in ("bq", "dq", "ident"):
                    raise self.error("expected a name after '.'", name_tok)
                key = _unquote(name_tok) if name_tok.kind != "ident" else name_tok.text
                return _KINDS[head.lower()], key, tok
            kind, key = "attribute", head
        else:
            if head.lower() not in _KINDS:
                raise self.error(
                    f"unknown field prefix {head!r}; use metrics., params., tags. or attributes.", tok
                )
            kind, key = _KINDS[head.lower()], rest
        if kind == "attribute":
            key = {"id": "run_id", "run_name": "name"}.get(key.lower(), key.lower())
            if key not in STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES:
                attrs = ", ".join(sorted(STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES))
                raise self.error(f"unknown attribute {key!r}; attributes are {attrs}", tok)
        if not key:
            raise self.error("empty field name", tok)
        return kind, key, tok

    def value(self) -> float | str:
        tok = self.take()
        if tok.kind == "num":
            return float(tok.text)
        if tok.kind in ("str", "dq"):
            return _unquote(tok)
        raise self.error("expected a number or a 'quoted string'", tok)

    def comparison(self) -> Comparison:
        kind, key, _ = self.field()
        tok = self.peek()
        if self.is_kw("not"):
            self.take()
            if not self.is_kw("in"):
                raise self.error("expected 'in' after 'not'")
            op = "not in"
        elif self.is_kw("in") or self.is_kw("like") or self.is_kw("ilike"):
            op = tok.text.lower()
        elif tok.kind == "op":
            op = {"==": "=", "<>": "!="}.get(tok.text, tok.text)
        else:
            raise self.error("expected an operator (=, !=, <, <=, >, >=, like, ilike, in, not in)")
        op_tok = tok
        self.take()
        numeric = kind == "metric" or (kind == "attribute" and key in NUMERIC_ATTRIBUTES)
        allowed = _NUMERIC_OPS if numeric else _STRING_OPS
        if op not in allowed:
            raise self.error(f"operator {op!r} is not allowed on {kind} {key!r}", op_tok)
        value: float | str | tuple[float | str, ...]
        if op in ("in", "not in"):
            if self.peek().text != "(":
                raise self.error("expected '(' after 'in'")
            self.take()
            vals = [self.listed_value(kind, key, numeric)]
            while self.peek().text == ",":
                self.take()
                vals.append(self.listed_value(kind, key, numeric))
            if self.peek().text != ")":
                raise self.error("expected ',' or ')'")
            self.take()
            value = tuple(vals)
        else:
            value = self.typed_value(kind, key, numeric)
        return Comparison(kind, key, op, value)

    def listed_value(self, kind: str, key: str, numeric: bool) -> float | str:
        """One value of an ``in (...)`` list, counted against ``MAX_VALUES``."""
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.error(
                f"the filter's in (...) lists hold more than {MAX_VALUES} values (the limit); "
                "split the search"
            )
        return self.typed_value(kind, key, numeric)

    def typed_value(self, kind: str, key: str, numeric: bool) -> float | str:
        """A value of the field's type: numbers for metrics and times, strings (as written) otherwise."""
        vtok = self.peek()
        value = self.value()
        if numeric and not isinstance(value, float):
            raise self.error(f"{kind} {key!r} compares with numbers, not strings", vtok)
        if not numeric and isinstance(value, float):
            return vtok.text  # a bare number compares as the text written: params.depth = 10
        return value


def parse_filter(text: str | None) -> Expr | None:
    """Parse a filter string; ``None`` or blank means no filter.

    Raises:
        FilterSyntaxError: naming the 0-based position of the problem.
    """
    if text is None or not text.strip():
        return None
    if not isinstance(text, str):
        raise InvalidInput(f"filter must be a string, got {type(text).__name__}", field="filter")
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidInput(
            f"filter is {len(text)} characters; the limit is {MAX_FILTER_LENGTH} (split the search)",
            field="filter",
        )
    if "\x00" in text:
        raise FilterSyntaxError(
            "NUL character (U+0000) is not allowed", position=text.index("\x00"), text=text
        )
    return _Parser(text).parse()


def parse_order_by(clauses: list[str] | tuple[str, ...] | None) -> list[tuple[str, str, bool]]:
    """Parse ``["metrics.auc desc", "start_time"]`` into ``(kind, key, ascending)`` triples."""
    out: list[tuple[str, str, bool]] = []
    if clauses is not None and len(clauses) > MAX_ORDER_BY:
        raise InvalidInput(
            f"order_by has {len(clauses)} clauses; the limit is {MAX_ORDER_BY}", field="order_by"
        )
    for clause in clauses or []:
        if not isinstance(clause, str) or len(clause) > 1_000 or "\x00" in clause:
            raise InvalidInput(
                f"invalid order_by {str(clause)[:60]!r}: expected FIELD [asc|desc] of at most 1000 "
                "characters, e.g. 'metrics.auc desc'",
                field="order_by",
            )
        text = clause.strip()
        direction = "asc"
        parts = text.rsplit(None, 1)
        if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
            text, direction = parts[0], parts[1].lower()
        p = _Parser(text)
        try:
            kind, key, _ = p.field()
        except FilterSyntaxError as exc:
            raise InvalidInput(f"invalid order_by {clause!r}: {exc.message}", field="order_by") from exc
        if p.peek().kind != "end":
            raise InvalidInput(
                f"invalid order_by {clause!r}: expected FIELD [asc|desc], e.g. 'metrics.auc desc'",
                field="order_by",
            )
        out.append((kind, key, direction == "asc"))
    return out


def encode_page_token(offset: int, after: tuple[float, str] | None = None) -> str:
    """Opaque token for the search page that starts at ``offset``; with ``after`` (the start time
    and id of the last run shown, in the default order) the next page is read from that key on
    (keyset pagination: as fast on page 600 as on page 1, and stable while runs are added)."""
    payload: dict[str, Any] = {"offset": offset}
    if after is not None:
        payload["after"] = [after[0], after[1]]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def decode_page_after(token: str | None) -> tuple[float, str] | None:
    """The keyset position of a page token (None for a token that has only an offset)."""
    if not token:
        return None
    decode_page_token(token)  # the same checks
    after = json.loads(base64.urlsafe_b64decode(token.encode())).get("after")
    if after is None:
        return None
    if (
        not isinstance(after, list)
        or len(after) != 2
        or isinstance(after[0], bool)
        or not isinstance(after[0], int | float)
        or not isinstance(after[1], str)
        or len(after[1]) > 64
    ):
        raise InvalidInput(
            "invalid page_token: pass the next_page_token of a previous search", field="page_token"
        )
    return float(after[0]), after[1]


def decode_page_token(token: str | None) -> int:
    """Offset encoded in a page token; InvalidInput when the token is not one of ours."""
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except Exception as exc:  # noqa: BLE001 - any decoding problem is a bad token
        raise InvalidInput(
            "invalid page_token: pass the next_page_token of a previous search", field="page_token"
        ) from exc
    if offset < 0:
        raise InvalidInput("invalid page_token: negative offset", field="page_token")
    return offset
