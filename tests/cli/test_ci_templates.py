"""The CI templates of docs/ci/: the GitHub Actions workflow's commands run in order, with bash, in a
folder holding the example pipeline, against a live carnet server reached with a token from the
environment, as the workflow names it: the pull-request job writes the JUnit and Markdown reports of
the gates; the merge job moves the alias and deploys. The GitLab and Jenkins templates run the same
commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from carnet.errors import NotFound
from conftest import Workspace, serve_workspace

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ci"
#: the example pipeline's project
PROJECT = "churn"


def _workflow() -> dict[str, Any]:
    found = yaml.safe_load((DOCS / "github-actions.yml").read_text())
    assert isinstance(found, dict)
    return found


def _commands(job: dict[str, Any]) -> list[str]:
    """The ``run:`` scripts of a job, in order, without ``uses:`` steps and the ``pip install`` step
    (the test environment already has carnet)."""
    scripts = []
    for step in job["steps"]:
        if "uses" in step:
            continue
        script = str(step["run"])
        if script.strip().startswith("pip install"):
            continue
        assert "${{" not in script, f"a run step needs GitHub's expressions: {script}"
        scripts.append(script)
    return scripts


def _carnet_lines(text: str) -> list[str]:
    """The carnet commands of a template, without the path of the executable."""
    return [
        m.group(1).strip() for m in re.finditer(r"(?:\.venv/bin/)?(carnet (?:pipeline|ci) [^'\n|]*)", text)
    ]


def test_the_workflow_runs_on_pull_requests_and_merges_with_the_server_from_the_secret_store() -> None:
    workflow = _workflow()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push"} and triggers["push"]["branches"] == ["main"]
    assert workflow["env"] == {
        "CARNET_URI": "${{ vars.CARNET_URI }}",
        "CARNET_TOKEN": "${{ secrets.CARNET_TOKEN }}",
    }
    jobs = workflow["jobs"]
    assert set(jobs) == {"pull-request", "merge"}
    uses = [s["uses"].split("@")[0] for s in jobs["pull-request"]["steps"] if "uses" in s]
    assert {"dorny/test-reporter", "marocchino/sticky-pull-request-comment"} <= set(uses)
    reporter = next(s for s in jobs["pull-request"]["steps"] if s.get("uses", "").startswith("dorny/"))
    assert reporter["with"]["path"] == "carnet-report.xml" and reporter["with"]["reporter"] == "java-junit"
    pr, merge = _commands(jobs["pull-request"]), _commands(jobs["merge"])
    assert "--param dry_run=true" in pr[0] and "--param dry_run=false" in merge[0]
    assert "--format junit -o carnet-report.xml" in pr[1] and "--format markdown -o carnet-report.md" in pr[1]


def test_gitlab_and_jenkins_run_the_same_commands() -> None:
    github = _workflow()["jobs"]
    expected = _carnet_lines("\n".join(_commands(github["pull-request"]) + _commands(github["merge"])))
    gitlab = yaml.safe_load((DOCS / "gitlab-ci.yml").read_text())
    assert gitlab["carnet-check"]["artifacts"]["reports"]["junit"] == "carnet-report.xml"
    assert gitlab["carnet-check"]["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert gitlab["carnet-release"]["rules"][0]["if"] == "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
    scripts = "\n".join(
        line
        for job in ("carnet-check", "carnet-release")
        for line in gitlab[job]["script"] + gitlab[job]["after_script"]
    )
    jenkins = (DOCS / "Jenkinsfile").read_text()
    assert "junit testResults: 'carnet-report.xml'" in jenkins and "credentials('carnet-token')" in jenkins
    for name, text in (("gitlab-ci.yml", scripts), ("Jenkinsfile", jenkins)):
        found = _carnet_lines(text)
        assert set(expected) <= set(found), (name, sorted(set(expected) - set(found)))


def _run(scripts: list[str], cwd: Path, env: dict[str, str]) -> None:
    for script in scripts:
        done = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"$ {script}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"


def test_the_github_workflow_steps_run_in_order_against_a_server(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DOCS / "example", repo)
    subprocess.run([sys.executable, "make_data.py"], cwd=repo, check=True)
    workflow = _workflow()
    summary = tmp_path / "step-summary.md"
    with serve_workspace(Workspace(str(tmp_path / "server"), None, "sqlite", tmp_path)) as served:
        assert served.token
        secrets = {"vars.CARNET_URI": served.uri, "secrets.CARNET_TOKEN": served.token}
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
        for name, expression in workflow["env"].items():  # the values the CI fills from its stores
            env[name] = secrets[expression.strip("${} ")]
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["GITHUB_STEP_SUMMARY"] = str(summary)

        # pull requests hold less: an editor's token runs the dry run (a check needs no admin)
        served.services.auth.add_user("ci-pr", {PROJECT: "editor"})
        merge_token = env["CARNET_TOKEN"]
        env["CARNET_TOKEN"] = served.services.auth.create_token("ci-pr", "pull requests")[0]
        _run(_commands(workflow["jobs"]["pull-request"]), repo, env)
        env["CARNET_TOKEN"] = merge_token
        root = ET.parse(repo / "carnet-report.xml").getroot()
        (suite,) = root.findall("testsuite")
        assert suite.get("name") == "carnet pipeline churn" and suite.get("failures") == "0"
        cases = [(c.get("classname"), c.get("name")) for c in suite.findall("testcase")]
        assert cases == [
            ("carnet.pipeline", "pipeline churn"),
            ("carnet.gates.metric", "metric roc_auc"),
            ("carnet.gates.non_regression", "non_regression roc_auc"),
            ("carnet.gates.signature", "signature"),
        ]
        markdown = (repo / "carnet-report.md").read_text()
        assert markdown.startswith("## ✅ carnet: pipeline churn: 3 of 3 gates passed")
        assert "| ✅ | metric roc_auc | metric |" in markdown and "· dry run ·" in markdown
        assert "On `churn-holdout@1`" in markdown and f"]({served.uri}/runs/" in markdown
        assert summary.read_text() == markdown
        with pytest.raises(NotFound):  # a pull request moves no alias
            served.services.registry.resolve("churn@production")

        _run(_commands(workflow["jobs"]["merge"]), repo, env)
        assert served.services.registry.resolve("churn@production").version == 1
        assert served.services.deployments.get("churn").routes[0].model == "churn@production"
        merged = (repo / "carnet-report.md").read_text()
        assert "promotion applied" in merged and "| ✅ | deploy | deploy | done |" in merged
