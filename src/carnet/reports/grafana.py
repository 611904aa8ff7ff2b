"""Grafana dashboards over the Prometheus metrics carnet exports: serving, monitoring, server.

Each is a Grafana JSON model (:mod:`carnet.reports.grafana_model`): a ``datasource`` variable
chooses the Prometheus data source, other variables (endpoint, model, version, monitor, route)
list label values, and every panel is a time series, a stat or a table whose PromQL names only
metrics of :data:`carnet.reports.metric_catalogue.METRICS`. The functions are pure: they return
dicts, ``carnet ops grafana`` writes them.
"""

from __future__ import annotations

from typing import Any

from carnet.reports.grafana_model import (
    RATE,
    Board,
    datasource_variable,
    label_values_variable,
    quantiles,
    thresholds,
)

__all__ = ["DASHBOARDS", "dashboards", "monitoring_dashboard", "server_dashboard", "serving_dashboard"]


# -- carnet serve ----------------------------------------------------------------------------------
def serving_dashboard() -> dict[str, Any]:
    """``carnet serve``: traffic, errors, latency percentiles, batching and queues per endpoint,
    model and version."""
    sel = 'endpoint=~"$endpoint", model=~"$model", version=~"$version"'
    live = f'{sel}, protocol!="shadow"'
    ref = 'model=~"$model/$version"'
    req = f"rate(carnet_requests_total{{{live}}}[{RATE}])"
    failed = f'rate(carnet_requests_total{{{live}, code=~"5.."}}[{RATE}])'
    overloaded = f'rate(carnet_requests_total{{{sel}, code="503"}}[{RATE}])'
    b = Board(
        "carnet-serving",
        "carnet / serving",
        "carnet serve: requests, errors, latency, batching and queues per endpoint, model and version.",
        [
            datasource_variable(),
            label_values_variable("endpoint", "Endpoint", "label_values(carnet_requests_total, endpoint)"),
            label_values_variable(
                "model", "Model", 'label_values(carnet_requests_total{endpoint=~"$endpoint"}, model)'
            ),
            label_values_variable(
                "version",
                "Version",
                'label_values(carnet_requests_total{endpoint=~"$endpoint", model=~"$model"}, version)',
            ),
        ],
    )
    b.annotate(
        "Routing changes",
        "changes(carnet_route_refreshes[2m]) > 0",
        "Routing table rebuilt (deployment moved)",
    )
    b.row("Overview")
    b.panel(
        "stat",
        "Requests/s",
        "Answered requests per second (shadow calls excluded).",
        [(f"sum({req})", "")],
        unit="reqps",
        w=4,
        h=4,
    )
    b.panel(
        "stat",
        "Error ratio (5xx)",
        "Share of requests answered with a 5xx status (overload 503s included).",
        [(f"sum({failed}) / sum({req})", "")],
        unit="percentunit",
        w=4,
        h=4,
        thresholds=thresholds(("orange", 0.01), ("red", 0.05)),
    )
    b.panel(
        "stat",
        "p99 latency",
        "99th percentile of the time from request to response.",
        [(quantiles("carnet_request_latency_seconds", live)[2][0], "")],
        unit="s",
        w=4,
        h=4,
        thresholds=thresholds(("orange", 0.5), ("red", 1.0)),
    )
    b.panel(
        "stat",
        "Overloaded (503/s)",
        "Requests refused at once because a model's queue was full.",
        [(f"sum({overloaded}) or vector(0)", "")],
        unit="reqps",
        w=4,
        h=4,
        thresholds=thresholds(("red", 0.001)),
    )
    b.panel(
        "stat",
        "Queued rows",
        "Rows waiting for a predict call, all models.",
        [(f"sum(carnet_queued_rows{{{ref}}})", "")],
        w=4,
        h=4,
    )
    b.panel(
        "stat",
        "Versions loaded",
        "Model versions loaded in the serving processes.",
        [(f"sum(carnet_model_loaded{{{ref}}})", "")],
        w=4,
        h=4,
    )
    b.row("Traffic")
    b.panel(
        "timeseries",
        "Requests/s by endpoint and version",
        "Answered requests per second, shadow calls excluded.",
        [(f"sum by (endpoint, version) ({req})", "{{endpoint}} v{{version}}")],
        unit="reqps",
    )
    b.panel(
        "timeseries",
        "Traffic share by version",
        "Each version's share of its endpoint's traffic: the canary split as it happens.",
        [
            (
                f"sum by (endpoint, version) ({req}) / ignoring(version) group_left "
                f"sum by (endpoint) ({req})",
                "{{endpoint}} v{{version}}",
            )
        ],
        unit="percentunit",
        maximum=1,
    )
    b.panel(
        "timeseries",
        "Requests/s by status code",
        "Answers per status code (200, 400, 404, 413, 415, 500, 503).",
        [(f"sum by (code) (rate(carnet_requests_total{{{sel}}}[{RATE}]))", "{{code}}")],
        unit="reqps",
        stacked=True,
    )
    b.panel(
        "timeseries",
        "Requests/s by protocol",
        "Open Inference Protocol (v2), MLflow /invocations and shadow calls.",
        [(f"sum by (protocol) (rate(carnet_requests_total{{{sel}}}[{RATE}]))", "{{protocol}}")],
        unit="reqps",
    )
    b.row("Errors")
    b.panel(
        "timeseries",
        "Errors/s by kind",
        "Failed requests by kind: bad_request, too_large, not_found, overloaded, model_error, encode_error.",
        [
            (
                f"sum by (endpoint, kind) (rate(carnet_request_errors_total{{{sel}}}[{RATE}]))",
                "{{endpoint}} {{kind}}",
            )
        ],
        unit="reqps",
        stacked=True,
    )
    b.panel(
        "timeseries",
        "Error ratio by endpoint and version",
        "Share of each version's requests answered with a 5xx status.",
        [
            (
                f"sum by (endpoint, version) ({failed}) / sum by (endpoint, version) ({req})",
                "{{endpoint}} v{{version}}",
            )
        ],
        unit="percentunit",
    )
    b.panel(
        "timeseries",
        "Overloaded answers (503/s) by endpoint",
        "Requests refused because the model's queue was full: add replicas or batch more.",
        [(f"sum by (endpoint) ({overloaded})", "{{endpoint}}")],
        unit="reqps",
        w=24,
    )
    b.row("Latency")
    b.panel(
        "timeseries",
        "Latency percentiles",
        "p50, p95 and p99 of the time from request to response, all selected endpoints.",
        quantiles("carnet_request_latency_seconds", live),
        unit="s",
    )
    b.panel(
        "timeseries",
        "p99 latency by endpoint and version",
        "Compare a canary's latency with the version it may replace.",
        [
            (
                "histogram_quantile(0.99, sum by (le, endpoint, version) "
                f"(rate(carnet_request_latency_seconds_bucket{{{live}}}[{RATE}])))",
                "{{endpoint}} v{{version}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Mean latency by protocol",
        "Average time per request for each protocol.",
        [
            (
                f"sum by (protocol) (rate(carnet_request_latency_seconds_sum{{{sel}}}[{RATE}])) / "
                f"sum by (protocol) (rate(carnet_request_latency_seconds_count{{{sel}}}[{RATE}]))",
                "{{protocol}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Predict time p99 by model version",
        "99th percentile of one predict call (a whole micro-batch).",
        [
            (
                "histogram_quantile(0.99, sum by (le, model) "
                f"(rate(carnet_predict_seconds_bucket{{{ref}}}[{RATE}])))",
                "{{model}}",
            )
        ],
        unit="s",
    )
    b.row("Batching and queues")
    b.panel(
        "timeseries",
        "Rows per predict call",
        "Micro-batch sizes: p50, p99 and the mean.",
        [
            *quantiles("carnet_batch_rows", ref)[::2],
            (
                f"sum(rate(carnet_batch_rows_sum{{{ref}}}[{RATE}])) / "
                f"sum(rate(carnet_batch_rows_count{{{ref}}}[{RATE}]))",
                "mean",
            ),
        ],
        w=8,
    )
    b.panel(
        "timeseries",
        "Requests coalesced per predict call",
        "How many requests each predict call answers (mean, per model version).",
        [
            (
                f"sum by (model) (rate(carnet_batch_requests_sum{{{ref}}}[{RATE}])) / "
                f"sum by (model) (rate(carnet_batch_requests_count{{{ref}}}[{RATE}]))",
                "{{model}}",
            )
        ],
        w=8,
    )
    b.panel(
        "timeseries",
        "Predict calls/s by model version",
        "Predict calls per second.",
        [(f"sum by (model) (rate(carnet_predict_seconds_count{{{ref}}}[{RATE}]))", "{{model}}")],
        unit="ops",
        w=8,
    )
    b.panel(
        "timeseries",
        "Queue depth",
        "Rows waiting for a predict call, per model version: a queue that stays full ends in 503s.",
        [(f"sum by (model) (carnet_queued_rows{{{ref}}})", "{{model}}")],
    )
    b.panel(
        "timeseries",
        "Prediction log",
        "Predictions waiting to be written, and those the log had to drop (monitors never see them).",
        [
            ("sum(carnet_prediction_log_queued_rows)", "waiting"),
            ("sum(carnet_prediction_log_dropped)", "dropped (total)"),
        ],
    )
    return b.build()


# -- monitoring ------------------------------------------------------------------------------------
def monitoring_dashboard() -> dict[str, Any]:
    """Production monitors: drift share, per-feature drift, estimated and realized performance,
    data quality and open alerts (from ``carnet serve`` or ``carnet server``)."""
    mon = 'monitor=~"$monitor"'

    def value(metric_: str, by: str = "monitor") -> str:
        # the same monitor may be exported by several processes: one series per monitor
        return f'max by ({by}) (carnet_monitor_value{{{mon}, metric="{metric_}"}})'

    def values(pattern: str) -> str:
        return f'max by (monitor, metric) (carnet_monitor_value{{{mon}, metric=~"{pattern}"}})'

    alerts = f"max by (monitor) (carnet_monitor_active_alerts{{{mon}}})"
    b = Board(
        "carnet-monitoring",
        "carnet / monitoring",
        "carnet monitors: drift, per-feature drift, estimated and realized performance, quality, alerts.",
        [
            datasource_variable(),
            label_values_variable(
                "monitor", "Monitor", "label_values(carnet_monitor_active_alerts, monitor)"
            ),
        ],
    )
    b.row("Overview")
    b.panel(
        "stat",
        "Open alerts",
        "Open or acknowledged alerts of the selected monitors.",
        [(f"sum({alerts})", "")],
        w=5,
        h=4,
        thresholds=thresholds(("red", 1)),
    )
    b.panel(
        "stat",
        "Monitors with dataset drift",
        "Monitors whose latest window has the dataset-drift verdict.",
        [(f"count({value('drift.dataset_drift')} == 1) or vector(0)", "")],
        w=5,
        h=4,
        thresholds=thresholds(("red", 1)),
    )
    b.panel(
        "stat",
        "Highest drift share",
        "The largest share of drifted input columns among the selected monitors' latest windows.",
        [(f"max({value('drift.share_drifted')})", "")],
        unit="percentunit",
        w=5,
        h=4,
        thresholds=thresholds(("orange", 0.2), ("red", 0.5)),
    )
    b.panel(
        "stat",
        "Oldest latest window",
        "Age of the stalest monitor's latest window: passes stopped, or no traffic.",
        [(f"max(time() - {value('window_end_timestamp')})", "")],
        unit="s",
        w=5,
        h=4,
    )
    b.panel(
        "stat",
        "Rows in latest windows",
        "Prediction rows the latest windows judged.",
        [(f"sum({value('rows')})", "")],
        w=4,
        h=4,
    )
    b.row("Drift")
    b.panel(
        "timeseries",
        "Share of drifted features",
        "Share of input columns whose drift test fired in each monitor's latest window.",
        [(value("drift.share_drifted"), "{{monitor}}")],
        unit="percentunit",
        maximum=1,
    )
    b.panel(
        "timeseries",
        "Prediction drift share",
        "Share of the model's outputs whose distribution drifted from the reference.",
        [(value("prediction_drift.share_drifted"), "{{monitor}}")],
        unit="percentunit",
        maximum=1,
    )
    b.panel(
        "timeseries",
        "Dataset drift verdict and multivariate AUC",
        "1 when the window's dataset drifted; the domain classifier's AUC when asked for (0.5: no drift).",
        [
            (value("drift.dataset_drift"), "{{monitor}} verdict"),
            (value("drift.multivariate_auc"), "{{monitor}} multivariate AUC"),
        ],
        maximum=1,
    )
    b.panel(
        "timeseries",
        "Most drifted features",
        "The ten input columns with the largest drift statistic (method per column type).",
        [
            (
                f"topk(10, max by (monitor, column) (carnet_monitor_column_drift{{{mon}}}))",
                "{{monitor}} {{column}}",
            )
        ],
    )
    b.panel(
        "table",
        "Per-feature drift (latest window)",
        "Every input column's drift statistic in each monitor's latest window, largest first.",
        [(f"sort_desc(max by (monitor, column) (carnet_monitor_column_drift{{{mon}}}))", "")],
        w=24,
        h=10,
    )
    b.row("Performance")
    b.panel(
        "timeseries",
        "Estimated vs realized performance",
        "Estimated without labels (CBPE for classifiers, DLE for regressors) and realized once labels "
        "are joined.",
        [
            (values(r"performance[.]estimated[.][^.]+"), "{{monitor}} {{metric}}"),
            (values(r"performance[.]realized[.].+"), "{{monitor}} {{metric}}"),
        ],
        minimum=None,
    )
    b.panel(
        "timeseries",
        "Estimated performance with its band",
        "The estimate and the lower and upper bounds of its sampling-error band.",
        [
            (values(r"performance[.]estimated[.][^.]+"), "{{monitor}} {{metric}}"),
            (values(r"performance[.]estimated[.].+[.](lower|upper)"), "{{monitor}} {{metric}}"),
        ],
        minimum=None,
    )
    b.panel(
        "timeseries",
        "Estimate outside its band",
        "1 while an estimated metric is outside the band the reference allows.",
        [(values(r"performance[.]estimated[.].+[.]alert"), "{{monitor}} {{metric}}")],
        maximum=1,
    )
    b.panel(
        "timeseries",
        "Rows and labeled rows per window",
        "Rows each window judged, and how many of them have their label joined.",
        [(value("rows"), "{{monitor}} rows"), (value("performance.labeled_rows"), "{{monitor}} labeled")],
    )
    b.row("Alerts and data quality")
    b.panel(
        "timeseries",
        "Open alerts by monitor",
        "Open or acknowledged alerts per monitor.",
        [(alerts, "{{monitor}}")],
        stacked=True,
    )
    b.panel(
        "timeseries",
        "Data quality",
        "Schema violations and row checks of each latest window.",
        [(values(r"quality[.].+"), "{{monitor}} {{metric}}")],
    )
    b.panel(
        "table",
        "Alerts by rule (carnet server)",
        "Open and acknowledged alerts per monitor, rule and status (exported by carnet server).",
        [(f"max by (monitor, rule, status) (carnet_monitor_alerts{{{mon}}})", "")],
    )
    b.panel(
        "table",
        "Monitored models (carnet server)",
        "Each monitor and the model reference it follows (exported by carnet server).",
        [(f"max by (monitor, model) (carnet_monitor_info{{{mon}}})", "")],
    )
    return b.build()


# -- carnet server ---------------------------------------------------------------------------------
def server_dashboard() -> dict[str, Any]:
    """``carnet server``: REST API requests and latency by route, database timings, background jobs."""
    sel = 'route=~"$route"'
    req = f"rate(carnet_server_requests_total{{{sel}}}[{RATE}])"
    failed = f'rate(carnet_server_requests_total{{{sel}, status=~"5.."}}[{RATE}])'
    b = Board(
        "carnet-server",
        "carnet / server",
        "carnet server: REST API and web UI requests, database statements and background jobs.",
        [
            datasource_variable(),
            label_values_variable("route", "Route", "label_values(carnet_server_requests_total, route)"),
        ],
    )
    b.row("Overview")
    b.panel(
        "stat",
        "Requests/s",
        "REST API and web UI requests per second.",
        [(f"sum({req})", "")],
        unit="reqps",
        w=4,
        h=4,
    )
    b.panel(
        "stat",
        "Error ratio (5xx)",
        "Share of requests answered with a 5xx status.",
        [(f"sum({failed}) / sum({req})", "")],
        unit="percentunit",
        w=4,
        h=4,
        thresholds=thresholds(("orange", 0.01), ("red", 0.05)),
    )
    b.panel(
        "stat",
        "p99 latency",
        "99th percentile of request time (training streams last as long as their training).",
        [(quantiles("carnet_server_request_seconds", sel)[2][0], "")],
        unit="s",
        w=4,
        h=4,
    )
    b.panel(
        "stat",
        "In flight",
        "Requests being answered now.",
        [("sum(carnet_server_requests_in_flight)", "")],
        w=4,
        h=4,
    )
    b.panel(
        "stat",
        "Jobs running",
        "Background jobs (trainings, AutoML ...) running now.",
        [("sum(carnet_server_jobs_running)", "")],
        w=4,
        h=4,
    )
    b.panel(
        "stat",
        "Database p99",
        "99th percentile of one metadata database statement.",
        [(quantiles("carnet_db_query_seconds", "")[2][0], "")],
        unit="s",
        w=4,
        h=4,
        thresholds=thresholds(("orange", 0.1), ("red", 0.5)),
    )
    b.row("Requests")
    b.panel(
        "timeseries",
        "Requests/s by route",
        "The ten busiest route templates (paths are never labels: no series per run or dataset).",
        [(f"topk(10, sum by (route, method) ({req}))", "{{method}} {{route}}")],
        unit="reqps",
    )
    b.panel(
        "timeseries",
        "Requests/s by status",
        "Answers per status: 401/403 are refused callers, 422 invalid input, 5xx server failures.",
        [(f"sum by (status) ({req})", "{{status}}")],
        unit="reqps",
        stacked=True,
    )
    b.panel(
        "timeseries",
        "Latency percentiles",
        "p50, p95 and p99 of request time, all selected routes.",
        quantiles("carnet_server_request_seconds", sel),
        unit="s",
    )
    b.panel(
        "timeseries",
        "p99 latency by route",
        "The ten slowest route templates at the 99th percentile.",
        [
            (
                "topk(10, histogram_quantile(0.99, sum by (le, route, method) "
                f"(rate(carnet_server_request_seconds_bucket{{{sel}}}[{RATE}]))))",
                "{{method}} {{route}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Server errors (5xx) by route",
        "Requests the server failed on; the server log has each cause.",
        [(f"sum by (route, status) ({failed})", "{{status}} {{route}}")],
        unit="reqps",
        w=24,
    )
    b.row("Database")
    b.panel(
        "timeseries",
        "Statements/s by kind",
        "Metadata database statements per second: select, insert, update, delete, other.",
        [(f"sum by (operation) (rate(carnet_db_query_seconds_count[{RATE}]))", "{{operation}}")],
        unit="ops",
        w=8,
        stacked=True,
    )
    b.panel(
        "timeseries",
        "Statement time p99 by kind",
        "99th percentile of one statement's execution.",
        [
            (
                "histogram_quantile(0.99, sum by (le, operation) "
                f"(rate(carnet_db_query_seconds_bucket[{RATE}])))",
                "{{operation}}",
            )
        ],
        unit="s",
        w=8,
    )
    b.panel(
        "timeseries",
        "Failed statements/s",
        "Statements the database refused or failed (locks, constraints, lost connections).",
        [(f"sum by (operation) (rate(carnet_db_query_errors_total[{RATE}]))", "{{operation}}")],
        unit="ops",
        w=8,
    )
    b.row("Background jobs")
    b.panel(
        "timeseries",
        "Jobs running and waiting",
        "Trainings, AutoML searches, evaluations ... running, and waiting for a training slot.",
        [
            ("sum by (operation) (carnet_server_jobs_running)", "{{operation}} running"),
            ("sum by (operation) (carnet_server_jobs_queued)", "{{operation}} waiting"),
        ],
        w=8,
    )
    b.panel(
        "timeseries",
        "Jobs ended per hour by outcome",
        "Jobs that succeeded, failed or were cancelled (the client went away), per hour.",
        [
            (
                "sum by (operation, outcome) (increase(carnet_server_jobs_total[1h]))",
                "{{operation}} {{outcome}}",
            )
        ],
        w=8,
    )
    b.panel(
        "timeseries",
        "Job run time",
        "p50 and p99 of a job's run time, from its start to its last event.",
        [
            (
                f"histogram_quantile({q}, sum by (le, operation) "
                f"(rate(carnet_server_job_seconds_bucket[{RATE}])))",
                f"{{{{operation}}}} p{round(q * 100)}",
            )
            for q in (0.5, 0.99)
        ],
        unit="s",
        w=8,
    )
    b.panel(
        "timeseries",
        "Monitor gauges not read",
        "Scrapes whose monitor gauges could not be read from the database.",
        [(f"sum(rate(carnet_monitor_read_errors_total[{RATE}]))", "errors/s")],
        w=24,
        h=5,
    )
    return b.build()


#: file name -> builder of each dashboard ``carnet ops grafana`` writes
DASHBOARDS = {
    "carnet-serving.json": serving_dashboard,
    "carnet-monitoring.json": monitoring_dashboard,
    "carnet-server.json": server_dashboard,
}


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard by file name."""
    return {name: build() for name, build in DASHBOARDS.items()}
