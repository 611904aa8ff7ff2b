"""Tabular files: detect the format, scan schema + profile in one streaming pass, write DataFrames.

Nothing here touches a database or the artifact store: these are pure functions over local
files. pyarrow / pandas are imported inside the functions so that importing carnet stays cheap.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from carnet.data import _csv
from carnet.data.profiling import DISTINCT_LIMIT, EXACT_LIMIT, SAMPLE_ROWS, TableProfiler
from carnet.domain.datasets import ColumnProfile, SchemaField
from carnet.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "FORMATS",
    "Format",
    "TableSummary",
    "detect_format",
    "iter_batches",
    "parquet_row_groups",
    "read_table",
    "scan_table",
    "table_from_dataframe",
]

Format = Literal["csv", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "parquet")
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"
PARQUET_BATCH_ROWS = 65_536
_ACCEPTED = "CSV (.csv, .tsv, .csv.gz, .tsv.gz) or Parquet (.parquet, .pq)"
_MAX_RETYPES_PER_COLUMN = 4

Progress = Callable[[int], None]


@dataclass(frozen=True)
class TableSummary:
    """What one scan of a tabular file found: format, size, shape, schema and column profiles."""

    format: Format
    size: int
    num_rows: int
    num_columns: int
    schema: list[SchemaField]
    profile: list[ColumnProfile]
    #: a uniform, seeded sample of at most ``sample_rows`` rows as plain Python values per column
    #: (what the PII scan reads; no Arrow memory outlives the scan); not serialised
    sample: dict[str, list[Any]] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "format": self.format,
            "size": self.size,
            "num_rows": self.num_rows,
            "num_columns": self.num_columns,
            "schema": [{"name": f.name, "type": f.type} for f in self.schema],
            "profile": [p.to_dict() for p in self.profile],
        }


def _check_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path to an existing regular file, or InvalidInput saying what is wrong."""
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"file not found: '{p}': check the path", field="path")
    if p.is_dir():
        raise InvalidInput(f"'{p}' is a directory: pass a single {_ACCEPTED} file", field="path")
    if not os.access(p, os.R_OK):
        raise InvalidInput(f"cannot read '{p}': permission denied", field="path")
    return p


