"""carnet train, evaluate, runs reproduce and automl with CARNET_URI=http://... (a live carnet server
on 127.0.0.1): the training runs on the server; output and --json are those of a local workspace."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from carnet.bootstrap import open_services
from carnet.cli.main import cli
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.services import Services

SPEC = """
dataset: wine@1
task: multiclass
target: target
split: {kind: stratified_kfold, folds: 3}
model: {name: logistic_regression, params: {max_iter: 1000}}
preprocess: {scale: standard}
seed: 1
"""


@dataclass
class Servers:
    """A local workspace (``ws``) and a served one, with and without authentication, both holding
    ``wine@1``; ``tokens`` of a viewer and an editor of project default on the authenticated one."""

    ws: str
    url: str
    auth_url: str
    services: Services
    tokens: dict[str, str]


def run(*args: str, code: int = 0, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    from sklearn.datasets import load_wine

    tmp = tmp_path_factory.mktemp("cli-remote")
    wine = tmp / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(wine, index=False)
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("CARNET_") and key != "CARNET_TEST_POSTGRES_URL":
                mp.delenv(key, raising=False)
        mp.setenv("CARNET_ACTOR", "tester")
        local = open_services(str(tmp / "local"))
        local.datasets.add(wine, "wine")
        local.close()
        services = open_services(str(tmp / "served"))
        services.datasets.add(wine, "wine")
        tokens = {}
        for user, role in (("viewer", "viewer"), ("editor", "editor")):
            services.auth.add_user(user, {"default": role})
            tokens[user] = services.auth.create_token(user, "tests")[0]
        open_server = serve_api_in_thread(
            create_api_app(services, require_auth=False, max_body_bytes=1 << 24)
        )
        auth_server = serve_api_in_thread(create_api_app(services, require_auth=True))
        try:
            yield Servers(str(tmp / "local"), open_server.url, auth_server.url, services, tokens)
        finally:
            open_server.stop()
            auth_server.stop()
            services.close()


def remote(servers: Servers, token: str | None = None) -> dict[str, str]:
    """The environment of a command against the server."""
    env = {"CARNET_URI": servers.url if token is None else servers.auth_url}
    if token is not None:
        env["CARNET_TOKEN"] = token
    return env


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert set(a) == set(b)
    for k in a:
        if a[k] is None or b[k] is None:
            assert a[k] is b[k] is None, k
        else:
            assert math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-12), (k, a[k], b[k])


def test_train_evaluate_and_reproduce_give_what_a_local_workspace_gives(
    servers: Servers, tmp_path: Path
) -> None:
    spec = write(tmp_path, SPEC)
    local = json.loads(run("--uri", servers.ws, "train", spec, "--json").stdout)
    served = json.loads(run("train", spec, "--json", env=remote(servers)).stdout)
    assert set(served) == set(local) == {"run_id", "metrics", "intervals", "cv", "warnings"}
    _same(local["metrics"], served["metrics"])
    _same(local["cv"], served["cv"])
    assert served["intervals"].keys() == local["intervals"].keys()
    run_id = served["run_id"]
    assert servers.services.tracking.get_run(run_id).tags["kind"] == "train"  # it ran on the server

    evaluated = {
        "local": json.loads(
            run("--uri", servers.ws, "evaluate", local["run_id"][:10], "wine@1", "--json").stdout
        ),
        "remote": json.loads(run("evaluate", run_id[:10], "wine@1", "--json", env=remote(servers)).stdout),
    }
    assert set(evaluated["remote"]) == {"run_id", "metrics", "intervals"}
    _same(evaluated["local"]["metrics"], evaluated["remote"]["metrics"])

    reproduced = json.loads(run("runs", "reproduce", run_id, "--json", env=remote(servers)).stdout)
    assert reproduced["run_id"] == run_id and reproduced["differing"] == []
    assert "identical metrics" in run("runs", "reproduce", run_id, env=remote(servers)).stdout

    table = run("train", spec, env=remote(servers)).stdout
    assert "f1_macro" in table and "details: carnet runs show " in table and "cross-validation" in table


def test_a_spec_naming_a_file_uploads_it_to_the_server(servers: Servers, tmp_path: Path) -> None:
    from sklearn.datasets import load_iris

    load_iris(as_frame=True).frame.to_csv(tmp_path / "petals.csv", index=False)
    spec = write(tmp_path, SPEC.replace("wine@1", "petals.csv").replace("folds: 3", "folds: 2"))
    out = json.loads(run("train", spec, "--json", env=remote(servers)).stdout)
    assert out["metrics"]["accuracy"] > 0.8
    inputs = servers.services.tracking.list_inputs(out["run_id"])
    assert [(i.dataset, i.version) for i in inputs] == [("petals", 1)]
    assert servers.services.datasets.get("petals@1").num_rows == 150
    # evaluate takes a local file as well
    evaluated = json.loads(run("evaluate", out["run_id"], "petals.csv", "--json", env=remote(servers)).stdout)
    assert evaluated["metrics"]["accuracy"] > 0.8
    assert len(servers.services.datasets.versions("petals")) == 1


def test_automl_against_the_server(servers: Servers) -> None:
    out = json.loads(
        run(
            "automl",
            "wine@1",
            "--target",
            "target",
            "--time-budget",
            "60",
            "--max-trials",
            "4",
            "--json",
            env=remote(servers),
        ).stdout
    )
    assert set(out) == {
        "run_id",
        "parent_run_id",
        "metric",
        "direction",
        "leaderboard",
        "best",
        "baseline",
        "elapsed",
        "test_metrics",
    }
    assert out["leaderboard"][0]["rank"] == 1 and out["best"]["value"] >= out["baseline"]["value"]
    parent = servers.services.tracking.get_run(out["parent_run_id"])
    assert parent.tags["kind"] == "automl"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (SPEC.replace("folds: 3", "folds: 1"), "folds"),
        (SPEC.replace("wine@1", "wine@9"), "no version 9"),
        (SPEC.replace("target: target", "target: nope"), "nope"),  # found on the server, mid-stream
        (SPEC.replace("task: multiclass", "task: nope"), "unknown task 'nope'"),
        (SPEC.replace("logistic_regression", "no_such_model"), "no_such_model"),
    ],
)
def test_mistakes_exit_2_with_one_line(servers: Servers, tmp_path: Path, text: str, needle: str) -> None:
    result = run("train", write(tmp_path, text), env=remote(servers), code=2)
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.output


def test_roles_are_checked_by_the_server(servers: Servers, tmp_path: Path) -> None:
    spec = write(tmp_path, SPEC.replace("stratified_kfold, folds: 3", "holdout"))
    denied = run("train", spec, env=remote(servers, servers.tokens["viewer"]), code=2)
    lines = [x for x in denied.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "editor" in lines[0] and "'default'" in lines[0], denied.output
    out = json.loads(run("train", spec, "--json", env=remote(servers, servers.tokens["editor"])).stdout)
    events = servers.services.audit.log("run", out["run_id"], action="run.create")
    assert events and events[0].actor == "editor"
    unknown = run("evaluate", "0" * 32, "wine@1", env=remote(servers, servers.tokens["editor"]), code=2)
    lines = [x for x in unknown.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no run"), unknown.output
