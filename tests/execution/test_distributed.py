"""Ray and Dask clusters on this machine, over a PostgreSQL + S3 workspace: the same AutoML, batch
prediction and drift as ``local``; killed workers, deadlines and early stops.

The clusters are real (``ray.init(num_cpus=2)`` and a Dask ``LocalCluster``), started once per
module and stopped at its end; the workspace's artifacts are on the local S3 server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest

from carnet.execution import DeadlineExceeded, open_executor
from carnet.testing import moto_s3_server
from conftest import drop_pg_schema, make_pg_schema, postgres_unreachable_reason

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]
BACKENDS = ("ray:local", "dask:local")


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A PostgreSQL + S3 workspace with a model and data, shared by the module."""
    reason = postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    import carnet

    tmp = tmp_path_factory.mktemp("team")
    saved = dict(os.environ)
    schema, uri = make_pg_schema()
    with moto_s3_server() as s3:
        opts = s3.storage_options
        os.environ.update(  # set before the clusters start: their workers inherit them
            {
                "CARNET_S3_ENDPOINT_URL": s3.endpoint_url,
                "AWS_ACCESS_KEY_ID": opts["key"],
                "AWS_SECRET_ACCESS_KEY": opts["secret"],
                "AWS_DEFAULT_REGION": s3.region,
            }
        )
        artifacts = f"s3://{s3.create_bucket()}/carnet"
        rng = np.random.default_rng(7)
        x = rng.normal(size=(24_000, 4))
        frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
        frame["y"] = (x[:, 0] - x[:, 2] + rng.normal(scale=0.7, size=len(x)) > 0).astype(int)
        frame.iloc[:1500].to_parquet(tmp / "train.parquet")
        scoring = frame.drop(columns="y").assign(key=[f"k{i}" for i in range(len(frame))])
        scoring.to_parquet(tmp / "score.parquet", row_group_size=4000)
        shifted = scoring.assign(b=scoring["b"] + 0.8)
        shifted.to_parquet(tmp / "shifted.parquet", row_group_size=4000)
        client = carnet.Client(uri, artifacts=artifacts)
        train = client.add_dataset(tmp / "train.parquet", "train")[0].ref
        outcome = client.train(
            {
                "dataset": train,
                "task": "binary",
                "target": "y",
                "model": {"name": "random_forest", "params": {"n_estimators": 30}},
            }
        )
        mv = client.register_model(outcome.run_id, "scorer")
        data = {
            "client": client,
            "train": train,
            "model": mv.ref,
            "score": client.add_dataset(tmp / "score.parquet", "score")[0].ref,
            "shifted": client.add_dataset(tmp / "shifted.parquet", "shifted")[0].ref,
            "tmp": tmp,
        }
        try:
            yield data
        finally:
            client.close()
            os.environ.clear()
            os.environ.update(saved)
            drop_pg_schema(schema)


def _automl(team: dict[str, Any], executor: str) -> list[tuple[str, float]]:
    result = team["client"].automl(
        team["train"], target="y", time_budget=600, jobs=1, executor=executor, max_trials=3, seed=1
    )
    return [
        (row["model"], round(float(row["value"]), 9))
        for row in sorted(result["leaderboard"], key=lambda r: r["number"])
    ]


def _predict(team: dict[str, Any], executor: str) -> dict[str, Any]:
    out = team["tmp"] / f"pred-{executor.replace(':', '-')}.parquet"
    return team["client"].predict_batch(
        team["model"],
        team["score"],
        out,
        executor=executor,
        jobs=2,
        batch_rows=3000,
        with_proba=True,
        id_column="key",
    )


def _drift(team: dict[str, Any], executor: str) -> list[tuple[str, float, bool]]:
    report = team["client"].drift(team["score"], team["shifted"], executor=executor, jobs=2, batch_rows=5000)
    return [(c.column, round(float(c.statistic), 9), bool(c.drifted)) for c in report.columns]


