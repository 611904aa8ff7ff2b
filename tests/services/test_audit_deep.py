# ruff: noqa: E501 - the tamper corpus reads best one statement a line
"""``verify(deep=True)``: the state tables must be the fold of the ledger; a tamper corpus.

Each tampering is an SQL statement made behind carnet's back, with no event. Plain verification
still passes (the chain is intact), so each case shows that deep verification is what finds it,
naming the table, the key and both values. Runs on SQLite and PostgreSQL, in-process and through
a live server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import text

from carnet import Client

pytestmark = pytest.mark.served


def _realistic(client: Client, services: Any) -> dict[str, Any]:
    """Runs with params, tags and metrics (ended and running), a model with aliases, users, roles, tokens."""
    ended = client.create_run("deep", name="ended", params={"lr": "0.1"}, tags={"team": "a"})
    client.log_params(ended.id, {"depth": 3})
    client.set_tags(ended.id, {"stage": "dev", "tmp": "x"})
    client.delete_tag(ended.id, "tmp")
    for i, v in enumerate([0.9, 0.5, 0.2]):
        client.log_metric(ended.id, "loss", v, step=i, timestamp=1_700_000_000.0 + i)
    client.end_run(ended.id, "finished")
    running = client.create_run("deep", name="running", params={"lr": "0.2"})
    client.log_metrics(running.id, {"loss": 0.7, "acc": 0.5}, step=0, timestamp=1_700_000_100.0)
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    model = LogisticRegression().fit(X, np.arange(20) % 2)
    client.log_model(model, "deep-model", X.head(3), task="binary", project="deep")
    client.log_model(model, "deep-model", X.head(3), task="binary", project="deep")
    client.set_model_alias("deep-model", "production", 1)
    client.set_model_alias("deep-model", "production", 2)
    client.set_model_alias("deep-model", "staging", 1)
    client.delete_model_alias("deep-model", "staging")
    services.auth.add_user("dana", {"deep": "editor"})
    services.auth.grant("dana", "other", "viewer")
    services.auth.revoke_role("dana", "other")
    token = services.auth.create_token("dana", "ci")[1]
    services.auth.revoke_token(token.id)
    return {"ended": ended.id, "running": running.id, "token": token.id}


def _sql(services: Any, statement: str, **params: Any) -> None:
    with services.ctx.store.engine.begin() as conn:
        assert conn.execute(text(statement), params).rowcount >= 1


def test_a_realistic_workspace_verifies_deep(client: Client, services: Any) -> None:
    _realistic(client, services)
    v = client.verify_audit(deep=True)
    assert v.ok, v.reason
    assert v.state == () and v.runs_checked == 1 and v.runs_not_covered == 0


CASES: dict[str, tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "alias UPDATE": (
        "UPDATE model_aliases SET version = 1 WHERE alias = 'production'",
        "model_aliases",
        lambda ids: {},
    ),
    "metric UPDATE": ("UPDATE metrics SET value = 0.01 WHERE run_id = :r AND step = 2", "metrics", lambda ids: {"r": ids["ended"]}),
    "metric DELETE": ("DELETE FROM metrics WHERE run_id = :r AND step = 0", "metrics", lambda ids: {"r": ids["ended"]}),
    "param UPDATE": ("UPDATE params SET value = '9' WHERE run_id = :r AND key = 'depth'", "params", lambda ids: {"r": ids["ended"]}),
    "param of a running run UPDATE": ("UPDATE params SET value = '1.0' WHERE run_id = :r", "params", lambda ids: {"r": ids["running"]}),
    "param INSERT": ("INSERT INTO params (run_id, key, value) VALUES (:r, 'extra', '1')", "params", lambda ids: {"r": ids["ended"]}),
    "tag UPDATE": ("UPDATE tags SET value = 'prod' WHERE run_id = :r AND key = 'stage'", "tags", lambda ids: {"r": ids["ended"]}),
    "role UPDATE": ("UPDATE project_roles SET role = 'admin' WHERE project = 'deep'", "project_roles", lambda ids: {}),
    "role INSERT": (
        "INSERT INTO project_roles (user_id, project, role) SELECT id, '*', 'admin' FROM users WHERE name = 'dana'",
        "project_roles",
        lambda ids: {},
    ),
    "token un-revoke": ("UPDATE api_tokens SET revoked_at = NULL WHERE id = :t", "api_tokens", lambda ids: {"t": ids["token"]}),
    "user disabled": ("UPDATE users SET disabled = TRUE WHERE name = 'dana'", "users", lambda ids: {}),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_the_tamper_corpus_is_found_by_deep_verification_only(
    client: Client, services: Any, case: str
) -> None:
    ids = _realistic(client, services)
    statement, table, params = CASES[case]
    _sql(services, statement, **params(ids))
    assert client.verify_audit().ok  # the chain is intact: plain verification cannot see it
    v = client.verify_audit(deep=True)
    assert not v.ok
    assert [m.table for m in v.state] == [table], v.state
    assert table in (v.reason or "") and "the ledger says" in (v.reason or "")
    mismatch = v.state[0]
    assert mismatch.expected != mismatch.found


@pytest.mark.local_only("the command line is checked once, on the workspace itself")
def test_the_command_prints_every_mismatch_and_exits_1(client: Client, services: Any, workspace: Any) -> None:
    import json

    from click.testing import CliRunner

    from carnet.cli.main import cli as main

    ids = _realistic(client, services)
    uri = ["--uri", workspace.uri] + (["--artifacts", workspace.artifacts] if workspace.artifacts else [])
    ok = CliRunner().invoke(main, [*uri, "audit", "verify", "--deep"])
    assert ok.exit_code == 0 and ok.output.startswith("OK:"), ok.output
    _sql(services, "UPDATE tags SET value = 'prod' WHERE run_id = :r AND key = 'stage'", r=ids["ended"])
    _sql(services, "UPDATE model_aliases SET version = 1 WHERE alias = 'production'")
    out = CliRunner().invoke(main, [*uri, "audit", "verify", "--deep"])
    assert out.exit_code == 1
    lines = [line for line in out.output.splitlines() if line.startswith("STATE ")]
    assert len(lines) == 2 and any("model_aliases deep-model/production" in line for line in lines), out.output
    as_json = CliRunner().invoke(main, [*uri, "audit", "verify", "--deep", "--json"])
    doc = json.loads(as_json.output)
    assert as_json.exit_code == 1 and doc["ok"] is False
    assert {m["table"] for m in doc["state"]} == {"tags", "model_aliases"}
