"""The execution seam: what every backend (local processes, Ray, Dask) offers its callers.

An :class:`Executor` is ``concurrent.futures``-shaped (``submit`` / ``map`` / ``shutdown``) plus
two streaming calls carnet's work needs:

- :meth:`Executor.map_unordered` takes items lazily (so a generator may adapt to results, as
  Optuna's ``ask`` does), keeps at most ``max_in_flight`` running, honours a deadline by killing
  what still runs, and retries once an item whose worker died;
- :meth:`Executor.map_batches` applies a function to every batch of a :class:`BatchSource`
  (a dataset version or a file) and yields the results in the source's order, with at most a
  bounded number of partitions in flight, so the driver's memory stays flat in the number of rows.

:class:`FuturesExecutor` implements both over ``concurrent.futures.Future`` objects for the
backends that run work elsewhere; a backend supplies ``_submit``, ``_cancel`` and ``_lost``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

__all__ = [
    "BatchSource",
    "DeadlineExceeded",
    "Executor",
    "FuturesExecutor",
    "HeldBytes",
    "Part",
    "apply_part",
    "check_batch_rows",
    "nbytes",
]

T = TypeVar("T")
R = TypeVar("R")


class DeadlineExceeded(TimeoutError):
    """Yielded by :meth:`Executor.map_unordered` for an item still running at the deadline."""


@dataclass(frozen=True)
class Part:
    """One unit of a :class:`BatchSource`: ``rows`` rows read by ``read()`` where the work runs.

    ``index`` is the part's position in the source and ``offset`` the number of its first row;
    ``read`` is a picklable callable that yields
    the part's record batches (a worker reading its row groups from the workspace's store), or
    ``batches`` holds them already (read by the driver, e.g. from a CSV stream).
    """

    index: int
    rows: int
    read: Callable[[], Iterable[Any]] | None = None
    batches: tuple[Any, ...] = ()
    nbytes: int = 0
    offset: int = 0

    def record_batches(self) -> Iterable[Any]:
        """The part's Arrow record batches (read now when the part carries a reader)."""
        return self.read() if self.read is not None else self.batches


@runtime_checkable
class BatchSource(Protocol):
    """A table streamed in parts: ``parts(batch_rows)`` yields :class:`Part` objects lazily."""

    rows: int | None

    def parts(self, batch_rows: int) -> Iterator[Part]:
        """The parts, in order; each holds or reads at most about ``batch_rows`` rows per batch."""
        ...


def apply_part(fn: Callable[[Any, int], R], part: Part) -> list[R]:
    """``fn(batch, offset)`` for each record batch of ``part``, in order, ``offset`` being the
    number of the batch's first row in the source (runs where the work runs)."""
    out = []
    offset = part.offset
    for batch in part.record_batches():
        out.append(fn(batch, offset))
        offset += batch.num_rows
    return out


class HeldBytes:
    """What the driver holds of a stream: parts read here and results not yet consumed."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def add(self, n: int) -> None:
        """Count ``n`` more bytes held."""
        self.now += n
        self.peak = max(self.peak, self.now)

    def sub(self, n: int) -> None:
        """Count ``n`` bytes released."""
        self.now -= n


def nbytes(value: Any) -> int:
    """The Arrow/NumPy/pandas size of ``value`` (0 when it has none)."""
    size = getattr(value, "nbytes", None)
    if isinstance(size, int):
        return size
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(nbytes(v) for v in value)
    return 0


def check_batch_rows(batch_rows: Any) -> int:
    """``batch_rows`` when it is a positive integer, else InvalidInput naming ``batch_rows``."""
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        from carnet.errors import InvalidInput

        raise InvalidInput(f"batch_rows must be a positive integer, got {batch_rows!r}", field="batch_rows")
    return int(batch_rows)


def expired(deadline: float | None) -> bool:
    """Whether ``deadline`` (a :func:`time.monotonic` value) has passed."""
    return deadline is not None and time.monotonic() >= deadline


def outcome(future: Future[Any]) -> Any:
    """A done future's result, or the exception it holds."""
    exc = future.exception()
    return exc if exc is not None else future.result()