@pytest.fixture(scope="module")
def local(team: dict[str, Any]) -> dict[str, Any]:
    return {
        "automl": _automl(team, "local"),
        "predict": _predict(team, "local"),
        "drift": _drift(team, "local"),
    }


@pytest.mark.parametrize("executor", BACKENDS)
def test_the_same_work_gives_the_same_results_on_every_backend(
    team: dict[str, Any], local: dict[str, Any], executor: str
) -> None:
    assert _automl(team, executor) == local["automl"]  # same candidates, same scores
    pred = _predict(team, executor)
    assert pred["rows"] == local["predict"]["rows"] == 24_000
    assert pred["output_digest"] == local["predict"]["output_digest"]  # byte-identical output
    assert pred["executor"] == executor
    drift = _drift(team, executor)
    assert drift == local["drift"]
    assert [c for c, _, drifted in drift if drifted] == ["b"]


@pytest.mark.parametrize("executor", BACKENDS)
def test_a_search_on_a_cluster_keeps_its_study_in_the_workspace_database(
    team: dict[str, Any], executor: str
) -> None:
    import optuna
    from optuna.storages import JournalStorage

    from carnet.services.search_journal import WorkspaceJournal

    spec = {
        "dataset": team["train"],
        "task": "binary",
        "target": "y",
        "model": {"name": "random_forest", "params": {"n_estimators": 10}},
        "search": {
            "n_trials": 3,
            "pruner": "none",
            "space": {"max_depth": {"type": "int", "low": 2, "high": 8}},
        },
        "seed": 3,
    }
    client = team["client"]
    here = client.train(spec)
    there = client.train(spec, executor=executor)
    assert [(r["trial"], r["value"]) for r in there["leaderboard"]] == [
        (r["trial"], r["value"]) for r in here["leaderboard"]
    ]
    assert client.get_run(there["parent_run_id"]).tags["executor"] == executor.split(":")[0]
    name = f"carnet-search-{there['parent_run_id']}"
    study = optuna.load_study(
        study_name=name, storage=JournalStorage(WorkspaceJournal(client.services.ctx, name))
    )
    assert len(study.trials) == 3 and study.best_value == pytest.approx(there["best_value"])


def _workers(marker: str) -> list[psutil.Process]:
    """Processes of this test's cluster (descendants of this process, Ray's raylet's included)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if marker in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("executor", BACKENDS)
def test_a_worker_killed_mid_call_is_retried_then_reported(executor: str) -> None:
    with open_executor(executor, 2) as runner:
        assert runner.submit(time.sleep, 0).result(timeout=60) is None  # workers are up
        future = runner.submit(time.sleep, 8)
        victim = _running_worker(runner, executor)  # only the process running the call
        victim.kill()
        assert future.result(timeout=120) is None  # run once more elsewhere, and it finished


def _running_worker(runner: Any, executor: str) -> psutil.Process:
    """The worker process running the one call in flight (waits until it runs)."""
    for _ in range(600):
        if executor.startswith("ray"):
            found = _workers("ray::_call")  # Ray titles a worker after the task it runs
            if found:
                return found[0]
        else:
            busy = [w for w, keys in runner.client.processing().items() if keys]
            if busy:
                return psutil.Process(runner.client.run(os.getpid, workers=busy[:1])[busy[0]])
        time.sleep(0.1)
    raise AssertionError("the call never started on a worker")


@pytest.mark.parametrize("executor", BACKENDS)
def test_a_deadline_stops_running_calls_and_closing_early_cancels(executor: str) -> None:
    with open_executor(executor, 2) as runner:
        results = list(runner.map_unordered(time.sleep, [30, 30, 30], deadline=time.monotonic() + 4))
        # both running calls were stopped (a finished sleep would answer None), the third never started
        assert [type(r) for _, r in results] == [DeadlineExceeded] * len(results) and len(results) == 2
        stream = runner.map_unordered(time.sleep, [0, 30])
        next(stream)
        stream.close()  # what Ctrl-C does to a running search: the rest is cancelled
        assert runner.submit(time.sleep, 0).result(timeout=60) is None  # the cluster still works
