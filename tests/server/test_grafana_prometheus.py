"""Grafana dashboards and Prometheus rules name only what carnet exports, and carnet exports it: the
catalogue is checked against live ``carnet serve`` and ``carnet server`` scrapes over real HTTP, the
dashboards against a dashboard JSON schema, every PromQL expression with promtool when installed
(Debian's ``prometheus`` package), and the alerting rules with ``promtool test rules``."""

from __future__ import annotations

import gc
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from api_testkit import problem, running_api  # noqa: E402
from monitoring_fixtures import MODEL, cancer_frame, log_rows, setup_workspace, v2_body  # noqa: E402

from carnet import Client  # noqa: E402
from carnet.reports.grafana import dashboards  # noqa: E402
from carnet.reports.metric_catalogue import METRICS, metric  # noqa: E402
from carnet.reports.prometheus_rules import RuleOptions, alerting_rules, rules_yaml  # noqa: E402
from carnet.server.api import create_api_app, serve_api_in_thread  # noqa: E402
from carnet.server.api_metrics import ApiMetrics, _Job, statement_kind  # noqa: E402
from carnet.server.background import serve_in_thread  # noqa: E402

MONITOR = "cancer-watch"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)"
)


# -- live servers ------------------------------------------------------------------------------------
@dataclass
class Live:
    client: Client
    api: str  # carnet server
    serve: str  # carnet serve
    run_id: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A workspace with a monitor that has a window and an open alert, behind both servers."""
    client = Client(str(tmp_path_factory.mktemp("observability") / "ws"))
    frame, models = setup_workspace(client)
    client.services.monitoring.create(
        {
            "name": MONITOR,
            "model": f"{MODEL}@production",
            "reference": "cancer-ref@1",
            "target": "target",
            "window": "50rows",
            "rules": [{"when": "rows >= 1", "actions": ["notify"]}],
        }
    )
    log_rows(client, models[1], frame.sample(60, random_state=3))
    client.services.monitoring.run(MONITOR)
    run_id = client.services.tracking.create_run("observability", "probe").id
    api = serve_api_in_thread(create_api_app(client.services, require_auth=False))
    serve = serve_in_thread(client.services, [f"{MODEL}@production"], log_predictions=True)
    try:
        yield Live(client, api.url, serve.url, run_id)
    finally:
        serve.stop()
        api.stop()
        client.close()


def scrape(url: str) -> dict[str, Any]:
    """Family name (as PromQL names it) -> {"type", "samples": [(name, labels, value)]}."""
    r = httpx.get(f"{url}/metrics", timeout=30)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(r.text):
        name = family.name
        if name.endswith("_created"):  # when a counter or histogram started (text format 0.0.4)
            continue
        if family.type == "counter" and not name.endswith("_total"):
            name += "_total"
        out[name] = {"type": family.type, "samples": [(s.name, s.labels, s.value) for s in family.samples]}
    return out


def value(families: dict[str, Any], series: str, **labels: str) -> float | None:
    family = families[metric(series).name]
    found = [v for n, lbl, v in family["samples"] if n == series and labels.items() <= lbl.items()]
    return sum(found) if found else None


def test_the_rest_server_counts_requests_by_route_times_the_database_and_exports_monitors(
    live: Live,
) -> None:
    with httpx.Client(base_url=f"{live.api}/api/v1", timeout=30) as http:
        for _ in range(2):
            assert http.get(f"/runs/{live.run_id}").status_code == 200
        assert http.get("/runs/no-such-run").status_code == 404
        assert http.get("/no/such/route/at/all").status_code == 404
    families = scrape(live.api)
    requests = "carnet_server_requests_total"
    route = "/api/v1/runs/{run_id}"
    assert value(families, requests, route=route, method="GET", status="200") == 2
    assert value(families, requests, route=route, method="GET", status="404") == 1
    assert value(families, requests, route="__unmatched__", status="404") == 1
    assert value(families, "carnet_server_request_seconds_count", route=route, method="GET") == 3
    # paths never become labels
    labels = {v for s in families[requests]["samples"] for v in s[1].values()}
    assert not any(live.run_id in v or "no-such" in v for v in labels)
    # database statements, by kind
    assert (value(families, "carnet_db_query_seconds_count", operation="select") or 0) >= 3
    # every monitor of the workspace, read at scrape time
    assert value(families, "carnet_monitor_active_alerts", monitor=MONITOR) == 1
    assert value(families, "carnet_monitor_info", monitor=MONITOR, model=f"{MODEL}@production") == 1
    assert value(families, "carnet_monitor_alerts", monitor=MONITOR, rule="rows >= 1", status="open") == 1
    assert value(families, "carnet_monitor_value", monitor=MONITOR, metric="rows") == 50
    share = value(families, "carnet_monitor_value", monitor=MONITOR, metric="drift.share_drifted")
    assert share is not None and 0 <= share <= 1
    assert (
        value(families, "carnet_monitor_value", monitor=MONITOR, metric="performance.estimated.roc_auc")
        is not None
    )
    assert value(families, "carnet_monitor_column_drift", monitor=MONITOR, column="mean radius") is not None
    assert value(families, "carnet_monitor_read_errors_total") == 0


def test_a_failed_training_is_counted_as_a_failed_job(live: Live) -> None:
    spec = {
        "dataset": "cancer-ref@1",
        "task": "binary",
        "target": "target",
        "split": "holdout",
        "model": {"name": "logistic_regression", "params": {"max_iter": -5}},  # fails when fitted
        "project": "monitoring",
    }
    r = httpx.post(f"{live.api}/api/v1/train", json={"spec": spec}, timeout=120)
    assert r.status_code == 200, r.text
    events = [json.loads(line)["event"] for line in r.text.splitlines() if line.strip()]
    assert events[-1] == "error" and "started" in events, events
    families = scrape(live.api)
    assert value(families, "carnet_server_jobs_total", operation="train", outcome="failed") == 1
    assert value(families, "carnet_server_job_seconds_count", operation="train") == 1
    assert value(families, "carnet_server_jobs_running", operation="train") == 0
    assert (value(families, "carnet_server_jobs_queued", operation="train") or 0) == 0  # never waited


def test_the_catalogue_is_what_both_servers_export(live: Live) -> None:
    body = v2_body(cancer_frame().head(3))
    assert httpx.post(f"{live.serve}/v2/models/{MODEL}/infer", json=body, timeout=30).status_code == 200
    assert (
        httpx.post(f"{live.serve}/v2/models/{MODEL}/infer", json={"inputs": []}, timeout=30).status_code
        == 400
    )
    exported = {"serve": scrape(live.serve), "server": scrape(live.api)}
    for m in METRICS:
        for exporter in m.exporters:
            family = exported[exporter].get(m.name)
            assert family is not None, f"{exporter} does not export {m.name}"
            assert family["type"] == m.kind, (m.name, family["type"])
            for name, labels, _ in family["samples"]:
                if name in m.series:  # not the _created sample of a counter or histogram
                    assert set(labels) - {"le"} == set(m.labels), (exporter, name, labels)
    for exporter, families in exported.items():
        unknown = sorted(
            n for n in families if n.startswith("carnet_") and n not in {m.name for m in METRICS}
        )
        assert not unknown, f"{exporter} exports metrics missing from the catalogue: {unknown}"
    # the families a dashboard panel needs samples of, on a server that has answered requests
    needed = ("carnet_requests_total", "carnet_request_errors_total", "carnet_request_latency_seconds_bucket")
    for series in (*needed, "carnet_batch_rows_bucket", "carnet_queued_rows", "carnet_model_loaded"):
        assert value(exported["serve"], series) is not None, series


def test_metrics_need_a_viewer_on_every_project_when_the_server_requires_auth(live: Live) -> None:
    users = {"watcher": {"*": "viewer"}, "local": {"monitoring": "admin"}}
    with running_api(live.client.services, users) as api:
        url = f"{api.url}/metrics"
        r = httpx.get(url, timeout=30)
        problem(r, 401, "Unauthenticated", "authorization")
        assert r.headers["www-authenticate"].startswith("Bearer")
        problem(
            httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=30),
            401,
            "Unauthenticated",
            "token",  # as on every route
        )
        problem(httpx.get(url, headers=api.as_("local"), timeout=30), 403, "PermissionDenied", "project")
        r = httpx.get(url, headers=api.as_("watcher"), timeout=30)
        assert r.status_code == 200 and "carnet_monitor_info" in r.text
        assert api.tokens["watcher"] not in r.text and "watcher" not in r.text
        problem(httpx.post(url, headers=api.as_("watcher"), timeout=30), 405, "InvalidInput", None)


# -- pieces ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("SELECT 1", "select"),
        ("\n  insert into runs values (1)", "insert"),
        ("(SELECT a FROM b) UNION (SELECT c FROM d)", "select"),
        ("WITH x AS (SELECT 1) UPDATE runs SET a = 1", "update"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "select"),
        ("WITH x AS (SELECT updated_at, deleted FROM runs) SELECT * FROM x", "select"),
        ("PRAGMA journal_mode", "other"),
        ("", "other"),
    ],
)
def test_statements_are_labelled_by_kind(statement: str, kind: str) -> None:
    assert statement_kind(statement) == kind


def test_database_timings_and_errors_come_from_the_engine_and_stop_with_the_metrics() -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")

    def listeners() -> int:
        return len(list(engine.dispatch.before_cursor_execute)) + len(
            list(engine.dialect.dispatch.handle_error)
        )

    alone = listeners()
    metrics = ApiMetrics()
    metrics.watch_engine(engine)
    assert listeners() == alone + 2

    registry = metrics.registry  # holds no reference to the metrics object

    def count(name: str) -> float:
        return registry.get_sample_value(name, {"operation": "select"}) or 0

    with engine.connect() as conn:
        before = count("carnet_db_query_seconds_count")
        conn.execute(text("SELECT 1"))
        assert count("carnet_db_query_seconds_count") == before + 1
        with pytest.raises(Exception, match="nope"):
            conn.execute(text("SELECT * FROM nope"))
    assert count("carnet_db_query_seconds_count") == before + 1
    assert count("carnet_db_query_errors_total") == 1
    del metrics
    gc.collect()
    assert listeners() == alone


def test_a_job_stream_is_followed_across_chunk_boundaries() -> None:
    metrics = ApiMetrics()
    job = _Job(metrics, "automl")
    stream = b"".join(
        line + b"\n"
        for line in (
            b'{"event":"queued"}',
            b'{"event":"started"}',
            b'{"event":"progress","done":1}',
            b'{"event":"result","kind":"automl"}',
        )
    )
    for i in range(0, len(stream), 7):
        job.feed(stream[i : i + 7])
    r = metrics.registry
    assert r.get_sample_value("carnet_server_jobs_running", {"operation": "automl"}) == 1
    assert r.get_sample_value("carnet_server_jobs_queued", {"operation": "automl"}) == 0
    job.close()
    assert (
        r.get_sample_value("carnet_server_jobs_total", {"operation": "automl", "outcome": "succeeded"}) == 1
    )
    assert r.get_sample_value("carnet_server_jobs_running", {"operation": "automl"}) == 0
    gone = _Job(metrics, "automl")
    gone.feed(b'{"event":"started"}\n{"event":"progress"')
    gone.close()  # the client went away before the end
    assert (
        r.get_sample_value("carnet_server_jobs_total", {"operation": "automl", "outcome": "cancelled"}) == 1
    )


# -- PromQL: every name and label is carnet's -----------------------------------------------------------
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
}


@dataclass
class Query:
    metrics: set[str]
    matchers: dict[str, set[str]]  # metric -> label names in its selector
    grouping: set[str]


def parse(expr: str) -> Query:
    """The metric names and label names a PromQL expression uses (a tokenizer, not a full parser)."""
    text = _STRING.sub('""', expr)
    matchers: dict[str, set[str]] = {}
    for name, body in _SELECTOR.findall(text):
        matchers.setdefault(name, set()).update(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", body))
    text = re.sub(r"\{[^}]*\}", " ", text)
    grouping = {
        label.strip() for _, labels in _GROUPING.findall(text) for label in labels.split(",") if label.strip()
    }
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range durations, Grafana's $__rate_interval
    names = set()
    for m in _IDENT.finditer(text):
        rest = text[m.end() :].lstrip()
        if m.group() in _KEYWORDS or rest.startswith("(") or text[max(0, m.start() - 1)] in "$.0123456789":
            continue
        names.add(m.group())
    return Query(names, matchers, grouping)


def every_query() -> Iterator[tuple[str, str, str]]:
    """(where, PromQL, legend) of every dashboard target, annotation and rule."""
    for file, board in dashboards().items():
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                yield f"{file}: {panel['title']}", t["expr"], t.get("legendFormat", "")
        for a in board["annotations"]["list"]:
            if "expr" in a:
                yield f"{file}: annotation {a['name']}", a["expr"], ""
    for group in alerting_rules()["groups"]:
        for rule in group["rules"]:
            text = " ".join(rule["annotations"].values())
            yield f"rule {rule['alert']}", rule["expr"], text


def test_every_query_names_only_metrics_and_labels_carnet_exports() -> None:
    seen = set()
    for where, expr, legend in every_query():
        q = parse(expr)
        assert q.metrics, f"{where}: no metric in {expr!r}"
        labels = {"le"}
        for name in q.metrics:
            try:
                labels |= set(metric(name).labels)
            except KeyError:
                raise AssertionError(f"{where}: {name!r} is not a metric carnet exports") from None
            seen.add(metric(name).name)
        for name, used in q.matchers.items():
            allowed = set(metric(name).labels) | ({"le"} if name.endswith("_bucket") else set())
            assert used <= allowed, f"{where}: {name} has no label {sorted(used - allowed)}"
        assert q.grouping <= labels, f"{where}: grouping by {sorted(q.grouping - labels)}"
        shown = set(re.findall(r"\{\{\s*(?:\$labels\.)?(\w+)\s*\}\}", legend)) - {"value"}
        assert shown <= labels, f"{where}: legend or annotation shows {sorted(shown - labels)}"
    # the catalogue is used: every metric is on a dashboard
    assert {m.name for m in METRICS} - seen == set()


def test_the_tokenizer_catches_what_it_must() -> None:
    q = parse(
        'sum by (endpoint) (rate(carnet_requests_total{code=~"5..", endpoint=~"$e"}[$__rate_interval]))'
    )
    assert q.metrics == {"carnet_requests_total"} and q.grouping == {"endpoint"}
    assert q.matchers == {"carnet_requests_total": {"code", "endpoint"}}
    assert parse("histogram_quantile(0.99, sum by (le) (rate(carnet_nope_bucket[5m]))) > 1").metrics == {
        "carnet_nope_bucket"
    }
    assert parse("max by (monitor) (carnet_monitor_active_alerts) > 0 or vector(0)").metrics == {
        "carnet_monitor_active_alerts"
    }


# -- Grafana: the dashboard JSON model ---------------------------------------------------------------
_DS = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
}
_TARGET = {
    "type": "object",
    "required": ["refId", "expr", "datasource"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "expr": {"type": "string", "minLength": 1},
        "legendFormat": {"type": "string"},
        "datasource": _DS,
        "instant": {"type": "boolean"},
        "range": {"type": "boolean"},
        "format": {"enum": ["time_series", "table", "heatmap"]},
        "editorMode": {"enum": ["code", "builder"]},
    },
}
_GRID = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "additionalProperties": False,
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
    },
}
_PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"enum": ["row", "timeseries", "stat", "table"]},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "gridPos": _GRID,
        "datasource": _DS,
        "targets": {"type": "array", "items": _TARGET},
        "fieldConfig": {
            "type": "object",
            "required": ["defaults", "overrides"],
            "properties": {
                "defaults": {"type": "object", "properties": {"unit": {"type": "string"}}},
                "overrides": {"type": "array"},
            },
        },
        "options": {"type": "object"},
        "transformations": {
            "type": "array",
            "items": {"type": "object", "required": ["id", "options"]},
        },
    },
    "if": {"properties": {"type": {"const": "row"}}},
    "then": {"required": ["panels", "collapsed"]},
    "else": {
        "required": ["datasource", "targets", "fieldConfig", "options"],
        "properties": {"targets": {"minItems": 1}},
    },
}
_VARIABLE = {
    "type": "object",
    "required": ["name", "type", "label"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
        "type": {"enum": ["datasource", "query", "custom", "constant", "interval", "textbox"]},
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "datasource"}}},
            "then": {"properties": {"query": {"const": "prometheus"}}, "required": ["query"]},
        },
        {
            "if": {"properties": {"type": {"const": "query"}}},
            "then": {"required": ["query", "datasource", "refresh"], "properties": {"datasource": _DS}},
        },
    ],
}
DASHBOARD_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "annotations", "time", "tags"],
    "properties": {
        "id": {"type": ["integer", "null"]},
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "tags": {"type": "array", "items": {"type": "string"}},
        "time": {"type": "object", "required": ["from", "to"]},
        "refresh": {"type": "string"},
        "editable": {"type": "boolean"},
        "graphTooltip": {"enum": [0, 1, 2]},
        "panels": {"type": "array", "minItems": 1, "items": _PANEL},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "items": _VARIABLE}},
        },
        "annotations": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "items": {"type": "object", "required": ["name"]}}},
        },
        "links": {"type": "array"},
    },
}


def test_dashboards_are_valid_grafana_json_models() -> None:
    jsonschema.Draft202012Validator.check_schema(DASHBOARD_SCHEMA)
    validator = jsonschema.Draft202012Validator(DASHBOARD_SCHEMA)
    boards = dashboards()
    assert set(boards) == {"carnet-serving.json", "carnet-monitoring.json", "carnet-server.json"}
    assert len({b["uid"] for b in boards.values()}) == 3
    for file, board in boards.items():
        board = json.loads(json.dumps(board))  # what a file holds
        errors = sorted(validator.iter_errors(board), key=lambda e: list(e.path))
        assert not errors, f"{file}: {errors[0].message} at {list(errors[0].path)}"
        panels = board["panels"]
        assert len({p["id"] for p in panels}) == len(panels), file
        cells: dict[tuple[int, int], str] = {}
        for p in panels:
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24, (file, p["title"])
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{file}: {p['title']!r} overlaps {cells[(x, y)]!r}"
                    cells[(x, y)] = p["title"]
            refs = [t["refId"] for t in p.get("targets", [])]
            assert len(refs) == len(set(refs)), (file, p["title"])
        names = {v["name"] for v in board["templating"]["list"]}
        assert "datasource" in names, file
        used = set(re.findall(r"\$\{?(\w+)", json.dumps(board["panels"]) + json.dumps(board["templating"])))
        assert used - {"__rate_interval"} <= names, f"{file}: undefined variables {used - names}"
        for v in board["templating"]["list"]:
            if v["type"] == "query":
                m = re.fullmatch(r"label_values\((\w+)(\{[^}]*\})?, (\w+)\)", v["query"])
                assert m, v["query"]
                assert m.group(3) in metric(m.group(1)).labels, v["query"]


def test_the_serving_dashboard_covers_what_operators_ask_for() -> None:
    board = dashboards()["carnet-serving.json"]
    exprs = " ".join(t["expr"] for p in board["panels"] for t in p.get("targets", []))
    titles = " ".join(p["title"].lower() for p in board["panels"])
    for needed in ("requests/s", "error", "latency", "rows per predict call", "queue depth", "by version"):
        assert needed in titles, needed
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, " in exprs
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "endpoint", "model", "version"}
    monitoring = dashboards()["carnet-monitoring.json"]
    exprs = " ".join(t["expr"] for p in monitoring["panels"] for t in p.get("targets", []))
    for needed in (
        "drift.share_drifted",
        "carnet_monitor_column_drift",
        "performance[.]estimated",
        "performance[.]realized",
        "carnet_monitor_active_alerts",
    ):
        assert needed in exprs, needed


# -- Prometheus rules -----------------------------------------------------------------------------------
def test_rules_are_a_prometheus_rule_file() -> None:
    doc = yaml.safe_load(rules_yaml())
    assert doc == alerting_rules()
    alerts = [r for g in doc["groups"] for r in g["rules"]]
    assert len({r["alert"] for r in alerts}) == len(alerts)
    for r in alerts:
        assert set(r) == {"alert", "expr", "for", "labels", "annotations"}, r["alert"]
        assert r["labels"]["severity"] in ("critical", "warning", "info")
        assert set(r["annotations"]) == {"summary", "description"}
        assert re.fullmatch(r"\d+[smh]", r["for"])
    names = {r["alert"] for r in alerts}
    for needed in (
        "CarnetServingErrorRateHigh",
        "CarnetServingLatencyP99High",
        "CarnetServingOverloaded",
        "CarnetMonitorAlertsOpen",
    ):
        assert needed in names
    tuned = alerting_rules(RuleOptions(error_ratio=0.02, p99_seconds=0.25))
    assert "> 0.25" in tuned["groups"][0]["rules"][1]["expr"]
    for bad in ({"error_ratio": 1.5}, {"overload_ratio": 0}, {"p99_seconds": -1}):
        with pytest.raises(Exception, match="must be"):
            RuleOptions(**bad)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


@needs_promtool
def test_promtool_accepts_the_rules_and_every_dashboard_query(tmp_path: Path) -> None:
    rules = tmp_path / "carnet.yml"
    rules.write_text(rules_yaml())
    done = _promtool("check", "rules", str(rules))
    assert done.returncode == 0, done.stdout + done.stderr
    # every dashboard expression, Grafana's variables filled in, as a recording rule: promtool
    # parses each with Prometheus's own PromQL parser
    exprs = []
    for board in dashboards().values():
        for panel in board["panels"]:
            exprs += [t["expr"] for t in panel.get("targets", [])]
        exprs += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
    filled = [re.sub(r"\$\w+", ".*", e.replace("$__rate_interval", "5m")) for e in exprs]
    recording = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [{"record": f"carnet:dashboard_query:{i}", "expr": e} for i, e in enumerate(filled)],
            }
        ]
    }
    queries = tmp_path / "queries.yml"
    queries.write_text(yaml.safe_dump(recording))
    done = _promtool("check", "rules", str(queries))
    assert done.returncode == 0, done.stdout + done.stderr
    # and it refuses a broken one (the check can fail)
    queries.write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "a:b", "expr": "sum(("}]}]})
    )
    assert _promtool("check", "rules", str(queries)).returncode != 0


_LABELS = 'endpoint="churn",model="churn",version="2",protocol="v2"'
_SERIES = 'carnet_requests_total{%s,code="%s"}'
_BUCKET = 'carnet_request_latency_seconds_bucket{%s,le="%s"}'


def _fires(alert: str, at: str, severity: str, where: tuple[str, str], summary: str) -> dict[str, Any]:
    """A promtool expectation: ``alert`` fires at ``at`` for the series labelled ``where``."""
    label, value = where
    rule = next(r for g in alerting_rules()["groups"] for r in g["rules"] if r["alert"] == alert)
    description = rule["annotations"]["description"].replace("{{ $labels." + label + " }}", value)
    return {
        "eval_time": at,
        "alertname": alert,
        "exp_alerts": [
            {
                "exp_labels": {"severity": severity, label: value},
                "exp_annotations": {"summary": summary, "description": description},
            }
        ],
    }


@needs_promtool
def test_promtool_unit_tests_fire_the_alerts_on_the_right_series(tmp_path: Path) -> None:
    (tmp_path / "carnet.yml").write_text(rules_yaml())
    churn = ("endpoint", "churn")
    series = [  # 10% of the requests fail, 5% are refused (overload), all take 0.5s to 2.5s
        (_SERIES % (_LABELS, "200"), "0+85x30"),
        (_SERIES % (_LABELS, "500"), "0+10x30"),
        (_SERIES % (_LABELS, "503"), "0+5x30"),
        (_BUCKET % (_LABELS, "0.5"), "0+0x30"),
        (_BUCKET % (_LABELS, "2.5"), "0+100x30"),
        (_BUCKET % (_LABELS, "+Inf"), "0+100x30"),
        ('carnet_monitor_active_alerts{monitor="churn-prod"}', "0 0 2x20"),
        ('carnet_monitor_active_alerts{monitor="calm"}', "0x20"),
    ]
    expected = [
        _fires(
            "CarnetServingErrorRateHigh",
            "20m",
            "critical",
            churn,
            "carnet endpoint churn fails 10% of its requests",
        ),
        {"eval_time": "3m", "alertname": "CarnetServingErrorRateHigh", "exp_alerts": []},  # still pending
        _fires(
            "CarnetServingOverloaded",
            "20m",
            "warning",
            churn,
            "carnet endpoint churn refuses 5% of its requests (overloaded)",
        ),
        _fires(
            "CarnetServingLatencyP99High",
            "20m",
            "warning",
            churn,
            "carnet endpoint churn p99 latency is 2.48s",
        ),
        _fires(
            "CarnetMonitorAlertsOpen",
            "10m",
            "warning",
            ("monitor", "churn-prod"),
            "carnet monitor churn-prod has 2 open alert(s)",
        ),
    ]
    tests = {
        "rule_files": ["carnet.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "alert_rule_test": expected,
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    done = _promtool("test", "rules", str(tmp_path / "tests.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_documentation_lists_every_metric_and_alert() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text()
    missing = [m.name for m in METRICS if f"`{m.name}`" not in doc]
    missing += [
        r["alert"] for g in alerting_rules()["groups"] for r in g["rules"] if f"`{r['alert']}`" not in doc
    ]
    assert not missing, f"docs/observability.md does not name {missing}"
