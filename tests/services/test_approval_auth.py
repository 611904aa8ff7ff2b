"""Approvals and who made them: on a workspace with users, only authenticated approvals count unless
the policy relaxes it explicitly; unauthenticated ones are marked in the gate, the card and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from carnet import Client
from carnet.cli.main import cli
from carnet.errors import InvalidInput


def _policy(**approval: object) -> dict[str, object]:
    return {
        "name": "p",
        "aliases": ["production"],
        "gates": [{"type": "approval", "required": 1, **approval}],
    }


@pytest.fixture
def ws(tmp_path: Path) -> Client:
    data = load_breast_cancer(as_frame=True)
    client = Client(str(tmp_path / "ws"))
    client.log_model(
        LogisticRegression(max_iter=3000).fit(data.data, data.target), "clf", data.data.head(3), task="binary"
    )
    return client


def test_users_make_approvals_authenticated_by_default(ws: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARNET_USER", "ann")
    ws.approve("clf", 1, "production", "looks fine")
    ws.set_policy(_policy(), model="clf")
    alone = ws.promote("clf", 1, "production", dry_run=True)
    assert alone.passed and alone.results[0].measured == "1 of 1 (1 unauthenticated)"  # no users: counted

    ws.services.auth.add_user("ann", {"*": "approver"})  # the workspace now has users
    strict = ws.promote("clf", 1, "production", dry_run=True)
    gate = strict.results[0]
    assert not strict.passed and gate.measured == "0 of 1"
    assert gate.details["ignored"][0]["reason"] == "not authenticated" and gate.details["authenticated_only"]

    ws.set_policy(_policy(allow_unauthenticated=True), model="clf")
    relaxed = ws.promote("clf", 1, "production", dry_run=True)
    assert relaxed.passed and relaxed.results[0].measured == "1 of 1 (1 unauthenticated)"

    with pytest.raises(InvalidInput, match="contradict"):
        ws.set_policy(_policy(allow_unauthenticated=True, authenticated_only=True), model="clf")


def test_the_card_and_the_cli_mark_unauthenticated_approvals(
    ws: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_USER", "ben")
    out = CliRunner().invoke(cli, ["--uri", ws.uri, "models", "approve", "clf/1", "-m", "ok"])
    assert out.exit_code == 0 and "(unauthenticated:" in out.output
    card = ws.model_card("clf", 1)
    assert "NO (unauthenticated)" in card and "one person can appear as several" in card
    html = ws.model_card("clf", 1, fmt="html")
    assert "NO (unauthenticated)" in html
