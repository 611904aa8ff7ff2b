"""`carnet import mlflow` from the other kinds of MLflow source: a live `mlflow server` URL and a
PostgreSQL database. MLflow's own client (in the Python that has MLflow, as in test_mlflow.py)
seeds each source with nested runs, files, a deleted run, a run still going and a registered model
with aliases; carnet imports it through the CLI and every value is compared with what MLflow's
client reads back."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import pytest
from test_mlflow import DUMP, T0, _check_run, _cli, mlflow_side
from test_mlflow import mlflow_python as mlflow_python  # the fixture: the Python with MLflow 3

from carnet.bootstrap import open_services
from carnet.errors import InvalidInput
from carnet.services import Services
from carnet.services.mlflow_import import ORIGIN_URI, _metrics
from conftest import PG_URL, postgres_unreachable_reason

#: SQLAlchemy 2.1's driver for postgresql:// in MLflow's Python (as benchmarks/setup_mlflow_venv.sh pins)
PG_DRIVER = "psycopg[binary]==3.3.9"
#: fails when MLflow's SQLAlchemy lacks the driver of postgresql:// (connects to nothing)
PG_PROBE = "import sqlalchemy; sqlalchemy.create_engine('postgresql://mlflow@127.0.0.1/mlflow')"

# -- the MLflow side: one script seeds any source through MLflow's client ---------------------------
SEED = r"""
import json, math, sys
from pathlib import Path
import lightgbm, mlflow, numpy as np
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

a = json.loads(sys.stdin.read())
root, uri, T0 = Path(a["root"]), a["uri"], a["t0"]
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
where = {"artifact_location": a["artifacts"]} if a.get("artifacts") else {}
eid = client.create_experiment("sources/study", **where)
parent = client.create_run(eid, run_name="sweep", start_time=T0, tags={"team": "risk"}).info.run_id
values = [Metric("loss", 1.0 / (s + 1), T0 + 1000 * s, s) for s in range(300)]
values += [Metric("odd", math.nan, T0 + 7, 0), Metric("odd", 2.5, T0 + 8, 0), Metric("big", 1e300, T0, 1)]
client.log_batch(parent, metrics=values, params=[Param("lr", "0.1"), Param("depth", "4")])
children = []
for i in range(3):
    child = client.create_run(eid, run_name=f"trial-{i}", start_time=T0 + 10 + i,
                              tags={"mlflow.parentRunId": parent}).info.run_id
    auc = [Metric("auc", 0.5 + i / 10 + s / 1000, T0 + 20 + s, s) for s in range(50)]
    client.log_batch(child, metrics=auc, params=[Param("trial", str(i))])
    children.append(child)
grandchild = client.create_run(eid, run_name="trial-0-fold", start_time=T0 + 30,
                               tags={"mlflow.parentRunId": children[0]}).info.run_id
client.log_batch(grandchild, metrics=[Metric("auc", 0.75, T0 + 31, 0)])
client.set_terminated(grandchild, "FINISHED", end_time=T0 + 40)
files = root / "files"
(files / "plots").mkdir(parents=True)
(files / "notes.txt").write_text("nested run\n")
(files / "plots" / "curve.json").write_text(json.dumps({"x": [1, 2, 3]}))
client.log_artifacts(children[0], str(files), "outputs")
for i, child in enumerate(children):
    client.set_terminated(child, "FAILED" if i == 2 else "FINISHED", end_time=T0 + 500 + i)
client.set_terminated(parent, "FINISHED", end_time=T0 + 1000)
deleted = client.create_run(eid, run_name="mistake", start_time=T0 + 50).info.run_id
client.log_batch(deleted, tags=[RunTag("why", "typo")])
client.set_terminated(deleted, "KILLED", end_time=T0 + 60)
client.delete_run(deleted)
active = client.create_run(eid, run_name="still-going", start_time=T0 + 70).info.run_id

