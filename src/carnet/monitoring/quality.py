"""Data quality of a production window against its reference: schema, missing values, ranges, categories.

A :class:`QualitySpec` is what the checks need from the reference (per column: kind, dtype,
missing share, numeric min/max, known categories) and round-trips through JSON;
:func:`check_quality` compares a window with it, column by column and vectorised.

    spec = QualitySpec.from_frame(reference_df)
    report = check_quality(spec, window_df)
    report.metrics["missing_share.age"], report.metrics["schema_violations"]

Column kinds are those of carnet's dataset profiles: ``numeric``, ``categorical`` (strings,
objects, pandas categories), ``boolean``, ``temporal``, ``other``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from carnet.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "DEFAULT_MAX_CATEGORIES",
    "DEFAULT_MISSING_INCREASE",
    "KINDS",
    "SCHEMA_VIOLATION_KINDS",
    "ColumnQuality",
    "ColumnSpec",
    "QualityReport",
    "QualitySpec",
    "SchemaViolation",
    "check_quality",
    "column_kind",
]

#: column kinds, as in dataset profiles
KINDS = ("numeric", "categorical", "boolean", "temporal", "other")
#: kinds of schema violation
SCHEMA_VIOLATION_KINDS = ("missing_column", "unexpected_column", "wrong_type")
#: categorical columns with more distinct reference values keep none (unseen checks skipped)
DEFAULT_MAX_CATEGORIES = 1000
#: a column is flagged when its missing share grows by more than this (absolute)
DEFAULT_MISSING_INCREASE = 0.1
_TOP_UNSEEN = 10
_FORMAT = "carnet.quality_spec/1"


def column_kind(dtype: Any) -> str:
    """The kind of a pandas dtype: numeric, categorical, boolean, temporal or other."""
    import pandas as pd

    types = pd.api.types
    if types.is_bool_dtype(dtype):
        return "boolean"
    if isinstance(dtype, pd.CategoricalDtype) or types.is_string_dtype(dtype) or types.is_object_dtype(dtype):
        return "categorical"
    if types.is_numeric_dtype(dtype) and not types.is_complex_dtype(dtype):
        return "numeric"
    if (
        types.is_datetime64_any_dtype(dtype)
        or types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    ):
        return "temporal"
    return "other"


def _plain(value: Any) -> Any:
    """A JSON scalar for a category value: str/int/float/bool kept, numpy unwrapped, others as str."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str):
        value = item()
    if isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return str(value)


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class ColumnSpec:
    """What the reference says about one column.

    ``categories`` is None for non-categorical columns and for categorical columns with more
    than ``max_categories`` distinct values (``distinct`` then says how many).
    """

    name: str
    kind: str
    dtype: str
    missing_share: float
    min: float | None = None
    max: float | None = None
    categories: tuple[Any, ...] | None = None
    distinct: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "missing_share": self.missing_share,
            "min": self.min,
            "max": self.max,
            "categories": None if self.categories is None else list(self.categories),
            "distinct": self.distinct,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        """The inverse of :meth:`to_dict`."""
        kind = str(data["kind"])
        if kind not in KINDS:
            raise InvalidInput(
                f"column spec kind must be one of {', '.join(KINDS)}, got {kind!r}", field="spec"
            )
        cats = data.get("categories")
        return cls(
            name=str(data["name"]),
            kind=kind,
            dtype=str(data.get("dtype", kind)),
            missing_share=float(data.get("missing_share", 0.0)),
            min=None if data.get("min") is None else float(data["min"]),
            max=None if data.get("max") is None else float(data["max"]),
            categories=None if cats is None else tuple(cats),
            distinct=None if data.get("distinct") is None else int(data["distinct"]),
        )


