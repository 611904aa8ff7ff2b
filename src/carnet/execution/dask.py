"""The ``dask`` backend: calls run on a Dask ``distributed`` cluster (a local one, or a scheduler).

``dask:local`` starts a ``LocalCluster`` of worker processes (one thread each) owned by the
executor; ``dask://HOST:PORT`` (or ``tcp://HOST:PORT``) connects to a running scheduler. Dask
is imported only here (extra ``dask``).

A call is a task with ``pure=False`` (every submit runs). A worker that dies mid-task makes the
scheduler run the task elsewhere; on a cluster started here that happens once
(``allowed-failures=1``), after which the task fails with ``KilledWorker``. Dask cannot stop a
running task in its thread, so a cancelled call (deadline, Ctrl-C) is cancelled and, on a
cluster started here, the worker processes running it are restarted by their nanny; on a shared
scheduler the running task is left to finish and its result dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from carnet.execution.base import FuturesExecutor

__all__ = ["DaskExecutor"]

_log = logging.getLogger(__name__)


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run in a Dask worker: ``fn(*args, **kwargs)``."""
    return fn(*args, **kwargs)


class DaskExecutor(FuturesExecutor):
    """Calls as Dask futures; ``address`` None starts a local cluster of ``max_workers`` processes.

    Args:
        address: a scheduler address (``tcp://HOST:PORT``), or None for a local cluster owned here.
        max_workers: worker processes of the local cluster (default: this machine's CPUs), or the
            most calls in flight on a cluster (default: its threads).
        timeout: seconds to wait for the scheduler.
    """

    name = "dask"

    def __init__(
        self, address: str | None = None, max_workers: int | None = None, timeout: float = 10.0
    ) -> None:
        super().__init__()
        import dask
        import distributed

        dist: Any = distributed  # untyped library: its calls are checked by the tests

        from carnet.execution.local import cpu_count

        for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self.address = address or "local"
        self._cluster: Any = None
        if address is None:
            with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
                self._cluster = dist.LocalCluster(
                    n_workers=max_workers or cpu_count(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            self._client: Any = dist.Client(self._cluster, set_as_default=False)
        else:
            self._client = dist.Client(address, timeout=timeout, set_as_default=False)
        threads = sum(self._client.nthreads().values()) or 1
        self.max_workers = max(1, min(max_workers, threads) if max_workers else threads)
        self._futures: dict[Future[Any], Any] = {}

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` of the cluster, for what only Dask's own API does."""
        return self._client

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[Any]:
        remote: Any = self._client.submit(_call, fn, args, kwargs, pure=False)
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            self._futures[future] = remote

        def settle(done: Any) -> None:
            with self._lock:
                self._futures.pop(future, None)
            if future.done():
                return
            try:
                if done.status == "cancelled":
                    from concurrent.futures import CancelledError

                    future.set_exception(CancelledError(f"task {done.key} was cancelled"))
                    return
                exc = done.exception()
                if exc is not None:
                    future.set_exception(exc)
                else:
                    future.set_result(done.result())
            except BaseException as exc:  # noqa: BLE001 - handed back through the future
                if not future.done():
                    future.set_exception(exc)

        remote.add_done_callback(settle)
        return future

    def _cancel(self, futures: list[Future[Any]]) -> None:
        """Cancel the tasks; on a cluster started here, restart the worker processes running any of
        them. A shared scheduler's workers are never restarted (other people's tasks run there):
        a running task finishes and its result is dropped."""
        with self._lock:
            remotes: list[Any] = [self._futures[f] for f in futures if f in self._futures and not f.done()]
        if not remotes:
            return
        keys = {r.key for r in remotes}
        try:
            busy = [w for w, running in self._client.processing().items() if keys & set(running)]
            self._client.cancel(remotes, force=True)
            if busy and self._cluster is not None:
                self._client.restart_workers(busy, raise_for_error=False)
        except Exception as exc:  # noqa: BLE001 - the cluster may be going away
            _log.debug("cancel: %s", exc)
        from concurrent.futures import CancelledError

        for f in futures:
            if not f.done():
                f.set_exception(CancelledError("cancelled"))

    def shutdown(self, kill: bool = False) -> None:
        """Cancel (``kill``) or wait for running tasks; close the client and a cluster started here."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            pending = [f for f in self._futures if not f.done()]
        if kill:
            self._cancel(pending)
        else:
            for future in pending:
                future.exception()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
