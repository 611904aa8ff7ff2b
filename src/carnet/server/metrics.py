"""Prometheus metrics of ``carnet serve`` (requests, errors, latency, batch sizes, queues)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["ServingMetrics"]

_LATENCY = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class ServingMetrics:
    """Per endpoint, model and version: requests, errors, latency, batch sizes; one registry each."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ("endpoint", "model", "version", "protocol")
        self.requests = Counter(
            "carnet_requests", "Inference requests answered", (*labels, "code"), registry=self.registry
        )
        self.errors = Counter(
            "carnet_request_errors",
            "Failed inference requests by kind",
            (*labels, "kind"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "carnet_request_latency_seconds",
            "Time from request to response",
            labels,
            buckets=_LATENCY,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "carnet_batch_rows", "Rows per predict call", ("model",), buckets=_ROWS, registry=self.registry
        )
        self.batch_requests = Histogram(
            "carnet_batch_requests",
            "Requests coalesced per predict call",
            ("model",),
            buckets=_ROWS,
            registry=self.registry,
        )
        self.predict_seconds = Histogram(
            "carnet_predict_seconds",
            "Time of one predict call",
            ("model",),
            buckets=_LATENCY,
            registry=self.registry,
        )
        self.queued = Gauge(
            "carnet_queued_rows", "Rows waiting for a predict", ("model",), registry=self.registry
        )
        self.loaded = Gauge(
            "carnet_model_loaded", "1 for each loaded model version", ("model",), registry=self.registry
        )
        self.log_dropped = Gauge(
            "carnet_prediction_log_dropped",
            "Predictions the log could not keep (queue full)",
            registry=self.registry,
        )
        self.log_queued = Gauge(
            "carnet_prediction_log_queued_rows", "Predictions waiting to be written", registry=self.registry
        )
        self.monitor_value = Gauge(
            "carnet_monitor_value",
            "Latest window of each monitor of a served model: drift shares, estimated and realized "
            "performance, data quality",
            ("monitor", "metric"),
            registry=self.registry,
        )
        self.monitor_drift = Gauge(
            "carnet_monitor_column_drift",
            "Latest drift statistic of each input column (method per column type)",
            ("monitor", "column"),
            registry=self.registry,
        )
        self.monitor_alerts = Gauge(
            "carnet_monitor_active_alerts",
            "Open or acknowledged alerts",
            ("monitor",),
            registry=self.registry,
        )
        self.refreshes = Gauge(
            "carnet_route_refreshes", "Times the routing table was rebuilt", registry=self.registry
        )

    def observe_request(
        self, endpoint: str, model: str, version: int, protocol: str, code: int, seconds: float
    ) -> None:
        labels = (endpoint, model, str(version), protocol)
        self.requests.labels(*labels, str(code)).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_error(self, endpoint: str, model: str, version: int, protocol: str, kind: str) -> None:
        self.errors.labels(endpoint, model, str(version), protocol, kind).inc()

    def observe_batch(self, ref: str, rows: int, requests: int, seconds: float) -> None:
        self.batch_rows.labels(ref).observe(rows)
        self.batch_requests.labels(ref).observe(requests)
        self.predict_seconds.labels(ref).observe(seconds)

    def set_monitors(self, latest: list[dict[str, Any]]) -> None:
        """Gauges from :meth:`carnet.services.MonitoringService.latest` (replacing the previous ones)."""
        self.monitor_value.clear()
        self.monitor_drift.clear()
        self.monitor_alerts.clear()
        for entry in latest:
            name = entry["monitor"]
            self.monitor_alerts.labels(name).set(entry["active_alerts"])
            window = entry.get("window")
            if not window:
                continue
            self.monitor_value.labels(name, "window_end_timestamp").set(window["end"])
            for key, value in window["metrics"].items():
                if _summary_metric(key):
                    self.monitor_value.labels(name, key).set(value)
                elif key.startswith("drift.") and not key.endswith(".drifted"):
                    self.monitor_drift.labels(name, key[len("drift.") :]).set(value)

    def render(self, runtime: Any, predlog: Any = None) -> tuple[bytes, str]:
        """The exposition text (gauges refreshed from the runtime and the log first)."""
        self.loaded.clear()
        for ref, loaded in runtime.loaded.items():
            self.loaded.labels(ref).set(1)
            self.queued.labels(ref).set(loaded.batcher.queued_rows)
        self.refreshes.set(runtime.refreshes)
        if predlog is not None:
            self.log_dropped.set(predlog.dropped)
            self.log_queued.set(predlog.queued_rows)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _summary_metric(key: str) -> bool:
    """Monitor metrics exported as ``carnet_monitor_value`` (the rest are per column)."""
    return (
        key in ("rows", "drift.share_drifted", "drift.dataset_drift", "drift.multivariate_auc")
        or key.startswith(("prediction_drift.share", "performance.", "quality.schema", "quality.rows"))
        or key == "prediction_drift.drifted"
    )
