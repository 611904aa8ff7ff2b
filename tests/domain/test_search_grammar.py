"""The run search filter grammar: trees, aliases, precedence, error positions, order_by, page tokens."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carnet.domain.search import (
    NUMERIC_ATTRIBUTES,
    STRING_ATTRIBUTES,
    Comparison,
    Logical,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
)
from carnet.errors import FilterSyntaxError, InvalidInput

C = Comparison


# -- comparisons on every field kind ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("metrics.auc = 0.5", "="),
        ("metrics.auc == 0.5", "="),
        ("metrics.auc != 0.5", "!="),
        ("metrics.auc <> 0.5", "!="),
        ("metrics.auc < 0.5", "<"),
        ("metrics.auc <= 0.5", "<="),
        ("metrics.auc > 0.5", ">"),
        ("metrics.auc >= 0.5", ">="),
        ("metrics.auc>=0.5", ">="),
    ],
)
def test_metric_operators(text: str, op: str) -> None:
    assert parse_filter(text) == C("metric", "auc", op, 0.5)


@pytest.mark.parametrize("op", ["=", "!=", "like", "ilike", "LIKE", "ILike"])
@pytest.mark.parametrize("kind", ["param", "tag"])
def test_string_operators_on_params_and_tags(kind: str, op: str) -> None:
    assert parse_filter(f"{kind}s.model {op} 'lg%'") == C(kind, "model", op.lower(), "lg%")


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
@pytest.mark.parametrize("kind", ["params", "tags"])
def test_ordering_operators_rejected_on_strings(kind: str, op: str) -> None:
    text = f"{kind}.a {op} 'x'"
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert info.value.position == len(f"{kind}.a ")


@pytest.mark.parametrize("op", ["like", "ilike"])
def test_like_rejected_on_metrics(op: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(f"metrics.auc {op} 1")
    assert info.value.position == len("metrics.auc ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metric.auc > 1", C("metric", "auc", ">", 1.0)),
        ("METRICS.auc > 1", C("metric", "auc", ">", 1.0)),
        ("param.model = 'x'", C("param", "model", "=", "x")),
        ("tag.team = 'x'", C("tag", "team", "=", "x")),
        ("attr.status = 'failed'", C("attribute", "status", "=", "failed")),
        ("attribute.name = 'x'", C("attribute", "name", "=", "x")),
        ("attributes.name = 'x'", C("attribute", "name", "=", "x")),
        ("run.name = 'x'", C("attribute", "name", "=", "x")),
        ("status = 'finished'", C("attribute", "status", "=", "finished")),
        ("STATUS = 'finished'", C("attribute", "status", "=", "finished")),
        ("id = 'abc'", C("attribute", "run_id", "=", "abc")),
        ("attributes.id = 'abc'", C("attribute", "run_id", "=", "abc")),
        ("run_id = 'abc'", C("attribute", "run_id", "=", "abc")),
        ("run_name = 'x'", C("attribute", "name", "=", "x")),
        ("parent_id = 'p'", C("attribute", "parent_id", "=", "p")),
        ("start_time >= 10", C("attribute", "start_time", ">=", 10.0)),
        ("attributes.end_time < 1e9", C("attribute", "end_time", "<", 1e9)),
        ("metrics.`val loss` < 1", C("metric", "val loss", "<", 1.0)),
        ('metrics."val loss" < 1', C("metric", "val loss", "<", 1.0)),
        ("params.`a.b` = 'x'", C("param", "a.b", "=", "x")),
        ('tags."quote\\"d" = \'x\'', C("tag", 'quote"d', "=", "x")),
        ("params.a.b-c/d = 'x'", C("param", "a.b-c/d", "=", "x")),
        ("params.lr = 0.1", C("param", "lr", "=", "0.1")),
        ("params.n = 10", C("param", "n", "=", "10")),
        ('params.s = "dq value"', C("param", "s", "=", "dq value")),
        ("params.s = 'it''s'", C("param", "s", "=", "it's")),
        ("params.s = 'it\\'s'", C("param", "s", "=", "it's")),
    ],
)
def test_fields_and_aliases(text: str, expected: Comparison) -> None:
    assert parse_filter(text) == expected


def test_attribute_sets() -> None:
    assert {"run_id", "name", "status", "parent_id"} == STRING_ATTRIBUTES
    assert {"start_time", "end_time"} == NUMERIC_ATTRIBUTES


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("2.5e-3", 0.0025),
        ("-1.5E+2", -150.0),
        ("+4", 4.0),
        (".5", 0.5),
        (".5e1", 5.0),
        ("3.", 3.0),
        ("-0", 0.0),
    ],
)
def test_numbers(text: str, value: float) -> None:
    assert parse_filter(f"metrics.x = {text}") == C("metric", "x", "=", value)


def test_numeric_attribute_rejects_string() -> None:
    text = "start_time > 'yesterday'"
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert info.value.position == text.index("'")


def test_string_attribute_rejects_ordering() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter("name > 'a'")
    assert info.value.position == 5


# -- in / not in -----------------------------------------------------------------------------------


def test_in_lists() -> None:
    assert parse_filter("metrics.a in (1, 2.5, 3e1)") == C("metric", "a", "in", (1.0, 2.5, 30.0))
    assert parse_filter("params.m IN ('a','b')") == C("param", "m", "in", ("a", "b"))
    assert parse_filter("params.m not in ('a')") == C("param", "m", "not in", ("a",))
    assert parse_filter("tags.t NOT IN ('x', 2)") == C("tag", "t", "not in", ("x", "2"))
    assert parse_filter("status in ('failed', 'killed')") == C(
        "attribute", "status", "in", ("failed", "killed")
    )
    assert parse_filter("id in ('a', \"b\")") == C("attribute", "run_id", "in", ("a", "b"))


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("params.m in 'a'", 12),  # '(' expected after in
        ("params.m in ()", 13),  # a value is needed
        ("params.m in ('a' 'b')", 17),  # ',' or ')' expected
        ("params.m in ('a',", 17),  # unterminated list
        ("params.m not like 'a'", 13),  # only 'in' may follow 'not'
    ],
)
def test_in_list_errors(text: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert info.value.position == position


def test_string_in_metric_in_list_points_at_the_value() -> None:
    text = "metrics.a in (1, 'x')"
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert info.value.position == text.index("'x'")


# -- and / or ---------------------------------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    a, b, c = C("metric", "a", "=", 1.0), C("metric", "b", "=", 2.0), C("metric", "c", "=", 3.0)
    assert parse_filter("metrics.a = 1 or metrics.b = 2 and metrics.c = 3") == Logical(
        "or", (a, Logical("and", (b, c)))
    )
    assert parse_filter("metrics.a = 1 and metrics.b = 2 or metrics.c = 3") == Logical(
        "or", (Logical("and", (a, b)), c)
    )
    assert parse_filter("(metrics.a = 1 or metrics.b = 2) and metrics.c = 3") == Logical(
        "and", (Logical("or", (a, b)), c)
    )
    assert parse_filter("metrics.a = 1 AND metrics.b = 2 And metrics.c = 3") == Logical("and", (a, b, c))
    assert parse_filter("metrics.a = 1 OR metrics.b = 2 or metrics.c = 3") == Logical("or", (a, b, c))
    assert parse_filter("((metrics.a = 1))") == a
    assert parse_filter("metrics.a = 1 and (metrics.b = 2 or (metrics.c = 3))") == Logical(
        "and", (a, Logical("or", (b, c)))
    )


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_blank_filter_is_none(text: str | None) -> None:
    assert parse_filter(text) is None


# -- errors with positions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("metrics.auc >", 13),  # missing value
        ("metrics.auc > and metrics.b = 1", 14),  # missing value before and
        ("metrics.auc", 11),  # missing operator
        ("foo.bar = 1", 0),  # unknown prefix
        ("  bogus = 1", 2),  # unknown attribute
        ("metrics.auc = 'high'", 14),  # string compared to a metric
        ("metrics.a > 1 and metrics.b < '2'", 30),  # string compared to a metric, later
        ("(metrics.a > 1", 14),  # unclosed paren
        ("(metrics.a > 1 or (metrics.b < 2)", 33),  # unclosed outer paren
        ("metrics.a > 1)", 13),  # stray closing paren
        ("metrics.a > 1 garbage", 14),  # trailing garbage
        ("metrics.a > 1 and", 17),  # dangling and
        ("params.a > 'x'", 9),  # ordering on a param
        ("metrics.a > 1 ; drop table runs", 14),  # unexpected character
        ("metrics. = 1", 9),  # no name after the dot
        ("metrics.a = 'unterminated", 12),  # unterminated string
        ("metrics.a = 1e", 12),  # malformed exponent
        ("= 1", 0),  # no field
        ("metrics.a = metrics.b", 12),  # a field is not a value
    ],
)
def test_syntax_errors_carry_position(text: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    err = info.value
    assert isinstance(err, InvalidInput)
    assert err.position == position
    assert err.text == text
    assert err.field == "filter"
    assert f"position {position}" in str(err)


# -- order_by --------------------------------------------------------------------------------------


def test_parse_order_by() -> None:
    assert parse_order_by(None) == []
    assert parse_order_by([]) == []
    assert parse_order_by(
        ["metrics.auc desc", "start_time", "params.`lr x` ASC", "tags.t DESC", "id", "attr.name asc"]
    ) == [
        ("metric", "auc", False),
        ("attribute", "start_time", True),
        ("param", "lr x", True),
        ("tag", "t", False),
        ("attribute", "run_id", True),
        ("attribute", "name", True),
    ]
    assert parse_order_by(("  metric.loss   ",)) == [("metric", "loss", True)]


@pytest.mark.parametrize(
    "clause", ["metrics.auc sideways", "foo.bar", "", "bogus desc", "metrics.a desc asc"]
)
def test_parse_order_by_errors(clause: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_order_by([clause])
    assert info.value.field == "order_by"
    assert not isinstance(info.value, FilterSyntaxError)


# -- page tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 1, 7, 1000, 10**9])
def test_page_token_round_trip(offset: int) -> None:
    token = encode_page_token(offset)
    assert isinstance(token, str)
    assert decode_page_token(token) == offset


def test_missing_page_token_is_offset_zero() -> None:
    assert decode_page_token(None) == 0
    assert decode_page_token("") == 0


@pytest.mark.parametrize(
    "token",
    [
        "garbage!!",
        "not-a-token",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"offset": "x"}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"page": 3}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"offset": -5}).encode()).decode(),
    ],
)
def test_bad_page_token(token: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_page_token(token)
    assert info.value.field == "page_token"


# -- property: generated valid filters always parse ------------------------------------------------

_NAMES = st.sampled_from(["auc", "loss", "val_loss", "a.b", "x-1", "lr/2"])
_QUOTED = st.sampled_from(["`val loss`", '"val loss"', "`a.b`"])
_NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: f"{f:.6e}"),
    st.floats(0, 100, allow_nan=False).map(repr),
)
_STRINGS = st.text(alphabet="abcXYZ %_'", max_size=8).map(lambda s: "'" + s.replace("'", "''") + "'")
_WS = st.sampled_from([" ", "  ", "\t"])


@st.composite
def _comparison(draw: st.DrawFn) -> str:
    name = draw(st.one_of(_NAMES, _QUOTED))
    ws = draw(_WS)
    kind = draw(st.sampled_from(["metric", "string", "numattr", "strattr"]))
    if kind == "metric":
        field = draw(st.sampled_from(["metrics.", "metric.", "METRICS."])) + name
        op = draw(st.sampled_from(["=", "==", "!=", "<>", "<", "<=", ">", ">=", "in", "not in"]))
        value_st = _NUMBERS
    elif kind == "string":
        field = draw(st.sampled_from(["params.", "param.", "tags.", "tag."])) + name
        op = draw(st.sampled_from(["=", "==", "!=", "<>", "like", "ilike", "LIKE", "in", "NOT IN"]))
        value_st = st.one_of(_STRINGS, _NUMBERS)
    elif kind == "numattr":
        field = draw(st.sampled_from(["start_time", "end_time", "attributes.start_time", "attr.end_time"]))
        op = draw(st.sampled_from(["=", "!=", "<", ">=", "in"]))
        value_st = _NUMBERS
    else:
        field = draw(st.sampled_from(["status", "name", "id", "run_id", "parent_id", "attributes.name"]))
        op = draw(st.sampled_from(["=", "!=", "like", "ilike", "in", "not in"]))
        value_st = _STRINGS
    if op.lower() in ("in", "not in"):
        values = draw(st.lists(value_st, min_size=1, max_size=3))
        return f"{field}{ws}{op}{ws}({', '.join(values)})"
    return f"{field}{ws}{op}{ws}{draw(value_st)}"


def _filter(depth: int) -> st.SearchStrategy[tuple[str, int]]:
    """A valid filter and the number of comparisons in it."""
    leaf = _comparison().map(lambda c: (c, 1))
    if depth == 0:
        return leaf
    sub = _filter(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["and", "or", "AND", "Or"]), sub).map(
            lambda t: (f"{t[0][0]} {t[1]} {t[2][0]}", t[0][1] + t[2][1])
        ),
        sub.map(lambda s: (f"({s[0]})", s[1])),
    )


def _leaves(expr: Comparison | Logical) -> int:
    return 1 if isinstance(expr, Comparison) else sum(_leaves(e) for e in expr.items)


@settings(max_examples=300, deadline=None)
@given(_filter(3))
def test_generated_filters_parse(generated: tuple[str, int]) -> None:
    text, comparisons = generated
    expr = parse_filter(text)
    assert expr is not None
    assert _leaves(expr) == comparisons


def test_limits_are_stated_and_enforced_before_any_recursion() -> None:
    import sys

    from carnet.domain.search import MAX_DEPTH, MAX_FILTER_LENGTH, MAX_TERMS, MAX_VALUES, parse_filter
    from carnet.errors import FilterSyntaxError, InvalidInput

    # far deeper than Python's recursion limit: refused at the limit, not by RecursionError
    n = sys.getrecursionlimit() * 5
    with pytest.raises(FilterSyntaxError, match=f"more than {MAX_DEPTH} levels"):
        parse_filter("(" * n + "status = 'x'" + ")" * n)
    assert parse_filter("(" * MAX_DEPTH + "status = 'x'" + ")" * MAX_DEPTH) is not None
    with pytest.raises(FilterSyntaxError, match=f"more than {MAX_TERMS} comparisons"):
        parse_filter(" or ".join(["status = 'x'"] * (MAX_TERMS + 1)))
    assert parse_filter(" and ".join(["status = 'x'"] * MAX_TERMS)) is not None
    with pytest.raises(FilterSyntaxError, match=f"more than {MAX_VALUES} values"):
        parse_filter("status in (" + ",".join(["'x'"] * (MAX_VALUES + 1)) + ")")
    # the values of all lists count together; a plain comparison's value does not count
    half = "status in (" + ",".join(["'x'"] * (MAX_VALUES // 2)) + ")"
    with pytest.raises(FilterSyntaxError, match=f"more than {MAX_VALUES} values"):
        parse_filter(f"{half} or {half} or status in ('y')")
    assert parse_filter(f"{half} or {half} or status = 'y'") is not None
    with pytest.raises(InvalidInput, match=f"the limit is {MAX_FILTER_LENGTH}"):
        parse_filter("status = '" + "x" * MAX_FILTER_LENGTH + "'")
    with pytest.raises(FilterSyntaxError, match="NUL") as info:
        parse_filter("status = 'a\x00'")
    assert info.value.position == len("status = 'a")
    # a long filter's text is shortened in the message
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter("(" * 1000)
    assert len(str(info.value)) < 400
