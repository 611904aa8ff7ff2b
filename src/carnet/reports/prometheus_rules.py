"""Prometheus alerting rules over the metrics carnet exports
(:data:`carnet.reports.metric_catalogue.METRICS`).

Three groups: ``carnet-serving`` (error rate, p99 latency, overload 503s, predictions the log
dropped), ``carnet-monitoring`` (alerts open on a monitor, an estimated metric outside its band,
monitor gauges not read) and ``carnet-server`` (REST API errors, slow database, failing jobs).
:func:`alerting_rules` returns the rule file as a dict, :func:`rules_yaml` as the YAML text
Prometheus loads (``rule_files:``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["RuleOptions", "alerting_rules", "rules_yaml"]


@dataclass(frozen=True)
class RuleOptions:
    """Thresholds of the rules.

    Raises:
        InvalidInput: a ratio outside (0, 1) or a latency that is not positive (the field named).
    """

    #: share of 5xx answers (503 overload excluded) above which an endpoint alerts
    error_ratio: float = 0.05
    #: 99th percentile latency, in seconds, above which an endpoint alerts
    p99_seconds: float = 1.0
    #: share of requests refused with 503 (overload) above which an endpoint alerts
    overload_ratio: float = 0.01

    def __post_init__(self) -> None:
        for name in ("error_ratio", "overload_ratio"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise InvalidInput(f"{name} must be between 0 and 1 (exclusive), got {value}", field=name)
        if not self.p99_seconds > 0:
            raise InvalidInput(f"p99_seconds must be > 0, got {self.p99_seconds}", field="p99_seconds")


def _rule(alert: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": alert,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


def _pct(ratio: float) -> str:
    return f"{ratio * 100:g}%"


def _live(matchers: str = "") -> str:
    """Rate of answered inference requests (shadow calls excluded) per endpoint, of those
    ``matchers`` select."""
    extra = f", {matchers}" if matchers else ""
    return f'sum by (endpoint) (rate(carnet_requests_total{{protocol!="shadow"{extra}}}[5m]))'


def alerting_rules(options: RuleOptions | None = None) -> dict[str, Any]:
    """The rule file: ``{"groups": [{"name", "rules": [{alert, expr, for, labels, annotations}]}]}``."""
    o = options or RuleOptions()
    failed = _live('code=~"5..", code!="503"')
    serving = [
        _rule(
            "CarnetServingErrorRateHigh",
            f"{failed}\n  / {_live()}\n  > {o.error_ratio}",
            "5m",
            "critical",
            "carnet endpoint {{ $labels.endpoint }} fails {{ $value | humanizePercentage }} of its requests",
            "More than "
            + _pct(o.error_ratio)
            + " of the requests to endpoint {{ $labels.endpoint }} ended in a server error "
            "(model_error or encode_error; overload 503s excluded) for 5 minutes. The serving log "
            "has each failure with its request id; roll back with carnet models rollback.",
        ),
        _rule(
            "CarnetServingLatencyP99High",
            "histogram_quantile(0.99,\n  sum by (le, endpoint) "
            '(rate(carnet_request_latency_seconds_bucket{protocol!="shadow"}[5m]))\n)'
            f" > {o.p99_seconds}",
            "10m",
            "warning",
            "carnet endpoint {{ $labels.endpoint }} p99 latency is {{ $value | humanizeDuration }}",
            "The 99th percentile latency of endpoint {{ $labels.endpoint }} has been over "
            f"{o.p99_seconds:g}s for 10 minutes. Check the queue depth and predict time on the "
            "carnet / serving dashboard.",
        ),
        _rule(
            "CarnetServingOverloaded",
            f'sum by (endpoint) (rate(carnet_requests_total{{code="503"}}[5m]))\n  / {_live()}\n'
            f"  > {o.overload_ratio}",
            "5m",
            "warning",
            "carnet endpoint {{ $labels.endpoint }} refuses {{ $value | humanizePercentage }} "
            "of its requests (overloaded)",
            "Endpoint {{ $labels.endpoint }} answered 503 (queue full) to more than "
            f"{_pct(o.overload_ratio)} of its requests for 5 minutes: add replicas or raise the "
            "batching limits.",
        ),
        _rule(
            "CarnetPredictionLogDropping",
            "delta(carnet_prediction_log_dropped[10m]) > 0",
            "0m",
            "warning",
            "carnet serve dropped {{ $value }} predictions from its log",
            "The prediction log's queue was full: these predictions are served but never "
            "monitored. Check the artifact store's speed and space.",
        ),
    ]
    monitoring = [
        _rule(
            "CarnetMonitorAlertsOpen",
            "max by (monitor) (carnet_monitor_active_alerts) > 0",
            "1m",
            "warning",
            "carnet monitor {{ $labels.monitor }} has {{ $value }} open alert(s)",
            "A rule of monitor {{ $labels.monitor }} (drift, quality or performance) holds: see "
            "carnet monitor alerts {{ $labels.monitor }}, then acknowledge or resolve the alert.",
        ),
        _rule(
            "CarnetPerformanceEstimateOutOfBand",
            'max by (monitor, metric) (carnet_monitor_value{metric=~"performance[.]estimated[.].+[.]alert"})'
            " == 1",
            "0m",
            "warning",
            "carnet monitor {{ $labels.monitor }}: {{ $labels.metric }} is outside its band",
            "The estimated performance of the model followed by monitor {{ $labels.monitor }} left "
            "the band its reference allows in the latest window (no labels needed).",
        ),
        _rule(
            "CarnetMonitorGaugesUnread",
            "increase(carnet_monitor_read_errors_total[15m]) > 0",
            "0m",
            "warning",
            "carnet server could not read monitor results",
            "Reading the latest monitor windows from the metadata database failed during a scrape: "
            "the monitoring gauges are missing. The server log has the cause.",
        ),
    ]
    server = [
        _rule(
            "CarnetServerErrorRateHigh",
            'sum without (route, method, status) (rate(carnet_server_requests_total{status=~"5.."}[5m]))\n'
            "  / sum without (route, method, status) (rate(carnet_server_requests_total[5m]))\n"
            f"  > {o.error_ratio}",
            "5m",
            "warning",
            "carnet server fails {{ $value | humanizePercentage }} of its requests",
            "More than "
            + _pct(o.error_ratio)
            + " of the REST API's requests ended in a 5xx answer for 5 minutes. The server log has "
            "each cause.",
        ),
        _rule(
            "CarnetDatabaseSlow",
            "histogram_quantile(0.99,\n"
            "  sum without (operation) (rate(carnet_db_query_seconds_bucket[5m]))\n) > 0.5",
            "10m",
            "warning",
            "carnet metadata database p99 is {{ $value | humanizeDuration }}",
            "One statement in a hundred takes more than 0.5s on the metadata database for 10 "
            "minutes: check the database's load, locks and disk.",
        ),
        _rule(
            "CarnetServerJobsFailing",
            'sum without (outcome) (increase(carnet_server_jobs_total{outcome="failed"}[30m])) > 0',
            "0m",
            "warning",
            "carnet server: {{ $labels.operation }} jobs failed",
            "{{ $value }} {{ $labels.operation }} job(s) ended with an error in the last 30 minutes; "
            "the failed run and the server log say why.",
        ),
    ]
    return {
        "groups": [
            {"name": "carnet-serving", "rules": serving},
            {"name": "carnet-monitoring", "rules": monitoring},
            {"name": "carnet-server", "rules": server},
        ]
    }


def rules_yaml(options: RuleOptions | None = None) -> str:
    """The rule file as YAML text (multi-line expressions as literal blocks)."""
    import yaml  # type: ignore[import-untyped, unused-ignore]

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    header = "# Prometheus alerting rules for carnet (carnet ops prometheus-rules); load with rule_files:\n"
    body = yaml.dump(alerting_rules(options), Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
    return header + str(body)