X = np.random.default_rng(0).normal(size=(80, 3))
y = X @ np.array([1.0, -2.0, 0.5])
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
predictions, trains = [], []
for rounds in (3, 6):
    conf = {"objective": "regression", "verbose": -1, "num_leaves": 4, "min_data_in_leaf": 5}
    booster = lightgbm.train(conf, lightgbm.Dataset(X, y), rounds)
    with mlflow.start_run(experiment_id=eid, run_name=f"train-{rounds}") as run:
        mlflow.lightgbm.log_model(booster, name="model", registered_model_name="sources-lgb",
                                  pip_requirements=["lightgbm"])
    trains.append(run.info.run_id)
    predictions.append(booster.predict(X).tolist())
client.set_registered_model_alias("sources-lgb", "baseline", "1")
client.set_registered_model_alias("sources-lgb", "champion", "2")
client.set_registered_model_tag("sources-lgb", "owner", "risk")
print(json.dumps({"experiment_id": eid, "parent": parent, "children": children, "grandchild": grandchild,
                  "deleted": deleted, "active": active, "trains": trains, "X": X.tolist(),
                  "predictions": predictions}))
"""


@pytest.fixture(scope="module")
def mlflow_pg_python(mlflow_python: str) -> str:
    """The Python with MLflow, with the PostgreSQL driver MLflow's SQL store needs."""
    if subprocess.run([mlflow_python, "-c", PG_PROBE], capture_output=True).returncode != 0:
        subprocess.run([mlflow_python, "-m", "pip", "install", "--quiet", PG_DRIVER], check=True)
    return mlflow_python


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mlflow_server(mlflow_python: str, tmp_path: Path) -> Iterator[str]:
    """A live `mlflow server` on 127.0.0.1 over a SQLite store, its artifacts served by it; its URL.
    Stopped (its whole process group) after the test."""
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    args = ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"]
    args += ["--artifacts-destination", str(tmp_path / "server-artifacts"), "--serve-artifacts"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(
        [mlflow_python, "-m", "mlflow", "server", *args],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server stopped: {(tmp_path / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer: {(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database (postgresql://... URI), dropped after the test; the test is
    skipped, with the reason, only when PostgreSQL does not answer."""
    reason = postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    import psycopg

    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = "mlflow_src_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    host = f"{parts.hostname}:{parts.port or 5432}"
    # a password in the URI (PostgreSQL's trust auth ignores it): it must never be recorded
    netloc = f"{parts.username or 'postgres'}:s3cret-pw@{host}"
    try:
        yield urlunsplit(("postgresql", netloc, f"/{name}", "", ""))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _import_cli(ws: Path, source: str, python: str) -> dict[str, Any]:
    out = _cli("--uri", str(ws), "import", "mlflow", source, "--mlflow-python", python, "--json")
    doc: dict[str, Any] = json.loads(out)
    return doc


def _check_import(services: Services, seeded: dict[str, Any], dump: dict[str, Any], origin: str) -> None:
    """Every run MLflow's client reads (but the one still going) is in the workspace with every
    value, nested runs under their parents, and the registered model with its versions and aliases."""
    for rid, seen in dump["runs"].items():
        if rid == seeded["active"]:
            continue
        _check_run(services, seen, rid)
        assert services.tracking.get_run(rid).tags[ORIGIN_URI] == origin
    parent = seeded["parent"]
    assert {services.tracking.get_run(c).parent_id for c in seeded["children"]} == {parent}
    assert services.tracking.get_run(seeded["grandchild"]).parent_id == seeded["children"][0]
    assert services.tracking.get_run(parent).project == "sources-study"
    assert services.tracking.get_run(seeded["deleted"]).deleted
    arts = {a.path for a in services.tracking.list_artifacts(seeded["children"][0])}
    assert arts == {"outputs/notes.txt", "outputs/plots/curve.json"}
    with pytest.raises(Exception, match="no run"):
        services.tracking.get_run(seeded["active"])
    X = np.array(seeded["X"])
    for alias, version in (("baseline", 0), ("champion", 1)):
        model, mv = services.registry.load(f"sources-lgb@{alias}")
        assert mv.flavor == "lightgbm" and mv.tags["mlflow.origin.version"] == str(version + 1)
        assert mv.tags["carnet.run_id"] == seeded["trains"][version]
        np.testing.assert_allclose(model.predict(X), seeded["predictions"][version])
    assert services.registry.get_model("sources-lgb").tags["owner"] == "risk"


def _import_twice(
    tmp_path: Path, source: str, python: str, seeded: dict[str, Any], origin: str
) -> dict[str, Any]:
    """Import ``source`` with the CLI, check it, import again: nothing new, no audit event."""
    dump = mlflow_side(python, DUMP, uri=source, root=str(tmp_path))
    ended = len(dump["runs"]) - 1  # all but the run still going
    ws = tmp_path / "ws"
    first = _import_cli(ws, source, python)
    assert first["source"] == origin
    assert first["runs_imported"] == ended and first["runs_active"] == 1 and first["runs_present"] == 0
    assert first["versions_imported"] == 2 and first["aliases_set"] == 2
    assert first["versions_not_imported"] == [] and first["aliases_not_set"] == []
    assert first["metric_values"] == sum(
        len(values) for rid, run in dump["runs"].items() for values in run["metrics"].values()
    )
    services = open_services(str(ws))
    try:
        _check_import(services, seeded, dump, origin)
        events = services.audit.verify().count
    finally:
        services.close()
    again = _import_cli(ws, source, python)
    assert again["runs_imported"] == 0 and again["runs_present"] == ended and again["runs_active"] == 1
    assert again["versions_imported"] == 0 and again["versions_present"] == 2 and again["aliases_set"] == 0
    services = open_services(str(ws))
    try:
        assert services.audit.verify().count == events
        check = services.audit.verify(deep=True)
        assert check.ok, check.reason
    finally:
        services.close()
    return first


def test_import_from_an_mlflow_server(mlflow_python: str, mlflow_server: str, tmp_path: Path) -> None:
    seeded = mlflow_side(mlflow_python, SEED, uri=mlflow_server, root=str(tmp_path), t0=T0)
    summary = _import_twice(tmp_path, mlflow_server, mlflow_python, seeded, mlflow_server)
    assert "sources-study" in summary["projects"]


def test_import_from_a_postgresql_database(mlflow_pg_python: str, pg_database: str, tmp_path: Path) -> None:
    artifacts = (tmp_path / "pg-artifacts").as_uri()
    seeded = mlflow_side(
        mlflow_pg_python, SEED, uri=pg_database, root=str(tmp_path), t0=T0, artifacts=artifacts
    )
    shown = pg_database.replace(":s3cret-pw@", ":***@")
    _import_twice(tmp_path, pg_database, mlflow_pg_python, seeded, shown)
    services = open_services(str(tmp_path / "ws"))
    try:  # the password of the source URI is in no tag and no audit event
        assert all("s3cret-pw" not in json.dumps(e.payload) for e in services.audit.log(limit=None))
    finally:
        services.close()


def test_metric_columns_are_checked_like_single_values() -> None:
    """MLflow's metric columns become carnet values with the checks every metric value has."""
    got = _metrics({"loss": [[0.5, math.nan, 2.0], [0, 1, 2], [1000, 2500, 4000]], "n": [[3], [7], [9]]})
    assert [(m.key, m.step, m.timestamp) for m in got] == [
        ("loss", 0, 1.0),
        ("loss", 1, 2.5),
        ("loss", 2, 4.0),
        ("n", 7, 0.009),
    ]
    assert got[0].value == 0.5 and math.isnan(got[1].value) and got[3].value == 3.0
    with pytest.raises(InvalidInput, match="step"):
        _metrics({"loss": [[0.5], [True], [1000]]})
    with pytest.raises(InvalidInput, match="fit in 64 bits"):
        _metrics({"loss": [[0.5], [2**63], [1000]]})
    with pytest.raises(InvalidInput, match="must be a number"):
        _metrics({"loss": [["high"], [0], [1000]]})
    with pytest.raises(InvalidInput, match="timestamp"):
        _metrics({"loss": [[0.5], [0], [None]]})
    with pytest.raises(InvalidInput, match="different lengths"):
        _metrics({"loss": [[0.5, 1.0], [0], [1000]]})
