"""Micro-batching: concurrent requests to one model coalesce into one predict call.

The event loop only queues and answers; concatenation and ``predict`` run in one dedicated
worker thread, so a slow model never blocks the server. The queue is bounded: past
``max_queue_rows`` a request is refused at once with :class:`Overloaded`, which carries a
``retry_after`` estimated from recent batch latency and the queue depth.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carnet.errors import InvalidInput, Overloaded
from carnet.inference.codecs import _dtypes

__all__ = ["MicroBatcher", "concat_frames"]

_log = logging.getLogger(__name__)

Outputs = dict[str, np.ndarray]
#: below this wait score the batcher stops waiting for company (a lone client is not delayed)
_WAIT_FLOOR = 0.25


def concat_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The rows of ``frames`` (same columns and dtypes) in one frame.

    Frames whose columns share one numeric dtype are stacked by numpy in a single copy;
    others go through ``pandas.concat`` (with a fresh RangeIndex).
    """
    first = frames[0]
    if len(frames) == 1:
        return first
    columns = first.columns
    dtypes = _dtypes(first)
    head = dtypes[0] if dtypes else None
    if (
        isinstance(head, np.dtype)
        and head.kind in "biuf"
        and all(d == head for d in dtypes)
        and all(
            (f.columns is columns or f.columns.equals(columns)) and _dtypes(f) == dtypes for f in frames[1:]
        )
    ):
        return pd.DataFrame(np.concatenate([f.to_numpy() for f in frames]), columns=columns, copy=False)
    return pd.concat(frames, ignore_index=True)


@dataclass(slots=True)
class _Pending:
    frame: pd.DataFrame
    rows: int
    future: asyncio.Future[Outputs]


#: a full batch of a model whose batches take less than this (moving average) runs on the loop
INLINE_SECONDS = 0.002