def detect_format(path: str | os.PathLike[str]) -> Format:
    """The format of a tabular file: Parquet magic bytes first, then the file extension.

    Raises:
        InvalidInput: the file is missing, a directory, or neither CSV nor Parquet.
    """
    p = _check_file(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise InvalidInput(f"cannot read '{p}': {_csv.condense(exc)}", field="path") from None
    name = p.name.lower()
    if head == PARQUET_MAGIC or name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise InvalidInput(
        f"cannot tell the format of '{p}': accepted formats are {_ACCEPTED}; "
        "rename the file or pass the format",
        field="path",
    )


class _Monotonic:
    """Forward byte positions to a progress callback, never going backwards."""

    def __init__(self, callback: Progress | None) -> None:
        self.callback = callback
        self.done = 0

    def __call__(self, position: int) -> None:
        if self.callback is not None and position > self.done:
            self.done = position
            self.callback(position)


def _check_schema(path: Path, schema: pa.Schema) -> None:
    """Reject tables without columns or with duplicate column names."""
    if len(schema) == 0:
        raise InvalidInput(f"'{path}' is empty: it has no columns", field="path")
    dups = sorted(name for name, n in Counter(schema.names).items() if n > 1)
    if dups:
        names = ", ".join(repr(d) for d in dups)
        raise InvalidInput(
            f"'{path}' has duplicate column names: {names}; rename them so every column is unique",
            field="path",
        )


def scan_table(
    path: str | os.PathLike[str],
    fmt: Format | None = None,
    progress: Progress | None = None,
    *,
    delimiter: str | None = None,
    exact_limit: int = EXACT_LIMIT,
    distinct_limit: int = DISTINCT_LIMIT,
    sample_rows: int = SAMPLE_ROWS,
) -> TableSummary:
    """Schema, row count and column profiles of a CSV or Parquet file, in one streaming pass.

    The file is read record batch by record batch (``pyarrow.csv.open_csv`` with
    ``carnet.data._csv.BLOCK_SIZE`` blocks, ``ParquetFile.iter_batches`` per row group), so memory
    stays bounded whatever the file size; see :class:`~carnet.data.profiling.TableProfiler` for the
    statistics (sample std, exact quantiles up to ``exact_limit`` values then a fixed-seed reservoir
    sample of that size, distinct counts exact up to ``distinct_limit``). CSV column types are
    inferred from the first block; when a later value does not fit, the column is widened and the
    file scanned again (progress then pauses until it passes its previous maximum). Empty strings
    and ``NA``/``null``-like tokens count as missing in every CSV column.

    Args:
        path: a local file.
        fmt: ``"csv"`` or ``"parquet"``; detected by :func:`detect_format` when None.
        progress: called with the number of bytes consumed so far (monotonic, ends at the file
            size); compressed bytes for ``.csv.gz``, per row group for Parquet.
        delimiter: CSV field separator; default tab for ``.tsv``, else sniffed from the header line.
        exact_limit: non-missing values per numeric column up to which quantiles are exact.
        distinct_limit: distinct values per categorical column up to which counting is exact.
        sample_rows: rows of the uniform, seeded row sample the summary keeps (``sample``).

    Raises:
        InvalidInput: missing, empty, unreadable or malformed file, duplicate column names;
            the message names the file and says how to fix it.
    """
    p = _check_file(path)
    if fmt is None:
        fmt = detect_format(p)
    elif fmt not in FORMATS:
        raise InvalidInput(
            f"unknown format {fmt!r} for '{p}': use one of {', '.join(FORMATS)}", field="format"
        )
    size = p.stat().st_size
    if size == 0:
        raise InvalidInput(f"'{p}' is empty (0 bytes): nothing to scan", field="path")

    def make(schema: pa.Schema) -> TableProfiler:
        return TableProfiler(
            schema, exact_limit=exact_limit, distinct_limit=distinct_limit, sample_rows=sample_rows
        )

    report = _Monotonic(progress)
    profiler = _scan_csv(p, delimiter, make, report) if fmt == "csv" else _scan_parquet(p, make, report)
    report(size)
    schema = [SchemaField(f.name, str(f.type)) for f in profiler.schema]
    return TableSummary(
        format=fmt,
        size=size,
        num_rows=profiler.num_rows,
        num_columns=len(schema),
        schema=schema,
        profile=profiler.finish(),
        sample=profiler.sampler.columns(),
    )


def _csv_passes(
    p: Path,
    delimiter: str | None,
    start: Callable[[pa.Schema], Callable[[pa.RecordBatch], None]],
    report: Callable[[int], None],
) -> None:
    """Stream a CSV file to the sink ``start(schema)`` returns, widening types and restarting when needed."""
    gz = _csv.is_gzip(p)
    sep = delimiter if delimiter is not None else _csv.sniff_delimiter(p, gz)
    column_types: dict[str, pa.DataType] = {}
    retypes: Counter[str] = Counter()
    while True:
        sinks: list[Callable[[pa.RecordBatch], None]] = []

        def on_schema(schema: pa.Schema, sinks: list[Callable[[pa.RecordBatch], None]] = sinks) -> None:
            _check_schema(p, schema)
            sinks.append(start(schema))

        try:
            for batch in _csv.iter_csv_batches(p, sep, gz, column_types, on_schema, report):
                sinks[0](batch)
        except _csv.Retype as r:
            retypes[r.name] += 1
            if retypes[r.name] > _MAX_RETYPES_PER_COLUMN:  # pragma: no cover - defensive
                raise InvalidInput(
                    f"cannot settle the type of column {r.name!r} in '{p}'", field="path"
                ) from None
            column_types[r.name] = r.dtype
            continue
        return


def _scan_csv(
    p: Path, delimiter: str | None, make: Callable[[pa.Schema], TableProfiler], report: _Monotonic
) -> TableProfiler:
    """Profile a CSV file, widening column types and rescanning when a later block needs it."""
    profilers: list[TableProfiler] = []

    def start(schema: pa.Schema) -> Callable[[pa.RecordBatch], None]:
        profilers.append(make(schema))
        return profilers[-1].update

    _csv_passes(p, delimiter, start, report)
    return profilers[-1]


def read_table(
    path: str | os.PathLike[str],
    fmt: Format | None = None,
    *,
    delimiter: str | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """The whole file as an Arrow table, read exactly as :func:`scan_table` profiles it.

    Same format detection, delimiter sniffing, missing-value tokens and type widening, so
    a dataset version's rows and its recorded schema agree. ``columns`` keeps only those (a
    Parquet file reads nothing else; a CSV file is read whole, then narrowed).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = _check_file(path)
    if (fmt or detect_format(p)) == "parquet":
        try:
            return pq.read_table(p, columns=list(columns) if columns is not None else None)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(
                f"cannot read Parquet file '{p}': {_csv.condense(exc)}", field="path"
            ) from None
    batches: list[list[pa.RecordBatch]] = []
    schemas: list[pa.Schema] = []

    def start(schema: pa.Schema) -> Callable[[pa.RecordBatch], None]:
        batches.append([])
        schemas.append(schema)
        return batches[-1].append

    _csv_passes(p, delimiter, start, lambda _n: None)
    table = pa.Table.from_batches(batches[-1], schema=schemas[-1])
    return table if columns is None else table.select(list(columns))


def _scan_parquet(p: Path, make: Callable[[pa.Schema], TableProfiler], report: _Monotonic) -> TableProfiler:
    """Profile a Parquet file row group by row group."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def bad(exc: BaseException) -> InvalidInput:
        reason = _csv.condense(exc)
        if "magic bytes" in reason:
            return InvalidInput(
                f"'{p}' is not a Parquet file (no Parquet footer): it is truncated or in another format",
                field="path",
            )
        return InvalidInput(
            f"cannot read Parquet file '{p}': {reason} (is it a complete, valid Parquet file?)", field="path"
        )

    try:
        pf = pq.ParquetFile(str(p), pre_buffer=False, buffer_size=1 << 20)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise bad(exc) from None
    _check_schema(p, schema)
    profiler = make(schema)
    md = pf.metadata
    done = 0
    try:
        for i in range(md.num_row_groups):
            for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[i], use_threads=True):
                profiler.update(batch)
            rg = md.row_group(i)
            done += sum(rg.column(j).total_compressed_size for j in range(rg.num_columns))
            report(done)
    except (pa.ArrowException, OSError) as exc:
        raise bad(exc) from None
    finally:
        pf.close()
    return profiler


def table_from_dataframe(df: pd.DataFrame | pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write a DataFrame (or Arrow table) to a Parquet file, deterministically.

    The same content always gives the same bytes (zstd, default row groups, content-defined data
    pages, no timestamps in the metadata; the pandas schema metadata is kept so pandas reads the
    frame back as it was). The
    index is stored only when it is not a RangeIndex. The file is written to a temporary file in
    the same folder, then renamed into place.

    Returns:
        The path written.

    Raises:
        InvalidInput: ``df`` is not a DataFrame/Table or cannot be converted to Arrow.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(path)
    if isinstance(df, pa.Table):
        table = df
    else:
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise InvalidInput(
                f"cannot write {type(df).__name__} to '{out}': pass a pandas DataFrame or a pyarrow Table",
                field="data",
            )
        try:
            table = pa.Table.from_pandas(df, preserve_index=not isinstance(df.index, pd.RangeIndex))
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"cannot convert the DataFrame for '{out}' to Arrow: {_csv.condense(exc)}", field="data"
            ) from None
    dups = sorted(name for name, n in Counter(table.column_names).items() if n > 1)
    if dups:
        raise InvalidInput(
            f"cannot write '{out}': duplicate column names {', '.join(map(repr, dups))}", field="data"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".carnet-", suffix=".parquet.tmp", dir=out.parent)
    os.close(fd)
    try:
        # content-defined pages: an append or an edit changes only the pages around it, so a
        # new version shares most of its chunks with the last one in the artifact store
        pq.write_table(table, tmp, compression="zstd", use_content_defined_chunking=True)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def parquet_row_groups(path: str | os.PathLike[str]) -> list[int]:
    """The row count of each row group of a Parquet file (read from its footer only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = _check_file(path)
    try:
        meta = pq.ParquetFile(p).metadata
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"cannot read Parquet file '{p}': {_csv.condense(exc)}", field="path") from None
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def iter_batches(
    path: str | os.PathLike[str],
    fmt: Format | None = None,
    *,
    batch_rows: int = PARQUET_BATCH_ROWS,
    row_groups: list[int] | None = None,
) -> Iterator[pa.RecordBatch]:
    """A file's rows as record batches of at most ``batch_rows`` rows, read as :func:`read_table` reads.

    Parquet is read row group by row group (``row_groups`` picks some); a CSV file takes two
    streaming passes, the first settling the column types exactly as :func:`scan_table` does, so
    every batch has the same schema. Memory stays bounded by a batch, whatever the file's size.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = _check_file(path)
    if (fmt or detect_format(p)) == "parquet":
        try:
            yield from pq.ParquetFile(p).iter_batches(batch_size=batch_rows, row_groups=row_groups)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(
                f"cannot read Parquet file '{p}': {_csv.condense(exc)}", field="path"
            ) from None
        return
    schemas: list[pa.Schema] = []

    def settle(schema: pa.Schema) -> Callable[[pa.RecordBatch], None]:
        schemas.append(schema)
        return lambda _batch: None

    _csv_passes(p, None, settle, lambda _n: None)  # pass 1: the final types, nothing kept
    gz = _csv.is_gzip(p)
    types = {field.name: field.type for field in schemas[-1]}
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in _csv.iter_csv_batches(
        p, _csv.sniff_delimiter(p, gz), gz, types, lambda _s: None, lambda _n: None
    ):
        pending.append(batch)
        held += batch.num_rows
        while held >= batch_rows:
            table = pa.Table.from_batches(pending)
            yield from table.slice(0, batch_rows).combine_chunks().to_batches()
            rest = table.slice(batch_rows)
            pending, held = rest.combine_chunks().to_batches(), rest.num_rows
    if held:
        yield from pa.Table.from_batches(pending, schema=schemas[-1]).combine_chunks().to_batches()
