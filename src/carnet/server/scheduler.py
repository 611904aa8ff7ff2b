"""Work a server does on a schedule, in a daemon thread: anchoring the audit ledger
(``carnet server --anchor-every``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Periodic", "start_anchoring"]

log = logging.getLogger("carnet.server.scheduler")


class Periodic:
    """Call ``fn`` now and then every ``interval`` seconds in a daemon thread until :meth:`stop`.

    A call that raises is logged and the schedule goes on; calls never overlap.
    """

    def __init__(self, name: str, interval: float, fn: Callable[[], Any]) -> None:
        if not interval > 0:
            raise ValueError("interval must be > 0 seconds")
        self.name = name
        self.interval = interval
        self.runs = 0
        self._fn = fn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"carnet-{name}", daemon=True)

    def start(self) -> Periodic:
        """Start the thread (the first call happens at once)."""
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._fn()
            except Exception:  # noqa: BLE001 - a failed pass is logged; the next one still runs
                log.exception("%s failed", self.name)
            self.runs += 1
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop scheduling and wait for a call in progress to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def start_anchoring(services: Any, interval: float) -> Periodic:
    """Anchor the workspace's ledger at once and then every ``interval`` seconds (skipped while
    nothing but the last anchoring happened).

    The configuration (anchor key, witnesses) is checked first, so a server that cannot anchor
    refuses to start. Each anchoring is logged: failed witnesses as warnings.

    Raises:
        ConfigurationError, InvalidInput: anchoring is not set up.
    """
    services.anchors.check_config()

    def anchor() -> None:
        if services.anchors.idle():
            log.debug("audit ledger unchanged since its last checkpoint: not anchored")
            return
        result = services.anchors.anchor()
        cp = result.checkpoint.checkpoint
        for d in result.deliveries:
            if not d.ok:
                log.warning("audit checkpoint of event %s not stored at %s: %s", cp.seq, d.witness, d.error)
        log.info(
            "audit checkpoint %s of event %s stored at %d of %d witnesses",
            result.checkpoint.digest[:12],
            cp.seq,
            sum(d.ok for d in result.deliveries),
            len(result.deliveries),
        )

    return Periodic("audit-anchoring", interval, anchor).start()
