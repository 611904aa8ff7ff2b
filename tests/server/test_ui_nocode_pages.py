"""The web UI's no-code forms over a live server with authentication on (no browser): uploading a
table (and its personal-data scan), the AutoML form's checks, a study's page while its candidates
finish and once it ended (registering the best model), a promotion whose gates run in the
background, deploying a version, a pipeline run's graph, and the background job registry. Every
bad input is the API's problem detail rendered as a page, never a traceback."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from carnet.bootstrap import open_services
from carnet.errors import Conflict, InvalidInput, NotFound
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.server.jobs import JobFailed, JobRegistry, jobs_of
from carnet.server.ui.session import CSRF_COOKIE, SESSION_COOKIE
from carnet.services import Services

PROJECT = "demo"
MODEL = "clf"
USERS = {
    "editor": {PROJECT: "editor"},
    "viewer": {PROJECT: "viewer"},
    "padmin": {PROJECT: "admin"},
    "root": {"*": "admin"},
}
XSS = "<script>alert(1)</script>"


@dataclass
class Site:
    url: str
    app: Any
    services: Services
    tokens: dict[str, str]
    model_run: str


def _spec(dataset: str) -> dict[str, Any]:
    model = {"name": "logistic_regression", "params": {"max_iter": 300}}
    return {"dataset": dataset, "task": "binary", "target": "target", "split": "holdout", "seed": 1,
            "model": model, "project": PROJECT}  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from sklearn.linear_model import LogisticRegression

    tmp = tmp_path_factory.mktemp("ui-nocode")
    s = open_services(str(tmp / "ws"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2))
    table = tmp / "table.csv"
    pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "target": (x[:, 0] > 0).astype(int)}).to_csv(
        table, index=False
    )
    s.datasets.add(table, "table", project=PROJECT)
    model_run = s.training.train(_spec("table@1")).run_id
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 5})
    for c in (1.0, 0.5):
        s.registry.register_object(
            LogisticRegression(C=c).fit(frame, [0, 0, 1, 1] * 5), MODEL, frame, project=PROJECT, task="binary"
        )
    s.registry.set_alias(MODEL, "production", 1)
    s.promotion.set_policy(
        {"name": "sign-off", "aliases": ["production"], "gates": [{"type": "approval", "required": 1}]},
        model=MODEL,
    )
    s.registry.register_object(
        LogisticRegression().fit(frame, [0, 0, 1, 1] * 5), "bare", frame, project=PROJECT, task="binary"
    )
    tokens = {}
    for user, roles in USERS.items():
        s.auth.add_user(user, roles)
        tokens[user] = s.auth.create_token(user, "ui")[0]
    server = serve_api_in_thread(create_api_app(s, require_auth=True))
    try:
        yield Site(server.url, server.app, s, tokens, model_run)
    finally:
        server.stop()
        s.close()


@contextmanager
def _client(site: Site, user: str) -> Iterator[httpx.Client]:
    """A browser-like client signed in as ``user`` (its CSRF cookie from the sign-in page)."""
    with httpx.Client(base_url=site.url, timeout=60, follow_redirects=False) as http:
        http.get("/login")
        http.cookies.set(SESSION_COOKIE, site.tokens[user])
        yield http


def _form(http: httpx.Client, **fields: str) -> dict[str, str]:
    return {"csrf_token": http.cookies.get(CSRF_COOKIE) or "", **fields}


def _events(site: Site) -> int:
    return len(site.services.audit.log(limit=100_000))


def _refused(r: httpx.Response, status: int, field: str | None = None) -> None:
    """``r`` is the API's problem detail for ``status`` rendered as a page (and names ``field``)."""
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in r.text and "Traceback" not in r.text
    if field is not None:
        assert f"<code>{field}</code>" in r.text, r.text[:800]


