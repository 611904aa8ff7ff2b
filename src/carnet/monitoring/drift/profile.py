"""Drift profiles: compact, mergeable, JSON-serialisable summaries of a table's columns.

A *reference* profile fixes, per column, the bins every later profile is counted on: for numbers
a quantile grid (``e_0 = min .. e_L = max``) whose every ``L / bins``-th edge is also an edge of
the coarse PSI/JS bins; for categories the ``top_k`` most frequent values plus an "other"
bucket. A *window* profile of production data counts its values on those same bins, so windows
merge by adding counts (hour -> day) and drift is computed without rescanning the reference.

Every field is an int, a finite float, a string or an exact fraction (the sums of values beyond
the grid, kept exact so that merging is associative), so ``from_dict(to_dict(p)) == p`` and
``merge([a, b]) == profile of a + b`` hold exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from itertools import pairwise
from typing import Any

import numpy as np

from carnet.errors import InvalidInput

__all__ = [
    "FORMAT",
    "CategoricalProfile",
    "ColumnProfile",
    "DatasetProfile",
    "NumericProfile",
    "RowSample",
    "merge_profiles",
]

#: The ``format`` tag written by :meth:`DatasetProfile.to_dict`.
FORMAT = "carnet.drift.profile/1"
SampleValue = float | str | bool | None


def _num(x: Any) -> float | None:
    """A finite float, or None."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


