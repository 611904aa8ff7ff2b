"""The web UI in a real browser (Debian's Chromium driven by Playwright): sign in, filter runs, draw a
100,000-step chart and zoom into it, compare three runs and brush their parallel coordinates, group
by seed, approve a promotion as an approver and see the alias move once an admin promotes, acknowledge
an alert, verify the ledger; no script of the XSS corpus ever runs and the CSP is never violated.

Screenshots of the main pages go to ``$CARNET_UI_SCREENSHOTS`` (the README's come from there) or to
the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ui_seed import MODEL, seed, traffic

from carnet.bootstrap import open_services
from carnet.errors import GateFailed
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.services import Services

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; .ci/run installs it)"
)


@dataclass
class Live:
    url: str
    services: Services
    tokens: dict[str, str]
    spike_run: str
    hostile_run: str
    shots: Path
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("ui-browser")
    s = open_services(str(tmp / "ws"))
    seeded = seed(s, tmp)
    traffic(s, [float(i % 4) for i in range(50)] + [9.0 + i % 3 for i in range(50)])
    s.monitoring.run("mon", flush=True)
    with pytest.raises(GateFailed):  # waits for one approval
        s.promotion.promote(MODEL, 2, "production")
    tokens = {}
    for user, roles in {"root": {"*": "admin"}, "approver": {"demo": "approver"}}.items():
        s.auth.add_user(user, roles)
        tokens[user] = s.auth.create_token(user, "browser")[0]
    server = serve_api_in_thread(create_api_app(s, require_auth=True))
    shots = Path(os.environ.get("CARNET_UI_SCREENSHOTS") or tmp / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Live(server.url, s, tokens, seeded.spike_run, seeded.hostile_run, shots)
    finally:
        server.stop()
        s.close()


@pytest.fixture(scope="module")
def browser(live: Live) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser: Any, live: Live, user: str) -> Any:
    """A signed-in page of a fresh context; dialogs (a script of the corpus running) and CSP
    violations are recorded as problems."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()

    def dialog(d: Any) -> None:
        live.problems.append(f"dialog: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    page.on(
        "console",
        lambda m: (
            live.problems.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: live.problems.append(f"script error: {e}"))
    page.goto(live.url + "/login")
    page.fill("#token", live.tokens[user])
    page.click("form.stack button[type=submit]")
    page.wait_for_url(live.url + "/")
    return page


def test_sign_in_filter_runs_and_group_by_seed(browser: Any, live: Live) -> None:
    page = _page(browser, live, "root")
    assert page.locator("main h1").inner_text() == "Projects"
    page.click("nav >> text=Runs")
    page.fill("input[name=filter]", "params.model = 'logreg'")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert page.locator("#runs tbody tr").count() == 4
    page.screenshot(path=str(live.shots / "runs.png"))
    page.fill("input[name=filter]", "tags.team = 'a'")
    page.fill("input[name=group]", "params.seed")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert page.locator("#groups tbody tr").count() == 4  # seeds 0 to 3, three runs each
    assert "±" in page.locator("#groups tbody tr").first.inner_text()
    page.context.close()


def test_child_runs_fold_under_their_parent(browser: Any, live: Live) -> None:
    t = live.services.tracking
    parent = t.create_run("nest", "study")
    for i in range(3):
        t.create_run("nest", f"trial-{i}", parent_id=parent.id)
    page = _page(browser, live, "root")
    page.goto(f"{live.url}/runs?project=nest")
    children = page.locator(f"tr[data-parent='{parent.id}']")
    assert children.count() == 3 and all(not children.nth(i).is_visible() for i in range(3))
    page.click(f"button[data-toggle='{parent.id}']")
    assert all(children.nth(i).is_visible() for i in range(3))
    page.click(f"button[data-toggle='{parent.id}']")
    assert not children.first.is_visible()
    page.context.close()


def test_a_100k_step_chart_is_drawn_and_zooms_to_full_resolution(browser: Any, live: Live) -> None:
    page = _page(browser, live, "root")
    page.goto(f"{live.url}/runs/{live.spike_run}")
    chart = page.locator("figure.chart[data-drawn]").first
    chart.wait_for()
    assert int(chart.get_attribute("data-total") or 0) == 100_000
    assert int(chart.get_attribute("data-points") or 0) <= 1500
    over = chart.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.50, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.52, y, steps=5)
    page.mouse.up()
    page.wait_for_selector("figure.chart[data-zoomed='1']")
    assert 0 < int(chart.get_attribute("data-points") or 0) <= 1500
    chart.screenshot(path=str(live.shots / "chart.png"))
    page.screenshot(path=str(live.shots / "run.png"))
    page.context.close()


