"""Prometheus metrics of ``carnet server``: requests by route, database timings, background jobs and
the latest result of every monitor, served at ``GET /metrics``.

- Requests are counted by route *template* (``/api/v1/runs/{run_id}``), method and status: a path
  never becomes a label, so callers cannot create series. A path no route matches is
  ``__unmatched__``.
- Database statements are timed by SQLAlchemy's cursor events on the workspace's engine, by kind
  (select, insert, update, delete, other); the listeners go when the metrics object does.
- Background jobs are the operations answered with an NDJSON event stream (train, AutoML, evaluate,
  reproduce, derive ...): their ``queued``, ``started``, ``result`` and ``error`` events are read as
  they pass, so a job is counted as it runs, succeeds, fails or is cancelled (its client went away).
- Monitors are read from the database when Prometheus scrapes, at most once per ``monitor_ttl``
  seconds (default 5): the same ``carnet_monitor_*`` gauges as ``carnet serve``, for every monitor
  of the workspace, plus ``carnet_monitor_info`` and ``carnet_monitor_alerts``.

``/metrics`` answers without a token when the server runs without authentication (loopback). When
authentication is on it needs a token with at least ``viewer`` on every project (``*``): the
gauges name the models, monitors and input columns of every project. It never shows data values,
users, tokens or paths. The names are listed in :data:`carnet.reports.metric_catalogue.METRICS`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carnet.domain.auth import Principal
from carnet.errors import CarnetError, Unauthenticated
from carnet.operations import OPERATIONS
from carnet.server.metrics import ServingMetrics

__all__ = [
    "DEFAULT_MONITOR_TTL",
    "JOB_OPERATIONS",
    "METRICS_PATH",
    "ApiMetrics",
    "MetricsMiddleware",
    "MonitorCollector",
    "install_metrics",
]

log = logging.getLogger("carnet.server.metrics")

#: where the exposition is served
METRICS_PATH = "/metrics"
#: seconds a scrape reuses the monitor gauges read by the previous one
DEFAULT_MONITOR_TTL = 5.0
#: the operations whose answer is a job's event stream
JOB_OPERATIONS = frozenset(op.name for op in OPERATIONS if op.returns == "stream")
#: the ``route`` label of a request no route matched
UNMATCHED = "__unmatched__"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATEMENTS = ("select", "insert", "update", "delete")
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_DB = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_JOBS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
_STARTED = "_carnet_started"
_WRITE = re.compile(r"\b(insert|update|delete)\b")


class ApiMetrics:
    """The REST server's metrics, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "carnet_server_requests",
            "REST API and web UI requests by route template, method and status",
            ("route", "method", "status"),
            registry=r,
        )
        self.latency = Histogram(
            "carnet_server_request_seconds",
            "Time from request to the end of the response",
            ("route", "method"),
            buckets=_LATENCY,
            registry=r,
        )
        self.in_flight = Gauge("carnet_server_requests_in_flight", "Requests being answered", registry=r)
        self.db_seconds = Histogram(
            "carnet_db_query_seconds",
            "Metadata database statements by kind",
            ("operation",),
            buckets=_DB,
            registry=r,
        )
        self.db_errors = Counter(
            "carnet_db_query_errors", "Database statements that failed", ("operation",), registry=r
        )
        self.jobs = Counter(
            "carnet_server_jobs",
            "Background jobs that ended, by outcome",
            ("operation", "outcome"),
            registry=r,
        )
        self.job_seconds = Histogram(
            "carnet_server_job_seconds",
            "Run time of a background job",
            ("operation",),
            buckets=_JOBS,
            registry=r,
        )
        self.jobs_running = Gauge(
            "carnet_server_jobs_running", "Background jobs running now", ("operation",), registry=r
        )
        self.jobs_queued = Gauge(
            "carnet_server_jobs_queued", "Background jobs waiting for a slot", ("operation",), registry=r
        )
        self.monitor_read_errors = Counter(
            "carnet_monitor_read_errors",
            "Scrapes whose monitor gauges could not be read from the database",
            registry=r,
        )

    def watch_engine(self, engine: Any) -> None:
        """Time every statement ``engine`` executes (until this object is garbage collected)."""
        from sqlalchemy import event

        ref = weakref.ref(self)

        def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            if context is not None:
                setattr(context, _STARTED, time.perf_counter())

        def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            started = getattr(context, _STARTED, None)
            metrics = ref()
            if metrics is not None and started is not None:
                metrics.db_seconds.labels(statement_kind(statement)).observe(time.perf_counter() - started)

        def failed(exception_context: Any) -> None:
            metrics = ref()
            if metrics is not None:
                metrics.db_errors.labels(statement_kind(exception_context.statement or "")).inc()

        listeners = (
            ("before_cursor_execute", before),
            ("after_cursor_execute", after),
            ("handle_error", failed),
        )
        for name, fn in listeners:
            event.listen(engine, name, fn)
        weakref.finalize(self, _unlisten, engine, listeners)

    def watch_monitors(self, services: Any, ttl: float = DEFAULT_MONITOR_TTL) -> MonitorCollector:
        """Export the latest result of every monitor of ``services``' workspace."""
        collector = MonitorCollector(services, ttl=ttl, on_error=self.monitor_read_errors.inc)
        self.registry.register(collector)
        return collector

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The body and content type of a scrape (OpenMetrics when the scraper asks for it)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def _unlisten(engine: Any, listeners: Iterable[tuple[str, Callable[..., Any]]]) -> None:
    from sqlalchemy import event

    for name, fn in listeners:
        if event.contains(engine, name, fn):
            event.remove(engine, name, fn)


