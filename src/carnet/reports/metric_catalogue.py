"""THE catalogue of the Prometheus metrics carnet exports on ``/metrics``.

:data:`METRICS` lists what ``carnet serve`` and ``carnet server`` expose (name, type, labels,
meaning, which process). The Grafana dashboards of :mod:`carnet.reports.grafana` and the alerting
rules of :mod:`carnet.reports.prometheus_rules` query only these names, ``carnet ops metrics``
prints them, and a test checks them against what both servers really export.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["METRICS", "Metric", "metric"]


@dataclass(frozen=True)
class Metric:
    """One metric family on ``/metrics``.

    ``name`` is what PromQL names: counters with their ``_total``, histograms without the
    ``_bucket``/``_sum``/``_count`` suffixes. ``exporters`` says which processes expose it:
    ``serve`` (the inference server) and/or ``server`` (the REST API server).
    """

    name: str
    kind: str  # counter | gauge | histogram
    labels: tuple[str, ...]
    help: str
    exporters: tuple[str, ...]

    @property
    def series(self) -> tuple[str, ...]:
        """The names a query may use for this family."""
        if self.kind == "histogram":
            return tuple(f"{self.name}_{s}" for s in ("bucket", "sum", "count"))
        return (self.name,)


_SERVE, _SERVER, _BOTH = ("serve",), ("server",), ("serve", "server")
_EMV = ("endpoint", "model", "version")

#: THE catalogue of carnet's Prometheus metrics
METRICS: tuple[Metric, ...] = (
    # -- carnet serve: inference ------------------------------------------------------------------
    Metric(
        "carnet_requests_total",
        "counter",
        (*_EMV, "protocol", "code"),
        "Inference requests answered, by status code (`protocol` is v2, mlflow or shadow)",
        _SERVE,
    ),
    Metric(
        "carnet_request_errors_total",
        "counter",
        (*_EMV, "protocol", "kind"),
        "Failed inference requests by kind: bad_request, too_large, not_found, overloaded, "
        "model_error, encode_error",
        _SERVE,
    ),
    Metric(
        "carnet_request_latency_seconds",
        "histogram",
        (*_EMV, "protocol"),
        "Time from request to response",
        _SERVE,
    ),
    Metric(
        "carnet_batch_rows",
        "histogram",
        ("model",),
        "Rows per predict call (`model` is name/version)",
        _SERVE,
    ),
    Metric("carnet_batch_requests", "histogram", ("model",), "Requests coalesced per predict call", _SERVE),
    Metric("carnet_predict_seconds", "histogram", ("model",), "Time of one predict call", _SERVE),
    Metric("carnet_queued_rows", "gauge", ("model",), "Rows waiting for a predict (queue depth)", _SERVE),
    Metric("carnet_model_loaded", "gauge", ("model",), "1 for each loaded model version", _SERVE),
    Metric(
        "carnet_prediction_log_queued_rows",
        "gauge",
        (),
        "Predictions waiting to be written to the log",
        _SERVE,
    ),
    Metric(
        "carnet_prediction_log_dropped",
        "gauge",
        (),
        "Predictions the log could not keep (queue full)",
        _SERVE,
    ),
    Metric("carnet_route_refreshes", "gauge", (), "Times the routing table was rebuilt", _SERVE),
    # -- monitoring: both servers -----------------------------------------------------------------
    Metric(
        "carnet_monitor_value",
        "gauge",
        ("monitor", "metric"),
        "Latest window of each monitor: drift shares and verdicts, estimated and realized "
        "performance, data quality, rows, window_end_timestamp",
        _BOTH,
    ),
    Metric(
        "carnet_monitor_column_drift",
        "gauge",
        ("monitor", "column"),
        "Latest drift statistic of each input column",
        _BOTH,
    ),
    Metric(
        "carnet_monitor_active_alerts",
        "gauge",
        ("monitor",),
        "Open or acknowledged alerts per monitor",
        _BOTH,
    ),
    Metric("carnet_monitor_info", "gauge", ("monitor", "model"), "1 per monitor, naming its model", _SERVER),
    Metric(
        "carnet_monitor_alerts",
        "gauge",
        ("monitor", "rule", "status"),
        "Open and acknowledged alerts by rule and status",
        _SERVER,
    ),
    Metric(
        "carnet_monitor_read_errors_total",
        "counter",
        (),
        "Scrapes whose monitor gauges could not be read from the database",
        _SERVER,
    ),
    # -- carnet server: REST API ------------------------------------------------------------------
    Metric(
        "carnet_server_requests_total",
        "counter",
        ("route", "method", "status"),
        "REST API and web UI requests by route template (never the raw path), method and status",
        _SERVER,
    ),
    Metric(
        "carnet_server_request_seconds",
        "histogram",
        ("route", "method"),
        "Time from request to the end of the response (a training stream lasts its training)",
        _SERVER,
    ),
    Metric("carnet_server_requests_in_flight", "gauge", (), "Requests being answered", _SERVER),
    Metric(
        "carnet_db_query_seconds",
        "histogram",
        ("operation",),
        "Metadata database statements by kind: select, insert, update, delete, other",
        _SERVER,
    ),
    Metric(
        "carnet_db_query_errors_total", "counter", ("operation",), "Database statements that failed", _SERVER
    ),
    Metric(
        "carnet_server_jobs_total",
        "counter",
        ("operation", "outcome"),
        "Background jobs (trainings, AutoML, evaluations ...) that ended: succeeded, failed, cancelled",
        _SERVER,
    ),
    Metric(
        "carnet_server_job_seconds",
        "histogram",
        ("operation",),
        "Run time of a background job, from its start (after any wait for a slot)",
        _SERVER,
    ),
    Metric("carnet_server_jobs_running", "gauge", ("operation",), "Background jobs running now", _SERVER),
    Metric(
        "carnet_server_jobs_queued", "gauge", ("operation",), "Background jobs waiting for a slot", _SERVER
    ),
)

_BY_SERIES = {s: m for m in METRICS for s in m.series}


def metric(name: str) -> Metric:
    """The catalogue entry of a series name (``carnet_batch_rows_bucket`` names its histogram).

    Raises:
        KeyError: carnet exports no such series.
    """
    return _BY_SERIES[name]
