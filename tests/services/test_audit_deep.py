# ruff: noqa: E501 - the tamper corpus reads best one statement a line
"""``verify(deep=True)``: the state tables must be the fold of the ledger; a tamper corpus.

A realistic workspace (datasets, runs ended and running, models, tags, aliases, a policy, an
approval, a promotion and a rollback, deployments, a monitor with windows, an alert and labels,
users, roles and tokens) verifies deep. Then each tampering is an SQL statement made behind
carnet's back, with no event: plain verification still passes (the chain is intact), deep
verification names the table, the key and both values; the table is then put back as it was and
verifies deep again. Runs on SQLite and PostgreSQL, in-process and through a live server.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import Table, select, text

from carnet import Client
from carnet.domain import Metric, RunStatus
from carnet.store.sql import tables as t

pytestmark = pytest.mark.served

MODEL = "deep-model"
POLICY = {"name": "prod", "aliases": ["production"], "gates": [{"type": "approval", "required": 1}]}


def _log_predictions(services: Any, model: Any, rows: pd.DataFrame, version: int, start: float) -> list[str]:
    """Predict ``rows`` and write them to the prediction log as a server would; the request ids."""
    from carnet.inference.outputs import model_outputs
    from carnet.inference.predlog import PredictionLog, PredictionRecord

    X = rows.drop(columns=["target"]).reset_index(drop=True)
    log = PredictionLog(services.deployments.prediction_sink())
    ids = []
    try:
        for i in range(len(X)):
            part = X.iloc[i : i + 1].reset_index(drop=True)
            ids.append(uuid.uuid4().hex)
            outputs = model_outputs(model, part, "classification", [0, 1])
            log.append(PredictionRecord(ids[-1], start + i, MODEL, MODEL, version, 1.0, part, outputs))
    finally:
        log.close()
    return ids


def _realistic(client: Client, services: Any, tmp_path: Path) -> dict[str, Any]:
    """Every kind of change carnet records, on a small workspace; the ids the corpus needs."""
    frame = load_breast_cancer(as_frame=True).frame
    csv = tmp_path / "cancer.csv"
    frame.to_csv(csv, index=False)
    client.add_dataset(csv, "cancer", project="deep")
    frame.head(300).to_csv(csv, index=False)
    client.add_dataset(csv, "cancer", project="deep", parent="cancer@1")
    # runs: ended (params, tags set and deleted, NaN, -0.0, repeated steps, artifacts, inputs,
    # a tag and late values after the end), running, failed, deleted
    ended = client.create_run("deep", name="ended", params={"lr": "0.1"}, tags={"team": "a"})
    client.log_params(ended.id, {"depth": 3})
    client.set_tags(ended.id, {"stage": "dev", "tmp": "x"})
    client.delete_tag(ended.id, "tmp")
    for i, v in enumerate([0.9, 0.5, 0.2]):
        client.log_metric(ended.id, "loss", v, step=i, timestamp=1_700_000_000.0 + i)
    client.log_metrics(ended.id, {"odd": float("nan"), "zero": -0.0}, step=3, timestamp=1_700_000_010.0)
    client.log_metrics(ended.id, {"loss": 0.25}, step=2, timestamp=1_700_000_002.0)  # same step, same time
    client.log_artifact_bytes(ended.id, b"weights", "model.bin")
    client.log_inputs(ended.id, ["cancer@1"])
    client.end_run(ended.id, "finished")
    client.set_tags(ended.id, {"note": "after the end"})
    late = [Metric("loss", 0.1, 9, 1_700_000_020.0)]
    client.write_batch(ended.id, late, allow_ended=True)
    running = client.create_run("deep", name="running", params={"lr": "0.2"})
    client.log_metrics(running.id, {"loss": 0.7, "acc": 0.5}, step=0, timestamp=1_700_000_100.0)
    client.log_metrics(running.id, {"loss": 0.6, "acc": 0.55}, step=1, timestamp=1_700_000_101.0)
    failed = client.create_run("deep", name="failed")
    client.end_run(failed.id, RunStatus.FAILED, "out of memory")
    gone = client.create_run("deep", name="gone")
    client.end_run(gone.id)
    client.delete_run(gone.id)
    # models: two versions, tags, aliases moved and deleted, a policy, an approval, a promotion, a rollback
    X, y = frame.drop(columns=["target"]), frame["target"]
    models = [
        make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500)).fit(X, y) for c in (1.0, 0.05)
    ]
    for m in models:
        client.log_model(m, MODEL, X.head(5), task="binary", project="deep", tags={"source": "test"})
    trained = client.train({"dataset": "cancer@2", "task": "binary", "target": "target", "project": "deep", "seed": 3,
                            "split": {"kind": "holdout", "test_size": 0.25}, "preprocess": {"scale": "standard"},
                            "model": {"name": "logistic_regression"}})  # fmt: skip
    client.register_model(trained.run_id, MODEL)
    client.set_model_tags(MODEL, {"owner": "ml"})
    client.set_model_tags(MODEL, {"checked": "yes"}, version=2)
    client.set_model_alias(MODEL, "production", 1)
    client.set_model_alias(MODEL, "staging", 2)
    client.delete_model_alias(MODEL, "staging")
    client.set_policy(POLICY, project="deep")
    client.set_policy(
        {**POLICY, "gates": [{"type": "approval", "required": 1}, {"type": "signature"}]}, model=MODEL
    )
    client.approve(MODEL, 2, "production", "looks good")
    assert client.promote(MODEL, 2, "production").applied
    client.rollback(MODEL, "production", reason="drill")
    client.set_model_alias(MODEL, "production", 2)
    # deployments: a revision, a new weight, another endpoint deleted
    client.set_deployment(
        {
            "endpoint": "deep-ep",
            "routes": [
                {"model": f"{MODEL}@production", "weight": 90.0},
                {"model": f"{MODEL}/1", "weight": 10.0},
            ],
        }
    )
    client.set_deployment(
        {
            "endpoint": "deep-ep",
            "routes": [
                {"model": f"{MODEL}@production", "weight": 80.0},
                {"model": f"{MODEL}/1", "weight": 20.0},
            ],
        }
    )
    client.set_deployment({"endpoint": "old-ep", "routes": [f"{MODEL}/1"]})
    client.delete_deployment("old-ep")
    # a monitor with windows, an alert (acknowledged) and labels; a second one deleted
    client.create_monitor({"name": "deep-monitor", "model": f"{MODEL}@production", "reference": "cancer@1",
                           "target": "target", "window": "50rows", "rules": ["drift.share_drifted > 0.3"],
                           "since": "all"})  # fmt: skip
    sample = frame.sample(150, random_state=1).reset_index(drop=True)
    shifted = sample.copy()
    for c in [c for c in shifted.columns if c != "target"][:20]:
        shifted[c] = shifted[c] * 3.0
    now = time.time()  # after the alias last moved: production's traffic
    ids = _log_predictions(services, models[1], sample.head(100), 2, now)
    ids += _log_predictions(services, models[1], shifted.tail(50), 2, now + 500)
    passed = client.run_monitor("deep-monitor")
    alert = next(t for t in passed.transitions if t.kind == "opened").alert
    client.acknowledge_alert(alert.id, "looking")
    client.add_labels(
        pd.DataFrame(
            {
                "request_id": ids,
                "label": np.r_[sample["target"].to_numpy()[:100], shifted["target"].to_numpy()[-50:]],
            }
        ),
        model=MODEL,
    )
    client.run_monitor("deep-monitor")
    client.create_monitor(
        {"name": "short-lived", "model": f"{MODEL}@production", "reference": "cancer@1", "window": "50rows"}
    )
    client.delete_monitor("short-lived")
    # users, roles, tokens
    client.add_user("dana", {"deep": "editor"})
    client.grant_role("dana", "other", "viewer")
    client.revoke_role("dana", "other")
    client.disable_user("dana")
    client.enable_user("dana")
    token = client.create_token("dana", "ci")[1]
    client.revoke_token(token.id)
    kept = client.create_token("dana", "kept")[1]
    return {
        "ended": ended.id,
        "running": running.id,
        "failed": failed.id,
        "token": token.id,
        "kept": kept.id,
        "alert": alert.id,
    }


def _snapshot(services: Any, table: Table) -> list[dict[str, Any]]:
    with services.ctx.store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def _restore(services: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """Put ``table`` back to ``rows``, row by row on its primary key."""
    pk = [c.name for c in table.primary_key.columns]
    with services.ctx.store.engine.begin() as conn:
        now = {tuple(r[k] for k in pk): dict(r) for r in conn.execute(select(table)).mappings()}
        for row in rows:
            key = tuple(row[k] for k in pk)
            where = [table.c[k] == row[k] for k in pk]
            if key in now:
                conn.execute(table.update().where(*where).values(**row))
            else:
                conn.execute(table.insert().values(**row))
        for key in set(now) - {tuple(r[k] for k in pk) for r in rows}:
            conn.execute(table.delete().where(*[table.c[k] == v for k, v in zip(pk, key, strict=True)]))


def _sql(services: Any, statement: str, **params: Any) -> None:
    with services.ctx.store.engine.begin() as conn:
        assert conn.execute(text(statement), params).rowcount >= 1, statement


Case = tuple[Table, str, Callable[[dict[str, Any]], dict[str, Any]], set[str], str]
CASES: dict[str, Case] = {
    "alias UPDATE": (t.model_aliases, "UPDATE model_aliases SET version = 1 WHERE alias = 'production'", lambda ids: {}, {"model_aliases"}, f"{MODEL}/production"),
    "alias DELETE (a row deleted)": (t.model_aliases, "DELETE FROM model_aliases WHERE alias = 'production'", lambda ids: {}, {"model_aliases"}, f"{MODEL}/production"),
    "metric value UPDATE (ended run)": (t.metrics, "UPDATE metrics SET value = 0.01 WHERE run_id = :r AND step = 1", lambda ids: {"r": ids["ended"]}, {"metrics"}, "{ended}"),
    "metric timestamp UPDATE (ended run)": (t.metrics, "UPDATE metrics SET timestamp = timestamp + 1 WHERE run_id = :r AND step = 0", lambda ids: {"r": ids["ended"]}, {"metrics"}, "{ended}"),
    "metric DELETE (ended run)": (t.metrics, "DELETE FROM metrics WHERE run_id = :r AND step = 0", lambda ids: {"r": ids["ended"]}, {"metrics"}, "{ended}"),
    "metric value UPDATE (running run)": (t.metrics, "UPDATE metrics SET value = 0.99 WHERE run_id = :r AND key = 'acc' AND step = 0", lambda ids: {"r": ids["running"]}, {"metrics"}, "{running}"),
    "metric INSERT (running run)": (t.metrics, "INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (:r, 'acc', 0.9, 0, 1700000100.5)", lambda ids: {"r": ids["running"]}, {"metrics"}, "{running}"),
    "latest metric UPDATE": (t.latest_metrics, "UPDATE latest_metrics SET value = 0.99 WHERE run_id = :r AND key = 'loss'", lambda ids: {"r": ids["ended"]}, {"latest_metrics"}, "{ended}/loss"),
    "param UPDATE": (t.params, "UPDATE params SET value = '9' WHERE run_id = :r AND key = 'depth'", lambda ids: {"r": ids["ended"]}, {"params"}, "{ended}/depth"),
    "param UPDATE (running run)": (t.params, "UPDATE params SET value = '1.0' WHERE run_id = :r", lambda ids: {"r": ids["running"]}, {"params"}, "{running}/lr"),
    "param INSERT": (t.params, "INSERT INTO params (run_id, key, value) VALUES (:r, 'extra', '1')", lambda ids: {"r": ids["ended"]}, {"params"}, "{ended}/extra"),
    "tag UPDATE": (t.tags, "UPDATE tags SET value = 'prod' WHERE run_id = :r AND key = 'stage'", lambda ids: {"r": ids["ended"]}, {"tags"}, "{ended}/stage"),
    "tag DELETE": (t.tags, "DELETE FROM tags WHERE run_id = :r AND key = 'note'", lambda ids: {"r": ids["ended"]}, {"tags"}, "{ended}/note"),
    "run status UPDATE": (t.runs, "UPDATE runs SET status = 'finished', error = NULL WHERE id = :r", lambda ids: {"r": ids["failed"]}, {"runs"}, "{failed}/status"),
    "artifact digest UPDATE": (t.artifacts, "UPDATE artifacts SET digest = 'sha256:' || substr(digest, 8, 10) WHERE run_id = :r", lambda ids: {"r": ids["ended"]}, {"artifacts"}, "{ended}/model.bin/digest"),
    "model version digest UPDATE": (t.model_versions, "UPDATE model_versions SET artifact_digest = 'sha256:0000' WHERE version = 1", lambda ids: {}, {"model_versions"}, f"{MODEL}/1/digest"),
    "model version pickle opt-in UPDATE": (t.model_versions, "UPDATE model_versions SET allow_pickle = TRUE WHERE version = 2", lambda ids: {}, {"model_versions"}, f"{MODEL}/2/allow_pickle"),
    "model version tag UPDATE": (t.model_version_tags, "UPDATE model_version_tags SET value = 'no' WHERE key = 'checked'", lambda ids: {}, {"model_version_tags"}, f"{MODEL}/2/checked"),
    "dataset version digest UPDATE": (t.dataset_versions, "UPDATE dataset_versions SET digest = 'sha256:0000' WHERE version = 2", lambda ids: {}, {"dataset_versions"}, "cancer/2/digest"),
    "alias history UPDATE": (t.alias_history, "UPDATE alias_history SET version = 1 WHERE kind = 'promote'", lambda ids: {}, {"alias_history"}, f"{MODEL}/production#"),
    "approval inserted without event": (t.approvals, f"INSERT INTO approvals (model_id, version, alias, actor, comment, authenticated, created_at) SELECT id, 1, 'production', 'mallory', '', TRUE, 0 FROM registered_models WHERE name = '{MODEL}'", lambda ids: {}, {"approvals"}, f"{MODEL}/1/production/mallory"),
    "approval DELETE": (t.approvals, "DELETE FROM approvals", lambda ids: {}, {"approvals"}, f"{MODEL}/2/production"),
    "policy edit": (t.policies, "UPDATE policies SET source = replace(source, '\"required\": 1', '\"required\": 0') WHERE model_id IS NULL", lambda ids: {}, {"policies"}, "project/deep#1"),
    "role UPDATE": (t.project_roles, "UPDATE project_roles SET role = 'admin' WHERE project = 'deep'", lambda ids: {}, {"project_roles"}, "dana/deep"),
    "role INSERT": (t.project_roles, "INSERT INTO project_roles (user_id, project, role) SELECT id, '*', 'admin' FROM users WHERE name = 'dana'", lambda ids: {}, {"project_roles"}, "dana/*"),
    "user disabled": (t.users, "UPDATE users SET disabled = TRUE WHERE name = 'dana'", lambda ids: {}, {"users"}, "dana/disabled"),
    "token un-revoke": (t.api_tokens, "UPDATE api_tokens SET revoked_at = NULL WHERE id = :t", lambda ids: {"t": ids["token"]}, {"api_tokens"}, "#{token}/revoked"),
    "token hash replaced": (t.api_tokens, "UPDATE api_tokens SET token_hash = '00' || substr(token_hash, 3) WHERE id = :t", lambda ids: {"t": ids["kept"]}, {"api_tokens"}, "#{kept}/hash_check"),
    "deployment weight edit": (t.deployments, "UPDATE deployments SET spec = replace(spec, '80.0', '50.0') WHERE endpoint = 'deep-ep' AND revision = 2", lambda ids: {}, {"deployments"}, "deep-ep/2/spec"),
    "deployment undeleted": (t.deployments, "UPDATE deployments SET deleted = FALSE WHERE endpoint = 'old-ep' AND revision = 2", lambda ids: {}, {"deployments"}, "old-ep/2/deleted"),
    "monitor edit": (t.monitors, "UPDATE monitors SET spec = replace(spec, '50rows', '500rows') WHERE name = 'deep-monitor'", lambda ids: {}, {"monitors"}, "deep-monitor/spec"),
    "monitor window UPDATE": (t.monitor_windows, "UPDATE monitor_windows SET rows = 49 WHERE seq = 1", lambda ids: {}, {"monitor_windows"}, "deep-monitor/1/rows"),
    "alert status UPDATE": (t.alerts, "UPDATE alerts SET status = 'resolved' WHERE id = :a", lambda ids: {"a": ids["alert"]}, {"alerts"}, "#{alert}/status"),
    "label file digest UPDATE": (t.label_files, "UPDATE label_files SET digest = 'sha256:0000'", lambda ids: {}, {"label_files"}, "/digest"),
}  # fmt: skip


def test_a_realistic_workspace_verifies_deep_and_every_tampering_is_found_by_deep_only(
    client: Client, services: Any, tmp_path: Path
) -> None:
    ids = _realistic(client, services, tmp_path)
    v = client.verify_audit(deep=True)
    assert v.ok, [m.message for m in v.state]
    assert v.state == () and v.runs_not_covered == 0
    assert v.runs_checked == 5  # ended, running, failed, deleted, trained
    missed = []
    for case, (table, statement, params, tables, key) in CASES.items():
        before = _snapshot(services, table)
        _sql(services, statement, **params(ids))
        try:
            assert client.verify_audit().ok, case  # the chain is intact: plain verification cannot see it
            deep = client.verify_audit(deep=True)
            found = {m.table for m in deep.state}
            shown = key.format(**ids)
            if deep.ok or found != tables or not any(shown in m.key for m in deep.state):
                missed.append((case, [m.message for m in deep.state]))
                continue
            assert (
                deep.reason
                and "the ledger says" in deep.reason
                and "rows differ from the ledger" in deep.reason
            )
            assert all(not _same_value(m.expected, m.found) for m in deep.state), case
        finally:
            _restore(services, table, before)
        assert client.verify_audit(deep=True).ok, f"{case}: the restored table verifies again"
    assert not missed, missed


def _same_value(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _run_with_old_events(services: Any) -> str:
    """A run ended by an older carnet: its events carry no digest and no values_sum."""
    from carnet.domain import Run
    from carnet.services.context import record

    tracking, ctx = services.tracking, services.ctx
    rid = uuid.uuid4().hex
    with ctx.store.transaction() as tx:
        project = tracking.ensure_project(tx, "deep")
        tx.runs.insert(Run(rid, "deep", "old", RunStatus.RUNNING, 1.0, params={"a": "1"}), project.id)
        record(
            ctx,
            tx,
            "run.create",
            "run",
            rid,
            {"project": "deep", "name": "old", "parent_id": None, "params": {"a": "1"}, "tags": {}},
        )
        tx.runs.add_metrics(rid, [Metric("m", 1.0, 0, 2.0), Metric("m", 2.0, 1, 3.0)])
        record(ctx, tx, "run.log_metrics", "run", rid, {"count": 2, "keys": ["m"], "values_sha256": "0" * 64})
        tx.runs.finish(rid, RunStatus.FINISHED, 4.0, None)
        record(ctx, tx, "run.end", "run", rid, {"status": "finished", "error": None})
    return rid


@pytest.mark.local_only("writes events the way an older carnet did, through the store")
def test_runs_of_an_older_ledger_are_not_covered_but_their_row_count_is_checked(
    client: Client, services: Any
) -> None:
    rid = _run_with_old_events(services)
    v = client.verify_audit(deep=True)
    assert v.ok and (v.runs_checked, v.runs_not_covered) == (0, 1), v.state
    _sql(services, "UPDATE metrics SET value = 5 WHERE run_id = :r AND step = 0", r=rid)
    assert client.verify_audit(deep=True).ok  # values of an uncovered run cannot be checked
    _sql(services, "DELETE FROM metrics WHERE run_id = :r AND step = 0", r=rid)
    v = client.verify_audit(deep=True)
    assert not v.ok and [(m.table, m.key, m.expected, m.found) for m in v.state] == [
        ("metrics", rid, {"rows": 2}, {"rows": 1})
    ]


def test_rows_without_any_event_are_reported(client: Client, services: Any) -> None:
    client.create_run("deep")
    rid = "f" * 32
    _sql(
        services,
        "INSERT INTO runs (id, project_id, name, status, start_time, deleted) SELECT :r, id, 'forged', 'finished', 1.0, FALSE FROM projects WHERE name = 'deep'",
        r=rid,
    )
    _sql(services, "INSERT INTO params (run_id, key, value) VALUES (:r, 'a', '1')", r=rid)
    for table in ("metrics", "latest_metrics"):
        _sql(
            services,
            f"INSERT INTO {table} (run_id, key, value, step, timestamp) VALUES (:r, 'm', 1.0, 0, 1.0)",
            r=rid,
        )
    assert client.verify_audit().ok
    v = client.verify_audit(deep=True)
    assert [(m.table, m.key, m.expected) for m in v.state] == [
        ("runs", rid, None), ("params", f"{rid}/a", None), ("metrics", rid, None), ("latest_metrics", f"{rid}/m", None),
    ]  # fmt: skip
    assert v.state[3].found == {"value": 1.0, "step": 0, "timestamp": 1.0}
    assert v.state[0].found == {
        "project": "deep",
        "name": "forged",
        "parent_id": None,
        "status": "finished",
        "deleted": False,
        "error": None,
    }


@pytest.mark.local_only("a server's own environment sets its key")
def test_a_keyed_ledger_verifies_deep_and_finds_an_edited_value(
    monkeypatch: pytest.MonkeyPatch, workspace: Any
) -> None:
    monkeypatch.setenv("CARNET_AUDIT_KEY", "k" * 32)
    with workspace.client() as keyed:
        run = keyed.create_run("deep")
        keyed.log_metrics(run.id, {"a": 1.0, "b": 2.0}, step=0)
        keyed.log_metrics(run.id, {"a": 1.5}, step=1)
        assert keyed.verify_audit(deep=True).ok
        _sql(
            keyed.services,
            "UPDATE metrics SET value = 3 WHERE run_id = :r AND key = 'a' AND step = 0",
            r=run.id,
        )
        v = keyed.verify_audit(deep=True)
        assert [m.table for m in v.state] == ["metrics"]
        assert v.state[0].expected["rows"] == v.state[0].found["rows"] == 3


@pytest.mark.local_only("the command line is checked once, on the workspace itself")
def test_the_command_prints_every_mismatch_and_exits_1(client: Client, services: Any, workspace: Any) -> None:
    from click.testing import CliRunner

    from carnet.cli.main import cli as main

    run = client.create_run("deep", params={"lr": "0.1"}, tags={"stage": "dev"})
    client.log_model(
        LogisticRegression().fit(pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]}), [0, 1, 0, 1]),
        MODEL,
        pd.DataFrame({"a": [1.0]}),
        task="binary",
        project="deep",
    )
    client.set_model_alias(MODEL, "production", 1)
    client.end_run(run.id)
    uri = ["--uri", workspace.uri] + (["--artifacts", workspace.artifacts] if workspace.artifacts else [])
    ok = CliRunner().invoke(main, [*uri, "audit", "verify", "--deep"])
    assert ok.exit_code == 0 and ok.output.startswith("OK:"), ok.output
    _sql(services, "UPDATE tags SET value = 'prod' WHERE run_id = :r AND key = 'stage'", r=run.id)
    _sql(services, "UPDATE model_aliases SET version = 7 WHERE alias = 'production'")
    out = CliRunner().invoke(main, [*uri, "audit", "verify", "--deep"])
    assert out.exit_code == 1
    lines = [line for line in out.output.splitlines() if line.startswith("STATE ")]
    assert lines == [
        f"STATE model_aliases {MODEL}/production: the ledger says 1, the database has 7",
        f'STATE tags {run.id}/stage: the ledger says "dev", the database has "prod"',
    ], out.output
    plain = CliRunner().invoke(main, [*uri, "audit", "verify"])
    assert plain.exit_code == 0, plain.output
    as_json = CliRunner().invoke(main, [*uri, "audit", "verify", "--deep", "--json"])
    doc = json.loads(as_json.output)
    assert as_json.exit_code == 1 and doc["ok"] is False
    assert doc["state"] == [
        {"table": "model_aliases", "key": f"{MODEL}/production", "expected": 1, "found": 7},
        {"table": "tags", "key": f"{run.id}/stage", "expected": "dev", "found": "prod"},
    ]