# -- upload ---------------------------------------------------------------------------------------
def test_an_editor_uploads_a_table_and_sees_its_personal_data_scan(site: Site) -> None:
    people = pd.DataFrame(
        {"email": [f"user{i}@example.com" for i in range(40)], "age": range(40), "target": [0, 1] * 20}
    )
    with _client(site, "editor") as http:
        assert 'id="upload-form"' in http.get("/datasets").text
        r = http.post(
            "/datasets",
            data=_form(http, name="people", project=PROJECT, description=XSS),
            files={"file": ("people.csv", people.to_csv(index=False).encode(), "text/csv")},
        )
        assert r.status_code == 201, r.text[:500]
        assert 'id="pii-found"' in r.text and re.search(r"<td>email</td><td>email</td>", r.text)
        assert "carnet data deidentify people@1 --config deid.yaml" in r.text
        again = http.post(
            "/datasets",
            data=_form(http, name="people", project=PROJECT),
            files={"file": ("again.csv", people.to_csv(index=False).encode(), "text/csv")},
        )
        assert again.status_code == 200 and "nothing new was stored" in again.text
        page = http.get("/datasets/people/1").text
        assert 'id="automl-form"' in page and '<option value="target">target</option>' in page
    version = site.services.datasets.get("people@1")
    assert version.project == PROJECT and version.source == "upload:people.csv"
    added = site.services.audit.log(subject_type="dataset", subject_id="people", action="dataset.add_version")
    assert [e.actor for e in added] == ["editor"]
    with _client(site, "viewer") as http:
        assert 'id="upload-form"' not in http.get("/datasets").text
        assert 'id="automl-form"' not in http.get("/datasets/people/1").text


def test_an_upload_refuses_bad_input_with_the_problem_as_a_page(site: Site) -> None:
    before = _events(site)
    csv = b"a,b\n1,2\n"
    with _client(site, "editor") as http:
        text = http.post(
            "/datasets",
            data=_form(http, name="notes", project=PROJECT),
            files={"file": ("notes.txt", b"hello", "text/plain")},
        )
        _refused(text, 422, "file")
        assert "is not a CSV or Parquet file" in text.text
        _refused(http.post("/datasets", data=_form(http, name="nofile", project=PROJECT)), 422, "file")
        bad = http.post(
            "/datasets", data=_form(http, name="../up", project=PROJECT), files={"file": ("a.csv", csv)}
        )
        _refused(bad, 422, "name")
        empty = http.post(
            "/datasets", data=_form(http, name="empty", project=PROJECT), files={"file": ("e.csv", b"")}
        )
        assert 400 <= empty.status_code < 500 and "Traceback" not in empty.text
    with _client(site, "viewer") as http:
        denied = http.post(
            "/datasets", data=_form(http, name="mine", project=PROJECT), files={"file": ("a.csv", csv)}
        )
        _refused(denied, 403)
    assert _events(site) == before


# -- AutoML ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"target": "", "time_budget": "30"}, "target"),
        ({"target": "nope", "time_budget": "30"}, "target"),
        ({"target": "target", "time_budget": "0"}, "time_budget"),
        ({"target": "target", "time_budget": "100000"}, "time_budget"),
        ({"target": "target", "time_budget": "soon"}, "time_budget"),
        ({"target": "target", "time_budget": ""}, "time_budget"),
        ({"target": "target", "time_budget": "30", "task": "forecast"}, "task"),
        ({"target": "target", "time_budget": "30", "max_trials": "0"}, "max_trials"),
    ],
)
def test_the_automl_form_refuses_bad_input(site: Site, fields: dict[str, str], field: str) -> None:
    before = _events(site)
    with _client(site, "editor") as http:
        _refused(http.post("/datasets/table/1/automl", data=_form(http, **fields)), 422, field)
    assert _events(site) == before


def test_a_viewer_cannot_start_automl_and_an_unknown_version_is_not_found(site: Site) -> None:
    with _client(site, "viewer") as http:
        _refused(
            http.post("/datasets/table/1/automl", data=_form(http, target="target", time_budget="30")), 403
        )
    with _client(site, "editor") as http:  # the API's own check: an unknown dataset version
        _refused(
            http.post("/datasets/table/9/automl", data=_form(http, target="target", time_budget="30")), 404
        )


# -- a study's page -------------------------------------------------------------------------------
def _trial(site: Site, parent: str, number: int, auc: float) -> None:
    t = site.services.tracking
    run = t.create_run(
        PROJECT,
        f"trial-{number}",
        parent_id=parent,
        params={"model.name": "logistic_regression", "preprocess": "scale=standard"},
        tags={"kind": "trial", "trial_state": "complete"},
    )
    t.log_batch(
        run.id, [t.make_metric("roc_auc", auc, 0, 1.0), t.make_metric("trial_seconds", 0.5, 0, 1.0)], None
    )
    t.end_run(run.id, "finished")