@runtime_checkable
class Executor(Protocol):
    """Runs functions somewhere and hands back futures: local processes, a Ray or a Dask cluster.

    ``in_process`` tells callers whether ``fn`` runs in the calling process (so it may use
    unpicklable objects such as an Optuna trial); ``max_workers`` is how many calls run at once;
    ``name`` is the backend (``local``, ``ray``, ``dask``) as recorded on runs.
    """

    name: str
    in_process: bool
    max_workers: int

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Schedule ``fn(*args, **kwargs)``; the future holds its result or exception."""
        ...

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]:
        """Like :meth:`concurrent.futures.Executor.map`: results in the order of the inputs."""
        ...

    def map_unordered(
        self,
        fn: Callable[[T], Any],
        items: Iterable[T],
        *,
        deadline: float | None = None,
        max_in_flight: int | None = None,
    ) -> Iterator[tuple[T, Any]]:
        """Yield ``(item, fn(item) or the exception it raised)`` as results arrive.

        ``items`` is consumed lazily: the next item is taken only when a slot is free and after
        the consumer has processed the previous yield. Once ``deadline`` has passed, no further
        item is taken, calls still running are cancelled (killed where the backend can) and
        yielded with a :class:`DeadlineExceeded`. Closing the iterator early cancels the rest.
        """
        ...

    def map_batches(
        self,
        fn: Callable[[Any, int], R],
        source: BatchSource,
        batch_rows: int,
        *,
        max_in_flight: int | None = None,
        progress: Callable[[int], None] | None = None,
        held: HeldBytes | None = None,
    ) -> Iterator[R]:
        """``fn(record_batch, offset)`` for every batch of ``source``, yielded in the source's order.

        At most ``max_in_flight`` parts (default twice ``max_workers``) are read or running at
        once; ``progress(rows)`` is called with the rows of each finished part; ``held`` counts
        the bytes the driver holds (parts it read, results waiting for their turn). The first
        error raised by ``fn`` or a reader stops the work and is raised here.
        """
        ...

    def shutdown(self, kill: bool = False) -> None:
        """Release the workers: wait for running calls, or terminate them when ``kill``."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ExecutorBase:
    """Context-manager behaviour and the ordered calls shared by every executor."""

    name = "local"
    in_process = False
    max_workers = 1

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:  # pragma: no cover
        raise NotImplementedError

    def map_unordered(
        self,
        fn: Callable[[T], Any],
        items: Iterable[T],
        *,
        deadline: float | None = None,
        max_in_flight: int | None = None,
    ) -> Iterator[tuple[T, Any]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def shutdown(self, kill: bool = False) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # on an error (including Ctrl-C) do not wait for running work
        self.shutdown(kill=exc_type is not None)

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]:
        """Results in input order; the first exception is raised when its turn comes."""
        futures = [self.submit(fn, *args) for args in zip(*iterables, strict=False)]

        def results() -> Iterator[T]:
            try:
                for future in futures:
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()

        return results()

    def map_batches(
        self,
        fn: Callable[[Any, int], R],
        source: BatchSource,
        batch_rows: int,
        *,
        max_in_flight: int | None = None,
        progress: Callable[[int], None] | None = None,
        held: HeldBytes | None = None,
    ) -> Iterator[R]:
        """See :meth:`Executor.map_batches`."""
        from functools import partial

        check_batch_rows(batch_rows)
        gauge = held if held is not None else HeldBytes()

        def taken() -> Iterator[Part]:
            for part in source.parts(batch_rows):
                gauge.add(part.nbytes)
                yield part

        if self.in_process:
            for part in taken():
                offset = part.offset
                for batch in part.record_batches():
                    size = nbytes(batch)
                    gauge.add(size)
                    result = fn(batch, offset)
                    offset += batch.num_rows
                    gauge.add(nbytes(result))
                    gauge.sub(size)
                    yield result
                    gauge.sub(nbytes(result))
                gauge.sub(part.nbytes)
                if progress is not None:
                    progress(part.rows)
            return
        limit = max(1, max_in_flight or 2 * self.max_workers)
        waiting: dict[int, tuple[Part, list[R]]] = {}
        next_index = 0
        results = self.map_unordered(partial(apply_part, fn), taken(), max_in_flight=limit)
        try:
            for part, result in results:
                if isinstance(result, BaseException):
                    raise result
                gauge.sub(part.nbytes)
                gauge.add(nbytes(result))
                waiting[part.index] = (part, result)
                while next_index in waiting:
                    done, values = waiting.pop(next_index)
                    next_index += 1
                    for value in values:
                        yield value
                        gauge.sub(nbytes(value))
                    if progress is not None:
                        progress(done.rows)
        finally:
            close = getattr(results, "close", None)
            if callable(close):
                close()


class FuturesExecutor(ExecutorBase):
    """:meth:`map_unordered` over ``concurrent.futures.Future`` objects, for out-of-process backends.

    A backend implements ``_submit`` (schedule and hand back a future), ``_cancel`` (cancel queued
    futures and kill the workers running the others) and ``_lost`` (whether an exception means the
    worker died, not the function failed: such an item is retried once).
    """

    in_process = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[Any]:
        raise NotImplementedError  # pragma: no cover

    def _cancel(self, futures: list[Future[Any]]) -> None:
        raise NotImplementedError  # pragma: no cover

    def _lost(self, exc: BaseException) -> bool:
        return False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Schedule ``fn(*args, **kwargs)`` on a worker."""
        if self._closed:
            raise RuntimeError("cannot submit to an executor after shutdown")
        return self._submit(fn, args, kwargs)

    def map_unordered(
        self,
        fn: Callable[[T], Any],
        items: Iterable[T],
        *,
        deadline: float | None = None,
        max_in_flight: int | None = None,
    ) -> Iterator[tuple[T, Any]]:
        """Up to ``max_in_flight`` (default ``max_workers``) items at once, yielded as they finish."""
        limit = max(1, max_in_flight or self.max_workers)
        iterator = iter(items)
        pending: dict[Future[Any], T] = {}
        retried: set[int] = set()
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < limit and not expired(deadline):
                    try:
                        item = next(iterator)
                    except StopIteration:
                        exhausted = True
                        break
                    pending[self.submit(fn, item)] = item
                if not pending:
                    return
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
                if not done:
                    break
                for future in sorted(done, key=list(pending).index):
                    item = pending.pop(future)
                    result = outcome(future)
                    if isinstance(result, BaseException) and self._lost(result) and id(item) not in retried:
                        retried.add(id(item))  # the worker died under it: run it once more
                        pending[self.submit(fn, item)] = item
                        continue
                    yield item, result
            left = list(pending.items())
            pending.clear()
            self._cancel([future for future, _ in left])
            for _, item in left:
                yield item, DeadlineExceeded("stopped at the deadline before it finished")
        finally:
            if pending:  # the consumer stopped early or raised (Ctrl-C included)
                self._cancel(list(pending))
