"""MLflow in and out, against a real MLflow: its own client writes the stores (in the Python that
has MLflow: CARNET_MLFLOW_PYTHON, default .bench-venv), carnet imports and exports them, and
MLflow's client reads back what carnet wrote."""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from carnet.bootstrap import open_services
from carnet.cli.main import cli
from carnet.errors import CarnetError
from carnet.services import Services
from carnet.services.mlflow_export import CARNET_ORIGIN_RUN, MlflowExporter
from carnet.services.mlflow_import import ORIGIN_RUN, ORIGIN_VERSION, MlflowImporter

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000  # ms
#: the Python with MLflow, once the fixture found it (CARNET_* variables are cleared for each test)
PYTHON: list[str] = []
FLAVOR_LIBS = [
    "lightgbm>=4,<5",
    "xgboost-cpu>=2,<4",
    "onnx>=1.16,<2",
    "onnxruntime>=1.18,<2",
    "skl2onnx>=1.17,<2",
]

# -- the MLflow side: scripts run by the Python that has MLflow, arguments as JSON on stdin --------
CREATE = r"""
import json, math, sys
import lightgbm, mlflow, numpy as np, xgboost
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from pathlib import Path
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

a = json.loads(sys.stdin.read())
root, uri, T0 = Path(a["root"]), a["uri"], a["t0"]
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
eid = client.create_experiment("churn study", artifact_location=(root / "artifacts").as_uri())
parent = client.create_run(eid, run_name="sweep", start_time=T0, tags={"team": "risk"}).info.run_id
metrics = [Metric("loss", 1.0 / (s + 1), T0 + 1000 * s, s) for s in range(50)]
metrics += [Metric("auc", 0.5 + s / 100, T0 + 500 * s, s) for s in range(0, 50, 5)]
metrics += [Metric("odd", math.nan, T0 + 7, 0), Metric("odd", 2.5, T0 + 8, 0)]
client.log_batch(parent, metrics=metrics, params=[Param("lr", "0.1"), Param("depth", "4")])
client.set_terminated(parent, "FAILED", end_time=T0 + 90_000)
child = client.create_run(eid, run_name="trial-1", start_time=T0 + 1000,
                          tags={"mlflow.parentRunId": parent}).info.run_id
client.log_batch(child, metrics=[Metric("loss", 0.25, T0 + 2000, 3)], params=[Param("lr", "0.01")])
files = root / "files"
(files / "plots").mkdir(parents=True)
(files / "notes.txt").write_text("hello from mlflow\n")
(files / "plots" / "curve.json").write_text(json.dumps({"x": [1, 2, 3]}))
client.log_artifacts(child, str(files), "outputs")
client.set_terminated(child, "FINISHED", end_time=T0 + 5000)
deleted = client.create_run(eid, run_name="mistake", start_time=T0 + 3000).info.run_id
client.log_batch(deleted, tags=[RunTag("why", "typo")])
client.set_terminated(deleted, "KILLED", end_time=T0 + 4000)
client.delete_run(deleted)
active = client.create_run(eid, run_name="still-going", start_time=T0 + 6000).info.run_id
other_eid = client.create_experiment("team/other exp", artifact_location=(root / "other").as_uri())
other = client.create_run(other_eid, run_name="solo", start_time=T0).info.run_id
client.log_batch(other, metrics=[Metric("rmse", 3.5, T0, 0)])
client.set_terminated(other, "FINISHED", end_time=T0 + 100)

iris = load_iris(as_frame=True)
X = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
clf = LogisticRegression(max_iter=500).fit(X, iris.target)
booster = lightgbm.train({"objective": "regression", "verbose": -1, "num_leaves": 4},
                         lightgbm.Dataset(X, iris.target), 5)
xgb = xgboost.XGBRegressor(n_estimators=5, max_depth=2).fit(X, iris.target)
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
for fmt in ("cloudpickle", "skops"):  # version 1 pickled, version 2 with skops
    with mlflow.start_run(experiment_id=eid, run_name="train-clf"):
        mlflow.sklearn.log_model(clf, name="model", registered_model_name="iris-clf",
                                 serialization_format=fmt, input_example=X.iloc[:3],
                                 pip_requirements=["scikit-learn"])
with mlflow.start_run(experiment_id=eid, run_name="train-lgb"):
    mlflow.lightgbm.log_model(booster, name="lgb", registered_model_name="iris-lgb",
                              pip_requirements=["lightgbm"])
with mlflow.start_run(experiment_id=eid, run_name="train-others") as run:
    others = run.info.run_id
    mlflow.xgboost.log_model(xgb, name="xgb", registered_model_name="iris-xgb", pip_requirements=["xgboost"])
    mlflow.onnx.log_model(to_onnx(clf, X.iloc[:1].to_numpy(dtype=np.float32), target_opset=15),
                          name="onnx", registered_model_name="iris-onnx", pip_requirements=["onnx"])
client.set_registered_model_alias("iris-clf", "champion", "1")
client.set_registered_model_alias("iris-clf", "challenger", "2")
client.set_registered_model_alias("iris-lgb", "production", "1")
client.set_registered_model_tag("iris-lgb", "owner", "risk")
client.set_model_version_tag("iris-lgb", "1", "validated", "yes")
client.transition_model_version_stage("iris-lgb", "1", "Staging")
print(json.dumps({
    "experiment_id": eid, "parent": parent, "child": child, "deleted": deleted, "active": active,
    "other": other, "others": others, "clf": clf.predict(X).tolist(), "lgb": booster.predict(X).tolist(),
    "xgb": xgb.predict(X).tolist(),
}))
"""

