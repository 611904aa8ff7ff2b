"""Background batching of metric values.

Durability contract: ``add`` only queues a value in memory. Values are written
in batches by a background thread every ``interval`` seconds (or sooner when
many are queued), and synchronously by ``flush()``, at run end and at
interpreter exit. When ``flush()`` or the end of a run returns, every value
queued before it is committed to the metadata database, so a crash or SIGKILL
afterwards loses none of them; values queued after the last flush may be lost
if the process is killed.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence

from carnet.domain import Metric

__all__ = ["MetricBuffer"]

Writer = Callable[[str, Sequence[Metric]], object]
_LIVE: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()
_ATEXIT_REGISTERED = False


def _flush_all_at_exit() -> None:
    for buf in list(_LIVE):
        try:
            buf.close()
        except Exception:  # noqa: BLE001 - nothing can be reported at exit beyond a warning
            import warnings

            warnings.warn("carnet: some metric values could not be written at exit", stacklevel=1)


class MetricBuffer:
    """Queues metric values and writes them in batches on a background thread."""

    def __init__(self, write: Writer, interval: float = 1.0, max_pending: int = 20_000) -> None:
        global _ATEXIT_REGISTERED
        self._write = write
        self._interval = max(0.01, interval)
        self._max_pending = max_pending
        self._pending: list[tuple[str, Metric]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        _LIVE.add(self)
        if not _ATEXIT_REGISTERED:
            atexit.register(_flush_all_at_exit)
            _ATEXIT_REGISTERED = True

    def add(self, run_id: str, metric: Metric) -> None:
        """Queue one value (cheap: no I/O on the caller's thread)."""
        with self._lock:
            self._pending.append((run_id, metric))
            n = len(self._pending)
        if self._thread is None:
            self._start()
        if n >= self._max_pending:
            self._wake.set()

    def add_many(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Queue several values."""
        with self._lock:
            self._pending.extend((run_id, m) for m in metrics)
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
            by_run: dict[str, list[Metric]] = defaultdict(list)
            for run_id, m in batch:
                by_run[run_id].append(m)
            done: set[str] = set()
            try:
                for run_id, metrics in by_run.items():
                    self._write(run_id, metrics)
                    done.add(run_id)
            except BaseException:
                with self._lock:  # keep what was not written, in order, for the next attempt
                    self._pending[:0] = [(r, m) for r, m in batch if r not in done]
                raise

    def flush(self) -> None:
        """Write every value queued so far (including any a failed background write kept).

        Raises the error of this write when it fails; the values stay queued for a later attempt.
        """
        self._drain()

    def discard(self, run_id: str) -> int:
        """Drop queued values of one run (used when its writes cannot succeed); returns how many."""
        with self._lock:
            before = len(self._pending)
            self._pending = [(r, m) for r, m in self._pending if r != run_id]
            return before - len(self._pending)

    def close(self) -> None:
        """Flush and stop the background thread."""
        try:
            self.flush()
        finally:
            self._closed = True
            self._wake.set()
            _LIVE.discard(self)