@dataclass(frozen=True)
class QualitySpec:
    """The reference side of the quality checks: one :class:`ColumnSpec` per column, in order."""

    columns: tuple[ColumnSpec, ...]
    rows: int
    max_categories: int = DEFAULT_MAX_CATEGORIES

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        columns: Iterable[str] | None = None,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
    ) -> QualitySpec:
        """The spec of a reference DataFrame (all columns, or ``columns``).

        Raises:
            InvalidInput: not a DataFrame, duplicate or unknown column names, bad ``max_categories``.
        """
        import numpy as np

        frame = _check_frame(frame, "frame")
        if isinstance(max_categories, bool) or not isinstance(max_categories, int) or max_categories < 0:
            raise InvalidInput(
                f"max_categories must be an integer >= 0, got {max_categories!r}", field="max_categories"
            )
        by_name = _by_name(frame, "frame")
        names = list(by_name) if columns is None else [str(c) for c in columns]
        unknown = [c for c in names if c not in by_name]
        if unknown:
            raise InvalidInput(f"columns not in the frame: {unknown[:10]!r}", field="columns")
        rows = len(frame)
        specs = []
        for name in names:
            col = frame[by_name[name]]
            kind = column_kind(col.dtype)
            missing = int(col.isna().sum())
            spec = ColumnSpec(name, kind, str(col.dtype), missing / rows if rows else 0.0)
            if kind == "numeric":
                values = col.to_numpy(dtype=float, na_value=np.nan)
                finite = values[np.isfinite(values)]
                if finite.size:
                    spec = _replace(spec, min=float(finite.min()), max=float(finite.max()))
            elif kind == "categorical":
                counts = col.value_counts(dropna=True, sort=True)
                distinct = len(counts)
                kept = None if distinct > max_categories else tuple(_plain(v) for v in counts.index)
                spec = _replace(spec, categories=kept, distinct=distinct)
            specs.append(spec)
        return cls(tuple(specs), rows, max_categories)

    def column(self, name: str) -> ColumnSpec:
        """The spec of column ``name``, or ``InvalidInput``."""
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise InvalidInput(f"no column {name!r} in the quality spec", field="column")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``QualitySpec.from_dict`` reads it back)."""
        return {
            "format": _FORMAT,
            "rows": self.rows,
            "max_categories": self.max_categories,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QualitySpec:
        """The inverse of :meth:`to_dict`.

        Raises:
            InvalidInput: not a quality spec.
        """
        if not isinstance(data, Mapping) or data.get("format", _FORMAT) != _FORMAT:
            raise InvalidInput("not a quality spec (expected QualitySpec.to_dict() output)", field="spec")
        try:
            return cls(
                columns=tuple(ColumnSpec.from_dict(c) for c in data["columns"]),
                rows=int(data["rows"]),
                max_categories=int(data.get("max_categories", DEFAULT_MAX_CATEGORIES)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"not a quality spec: {type(exc).__name__}: {exc}", field="spec") from None


def _replace(spec: ColumnSpec, **changes: Any) -> ColumnSpec:
    import dataclasses

    return dataclasses.replace(spec, **changes)


@dataclass(frozen=True)
class SchemaViolation:
    """A column missing from the window, one it should not have, or one of the wrong kind."""

    kind: str
    column: str
    expected: str | None = None
    actual: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kind": self.kind, "column": self.column, "expected": self.expected, "actual": self.actual}


@dataclass(frozen=True)
class ColumnQuality:
    """The window's quality numbers for one reference column.

    Shares of out-of-range and unseen values are over the column's non-missing values (0 when
    it has none); None when the check does not apply or was skipped (``skipped`` says why).
    """

    name: str
    kind: str
    missing_share: float
    reference_missing_share: float
    missing_share_change: float
    missing_flag: bool
    out_of_range_share: float | None = None
    below_min_share: float | None = None
    above_max_share: float | None = None
    unseen_share: float | None = None
    unseen_values: tuple[tuple[Any, int], ...] = ()
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "missing_share": self.missing_share,
            "reference_missing_share": self.reference_missing_share,
            "missing_share_change": self.missing_share_change,
            "missing_flag": self.missing_flag,
            "out_of_range_share": self.out_of_range_share,
            "below_min_share": self.below_min_share,
            "above_max_share": self.above_max_share,
            "unseen_share": self.unseen_share,
            "unseen_values": [[_plain(v), int(n)] for v, n in self.unseen_values],
            "skipped": list(self.skipped),
        }


@dataclass(frozen=True)
class QualityReport:
    """The outcome of :func:`check_quality` for one window.

    ``metrics`` is flat, for alert rules to read by name: ``rows``, ``schema_violations``,
    ``missing_columns``, ``unexpected_columns``, ``wrong_types``, ``missing_flags`` and per
    column ``missing_share.<col>``, ``missing_share_change.<col>``, ``out_of_range_share.<col>``
    (numeric), ``unseen_share.<col>`` (categorical with known categories).
    """

    rows: int
    schema_violations: tuple[SchemaViolation, ...]
    columns: tuple[ColumnQuality, ...]
    missing_increase_threshold: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """No schema violation and no column flagged for missing values."""
        return not self.schema_violations and not any(c.missing_flag for c in self.columns)

    @property
    def metrics(self) -> dict[str, float]:
        """Flat ``{name: number}`` of every quality metric."""
        kinds = [v.kind for v in self.schema_violations]
        out: dict[str, float] = {
            "rows": self.rows,
            "schema_violations": len(self.schema_violations),
            "missing_columns": kinds.count("missing_column"),
            "unexpected_columns": kinds.count("unexpected_column"),
            "wrong_types": kinds.count("wrong_type"),
            "missing_flags": sum(c.missing_flag for c in self.columns),
        }
        for c in self.columns:
            out[f"missing_share.{c.name}"] = c.missing_share
            out[f"missing_share_change.{c.name}"] = c.missing_share_change
            if c.out_of_range_share is not None:
                out[f"out_of_range_share.{c.name}"] = c.out_of_range_share
            if c.unseen_share is not None:
                out[f"unseen_share.{c.name}"] = c.unseen_share
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``ok``, the flat ``metrics``, violations, per-column details and notes."""
        return {
            "rows": self.rows,
            "ok": self.ok,
            "metrics": self.metrics,
            "missing_increase_threshold": self.missing_increase_threshold,
            "schema_violations": [v.to_dict() for v in self.schema_violations],
            "columns": [c.to_dict() for c in self.columns],
            "notes": list(self.notes),
        }


