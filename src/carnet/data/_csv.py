"""Streaming CSV reading with type widening, for :func:`carnet.data.tabular.scan_table`.

``pyarrow.csv.open_csv`` infers column types from the first block only; a later value that
does not fit (``2.5`` in an int64 column, text in a column that was all empty) raises a
conversion error. We then widen that column's type (null -> inferred type, int64 -> double,
timestamps -> the finer unit, anything else -> string) and scan again from the start.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

from carnet.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

# Bytes per CSV block: the unit of type inference (first block) and of streaming. Arrow's
# streaming reader reads up to 32 blocks ahead on a background thread, so memory is about
# 32 * BLOCK_SIZE plus the batch being profiled, whatever the file size. Blocks are parsed
# on the calling thread (use_threads=False): profiling, not parsing, is the bottleneck, and
# parallel parsing would add one decoded block in flight per core.
BLOCK_SIZE = 1 << 20
_DELIMITERS = (",", "\t", ";", "|")
_GZIP_MAGIC = b"\x1f\x8b"
_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (.+?): invalid value '(.*)'$", re.S
)


class Retype(Exception):
    """Internal signal: column ``name`` needs type ``dtype``; scan again."""

    def __init__(self, name: str, dtype: pa.DataType) -> None:
        super().__init__(name)
        self.name = name
        self.dtype = dtype


def condense(exc: BaseException, limit: int = 200) -> str:
    """An exception message on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_gzip(path: Path) -> bool:
    """True when the file is gzip-compressed (by suffix or magic bytes)."""
    if path.name.lower().endswith(".gz"):
        return True
    with path.open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def sniff_delimiter(path: Path, gz: bool) -> str:
    """Tab for ``.tsv``; otherwise the most frequent of ``, TAB ; |`` in the header line (default ``,``)."""
    import gzip

    name = path.name.lower()
    if name.endswith((".tsv", ".tsv.gz")):
        return "\t"
    try:
        opener = gzip.open if gz else open
        with opener(path, "rb") as fh:
            head = fh.readline(65_536).decode("utf-8", errors="replace")
    except OSError:
        return ","  # unreadable gzip: let the reader report it
    counts = {d: head.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _value_type(value: str) -> pa.DataType:
    """The type pyarrow infers for one CSV value."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    quoted = '"' + value.replace('"', '""') + '"'
    data = ("v\n" + quoted + "\n").encode("utf-8", errors="replace")
    try:
        options = pacsv.ConvertOptions(strings_can_be_null=True)
        table = pacsv.read_csv(io.BytesIO(data), convert_options=options)
    except pa.ArrowException:
        return pa.string()
    return table.schema.field(0).type


def _unify(current: pa.DataType, value: pa.DataType) -> pa.DataType:
    """The narrowest type holding both ``current`` values and ``value``."""
    import pyarrow as pa

    t = pa.types
    if t.is_null(current):
        return value
    if (t.is_integer(current) or t.is_floating(current)) and (t.is_integer(value) or t.is_floating(value)):
        return pa.float64()
    if t.is_timestamp(current) and t.is_timestamp(value) and current.tz == value.tz:
        units = ["s", "ms", "us", "ns"]
        return pa.timestamp(max(current.unit, value.unit, key=units.index), current.tz)
    return pa.string()


def retype_for(exc: BaseException, schema: pa.Schema) -> Retype | None:
    """The widening that fixes a conversion error, or None if the error is not one we can fix."""
    import pyarrow as pa

    m = _CONVERSION.search(str(exc))
    if m is None:
        return None
    idx = int(m.group(1))
    if idx >= len(schema):
        return None
    field = schema.field(idx)
    if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
        return None
    new = _unify(field.type, _value_type(m.group(3)))
    if new == field.type:
        new = pa.string()
    return Retype(field.name, new)


def open_reader(
    path: Path, delimiter: str, gz: bool, column_types: dict[str, pa.DataType]
) -> tuple[pa.NativeFile, pa.RecordBatchReader]:
    """Open ``path`` and a streaming CSV reader over it; the first value is the raw file (for tell())."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    raw = pa.OSFile(str(path), "rb")
    try:
        stream = pa.CompressedInputStream(raw, "gzip") if gz else raw
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=True),
        )
    except BaseException:
        raw.close()
        raise
    return raw, reader


def _consumed(raw: pa.NativeFile, gz: bool, blocks: int) -> int:
    """Raw bytes the consumer has got through, approximately.

    The reader's read-ahead makes ``raw.tell()`` run ahead of the batches actually profiled, so
    for plain files we count ``blocks`` consumed instead. A gzip stream cannot tell its
    decompressed position: there the (slightly early) raw position is used.
    """
    read_raw = raw.tell()
    return cast("int", read_raw if gz else min(read_raw, blocks * BLOCK_SIZE))


def iter_csv_batches(
    path: Path,
    delimiter: str,
    gz: bool,
    column_types: dict[str, pa.DataType],
    on_schema: Callable[[pa.Schema], None],
    position: Callable[[int], None],
) -> Iterator[pa.RecordBatch]:
    """Yield the record batches of one pass; raise Retype when a column's type must be widened.

    ``on_schema`` sees the schema before any batch; ``position`` gets the raw bytes read so far.
    Errors that are not fixable surface as InvalidInput naming the file.
    """
    import pyarrow as pa

    try:
        raw, reader = open_reader(path, delimiter, gz, column_types)
    except (pa.ArrowInvalid, OSError) as exc:
        raise csv_error(path, exc) from None
    try:
        schema = reader.schema
        on_schema(schema)
        check_utf8(path, schema)
        blocks = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError) as exc:
                retype = retype_for(exc, schema)
                if retype is not None:
                    raise retype from None
                raise csv_error(path, exc) from None
            yield batch
            blocks += 1
            position(_consumed(raw, gz, blocks))
    finally:
        reader.close()
        raw.close()


def check_utf8(path: Path, schema: pa.Schema) -> None:
    """Reject a CSV whose first block has non-UTF-8 text (pyarrow then infers ``binary`` columns)."""
    import pyarrow as pa

    binary = [f.name for f in schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
    if binary:
        cols = ", ".join(repr(b) for b in binary[:5])
        raise InvalidInput(
            f"'{path}' is not UTF-8 text (column {cols}): save the file as UTF-8", field="path"
        )


def csv_error(path: Path, exc: BaseException) -> InvalidInput:
    """An InvalidInput naming the file for a pyarrow CSV failure."""
    reason = condense(exc)
    if "Empty CSV file" in reason:
        return InvalidInput(f"'{path}' is empty: a CSV file needs at least a header line", field="path")
    hint = "check the delimiter, quoting and that every row has as many fields as the header"
    if "UTF8" in reason or "UTF-8" in reason:
        hint = "save the file as UTF-8"
    elif "zlib" in reason.lower() or "gzip" in reason.lower():
        hint = "the file is not valid gzip; decompress it or fix the extension"
    return InvalidInput(f"cannot read CSV file '{path}': {reason} ({hint})", field="path")
