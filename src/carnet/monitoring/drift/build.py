"""Build reference profiles and count windows of production data on their bins.

Every column is counted in a few vectorised passes: numbers are sorted once (numpy's SIMD sort)
and the grid counts, tails, min and max read off the sorted array with ``searchsorted`` on the
~100 edges, which beats binning a million unsorted values; strings go through
``pyarrow.compute.value_counts`` (or the indices of a dictionary array). Columns are processed on
a small thread pool, since numpy's sort and pyarrow's kernels release the GIL. Column kinds come
from the Arrow type (:func:`carnet.data.column_kind`), never from the values.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import pairwise
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from carnet.data.profiling import column_kind
from carnet.errors import InvalidInput
from carnet.monitoring.drift.compare import distance
from carnet.monitoring.drift.profile import (
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    NumericProfile,
    RowSample,
    SampleValue,
)
from carnet.monitoring.drift.stats import POSITION_SCALE

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_BINS", "DEFAULT_GRID", "DEFAULT_TOP_K", "build_profile", "profile_like"]

DEFAULT_BINS = 10
DEFAULT_GRID = 100
DEFAULT_TOP_K = 50
DEFAULT_CHUNKS = 10
DEFAULT_SAMPLE_ROWS = 5000
SUPPORTED = ("numeric", "categorical", "boolean")
_PARALLEL_ROWS = 50_000  # below this, a thread pool costs more than it saves
_BOOL_CATEGORIES = ("false", "true")

T = TypeVar("T")
Frame = Any  # pandas.DataFrame | pyarrow.Table | pyarrow.RecordBatch


@dataclass
class _Column:
    """One column pulled out of a frame: float64 values for numbers, an Arrow array otherwise."""

    name: str
    kind: str
    dtype: str
    values: np.ndarray | None = None
    arrow: pa.ChunkedArray | None = None


class _Table:
    """Uniform, lazy access to the columns of a pandas DataFrame or a pyarrow Table."""

    def __init__(self, frame: Frame) -> None:
        import pyarrow as pa

        self.frame = frame
        if isinstance(frame, pa.RecordBatch):
            frame = pa.Table.from_batches([frame])
            self.frame = frame
        if isinstance(frame, pa.Table):
            self.pandas = False
            names = list(frame.column_names)
            self.keys: dict[str, Any] = {n: n for n in names}
            self.rows = frame.num_rows
        else:
            import pandas as pd

            if not isinstance(frame, pd.DataFrame):
                raise InvalidInput(
                    f"expected a pandas DataFrame or a pyarrow Table, got {type(frame).__name__}",
                    field="frame",
                )
            self.pandas = True
            names = [str(c) for c in frame.columns]
            self.keys = {str(c): c for c in frame.columns}
            self.rows = len(frame)
        self._arrow: dict[str, pa.ChunkedArray] = {}
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InvalidInput(f"duplicate column names {dup}; rename them", field=dup[0])
        self.names = names

    def kind(self, name: str) -> tuple[str, str]:
        """The column's kind and Arrow type string, from its dtype alone."""
        import pyarrow as pa

        if self.pandas:
            dt = self.frame[self.keys[name]].dtype
            if isinstance(dt, np.dtype) and dt.kind in "iufb":
                typ = pa.from_numpy_dtype(dt)
                return column_kind(typ), str(typ)
            arr = self._pandas_arrow(name)
            return column_kind(arr.type), str(arr.type)
        typ = self.frame.schema.field(name).type
        return column_kind(typ), str(typ)

    def _pandas_arrow(self, name: str) -> pa.ChunkedArray:
        import pyarrow as pa

        if name in self._arrow:
            return self._arrow[name]
        try:
            arr = pa.array(self.frame[self.keys[name]], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError) as exc:
            raise InvalidInput(
                f"column {name!r} mixes value types ({exc}); give it one type (numbers or strings)",
                field=name,
            ) from exc
        # pandas' Arrow-backed columns (the default ``str`` dtype of pandas 3) come back chunked
        self._arrow[name] = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
        return self._arrow[name]

    def column(self, name: str, like: str | None = None) -> _Column:
        """Extract column ``name`` in the form its kind is counted in.

        An all-null column without a type (Arrow ``null``) becomes all-missing values of kind ``like``.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        kind, dtype = self.kind(name)
        if dtype == "null" and like is not None:
            if like == "numeric":
                return _Column(name, like, dtype, values=np.full(self.rows, math.nan))
            typ = pa.bool_() if like == "boolean" else pa.string()
            return _Column(name, like, dtype, arrow=pa.chunked_array([pa.nulls(self.rows, typ)]))
        if self.pandas:
            series = self.frame[self.keys[name]]
            dt = series.dtype
            if isinstance(dt, np.dtype) and dt.kind in "iuf":
                return _Column(name, kind, dtype, values=np.asarray(series.to_numpy(), dtype=np.float64))
            arrow = (
                pa.chunked_array([pa.array(series.to_numpy())])
                if isinstance(dt, np.dtype) and dt.kind == "b"
                else self._pandas_arrow(name)
            )
        else:
            arrow = self.frame.column(name)
        if kind == "numeric":
            x = pc.cast(arrow, pa.float64(), safe=False)
            if x.null_count:
                x = pc.fill_null(x, math.nan)
            return _Column(name, kind, dtype, values=np.asarray(x.to_numpy(), dtype=np.float64))
        return _Column(name, kind, dtype, arrow=arrow)


def _map(fn: Callable[[str], T], names: Sequence[str], rows: int) -> list[T]:
    """``fn`` over ``names``, on a thread pool when the table is large enough to gain from it."""
    workers = min(len(names), os.cpu_count() or 1, 8)
    if workers <= 1 or rows < _PARALLEL_ROWS:
        return [fn(n) for n in names]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, names))


# --- numbers ---------------------------------------------------------------------------------------


def _exact_sum(v: np.ndarray) -> Fraction:
    """The exact sum of non-negative finite floats, as a Fraction (so that merges are associative).

    Each value is split into its integer mantissa and exponent; mantissa halves are summed per
    exponent with ``bincount``, exactly, since every partial sum stays below 2**53.
    """
    if v.size == 0:
        return Fraction(0)
    m, e = np.frexp(v)
    mant = np.ldexp(m, 53).astype(np.int64)  # v = mant * 2**(e - 53), exactly
    e0 = int(e.min())
    slot = (e - e0).astype(np.intp)
    total = 0
    step = 1 << 26
    for start in range(0, v.size, step):
        sl = slice(start, start + step)
        hi = np.bincount(slot[sl], weights=(mant[sl] >> 26).astype(np.float64))
        lo = np.bincount(slot[sl], weights=(mant[sl] & (step - 1)).astype(np.float64))
        for j in np.flatnonzero(hi + lo):
            total += ((int(hi[j]) << 26) + int(lo[j])) << int(j)
    return Fraction(total) * Fraction(2) ** (e0 - 53)


def _finite_sorted(x: np.ndarray) -> np.ndarray:
    """The finite values of ``x``, sorted (NaN and infinities dropped)."""
    s = np.sort(x)
    lo = int(np.searchsorted(s, -np.inf, side="right"))
    hi = int(np.searchsorted(s, np.inf, side="left"))
    return s[lo:hi]


def _grid_counts(f: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of sorted ``f`` in ``(-inf, e_0], (e_0, e_1], ..., (e_L, inf)``, and in-bin positions.

    The positions of bin ``(a, b]`` sum ``floor(2**20 * (y - a) / (b - a))`` over its values: exact
    integers, so they merge by addition, and they give the bin's mean to 1e-6 of its width.
    """
    pos = np.searchsorted(f, grid, side="right")
    counts = np.diff(pos, prepend=0, append=f.size)
    positions = np.zeros(max(grid.size - 1, 0), dtype=np.int64)
    scale = POSITION_SCALE / np.diff(grid)
    starts, stops = pos[:-1].tolist(), pos[1:].tolist()
    for i in np.flatnonzero(counts[1:-1]).tolist():  # bin by bin: cache-friendly, no n-sized temporaries
        seg = (f[starts[i] : stops[i]] - grid[i]) * scale[i]
        positions[i] = int(seg.astype(np.int64).sum())
    return counts, positions


