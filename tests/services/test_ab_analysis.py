"""A/B analysis end to end: two versions of a classifier served 50/50 by a real server, traffic over
HTTP, the analysis without labels (estimates, marked) and with them (arms, difference, decision),
through the SDK, the CLI, the REST API (roles, problem+json) and the endpoint's web page."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_testkit import problem, running_api  # noqa: E402
from monitoring_fixtures import cancer_frame, v2_body  # noqa: E402

from carnet import Client  # noqa: E402
from carnet.cli.main import cli  # noqa: E402
from carnet.server.api import create_api_app, serve_api_in_thread  # noqa: E402
from carnet.server.background import serve_in_thread  # noqa: E402

MODEL = "cancer"
ROWS_PER_REQUEST = 5


@dataclass
class Experiment:
    root: Path
    client: Client
    labels: pd.DataFrame
    before: dict[str, Any]  # the analysis before any label was added
    after: dict[str, Any]  # ... and once every row has its label


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Experiment]:
    """A poor version 1 (control) and a good version 2 (challenger) at 50/50, 400 rows over HTTP."""
    root = tmp_path_factory.mktemp("ab")
    client = Client(str(root / "ws"))
    frame = cancer_frame()
    X, y = frame.drop(columns=["target"]), frame["target"]
    shuffled = y.sample(frac=1.0, random_state=0).to_numpy()  # learns nothing: a poor model
    poor = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, shuffled)
    good = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    for m in (poor, good):
        client.log_model(m, MODEL, X.head(5), task="binary", project="ab")
    client.set_model_alias(MODEL, "production", 1)
    client.log_dataframe(frame, "cancer-ref", project="ab")
    # a monitor of the model names its labelled reference: the label-free estimators are fitted on it
    client.create_monitor(
        {"name": "cancer-prod", "model": f"{MODEL}@production", "reference": "cancer-ref@1",
         "target": "target", "window": "100rows"}
    )  # fmt: skip
    client.set_deployment(
        {"endpoint": MODEL, "routes": [{"model": f"{MODEL}@production", "weight": 50},
                                       {"model": f"{MODEL}/2", "weight": 50}]}
    )  # fmt: skip
    sample = frame.sample(400, random_state=1).reset_index(drop=True)
    server = serve_in_thread(client.services, endpoints=[MODEL], log_predictions=True)
    rows = []
    try:
        with httpx.Client(timeout=30) as http:
            for i in range(0, len(sample), ROWS_PER_REQUEST):
                part = sample.iloc[i : i + ROWS_PER_REQUEST]
                rid = uuid.uuid4().hex
                r = http.post(
                    f"{server.url}/v2/models/{MODEL}/infer", json=v2_body(part), headers={"x-request-id": rid}
                )
                assert r.status_code == 200, r.text
                rows += [{"request_id": rid, "row": k, "label": int(t)} for k, t in enumerate(part["target"])]
    finally:
        server.stop()  # writes the prediction log
    before = client.ab_analysis(MODEL)
    labels = pd.DataFrame(rows)
    client.add_labels(labels, row_column="row", model=MODEL)
    after = client.ab_analysis(MODEL, mde=0.05, since="all")
    try:
        yield Experiment(root, client, labels, before, after)
    finally:
        client.close()


def test_with_labels_the_arms_the_difference_and_the_decision(experiment: Experiment) -> None:
    r = experiment.after
    arms = {a["arm"]: a for a in r["arms"]}
    assert set(arms) == {f"{MODEL}/1", f"{MODEL}/2"}
    control, challenger = arms[f"{MODEL}/1"], arms[f"{MODEL}/2"]
    assert (control["role"], challenger["role"]) == ("control", "challenger")
    assert control["share"] == challenger["share"] == 0.5
    assert control["rows"] + challenger["rows"] == 400 and r["since"] is None  # since="all"
    # by default the experiment starts when its last arm got its first request
    default = experiment.client.ab_analysis(MODEL, mde=0.05)
    kept = [(a["rows"], arms[a["arm"]]["rows"]) for a in default["arms"]]
    assert default["since"] is not None and all(k <= n for k, n in kept)
    assert any(k == n for k, n in kept)  # the arm that started last keeps all its rows
    assert (
        control["labeled_rows"] == control["rows"] > 100 and challenger["labeled_rows"] == challenger["rows"]
    )
    assert challenger["value"] > 0.9 > control["value"]  # the good model against the one that learned nothing
    assert control["lower"] <= control["value"] <= control["upper"] and control["estimated"] is False
    (c,) = r["comparisons"]
    assert c["difference"] == pytest.approx(control["value"] - challenger["value"])
    assert c["upper"] < 0 and c["p_value"] <= 0.05
    assert c["decision"] == r["decision"] == "promote_challenger"
    assert c["sample_size"]["fixed_horizon"]["total"] > 0 and c["sample_size"]["remaining"]["total"] == 0
    assert len(c["path"]["n"]) == len(c["path"]["lower"]) > 1
    assert r["method"]["name"] == "mSPRT" and "Johari" in r["method"]["reference"]
    assert r["metric"] == "accuracy" and r["estimates"] is None  # every row has its label
    traffic = r["traffic"]  # the sample ratio check: 80 requests split at random, 50/50
    assert sum(traffic["requests"].values()) == 400 // ROWS_PER_REQUEST and traffic["p_value"] > 0
    assert traffic["expected_share"] == {f"{MODEL}/1": 0.5, f"{MODEL}/2": 0.5}
    # the analysis reads only: it records no audit event
    events = len(experiment.client.audit_log(limit=None))
    experiment.client.ab_analysis(MODEL)
    assert len(experiment.client.audit_log(limit=None)) == events


def test_without_labels_estimates_are_shown_and_marked(experiment: Experiment) -> None:
    r = experiment.before
    assert r["decision"] == "continue" and "labels" in r["reason"]
    assert all(a["labeled_rows"] == 0 and a["value"] is None for a in r["arms"])
    est = r["estimates"]
    assert est["estimated"] is True and est["metric"] == "accuracy"
    by_arm = {e["arm"]: e for e in est["arms"]}
    assert {e["method"] for e in est["arms"]} == {"CBPE"} and all(e["estimated"] for e in est["arms"])
    assert by_arm[f"{MODEL}/1"]["reference"] == "cancer-ref@1"
    assert by_arm[f"{MODEL}/2"]["value"] > by_arm[f"{MODEL}/1"]["value"]  # calibrated on the reference
    assert est["differences"][0]["difference"] < 0
    (pred,) = r["prediction_differences"]
    assert pred["estimated"] is True and pred["control"] == f"{MODEL}/1"
    assert {c["column"] for c in pred["columns"]} >= {"output.predict", "output.predict_proba.1"}


def test_metrics_and_bad_input(experiment: Experiment) -> None:
    from carnet.errors import InvalidInput, NotFound

    loss = experiment.client.ab_analysis(MODEL, metric="log_loss", mde=0.1)
    assert loss["greater_is_better"] is False and loss["comparisons"][0]["difference"] > 0
    assert loss["decision"] == "promote_challenger"
    for kwargs, field in (
        ({"metric": "roc_auc"}, "metric"),
        ({"alpha": 0}, "alpha"),
        ({"since": "soon"}, "since"),
    ):
        with pytest.raises(InvalidInput) as bad:
            experiment.client.ab_analysis(MODEL, **kwargs)
        assert bad.value.field == field
    with pytest.raises(NotFound):
        experiment.client.ab_analysis("nothing")


def test_cli_json_and_one_line_errors(experiment: Experiment) -> None:
    uri = str(experiment.root / "ws")
    ok = CliRunner().invoke(cli, ["--uri", uri, "deploy", "ab", MODEL, "--mde", "0.05", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["decision"] == "promote_challenger"
    table = CliRunner().invoke(cli, ["--uri", uri, "deploy", "ab", MODEL])
    assert table.exit_code == 0 and "decision: promote_challenger" in table.output and "mSPRT" in table.output
    for args, needle in ((["nothing"], "nothing"), ([MODEL, "--metric", "f1"], "metric 'f1'")):
        bad = CliRunner().invoke(cli, ["--uri", uri, "deploy", "ab", *args])
        lines = [x for x in bad.output.splitlines() if x.strip()]
        assert bad.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), bad.output
        assert needle in lines[0] and "Traceback" not in bad.output


def test_rest_roles_problems_and_the_web_page(experiment: Experiment) -> None:
    services = experiment.client.services
    users = {"root": {"*": "viewer"}, "vic": {"ab": "viewer"}}
    with running_api(services, users) as api:
        r = api.http.get(f"/deployments/{MODEL}/ab", params={"mde": 0.05}, headers=api.as_("root"))
        assert r.status_code == 200 and r.json()["decision"] == "promote_challenger"
        problem(
            api.http.get(f"/deployments/{MODEL}/ab", headers=api.as_("vic")),
            403,
            "PermissionDenied",
            "project",
        )
        problem(api.http.get("/deployments/nothing/ab", headers=api.as_("root")), 404, "NotFound", "endpoint")
        problem(
            api.http.get(f"/deployments/{MODEL}/ab", params={"metric": "r2"}, headers=api.as_("root")),
            422,
            "InvalidInput",
            "metric",
        )
        remote = Client(api.url, token=api.tokens["root"])
        try:
            assert remote.ab_analysis(MODEL, mde=0.05)["comparisons"] == r.json()["comparisons"]
        finally:
            remote.close()
    server = serve_api_in_thread(create_api_app(services, require_auth=False))
    try:
        page = httpx.get(f"{server.url}/deployments/{MODEL}", timeout=60)
        assert page.status_code == 200 and 'id="ab-arms"' in page.text
        assert "Decision: promote_challenger" in page.text and "mSPRT" in page.text
        assert "confidence sequence" in page.text or "always-valid interval over" in page.text
    finally:
        server.stop()


def test_a_single_route_is_refused_naming_the_endpoint(experiment: Experiment) -> None:
    from carnet.errors import InvalidInput

    experiment.client.set_deployment({"endpoint": "solo", "routes": [f"{MODEL}/2"]})
    with pytest.raises(InvalidInput) as bad:
        experiment.client.ab_analysis("solo")
    assert bad.value.field == "endpoint" and "two routes" in bad.value.message
    assert np.isfinite(experiment.after["comparisons"][0]["p_value"])


def test_a_regression_split_with_a_shadow_from_the_prediction_log(tmp_path: Path) -> None:
    """Regressors (mse, DLE estimates), a shadow shown apart, rows logged as the server logs them."""
    import time

    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    from carnet.inference.predlog import PredictionLog, PredictionRecord

    client = Client(str(tmp_path / "ws"))
    try:
        data = load_diabetes(as_frame=True).frame
        X, y = data.drop(columns=["target"]), data["target"]
        fitted = [
            Ridge(alpha=1e4).fit(X, y),  # version 1: barely fits (control)
            Ridge(alpha=0.01).fit(X, y),  # version 2: the challenger
            Ridge(alpha=1.0).fit(X, y),  # version 3: a shadow
        ]
        for m in fitted:
            client.log_model(m, "dia", X.head(5), task="regression", project="ab")
        client.set_model_alias("dia", "production", 1)
        client.log_dataframe(data, "dia-ref", project="ab")
        client.create_monitor(
            {"name": "dia-prod", "model": "dia@production", "reference": "dia-ref@1", "target": "target",
             "window": "100rows"}
        )  # fmt: skip
        client.set_deployment(
            {"endpoint": "dia", "routes": ["dia/1", "dia/2"], "shadows": ["dia/3"], "sticky_header": "x-user"}
        )
        rng = np.random.default_rng(0)
        log = PredictionLog(client.services.deployments.prediction_sink())
        labels, start = [], time.time()
        try:
            for i in range(len(X)):
                row, rid = X.iloc[[i]].reset_index(drop=True), f"r{i}"
                version = 1 + int(rng.random() < 0.5)
                for v, shadow in ((version, False), (3, True)):
                    out = {"predict": fitted[v - 1].predict(row)}
                    log.append(
                        PredictionRecord(rid, start + i, "dia", "dia", v, 1.0, row, out, shadow=shadow)
                    )
                if i % 4:  # three rows in four get their label
                    labels.append({"request_id": rid, "label": float(y.iloc[i])})
        finally:
            log.close()
        client.add_labels(pd.DataFrame(labels), model="dia")
        r = client.ab_analysis("dia", since="all")
        assert r["metric"] == "mse" and r["greater_is_better"] is False and r["kind"] == "continuous"
        roles = {a["arm"]: a["role"] for a in r["arms"]}
        assert roles == {"dia/1": "control", "dia/2": "challenger", "dia/3": "shadow"}
        shadow = next(a for a in r["arms"] if a["role"] == "shadow")
        assert shadow["rows"] == len(X) and shadow["labeled_rows"] > 0 and shadow["share"] == 0.0
        (c,) = r["comparisons"]  # the shadow is never tested
        assert c["challenger"] == "dia/2" and c["difference"] > 0 and c["decision"] == "promote_challenger"
        assert any("sticky routing on x-user" in n for n in r["notes"])
        est = r["estimates"]  # the unlabelled quarter
        assert est["estimated"] and {e["method"] for e in est["arms"]} == {"DLE"}
        assert all(e["value"] > 0 and e["rows"] > 0 for e in est["arms"])
        assert client.ab_analysis("dia", metric="mae", since="all")["decision"] in (
            "promote_challenger",
            "continue",
        )
    finally:
        client.close()