class MicroBatcher:
    """Coalesces concurrent requests to one model into one ``predict`` call.

    The worker waits for a first request, then up to ``max_wait_ms`` for others until
    ``max_batch_rows`` rows (a larger request runs alone), concatenates their frames, runs
    ``predict`` in its thread (on the event loop for a full batch of a model that answers in
    under two milliseconds) and hands each request exactly its rows of every output. A
    ``predict`` that raises fails every request of that batch with that exception; the next
    batch runs as usual. With ``adaptive_wait`` the wait is skipped once it has stopped paying
    off (a lone sequential client), and resumed as soon as requests pile up again.

    Args:
        predict: frame -> ``{output name: array with one row per frame row}``.
        max_batch_rows: rows per predict call (1 disables batching).
        max_wait_ms: how long a batch may wait for company (0 disables waiting).
        max_queue_rows: accepted but unanswered rows beyond which requests are refused.
        name: the model's name, for messages and the worker thread's name.
        on_batch: called on the event loop after each predict call with (rows, requests, seconds).
        adaptive_wait: skip the wait while it does not gather requests.

    Raises:
        InvalidInput: a limit that is not positive (``max_wait_ms`` may be 0).
    """

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], Outputs],
        *,
        max_batch_rows: int = 64,
        max_wait_ms: float = 2.0,
        max_queue_rows: int = 4096,
        name: str = "",
        on_batch: Callable[[int, int, float], None] | None = None,
        adaptive_wait: bool = True,
        inline_seconds: float = INLINE_SECONDS,
    ) -> None:
        for field, value, low in (
            ("max_batch_rows", max_batch_rows, 1),
            ("max_wait_ms", max_wait_ms, 0),
            ("max_queue_rows", max_queue_rows, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= low:
                raise InvalidInput(f"{field} must be a number >= {low}, got {value!r}", field=field)
        self._predict = predict
        self._max_rows = int(max_batch_rows)
        self._max_wait = float(max_wait_ms) / 1000.0
        self._max_queue = int(max_queue_rows)
        self.name = name
        self.on_batch = on_batch
        self._adaptive = adaptive_wait
        self._inline_seconds = float(inline_seconds)
        self._label = f"model {name!r}" if name else "the model"
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._batches = 0
        self._batch_seconds = 0.0  # moving average of a batch's wall time
        self._wait_score = 1.0  # how well waiting gathered requests lately
        self._state = "new"  # new -> running -> stopping -> stopped
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._wakeup: asyncio.Future[None] | None = None

    @property
    def queued_rows(self) -> int:
        """Rows accepted and not answered yet (waiting or in the running batch)."""
        return self._queued_rows

    @property
    def batches(self) -> int:
        """Predict calls made so far."""
        return self._batches

    @property
    def ready(self) -> bool:
        """True while the batcher runs and accepts requests."""
        return self._state == "running" and self._worker is not None and not self._worker.done()

    @property
    def retry_after(self) -> float:
        """Seconds until the queue has likely drained: recent batch latency x batches queued (>= 0.05)."""
        depth = math.ceil((self._queued_rows + 1) / self._max_rows)
        return max(0.05, self._batch_seconds * depth)

    async def start(self) -> None:
        """Start the worker (idempotent; a stopped batcher starts afresh)."""
        if self._state in ("running", "stopping"):
            return
        loop = asyncio.get_running_loop()
        thread = f"carnet-batch-{self.name}" if self.name else "carnet-batch"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread)
        self._state = "running"
        self._worker = loop.create_task(self._work(), name=thread)

    async def stop(self, drain: bool = True) -> None:
        """Stop accepting requests; with ``drain`` answer every queued one first, else refuse them."""
        if self._state != "running":
            if self._state == "stopping" and self._worker is not None:
                await asyncio.shield(self._worker)
            return
        self._state = "stopping"
        if not drain:
            self._fail_queued(Overloaded(1.0, f"{self._label} stopped before the request ran"))
        self._wake()
        try:
            if self._worker is not None:
                await self._worker
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._state = "stopped"

    async def submit(self, frame: pd.DataFrame) -> Outputs:
        """The outputs of ``predict`` for exactly the rows of ``frame``.

        Raises:
            Overloaded: the queue is full or the batcher is stopping (raised at once).
            InvalidInput: ``frame`` has no rows, or more than ``max_queue_rows``.
            Exception: whatever ``predict`` raised for the batch holding this request.
        """
        if self._state == "new":
            await self.start()
        if self._state != "running":
            raise Overloaded(1.0, f"{self._label} is stopping and takes no new requests")
        rows = len(frame)
        if rows == 0:
            raise InvalidInput("the request holds no rows; send at least one", field="inputs")
        if rows > self._max_queue:
            raise InvalidInput(
                f"the request holds {rows} rows; {self._label} takes at most {self._max_queue} per request",
                field="inputs",
            )
        if self._queued_rows + rows > self._max_queue:
            wait = self.retry_after
            raise Overloaded(
                wait, f"{self._label} is overloaded ({self._queued_rows} rows queued); retry in {wait:.2f} s"
            )
        future: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(frame, rows, future))
        self._queued_rows += rows
        self._wake()
        return await future

    # ------------------------------------------------------------------ worker

    def _wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _sleep(self, timeout: float | None) -> None:
        """Until a request arrives, the batcher stops, or ``timeout`` seconds pass."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._wakeup = waiter
        handle = loop.call_later(timeout, _settle, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            if handle is not None:
                handle.cancel()
            self._wakeup = None

    def _take(self, batch: list[_Pending], rows: int) -> int:
        """Move queued requests into ``batch`` while they fit; returns the batch's rows."""
        queue = self._queue
        while queue:
            head = queue[0]
            if head.future.done():  # its caller went away
                queue.popleft()
                self._queued_rows -= head.rows
                continue
            if batch and rows + head.rows > self._max_rows:
                break
            queue.popleft()
            batch.append(head)
            rows += head.rows
        return rows

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                batch: list[_Pending] = []
                rows = self._take(batch, 0)
                if not batch:
                    if self._state != "running":
                        return
                    await self._sleep(None)
                    continue
                piled = len(batch) > 1 or bool(self._queue)
                waits = self._max_wait > 0 and rows < self._max_rows and self._state == "running"
                if waits and (piled or not self._adaptive or self._wait_score >= _WAIT_FLOOR):
                    deadline = loop.time() + self._max_wait
                    joined = False
                    while rows < self._max_rows and self._state == "running":
                        size = len(batch)
                        rows = self._take(batch, rows)
                        if len(batch) > size:
                            joined = True
                            continue
                        remaining = deadline - loop.time()
                        if self._queue or remaining <= 0:
                            break
                        await self._sleep(remaining)
                    self._wait_score = 1.0 if joined or piled else self._wait_score / 2
                elif piled:
                    self._wait_score = 1.0
                await self._execute(batch, rows)
        finally:
            self._fail_queued(Overloaded(1.0, f"{self._label} stopped before the request ran"))

    async def _execute(self, batch: list[_Pending], rows: int) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            frames = [p.frame for p in batch]
            if self._inline(rows):
                outputs = self._run(frames, rows)
            else:
                outputs = await loop.run_in_executor(self._executor, self._run, frames, rows)
        except asyncio.CancelledError:
            _fail(batch, Overloaded(1.0, f"{self._label} stopped while the request ran"))
            raise
        except Exception as exc:  # noqa: BLE001 - every request of the batch gets the model's error
            _fail(batch, exc)
        else:
            _deliver(batch, outputs)
        finally:
            elapsed = time.perf_counter() - started
            self._queued_rows -= rows
            self._batches += 1
            self._batch_seconds = elapsed if self._batches == 1 else 0.7 * self._batch_seconds + 0.3 * elapsed
            if self.on_batch is not None:
                try:
                    self.on_batch(rows, len(batch), elapsed)
                except Exception:  # noqa: BLE001 - an observer never stops serving
                    _log.exception("on_batch hook of %s failed", self._label)

    def _run(self, frames: list[pd.DataFrame], rows: int) -> Outputs:
        """In the worker thread: one frame, one predict call, outputs checked against the rows."""
        outputs = self._predict(concat_frames(frames))
        for name, value in outputs.items():
            found = np.shape(value)[:1]
            if found != (rows,):
                raise ValueError(
                    f"output {name!r} of {self._label} has {found or 'no'} rows for {rows} input rows"
                )
        return outputs

    def _inline(self, rows: int) -> bool:
        """Whether to predict on the event loop itself: a full batch of a model known to be fast.

        A full batch gains nothing from waiting, and for a model whose batches take under
        :data:`INLINE_SECONDS` the two thread hops cost more than the call blocks the loop.
        """
        return rows >= self._max_rows and self._batches >= 3 and self._batch_seconds < self._inline_seconds

    def _fail_queued(self, exc: BaseException) -> None:
        while self._queue:
            pending = self._queue.popleft()
            self._queued_rows -= pending.rows
            if not pending.future.done():
                pending.future.set_exception(exc)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _fail(batch: list[_Pending], exc: BaseException) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(exc)


def _deliver(batch: list[_Pending], outputs: Outputs) -> None:
    if len(batch) == 1:
        if not batch[0].future.done():
            batch[0].future.set_result(outputs)
        return
    start = 0
    for pending in batch:
        stop = start + pending.rows
        if not pending.future.done():
            pending.future.set_result({name: value[start:stop] for name, value in outputs.items()})
        start = stop
