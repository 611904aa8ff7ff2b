"""Streaming column profiles: feed record batches one at a time, get ColumnProfiles at the end.

Memory is bounded by the batch size plus, per column, at most ``exact_limit`` float64 values
(numeric quantiles) or ``distinct_limit`` distinct values (categorical counts), never by the
size of the table. All per-batch work is vectorised (pyarrow.compute / numpy).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from carnet.domain.datasets import ColumnProfile

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = [
    "DISTINCT_LIMIT",
    "EXACT_LIMIT",
    "QUANTILES",
    "SAMPLE_ROWS",
    "TOP_K",
    "RowSample",
    "TableProfiler",
    "column_kind",
]

QUANTILES: dict[str, float] = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.50,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}
EXACT_LIMIT = 1_000_000
DISTINCT_LIMIT = 1_000_000
TOP_K = 10
#: rows kept in a profile's uniform row sample (what the PII scan reads)
SAMPLE_ROWS = 1_000
SEED = 0
_CANDIDATES = 1_000  # values whose counts keep being tracked once distinct tracking stops
_MIN_MERGE = 65_536


def column_kind(dtype: pa.DataType) -> str:
    """The profile kind of an Arrow type: numeric, categorical, boolean, temporal or other."""
    import pyarrow as pa

    t = pa.types
    if t.is_integer(dtype) or t.is_floating(dtype) or t.is_decimal(dtype):
        return "numeric"
    if t.is_boolean(dtype):
        return "boolean"
    if t.is_string(dtype) or t.is_large_string(dtype) or t.is_dictionary(dtype):
        return "categorical"
    if getattr(t, "is_string_view", None) is not None and t.is_string_view(dtype):
        return "categorical"
    if t.is_timestamp(dtype) or t.is_date(dtype) or t.is_time(dtype):
        return "temporal"
    return "other"


def _finite(x: float | None) -> float | None:
    """``x`` as a float, or None when missing or not finite (keeps profiles JSON-safe)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class _Column:
    """Counts and missing values; the base of every column accumulator (kind ``other``)."""

    kind = "other"

    def __init__(self, name: str, dtype: pa.DataType) -> None:
        self.name = name
        self.dtype = dtype
        self.count = 0
        self.missing = 0

    def update(self, arr: pa.Array) -> None:
        """Account for one batch of this column."""
        self.missing += arr.null_count
        self.count += len(arr) - arr.null_count

    def stats(self) -> dict[str, Any]:
        """Kind-specific fields of the profile."""
        return {}

    def finish(self, num_rows: int) -> ColumnProfile:
        """The profile of everything seen so far."""
        return ColumnProfile(
            name=self.name,
            type=str(self.dtype),
            kind=self.kind,
            count=self.count,
            missing=self.missing,
            missing_share=self.missing / num_rows if num_rows else 0.0,
            **self.stats(),
        )


class _Numeric(_Column):
    """min/max, mean/std (Chan's parallel merge of per-batch moments) and quantiles."""

    kind = "numeric"

    def __init__(self, name: str, dtype: pa.DataType, exact_limit: int, seed: int) -> None:
        import numpy as np
        import pyarrow as pa

        super().__init__(name, dtype)
        self.is_int = pa.types.is_integer(dtype)
        self.is_float = pa.types.is_floating(dtype)
        self.min: Any = None
        self.max: Any = None
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.limit = exact_limit
        self.chunks: list[np.ndarray] = []
        self.reservoir: np.ndarray | None = None
        self.rng = np.random.default_rng(seed)

    def update(self, arr: pa.Array) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        nulls = arr.null_count
        x = arr if arr.type == pa.float64() else pc.cast(arr, pa.float64(), safe=False)
        vals = pc.drop_null(x).to_numpy(zero_copy_only=False)
        if self.is_float:
            nan = np.isnan(vals)
            n_nan = int(nan.sum())
            if n_nan:
                vals = vals[~nan]
            nulls += n_nan
        self.missing += nulls
        m = len(vals)
        self.count += m
        if m == 0:
            return
        if self.is_int:  # exact, even beyond 2**53
            mm = pc.min_max(arr)
            bmin, bmax = mm["min"].as_py(), mm["max"].as_py()
        else:
            bmin, bmax = float(vals.min()), float(vals.max())
        self.min = bmin if self.min is None else min(self.min, bmin)
        self.max = bmax if self.max is None else max(self.max, bmax)
        with np.errstate(invalid="ignore", over="ignore"):
            bmean = float(vals.mean())
            bm2 = float(np.square(vals - bmean).sum())
            n = self.n + m
            delta = bmean - self.mean
            self.mean += delta * m / n
            self.m2 += bm2 + delta * delta * self.n * m / n
        self.n = n
        self._sample(vals)

    def _sample(self, vals: np.ndarray) -> None:
        """Keep all values up to ``limit``, then a uniform reservoir (Algorithm R, vectorised)."""
        import numpy as np

        seen = self.n - len(vals)  # values seen before this batch
        if self.reservoir is None:
            self.chunks.append(np.array(vals, dtype=np.float64, copy=True))
            if self.n <= self.limit:
                return
            allv = np.concatenate(self.chunks)
            self.chunks = []
            self.reservoir = allv[: self.limit].copy()
            vals, seen = allv[self.limit :], self.limit
        idx = np.arange(seen, seen + len(vals), dtype=np.int64)
        slot = self.rng.integers(0, idx + 1)  # uniform in [0, i]; keep when it lands in the reservoir
        keep = slot < self.limit
        self.reservoir[slot[keep]] = vals[keep]  # repeated slots: the last assignment wins, as in Algorithm R

    def stats(self) -> dict[str, Any]:
        import numpy as np

        if self.n == 0:
            return {}
        values = self.reservoir if self.reservoir is not None else np.concatenate(self.chunks)
        with np.errstate(invalid="ignore"):  # +/-inf values
            qs = np.quantile(values, list(QUANTILES.values()))
        quantiles = {k: float(v) for k, v in zip(QUANTILES, qs, strict=True) if math.isfinite(v)}
        std = math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 and self.m2 >= 0 else None
        lo, hi = (self.min, self.max) if self.is_int else (_finite(self.min), _finite(self.max))
        return {"min": lo, "max": hi, "mean": _finite(self.mean), "std": _finite(std), "quantiles": quantiles}


