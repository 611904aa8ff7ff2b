"""The ``local`` backend: work in the calling process or in a pool of worker processes.

- :class:`InlineExecutor` runs each call in the calling process (``n_jobs == 1``). It cannot
  interrupt a running call: a deadline is checked between calls only.
- :class:`LocalProcessExecutor` runs calls in worker processes started with ``spawn`` (or
  ``forkserver``), never ``fork``: the parent holds background threads (SQLAlchemy pools,
  log buffers, the process pool's own manager thread) and forking a multi-threaded process
  copies locks in whatever state those threads left them, which deadlocks children at
  random. ``spawn`` starts a clean interpreter; the price is that workers import what they
  need (a second or two) and that scripts need the usual ``if __name__ == "__main__":`` guard.
  ``shutdown(kill=True)`` and an expired ``deadline`` terminate the worker processes, so a time
  budget is honoured within seconds even when a trial is in the middle of a C-level ``fit``
  that no thread or signal could interrupt; the pool is recreated on the next ``submit``. An
  item whose worker was killed is run once more before it is reported failed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from carnet.errors import InvalidInput
from carnet.execution.base import ExecutorBase, FuturesExecutor, expired, outcome

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["InlineExecutor", "LocalProcessExecutor", "cpu_count", "executor_for"]

T = TypeVar("T")

#: thread-count variables of the native libraries (OpenMP, OpenBLAS, MKL) set in each worker
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_JOIN_SECONDS = 2.0


def executor_for(n_jobs: int | None) -> InlineExecutor | LocalProcessExecutor:
    """The local executor for ``n_jobs``: inline for None/1, a process pool otherwise (-1 = all CPUs)."""
    if n_jobs is None or n_jobs == 1:
        return InlineExecutor()
    if n_jobs == -1:
        return LocalProcessExecutor()
    if n_jobs < 1:
        raise InvalidInput(f"n_jobs must be a positive number or -1, got {n_jobs}", field="n_jobs")
    return LocalProcessExecutor(n_jobs)


class InlineExecutor(ExecutorBase):
    """Runs every call immediately in the calling process (no pickling, no parallelism)."""

    name = "local"
    in_process = True
    max_workers = 1

    def __init__(self) -> None:
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn`` now; the returned future is already done."""
        if self._closed:
            raise RuntimeError("cannot submit to an executor after shutdown")
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed back through the future
            future.set_exception(exc)
        return future

    def map_unordered(
        self,
        fn: Callable[[T], Any],
        items: Iterable[T],
        *,
        deadline: float | None = None,
        max_in_flight: int | None = None,
    ) -> Iterator[tuple[T, Any]]:
        """One item at a time, in order; the deadline is checked before taking each item."""
        iterator = iter(items)
        while not expired(deadline):
            try:
                item = next(iterator)
            except StopIteration:
                return
            yield item, outcome(self.submit(fn, item))

    def shutdown(self, kill: bool = False) -> None:
        """Nothing runs in the background; later submits are refused."""
        self._closed = True


def _init_worker(threads: int) -> None:
    """Worker-process initializer: cap native thread pools so workers do not oversubscribe CPUs."""
    for name in _THREAD_ENV:
        os.environ.setdefault(name, str(threads))


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class LocalProcessExecutor(FuturesExecutor):
    """A pool of ``max_workers`` worker processes (``spawn``/``forkserver``) that can be killed.

    Args:
        max_workers: worker processes; None = the CPUs available to this process.
        start_method: ``spawn`` (default) or ``forkserver``; ``fork`` is refused (see module doc).
        threads_per_worker: native threads per worker (OpenMP/BLAS); None = CPUs / workers.
            A variable already set in the environment wins.

    Functions, arguments and results cross a process boundary: they must be picklable, and
    functions must be importable by module and name. A running call cannot be stopped alone:
    cancelling one (deadline, early close, ``shutdown(kill=True)``) terminates every worker, so
    use one executor per search. A pool broken by a dead worker is replaced on the next submit.
    """

    name = "local"
    in_process = False

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        start_method: str = "spawn",
        threads_per_worker: int | None = None,
    ) -> None:
        if start_method not in ("spawn", "forkserver"):
            raise InvalidInput(
                f"start method {start_method!r} is not allowed: use 'spawn' or 'forkserver' "
                "(fork deadlocks with a multi-threaded parent)",
                field="start_method",
            )
        if max_workers is not None and max_workers < 1:
            raise InvalidInput(f"max_workers must be at least 1, got {max_workers}", field="max_workers")
        self.max_workers = max_workers or cpu_count()
        self.start_method = start_method
        self.threads_per_worker = threads_per_worker or max(1, cpu_count() // self.max_workers)
        self._pool: ProcessPoolExecutor | None = None
        super().__init__()

    def _get_pool(self) -> ProcessPoolExecutor:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self._closed:
            raise RuntimeError("cannot submit to an executor after shutdown")
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.max_workers,
                mp_context=multiprocessing.get_context(self.start_method),
                initializer=_init_worker,
                initargs=(self.threads_per_worker,),
            )
        return self._pool

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[Any]:
        """Schedule ``fn`` in a worker; a pool broken by a dead worker is replaced first."""
        from concurrent.futures.process import BrokenProcessPool

        with self._lock:
            try:
                return self._get_pool().submit(fn, *args, **kwargs)
            except BrokenProcessPool:
                self._kill_pool()
                return self._get_pool().submit(fn, *args, **kwargs)

    def _lost(self, exc: BaseException) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(exc, BrokenProcessPool)

    def _cancel(self, futures: list[Future[Any]]) -> None:
        """Cancel queued futures; if any is already running, kill the workers (pool recreated later)."""
        running = [future for future in futures if not future.cancel() and not future.done()]
        if running:
            with self._lock:
                self._kill_pool()

    def _kill_pool(self) -> None:
        """Terminate the worker processes now (SIGTERM, then SIGKILL) and forget the pool."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # ProcessPoolExecutor gains terminate_workers() in Python 3.14; until then its process
        # table is the only handle on the workers. Copy it first: shutdown() clears it.
        processes = list(dict(getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(_JOIN_SECONDS)
            if process.is_alive():  # pragma: no cover - ignored SIGTERM
                process.kill()
                process.join(_JOIN_SECONDS)

    def shutdown(self, kill: bool = False) -> None:
        """Wait for running calls and stop the workers, or terminate them at once when ``kill``."""
        with self._lock:
            self._closed = True
            if kill:
                self._kill_pool()
            elif self._pool is not None:
                pool, self._pool = self._pool, None
                pool.shutdown(wait=True)

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (empty before the first submit)."""
        pool = self._pool
        processes = dict(getattr(pool, "_processes", None) or {}) if pool is not None else {}
        return [pid for pid, process in processes.items() if process.is_alive()]