@dataclass(frozen=True)
class NumericProfile:
    """One numeric column counted on a reference quantile grid.

    ``counts`` has ``len(grid) + 1`` entries, for the bins ``(-inf, e_0], (e_0, e_1], ...,
    (e_L, inf)``; ``bins`` are the positions in ``grid`` of the interior edges of the coarse
    PSI/JS bins; ``positions[i]`` is the sum over the values ``y`` in ``(e_i, e_{i+1}]`` of
    ``floor(2**20 * (y - e_i) / (e_{i+1} - e_i))`` (an exact integer that locates the bin's mean).
    ``tail_low``/``tail_high`` are the exact sums of ``e_0 - y`` for ``y < e_0`` and of
    ``y - e_L`` for ``y > e_L``. ``mean``/``std`` (ddof=0) and ``chunks`` (per method, the
    statistic of each reference chunk against the whole reference) exist in reference profiles.
    ``missing`` counts nulls, NaN and infinities.
    """

    name: str
    dtype: str
    count: int
    missing: int
    min: float | None
    max: float | None
    grid: tuple[float, ...]
    positions: tuple[int, ...]
    bins: tuple[int, ...]
    counts: tuple[int, ...]
    tail_low: Fraction = Fraction(0)
    tail_high: Fraction = Fraction(0)
    mean: float | None = None
    std: float | None = None
    chunks: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    kind: str = "numeric"

    @property
    def edges(self) -> tuple[float, ...]:
        """Interior edges of the coarse bins (right-closed; the outer bins are open-ended)."""
        return tuple(self.grid[i] for i in self.bins)

    def bin_counts(self) -> np.ndarray:
        """Counts in the coarse PSI/JS bins, summed from the grid counts."""
        counts = np.asarray(self.counts, dtype=np.int64)
        if not self.grid:
            return counts
        right = np.append(np.asarray(self.grid, dtype=np.float64), np.inf)
        coarse = np.searchsorted(np.asarray(self.edges, dtype=np.float64), right, side="left")
        out = np.zeros(len(self.bins) + 1, dtype=np.int64)
        np.add.at(out, coarse, counts)
        return out

    def labels(self) -> tuple[str, ...]:
        """Readable names of the coarse bins, e.g. ``(-inf, 1.5]``."""
        bounds = ["-inf", *(f"{e:.4g}" for e in self.edges), "inf"]
        return tuple(f"({lo}, {hi}]" if hi != "inf" else f"({lo}, inf)" for lo, hi in pairwise(bounds))

    def basis(self) -> tuple[Any, ...]:
        """What a profile must share with its reference to be compared or merged."""
        return (self.name, self.kind, self.grid, self.bins)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "missing": self.missing,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "grid": list(self.grid),
            "positions": list(self.positions),
            "bins": list(self.bins),
            "counts": list(self.counts),
            "tail_low": str(self.tail_low),
            "tail_high": str(self.tail_high),
            "chunks": {k: list(v) for k, v in self.chunks.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NumericProfile:
        """The profile written by :meth:`to_dict`."""
        return cls(
            name=str(d["name"]),
            dtype=str(d["dtype"]),
            count=int(d["count"]),
            missing=int(d["missing"]),
            min=_num(d.get("min")),
            max=_num(d.get("max")),
            grid=tuple(float(x) for x in d["grid"]),
            positions=tuple(int(x) for x in d["positions"]),
            bins=tuple(int(x) for x in d["bins"]),
            counts=tuple(int(x) for x in d["counts"]),
            tail_low=Fraction(str(d.get("tail_low", "0"))),
            tail_high=Fraction(str(d.get("tail_high", "0"))),
            mean=_num(d.get("mean")),
            std=_num(d.get("std")),
            chunks={str(k): tuple(float(x) for x in v) for k, v in (d.get("chunks") or {}).items()},
        )


@dataclass(frozen=True)
class CategoricalProfile:
    """One categorical or boolean column counted on the reference's categories.

    ``counts`` has ``len(categories) + 1`` entries, the last one for "other" (values outside the
    reference's top categories). Booleans have the categories ``("false", "true")``.
    """

    name: str
    dtype: str
    count: int
    missing: int
    categories: tuple[str, ...]
    counts: tuple[int, ...]
    chunks: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    kind: str = "categorical"

    def bin_counts(self) -> np.ndarray:
        """Counts per category, then "other"."""
        return np.asarray(self.counts, dtype=np.int64)

    def labels(self) -> tuple[str, ...]:
        """Category names, then ``(other)``."""
        return (*self.categories, "(other)")

    def basis(self) -> tuple[Any, ...]:
        """What a profile must share with its reference to be compared or merged."""
        return (self.name, self.kind, self.categories)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "missing": self.missing,
            "categories": list(self.categories),
            "counts": list(self.counts),
            "chunks": {k: list(v) for k, v in self.chunks.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CategoricalProfile:
        """The profile written by :meth:`to_dict`."""
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            dtype=str(d["dtype"]),
            count=int(d["count"]),
            missing=int(d["missing"]),
            categories=tuple(str(x) for x in d["categories"]),
            counts=tuple(int(x) for x in d["counts"]),
            chunks={str(k): tuple(float(x) for x in v) for k, v in (d.get("chunks") or {}).items()},
        )


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class RowSample:
    """A uniform random sample of whole rows (missing values as None), for KS and the domain classifier.

    ``limit`` is the most rows it may hold; ``values`` maps each profiled column to its values.
    """

    limit: int
    values: Mapping[str, tuple[SampleValue, ...]]

    @property
    def rows(self) -> int:
        """Number of sampled rows."""
        return len(next(iter(self.values.values()), ()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"limit": self.limit, "values": {k: list(v) for k, v in self.values.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RowSample:
        """The sample written by :meth:`to_dict`."""
        values = {str(k): tuple(_sample_value(x) for x in v) for k, v in d["values"].items()}
        return cls(limit=int(d["limit"]), values=values)


def _sample_value(x: Any) -> SampleValue:
    if x is None or isinstance(x, bool | str):
        return x
    return _num(x)


@dataclass(frozen=True)
class DatasetProfile:
    """The drift profile of a table: one entry per profiled column, plus an optional row sample.

    ``kind`` is ``reference`` (built by :func:`build_profile`; it owns the bins, the reference
    statistics and the chunk statistics of adaptive thresholds) or ``window`` (built by
    :func:`profile_like` or :func:`merge_profiles`). ``outputs`` names the model-output columns,
    whose drift is reported apart from the features.
    """

    kind: str
    rows: int
    columns: tuple[ColumnProfile, ...]
    outputs: tuple[str, ...] = ()
    sample: RowSample | None = None
    seed: int = 0
    chunk_count: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        """Profiled column names, in order."""
        return tuple(c.name for c in self.columns)

    @property
    def features(self) -> tuple[str, ...]:
        """Profiled columns that are not outputs."""
        outs = set(self.outputs)
        return tuple(c.name for c in self.columns if c.name not in outs)

    def column(self, name: str) -> ColumnProfile:
        """The profile of column ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise InvalidInput(f"column {name!r} is not in the profile; profiled: {list(self.names)}", field=name)

    def check_like(self, reference: DatasetProfile, what: str = "current") -> None:
        """Raise InvalidInput unless this profile was counted on ``reference``'s bins."""
        mine = {c.name: c for c in self.columns}
        for ref in reference.columns:
            col = mine.get(ref.name)
            if col is None:
                raise InvalidInput(
                    f"column {ref.name!r} of the reference is missing from the {what} profile; "
                    "profile the data with profile_like(reference, frame)",
                    field=ref.name,
                )
            if col.basis() != ref.basis():
                raise InvalidInput(
                    f"column {ref.name!r} of the {what} profile was counted on other bins than the "
                    "reference; profile the data with profile_like(reference, frame)",
                    field=ref.name,
                )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (no NaN, no infinity); :meth:`from_dict` restores an equal profile."""
        return {
            "format": FORMAT,
            "kind": self.kind,
            "rows": self.rows,
            "seed": self.seed,
            "chunk_count": self.chunk_count,
            "outputs": list(self.outputs),
            "columns": [c.to_dict() for c in self.columns],
            "sample": self.sample.to_dict() if self.sample is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DatasetProfile:
        """The profile written by :meth:`to_dict`.

        Raises:
            InvalidInput: ``d`` is not a drift profile of this format.
        """
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            raise InvalidInput(f"not a drift profile: expected format {FORMAT!r}", field="format")
        try:
            columns: list[ColumnProfile] = []
            for c in d["columns"]:
                kind = c["kind"]
                if kind == "numeric":
                    columns.append(NumericProfile.from_dict(c))
                elif kind in ("categorical", "boolean"):
                    columns.append(CategoricalProfile.from_dict(c))
                else:
                    raise InvalidInput(f"column {c.get('name')!r} has unknown kind {kind!r}", field="kind")
            sample = d.get("sample")
            return cls(
                kind=str(d["kind"]),
                rows=int(d["rows"]),
                columns=tuple(columns),
                outputs=tuple(str(o) for o in d.get("outputs", ())),
                sample=RowSample.from_dict(sample) if sample is not None else None,
                seed=int(d.get("seed", 0)),
                chunk_count=int(d.get("chunk_count", 0)),
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise InvalidInput(
                f"malformed drift profile ({type(exc).__name__}: {exc})", field="columns"
            ) from exc


def _merge_column(cols: Sequence[ColumnProfile]) -> ColumnProfile:
    first = cols[0]
    counts = tuple(int(x) for x in np.sum([np.asarray(c.counts, dtype=np.int64) for c in cols], axis=0))
    count = sum(c.count for c in cols)
    missing = sum(c.missing for c in cols)
    if isinstance(first, CategoricalProfile):
        return replace(first, count=count, missing=missing, counts=counts, chunks={})
    nums = [c for c in cols if isinstance(c, NumericProfile)]
    lows = [c.min for c in nums if c.min is not None]
    highs = [c.max for c in nums if c.max is not None]
    positions = tuple(int(x) for x in np.sum([np.asarray(c.positions, dtype=np.int64) for c in nums], axis=0))
    return replace(
        first,
        count=count,
        missing=missing,
        counts=counts,
        positions=positions if first.positions else (),
        min=min(lows) if lows else None,
        max=max(highs) if highs else None,
        tail_low=sum((c.tail_low for c in nums), Fraction(0)),
        tail_high=sum((c.tail_high for c in nums), Fraction(0)),
        mean=None,
        std=None,
        chunks={},
    )


def _merge_samples(profiles: Sequence[DatasetProfile], seed: int) -> RowSample | None:
    """A uniform sample of the union: a hypergeometric split of the target size between the parts."""
    samples = [p.sample for p in profiles]
    if any(s is None for s in samples):
        return None
    parts = [(p.rows, s) for p, s in zip(profiles, samples, strict=True) if s is not None]
    limit = max(s.limit for _, s in parts)
    rng = np.random.default_rng(seed)
    names = list(parts[0][1].values)
    rows_seen, current = parts[0]
    for rows, nxt in parts[1:]:
        size = min(limit, rows_seen + rows)
        take_a = int(rng.hypergeometric(rows_seen, rows, size)) if size else 0
        take_a = min(take_a, current.rows)
        take_b = min(size - take_a, nxt.rows)
        ia = np.sort(rng.choice(current.rows, take_a, replace=False)) if take_a else np.array([], dtype=int)
        ib = np.sort(rng.choice(nxt.rows, take_b, replace=False)) if take_b else np.array([], dtype=int)
        values = {
            n: tuple(current.values[n][i] for i in ia) + tuple(nxt.values[n][i] for i in ib) for n in names
        }
        current = RowSample(limit=limit, values=values)
        rows_seen += rows
    return current


def merge_profiles(profiles: Iterable[DatasetProfile], *, seed: int = 0) -> DatasetProfile:
    """One window profile of the union of windows counted on the same reference (hour -> day).

    Counts, missing values and the exact tail sums add, min/max combine, so the result equals the
    profile of the concatenated data. Row samples, when every part has one, are merged into a
    uniform sample of the union by a seeded draw (not the same rows as sampling the concatenation).

    Raises:
        InvalidInput: no profiles, or profiles counted on different bins or columns.
    """
    items = list(profiles)
    if not items:
        raise InvalidInput("merge_profiles needs at least one profile", field="profiles")
    first = items[0]
    for p in items[1:]:
        if p.names != first.names:
            raise InvalidInput(
                f"profiles hold different columns: {list(first.names)} vs {list(p.names)}", field="profiles"
            )
        p.check_like(first, what="merged")
        if p.outputs != first.outputs:
            raise InvalidInput("profiles declare different output columns", field="outputs")
    columns = tuple(_merge_column([p.columns[i] for p in items]) for i in range(len(first.columns)))
    return DatasetProfile(
        kind="window",
        rows=sum(p.rows for p in items),
        columns=columns,
        outputs=first.outputs,
        sample=_merge_samples(items, seed),
        seed=first.seed,
    )