class _Categorical(_Column):
    """Distinct count and top values from per-batch ``value_counts`` merged with amortised group-bys."""

    kind = "categorical"

    def __init__(self, name: str, dtype: pa.DataType, distinct_limit: int) -> None:
        super().__init__(name, dtype)
        self.limit = distinct_limit
        self.counts: pa.Table | None = None  # columns v (value), c (count)
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.exact = True
        self.lower_bound = 0
        self.candidates: pa.Array | None = None

    def update(self, arr: pa.Array) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        super().update(arr)
        if arr.null_count == len(arr):
            return
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if column_kind(arr.type) == "categorical" and not (
            pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
        ):
            arr = arr.cast(pa.large_string())  # string_view: not every kernel takes it yet
        vc = pc.value_counts(arr)
        values = vc.field("values")
        t = pa.table({"v": values, "c": vc.field("counts")}).filter(pc.is_valid(values))
        if not self.exact:
            self.lower_bound = max(self.lower_bound, t.num_rows)
            t = t.filter(pc.is_in(t["v"], value_set=self.candidates))
        self.pending.append(t)
        self.pending_rows += t.num_rows
        known = self.counts.num_rows if self.counts is not None else 0
        if self.pending_rows >= max(known, _MIN_MERGE):
            self._merge()

    def _merge(self, final: bool = False) -> None:
        """Fold pending counts into ``counts``; past ``limit`` distinct values (unless ``final``), stop."""
        import pyarrow as pa

        parts = ([self.counts] if self.counts is not None else []) + self.pending
        self.pending, self.pending_rows = [], 0
        if not parts:
            return
        g = pa.concat_tables(parts).group_by("v").aggregate([("c", "sum")])
        self.counts = pa.table({"v": g["v"], "c": g["c_sum"]})
        if self.exact and not final and self.counts.num_rows > self.limit:
            # Stop tracking every value: keep exact counts for the most frequent ones only.
            self.exact = False
            self.lower_bound = self.counts.num_rows
            self.counts = self._sorted().slice(0, _CANDIDATES)
            self.candidates = self.counts["v"].combine_chunks()

    def _sorted(self) -> pa.Table:
        assert self.counts is not None
        return self.counts.sort_by([("c", "descending"), ("v", "ascending")])

    def _top(self) -> list[tuple[str, int]]:
        import pyarrow as pa

        if self.counts is None or self.counts.num_rows == 0:
            return []
        top = self._sorted().slice(0, TOP_K)
        values = top["v"]
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            values = values.cast(pa.string())
        return list(zip(values.to_pylist(), top["c"].to_pylist(), strict=True))

    def stats(self) -> dict[str, Any]:
        self._merge(final=True)
        known = self.counts.num_rows if self.counts is not None else 0
        distinct = known if self.exact else max(self.lower_bound, known)
        return {"distinct": distinct, "distinct_exact": self.exact, "top": self._top()}


class _Boolean(_Categorical):
    """Booleans: top values ``true``/``false``, distinct, and ``mean`` = share of true."""

    kind = "boolean"

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        if self.count:
            trues = sum(c for v, c in out["top"] if v == "true")
            out["mean"] = trues / self.count
        return out


class _Temporal(_Column):
    """Earliest and latest value, reported as ISO 8601 strings."""

    kind = "temporal"

    def __init__(self, name: str, dtype: pa.DataType) -> None:
        super().__init__(name, dtype)
        self.min: Any = None
        self.max: Any = None

    def update(self, arr: pa.Array) -> None:
        import pyarrow.compute as pc

        super().update(arr)
        if arr.null_count == len(arr):
            return
        mm = pc.min_max(arr)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        self.min = lo if self.min is None else min(self.min, lo)
        self.max = hi if self.max is None else max(self.max, hi)

    def stats(self) -> dict[str, Any]:
        if self.min is None:
            return {}
        return {"min": self.min.isoformat(), "max": self.max.isoformat()}