def statement_kind(statement: str) -> str:
    """``select``, ``insert``, ``update``, ``delete`` or ``other`` (DDL, PRAGMA, ...)."""
    text = statement.lstrip(" \t\r\n(")
    word = text.split(None, 1)[0].lower() if text else ""
    if word == "with":  # a common table expression: a write when it leads to one
        write = _WRITE.search(text.lower())
        word = write.group(1) if write else "select"
    return word if word in _STATEMENTS else "other"


class MonitorCollector(Collector):
    """The ``carnet_monitor_*`` gauges, read from the database at scrape time (cached ``ttl`` s).

    The per-monitor values are the same families, labels and metric names ``carnet serve``
    exports (:meth:`carnet.server.metrics.ServingMetrics.set_monitors` fills them), so one
    dashboard reads either process.
    """

    def __init__(
        self,
        services: Any,
        *,
        ttl: float = DEFAULT_MONITOR_TTL,
        on_error: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.services = services
        self.ttl = ttl
        self.on_error = on_error
        self.clock = clock
        self._gauges = ServingMetrics()  # a private registry: only its monitor gauges are read
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._families: list[Metric] = []

    def describe(self) -> Iterable[Metric]:
        """Nothing to check at registration (the families are read when scraped)."""
        return []

    def collect(self) -> Iterable[Metric]:
        """The monitor gauges, read again once the cached ones are older than ``ttl``."""
        with self._lock:
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.ttl:
                try:
                    self._families = self._read()
                except Exception as exc:  # noqa: BLE001 - a scrape never fails for the monitors
                    log.warning("reading monitors for /metrics failed: %s: %s", type(exc).__name__, exc)
                    self._families = []
                    if self.on_error is not None:
                        self.on_error()
                self._read_at = now
            return list(self._families)

    def _read(self) -> list[Metric]:
        latest = self.services.monitoring.latest()
        alerts = self.services.alerts.list(status=["open", "acknowledged"])
        g = self._gauges
        g.set_monitors(latest)
        info = GaugeMetricFamily(
            "carnet_monitor_info", "1 per monitor, naming its model", labels=("monitor", "model")
        )
        for entry in latest:
            info.add_metric((str(entry["monitor"]), str(entry["model"])), 1)
        counts: dict[tuple[str, str, str], int] = {}
        for a in alerts:
            key = (str(a.monitor), str(a.rule), str(a.status))
            counts[key] = counts.get(key, 0) + 1
        by_rule = GaugeMetricFamily(
            "carnet_monitor_alerts",
            "Open and acknowledged alerts by rule and status",
            labels=("monitor", "rule", "status"),
        )
        for key, count in sorted(counts.items()):
            by_rule.add_metric(key, count)
        return [
            *g.monitor_value.collect(),
            *g.monitor_drift.collect(),
            *g.monitor_alerts.collect(),
            info,
            by_rule,
        ]


class _Job:
    """One background job followed through the events of its stream."""

    def __init__(self, metrics: ApiMetrics, operation: str) -> None:
        self.metrics, self.operation = metrics, operation
        self.queued = False
        self.started: float | None = None
        self.outcome: str | None = None
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._event(_event_of(line))

    def _event(self, event: str | None) -> None:
        m, op = self.metrics, self.operation
        if event == "queued" and not self.queued and self.started is None:
            self.queued = True
            m.jobs_queued.labels(op).inc()
        elif event == "started" and self.started is None:
            self._unqueue()
            self.started = time.perf_counter()
            m.jobs_running.labels(op).inc()
        elif event in ("result", "error") and self.outcome is None:
            self.outcome = "succeeded" if event == "result" else "failed"

    def _unqueue(self) -> None:
        if self.queued:
            self.queued = False
            self.metrics.jobs_queued.labels(self.operation).dec()

    def close(self) -> None:
        """The stream ended: count the job (cancelled when it ended without a result or an error)."""
        if self._partial:
            self._event(_event_of(self._partial))
            self._partial = b""
        self._unqueue()
        m, op = self.metrics, self.operation
        if self.started is not None:
            m.jobs_running.labels(op).dec()
            m.job_seconds.labels(op).observe(time.perf_counter() - self.started)
        m.jobs.labels(op, self.outcome or "cancelled").inc()


def _event_of(line: bytes) -> str | None:
    """The ``event`` of one NDJSON line of a job stream (None for anything else)."""
    line = line.strip()
    prefix = b'{"event":"'
    if line.startswith(prefix):  # the event comes first: no need to parse a large result
        end = line.find(b'"', len(prefix))
        return line[len(prefix) : end].decode() if end > 0 else None
    try:
        found = json.loads(line)
    except ValueError:
        return None
    return found.get("event") if isinstance(found, dict) and isinstance(found.get("event"), str) else None


def _route(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


class MetricsMiddleware:
    """ASGI middleware: count and time every HTTP request, follow job streams, serve ``/metrics``."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        m = self.metrics
        scraped = scope["path"] == METRICS_PATH
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        started, status = time.perf_counter(), 500
        job: _Job | None = None
        recorded = False

        def record() -> None:
            # once, before the last byte leaves: a client that has its answer finds it counted
            nonlocal recorded
            if recorded:
                return
            recorded = True
            if job is not None:
                job.close()
            route = METRICS_PATH if scraped else _route(scope)
            m.requests.labels(route, method, str(status)).inc()
            m.latency.labels(route, method).observe(time.perf_counter() - started)

        async def observed(message: Message) -> None:
            nonlocal status, job
            if message["type"] == "http.response.start":
                status = int(message["status"])
                name = getattr(scope.get("route"), "name", None)
                if name in JOB_OPERATIONS and status == 200:
                    job = _Job(m, str(name))
            elif message["type"] == "http.response.body":
                if job is not None:
                    job.feed(message.get("body", b""))
                if not message.get("more_body", False):
                    record()
            await send(message)

        m.in_flight.inc()
        try:
            if scraped:
                await self._scrape(scope, receive, observed)
            else:
                await self.app(scope, receive, observed)
        finally:
            m.in_flight.dec()
            record()

    async def _scrape(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if scope["method"] not in ("GET", "HEAD"):
            response = _problem(
                405, "GET /metrics is the only method here", "InvalidInput", None, {"Allow": "GET, HEAD"}
            )
        else:
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []
            }
            state = getattr(scope["app"].state, "carnet", None)
            try:
                if state is not None and state.require_auth:
                    await asyncio.to_thread(_authorize, state, headers.get("authorization"))
            except CarnetError as exc:
                from carnet.server.api.errors import status_for

                extra = (
                    {"WWW-Authenticate": 'Bearer realm="carnet"'}
                    if isinstance(exc, Unauthenticated)
                    else None
                )
                response = _problem(status_for(exc), exc.message, type(exc).__name__, exc.field, extra)
            else:
                body, content_type = await asyncio.to_thread(self.metrics.exposition, headers.get("accept"))
                response = Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
        await response(scope, receive, send)


def _problem(
    status: int, detail: str, error: str, field: str | None, headers: dict[str, str] | None
) -> Response:
    from carnet.server.api.errors import problem_response

    return problem_response(status, detail, error=error, field=field, instance=METRICS_PATH, headers=headers)


def _authorize(state: Any, header: str | None) -> None:
    """Let a scrape of a server that requires authentication through when its token's user is at
    least ``viewer`` on every project (the API's :class:`~carnet.server.api.auth.ApiState`).

    Raises:
        Unauthenticated: no token, a malformed header or a token that is not valid.
        PermissionDenied: the user is not ``viewer`` on every project.
    """
    from carnet.server.api.auth import bearer_token

    token = bearer_token(header, " of a user who is viewer on every project ('*') for /metrics")
    principal = state.auth.authenticate(token)
    if not isinstance(principal, Principal):
        raise Unauthenticated("the token is not valid", field="authorization")
    state.auth.require(principal, None, "viewer")


def install_metrics(app: Any, services: Any, *, monitor_ttl: float = DEFAULT_MONITOR_TTL) -> ApiMetrics:
    """Give ``app`` (the REST API's FastAPI app) its metrics and ``GET /metrics``.

    ``services`` None (an app built only to list its routes) times requests only.
    """
    metrics = ApiMetrics()
    if services is not None:
        engine = getattr(services.ctx.store, "engine", None)
        if engine is not None:
            metrics.watch_engine(engine)
        metrics.watch_monitors(services, ttl=monitor_ttl)
    app.state.prometheus = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return metrics
