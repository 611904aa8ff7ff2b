"""The web UI's pages over a live server on a workspace with runs, datasets, models, a deployment, a
monitor with alerts: what each page shows, the forms that change things (approve, promote, alerts,
verify), the metric series and its downsampling, and an XSS corpus rendered as text everywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from ui_seed import MODEL, XSS, seed, traffic

from carnet.bootstrap import open_services
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.server.ui.session import CSRF_COOKIE
from carnet.services import Services


@dataclass
class Site:
    url: str
    services: Services
    runs: list[str]
    spike_run: str
    monitor: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("ui-pages")
    s = open_services(str(tmp / "ws"))
    seeded = seed(s, tmp)
    server = serve_api_in_thread(create_api_app(s, require_auth=False))
    try:
        yield Site(server.url, s, seeded.runs, seeded.spike_run, "mon")
    finally:
        server.stop()
        s.close()


@pytest.fixture
def http(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=60, follow_redirects=False) as client:
        client.get("/")
        yield client


def _form(http: httpx.Client, **fields: str) -> dict[str, str]:
    return {"csrf_token": http.cookies.get(CSRF_COOKIE) or "", **fields}


def test_the_home_page_lists_projects_with_their_run_counts(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert re.search(r'href="/runs\?project=demo">demo</a>.*?<td class="num">14</td>', page.text, re.S)


def test_runs_filter_sort_pages_and_columns(http: httpx.Client, site: Site) -> None:
    page = http.get("/runs", params={"filter": "params.model = 'logreg'", "order": "metrics.auc DESC"})
    names = re.findall(r'<a href="/runs/\w+">(run-\d+)</a>', page.text)
    assert names == ["run-10", "run-7", "run-4", "run-1"]
    first = http.get(
        "/runs", params={"n": "5", "order": "metrics.auc ASC", "cols": "metrics.auc,params.seed"}
    )
    assert len(re.findall(r'name="run" value="', first.text)) == 5
    assert "<th>metrics.auc</th><th>params.seed</th>" in first.text
    after = re.search(r'href="(/runs\?[^"]*page=[^"]+)"', first.text)
    assert after is not None
    second = http.get(after.group(1).replace("&amp;", "&"))
    assert len(re.findall(r'name="run" value="', second.text)) == 5
    assert set(re.findall(r'value="(\w{32})"', first.text)).isdisjoint(
        re.findall(r'value="(\w{32})"', second.text)
    )
    bad = http.get("/runs", params={"filter": "metrics.auc >"})
    assert bad.status_code == 422 and "filter" in bad.text


def test_grouping_by_a_param_shows_mean_and_std_over_the_seeds(http: httpx.Client, site: Site) -> None:
    page = http.get(
        "/runs", params={"group": "params.model", "cols": "metrics.auc", "filter": "tags.team = 'a'"}
    )
    rows = dict(
        re.findall(
            r"<tr>\s*<td>(\w+)</td><td class=\"num\">4</td>\s*<td class=\"num\">([^<]+)</td>", page.text
        )
    )
    aucs = {
        m: [0.5 + i / 100 for i in range(12) if ("forest", "logreg", "boost")[i % 3] == m]
        for m in ("forest", "logreg", "boost")
    }
    for model, values in aucs.items():
        mean, std = np.mean(values), np.std(values, ddof=1)
        shown = rows[model]
        assert shown.startswith(f"{mean:.4g}") and f"± {std:.3g}" in shown, (model, shown)


def test_a_run_page_shows_params_metrics_charts_and_files(http: httpx.Client, site: Site) -> None:
    page = http.get(f"/runs/{site.spike_run}")
    assert page.status_code == 200
    assert f'data-series="/runs/{site.spike_run}/series?key=loss"' in page.text
    prefix = http.get(f"/runs/{site.spike_run[:10]}")
    assert prefix.status_code == 200 and site.spike_run in prefix.text
    missing = http.get("/runs/ffffffffffff", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "NotFound" in missing.text


def test_a_long_series_is_bucketed_with_its_spike_and_a_zoom_is_full_resolution(
    http: httpx.Client, site: Site
) -> None:
    full = http.get(f"/runs/{site.spike_run}/series", params={"key": "loss"}).json()
    assert full["total"] == 100_000 and not full["raw"]
    assert len(full["step"]) <= 1500 and max(full["max"]) == 50.0
    assert max(v for v in full["value"] if v is not None) < 50.0  # the mean hides it, the envelope keeps it
    zoom = http.get(
        f"/runs/{site.spike_run}/series", params={"key": "loss", "start": 54_000, "end": 54_999}
    ).json()
    assert zoom["raw"] and zoom["total"] == 1000 and zoom["step"][0] == 54_000 and 50.0 in zoom["value"]
    assert http.get(f"/runs/{site.spike_run}/series").status_code == 422
    assert (
        http.get(f"/runs/{site.spike_run}/series", params={"key": "loss", "start": "nan"}).status_code == 422
    )


def test_child_runs_come_right_under_their_parent(http: httpx.Client, site: Site) -> None:
    t = site.services.tracking
    parent = t.create_run("nest", "study")
    trials = [t.create_run("nest", f"trial-{i}", parent_id=parent.id).id for i in range(3)]
    page = http.get("/runs", params={"project": "nest", "order": "start_time ASC"})
    rows = re.findall(r'<tr class="[^"]*" data-run="(\w+)"(?: data-parent="(\w+)")?>', page.text)
    assert rows[0] == (parent.id, "") and [r[0] for r in rows[1:]] == trials
    assert all(r[1] == parent.id for r in rows[1:])
    assert f'data-toggle="{parent.id}"' in page.text


def test_a_studys_leaderboard_is_a_table_on_its_parent_run(http: httpx.Client, site: Site) -> None:
    import json

    t = site.services.tracking
    parent = t.create_run("nest", "search")
    trial = t.create_run("nest", "trial", parent_id=parent.id)
    rows = [
        {
            "rank": 1,
            "trial": 3,
            "value": 0.91234,
            "params": {"C": 0.5},
            "state": "COMPLETE",
            "run_id": trial.id,
        },
        {"rank": 2, "trial": 1, "value": 0.8, "params": {"C": XSS[0]}, "state": "COMPLETE", "run_id": None},
    ]
    t.log_artifact_bytes(parent.id, json.dumps(rows).encode(), "search/leaderboard.json")
    page = http.get(f"/runs/{parent.id}").text
    assert "<th>rank</th><th>trial</th><th>value</th><th>params</th><th>state</th><th>Run</th>" in page
    assert f'<td>0.9123</td><td>C=0.5</td><td>COMPLETE</td><td><a href="/runs/{trial.id}">' in page
    assert XSS[0] not in page and "C=&lt;script&gt;" in page


def test_compare_marks_the_params_that_differ(http: httpx.Client, site: Site) -> None:
    page = http.get("/compare", params=[("run", r) for r in site.runs[:3]])
    assert page.status_code == 200
    assert '<tr class="differs"><th>params.model</th>' in page.text
    assert '<tr class=""><th>params.seed</th>' in page.text  # the three share seed 0
    assert 'id="compare-data"' in page.text and 'data-series="/compare/series?key=auc&amp;run=' in page.text
    assert http.get("/compare").status_code == 422
    both = http.get(
        "/compare/series", params={"key": "loss", "run": f"{site.spike_run},{site.runs[0]}"}
    ).json()
    assert [s["total"] for s in both["series"]] == [100_000, 0] and len(both["series"][0]["step"]) <= 500
    chart = http.get(f"/runs/{site.spike_run}/chart", params={"key": "loss"})
    assert chart.status_code == 200 and f'data-series="/runs/{site.spike_run}/series?key=loss"' in chart.text


def test_datasets_pages_show_profile_histograms_diff_and_use(http: httpx.Client, site: Site) -> None:
    assert 'href="/datasets/table"' in http.get("/datasets").text
    version = http.get("/datasets/table/1")
    assert version.status_code == 200
    assert 'aria-label="histogram of x"' in version.text
    assert re.search(r'input \(training\): run <a href="/runs/\w+">', version.text)
    diff = http.get("/datasets/table/diff", params={"a": 1, "b": 2})
    assert "Columns removed" in diff.text and "Rows: 200 → 300" in diff.text


def test_promotion_dry_run_approval_queue_approve_and_promote(http: httpx.Client, site: Site) -> None:
    dry = http.post(f"/models/{MODEL}/2/promote", data=_form(http, alias="production", dry_run="1"))
    assert dry.status_code == 200 and "Dry run" in dry.text and "FAIL" in dry.text and "approval" in dry.text
    assert site.services.registry.get_model(MODEL).aliases["production"] == 1
    refused = http.post(f"/models/{MODEL}/2/promote", data=_form(http, alias="production"))
    assert "the alias did not move" in refused.text
    queue = http.get("/approvals")
    assert f'href="/models/{MODEL}/2">{MODEL}/2</a> → production' in queue.text
    ok = http.post(
        f"/models/{MODEL}/2/approve", data=_form(http, alias="production", back="approvals", comment="fine")
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/approvals"
    done = http.post(f"/models/{MODEL}/2/promote", data=_form(http, alias="production"))
    assert "Promoted: production now points at version 2" in done.text
    assert site.services.registry.get_model(MODEL).aliases["production"] == 2
    assert "Nothing waits for an approval" in http.get("/approvals").text
    model = http.get(f"/models/{MODEL}")
    assert "applied" in model.text and "refused" in model.text
    moves = re.findall(r"<td>production</td><td>(\w+)</td><td class=\"num\">(\d+)</td>", model.text)
    assert moves[0][1] == "2" and moves[-1] == (moves[-1][0], "1")  # newest first: 2, then the first set


def test_deployment_monitor_and_alert_pages(http: httpx.Client, site: Site) -> None:
    assert 'href="/deployments/web"' in http.get("/deployments").text
    s = site.services
    traffic(s, [float(i % 4) for i in range(50)] + [9.0 + i % 3 for i in range(50)])
    s.monitoring.run("mon", flush=True)
    deployment = http.get("/deployments/web")
    assert f"{MODEL}@production" in deployment.text and re.search(
        r'<td class="num">100</td>', deployment.text
    )
    page = http.get("/monitors/mon")
    assert page.status_code == 200 and 'id="heatmap"' in page.text and "<th>x</th>" in page.text
    assert "share of drifted columns" in page.text
    alerts = s.alerts.list(monitor=s.monitoring.get("mon"))
    opened = [a for a in alerts if a.status == "open"]
    assert opened, "the shifted window opens an alert"
    alert = opened[0]
    assert f'action="/alerts/{alert.id}/acknowledge"' in page.text
    r = http.post(f"/alerts/{alert.id}/acknowledge", data=_form(http, comment="looking"))
    assert r.status_code == 303 and r.headers["location"] == "/monitors/mon#alerts"
    after = http.get("/monitors/mon").text
    assert "acknowledged by" in after and "looking" in after
    http.post(f"/alerts/{alert.id}/resolve", data=_form(http, comment="fixed"))
    assert "resolved" in http.get("/monitors/mon").text
    assert http.post("/alerts/abc/resolve", data=_form(http)).status_code == 422


def test_the_ledger_page_filters_and_verifies(http: httpx.Client, site: Site) -> None:
    page = http.get("/audit", params={"action": "model.approve"})
    assert page.status_code == 200 and "model.approve" in page.text and "run.create" not in page.text
    today = http.get("/audit", params={"since": "2000-01-01", "until": "2999-12-31", "actor": "root"})
    assert today.status_code == 200 and "run.create" in today.text
    past = http.get("/audit", params={"until": "2001-01-01"})
    assert "No event matches" in past.text
    assert http.get("/audit", params={"since": "yesterday"}).status_code == 422
    verdict = http.post("/audit/verify", data=_form(http))
    assert verdict.status_code == 200 and re.search(r"OK: \d+ events verified", verdict.text)


def test_the_lineage_page_draws_links_to_each_object(http: httpx.Client, site: Site) -> None:
    page = http.get("/lineage", params={"ref": "table@1"})
    assert page.status_code == 200 and "<svg" in page.text
    assert f'href="/runs/{site.runs[0]}"' in page.text and 'href="/datasets/table/1"' in page.text


PAGES_WITH_DATA = [
    "/", "/runs", "/runs?group=params.model", "/datasets", "/datasets/table", "/datasets/table/1", "/models",
    f"/models/{MODEL}", f"/models/{MODEL}/1", "/approvals", "/audit", "/lineage?ref=table@1",
]  # fmt: skip


def test_an_xss_corpus_renders_as_text_on_every_page(http: httpx.Client, site: Site) -> None:
    hostile = site.services.tracking.search_runs("demo", f"name = '{XSS[0]}'").runs[0].id
    for path in [*PAGES_WITH_DATA, f"/runs/{hostile}", f"/compare?run={hostile}&run={site.runs[0]}"]:
        html = http.get(path).text
        for payload in (XSS[0], XSS[1], XSS[3]):
            assert payload not in html, (path, payload)
        assert not re.search(r"(href|src|action)=\"\s*javascript:", html, re.I), path
        assert "<script>alert" not in html and "<img src=x" not in html and "<svg/onload" not in html, path
    run_page = http.get(f"/runs/{hostile}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in run_page
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in run_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in http.get("/datasets/table/1").text
    assert "{{7*7}}" in http.get("/datasets/table/1").text


def test_a_log_larger_than_a_streamed_download_still_shows_its_tail(http: httpx.Client, site: Site) -> None:
    t = site.services.tracking
    run = t.create_run("demo", "chatty")
    t.log_artifact_bytes(run.id, b"x" * (5 * 2**20) + b"\nTHE END\n", "logs/training.txt")
    page = http.get(f"/runs/{run.id}").text
    assert "THE END" in page and "larger than" not in page


def test_a_running_runs_log_is_polled_until_it_ends(http: httpx.Client, site: Site) -> None:
    t = site.services.tracking
    run = t.create_run("demo", "live")
    page = http.get(f"/runs/{run.id}")
    assert 'hx-trigger="every 2s"' in page.text
    part = http.get(f"/runs/{run.id}", params={"part": "log"}, headers={"HX-Request": "true"})
    assert part.status_code == 200
    t.end_run(run.id, "finished")
    ended = http.get(f"/runs/{run.id}", params={"part": "log"}, headers={"HX-Request": "true"})
    assert ended.status_code == 286  # htmx stops polling


def test_carnet_ui_help_has_an_example() -> None:
    from click.testing import CliRunner

    from carnet.cli.main import cli

    out = CliRunner().invoke(cli, ["ui", "--help"])
    assert out.exit_code == 0 and "carnet ui --open" in out.output and "--json" in out.output
