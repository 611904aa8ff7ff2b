"""Compare two dataset versions by schema and column profile (no data is read)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from carnet.domain.datasets import ColumnProfile, SchemaField

__all__ = ["Change", "ColumnDiff", "TypeChange", "VersionDiff", "diff_versions"]

_STATS = ("missing_share", "min", "max", "mean", "std", "distinct")


@dataclass(frozen=True)
class Change:
    """One value before (``old``) and after (``new``)."""

    old: Any
    new: Any

    @property
    def delta(self) -> float | None:
        """``new - old`` when both are numbers, else None."""
        if _is_number(self.old) and _is_number(self.new):
            return cast("float | None", self.new - self.old)
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with old, new and delta."""
        return {"old": self.old, "new": self.new, "delta": self.delta}


@dataclass(frozen=True)
class TypeChange:
    """A column present in both versions whose type changed."""

    name: str
    old: str
    new: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"name": self.name, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class ColumnDiff:
    """How the profile of a column present in both versions changed.

    ``changes`` maps a statistic (``missing_share``, ``min``, ``max``, ``mean``, ``std``,
    ``distinct``, or a quantile such as ``p50``) to its change; ``top_added`` / ``top_removed``
    are values that entered / left the top values.
    """

    name: str
    changes: dict[str, Change] = field(default_factory=dict)
    top_added: list[str] = field(default_factory=list)
    top_removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "changes": {k: c.to_dict() for k, c in self.changes.items()},
            "top_added": list(self.top_added),
            "top_removed": list(self.top_removed),
        }


@dataclass(frozen=True)
class VersionDiff:
    """Differences from version A to version B: columns added/removed/retyped, profile changes, rows."""

    added: list[SchemaField] = field(default_factory=list)
    removed: list[SchemaField] = field(default_factory=list)
    type_changed: list[TypeChange] = field(default_factory=list)
    columns: list[ColumnDiff] = field(default_factory=list)
    rows: Change | None = None

    @property
    def has_changes(self) -> bool:
        """True when anything at all differs."""
        rows_changed = self.rows is not None and self.rows.old != self.rows.new
        return bool(self.added or self.removed or self.type_changed or self.columns or rows_changed)

    def column(self, name: str) -> ColumnDiff | None:
        """The profile diff of column ``name``, or None when its profile did not change."""
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "added": [{"name": f.name, "type": f.type} for f in self.added],
            "removed": [{"name": f.name, "type": f.type} for f in self.removed],
            "type_changed": [t.to_dict() for t in self.type_changed],
            "columns": [c.to_dict() for c in self.columns],
            "rows": self.rows.to_dict() if self.rows is not None else None,
            "has_changes": self.has_changes,
        }


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _same(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return cast("bool", a == b)


def _column_diff(a: ColumnProfile, b: ColumnProfile) -> ColumnDiff | None:
    changes: dict[str, Change] = {}
    for stat in _STATS:
        old, new = getattr(a, stat), getattr(b, stat)
        if not _same(old, new):
            changes[stat] = Change(old, new)
    for q in sorted(set(a.quantiles) | set(b.quantiles)):
        old, new = a.quantiles.get(q), b.quantiles.get(q)
        if not _same(old, new):
            changes[q] = Change(old, new)
    top_a = [v for v, _ in a.top]
    top_b = [v for v, _ in b.top]
    added = [v for v in top_b if v not in set(top_a)]
    removed = [v for v in top_a if v not in set(top_b)]
    if not changes and not added and not removed:
        return None
    return ColumnDiff(a.name, changes, added, removed)


def diff_versions(
    a_schema: Sequence[SchemaField],
    a_profile: Sequence[ColumnProfile] | None,
    b_schema: Sequence[SchemaField],
    b_profile: Sequence[ColumnProfile] | None,
    *,
    a_rows: int | None = None,
    b_rows: int | None = None,
) -> VersionDiff:
    """What changed from version A to version B.

    Columns are matched by name. Added columns are listed in B's order, removed ones in A's;
    profile changes are reported for columns in both versions (in B's order) whose profiles
    are known on both sides. ``rows`` is set when both row counts are given.
    """
    a_types = {f.name: f.type for f in a_schema}
    b_types = {f.name: f.type for f in b_schema}
    added = [f for f in b_schema if f.name not in a_types]
    removed = [f for f in a_schema if f.name not in b_types]
    type_changed = [
        TypeChange(f.name, a_types[f.name], f.type)
        for f in b_schema
        if f.name in a_types and a_types[f.name] != f.type
    ]
    a_prof = {p.name: p for p in a_profile or ()}
    b_prof = {p.name: p for p in b_profile or ()}
    columns: list[ColumnDiff] = []
    for f in b_schema:
        if f.name in a_prof and f.name in b_prof:
            d = _column_diff(a_prof[f.name], b_prof[f.name])
            if d is not None:
                columns.append(d)
    rows = Change(a_rows, b_rows) if a_rows is not None and b_rows is not None else None
    return VersionDiff(added, removed, type_changed, columns, rows)
