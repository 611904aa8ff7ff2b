"""Lean HTTP/1.1 load generator of ``benchmarks/bench_serving.py``.

One process, one event loop (uvloop when installed), raw asyncio streams: each client holds
one keep-alive connection and sends pre-encoded requests (the bytes are built before the
timed part, so no JSON is encoded while timing). A response is read by its ``Content-Length``
(or chunked encoding); a server that answers ``Connection: close`` gets a new connection for
the next request (not an error). Each phase records the latency of every request (write of the
request to the last byte of the response), its status, the wall time and the CPU time this
process used, so that the client's own cost can be reported next to the figures.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PhaseResult", "http_request", "run_phase", "send_one"]


def http_request(
    host: str,
    port: int,
    path: str,
    body: bytes,
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The raw bytes of one HTTP/1.1 keep-alive request with a JSON body (or the ``Content-Type``
    of ``headers``, which are sent too: the ``Inference-Header-Content-Length`` of binary tensors)."""
    fields = {"Content-Type": "application/json", **(headers or {})}
    extra = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: carnet-bench\r\n"
        f"Accept: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + body


@dataclass
class PhaseResult:
    """What one phase measured."""

    requests: int
    concurrency: int
    wall_seconds: float
    client_cpu_seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    statuses: Counter[int] = field(default_factory=Counter)  # 0 = connection error
    error_samples: list[str] = field(default_factory=list)
    capped: bool = False  # stopped by the time limit before sending all the requests asked for

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def errors(self) -> int:
        return self.requests - self.ok

    @property
    def rps(self) -> float:
        """Successful responses per second of wall time."""
        return self.ok / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        """Latency percentile (nearest rank), in seconds."""
        if not self.latencies:
            return None
        xs = sorted(self.latencies)
        k = max(0, math.ceil(q / 100 * len(xs)) - 1)
        return xs[k]

    @property
    def client_cpu_us_per_request(self) -> float:
        return 1e6 * self.client_cpu_seconds / max(self.requests, 1)

    @property
    def client_cpu_share(self) -> float:
        """CPU time of the load generator over wall time (1.0 = one core busy)."""
        return self.client_cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        p50, p99 = self.percentile(50), self.percentile(99)
        return {
            "requests": self.requests,
            "capped": self.capped,
            "concurrency": self.concurrency,
            "ok": self.ok,
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "wall_seconds": self.wall_seconds,
            "req_per_s": self.rps,
            "p50_ms": None if p50 is None else 1000 * p50,
            "p99_ms": None if p99 is None else 1000 * p99,
            "mean_ms": 1000 * sum(self.latencies) / len(self.latencies) if self.latencies else None,
            "client_cpu_us_per_request": self.client_cpu_us_per_request,
            "client_cpu_share": self.client_cpu_share,
            "error_samples": self.error_samples[:5],
        }


class _Conn:
    """One keep-alive connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 24)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        reader = self.reader
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        chunked = close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers expected
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        elif length >= 0:
            body = await reader.readexactly(length)
        else:  # no length: the body ends with the connection
            body = await reader.read()
            close = True
        if close:
            self.close()
        return status, body


async def _phase(
    host: str, port: int, requests: Sequence[bytes], n: int, concurrency: int, max_seconds: float | None
) -> PhaseResult:
    counter = itertools.count()
    sent = 0
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    clock = time.perf_counter
    conns = [_Conn(host, port) for _ in range(concurrency)]
    for c in conns:  # connect before timing: a kept-alive client does not pay it per request
        await c.open()

    async def client(conn: _Conn) -> None:
        nonlocal sent
        m = len(requests)
        while True:
            i = next(counter)
            if i >= n or (deadline is not None and clock() > deadline):
                return
            sent += 1
            t0 = clock()
            try:
                status, body = await conn.send(requests[i % m])
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                conn.close()
                statuses[0] += 1
                if len(errors) < 20:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            dt = clock() - t0
            statuses[status] += 1
            if status == 200:
                latencies.append(dt)
            elif len(errors) < 20:
                errors.append(f"HTTP {status}: {body[:160]!r}")

    cpu0, t0 = time.process_time(), clock()
    deadline = None if max_seconds is None else t0 + max_seconds
    await asyncio.gather(*(client(c) for c in conns))
    wall, cpu = clock() - t0, time.process_time() - cpu0
    for c in conns:
        c.close()
    return PhaseResult(sent, concurrency, wall, cpu, latencies, statuses, errors, capped=sent < n)


def _runner() -> asyncio.Runner:
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        return asyncio.Runner()


def run_phase(
    host: str,
    port: int,
    requests: Sequence[bytes],
    n: int,
    concurrency: int = 1,
    max_seconds: float | None = None,
) -> PhaseResult:
    """Send ``n`` requests (cycling through ``requests``) from ``concurrency`` clients; with
    ``max_seconds``, no new request starts after that time (the phase is then ``capped``)."""
    gc.collect()
    gc.disable()
    try:
        with _runner() as runner:
            return runner.run(_phase(host, port, requests, n, concurrency, max_seconds))
    finally:
        gc.enable()


def send_one(host: str, port: int, raw: bytes) -> tuple[int, bytes]:
    """One request on a new connection (for checks, outside the timed part)."""

    async def go() -> tuple[int, bytes]:
        conn = _Conn(host, port)
        try:
            return await conn.send(raw)
        finally:
            conn.close()

    with _runner() as runner:
        return runner.run(go())
