"""Pinned slices of the evaluation data: row subsets a non-regression gate judges one by one.

A policy's ``non_regression`` gate may name slices::

    slices:
      - {name: north, where: "region == 'north'"}     # one slice: the rows the condition keeps
      - {where: "age >= 65"}                           # named after its condition
      - {by: plan, min_rows: 30}                       # one slice per value of a column

A ``where`` condition is the same safe expression as an erasure's ``--where``
(:func:`carnet.privacy.erasure.parse_where`): comparisons ``== != < <= > >= in`` (and ``not in``)
of a column with literal values, joined with ``and``, ``or``, ``not``; text values are quoted.
It is parsed, never evaluated as code. This module only resolves slices into row masks; the
metric comparison per slice is the gate's (:mod:`carnet.gates.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carnet.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = ["MAX_SLICES", "Slice", "SliceSpec", "parse_slices", "resolve_slices"]

#: at most this many slices per gate (a ``by`` column with more values keeps the largest ones)
MAX_SLICES = 50
_KEYS = ("name", "where", "by", "min_rows")
_EXAMPLE = "{name: north, where: \"region == 'north'\"} or {by: region, min_rows: 30}"


@dataclass(frozen=True)
class SliceSpec:
    """One item of a gate's ``slices``: a ``where`` condition (with a name) or a ``by`` column."""

    name: str
    where: str | None = None
    by: str | None = None
    min_rows: int = 30


@dataclass(frozen=True)
class Slice:
    """A resolved slice: its name, what defines it, and which evaluation rows it holds."""

    name: str
    definition: str
    mask: np.ndarray
    pinned: bool

    @property
    def rows(self) -> int:
        return int(self.mask.sum())


def _field(j: int, key: str | None = None) -> str:
    return f"slices[{j}]" + (f".{key}" if key else "")


def _one(item: Any, j: int) -> SliceSpec:
    from carnet.privacy.erasure import parse_where

    if not isinstance(item, dict):
        raise InvalidInput(f"{_field(j)} must be a mapping such as {_EXAMPLE}; got {item!r}", field=_field(j))
    for key in item:
        if key not in _KEYS:
            raise InvalidInput(
                f"unknown slice setting {key!r} in {_field(j)}; known: {', '.join(_KEYS)}",
                field=_field(j, str(key)),
            )
    if ("where" in item) == ("by" in item):
        raise InvalidInput(
            f"{_field(j)} needs exactly one of where (a condition) or by (a column), e.g. {_EXAMPLE}",
            field=_field(j, "where"),
        )
    if "where" in item:
        text = item["where"]
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(
                f"{_field(j, 'where')} must be a condition such as \"region == 'north'\"; got {text!r}",
                field=_field(j, "where"),
            )
        try:
            parse_where(text)
        except InvalidInput as exc:
            message = exc.message.removeprefix("--where: ")
            raise InvalidInput(f"{_field(j, 'where')}: {message}", field=_field(j, "where")) from None
        if "min_rows" in item:
            raise InvalidInput(
                f"{_field(j, 'min_rows')} applies to a by slice; a where slice is always judged",
                field=_field(j, "min_rows"),
            )
        name = item.get("name", text.strip())
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(
                f"{_field(j, 'name')} must be a non-empty label, got {name!r}", field=_field(j, "name")
            )
        return SliceSpec(name=name.strip(), where=text.strip())
    column = item["by"]
    if not isinstance(column, str) or not column.strip():
        raise InvalidInput(f"{_field(j, 'by')} must be a column name, got {column!r}", field=_field(j, "by"))
    if "name" in item:
        raise InvalidInput(
            f"{_field(j, 'name')}: a by slice is named COLUMN=VALUE per value; drop name",
            field=_field(j, "name"),
        )
    min_rows = item.get("min_rows", 30)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise InvalidInput(
            f"{_field(j, 'min_rows')} must be a whole number >= 1, got {min_rows!r}",
            field=_field(j, "min_rows"),
        )
    return SliceSpec(name=column.strip(), by=column.strip(), min_rows=min_rows)


def parse_slices(value: Any) -> list[SliceSpec]:
    """A gate's ``slices`` setting, validated; InvalidInput names ``slices[j].KEY``."""
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"slices must be a non-empty list of slices, each like {_EXAMPLE}", field="slices")
    specs = [_one(item, j) for j, item in enumerate(value)]
    seen: set[str] = set()
    for j, spec in enumerate(specs):
        if spec.where is not None and spec.name in seen:
            raise InvalidInput(
                f"{_field(j, 'name')}: slice {spec.name!r} is named twice", field=_field(j, "name")
            )
        seen.add(spec.name)
    return specs


def _label(value: Any) -> str:
    return "missing" if value is None or value != value else str(value)  # NaN != NaN


def resolve_slices(specs: list[SliceSpec], frame: pd.DataFrame) -> tuple[list[Slice], list[str]]:
    """The slices of ``frame`` the specs define, and notes on the values left out.

    A ``where`` slice is always kept (even empty: the gate then reports it); a ``by`` column gives
    one slice per value with at least ``min_rows`` rows, the largest first, at most
    :data:`MAX_SLICES` in all.

    Raises:
        InvalidInput: (``evaluation_data``) a slice reads a column the evaluation data lacks (the
            slice is named).
    """
    import numpy as np

    from carnet.privacy.erasure import parse_where

    out: list[Slice] = []
    notes: list[str] = []
    for spec in specs:
        if spec.where is not None:
            predicate = parse_where(spec.where)
            missing = [c for c in predicate.columns if c not in frame.columns]
            if missing:
                raise InvalidInput(
                    f"slice {spec.name}: the evaluation data has no column {missing[0]!r}",
                    field="evaluation_data",
                )
            mask = np.asarray(predicate.mask(frame), dtype=bool)
            out.append(Slice(spec.name, spec.where, mask, pinned=True))
            continue
        column = str(spec.by)
        if column not in frame.columns:
            raise InvalidInput(
                f"slices by {column}: the evaluation data has no column {column!r}", field="evaluation_data"
            )
        values = frame[column]
        counts = values.value_counts(dropna=False)
        small = [f"{_label(v)} ({n})" for v, n in counts.items() if n < spec.min_rows]
        if small:
            notes.append(
                f"{column}: {len(small)} value(s) under min_rows {spec.min_rows} not judged: "
                + ", ".join(small[:10])
                + (" ..." if len(small) > 10 else "")
            )
        for value, n in counts.items():
            if n < spec.min_rows:
                continue
            if len(out) >= MAX_SLICES:
                notes.append(f"{column}: more than {MAX_SLICES} slices; the smallest were not judged")
                break
            missing_value = value is None or value != value  # NaN != NaN
            mask = np.asarray(values.isna() if missing_value else values == value, dtype=bool)
            out.append(Slice(f"{column}={_label(value)}", f"{column} == {_label(value)}", mask, pinned=False))
    return out, notes
