"""The prediction log: records to Parquet, rolling by rows and time, bounded memory, sink failures."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carnet import Client
from carnet.inference.predlog import PredictionLog, PredictionRecord

NEVER = 3600.0  # a poll interval that leaves the work to roll()/flush() in the test's thread


class Sink:
    """Collects files; fails the first ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.files: list[tuple[pa.Table, dict[str, Any]]] = []
        self.fail = fail
        self.calls = 0

    def __call__(self, data: bytes, meta: Mapping[str, Any]) -> None:
        self.calls += 1
        if self.calls <= self.fail:
            raise OSError("artifact store unreachable")
        table = pq.read_table(io.BytesIO(data))
        assert meta["bytes"] == len(data) and meta["rows"] == table.num_rows
        self.files.append((table, dict(meta)))

    @property
    def rows(self) -> list[int]:
        return [t.num_rows for t, _ in self.files]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    i: int = 0, rows: int = 1, *, version: int = 1, shadow: bool = False, **kw: Any
) -> PredictionRecord:
    inputs = pd.DataFrame({"age": np.arange(rows, dtype=np.int64) + i, "city": [f"c{i}"] * rows})
    outputs = {
        "predict": np.full(rows, i % 2),
        "predict_proba": np.tile([0.25, 0.75], (rows, 1)),
    }
    values = {
        "request_id": f"req-{i}",
        "time": 100.0 + i,
        "endpoint": "churn",
        "model": "churn",
        "version": version,
        "latency_ms": 2.5,
        "inputs": inputs,
        "outputs": outputs,
        "shadow": shadow,
    }
    values.update(kw)
    return PredictionRecord(**values)


def make(sink: Callable[[bytes, Mapping[str, Any]], None], **kw: Any) -> PredictionLog:
    kw.setdefault("poll_interval", NEVER)
    return PredictionLog(sink, **kw)


def test_records_become_parquet_rows_with_inputs_and_outputs() -> None:
    sink = Sink()
    log = make(sink)
    assert log.append(record(0, rows=3)) and log.append(record(1, rows=2, latency_ms=7.0))
    assert log.queued_rows == 5
    assert log.flush() == 1
    assert (log.files_written, log.rows_written, log.queued_rows, log.dropped) == (1, 5, 0, 0)
    table, meta = sink.files[0]
    assert meta == {
        "endpoint": "churn",
        "model": "churn",
        "version": 1,
        "shadow": False,
        "rows": 5,
        "bytes": meta["bytes"],
        "first_time": 100.0,
        "last_time": 101.0,
    }
    assert table.column_names == [
        "request_id",
        "row",
        "time",
        "endpoint",
        "model",
        "version",
        "latency_ms",
        "shadow",
        "input.age",
        "input.city",
        "output.predict",
        "output.predict_proba.0",
        "output.predict_proba.1",
    ]
    data = table.to_pydict()
    assert data["request_id"] == ["req-0"] * 3 + ["req-1"] * 2
    assert data["row"] == [0, 1, 2, 0, 1]
    assert data["time"] == [100.0] * 3 + [101.0] * 2
    assert data["latency_ms"] == [2.5] * 3 + [7.0] * 2
    assert (
        set(data["endpoint"]) == {"churn"} and set(data["version"]) == {1} and set(data["shadow"]) == {False}
    )
    assert data["input.age"] == [0, 1, 2, 1, 2]
    assert data["input.city"] == ["c0"] * 3 + ["c1"] * 2
    assert data["output.predict"] == [0, 0, 0, 1, 1]
    assert data["output.predict_proba.1"] == [0.75] * 5
    assert table.schema.field("input.age").type == pa.int64()
    log.close()


def test_odd_columns_and_outputs() -> None:
    sink = Sink()
    log = make(sink)
    inputs = pd.DataFrame({"x": [1.0, np.nan], "mixed": [{"a": 1}, "text"], "flag": [True, False]})
    outputs = {"label": np.array(["yes", "no"], dtype=object), "embedding": np.zeros((2, 2, 3))}
    log.append(record(0, rows=2, inputs=inputs, outputs=outputs))
    log.close()
    data = sink.files[0][0].to_pydict()
    assert data["input.x"][1] is None and data["input.flag"] == [True, False]
    assert data["input.mixed"] == ["{'a': 1}", "text"]  # what Arrow cannot type is kept as text
    assert data["output.label"] == ["yes", "no"]
    assert data["output.embedding"] == [[0.0] * 6, [0.0] * 6]


def test_groups_by_version_shadow_and_layout() -> None:
    sink = Sink()
    log = make(sink)
    log.append(record(0))
    log.append(record(1, version=2))
    log.append(record(2, shadow=True))
    log.append(record(3, inputs=pd.DataFrame({"age": [1.5]})))  # another column layout
    log.append(record(4))
    assert log.flush() == 4
    metas = sorted((m["version"], m["shadow"], m["rows"], t.num_columns) for t, m in sink.files)
    assert metas == [(1, False, 1, 12), (1, False, 2, 13), (1, True, 1, 13), (2, False, 1, 13)]
    shadow = next(t for t, m in sink.files if m["shadow"])
    assert shadow.column("shadow").to_pylist() == [True]
    log.close()


