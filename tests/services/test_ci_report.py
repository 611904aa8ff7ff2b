"""``carnet ci report``: the gates of a training run's dry run (or a pipeline run's promote step), the
metrics of candidate and incumbent with intervals, the drift of their training data and links, as
Markdown, JUnit XML and JSON, with exit codes; the same report through a live server."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from carnet.errors import InvalidInput, NotFound
from carnet.reports.ci import GITHUB_COMMENT_LIMIT, render_json, render_junit, render_markdown
from conftest import Workspace, serve_workspace

POLICY = """
name: prod
evaluation_data: bc@1
seed: 0
gates:
  - metric: "roc_auc >= 0.8"
  - type: non_regression
    metric: roc_auc
    n_bootstrap: 200
    slices:
      - {name: large, where: "`mean radius` > 15"}
  - type: signature
"""
BASE = "http://ci.example:8080"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """v1 (logistic regression on bc@1) holds production; v2 (a one-split tree on bc@2, whose mean
    radius is shifted) is the candidate."""
    from sklearn.datasets import load_breast_cancer

    root = tmp_path_factory.mktemp("ci")
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 3, 4, 30]]
    frame.to_csv(root / "bc.csv", index=False)
    shifted = frame.assign(**{"mean radius": frame["mean radius"] * 1.4})
    shifted.to_csv(root / "bc2.csv", index=False)
    (root / "policy.yaml").write_text(POLICY)
    with Client(str(root / "ws")) as c:
        c.add_dataset(root / "bc.csv", "bc", project="demo")
        c.add_dataset(root / "bc2.csv", "bc", project="demo")
        spec = {"task": "binary", "target": "target", "seed": 0, "project": "demo"}
        good = c.train({**spec, "dataset": "bc@1", "model": {"name": "logistic_regression"}}).run_id
        weak = c.train(
            {**spec, "dataset": "bc@2", "model": {"name": "decision_tree", "params": {"max_depth": 1}}}
        ).run_id
        c.register_model(good, "bc")
        c.register_model(weak, "bc")
        c.services.registry.set_alias("bc", "production", 1)
    return {"root": root, "uri": str(root / "ws"), "good": good, "weak": weak, "policy": root / "policy.yaml"}


@pytest.fixture(scope="module")
def failing(ws: dict[str, Any]) -> dict[str, Any]:
    """The report of v2: its non-regression gate fails, on the whole data and on the pinned slice."""
    with Client(ws["uri"]) as c:
        before = len(c.audit_log(limit=None))
        report = c.ci_report(ws["weak"], model="bc", policy=ws["policy"], base_url=BASE)
        assert len(c.audit_log(limit=None)) == before and c.promotions("bc") == []  # stores nothing
    return report


def test_a_failing_gate_is_reported_with_the_slice_named_and_exit_code_1(
    ws: dict[str, Any], failing: dict[str, Any]
) -> None:
    r = failing
    assert r["format"] == "carnet.ci-report/v1" and r["exit_code"] == 1 and r["passed"] is False
    assert r["subject"] == {
        "kind": "run", "run_id": ws["weak"], "name": r["subject"]["name"], "project": "demo",
        "status": "FINISHED", "pipeline": None,
    }  # fmt: skip
    assert r["model"]["ref"] == "bc/2" and r["incumbent"]["ref"] == "bc/1" and r["alias"] == "production"
    assert r["policy"] == "prod" and r["evaluation_data"] == "bc@1" and r["dry_run"] is True
    gates = {g["type"]: g for g in r["gates"]}
    assert [g["name"] for g in r["gates"]] == ["metric roc_auc", "non_regression roc_auc", "signature"]
    assert (
        gates["metric"]["passed"] and gates["signature"]["passed"] and not gates["non_regression"]["passed"]
    )
    assert gates["non_regression"]["message"].startswith("regressed on slice large: roc_auc -0.")
    assert gates["non_regression"]["details"]["slices"][0]["regressed"] is True
    assert gates["metric"]["message"] == "" and gates["metric"]["threshold"] == ">= 0.8"
    assert r["summary"] == {
        "gates": 3, "passed": 2, "failed": 1, "failed_gates": ["non_regression roc_auc"], "failed_steps": [],
    }  # fmt: skip

    metrics = r["metrics"]
    assert metrics["source"] == "evaluation" and metrics["data"] == "bc@1" and metrics["n_bootstrap"] == 200
    auc = next(row for row in metrics["rows"] if row["metric"] == "roc_auc")
    assert metrics["rows"][0] is auc  # the gates' metric first
    assert auc["candidate_ci"][0] <= auc["candidate"] <= auc["candidate_ci"][1]
    assert auc["incumbent_ci"][0] <= auc["incumbent"] <= auc["incumbent_ci"][1]
    assert auc["delta"] == pytest.approx(auc["candidate"] - auc["incumbent"])
    assert auc["delta_ci"][0] <= auc["delta"] <= auc["delta_ci"][1] < 0
    # the gate's paired interval and the report's are the same computation
    assert auc["delta_ci"] == pytest.approx(gates["non_regression"]["details"]["ci"])

    drift = r["drift"]
    assert drift["reference"] == "bc@1" and drift["current"] == "bc@2"
    assert drift["drifted_columns"] == ["mean radius"] and drift["share_drifted"] == pytest.approx(1 / 6)
    assert {c["column"] for c in drift["columns"]} >= {"mean radius", "mean texture"}

    assert r["links"] == {
        "run": f"{BASE}/runs/{ws['weak']}",
        "model_version": f"{BASE}/models/bc/2",
        "incumbent": f"{BASE}/models/bc/1",
        "promotions": f"{BASE}/models/bc/2",
    }


def test_junit_has_one_testcase_per_gate_and_a_failure_for_the_failed_one(failing: dict[str, Any]) -> None:
    root = ET.fromstring(render_junit(failing))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    for element in (root, suite):
        assert {k: element.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
            "tests": "3", "failures": "1", "errors": "0", "skipped": "0",
        }  # fmt: skip
        assert float(element.get("time", "x")) >= 0
    assert suite.get("name") == "carnet model bc/2"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["model"] == "bc/2" and props["incumbent"] == "bc/1" and props["evaluation_data"] == "bc@1"
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("carnet.gates.metric", "metric roc_auc"),
        ("carnet.gates.non_regression", "non_regression roc_auc"),
        ("carnet.gates.signature", "signature"),
    ]
    failures = [(c.get("name"), f) for c in cases for f in c.findall("failure")]
    assert [name for name, _ in failures] == ["non_regression roc_auc"]
    assert failures[0][1].get("message", "").startswith("regressed on slice large")
    details = json.loads(cases[1].findtext("system-out") or "")
    assert details["slices"][0]["slice"] == "large" and details["metric"] == "roc_auc"


def test_markdown_and_json(failing: dict[str, Any]) -> None:
    text = render_markdown(failing)
    assert text.startswith("## ❌ carnet: model bc/2: 1 of 3 gates failed\n")
    assert "|  | gate | type | measured | threshold | message |" in text
    assert "| ✅ | metric roc_auc | metric |" in text and "| ❌ | non_regression roc_auc |" in text
    assert "#### Pinned slices: non_regression roc_auc" in text and "| ❌ | large |" in text
    assert "| metric | candidate | incumbent | delta |  |" in text and "| roc_auc | 0." in text
    assert (
        "`bc@2` (candidate) against `bc@1` (incumbent): no dataset drift, 1 of 6 columns drifted (17%)."
        in text
    )
    assert "| mean radius | numeric |" in text
    assert f"- [Candidate]({BASE}/models/bc/2)" in text
    assert "\\`mean radius\\`" not in text and "`mean radius` &gt; 15" not in text  # cells keep the text
    assert json.loads(render_json(failing)) == failing
    assert render_json(failing) == render_json(json.loads(render_json(failing)))  # stable


def test_a_passing_version_exits_0_and_needs_a_model_and_a_policy(ws: dict[str, Any]) -> None:
    with Client(ws["uri"]) as c:
        report = c.ci_report(ws["good"], model="bc", policy=ws["policy"], alias="staging")
        assert report["exit_code"] == 0 and report["passed"] and report["links"] == {}
        assert report["incumbent"] is None and report["drift"]["note"].startswith("no version holds alias")
        assert "incumbent" not in report["metrics"]["rows"][0]
        assert render_markdown(report).startswith("## ✅ carnet: model bc/1: 3 of 3 gates passed")
        with pytest.raises(InvalidInput) as info:
            c.ci_report(ws["good"])
        assert info.value.field == "model"
        with pytest.raises(InvalidInput) as info:
            c.ci_report(ws["good"], model="bc")  # no stored policy, none given
        assert info.value.field == "policy"
        with pytest.raises(NotFound):
            c.ci_report(ws["good"], model="other", policy=ws["policy"])
        with pytest.raises(InvalidInput):
            c.ci_report(ws["good"], pipeline="churn")
        with pytest.raises(NotFound):
            c.ci_report(pipeline="never-ran")


def test_the_cli_writes_every_format_with_exit_codes(ws: dict[str, Any], tmp_path: Path) -> None:
    runner = CliRunner()

    def carnet(*args: str) -> Any:
        return runner.invoke(cli, ["--uri", ws["uri"], "ci", "report", *args])

    weak = [ws["weak"], "--model", "bc", "--policy", str(ws["policy"])]
    res = carnet(*weak, "--format", "junit", "-o", str(tmp_path / "r.xml"))
    assert res.exit_code == 1 and res.output.startswith("❌ carnet: model bc/2: 1 of 3 gates failed")
    assert ET.parse(tmp_path / "r.xml").getroot().get("failures") == "1"
    res = carnet(*weak, "--format", "markdown", "-o", str(tmp_path / "r.md"), "--json")
    assert res.exit_code == 1 and json.loads(res.output)["summary"]["failed_gates"] == [
        "non_regression roc_auc"
    ]
    assert (tmp_path / "r.md").read_text().startswith("## ❌")
    res = carnet(*weak, "--json")
    assert res.exit_code == 1 and json.loads(res.output)["exit_code"] == 1
    res = carnet(ws["good"], "--model", "bc", "--policy", str(ws["policy"]), "--alias", "staging")
    assert res.exit_code == 0 and res.output.startswith("## ✅")
    for args, words in [
        ((), "give a RUN id or --pipeline NAME"),
        ((ws["good"], "--pipeline", "churn"), "not both"),
        ((ws["good"],), "--model NAME"),
        ((*weak, "--base-url", "ftp://x"), "base_url must be an http(s):// URL"),
        (("--pipeline", "never-ran"), "pipeline 'never-ran' has no run"),
        (("--pipeline", "bad name"), "a pipeline name is"),
    ]:
        res = carnet(*args)
        assert res.exit_code == 2 and res.output.startswith("error: ") and words in res.output, (
            args,
            res.output,
        )
        assert len(res.output.strip().splitlines()) == 1
    assert runner.invoke(cli, ["ci", "report", "--help"]).output.count("Example:") == 1


def test_the_report_through_a_server_is_the_same(ws: dict[str, Any], failing: dict[str, Any]) -> None:
    local = Workspace(ws["uri"], None, "sqlite", ws["root"])
    with serve_workspace(local) as served, served.client() as far:
        remote = far.ci_report(ws["weak"][:8], model="bc", policy=ws["policy"])
        with pytest.raises(InvalidInput) as info:
            far.ci_report(ws["weak"], model="bc", policy={"name": "p", "gates": [{"type": "nope"}]})
        assert info.value.field == "gates[0].type"
        with pytest.raises(NotFound):
            far.ci_report(pipeline="never-ran")
    assert remote["links"]["run"] == f"{served.uri}/runs/{ws['weak']}"  # the server's URL by default
    assert {k: v for k, v in remote.items() if k != "links"} == {
        k: v for k, v in failing.items() if k != "links"
    }


def test_a_failed_pipeline_run_is_reported_with_its_failed_step(ws: dict[str, Any], tmp_path: Path) -> None:
    from carnet.pipelines.runner import run_pipeline

    (tmp_path / "data.csv").write_text("a,target\n1,0\n2,1\n3,0\n4,1\n")
    (tmp_path / "fail.py").write_text("import sys\nsys.exit('no rows today')\n")
    (tmp_path / "train.yaml").write_text("dataset: broken\ntask: binary\ntarget: target\n")
    (tmp_path / "carnet.pipeline.yaml").write_text(
        "name: broken\nproject: demo\nsteps:\n"
        "  data: {kind: data.add, path: data.csv, name: broken}\n"
        f'  prep: {{kind: data.derive, from: "${{data.ref}}", command: ["{sys.executable}", fail.py,'
        ' "{input}", "{output}"], output: out.csv, name: broken-prep, deps: [fail.py]}\n'
        '  train: {kind: train, spec: train.yaml, dataset: "${prep.ref}"}\n'
    )
    with Client(ws["uri"]) as c:
        graph = run_pipeline(c, tmp_path / "carnet.pipeline.yaml")
        report = c.ci_report(pipeline="broken")
    assert graph["status"] == "FAILED"
    assert report["subject"]["run_id"] == graph["run_id"] and report["subject"]["pipeline"] == "broken"
    assert report["exit_code"] == 1 and report["gates"] == [] and report["model"] is None
    assert [(s["name"], s["status"]) for s in report["steps"]] == [
        ("data", "done"), ("prep", "failed"), ("train", "not run"),
    ]  # fmt: skip
    assert report["summary"]["failed_steps"] == ["prep"]
    suite = ET.fromstring(render_junit(report)).find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None and "step prep failed" in error.get("message", "")
    assert "no rows today" in error.get("message", "")
    text = render_markdown(report)
    assert text.startswith("## ❌ carnet: pipeline broken: no gates; the pipeline failed at prep")
    assert "| ❌ | prep | data.derive | failed |" in text


def test_long_tables_are_cut_to_fit_a_github_comment() -> None:
    gates = [
        {"name": f"gate {i}", "type": "metric", "passed": i % 2 == 0, "measured": "0.5" * 20,
         "threshold": ">= 0.9", "message": "x" * 200, "details": {}, "error": None, "value": None}
        for i in range(2000)
    ]  # fmt: skip
    report = {
        "format": "carnet.ci-report/v1", "subject": {"kind": "run", "run_id": "r", "status": "FINISHED"},
        "model": {"ref": "m/1", "name": "m", "version": 1}, "incumbent": None, "alias": "production",
        "gates": gates, "passed": False, "summary": {"gates": 2000, "failed": 1000}, "steps": [],
        "metrics": {}, "drift": {}, "links": {},
    }  # fmt: skip
    text = render_markdown(report)
    assert len(text) <= GITHUB_COMMENT_LIMIT and "more rows not shown: see the JSON report" in text
    assert text.startswith("## ❌ carnet: model m/1: 1000 of 2000 gates failed")
    assert len(render_markdown(report, limit=2000)) <= 2000
    junit = ET.fromstring(render_junit({**report, "gates": [{**gates[1], "message": "bad \x00 <&> ✓"}]}))
    assert junit.find("testsuite/testcase/failure").get("message") == "bad  <&> ✓"  # type: ignore[union-attr]


def test_the_latest_run_of_a_pipeline_is_looked_up_only_where_the_caller_may_read(tmp_path: Path) -> None:
    import httpx

    from carnet.pipelines.runner import run_pipeline

    (tmp_path / "data.csv").write_text("a,target\n1,0\n2,1\n3,0\n4,1\n")
    (tmp_path / "carnet.pipeline.yaml").write_text(
        "name: private\nproject: demo\nsteps:\n  data: {kind: data.add, path: data.csv, name: private}\n"
    )
    uri = str(tmp_path / "ws")
    with Client(uri) as c:
        run_pipeline(c, tmp_path / "carnet.pipeline.yaml")
    with serve_workspace(Workspace(uri, None, "sqlite", tmp_path)) as served:
        s = served.services
        s.auth.add_user("outsider", {"elsewhere": "viewer"})
        s.auth.add_user("insider", {"demo": "viewer"})
        tokens = {u: s.auth.create_token(u, "t")[0] for u in ("outsider", "insider")}
        url = f"{served.uri}/api/v1/runs/latest/ci-report"
        for user, status in (("outsider", 404), ("insider", 200)):
            r = httpx.get(
                url, params={"pipeline": "private"}, headers={"authorization": f"Bearer {tokens[user]}"}
            )
            assert r.status_code == status, (user, r.text)  # not 403: the run's existence is not told