def test_a_study_page_fills_in_as_trials_finish_then_registers_the_best(site: Site) -> None:
    t = site.services.tracking
    study = t.create_run(
        PROJECT, "automl-table", tags={"kind": "automl"}, params={"time_budget": 60, "dataset": "table@1"}
    )
    _trial(site, study.id, 0, 0.81)
    _trial(site, study.id, 1, 0.93)
    polled = {"hx-request": "true"}
    with _client(site, "editor") as http:
        page = http.get(f"/runs/{study.id}").text
        assert 'id="study"' in page and f'hx-get="/runs/{study.id}?part=study"' in page
        assert "2 candidates tried" in page and "of the 60 s budget" in page
        assert len(re.findall(r'<tr><td><a href="/runs/\w+">trial-\d</a>', page)) == 2
        _trial(site, study.id, 2, 0.88)
        live = http.get(f"/runs/{study.id}?part=study", headers=polled)
        assert live.status_code == 200 and "3 candidates tried" in live.text
        assert live.text.index("trial-1") < live.text.index("trial-2") and "<html" not in live.text
        t.set_tags(study.id, {"best_run": site.model_run, "best_model": "logistic_regression"})
        board = [{"rank": 1, "model": "logistic_regression", "value": 0.93, "run_id": site.model_run}]
        t.log_artifact_bytes(study.id, json.dumps(board).encode(), "automl/leaderboard.json")
        t.end_run(study.id, "finished")
        done = http.get(f"/runs/{study.id}?part=study", headers=polled)
        assert done.status_code == 286  # htmx stops polling
        assert (
            f'href="/runs/{site.model_run}" id="best-run"' in done.text and 'id="register-form"' in done.text
        )
        assert 'id="leaderboard"' in done.text and "hx-get" not in done.text
        registered = http.post(f"/runs/{study.id}/register", data=_form(http, name="table-model"))
        assert registered.status_code == 303 and registered.headers["location"] == "/models/table-model/1"
        _refused(http.post(f"/runs/{study.id}/register", data=_form(http, name="")), 422, "name")
        plain = t.create_run(PROJECT, "plain")
        _refused(http.post(f"/runs/{plain.id}/register", data=_form(http, name="x")), 409, "run_id")
    mv = site.services.registry.resolve("table-model/1")
    assert mv.run_id == site.model_run
    assert [e.actor for e in site.services.audit.log(action="model.register", subject_id="table-model")] == [
        "editor"
    ]
    with _client(site, "viewer") as http:
        assert 'id="register-form"' not in http.get(f"/runs/{study.id}").text
        _refused(http.post(f"/runs/{study.id}/register", data=_form(http, name="viewer-model")), 403)


def test_an_automl_job_page_shows_the_wait_then_the_failure(site: Site) -> None:
    release = threading.Event()

    def work(job: Any) -> None:
        job.report("waiting for a training slot", 0, 0)
        release.wait(30)
        raise JobFailed(
            {"status": 422, "title": "Invalid input", "detail": "no candidate finished", "field": "x"}
        )

    job = jobs_of(site.app).submit(
        "automl", "editor", work, lambda e: {"status": 500}, project=PROJECT, subject="table@1"
    )
    with _client(site, "editor") as http:
        page = http.get(f"/automl/{job.id}")
        assert page.status_code == 200 and "waiting for a training slot" in page.text
        assert f'hx-get="/automl/{job.id}"' in page.text
        release.set()
        deadline = time.monotonic() + 20
        while (r := http.get(f"/automl/{job.id}", headers={"hx-request": "true"})).status_code != 286:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert 'id="job-error"' in r.text and "no candidate finished" in r.text
        _refused(http.get("/automl/" + "0" * 32), 404, "job")
    with _client(site, "root") as http:  # another user's job is not found
        _refused(http.get(f"/automl/{job.id}"), 404, "job")


