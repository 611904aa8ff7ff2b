"""Background batching of the values a run logs: metric values and params.

Durability contract: ``add`` only queues a value in memory. Values are written
in batches by a background thread every ``interval`` seconds (or sooner when
many are queued), and synchronously by ``flush()``, at run end and at
interpreter exit. When ``flush()`` or the end of a run returns, every value
queued before it is committed to the metadata database, so a crash or SIGKILL
afterwards loses none of them; values queued after the last flush may be lost
if the process is killed.

A write that fails for a reason a retry cannot fix (for instance a param that
another process logged with a different value) drops that run's batch and is
raised by the next ``flush()`` or at the run's end; a storage failure keeps the
values queued for the next attempt.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from carnet.domain import Metric
from carnet.errors import CarnetError, StorageError

__all__ = ["MetricBuffer", "Param"]


@dataclass(frozen=True)
class Param:
    """A queued param."""

    key: str
    value: str


Item = Metric | Param
Writer = Callable[[str, Sequence[Metric], dict[str, str]], object]
_LIVE: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()
_ATEXIT_REGISTERED = False


def _flush_all_at_exit() -> None:
    for buf in list(_LIVE):
        try:
            buf.close()
        except Exception:  # noqa: BLE001 - nothing can be reported at exit beyond a warning
            import warnings

            warnings.warn("carnet: some logged values could not be written at exit", stacklevel=1)


def split(items: Sequence[Item]) -> tuple[list[Metric], dict[str, str]]:
    """Metrics (in order) and params of a batch."""
    metrics = [i for i in items if isinstance(i, Metric)]
    params = {i.key: i.value for i in items if isinstance(i, Param)}
    return metrics, params


class MetricBuffer:
    """Queues metric values and params and writes them in batches on a background thread."""

    def __init__(self, write: Writer, interval: float = 1.0, max_pending: int = 20_000) -> None:
        global _ATEXIT_REGISTERED
        self._write = write
        self._interval = max(0.01, interval)
        self._max_pending = max_pending
        self._pending: list[tuple[str, Item]] = []
        self._failed: dict[str, CarnetError] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        _LIVE.add(self)
        if not _ATEXIT_REGISTERED:
            atexit.register(_flush_all_at_exit)
            _ATEXIT_REGISTERED = True

    def add(self, run_id: str, item: Item) -> None:
        """Queue one value (cheap: no I/O on the caller's thread)."""
        with self._lock:
            self._pending.append((run_id, item))
            n = len(self._pending)
        if self._thread is None:
            self._start()
        if n >= self._max_pending:
            self._wake.set()

    def add_many(self, run_id: str, items: Sequence[Item]) -> None:
        """Queue several values."""
        with self._lock:
            self._pending.extend((run_id, m) for m in items)
            n = len(self._pending)
        if self._thread is None:
            self._start()
        if n >= self._max_pending:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Values queued and not yet written."""
        with self._lock:
            return len(self._pending)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._loop, name="carnet-metrics", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # noqa: BLE001 - values stay queued; the next flush() retries and raises
                continue

    def _drain(self) -> None:
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            by_run: dict[str, list[Item]] = {}
            for run_id, item in batch:
                by_run.setdefault(run_id, []).append(item)
            done: set[str] = set()
            try:
                for run_id, items in by_run.items():
                    metrics, params = split(items)
                    try:
                        self._write(run_id, metrics, params)
                    except StorageError:
                        raise
                    except CarnetError as exc:  # a retry cannot fix it: report it, drop the batch
                        self._failed[run_id] = exc
                    done.add(run_id)
            except BaseException:
                with self._lock:  # keep what was not written, in order, for the next attempt
                    self._pending[:0] = [(r, m) for r, m in batch if r not in done]
                raise

    def flush(self) -> None:
        """Write every value queued so far (including any a failed background write kept).

        Raises the error of this write when it fails (storage errors keep the values queued),
        or the error of a batch a background write had to drop.
        """
        self._drain()
        if self._failed:
            run_id = next(iter(self._failed))
            raise self._failed.pop(run_id)

    def take(self, run_id: str) -> list[Item]:
        """Remove and return the values queued for one run (waiting for a write in progress).

        Raises the error of a batch of this run that a background write had to drop.
        """
        with self._write_lock, self._lock:
            if run_id in self._failed:
                raise self._failed.pop(run_id)
            mine = [m for r, m in self._pending if r == run_id]
            if mine:
                self._pending = [(r, m) for r, m in self._pending if r != run_id]
            return mine

    def close(self) -> None:
        """Flush and stop the background thread."""
        try:
            self.flush()
        finally:
            self._closed = True
            self._wake.set()
            _LIVE.discard(self)