FOLDER = r"""
import json, os, sys
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3.7+ writes mlruns folders only on request
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
a = json.loads(sys.stdin.read())
client = MlflowClient(tracking_uri=a["uri"])
eid = client.create_experiment("files")
rid = client.create_run(eid, run_name="from-folder", start_time=a["t0"]).info.run_id
client.log_batch(rid, metrics=[Metric("acc", 0.5 + s / 10, a["t0"] + s, s) for s in range(3)])
client.set_terminated(rid, "FINISHED", end_time=a["t0"] + 10)
print(json.dumps({"run": rid}))
"""

EXPERIMENTS = r"""
import json, sys
from pathlib import Path
from mlflow.tracking import MlflowClient
a = json.loads(sys.stdin.read())
client = MlflowClient(tracking_uri=a["uri"])
for name in a["names"]:
    client.create_experiment(name, artifact_location=(Path(a["root"]) / name).as_uri())
print("{}")
"""

# everything MLflow's client reads in a store: runs with every metric value and file, models
DUMP = r"""
import hashlib, json, os, sys, tempfile
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
import mlflow.artifacts
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
a = json.loads(sys.stdin.read())
c = MlflowClient(tracking_uri=a["uri"], registry_uri=a["uri"])
def files(rid, path=None):
    out = {}
    for f in c.list_artifacts(rid, path):
        out.update(files(rid, f.path) if f.is_dir else {f.path: f.file_size})
    return out
out = {"runs": {}, "models": {}}
for e in c.search_experiments(view_type=ViewType.ALL):
    for r in c.search_runs([e.experiment_id], run_view_type=ViewType.ALL, max_results=1000):
        i, listed, digests = r.info, files(r.info.run_id), {}
        if listed:
            d = c.download_artifacts(i.run_id, "", tempfile.mkdtemp())
            for p in listed:
                digests[p] = hashlib.sha256(open(os.path.join(d, p), "rb").read()).hexdigest()
        out["runs"][i.run_id] = {
            "experiment": e.name, "name": i.run_name, "status": i.status, "start": i.start_time,
            "end": i.end_time, "stage": i.lifecycle_stage, "params": dict(r.data.params),
            "tags": dict(r.data.tags), "files": digests,
            "metrics": {k: sorted([m.step, m.timestamp, m.value] for m in c.get_metric_history(i.run_id, k))
                        for k in r.data.metrics},
        }
for m in c.search_registered_models():
    versions = {}
    for v in c.search_model_versions(f"name='{m.name}'"):
        entry = {"tags": dict(v.tags), "source": v.source, "run_id": v.run_id, "stage": v.current_stage}
        if a.get("model_files"):
            d = mlflow.artifacts.download_artifacts(artifact_uri=v.source, dst_path=tempfile.mkdtemp())
            p = os.path.join(d, "carnet-model.json")
            entry["carnet_model"] = json.load(open(p)) if os.path.exists(p) else None
        versions[str(v.version)] = entry
    out["models"][m.name] = {"tags": dict(m.tags), "aliases": {k: str(v) for k, v in m.aliases.items()},
                             "versions": versions}
print(json.dumps(out))
"""