def test_rolls_by_rows() -> None:
    sink = Sink()
    log = make(sink, max_rows_per_file=10)
    for i in range(25):
        assert log.append(record(i))
    log.roll()
    assert sink.rows == [10, 10] and log.queued_rows == 5
    assert [t.column("request_id").to_pylist()[0] for t, _ in sink.files] == ["req-0", "req-10"]
    log.flush()
    assert sink.rows == [10, 10, 5] and log.rows_written == 25 and log.queued_rows == 0
    log.close()


def test_rolls_by_time() -> None:
    sink, clock = Sink(), Clock()
    log = make(sink, max_seconds_per_file=60, clock=clock)
    for i in range(3):
        log.append(record(i))
    assert log.roll() == 0 and sink.files == []
    clock.now += 30
    log.append(record(3))
    log.append(record(4, version=2))
    assert log.roll() == 0
    clock.now += 31  # the oldest record of version 1 has waited 61 s, version 2 only 31 s
    assert log.roll() == 1
    assert [(m["version"], m["rows"]) for _, m in sink.files] == [(1, 4)]
    clock.now += 30
    assert log.roll() == 1
    assert [(m["version"], m["rows"]) for _, m in sink.files] == [(1, 4), (2, 1)]
    log.close()
    assert log.files_written == 2


def test_the_writer_thread_rolls_on_its_own() -> None:
    sink = Sink()
    log = PredictionLog(sink, max_rows_per_file=4, poll_interval=0.01)
    for i in range(8):
        log.append(record(i))
    deadline = time.monotonic() + 30
    while log.files_written < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.rows == [4, 4]
    log.close()


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    sink = Sink()
    log = make(sink, max_queue_rows=5)
    assert log.append(record(0, rows=3)) and log.append(record(1, rows=2))
    assert not log.append(record(2, rows=1))
    assert not log.append(record(3, rows=6))
    assert (log.dropped, log.queued_rows) == (7, 5)
    log.flush()
    assert log.queued_rows == 0 and log.append(record(4, rows=5))
    log.close()
    assert (log.rows_written, log.dropped) == (10, 7)


def test_a_failing_sink_is_retried_and_the_writer_survives() -> None:
    sink, clock = Sink(fail=2), Clock()
    log = make(sink, max_queue_rows=6, clock=clock, max_seconds_per_file=60)
    log.append(record(0, rows=2))
    assert log.flush() == 0
    assert (log.errors, log.files_written, log.queued_rows) == (1, 0, 2)
    assert "artifact store unreachable" in str(log.last_error)
    log.append(record(1, rows=3))
    assert log.flush() == 0  # the kept file is offered first and refused again: the new one waits
    assert (log.errors, log.queued_rows) == (2, 5)
    assert not log.append(record(2, rows=2))  # refused rows still count against the bound
    assert log.roll() == 0  # not yet due for a retry
    clock.now += 61
    assert log.roll() == 2  # the sink is back: both files, oldest first
    assert [t.column("request_id").to_pylist()[0] for t, _ in sink.files] == ["req-0", "req-1"]
    assert (log.files_written, log.rows_written, log.queued_rows, log.dropped) == (2, 5, 0, 2)
    assert log.running
    log.close()


def test_close_counts_what_a_dead_sink_refused() -> None:
    sink = Sink(fail=10**6)
    log = make(sink)
    log.append(record(0, rows=4))
    log.close()
    assert (log.files_written, log.dropped, log.queued_rows) == (0, 4, 0) and log.errors >= 1


def test_malformed_records_are_dropped_not_fatal() -> None:
    sink = Sink()
    log = make(sink)
    log.append(record(0, rows=2, outputs={"predict": np.array([1])}))  # one output for two rows
    log.append(record(1))
    assert log.flush() == 1
    assert (log.errors, log.dropped, log.rows_written) == (1, 2, 1)
    log.close()


def test_close_flushes_stops_the_thread_and_is_idempotent() -> None:
    sink = Sink()
    log = make(sink)
    log.append(record(0))
    with log:
        assert log.running
    assert not log.running and sink.rows == [1]
    assert log._thread not in threading.enumerate()
    log.close()
    assert not log.append(record(1)) and log.dropped == 1 and sink.rows == [1]
    with pytest.raises(ValueError):
        PredictionLog(sink, max_rows_per_file=0)


def test_end_to_end_into_a_workspace(client: Client) -> None:
    service = client.services.deployments
    log = PredictionLog(service.prediction_sink(), max_rows_per_file=3, poll_interval=NEVER)
    for i in range(4):
        log.append(record(i))
    log.append(record(10, version=2, shadow=True))
    log.roll()
    log.close()
    assert (log.files_written, log.rows_written, log.errors) == (3, 5, 0)
    files = service.prediction_files(endpoint="churn")
    assert sorted((f.version, f.rows, f.shadow) for f in files) == [
        (1, 1, False),
        (1, 3, False),
        (2, 1, True),
    ]
    assert [f.rows for f in service.prediction_files(model="churn", version=1)] == [3, 1]
    assert [f.version for f in service.prediction_files(since=110.0)] == [2]
    first = service.prediction_files(model="churn", version=1)[0]
    assert (first.first_time, first.last_time) == (100.0, 102.0)
    data = client.services.ctx.artifacts.get_bytes(first.digest)
    assert len(data) == first.bytes
    table = pq.read_table(io.BytesIO(data))
    assert table.column("request_id").to_pylist() == ["req-0", "req-1", "req-2"]
