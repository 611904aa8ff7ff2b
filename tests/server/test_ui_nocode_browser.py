"""Train and release a model without code, in a real browser (Debian's Chromium driven by
Playwright): an editor uploads scikit-learn's breast-cancer table as CSV, starts AutoML with a small
budget and watches the leaderboard fill in, opens the best run's report and registers it; an admin
requests the promotion to production (its gates shown as they run) under the project's policy that
needs one approval; an approver approves; the admin promotes and deploys. The alias moved, the
endpoint answers a prediction over HTTP, and the audit ledger names each actor. No dialog opens and
the CSP is never violated.

Screenshots go to ``$CARNET_UI_SCREENSHOTS`` (the docs' come from there) or to the test's folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from carnet.bootstrap import open_services
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.services import Services

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; .ci/run installs it)"
)
PROJECT = "clinic"
#: the project's policy: the metric on the uploaded table, then one person's approval
POLICY = {
    "name": "release",
    "aliases": ["production"],
    "evaluation_data": "cancer@1",
    "gates": [
        {"type": "metric", "condition": "roc_auc >= 0.8", "bootstrap": 0},
        {"type": "approval", "name": "sign-off", "required": 1},
    ],
}


@dataclass
class Live:
    url: str
    services: Services
    tokens: dict[str, str]
    table: Path
    shots: Path
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from sklearn.datasets import load_breast_cancer

    tmp = tmp_path_factory.mktemp("ui-nocode-browser")
    table = tmp / "breast_cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(table, index=False)
    s = open_services(str(tmp / "ws"))
    s.tracking.create_project(PROJECT)
    s.promotion.set_policy(POLICY, project=PROJECT)
    tokens = {}
    for user, roles in {
        "erin": {PROJECT: "editor"},
        "abe": {PROJECT: "approver"},
        "root": {"*": "admin"},
    }.items():
        s.auth.add_user(user, roles)
        tokens[user] = s.auth.create_token(user, "browser")[0]
    server = serve_api_in_thread(create_api_app(s, require_auth=True))
    shots = Path(os.environ.get("CARNET_UI_SCREENSHOTS") or tmp / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Live(server.url, s, tokens, table, shots)
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
    """A signed-in page of a fresh context; dialogs and CSP violations are recorded as problems."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)

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


def _v2_body(rows: Any) -> dict[str, Any]:
    """An Open Inference Protocol request with one FP64 tensor per column."""
    return {
        "inputs": [
            {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": rows[c].astype(float).tolist()}
            for c in rows.columns
        ]
    }


def test_train_register_promote_and_deploy_without_code(browser: Any, live: Live) -> None:
    import pandas as pd

    from carnet.server.background import serve_in_thread

    # an editor uploads the table and trains on it
    editor = _page(browser, live, "erin")
    editor.goto(live.url + "/datasets")
    editor.set_input_files("#upload-form input[name=file]", str(live.table))
    editor.fill("#upload-form input[name=name]", "cancer")
    editor.fill("#upload-form input[name=project]", PROJECT)
    with editor.expect_navigation():
        editor.click("#upload-form button[type=submit]")
    assert "Stored as version 1 of cancer" in editor.locator("#uploaded").inner_text()
    assert editor.locator("#pii-none").count() == 1
    editor.screenshot(path=str(live.shots / "nocode-upload.png"))
    with editor.expect_navigation():
        editor.click("#open-version")
    editor.select_option("#automl-form select[name=target]", "target")
    editor.fill("#automl-form input[name=time_budget]", "25")  # three candidates end it sooner
    editor.fill("#automl-form input[name=max_trials]", "3")
    with editor.expect_navigation():
        editor.click("#automl-form button[type=submit]")
    assert "/runs/" in editor.url
    study_id = editor.url.rsplit("/", 1)[1]
    editor.wait_for_selector("#leaderboard tbody tr")  # rows appear as candidates finish
    editor.wait_for_selector("#best-run")  # the study ended: the polled fragment swapped in
    assert editor.locator("#study-progress .badge").inner_text() == "finished"
    assert editor.locator("#leaderboard tbody tr").count() >= 1
    editor.screenshot(path=str(live.shots / "nocode-study.png"), full_page=True)
    best = live.services.tracking.get_run(study_id).tags["best_run"]
    with editor.expect_navigation():
        editor.click("#best-run")
    assert editor.url.endswith(f"/runs/{best}")
    assert editor.locator("iframe.report").count() == 1  # the best run's evaluation report
    editor.go_back()
    editor.fill("#register-form input[name=name]", "cancer")
    with editor.expect_navigation():
        editor.click("#register-form button[type=submit]")
    assert editor.url.endswith("/models/cancer/1")

    # the editor asks for the promotion: the gates run and show; it waits for one approval
    assert '"required": 1' in editor.locator("#policy-in-force").text_content()
    assert editor.locator("#deploy-form").count() == 0  # deploying needs admin
    with editor.expect_navigation():
        editor.click("#promotion-request-form button[type=submit]")
    editor.wait_for_selector("#promotion-verdict:has-text('Waiting for approvals')")
    states = editor.locator("#gate-progress tbody tr").evaluate_all("rows => rows.map(r => r.dataset.state)")
    assert states == ["pass", "fail"]
    editor.screenshot(path=str(live.shots / "nocode-promotion.png"))
    editor.context.close()
    admin = _page(browser, live, "root")

    # an approver approves; the admin promotes and deploys
    approver = _page(browser, live, "abe")
    approver.goto(live.url + "/approvals")
    approver.fill("article.pending input[name=comment]", "metrics and card checked")
    with approver.expect_navigation():
        approver.click("article.pending button:has-text('Approve')")
    approver.context.close()
    admin.goto(live.url + "/approvals")
    admin.click("text=Promote now")
    admin.wait_for_selector(".verdict.pass")
    admin.goto(live.url + "/models/cancer/1")
    admin.fill("#deploy-form input[name=endpoint]", "cancer")
    admin.select_option("#deploy-form select[name=target]", "cancer@production")
    with admin.expect_navigation():
        admin.click("#deploy-form button[type=submit]")
    assert admin.url.endswith("/deployments/cancer")
    assert "cancer@production" in admin.locator("#serving").inner_text()
    admin.context.close()

    s = live.services
    assert s.registry.get_model("cancer").aliases["production"] == 1
    assert [r.model for r in s.deployments.get("cancer").routes] == ["cancer@production"]
    served = serve_in_thread(s, endpoints=["cancer"])
    try:
        rows = pd.read_csv(live.table).drop(columns=["target"]).head(3)
        answer = httpx.post(f"{served.url}/v2/models/cancer/infer", json=_v2_body(rows), timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == "1" and answer.json()["outputs"]
    finally:
        served.stop()
    actors = {(e.action, e.actor) for e in s.audit.log(limit=None)}
    for action, actor in (
        ("dataset.add_version", "erin"),
        ("run.create", "erin"),
        ("model.register", "erin"),
        ("model.promote.requested", "erin"),
        ("model.approve", "abe"),
        ("model.promote", "root"),
        ("deployment.set", "root"),
    ):
        assert (action, actor) in actors, (action, actor)
    assert s.audit.verify().ok
    assert live.problems == []
