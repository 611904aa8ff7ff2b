"""carnet models: registry verbs, policies, promotion, approval, rollback, card and dossier, on a
local workspace and through `carnet server` (CARNET_TOKEN per user)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from carnet.bootstrap import open_services
from carnet.cli.main import cli
from carnet.server.api import create_api_app, serve_api_in_thread


def invoke(*args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


@dataclass
class Target:
    """Where the CLI points: a local workspace, or ``carnet server`` over it (authentication on)."""

    uri: str
    run: str
    tokens: dict[str, str] = field(default_factory=dict)

    def env(self, user: str = "tester") -> dict[str, str]:
        """The environment the CLI runs with as ``user``: CARNET_USER locally, a token remotely."""
        return {"CARNET_TOKEN": self.tokens[user]} if self.tokens else {"CARNET_USER": user}

    def invoke(self, *args: str, code: int = 0, user: str = "tester") -> str:
        return invoke("--uri", self.uri, *args, code=code, env=self.env(user))


@pytest.fixture(params=["local", "remote"])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """A workspace with one trained run, reached directly or through a live server."""
    from sklearn.datasets import load_breast_cancer

    uri = str(tmp_path / "ws")
    data = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    invoke("--uri", uri, "data", "add", str(data), "--name", "cancer", "--project", "demo")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "dataset: cancer@1\ntask: binary\ntarget: target\nproject: demo\nseed: 1\n"
        "split: {kind: holdout, test_size: 0.25}\nmodel: {name: logistic_regression}\n"
        "preprocess: {scale: standard}\n"
    )
    run = json.loads(invoke("--uri", uri, "train", str(spec), "--json"))["run_id"]
    if request.param == "local":
        yield Target(uri, run)
        return
    services = open_services(uri)
    tokens = {}
    for user, role in (("tester", "admin"), ("ann", "approver"), ("ben", "approver")):
        services.auth.add_user(user, {"*": role})
        tokens[user] = services.auth.create_token(user)[0]
    server = serve_api_in_thread(create_api_app(services, require_auth=True))
    try:
        yield Target(server.url, run, tokens)
    finally:
        server.stop()
        services.close()


def test_register_list_show_alias_and_tag(ws: Target) -> None:
    run = ws.run
    out = json.loads(ws.invoke("models", "register", run, "--name", "cancer", "--tag", "team=risk", "--json"))
    assert (out["version"], out["flavor"], out["tags"]) == (1, "sklearn", {"team": "risk"})
    assert "registered cancer/2" in ws.invoke("models", "register", run, "--name", "cancer")
    listed = json.loads(ws.invoke("models", "list", "--json"))
    assert [(m["name"], m["latest_version"]) for m in listed] == [("cancer", 2)]
    assert "cancer" in ws.invoke("models", "list")
    versions = json.loads(ws.invoke("models", "versions", "cancer", "--json"))
    assert [v["version"] for v in versions] == [1, 2]
    assert "cancer@production -> 1" in ws.invoke("models", "alias", "cancer", "production", "1")
    shown = json.loads(ws.invoke("models", "show", "cancer@production", "--json"))
    assert shown["version"] == 1 and shown["aliases"] == ["production"]
    assert "cancer/2" in ws.invoke("models", "show", "cancer")
    ws.invoke("models", "tag", "cancer", "tier=1")
    ws.invoke("models", "tag", "cancer", "--version", "2", "ok=yes")

    def tags(ref: str) -> dict[str, str]:
        return json.loads(ws.invoke("models", "show", ref, "--json"))["tags"]

    assert tags("cancer/2") == {"ok": "yes"} and tags("cancer/1") == {"team": "risk"}
    assert json.loads(ws.invoke("models", "list", "--json"))[0]["tags"] == {"tier": "1"}
    assert "removed" in ws.invoke("models", "alias", "cancer", "production", "--delete")


def test_user_mistakes_are_one_line_and_exit_2(ws: Target) -> None:
    run = ws.run
    for args in (
        ("models", "show", "nope"),
        ("models", "show", "cancer/x"),
        ("models", "register", run, "--name", "bad name"),
        ("models", "register", "0" * 32, "--name", "m"),
        ("models", "rollback", "nope", "--reason", "r"),
    ):
        out = ws.invoke(*args, code=2)
        assert out.startswith("error: ") and out.count("\n") == 1 and "Traceback" not in out


def test_policy_promote_approve_rollback_card_dossier(ws: Target, tmp_path: Path) -> None:
    run = ws.run
    ws.invoke("models", "register", run, "--name", "cancer")
    ws.invoke("models", "register", run, "--name", "cancer")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "name: prod\nevaluation_data: cancer@1\ngates:\n"
        "  - metric: 'roc_auc >= 0.9'\n  - {type: approval, required: 2}\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngates:\n  - {type: metric, condition: 'roc_auc >>= 1'}\n")
    out = ws.invoke("models", "policy", "set", str(bad), "--model", "cancer", code=2)
    assert "gates[0]" in out or "condition" in out
    assert "2 gates" in ws.invoke("models", "policy", "set", str(policy), "--model", "cancer")
    assert json.loads(ws.invoke("models", "policy", "show", "cancer", "--json"))["name"] == "prod"

    refused = ws.invoke("models", "promote", "cancer", "1", "--to", "production", code=1)
    assert "FAIL" in refused and "pass" in refused
    asked = ws.invoke("models", "promote", "cancer", "1", "--to", "production", "--request")  # exit 0
    assert "requested cancer/1 -> production: waiting for approval" in asked
    out = ws.invoke("models", "promote", "cancer", "1", "--request", "--dry-run", code=2)
    assert "--request cannot be combined" in out
    ws.invoke("models", "approve", "cancer", "1", "-m", "ok", user="ann")
    ws.invoke("models", "approve", "cancer", "1", "-m", "ok", user="ben")
    dry = json.loads(ws.invoke("models", "promote", "cancer", "1", "--dry-run", "--json"))
    assert dry["passed"] is True and dry["applied"] is False
    assert "moved cancer@production to version 1" in ws.invoke("models", "promote", "cancer", "1")
    ws.invoke("models", "alias", "cancer", "production", "2")
    assert "2 -> 1" in ws.invoke("models", "rollback", "cancer", "--reason", "latency")
    card = ws.invoke("models", "card", "cancer", "1")
    assert "roc_auc" in card and "ann" in card
    html = tmp_path / "card.html"
    ws.invoke("models", "card", "cancer", "1", "--format", "html", "--out", str(html))
    assert "<html" in html.read_text().lower()
    zpath = tmp_path / "d.zip"
    out = json.loads(ws.invoke("models", "dossier", "cancer", "1", "--out", str(zpath), "--json"))
    assert out["model"] == "cancer/1"
    with zipfile.ZipFile(zpath) as zf:
        assert any(n.endswith("audit_events.jsonl") for n in zf.namelist())


def test_every_models_verb_has_help_with_an_example() -> None:
    from carnet.cli.models import models

    for name in models.commands:
        text = CliRunner().invoke(cli, ["models", name, "--help"]).output
        assert "Example" in text, name
        if name != "policy":
            assert "--json" in text, name
