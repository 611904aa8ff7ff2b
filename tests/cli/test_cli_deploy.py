"""carnet deploy: set, show, list, history and delete on a real workspace; mistakes exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli

SPEC = """\
endpoint: churn
routes:
  - {model: churn@production, weight: 95}
  - {model: churn/2, weight: 5}
shadows: [churn@staging]
sticky_header: X-User-Id
batching: {max_batch_rows: 64, max_wait_ms: 2}
"""


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def uri(tmp_path: Path) -> str:
    """A workspace with model churn (versions 1-3; production -> 1, staging -> 3)."""
    from sklearn.linear_model import LogisticRegression

    path = str(tmp_path / "ws")
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(x, [0, 1, 0, 1])
    with Client(path) as client:
        for _ in range(3):
            client.log_model(model, "churn", x)
        client.set_model_alias("churn", "production", 1)
        client.set_model_alias("churn", "staging", 3)
    return path


def test_set_show_list_history_delete(uri: str, tmp_path: Path) -> None:
    spec = tmp_path / "churn.yaml"
    spec.write_text(SPEC)
    out = invoke("--uri", uri, "deploy", "set", str(spec))
    assert "endpoint churn: revision 1" in out and "churn@production 95%" in out
    stored = json.loads(invoke("--uri", uri, "deploy", "set", str(spec), "--json"))
    assert stored["revision"] == 1  # unchanged spec: no new revision
    assert stored["routes"] == [
        {"model": "churn@production", "weight": 95.0},
        {"model": "churn/2", "weight": 5.0},
    ]
    assert stored["sticky_header"] == "X-User-Id" and stored["batching"] == {
        "max_batch_rows": 64,
        "max_wait_ms": 2.0,
    }

    shown = json.loads(invoke("--uri", uri, "deploy", "show", "churn", "--json"))
    assert shown["resolved"]["routes"][0] == {
        "model": "churn@production",
        "version": "churn/1",
        "weight": 95.0,
        "share": 0.95,
    }
    assert shown["resolved"]["shadows"] == [{"model": "churn@staging", "version": "churn/3"}]
    text = invoke("--uri", uri, "deploy", "show", "churn")
    assert "churn/1" in text and "shadow" in text and "X-User-Id" in text

    spec.write_text(SPEC.replace("weight: 95", "weight: 50").replace("weight: 5}", "weight: 50}"))
    invoke("--uri", uri, "deploy", "set", str(spec))
    listed = json.loads(invoke("--uri", uri, "deploy", "list", "--json"))
    assert [(d["endpoint"], d["revision"]) for d in listed] == [("churn", 2)]
    assert "churn" in invoke("--uri", uri, "deploy", "list")

    out = json.loads(invoke("--uri", uri, "deploy", "delete", "churn", "--reason", "retired", "--json"))
    assert (out["revision"], out["deleted"]) == (3, True)
    history = json.loads(invoke("--uri", uri, "deploy", "history", "churn", "--json"))
    assert [(d["revision"], d["deleted"]) for d in history] == [(1, False), (2, False), (3, True)]
    assert "deleted" in invoke("--uri", uri, "deploy", "history", "churn")
    assert json.loads(invoke("--uri", uri, "deploy", "list", "--json")) == []
    events = json.loads(invoke("--uri", uri, "audit", "log", "--json"))
    actions = [e["action"] for e in events]
    assert actions.count("deployment.set") == 2 and actions.count("deployment.delete") == 1


def test_show_reports_a_reference_that_no_longer_resolves(uri: str, tmp_path: Path) -> None:
    spec = tmp_path / "churn.yaml"
    spec.write_text(SPEC)
    invoke("--uri", uri, "deploy", "set", str(spec))
    with Client(uri) as client:
        client.delete_model_alias("churn", "staging")
    shown = json.loads(invoke("--uri", uri, "deploy", "show", "churn", "--json"))
    assert "staging" in shown["resolved"]["error"]
    assert "does not resolve" in invoke("--uri", uri, "deploy", "show", "churn")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (SPEC.replace("weight: 5}", "weight: -5}"), "routes[1].weight"),
        (SPEC.replace("churn/2", "churn/9"), "routes[1].model"),
        (SPEC.replace("shadows", "shadow"), "did you mean 'shadows'"),
        (SPEC.replace("churn@staging", "churn@canary"), "no alias 'canary'"),
        ("endpoint: [", "not valid YAML"),
    ],
)
def test_bad_deployments_are_one_line_and_exit_2(
    uri: str, tmp_path: Path, content: str, expected: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(content)
    out = invoke("--uri", uri, "deploy", "set", str(spec), code=2)
    assert out.startswith("error: ") and out.count("\n") == 1 and expected in out


@pytest.mark.parametrize(
    "args",
    [
        ("deploy", "show", "nope"),
        ("deploy", "history", "nope"),
        ("deploy", "delete", "nope"),
        ("deploy", "show", "bad name"),
    ],
)
def test_unknown_endpoints_are_one_line_and_exit_2(uri: str, args: tuple[str, ...]) -> None:
    out = invoke("--uri", uri, *args, code=2)
    assert out.startswith("error: ") and out.count("\n") == 1 and "Traceback" not in out
