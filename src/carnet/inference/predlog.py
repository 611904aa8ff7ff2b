"""The prediction log: every answered request's inputs and outputs, written asynchronously to Parquet.

A request only pays for :meth:`PredictionLog.append`, a bounded queue append that never blocks:
when the queue is full the record is dropped and counted. A background thread groups records by
``(endpoint, model, version, shadow, column layout)`` and writes a group as one Parquet file (LZ4)
when it reaches ``max_rows_per_file`` rows or its oldest record has waited ``max_seconds_per_file``;
``flush()`` writes everything at once and ``close()`` flushes and stops the thread.

Each file goes to ``sink(parquet_bytes, meta)`` with ``meta`` = ``{endpoint, model, version, shadow,
rows, bytes, first_time, last_time}`` (the server's sink stores the bytes in the artifact store and
indexes the file). A sink that raises does not stop the writer: the file is kept and offered again
before the next file, or after ``max_seconds_per_file``; its rows stay counted in ``queued_rows``,
so memory stays bounded by ``max_queue_rows`` while the sink is down.

A file has one row per predicted row::

    request_id  row  time  endpoint  model  version  latency_ms  shadow  input.<name>...  output.<name>...

``row`` is the row's index in its request and ``time`` the request time (seconds since the epoch);
ground-truth labels are joined later on ``(request_id, row)``. A one-dimensional output is one
column ``output.<name>``; a matrix (e.g. ``predict_proba``) is one column per position of its
second axis, ``output.<name>.<k>``; outputs of more dimensions are stored as a list column of the
flattened values. Numbers are stored as given: a missing number is NaN (read back as missing
by pandas and pyarrow alike); a missing text value is null.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PredictionLog", "PredictionRecord", "PredictionSink", "parquet_bytes", "to_parquet", "to_table"]

PredictionSink = Callable[[bytes, Mapping[str, Any]], None]
_log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class PredictionRecord:
    """One request as served by one model version (a shadow's answer is a record of its own).

    ``inputs`` is the pandas DataFrame the model received; ``outputs`` maps output names to arrays
    whose first axis has one entry per input row. ``layout`` is an optional key a producer that
    already knows the columns and dtypes (a server validating against a signature) gives, so the
    writer need not inspect every record; records with equal keys must share columns and dtypes.
    """

    request_id: str
    time: float
    endpoint: str
    model: str
    version: int
    latency_ms: float
    inputs: Any
    outputs: Mapping[str, Any]
    shadow: bool = False
    layout: Hashable | None = None

    @property
    def rows(self) -> int:
        """The number of predicted rows."""
        return len(self.inputs)


#: records converted to Arrow at a time by the writer thread
_SLICE = 32


@dataclass
class _Group:
    """Rows waiting to be written together, and when the oldest was queued.

    New records are converted to Arrow chunks at every pass of the writer (small slices,
    yielding between them), so memory holds compact columns rather than DataFrames and no
    single conversion holds the interpreter lock for long while requests are served.
    """

    started: float
    records: list[PredictionRecord] = field(default_factory=list)
    chunks: list[Any] = field(default_factory=list)
    rows: int = 0
    first: PredictionRecord | None = None
    first_time: float = math.inf
    last_time: float = -math.inf

    def convert(self, slice_size: int = _SLICE) -> None:
        """Turn the pending records into Arrow chunks (``slice_size`` records at a time)."""
        pending, self.records = self.records, []
        for start in range(0, len(pending), slice_size):
            part = pending[start : start + slice_size]
            self.chunks.append(to_table(part))
            self.first = self.first or part[0]
            for r in part:
                self.first_time = min(self.first_time, r.time)
                self.last_time = max(self.last_time, r.time)
            time.sleep(0)  # let the event loop thread take the interpreter lock


@dataclass
class _File:
    """A Parquet file made but not yet accepted by the sink."""

    data: bytes
    meta: dict[str, Any]
    rows: int


class PredictionLog:
    """Asynchronous, bounded writer of prediction records to Parquet files handed to ``sink``.

    Args:
        sink: called with ``(parquet_bytes, meta)`` for each file, from the writer thread (or from
            the thread calling ``flush``/``close``).
        max_rows_per_file: a group is written when it holds this many rows.
        max_seconds_per_file: ... or when its oldest record was queued this long ago.
        max_queue_rows: at most this many rows wait in memory (queued, grouped or refused by the
            sink); ``append`` drops records beyond it.
        clock: seconds, for the age of groups.
        poll_interval: how often (seconds) the writer thread looks for groups to write.
    """

    def __init__(
        self,
        sink: PredictionSink,
        *,
        max_rows_per_file: int = 50_000,
        max_seconds_per_file: float = 60.0,
        max_queue_rows: int = 200_000,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.5,
        protect: Callable[[PredictionRecord], PredictionRecord] | None = None,
    ) -> None:
        for name, value in (
            ("max_rows_per_file", max_rows_per_file),
            ("max_seconds_per_file", max_seconds_per_file),
            ("max_queue_rows", max_queue_rows),
            ("poll_interval", poll_interval),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number > 0, got {value!r}")
        self.sink = sink
        self.max_rows_per_file = int(max_rows_per_file)
        self.max_seconds_per_file = float(max_seconds_per_file)
        self.max_queue_rows = int(max_queue_rows)
        self.clock = clock
        self._protect = protect
        self.poll_interval = float(poll_interval)
        self._queue: deque[tuple[float, PredictionRecord]] = deque()
        self._lock = threading.Lock()  # counters and the queue; held for a few instructions only
        self._work = threading.Lock()  # one writer at a time: the thread, flush() or close()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._groups: dict[Hashable, _Group] = {}
        self._pending: deque[_File] = deque()  # made, not yet accepted by the sink (oldest first)
        self._retry_at = 0.0
        self._refused = False
        self._queued_rows = 0  # appended and not yet accepted by the sink (nor dropped)
        self._queue_rows = 0  # in the append queue only (wakes the writer early)
        self._dropped = 0
        self._files_written = 0
        self._rows_written = 0
        self._errors = 0
        self.last_error: str | None = None
        self._closed = False
        _warm_up()
        self._thread = threading.Thread(target=self._run, name="carnet-prediction-log", daemon=True)
        self._thread.start()

    # -- the request side ---------------------------------------------------------------------------
    def append(self, record: PredictionRecord) -> bool:
        """Queue a record for writing; never blocks. False (and counted in ``dropped``) when the log
        is full or closed. With ``protect``, the record is what it returns (personal data dropped or
        pseudonymized before anything is queued)."""
        if self._protect is not None:
            record = self._protect(record)
        rows = len(record.inputs)
        enqueued = self.clock()
        with self._lock:
            if self._closed or self._queued_rows + rows > self.max_queue_rows:
                self._dropped += rows
                return False
            self._queued_rows += rows
            self._queue_rows += rows
            self._queue.append((enqueued, record))
            wake = self._queue_rows >= self.max_rows_per_file
        if wake:
            self._wake.set()
        return True

    # -- state --------------------------------------------------------------------------------------
    @property
    def queued_rows(self) -> int:
        """Rows appended and not yet written (queued, grouped, or waiting for the sink to accept them)."""
        return self._queued_rows

    @property
    def dropped(self) -> int:
        """Rows never written: the log was full or closed, a record was malformed, or the sink still
        refused them at close."""
        return self._dropped

    @property
    def files_written(self) -> int:
        """Files the sink accepted."""
        return self._files_written

    @property
    def rows_written(self) -> int:
        """Rows in the files the sink accepted."""
        return self._rows_written

    @property
    def errors(self) -> int:
        """Failures so far: sink calls that raised, and records that could not be converted."""
        return self._errors

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread.is_alive()

    # -- writing ------------------------------------------------------------------------------------
    def roll(self) -> int:
        """Write the groups that are due (full, or old enough) now; returns the files the sink took.

        The writer thread calls this every ``poll_interval``.
        """
        return self._process(force=False)

    def flush(self) -> int:
        """Write everything queued now, in the calling thread; returns the files the sink took."""
        return self._process(force=True)

    def close(self) -> None:
        """Refuse new records, stop the writer thread and write what is left (idempotent).

        Rows the sink still refuses are counted in ``dropped``.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._process(force=True)
        with self._work:
            lost = sum(f.rows for f in self._pending)
            self._pending.clear()
        if lost:
            _log.warning("prediction log closed with %d rows the sink refused: %s", lost, self.last_error)
            self._settle(lost, written=False)

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._process(force=False)
            except Exception as exc:  # noqa: BLE001 - the writer must outlive any single failure
                self._error(exc)

    def _process(self, *, force: bool) -> int:
        with self._work:
            with self._lock:
                batch, self._queue = self._queue, deque()
                self._queue_rows = 0
            now = self.clock()
            accepted = 0
            self._refused = False  # once the sink refuses, it is not called again in this pass
            if self._pending and (force or now >= self._retry_at):
                accepted += self._deliver()
            for enqueued, record in batch:
                try:
                    key = _layout(record)
                except Exception as exc:  # noqa: BLE001 - a malformed record is dropped, not fatal
                    self._error(exc)
                    self._settle(len(record.inputs), written=False)
                    continue
                group = self._groups.get(key)
                if group is None:
                    group = self._groups[key] = _Group(started=enqueued)
                group.records.append(record)
                group.rows += record.rows
                if group.rows >= self.max_rows_per_file:
                    del self._groups[key]
                    accepted += self._write(group)
            for key, group in list(self._groups.items()):
                if force or now - group.started >= self.max_seconds_per_file:
                    del self._groups[key]
                    accepted += self._write(group)
                else:
                    try:
                        group.convert()
                    except Exception as exc:  # noqa: BLE001 - unconvertible data is dropped and counted
                        self._error(exc)
                        del self._groups[key]
                        self._settle(group.rows, written=False)
            return accepted

    def _write(self, group: _Group) -> int:
        """Convert a group to Parquet and offer it to the sink (after any file it refused before)."""
        try:
            group.convert()
            data = _parquet(group.chunks)
        except Exception as exc:  # noqa: BLE001 - unconvertible data is dropped and counted
            self._error(exc)
            self._settle(group.rows, written=False)
            return 0
        first = group.first
        assert first is not None
        meta = {
            "endpoint": first.endpoint,
            "model": first.model,
            "version": int(first.version),
            "shadow": bool(first.shadow),
            "rows": group.rows,
            "bytes": len(data),
            "first_time": float(group.first_time),
            "last_time": float(group.last_time),
        }
        self._pending.append(_File(data, meta, group.rows))
        return self._deliver()

    def _deliver(self) -> int:
        """Offer the files not yet accepted to the sink, oldest first; stop at the first refusal."""
        accepted = 0
        while self._pending and not self._refused:
            pending = self._pending[0]
            try:
                self.sink(pending.data, dict(pending.meta))
            except Exception as exc:  # noqa: BLE001 - kept for a retry
                self._error(exc)
                self._refused = True
                self._retry_at = self.clock() + self.max_seconds_per_file
                return accepted
            self._pending.popleft()
            self._settle(pending.rows, written=True)
            accepted += 1
        return accepted

    def _settle(self, rows: int, *, written: bool) -> None:
        with self._lock:
            self._queued_rows -= rows
            if written:
                self._files_written += 1
                self._rows_written += rows
            else:
                self._dropped += rows

    def _error(self, exc: BaseException) -> None:
        with self._lock:
            self._errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        _log.warning("prediction log: %s", self.last_error)


# -- conversion -------------------------------------------------------------------------------------------


def _layout(record: PredictionRecord) -> Hashable:
    """What must be equal for records to share a file: identity, shadow flag, columns and dtypes."""
    if record.layout is not None:
        return (record.endpoint, record.model, int(record.version), bool(record.shadow), record.layout)
    frame = record.inputs
    if not hasattr(frame, "columns") or not hasattr(frame, "dtypes"):
        raise TypeError(f"inputs of request {record.request_id} must be a pandas DataFrame")
    rows = len(frame)
    outputs = []
    for name, values in record.outputs.items():
        arr = np.asarray(values)
        if arr.ndim == 0 or arr.shape[0] != rows:
            raise ValueError(
                f"output {name!r} of request {record.request_id} has {arr.shape[0] if arr.ndim else 0} "
                f"entries for {rows} input rows"
            )
        outputs.append((str(name), arr.dtype.kind, arr.shape[1:]))
    return (
        record.endpoint,
        record.model,
        int(record.version),
        bool(record.shadow),
        tuple(frame.columns),
        tuple(frame.dtypes),
        tuple(outputs),
    )


def _arrow(values: Any) -> Any:
    """An Arrow array of a column; values Arrow cannot type are stored as their text."""
    import pyarrow as pa

    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf" and values.dtype.isnative:
        return pa.array(np.ascontiguousarray(values))  # zero-copy; a float NaN stays NaN (missing)
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array(
            [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values],
            pa.string(),
        )


def _input_columns(records: list[PredictionRecord]) -> list[tuple[str, Any]]:
    """The input columns of records sharing a layout, concatenated."""
    import pandas as pd

    frames = [r.inputs for r in records]
    first = frames[0]
    names = [str(c) for c in first.columns]
    dtypes = set(first.dtypes)
    if len(dtypes) == 1 and len(names) > 0:
        dtype = next(iter(dtypes))
        if isinstance(dtype, np.dtype) and dtype.kind in "biuf":  # one numeric block: no pandas concat
            matrix = np.concatenate([f.to_numpy() for f in frames]) if len(frames) > 1 else first.to_numpy()
            matrix = np.asfortranarray(matrix)  # one transposing copy, then every column is contiguous
            return [(name, _arrow(matrix[:, j])) for j, name in enumerate(names)]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else first
    return [(name, _arrow(frame.iloc[:, j])) for j, name in enumerate(names)]


def _output_columns(records: list[PredictionRecord]) -> list[tuple[str, Any]]:
    import pyarrow as pa

    out: list[tuple[str, Any]] = []
    for name in records[0].outputs:
        arr = np.concatenate([np.asarray(r.outputs[name]) for r in records])
        if arr.ndim == 1:
            out.append((f"output.{name}", _arrow(arr)))
        elif arr.ndim == 2:
            out += [(f"output.{name}.{k}", _arrow(arr[:, k])) for k in range(arr.shape[1])]
        else:
            flat = arr.reshape(arr.shape[0], -1)
            out.append((f"output.{name}", pa.array(list(flat))))
    return out


def to_table(records: list[PredictionRecord]) -> Any:
    """A pyarrow Table of records sharing a layout: one row per predicted row (see the module doc)."""
    import pyarrow as pa

    counts = np.fromiter((r.rows for r in records), dtype=np.int64, count=len(records))
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    first = records[0]

    owner = pa.array(np.repeat(np.arange(len(records), dtype=np.int64), counts))

    def each(values: list[Any], dtype: Any) -> Any:  # one value per record -> one per row
        return pa.array(values, dtype).take(owner)

    columns: list[tuple[str, Any]] = [
        ("request_id", each([str(r.request_id) for r in records], pa.string())),
        ("row", pa.array(np.arange(total, dtype=np.int64) - np.repeat(starts, counts), pa.int32())),
        ("time", each([float(r.time) for r in records], pa.float64())),
        ("endpoint", pa.array([first.endpoint] * total, pa.string())),
        ("model", pa.array([first.model] * total, pa.string())),
        ("version", pa.array(np.full(total, int(first.version), dtype=np.int64), pa.int64())),
        ("latency_ms", each([float(r.latency_ms) for r in records], pa.float64())),
        ("shadow", pa.array(np.full(total, bool(first.shadow)), pa.bool_())),
    ]
    columns += [(f"input.{name}", arr) for name, arr in _input_columns(records)]
    columns += _output_columns(records)
    return pa.Table.from_arrays([arr for _, arr in columns], names=[name for name, _ in columns])


def to_parquet(records: list[PredictionRecord]) -> bytes:
    """The Parquet bytes (LZ4) of :func:`to_table`."""
    return _parquet([to_table(records)])


def parquet_bytes(table: Any) -> bytes:
    """The Parquet bytes (LZ4) of a table laid out as :func:`to_table` lays it out."""
    return _parquet([table])


def _warm_up() -> None:
    """Import pyarrow's Parquet writer and its codec now, not on the first file.

    The first write otherwise spends about a tenth of a second importing with the interpreter
    lock held, which in a server lands on the requests being answered at that moment.
    """
    import pyarrow as pa

    _parquet([pa.table({"warm": pa.array([0])})])


def _parquet(chunks: list[Any]) -> bytes:
    """The Parquet bytes (LZ4) of Arrow chunks of one layout."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = chunks[0] if len(chunks) == 1 else pa.concat_tables(chunks, promote_options="permissive")
    buf = io.BytesIO()
    # Dictionary pages pay off for text (ids, names, categories), not for measured numbers, where
    # trying them costs more time than it saves space; floats are written byte-stream-split,
    # which lets the fast LZ4 codec compress them about as well as zstd, at a third of the cost.
    text = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    floats = {f.name: "BYTE_STREAM_SPLIT" for f in table.schema if pa.types.is_floating(f.type)}
    pq.write_table(table, buf, compression="lz4", use_dictionary=text, column_encoding=floats or None)
    return buf.getvalue()