def _check_frame(frame: Any, fieldname: str) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(
            f"{fieldname} must be a pandas DataFrame, got {type(frame).__name__}", field=fieldname
        )
    return frame


def _by_name(frame: pd.DataFrame, fieldname: str) -> dict[str, Any]:
    """Column labels by their string name; ``InvalidInput`` on duplicates."""
    by_name: dict[str, Any] = {}
    for label in frame.columns:
        name = str(label)
        if name in by_name:
            raise InvalidInput(f"{fieldname} has duplicate column name {name!r}", field=fieldname)
        by_name[name] = label
    return by_name


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _numeric_checks(spec: ColumnSpec, col: pd.Series | None) -> dict[str, Any]:
    import numpy as np

    if spec.min is None or spec.max is None:
        return {"skipped": ("range not checked: the reference column has no finite values",)}
    if col is None:
        return {"out_of_range_share": 0.0, "below_min_share": 0.0, "above_max_share": 0.0}
    values = col.to_numpy(dtype=float, na_value=np.nan)
    present = int((~np.isnan(values)).sum())
    below = int((values < spec.min).sum())
    above = int((values > spec.max).sum())
    return {
        "out_of_range_share": _share(below + above, present),
        "below_min_share": _share(below, present),
        "above_max_share": _share(above, present),
    }


