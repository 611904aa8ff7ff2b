"""The ``ray`` backend: calls run as Ray tasks on a local Ray instance or an existing cluster.

``ray:local`` starts a Ray instance on this machine owned by the executor (stopped by
``shutdown``); ``ray://HOST:PORT`` connects to a running cluster through the Ray Client. Ray is
imported only here, when such an executor is opened (extra ``ray``).

Each call is a task of one CPU. A task whose worker process dies is retried once by Ray
(``max_retries=1``); a cancelled call (deadline, Ctrl-C, closing a stream early) is stopped with
``ray.cancel(force=True)``, which kills the worker running it. Functions and arguments travel
by pickle (cloudpickle); carnet hands workers references to data (a dataset digest and the
workspace's artifact store), never whole tables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from carnet.execution.base import FuturesExecutor

__all__ = ["RayExecutor"]

_log = logging.getLogger(__name__)
_REMOTE: Any = None


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run in a Ray worker: ``fn(*args, **kwargs)``."""
    return fn(*args, **kwargs)


def _remote() -> Any:
    global _REMOTE
    if _REMOTE is None:
        import ray

        _REMOTE = ray.remote(num_cpus=1, max_retries=1)(_call)
    return _REMOTE


class RayExecutor(FuturesExecutor):
    """Calls as Ray tasks; ``address`` None starts a local instance of ``max_workers`` CPUs.

    Args:
        address: ``ray://HOST:PORT`` (Ray Client), or None for a local instance owned here.
        max_workers: CPUs of the local instance (default: this machine's), or the most calls
            in flight on a cluster (default: the cluster's CPUs).
    """

    name = "ray"

    def __init__(self, address: str | None = None, max_workers: int | None = None) -> None:
        super().__init__()
        import ray

        self.address = address or "local"
        self._owned = not ray.is_initialized()
        if self._owned:
            options: dict[str, Any] = {
                "include_dashboard": False,
                "configure_logging": False,
                "log_to_driver": True,
            }
            if address is None:
                if max_workers is not None:
                    options["num_cpus"] = max_workers
                ray.init(**options)
            else:
                ray.init(address=address, **options)
        api: Any = ray
        cpus = int(api.cluster_resources().get("CPU", 1))
        self.max_workers = max(1, min(max_workers, cpus) if max_workers else cpus)
        self._refs: dict[Future[Any], Any] = {}

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[Any]:
        ref = _remote().remote(fn, args, kwargs)
        future: Future[Any] = ref.future()
        with self._lock:
            self._refs[future] = ref
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._refs.pop(future, None)

    def _cancel(self, futures: list[Future[Any]]) -> None:
        """Cancel the tasks; a running one is stopped by killing its worker process."""
        import ray

        for future in futures:
            with self._lock:
                ref = self._refs.get(future)
            if ref is not None and not future.done():
                try:
                    ray.cancel(ref, force=True)
                except Exception as exc:  # noqa: BLE001 - a task that ended meanwhile
                    _log.debug("cancel %s: %s", ref, exc)

    def _lost(self, exc: BaseException) -> bool:
        return False  # Ray retries a task whose worker died itself (max_retries=1)

    def shutdown(self, kill: bool = False) -> None:
        """Cancel (``kill``) or wait for running tasks; stop the local instance this executor started."""
        import ray

        if self._closed:
            return
        self._closed = True
        with self._lock:
            pending = [f for f in self._refs if not f.done()]
        if kill:
            self._cancel(pending)
        else:
            for future in pending:
                future.exception()
        if self._owned and ray.is_initialized():
            ray.shutdown()