class TableProfiler:
    """Profile a table streamed as record batches.

    Numeric columns: ``count`` (non-missing values), ``missing`` (nulls and NaN), min, max, mean
    and the *sample* standard deviation (ddof=1, as pandas ``describe``), merged across batches with
    Chan's parallel algorithm; quantiles p01..p99 with linear interpolation (numpy/pandas default),
    exact while the column holds at most ``exact_limit`` non-missing values, otherwise computed from a
    uniform reservoir sample of ``exact_limit`` values drawn with a fixed seed (so repeatable).
    Statistics that are not finite (a column holding +/-inf) are reported as None.

    Categorical (strings, dictionaries) and boolean columns: distinct count, exact while at most
    ``distinct_limit`` distinct values were seen; beyond that tracking stops, ``distinct_exact`` is
    False and ``distinct`` is a lower bound, and the top values come from the most frequent values
    at that point (whose counts stay exact). Booleans also get ``mean`` = share of true.
    Temporal columns: min and max as ISO 8601 strings. Other types: counts only.
    """

    def __init__(
        self,
        schema: pa.Schema,
        *,
        exact_limit: int = EXACT_LIMIT,
        distinct_limit: int = DISTINCT_LIMIT,
        seed: int = SEED,
        sample_rows: int = SAMPLE_ROWS,
    ) -> None:
        import pyarrow as pa

        self.schema = schema
        self.num_rows = 0
        self.sampler = RowSample(sample_rows, seed)
        self.columns: list[_Column] = []
        for f in schema:
            col = self._accumulator(f, exact_limit, distinct_limit, seed)
            try:  # probe the kernels on an empty array: an exotic type falls back to counts only
                col.update(pa.array([], type=f.type))
            except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
                col = _Column(f.name, f.type)
            else:
                col = self._accumulator(f, exact_limit, distinct_limit, seed)
            self.columns.append(col)

    @staticmethod
    def _accumulator(f: pa.Field, exact_limit: int, distinct_limit: int, seed: int) -> _Column:
        kind = column_kind(f.type)
        if kind == "numeric":
            return _Numeric(f.name, f.type, exact_limit, seed)
        if kind == "categorical":
            return _Categorical(f.name, f.type, distinct_limit)
        if kind == "boolean":
            return _Boolean(f.name, f.type, distinct_limit)
        if kind == "temporal":
            return _Temporal(f.name, f.type)
        return _Column(f.name, f.type)

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Add one record batch (or every batch of a table); columns are matched by position."""
        import pyarrow as pa

        if isinstance(batch, pa.Table):
            for b in batch.to_batches():
                self.update(b)
            return
        self.num_rows += batch.num_rows
        for col, arr in zip(self.columns, batch.columns, strict=True):
            col.update(arr)
        self.sampler.update(batch)

    def finish(self) -> list[ColumnProfile]:
        """The profile of every column, in schema order."""
        return [col.finish(self.num_rows) for col in self.columns]


class RowSample:
    """A uniform sample of at most ``size`` rows of a stream of record batches, seeded.

    Each row gets a random key; the rows with the ``size`` smallest keys are kept (a bottom-k
    sample), so the sample is the same whatever the batch sizes, and rows stay in file order.
    """

    def __init__(self, size: int, seed: int) -> None:
        import numpy as np

        self.size = int(size)
        self.rng = np.random.default_rng(seed)
        self.keys: Any = np.empty(0)
        self.rows: Any = np.empty(0, dtype=np.int64)
        self.parts: list[Any] = []
        self.seen = 0

    def update(self, batch: pa.RecordBatch) -> None:
        """Offer one batch's rows to the sample."""
        import numpy as np
        import pyarrow as pa

        keys = self.rng.random(batch.num_rows)
        limit = np.partition(self.keys, self.size - 1)[self.size - 1] if len(self.keys) >= self.size else 2.0
        chosen = np.flatnonzero(keys < limit)
        if len(chosen):
            self.parts.append(pa.Table.from_batches([batch]).take(pa.array(chosen)))
            self.keys = np.concatenate([self.keys, keys[chosen]])
            self.rows = np.concatenate([self.rows, chosen + self.seen])
        self.seen += batch.num_rows
        if len(self.keys) > 4 * self.size:
            self._trim()

    def _trim(self) -> None:
        import numpy as np
        import pyarrow as pa

        table = (
            pa.concat_tables(self.parts, promote_options="permissive")
            if len(self.parts) > 1
            else self.parts[0]
        )
        keep = np.sort(np.argsort(self.keys, kind="stable")[: self.size])
        self.parts = [table.take(pa.array(keep))]
        self.keys, self.rows = self.keys[keep], self.rows[keep]

    def table(self) -> pa.Table | None:
        """The sampled rows in file order (None before any row)."""
        if not self.parts:
            return None
        if len(self.keys) > self.size or len(self.parts) > 1:
            self._trim()
        return self.parts[0]

    def columns(self) -> dict[str, list[Any]]:
        """The sampled rows as Python values per column, in file order ({} before any row)."""
        table = self.table()
        return {} if table is None else {name: table.column(name).to_pylist() for name in table.column_names}