# -- promotion and deployment ---------------------------------------------------------------------
def test_a_promotion_request_runs_its_gates_in_the_background_and_waits_for_approval(site: Site) -> None:
    with _client(site, "viewer") as http:  # request_promotion needs the editor role, as over the API
        assert 'id="promotion-request-form"' not in http.get(f"/models/{MODEL}/2").text
        _refused(http.post(f"/models/{MODEL}/2/promotions", data=_form(http, alias="production")), 403)
    with _client(site, "editor") as http:
        page = http.get(f"/models/{MODEL}/2").text
        assert 'id="promotion-request-form"' in page and 'id="policy-in-force"' in page
        assert 'id="deploy-form"' not in page  # deployments need admin on every project
        _refused(http.post(f"/models/{MODEL}/2/promotions", data=_form(http, alias="no way")), 422, "alias")
        _refused(http.post(f"/models/{MODEL}/2/promotions", data=_form(http, alias="staging")), 422, "alias")
        _refused(http.post("/models/bare/1/promotions", data=_form(http, alias="production")), 404, "policy")
        _refused(http.post(f"/models/{MODEL}/7/promotions", data=_form(http, alias="production")), 404)
        r = http.post(f"/models/{MODEL}/2/promotions", data=_form(http, alias="production"))
        assert r.status_code == 303
        job_page = r.headers["location"]
        assert job_page.startswith(f"/models/{MODEL}/2/promotions/")
        first = http.get(job_page)
        assert first.status_code == 200 and 'id="gate-progress"' in first.text
        deadline = time.monotonic() + 30
        while (
            gates := http.get(job_page + "?part=gates", headers={"hx-request": "true"})
        ).status_code != 286:
            assert gates.status_code == 200 and time.monotonic() < deadline
            time.sleep(0.05)
        assert "Waiting for approvals" in gates.text and 'data-state="fail"' in gates.text
        assert "hx-get" not in gates.text
        queue = http.get("/approvals").text
        assert f"{MODEL}/2</a> → production" in queue
    requested = site.services.audit.log(action="model.promote.requested", subject_id=MODEL)
    assert [e.actor for e in requested] == ["editor"]
    assert site.services.registry.get_model(MODEL).aliases["production"] == 1  # a request never moves it
    with _client(site, "root") as http:  # the job is the editor's
        _refused(http.get(job_page), 404, "job")


def test_an_admin_deploys_a_version_whole_then_a_canary(site: Site) -> None:
    with _client(site, "padmin") as http:
        form = _form(http, endpoint="web", target=f"{MODEL}@production", weight="100")
        _refused(http.post(f"/models/{MODEL}/1/deploy", data=form), 403)
    with _client(site, "root") as http:
        assert 'id="deploy-form"' in http.get(f"/models/{MODEL}/1").text
        for fields, field in (
            ({"endpoint": "web", "target": f"{MODEL}@production", "weight": "0"}, "weight"),
            ({"endpoint": "web", "target": f"{MODEL}@production", "weight": "101"}, "weight"),
            ({"endpoint": "web", "target": f"{MODEL}@production", "weight": "half"}, "weight"),
            ({"endpoint": "web", "target": "other@production", "weight": "100"}, "target"),
            ({"endpoint": "bad endpoint", "target": f"{MODEL}@production", "weight": "100"}, "endpoint"),
        ):
            _refused(http.post(f"/models/{MODEL}/1/deploy", data=_form(http, **fields)), 422, field)
        nothing = _form(http, endpoint="fresh", target=f"{MODEL}/2", weight="10")  # a canary beside nothing
        _refused(http.post(f"/models/{MODEL}/2/deploy", data=nothing), 422, "weight")
        whole = http.post(f"/models/{MODEL}/1/deploy", data=_form(http, endpoint="web", weight="100"))
        assert whole.status_code == 303 and whole.headers["location"] == "/deployments/web"
        canary = http.post(
            f"/models/{MODEL}/2/deploy", data=_form(http, endpoint="web", target=f"{MODEL}/2", weight="10")
        )
        assert canary.status_code == 303
        assert "clf/2" in http.get("/deployments/web").text
    routes = {r.model: r.weight for r in site.services.deployments.get("web").routes}
    assert routes == {f"{MODEL}@production": 90, f"{MODEL}/2": 10}
    assert [e.actor for e in site.services.audit.log(action="deployment.set", subject_id="web")] == [
        "root"
    ] * 2