def _numeric_window(x: np.ndarray, ref: NumericProfile) -> NumericProfile:
    """``x`` counted on the grid of ``ref``."""
    f = _finite_sorted(x)
    grid = np.asarray(ref.grid, dtype=np.float64)
    low = high = Fraction(0)
    positions = np.zeros(0, dtype=np.int64)
    if grid.size:
        counts, positions = _grid_counts(f, grid)
        k0 = int(np.searchsorted(f, grid[0], side="left"))
        k1 = int(np.searchsorted(f, grid[-1], side="right"))
        low = _exact_sum(grid[0] - f[:k0])
        high = _exact_sum(f[k1:] - grid[-1])
    else:
        counts = np.array([f.size])
    return replace(
        ref,
        count=int(f.size),
        missing=int(x.size - f.size),
        min=float(f[0]) if f.size else None,
        max=float(f[-1]) if f.size else None,
        counts=tuple(counts.tolist()),
        positions=tuple(positions.tolist()),
        tail_low=low,
        tail_high=high,
        mean=None,
        std=None,
        chunks={},
    )


def _numeric_reference(col: _Column, grid_levels: int, bins: int) -> NumericProfile:
    """The reference profile of a numeric column: quantile grid, coarse bins, mean and std."""
    assert col.values is not None
    x = col.values
    f = _finite_sorted(x)
    base = NumericProfile(
        name=col.name, dtype=col.dtype, count=int(f.size), missing=int(x.size - f.size),
        min=None, max=None, grid=(), positions=(), bins=(), counts=(int(f.size),),
    )  # fmt: skip
    if f.size == 0:
        return base
    q = np.quantile(f, np.linspace(0.0, 1.0, grid_levels + 1))
    q[0], q[-1] = f[0], f[-1]
    grid = np.unique(q)
    coarse = np.unique(q[:: grid_levels // bins][1:-1])
    counts, positions = _grid_counts(f, grid)
    return replace(
        base,
        min=float(f[0]),
        max=float(f[-1]),
        mean=float(f.mean()),
        std=float(f.std()),
        grid=tuple(grid.tolist()),
        positions=tuple(positions.tolist()),
        bins=tuple(np.searchsorted(grid, coarse).tolist()),
        counts=tuple(counts.tolist()),
    )


# --- categories and booleans -----------------------------------------------------------------------


def _value_counts(arr: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Distinct non-null values (as strings) and their counts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(arr.type):
        totals: dict[Any, int] = {}
        for chunk in arr.chunks:
            idx = chunk.indices
            size = len(chunk.dictionary)
            if idx.null_count:
                idx = pc.fill_null(idx, size)
            c = np.bincount(np.asarray(idx.to_numpy(), dtype=np.intp), minlength=size + 1)[:size]
            for v, n in zip(chunk.dictionary.to_pylist(), c.tolist(), strict=True):
                if n and v is not None:
                    key = str(v)
                    totals[key] = totals.get(key, 0) + n
        return pa.array(list(totals), type=pa.string()), np.array(list(totals.values()), dtype=np.int64)
    vc = pc.value_counts(arr)
    values, counts = vc.field("values"), vc.field("counts")
    valid = pc.is_valid(values)
    if values.null_count:
        values, counts = pc.filter(values, valid), pc.filter(counts, valid)
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values, np.asarray(counts.to_numpy(), dtype=np.int64)


def _category_counts(arr: pa.ChunkedArray, categories: tuple[str, ...]) -> np.ndarray:
    """Counts of ``categories`` in ``arr``, then of every other non-null value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values, counts = _value_counts(arr)
    k = len(categories)
    if not len(values):
        return np.zeros(k + 1, dtype=np.int64)
    pos = pc.index_in(values, value_set=pa.array(categories, type=pa.string()))
    idx = np.asarray(pc.fill_null(pos, k).to_numpy(), dtype=np.intp)
    return np.bincount(idx, weights=counts, minlength=k + 1).astype(np.int64)


def _boolean_counts(arr: pa.ChunkedArray) -> np.ndarray:
    import pyarrow.compute as pc

    trues = int(pc.sum(arr).as_py() or 0)
    valid = len(arr) - arr.null_count
    return np.array([valid - trues, trues, 0], dtype=np.int64)


def _categorical_window(arr: pa.ChunkedArray, ref: CategoricalProfile) -> CategoricalProfile:
    counts = _boolean_counts(arr) if ref.kind == "boolean" else _category_counts(arr, ref.categories)
    return replace(
        ref, count=len(arr) - arr.null_count, missing=arr.null_count, counts=tuple(counts.tolist()), chunks={}
    )


def _categorical_reference(col: _Column, top_k: int) -> CategoricalProfile:
    """The reference profile of a categorical or boolean column: top categories plus "other"."""
    import pyarrow as pa

    arr = col.arrow
    assert arr is not None
    if col.kind == "boolean":
        categories: tuple[str, ...] = _BOOL_CATEGORIES
        counts = _boolean_counts(arr)
    else:
        values, vc = _value_counts(arr)
        t = pa.table({"v": values, "c": vc}).sort_by([("c", "descending"), ("v", "ascending")])
        categories = tuple(t["v"].slice(0, top_k).to_pylist())
        top = np.asarray(t["c"].slice(0, top_k).to_numpy(), dtype=np.int64)
        counts = np.append(top, int(vc.sum() - top.sum()))
    return CategoricalProfile(
        name=col.name,
        kind=col.kind,
        dtype=col.dtype,
        count=len(arr) - arr.null_count,
        missing=arr.null_count,
        categories=categories,
        counts=tuple(counts.tolist()),
    )


# --- shared ----------------------------------------------------------------------------------------


def _window_column(col: _Column, ref: ColumnProfile) -> ColumnProfile:
    """``col`` counted on the bins of ``ref`` (kinds already checked)."""
    if isinstance(ref, NumericProfile):
        assert col.values is not None
        return _numeric_window(col.values, ref)
    assert col.arrow is not None
    return _categorical_window(col.arrow, ref)


def _slice(col: _Column, start: int, stop: int) -> _Column:
    if col.values is not None:
        return replace(col, values=col.values[start:stop])
    assert col.arrow is not None
    return replace(col, arrow=col.arrow.slice(start, stop - start))


def _chunk_stats(col: _Column, ref: ColumnProfile, rows: int, chunks: int) -> dict[str, tuple[float, ...]]:
    """Per distance method, the statistic of each contiguous reference chunk against the whole."""
    methods = ("psi", "js", "wasserstein") if isinstance(ref, NumericProfile) else ("psi", "js")
    bounds = np.linspace(0, rows, chunks + 1).astype(int)
    parts = [_window_column(_slice(col, a, b), ref) for a, b in pairwise(bounds.tolist())]
    parts = [p for p in parts if p.count > 0]
    if len(parts) < 2 or ref.count == 0:
        return {}
    return {m: tuple(distance(m, ref, p) for p in parts) for m in methods}


def _sample_indices(rows: int, limit: int, seed: int) -> np.ndarray:
    if rows <= limit:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))


def _sample_values(col: _Column, idx: np.ndarray) -> tuple[SampleValue, ...]:
    import pyarrow as pa

    if col.values is not None:
        return tuple(v if math.isfinite(v) else None for v in col.values[idx].tolist())
    assert col.arrow is not None
    taken = col.arrow.take(pa.array(idx, type=pa.int64())).to_pylist()
    if col.kind == "boolean":
        return tuple(None if v is None else bool(v) for v in taken)
    return tuple(None if v is None else str(v) for v in taken)


def _row_sample(columns: Mapping[str, _Column], rows: int, limit: int, seed: int) -> RowSample | None:
    if limit <= 0:
        return None
    idx = _sample_indices(rows, limit, seed)
    return RowSample(limit=limit, values={n: _sample_values(c, idx) for n, c in columns.items()})


def _check_int(value: int, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInput(f"{name} must be an integer >= {low}, got {value!r}", field=name)
    return value


def build_profile(
    frame: Frame,
    *,
    columns: Iterable[str] | None = None,
    outputs: Iterable[str] = (),
    bins: int = DEFAULT_BINS,
    grid: int = DEFAULT_GRID,
    top_k: int = DEFAULT_TOP_K,
    chunks: int = DEFAULT_CHUNKS,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
) -> DatasetProfile:
    """The reference profile of ``frame`` (a pandas DataFrame or pyarrow Table).

    Args:
        columns: columns to profile; default every numeric, categorical and boolean column.
        outputs: model-output columns (predictions, scores), profiled and reported apart.
        bins: coarse quantile bins of numeric columns, for PSI, JS and chi-square.
        grid: levels of the fine quantile grid for Wasserstein; a multiple of ``bins``.
        top_k: categories kept per categorical column; the rest share an "other" bucket.
        chunks: contiguous reference chunks whose statistics feed adaptive thresholds (0: none).
        sample_rows: rows kept in the seeded row sample (KS and the domain classifier; 0: none).
        seed: seed of the row sample.

    Raises:
        InvalidInput: an unknown or unsupported column, or a bad setting.
    """
    _check_int(bins, "bins", 2)
    _check_int(grid, "grid", bins)
    if grid % bins:
        raise InvalidInput(f"grid ({grid}) must be a multiple of bins ({bins})", field="grid")
    _check_int(top_k, "top_k", 1)
    _check_int(chunks, "chunks", 0)
    _check_int(sample_rows, "sample_rows", 0)
    table = _Table(frame)
    outs = _dedupe(outputs)
    if columns is None:
        names = [n for n in table.names if n in outs or table.kind(n)[0] in SUPPORTED]
    else:
        names = _dedupe([*columns, *(o for o in outs if o not in set(columns))])
    for n in [*names, *outs]:
        if n not in table.keys:
            raise InvalidInput(f"column {n!r} is not in the data; columns: {table.names}", field=n)
    for n in names:
        kind, dtype = table.kind(n)
        if kind not in SUPPORTED:
            raise InvalidInput(
                f"column {n!r} is {kind} ({dtype}); drift supports numeric, categorical (string or "
                "dictionary) and boolean columns: drop it or cast it",
                field=n,
            )

    def one(name: str) -> tuple[_Column, ColumnProfile]:
        col = table.column(name)
        ref = (
            _numeric_reference(col, grid, bins)
            if col.kind == "numeric"
            else _categorical_reference(col, top_k)
        )
        if chunks >= 2:
            ref = replace(ref, chunks=_chunk_stats(col, ref, table.rows, chunks))
        return col, ref

    done = _map(one, names, table.rows)
    return DatasetProfile(
        kind="reference",
        rows=table.rows,
        columns=tuple(p for _, p in done),
        outputs=tuple(o for o in names if o in outs),
        sample=_row_sample({c.name: c for c, _ in done}, table.rows, sample_rows, seed),
        seed=seed,
        chunk_count=chunks if chunks >= 2 else 0,
    )


def _dedupe(names: Iterable[str]) -> list[str]:
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for n in names:
        if n not in out:
            out.append(str(n))
    return out


def window(
    reference: DatasetProfile,
    frame: Frame,
    *,
    sample_rows: int = 0,
    seed: int | None = None,
    keep: Iterable[str] = (),
) -> tuple[DatasetProfile, dict[str, _Column]]:
    """:func:`profile_like`, also returning the extracted columns named in ``keep`` (for KS)."""
    if not isinstance(reference, DatasetProfile):
        raise InvalidInput("reference must be a DatasetProfile built by build_profile", field="reference")
    _check_int(sample_rows, "sample_rows", 0)
    table = _Table(frame)
    for ref in reference.columns:
        if ref.name not in table.keys:
            raise InvalidInput(
                f"column {ref.name!r} of the reference is missing from the current data; add it, or "
                "build the reference with columns= that leave it out",
                field=ref.name,
            )
        kind, dtype = table.kind(ref.name)
        if kind != ref.kind and dtype != "null":
            raise InvalidInput(
                f"column {ref.name!r} is {kind} ({dtype}) in the current data but {ref.kind} "
                f"({ref.dtype}) in the reference; cast it to the reference's type",
                field=ref.name,
            )
    keep_set = set(keep)

    def one(name: str) -> tuple[_Column, ColumnProfile]:
        ref = reference.column(name)
        col = table.column(name, like=ref.kind)
        return col, _window_column(col, ref)

    done = _map(one, list(reference.names), table.rows)
    extracted = {c.name: c for c, _ in done}
    seed = reference.seed if seed is None else seed
    profile = DatasetProfile(
        kind="window",
        rows=table.rows,
        columns=tuple(p for _, p in done),
        outputs=reference.outputs,
        sample=_row_sample(extracted, table.rows, sample_rows, seed),
        seed=seed,
    )
    return profile, {n: c for n, c in extracted.items() if n in keep_set}


def profile_like(
    reference: DatasetProfile, frame: Frame, *, sample_rows: int = 0, seed: int | None = None
) -> DatasetProfile:
    """The window profile of ``frame``, counted on the bins and categories of ``reference``.

    Window profiles merge exactly with :func:`merge_profiles`. ``sample_rows`` keeps a seeded row
    sample too (needed to run KS or the domain classifier on the stored window later).

    Raises:
        InvalidInput: a reference column is missing from ``frame`` or has another kind of type.
    """
    return window(reference, frame, sample_rows=sample_rows, seed=seed)[0]
