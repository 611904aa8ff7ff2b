"""A helper process that runs picklable calls beside the main one, to use a second CPU.

Python threads share one interpreter lock, so work such as drawing plots cannot overlap
with storing a model in the same process. :class:`HelperProcess` starts one child
interpreter (``python -m carnet.training._helper_main``) and hands it calls through pipes;
:meth:`~HelperProcess.submit` returns a :class:`~concurrent.futures.Future` at once.

Unlike ``multiprocessing``'s ``spawn``, the child never re-imports the caller's ``__main__``,
so a plain script (no ``if __name__ == "__main__":`` guard) can use it. Start it early: the
child imports what :meth:`~HelperProcess.warm` names while the parent is busy elsewhere.

Calls, arguments and results cross the boundary by pickle between two processes of the same
user; nothing read from storage is unpickled. A call the child cannot run (unpicklable
arguments, a class defined in ``__main__``, the child gone) fails its future with
:class:`HelperUnavailable`; callers then do the work themselves.
"""

from __future__ import annotations

import contextlib
import itertools
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import IO, Any, Self, TypeVar

from carnet.training._helper_main import HEADER, OK, UNAVAILABLE, read_frame, setup, write_frame

__all__ = ["HelperProcess", "HelperUnavailable", "warm_imports"]

T = TypeVar("T")
_CLOSE_SECONDS = 2.0


class HelperUnavailable(RuntimeError):
    """The helper process could not run a call (not started, gone, or unpicklable inputs)."""


def warm_imports(modules: Sequence[str]) -> list[str]:
    """Import ``modules`` (in the helper); the names that failed to import are returned."""
    import importlib

    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - warming is best effort; the real call reports errors
            failed.append(name)
    return failed


class HelperProcess:
    """One child interpreter running submitted calls in order.

    Args:
        warm: modules the child imports first, while the parent goes on.

    Use as a context manager (or call :meth:`close`): closing ends the child at once when
    no call is pending, else waits at most two seconds for the running call before killing
    it. Futures still pending then fail with :class:`HelperUnavailable`.
    """

    in_process = False
    max_workers = 1

    def __init__(self, warm: Sequence[str] = ()) -> None:
        self._pending: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._closed = False
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "carnet.training._helper_main"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._writer = threading.Thread(
            target=self._write_loop, args=(self._proc.stdin,), name="carnet-helper-writer", daemon=True
        )
        self._reader = threading.Thread(
            target=self._read_loop, args=(self._proc.stdout,), name="carnet-helper-reader", daemon=True
        )
        self._writer.start()
        self._reader.start()
        self.submit(setup, list(sys.path))
        if warm:
            self.warm(warm)

    def warm(self, modules: Sequence[str]) -> Future[list[str]]:
        """Have the child import ``modules`` now (the future holds the names that failed)."""
        return self.submit(warm_imports, list(modules))

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Queue ``fn(*args, **kwargs)`` for the child; the arguments are pickled here."""
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        try:
            call_id = next(self._ids)
            body = HEADER.pack(call_id) + pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - e.g. a lambda or an open file
            future.set_exception(HelperUnavailable(f"cannot send {_name(fn)} to the helper: {exc}"))
            return future
        with self._lock:
            if self._closed or self._proc.poll() is not None:
                future.set_exception(HelperUnavailable("the helper process is not running"))
                return future
            self._pending[call_id] = future
        self._outbox.put(body)
        return future

    def close(self) -> None:
        """End the child; pending calls fail with :class:`HelperUnavailable`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._outbox.put(None)
        self._writer.join(_CLOSE_SECONDS)
        with self._lock:
            idle = not self._pending
        if idle:  # nothing left to lose: do not wait for the interpreter's own shutdown
            self._proc.kill()
        try:
            self._proc.wait(_CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(_CLOSE_SECONDS)
        self._fail_pending("the helper process was closed")

    def shutdown(self, kill: bool = False) -> None:
        """Executor-style alias of :meth:`close` (``kill`` ends a running call at once)."""
        if kill and self._proc.poll() is None:
            self._proc.kill()
        self.close()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._proc.pid

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown(kill=exc_type is not None)

    # -- pipes --------------------------------------------------------------------
    def _write_loop(self, stream: IO[bytes]) -> None:
        """Send queued requests; a writer thread keeps ``submit`` from blocking on a full pipe."""
        try:
            while (body := self._outbox.get()) is not None:
                write_frame(stream, body)
        except OSError:
            pass  # the child is gone: the reader fails what is pending
        finally:
            with contextlib.suppress(OSError):
                stream.close()

    def _read_loop(self, stream: IO[bytes]) -> None:
        while (frame := read_frame(stream)) is not None:
            try:
                call_id, status, value = pickle.loads(frame)
            except Exception as exc:  # noqa: BLE001 - a result class the parent cannot import
                self._fail_pending(f"unreadable reply from the helper: {exc}")
                continue
            with self._lock:
                future = self._pending.pop(call_id, None)
            if future is None:
                continue
            if status == OK:
                future.set_result(value)
            elif status == UNAVAILABLE:
                future.set_exception(HelperUnavailable(f"the helper could not run the call: {value}"))
            else:
                future.set_exception(value)
        self._fail_pending("the helper process ended")

    def _fail_pending(self, reason: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(HelperUnavailable(reason))


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__