def mlflow_side(python: str, script: str, **args: Any) -> Any:
    """Run ``script`` in the Python that has MLflow; its JSON answer (last line of stdout)."""
    done = subprocess.run(
        [python, "-c", script], input=json.dumps(args), capture_output=True, text=True, cwd=args.get("root")
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def mlflow_python() -> str:
    """The Python with MLflow 3 (and the flavor libraries the test models need), made once."""
    chosen = os.environ.get("CARNET_MLFLOW_PYTHON") or str(ROOT / ".bench-venv" / "bin" / "python")
    # test workers share the venv: one makes it while the others wait, and it counts as made only
    # once MLflow imports (a half-made venv has a python but no MLflow yet)
    key = hashlib.sha256(chosen.encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"carnet-mlflow-python-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _runs(chosen, "import mlflow"):
            subprocess.run(["bash", str(ROOT / "benchmarks" / "setup_mlflow_venv.sh")], check=True)
        if not _runs(chosen, "import lightgbm, xgboost, onnx, onnxruntime, skl2onnx"):
            subprocess.run([chosen, "-m", "pip", "install", "--quiet", *FLAVOR_LIBS], check=True)
    PYTHON[:] = [chosen]
    return chosen


def _runs(python: str, script: str) -> bool:
    """Whether ``python`` exists and runs ``script`` without an error."""
    return (
        Path(python).is_file() and subprocess.run([python, "-c", script], capture_output=True).returncode == 0
    )


@pytest.fixture(scope="module")
def source(mlflow_python: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    made = mlflow_side(mlflow_python, CREATE, root=str(root), uri=uri, t0=T0)
    return {**made, "uri": uri, "root": str(root), "dump": mlflow_side(mlflow_python, DUMP, uri=uri)}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_services(str(tmp_path / "ws"))
    yield svc
    svc.close()


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    X = load_iris(as_frame=True).data
    return X.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))


def _importer(services: Services, uri: str, **kw: Any) -> MlflowImporter:
    return MlflowImporter(services.ctx, services.tracking, services.registry, uri, python=PYTHON[0], **kw)


def _import(services: Services, uri: str, *names: str, models: tuple[str, ...] = (), **kw: Any) -> Any:
    with _importer(services, uri, **kw) as importer:
        return importer.run(names, models)


def _events(services: Services) -> int:
    return services.audit.verify().count


def _same_values(theirs: list[list[Any]], ours: list[list[Any]]) -> bool:
    if len(theirs) != len(ours):
        return False
    for t, o in zip(theirs, ours, strict=True):
        if t[:2] != o[:2] or not ((math.isnan(t[2]) and math.isnan(o[2])) or t[2] == o[2]):
            return False
    return True


def _check_run(services: Services, seen: dict[str, Any], run_id: str) -> None:
    """Every value MLflow's client read of a run equals the imported one."""
    run = services.tracking.get_run(run_id)
    assert run.name == seen["name"]
    assert run.status.value.upper() == seen["status"]
    assert (run.start_time, run.end_time) == (seen["start"] / 1000, seen["end"] / 1000)
    assert run.deleted == (seen["stage"] == "deleted")
    assert run.params == seen["params"]
    assert {k: v for k, v in run.tags.items() if not k.startswith("mlflow.origin.")} == seen["tags"]
    assert run.tags[ORIGIN_RUN] == run_id
    assert set(run.metrics) == set(seen["metrics"])
    for key, theirs in seen["metrics"].items():
        ours = sorted(
            [m.step, round(m.timestamp * 1000), m.value]
            for m in services.tracking.metric_history(run_id, key)
        )
        assert _same_values(theirs, ours), key
    arts = {a.path: a for a in services.tracking.list_artifacts(run_id)}
    assert set(arts) == set(seen["files"])
    for path, sha in seen["files"].items():
        assert hashlib.sha256(services.ctx.artifacts.get_bytes(arts[path].digest)).hexdigest() == sha


def test_import_copies_every_value_and_is_idempotent(source: dict[str, Any], services: Services) -> None:
    summary = _import(services, source["uri"])
    assert summary.experiments == 3  # with MLflow's Default experiment
    assert "churn-study" in summary.projects and "team-other-exp" in summary.projects
    assert summary.runs_imported == 8 and summary.runs_active == 1
    for rid, seen in source["dump"]["runs"].items():
        if rid != source["active"]:
            _check_run(services, seen, rid)
    assert services.tracking.get_run(source["child"]).parent_id == source["parent"]
    assert services.tracking.get_run(source["parent"]).project == "churn-study"
    with pytest.raises(Exception, match="no run"):
        services.tracking.get_run(source["active"])
    # without the opt-in, the pickled scikit-learn version is listed, not loaded
    assert summary.versions_imported == 4
    reasons = {(v["model"], v["version"]): v["reason"] for v in summary.versions_not_imported}
    assert set(reasons) == {("iris-clf", "1")} and "--allow-pickle" in reasons["iris-clf", "1"]
    assert summary.aliases_not_set == [
        {"model": "iris-clf", "alias": "champion", "reason": "version 1 was not imported"}
    ]
    challenger = services.registry.resolve("iris-clf@challenger")  # MLflow's skops version 2
    assert challenger.flavor == "sklearn" and challenger.tags[ORIGIN_VERSION] == "2"
    X = _iris()
    lgb, mv = services.registry.load("iris-lgb@production")
    assert mv.flavor == "lightgbm" and mv.tags[ORIGIN_VERSION] == "1"
    assert mv.tags["mlflow.stage"] == "Staging" and mv.tags["validated"] == "yes"
    assert services.registry.get_model("iris-lgb").tags["owner"] == "risk"
    np.testing.assert_allclose(lgb.predict(X), source["lgb"])
    xgb, mv = services.registry.load("iris-xgb")
    assert mv.flavor == "xgboost" and mv.tags[ORIGIN_RUN] == source["others"]
    np.testing.assert_allclose(xgb.predict(X), source["xgb"], rtol=1e-6)
    assert services.registry.resolve("iris-onnx").flavor == "onnx"

    # again, with the opt-in: only the pickled version is new, stored with skops, its alias follows
    events = _events(services)
    again = _import(services, source["uri"], allow_pickle=True)
    assert again.runs_imported == 0 and again.runs_present == 8
    assert again.versions_imported == 1 and again.versions_present == 4 and again.aliases_set == 1
    model, champion = services.registry.load("iris-clf@champion")
    assert champion.flavor == "sklearn" and not champion.allow_pickle
    assert champion.tags[ORIGIN_VERSION] == "1" and champion.version == 2
    assert model.predict(X).tolist() == source["clf"]
    assert services.registry.load("iris-clf@challenger")[0].predict(X).tolist() == source["clf"]
    assert len(services.audit.log(action="model.import.unpickle")) == 1
    assert _events(services) > events

    # a third time: nothing new, no event
    events = _events(services)
    third = _import(services, source["uri"], allow_pickle=True)
    assert third.runs_imported == 0 and third.versions_imported == 0 and third.aliases_set == 0
    assert _events(services) == events
    check = services.audit.verify(deep=True)
    assert check.ok, check.reason


def test_import_resumes_after_an_interruption(source: dict[str, Any], services: Services) -> None:
    class Stop(Exception):
        pass

    def stop_after_two(stage: str, done: int, total: int) -> None:
        if stage.endswith("runs") and done == 2:
            raise Stop

    with (
        pytest.raises(Stop),
        _importer(services, source["uri"]) as importer,
    ):
        importer.run(["churn study"], progress=stop_after_two)
    assert len(services.tracking.search_runs("churn-study", include_deleted=True).runs) == 2
    with _importer(services, source["uri"]) as importer:
        rest = importer.run(["churn study"], ["iris-lgb"])
    assert rest.runs_present == 2 and rest.runs_imported == 5 and rest.runs_active == 1
    assert len(services.tracking.search_runs("churn-study", include_deleted=True).runs) == 7
    assert services.audit.verify(deep=True).ok


def test_dry_run_counts_and_writes_nothing(source: dict[str, Any], services: Services) -> None:
    with _importer(services, source["uri"]) as importer:
        summary = importer.run(dry_run=True)
    assert summary.dry_run and summary.runs_imported == 8 and summary.versions_imported == 5
    assert all(count == 0 for _, count in services.tracking.list_projects())
    assert services.registry.list_models() == []


def test_import_from_an_mlruns_folder(mlflow_python: str, tmp_path: Path, services: Services) -> None:
    folder = tmp_path / "mlruns"
    made = mlflow_side(mlflow_python, FOLDER, uri=folder.as_uri(), t0=T0, root=str(tmp_path))
    summary = _import(services, str(folder), "files")
    assert summary.runs_imported == 1
    seen = mlflow_side(mlflow_python, DUMP, uri=folder.as_uri())["runs"][made["run"]]
    _check_run(services, seen, made["run"])


def test_export_writes_back_what_mlflow_reads(
    mlflow_python: str, source: dict[str, Any], services: Services, tmp_path: Path
) -> None:
    _import(services, source["uri"], "churn study", allow_pickle=True)
    native = services.tracking.create_run("native", "carnet-run", params={"alpha": 0.5}, tags={"k": "v"})
    scores = [services.tracking.make_metric("score", s * 0.1, s, 1_700_000_100 + s) for s in range(2500)]
    services.tracking.log_metrics(native.id, scores)
    services.tracking.log_artifact_bytes(native.id, b"\x00\x01binary", "data/blob.bin")
    services.tracking.end_run(native.id)
    dest = f"sqlite:///{tmp_path / 'dest.db'}"
    # experiments with their artifact roots under tmp_path (MLflow's default is ./mlruns)
    names = ["native", "churn-study", "carnet-models"]
    mlflow_side(mlflow_python, EXPERIMENTS, uri=dest, names=names, root=str(tmp_path))

    with MlflowExporter(
        services.ctx, services.tracking, services.registry, dest, python=mlflow_python
    ) as exporter:
        summary = exporter.run()
    assert summary.runs_exported == 7  # 6 ended churn runs (the deleted one stays out) + native
    seen = mlflow_side(mlflow_python, DUMP, uri=dest, model_files=True)
    by_origin = {r["tags"][CARNET_ORIGIN_RUN]: (rid, r) for rid, r in seen["runs"].items()}
    _, mr = by_origin[native.id]
    assert mr["name"] == "carnet-run" and mr["status"] == "FINISHED" and mr["experiment"] == "native"
    assert mr["params"] == {"alpha": "0.5"} and mr["tags"]["k"] == "v"
    assert mr["metrics"]["score"] == [[s, (1_700_000_100 + s) * 1000, s * 0.1] for s in range(2500)]
    assert mr["files"] == {"data/blob.bin": hashlib.sha256(b"\x00\x01binary").hexdigest()}
    # an imported run goes back with every value, its files and its parent
    src = source["dump"]["runs"]
    for rid in (source["parent"], source["child"]):
        _, back = by_origin[rid]
        for field in ("name", "status", "start", "end", "params", "files"):
            assert back[field] == src[rid][field], field
        for key, values in src[rid]["metrics"].items():
            assert _same_values(values, back["metrics"][key]), key
        assert {k: v for k, v in src[rid]["tags"].items() if k != "mlflow.parentRunId"}.items() <= back[
            "tags"
        ].items()
    assert by_origin[source["child"]][1]["tags"]["mlflow.parentRunId"] == by_origin[source["parent"]][0]
    # registered models, versions, aliases, and the model files
    clf = seen["models"]["iris-clf"]
    assert clf["aliases"] == {"champion": "1", "challenger": "2"}
    assert sorted(v["tags"]["carnet.origin.version"] for v in clf["versions"].values()) == ["1", "2"]
    v1 = clf["versions"]["1"]
    assert v1["tags"]["carnet.flavor"] == "sklearn"
    assert v1["carnet_model"]["digest"] == services.registry.resolve("iris-clf/1").artifact_digest
    assert seen["models"]["iris-lgb"]["aliases"] == {"production": "1"}
    # again: nothing new
    with MlflowExporter(
        services.ctx, services.tracking, services.registry, dest, python=mlflow_python
    ) as exporter:
        again = exporter.run()
    assert again.runs_exported == 0 and again.runs_present == 7
    assert again.versions_exported == 0 and again.versions_present == 5


def _cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_cli_import_and_export(mlflow_python: str, source: dict[str, Any], tmp_path: Path) -> None:
    ws, uri = str(tmp_path / "ws"), source["uri"]
    args = ["--mlflow-python", mlflow_python, "--experiments", "team/other exp", "--models", "iris-lgb"]
    out = _cli("--uri", ws, "import", "mlflow", uri, *args)
    assert "Imported from" in out and "1 runs" in out
    doc = json.loads(_cli("--uri", ws, "import", "mlflow", uri, *args, "--json"))
    assert doc["runs_imported"] == 0 and doc["runs_present"] == 1 and doc["versions_present"] == 1
    dest = f"sqlite:///{tmp_path / 'dest.db'}"
    names = ["team-other-exp", "carnet-models"]
    mlflow_side(mlflow_python, EXPERIMENTS, uri=dest, names=names, root=str(tmp_path))
    doc = json.loads(_cli("--uri", ws, "export", "mlflow", dest, "--mlflow-python", mlflow_python, "--json"))
    assert doc["runs_exported"] == 1 and doc["versions_exported"] == 1
    assert "Example" in _cli("import", "mlflow", "--help")
    assert "Example" in _cli("export", "mlflow", "--help")


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("sqlite:////nowhere/mlflow.db", "no MLflow database"),
        ("ftp://host/x", "unknown MLflow source scheme"),
        ("./no-such-folder", "no MLflow store"),
        ("http://127.0.0.1:9", "cannot reach the MLflow server"),
    ],
)
def test_cli_bad_source_is_one_line_and_exit_2(
    mlflow_python: str, tmp_path: Path, src: str, message: str
) -> None:
    args = ["--uri", str(tmp_path / "ws"), "import", "mlflow", src, "--mlflow-python", mlflow_python]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_cli_without_mlflow_names_the_extra(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CARNET_MLFLOW_PYTHON"}
    code = "import sys; sys.modules['mlflow'] = None; from carnet.cli.main import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "--uri", str(tmp_path / "ws"), "import", "mlflow", "sqlite:///x.db"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'carnet[mlflow]'" in done.stderr and "Traceback" not in done.stderr


def test_an_mlmodel_never_names_a_file_outside_its_folder(tmp_path: Path) -> None:
    """A store's MLmodel is data: a file name leading out of the downloaded model is refused."""
    from carnet.services.mlflow_import import _inside

    (tmp_path / "model").mkdir()
    (tmp_path / "secret.txt").write_text("not a model")
    assert _inside(tmp_path / "model", "model.pkl") == (tmp_path / "model" / "model.pkl").resolve()
    (tmp_path / "model" / "link").symlink_to(tmp_path / "secret.txt")
    for name in ("../secret.txt", "/etc/hostname", "link", "sub/../../secret.txt", "."):
        with pytest.raises(CarnetError, match="outside the model folder"):
            _inside(tmp_path / "model", name)
