"""Micro-batching: concurrent requests share predict calls and each gets exactly its rows."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from carnet.errors import InvalidInput, Overloaded
from carnet.inference import MicroBatcher, concat_frames, model_outputs

Outputs = dict[str, np.ndarray]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class Gate:
    """A predict wrapper that can hold calls in the worker thread until released."""

    def __init__(self, predict: Callable[[pd.DataFrame], Outputs], hold_first: bool = True) -> None:
        self.predict = predict
        self.entered = threading.Event()
        self.release = threading.Event()
        self.hold_first = hold_first
        self.calls: list[int] = []

    def __call__(self, frame: pd.DataFrame) -> Outputs:
        self.calls.append(len(frame))
        self.entered.set()
        if self.hold_first and len(self.calls) == 1:
            assert self.release.wait(10), "the test never released the gate"
        return self.predict(frame)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10)


def doubled(frame: pd.DataFrame) -> Outputs:
    x = frame["x"].to_numpy()
    return {"predict": x * 2, "pair": np.column_stack([x, -x])}


def rows(start: int, count: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(start, start + count, dtype=np.float64)})


async def until_queued(batcher: MicroBatcher, count: int) -> None:
    for _ in range(1000):
        if batcher.queued_rows >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"only {batcher.queued_rows} rows queued, expected {count}")


@pytest.fixture(scope="module")
def pipeline() -> tuple[Pipeline, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "n": rng.integers(0, 9, n),
            "city": pd.array(rng.choice(["paris", "lyon", "nantes", "lille"], n), dtype="str"),
        }
    )
    y = np.where(frame["x"] * 2 + frame["n"] / 4 + (frame["city"] == "lyon") > 1.2, "churn", "stay")
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["x", "n"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])]
    )
    model = Pipeline([("pre", pre), ("clf", RandomForestClassifier(n_estimators=25, random_state=0))])
    return model.fit(frame, y), frame


def test_batched_predictions_equal_a_direct_predict(pipeline: tuple[Pipeline, pd.DataFrame]) -> None:
    model, frame = pipeline
    sample = frame.iloc[:200].reset_index(drop=True)
    sizes: list[tuple[int, int]] = []

    async def scenario() -> list[Outputs]:
        batcher = MicroBatcher(
            lambda f: model_outputs(model, f, "classification", ["churn", "stay"]),
            on_batch=lambda r, q, s: sizes.append((r, q)),
            name="churn",
        )
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(sample.iloc[[i]]) for i in range(len(sample))))
        finally:
            await batcher.stop()

    results = run(scenario())
    predicted = np.concatenate([r["predict"] for r in results])
    proba = np.concatenate([r["predict_proba"] for r in results])
    np.testing.assert_array_equal(predicted, model.predict(sample))
    np.testing.assert_array_equal(proba, model.predict_proba(sample))
    assert sum(r for r, _ in sizes) == 200 and all(r <= 64 for r, _ in sizes)
    assert len(sizes) <= 10, (
        sizes
    )  # 200 concurrent requests, 64 rows per call: 4 calls when all queue at once


def test_requests_queued_during_a_predict_coalesce_into_full_batches() -> None:
    gate = Gate(doubled)
    batches: list[tuple[int, int]] = []

    async def scenario() -> list[Outputs]:
        batcher = MicroBatcher(gate, on_batch=lambda r, q, s: batches.append((r, q)))
        first = asyncio.ensure_future(batcher.submit(rows(0, 1)))
        await gate.wait_entered()
        rest = [asyncio.ensure_future(batcher.submit(rows(i, 1))) for i in range(1, 101)]
        await until_queued(batcher, 101)
        gate.release.set()
        out = await asyncio.gather(first, *rest)
        assert batcher.batches == 3
        await batcher.stop()
        return out

    results = run(scenario())
    assert gate.calls == [1, 64, 36]
    assert batches == [(1, 1), (64, 64), (36, 36)]
    assert [r["predict"].tolist() for r in results] == [[2.0 * i] for i in range(101)]


def test_mixed_request_sizes_get_exactly_their_rows() -> None:
    gate = Gate(doubled)
    sizes = [1, 3, 10, 70, 2, 5, 64, 1]

    async def scenario() -> list[Outputs]:
        batcher = MicroBatcher(gate, max_batch_rows=64)
        first = asyncio.ensure_future(batcher.submit(rows(-1, 1)))
        await gate.wait_entered()
        starts = np.cumsum([0, *sizes])[:-1]
        tasks = [
            asyncio.ensure_future(batcher.submit(rows(int(s), n))) for s, n in zip(starts, sizes, strict=True)
        ]
        await until_queued(batcher, 1 + sum(sizes))
        gate.release.set()
        await first
        out = await asyncio.gather(*tasks)
        await batcher.stop()
        return out

    results = run(scenario())
    start = 0
    for size, result in zip(sizes, results, strict=True):
        x = np.arange(start, start + size, dtype=np.float64)
        np.testing.assert_array_equal(result["predict"], x * 2)
        np.testing.assert_array_equal(result["pair"], np.column_stack([x, -x]))
        start += size
    # after the held call: 1+3+10 fit, 70 runs alone, then 2+5 (64 would overflow), 64, then 1
    assert gate.calls == [1, 14, 70, 7, 64, 1]


def test_overload_is_refused_at_once_with_a_retry_estimate() -> None:
    gate = Gate(doubled)

    async def scenario() -> None:
        batcher = MicroBatcher(gate, max_queue_rows=10)
        first = asyncio.ensure_future(batcher.submit(rows(0, 4)))
        await gate.wait_entered()
        queued = [asyncio.ensure_future(batcher.submit(rows(i, 3))) for i in (10, 20)]
        await until_queued(batcher, 10)
        with pytest.raises(Overloaded) as info:
            await batcher.submit(rows(99, 1))
        assert not gate.release.is_set()  # refused while the slow predict still runs
        assert info.value.retry_after >= 0.05
        assert "overloaded" in str(info.value)
        with pytest.raises(InvalidInput) as too_big:
            await batcher.submit(rows(0, 11))
        assert too_big.value.field == "inputs"
        gate.release.set()
        done = await asyncio.gather(first, *queued)
        assert [len(d["predict"]) for d in done] == [4, 3, 3]
        assert batcher.queued_rows == 0
        assert (await batcher.submit(rows(5, 1)))["predict"].tolist() == [10.0]
        await batcher.stop()

    run(scenario())


def test_a_failing_predict_fails_its_whole_batch_and_the_next_batch_works() -> None:
    def fragile(frame: pd.DataFrame) -> Outputs:
        if (frame["x"] < 0).any():
            raise ValueError("negative input")
        return doubled(frame)

    gate = Gate(fragile)

    async def scenario() -> None:
        batcher = MicroBatcher(gate)
        first = asyncio.ensure_future(batcher.submit(rows(0, 1)))
        await gate.wait_entered()
        batch = [asyncio.ensure_future(batcher.submit(rows(i, 1))) for i in (1, -5, 2)]
        await until_queued(batcher, 4)
        gate.release.set()
        assert (await first)["predict"].tolist() == [0.0]
        errors = await asyncio.gather(*batch, return_exceptions=True)
        assert all(isinstance(e, ValueError) and str(e) == "negative input" for e in errors)
        assert errors[0] is errors[1] is errors[2]
        assert (await batcher.submit(rows(3, 2)))["predict"].tolist() == [6.0, 8.0]
        assert batcher.ready and batcher.queued_rows == 0
        await batcher.stop()

    run(scenario())
    assert gate.calls == [1, 3, 2]


def test_outputs_with_the_wrong_row_count_fail_the_requests() -> None:
    async def scenario() -> None:
        batcher = MicroBatcher(lambda f: {"predict": np.zeros(len(f) + 1)})
        with pytest.raises(ValueError, match="rows"):
            await batcher.submit(rows(0, 2))
        await batcher.stop()

    run(scenario())


def test_stop_with_drain_answers_every_queued_request() -> None:
    gate = Gate(doubled)

    async def scenario() -> None:
        batcher = MicroBatcher(gate, name="m")
        tasks = [asyncio.ensure_future(batcher.submit(rows(0, 1)))]
        await gate.wait_entered()
        tasks += [asyncio.ensure_future(batcher.submit(rows(i, 1))) for i in range(1, 6)]
        await until_queued(batcher, 6)
        stopping = asyncio.ensure_future(batcher.stop(drain=True))
        await asyncio.sleep(0)
        assert not batcher.ready
        with pytest.raises(Overloaded, match="stopping"):
            await batcher.submit(rows(9, 1))
        gate.release.set()
        await stopping
        assert [t.result()["predict"].tolist() for t in tasks] == [[2.0 * i] for i in range(6)]
        with pytest.raises(Overloaded):
            await batcher.submit(rows(9, 1))

    run(scenario())


def test_stop_without_drain_refuses_queued_requests() -> None:
    gate = Gate(doubled)

    async def scenario() -> None:
        batcher = MicroBatcher(gate)
        running = asyncio.ensure_future(batcher.submit(rows(1, 1)))
        await gate.wait_entered()
        queued = [asyncio.ensure_future(batcher.submit(rows(i, 1))) for i in range(2, 5)]
        await until_queued(batcher, 4)
        stopping = asyncio.ensure_future(batcher.stop(drain=False))
        await asyncio.sleep(0)
        gate.release.set()
        await stopping
        assert (await running)["predict"].tolist() == [2.0]
        for task in queued:
            with pytest.raises(Overloaded, match="stopped"):
                await task
        assert batcher.queued_rows == 0

    run(scenario())
    assert gate.calls == [1]


@pytest.mark.parametrize(("max_batch_rows", "max_wait_ms"), [(1, 2.0), (64, 0.0), (1, 0.0)])
def test_batching_can_be_turned_off(max_batch_rows: int, max_wait_ms: float) -> None:
    gate = Gate(doubled)

    async def scenario() -> list[Outputs]:
        batcher = MicroBatcher(gate, max_batch_rows=max_batch_rows, max_wait_ms=max_wait_ms)
        out = await asyncio.gather(*(batcher.submit(rows(i, 1)) for i in range(20)))
        singles = [await batcher.submit(rows(i, 1)) for i in range(20, 25)]
        await batcher.stop()
        return out + singles

    gate.release.set()
    results = run(scenario())
    assert [r["predict"].tolist() for r in results] == [[2.0 * i] for i in range(25)]
    if max_batch_rows == 1:
        assert gate.calls == [1] * 25


def test_a_request_arriving_within_the_wait_joins_the_batch() -> None:
    gate = Gate(doubled, hold_first=False)

    async def scenario() -> None:
        # a long wait that is never reached: the second request fills the batch (2 rows)
        batcher = MicroBatcher(gate, max_batch_rows=2, max_wait_ms=60_000, adaptive_wait=False)
        first = asyncio.ensure_future(batcher.submit(rows(0, 1)))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(batcher.submit(rows(1, 1)))
        assert [(await t)["predict"].tolist() for t in (first, second)] == [[0.0], [2.0]]
        await batcher.stop()

    run(scenario())
    assert gate.calls == [2]


def test_a_cancelled_request_is_never_predicted() -> None:
    gate = Gate(doubled)

    async def scenario() -> None:
        batcher = MicroBatcher(gate)
        first = asyncio.ensure_future(batcher.submit(rows(0, 1)))
        await gate.wait_entered()
        gone = asyncio.ensure_future(batcher.submit(rows(100, 5)))
        kept = asyncio.ensure_future(batcher.submit(rows(1, 1)))
        await until_queued(batcher, 7)
        gone.cancel()
        gate.release.set()
        await first
        assert (await kept)["predict"].tolist() == [2.0]
        assert gone.cancelled() and batcher.queued_rows == 0
        await batcher.stop()

    run(scenario())
    assert gate.calls == [1, 1]


def test_a_failing_observer_does_not_stop_serving() -> None:
    def observer(rows_: int, requests: int, seconds: float) -> None:
        raise RuntimeError("metrics are down")

    async def scenario() -> None:
        batcher = MicroBatcher(doubled, on_batch=observer)
        assert (await batcher.submit(rows(1, 1)))["predict"].tolist() == [2.0]
        assert (await batcher.submit(rows(2, 1)))["predict"].tolist() == [4.0]
        assert batcher.batches == 2
        await batcher.stop()

    run(scenario())


def test_invalid_limits_and_empty_requests() -> None:
    for kwargs, field in [({"max_batch_rows": 0}, "max_batch_rows"), ({"max_wait_ms": -1}, "max_wait_ms")]:
        with pytest.raises(InvalidInput) as info:
            MicroBatcher(doubled, **kwargs)
        assert info.value.field == field

    async def scenario() -> None:
        batcher = MicroBatcher(doubled)
        with pytest.raises(InvalidInput, match="no rows"):
            await batcher.submit(rows(0, 0))
        await batcher.stop()

    run(scenario())


def test_concat_frames_stacks_numeric_and_mixed_frames() -> None:
    numeric = [pd.DataFrame(np.full((n, 3), float(n)), columns=["a", "b", "c"]) for n in (1, 2, 3)]
    pd.testing.assert_frame_equal(concat_frames(numeric), pd.concat(numeric, ignore_index=True))
    mixed = [
        pd.DataFrame({"a": [float(i)], "s": pd.array([f"v{i}"], dtype="str"), "n": [i]}) for i in range(3)
    ]
    out = concat_frames(mixed)
    pd.testing.assert_frame_equal(out, pd.concat(mixed, ignore_index=True))
    assert [str(d) for d in out.dtypes] == ["float64", "str", "int64"]
    assert concat_frames(mixed[:1]) is mixed[0]


def test_full_batches_of_a_fast_model_run_on_the_loop_and_slow_ones_in_the_worker() -> None:
    import time

    def recorder(delay: float) -> tuple[list[str], Callable[[pd.DataFrame], Outputs]]:
        seen: list[str] = []

        def predict(frame: pd.DataFrame) -> Outputs:
            seen.append(threading.current_thread().name)
            time.sleep(delay)
            return {"predict": frame["x"].to_numpy() * 2}

        return seen, predict

    async def go(delay: float, inline_seconds: float) -> tuple[list[str], str]:
        seen, predict = recorder(delay)
        batcher = MicroBatcher(
            predict, max_batch_rows=8, max_wait_ms=0, name="m", inline_seconds=inline_seconds
        )
        await batcher.start()
        try:
            big = pd.DataFrame({"x": np.arange(8.0)})
            for _ in range(5):  # full batches
                out = await batcher.submit(big)
                assert out["predict"].tolist() == (np.arange(8.0) * 2).tolist()
            await batcher.submit(pd.DataFrame({"x": [1.0]}))  # not full: always the worker
        finally:
            await batcher.stop()
        return seen, threading.current_thread().name

    # the limit is generous for the fast model and tight for the slow one: a busy machine cannot
    # flip the outcome (the default limit is 2 ms)
    seen, loop_thread = run(go(0.0, inline_seconds=1.0))
    assert seen[:3] != [loop_thread] * 3  # the first batches measure the model in the worker
    assert seen[3:5] == [loop_thread, loop_thread] and seen[5] != loop_thread
    seen, loop_thread = run(go(0.05, inline_seconds=0.01))  # 50 ms per batch: never on the loop
    assert loop_thread not in seen
