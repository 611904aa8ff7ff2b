"""`carnet serve` as a real process: it serves, answers, and flushes its prediction log on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from carnet import Client
from carnet.cli.main import cli


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_and_flushes_the_log_on_sigterm(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    ws = str(tmp_path / "ws")
    with Client(ws) as client:
        client.log_model(model, "cancer", X.head(5), task="binary")
        client.set_model_alias("cancer", "production", 1)
    port = _port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "carnet.cli.main",
            "--uri",
            ws,
            "serve",
            "cancer@production",
            "--port",
            str(port),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert started["endpoints"] == {"cancer": ["cancer/1"]}
        url = started["url"]
        rows = X.iloc[:3]
        body = {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}}
        r = httpx.post(f"{url}/invocations", json=body, timeout=30)
        assert r.status_code == 200 and r.json()["predictions"] == model.predict(rows).tolist()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM), proc.stderr.read()  # type: ignore[union-attr]
    with Client(ws) as client:
        files = client.services.deployments.prediction_files(model="cancer")
    assert sum(f.rows for f in files) == 3


def test_serve_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    Client(ws).close()
    for args in (
        ["serve"],
        ["serve", "nope@production"],
        ["serve", "bad name"],
        ["serve", "m/1", "--max-batch-rows", "0"],
    ):
        result = CliRunner().invoke(cli, ["--uri", ws, *args])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_serve_help_has_an_example() -> None:
    text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "Example" in text and "--json" in text


def test_serve_and_server_say_what_they_are_and_name_each_other() -> None:
    from carnet.cli.main import COMMANDS

    assert COMMANDS["serve"][1] == "Serve models for inference; the REST API is carnet server."
    assert COMMANDS["server"][1] == "Run the REST API and web UI; for inference use carnet serve."
    top = CliRunner().invoke(cli, ["--help"]).output
    assert COMMANDS["serve"][1] in top and COMMANDS["server"][1] in top  # not cut short
    for name in ("serve", "server"):
        assert COMMANDS[name][1] in CliRunner().invoke(cli, [name, "--help"]).output


def test_a_usage_meant_for_the_other_command_is_one_line_naming_it() -> None:
    expected = {
        ("server", "churn@production"): "error: carnet server (the REST API) takes no arguments, got "
        "'churn@production'; to serve models for inference use: carnet serve churn@production",
        ("serve", "--training-slots", "2"): "error: --training-slots is an option of carnet server "
        "(the REST API), not of carnet serve (model inference)",
        ("serve", "m@production", "--no-auth"): "error: --no-auth is an option of carnet server "
        "(the REST API), not of carnet serve (model inference)",
        ("server", "--max-batch-rows=8"): "error: --max-batch-rows is an option of carnet serve "
        "(model inference), not of carnet server (the REST API)",
        ("server", "--deployment", "canary.yaml"): "error: --deployment is an option of carnet serve "
        "(model inference), not of carnet server (the REST API)",
        ("serve", "--uri", "ws", "m@production"): "error: --uri goes before the command: "
        "carnet --uri ... serve",
    }
    for args, line in expected.items():
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == 2, (args, result.output)
        assert result.output == line + "\n", args
    other = CliRunner().invoke(cli, ["serve", "--bogus"])  # any other mistake: click's usage error
    assert other.exit_code == 2 and "No such option '--bogus'" in other.output