def _categorical_checks(spec: ColumnSpec, col: pd.Series | None, limit: int) -> dict[str, Any]:
    if spec.categories is None:
        reason = (
            f"unseen categories not checked: {spec.distinct} distinct reference values exceed the limit "
            f"of {limit}"
            if spec.distinct
            else "unseen categories not checked: no categories kept for this column"
        )
        return {"skipped": (reason,)}
    if col is None:
        return {"unseen_share": 0.0}
    present = col.notna()
    unseen = present & ~col.isin(list(spec.categories))
    count = int(unseen.sum())
    top: tuple[tuple[Any, int], ...] = ()
    if count:
        counts = col[unseen].value_counts().head(_TOP_UNSEEN)
        top = tuple((_plain(v), int(n)) for v, n in counts.items())
    return {"unseen_share": _share(count, int(present.sum())), "unseen_values": top}


def _empty_checks(spec: ColumnSpec, limit: int) -> dict[str, Any]:
    """The value checks of a column without values in the window."""
    if spec.kind == "numeric":
        return _numeric_checks(spec, None)
    if spec.kind == "categorical":
        return _categorical_checks(spec, None, limit)
    return {}


def check_quality(
    spec: QualitySpec,
    window_frame: pd.DataFrame,
    *,
    missing_increase_threshold: float = DEFAULT_MISSING_INCREASE,
) -> QualityReport:
    """Compare a window with the reference spec: schema, missing shares, ranges and categories.

    A window column whose kind differs from the reference is a ``wrong_type`` violation and
    gets no range or category check; a column with no values in the window is not
    type-checked (an all-missing column has no telling dtype).

    Args:
        spec: the reference's :class:`QualitySpec`.
        window_frame: the production rows.
        missing_increase_threshold: flag a column when ``window missing share - reference
            missing share`` exceeds this.

    Raises:
        InvalidInput: ``spec`` or ``window_frame`` of the wrong type, or a bad threshold.
    """
    if not isinstance(spec, QualitySpec):
        raise InvalidInput(
            f"spec must be a QualitySpec (QualitySpec.from_frame or from_dict), got {type(spec).__name__}",
            field="spec",
        )
    frame = _check_frame(window_frame, "window_frame")
    threshold = missing_increase_threshold
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise InvalidInput(
            f"missing_increase_threshold must be in [0, 1], got {threshold!r}",
            field="missing_increase_threshold",
        )
    by_name = _by_name(frame, "window_frame")
    rows = len(frame)
    expected = {c.name for c in spec.columns}
    violations = [
        SchemaViolation("missing_column", c.name, c.kind, None) for c in spec.columns if c.name not in by_name
    ]
    violations += [
        SchemaViolation("unexpected_column", name, None, column_kind(frame[label].dtype))
        for name, label in by_name.items()
        if name not in expected
    ]
    results: list[ColumnQuality] = []
    for cs in spec.columns:
        if cs.name not in by_name:
            continue
        col = frame[by_name[cs.name]]
        missing = int(col.isna().sum())
        share = _share(missing, rows)
        change = share - cs.missing_share
        checks: dict[str, Any] = {}
        kind = column_kind(col.dtype)
        if missing == rows:  # no values: nothing to type-check or compare
            checks = _empty_checks(cs, spec.max_categories)
        elif kind != cs.kind:
            violations.append(SchemaViolation("wrong_type", cs.name, cs.kind, f"{kind} ({col.dtype})"))
            checks["skipped"] = (f"value checks skipped: {kind} values where the reference has {cs.kind}",)
        elif cs.kind == "numeric":
            checks = _numeric_checks(cs, col)
        elif cs.kind == "categorical":
            checks = _categorical_checks(cs, col, spec.max_categories)
        results.append(
            ColumnQuality(
                name=cs.name,
                kind=cs.kind,
                missing_share=share,
                reference_missing_share=cs.missing_share,
                missing_share_change=change,
                missing_flag=change > threshold + 1e-12,
                **checks,
            )
        )
    notes = []
    if rows == 0:
        notes.append("the window has no rows: only the schema was checked")
    return QualityReport(
        rows=rows,
        schema_violations=tuple(violations),
        columns=tuple(results),
        missing_increase_threshold=float(threshold),
        notes=tuple(notes),
    )