# -- a pipeline run -------------------------------------------------------------------------------
def test_a_pipeline_run_page_draws_its_graph_with_each_step(site: Site) -> None:
    t = site.services.tracking
    pipeline = t.create_run(PROJECT, "pipeline-churn", tags={"carnet.kind": "pipeline"})
    step = t.create_run(PROJECT, "step-train", parent_id=pipeline.id)
    graph = {
        "name": "churn",
        "params": {"alias": "production"},
        "status": "failed",
        "steps": [
            {"name": "data", "kind": "add_data", "needs": [], "status": "reused", "run_id": None,
             "started": 10.0, "ended": 10.5, "outputs": {"ref": "table@1"}, "error": None},
            {"name": "train", "kind": "train", "needs": ["data"], "status": "done", "run_id": step.id,
             "started": 11.0, "ended": 14.25, "outputs": {"run_id": step.id, "auc": 0.91}, "error": None},
            {"name": "gate", "kind": "promote", "needs": ["train"], "status": "failed", "run_id": None,
             "started": 15.0, "ended": 16.0, "outputs": {}, "error": "refused: roc_auc"},
            {"name": XSS, "kind": "deploy", "needs": ["gate", "train"], "status": "skipped", "run_id": None,
             "started": None, "ended": None, "outputs": {}, "error": None},
        ],
    }  # fmt: skip
    t.log_artifact_bytes(pipeline.id, json.dumps(graph).encode(), "pipeline/graph.json")
    other = t.create_run(PROJECT, "pipeline-broken", tags={"carnet.kind": "pipeline"})
    t.log_artifact_bytes(other.id, b"{not json", "pipeline/graph.json")
    with _client(site, "viewer") as http:
        page = http.get(f"/runs/{pipeline.id}").text
        broken = http.get(f"/runs/{other.id}")
    assert 'id="pipeline"' in page and "Pipeline churn" in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert re.findall(r'data-step="([^"]+)" data-status="(\w+)"', svg) == [
        ("data", "reused"),
        ("train", "done"),
        ("gate", "failed"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "skipped"),
    ]
    assert f'<a href="/runs/{step.id}"><g class="node step" data-step="train"' in svg
    assert "done · 3.2s" in svg and "refused: roc_auc" in svg
    assert svg.count('class="edge"') == 4 and XSS not in page
    assert "<code>auc</code> = 0.91" in page and "<code>ref</code> = table@1" in page
    assert broken.status_code == 200 and 'id="pipeline"' not in broken.text


# -- the job registry -----------------------------------------------------------------------------
def test_the_job_registry_bounds_jobs_per_user_and_keeps_failures() -> None:
    jobs = JobRegistry(workers=1, per_user=1, max_waiting=2, keep=2)
    gate = threading.Event()
    first = jobs.submit("x", "ann", lambda job: gate.wait(30) and "ok", lambda e: {"detail": str(e)})
    with pytest.raises(Conflict) as one_each:
        jobs.submit("x", "ann", lambda job: None, lambda e: {})
    assert one_each.value.field == "job"
    queued = jobs.submit("x", "bob", lambda job: 1 / 0, lambda e: {"status": 500, "detail": type(e).__name__})
    with pytest.raises(Conflict):  # two unfinished jobs: the server is full
        jobs.submit("x", "cy", lambda job: None, lambda e: {})
    assert queued.state == "queued"  # one worker: it waits for ann's job
    gate.set()
    deadline = time.monotonic() + 20
    while not (first.finished and queued.finished):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert (first.state, first.result) == ("done", "ok")
    assert (queued.state, queued.problem) == ("failed", {"status": 500, "detail": "ZeroDivisionError"})
    assert jobs.get(first.id, owner="ann") is first
    with pytest.raises(NotFound):
        jobs.get(first.id, owner="bob")
    third = jobs.submit("x", "cy", lambda job: None, lambda e: {})
    while not third.finished:
        time.sleep(0.01)
    with pytest.raises(NotFound):  # only the ``keep`` newest finished jobs are kept
        jobs.get(first.id)
    with pytest.raises(InvalidInput):
        JobRegistry(workers=0)


def test_uploaded_files_never_reach_the_file_system_under_their_own_name(site: Site) -> None:
    with _client(site, "editor") as http:
        r = http.post(
            "/datasets",
            data=_form(http, name="paths", project=PROJECT),
            files={"file": ("../../etc/evil.csv", b"a,target\n1,0\n2,1\n", "text/csv")},
        )
    assert r.status_code == 201
    assert site.services.datasets.get("paths@1").source == "upload:evil.csv"