def test_compare_three_runs_and_brush_an_axis(browser: Any, live: Live) -> None:
    page = _page(browser, live, "root")
    page.goto(f"{live.url}/runs?filter=tags.team+%3D+%27a%27&order=metrics.auc+DESC")
    boxes = page.locator("#runs tbody input[type=checkbox]")
    for i in range(3):
        boxes.nth(i).check()
    with page.expect_navigation():
        page.click("text=Compare selected")
    page.wait_for_selector("#parcoords svg")
    assert page.locator("main h1").inner_text() == "Compare 3 runs"
    assert page.locator("#parcoords").get_attribute("data-kept") == "3"
    axis = page.locator("#parcoords rect[data-axis='metrics.auc']")
    box = axis.bounding_box()
    assert box is not None
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 1)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] * 0.25, steps=5)
    page.mouse.up()
    page.locator("#parcoords[data-kept='1']").wait_for()
    page.locator("figure.chart.multi").first.scroll_into_view_if_needed()
    page.locator("figure.chart.multi[data-drawn]").first.wait_for()  # drawn once in view
    page.screenshot(path=str(live.shots / "compare.png"), full_page=True)
    page.context.close()


def test_an_approver_approves_and_the_alias_moves_once_an_admin_promotes(browser: Any, live: Live) -> None:
    approver = _page(browser, live, "approver")
    approver.goto(live.url + "/approvals")
    pending = approver.locator("article.pending")
    assert pending.count() == 1 and f"{MODEL}/2" in pending.inner_text()
    assert approver.locator("text=Promote now").count() == 0  # an approver cannot promote
    approver.screenshot(path=str(live.shots / "approvals.png"))
    approver.fill("article.pending input[name=comment]", "checked the card")
    with approver.expect_navigation():
        approver.click("article.pending button:has-text('Approve')")
    assert [a.actor for a in live.services.registry.approvals(MODEL, 2)] == ["approver"]
    approver.context.close()
    admin = _page(browser, live, "root")
    admin.goto(live.url + "/approvals")
    admin.click("text=Promote now")
    admin.wait_for_selector(".verdict.pass")
    assert "production now points at version 2" in admin.locator(".verdict").inner_text()
    admin.goto(f"{live.url}/models/{MODEL}")
    assert "production → 2" in admin.locator("main").inner_text()
    assert live.services.registry.get_model(MODEL).aliases["production"] == 2
    admin.context.close()


def test_acknowledge_an_alert_and_verify_the_ledger(browser: Any, live: Live) -> None:
    page = _page(browser, live, "root")
    page.goto(live.url + "/monitors/mon")
    page.screenshot(path=str(live.shots / "monitor.png"))
    row = page.locator("#alert-table tbody tr").first
    row.locator("input[name=comment]").first.fill("on it")
    with page.expect_navigation():
        row.locator("button:has-text('Acknowledge')").click()
    assert "acknowledged by root: “on it”" in page.locator("#alert-table").inner_text()
    page.goto(live.url + "/audit")
    with page.expect_navigation():
        page.click("#verify-form button")
    assert page.locator("#verdict").inner_text().startswith("OK:")
    page.context.close()


def test_no_script_of_the_corpus_runs_and_the_csp_holds(browser: Any, live: Live) -> None:
    page = _page(browser, live, "root")
    for path in (
        "/runs",
        f"/runs/{live.hostile_run}",
        f"/compare?run={live.hostile_run}&run={live.spike_run}",
        f"/models/{MODEL}/1",
        "/datasets/table/1",
        "/lineage?ref=table@1",
        "/monitors/mon",
        "/audit",
    ):
        page.goto(live.url + path)
        page.wait_for_load_state("load")
        page.wait_for_timeout(200)
    page.screenshot(path=str(live.shots / "dataset.png"))
    page.context.close()
    assert live.problems == []
