"""Import an MLflow tracking store into the workspace: experiments, runs, registered models.

The MLflow side is read through MLflow's public client (``mlflow.tracking.MlflowClient``, from
the ``mlflow`` extra), run in a process of its own (:mod:`carnet.services.mlflow_gateway`, in this
Python or the one ``CARNET_MLFLOW_PYTHON`` names): SQLite and PostgreSQL databases, ``mlruns``
folders and ``mlflow server`` URLs are read with the same calls, except that the metric values of
a SQL database are read many runs a query through MLflow's own models of its tables. carnet's
side goes through the tracking and registry services' own transactions and audit events.

* An experiment becomes a project (its name made a valid project name).
* A run keeps its id (an MLflow run id is 32 hex digits, as carnet's), so a re-import finds what
  it already has; its params, tags, every metric value (step and time), its artifacts, its start
  and end times, its status, its parent and its deletion are written in **one transaction**: a
  run is imported whole or not at all, so an interrupted import resumes with the next run. Its
  ``run.create`` audit event carries the MLflow origin. Runs still running in MLflow are left for
  a later import.
* A registered model version becomes a carnet version when its file loads without executing code
  (LightGBM and XGBoost native files, ONNX) or, for a pickled scikit-learn model, with the
  audited ``allow_pickle`` opt-in (then stored with skops). Other versions are listed as not
  imported, with the reason. Aliases follow their versions; the stage becomes a version tag.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

from carnet.domain import Artifact, Metric, Run, RunStatus
from carnet.domain.models import ALIAS_PATTERN
from carnet.domain.validation import STEP_RANGE, artifact_path, check_key, make_metric, param_value
from carnet.errors import ArtifactCorrupted, CarnetError, InvalidInput, NotFound
from carnet.services.context import ServiceContext, record
from carnet.services.mlflow_gateway import MlflowError, mlflow_client, normalise_uri, shown_uri
from carnet.services.registry import RegistryService
from carnet.services.tracking import TrackingService

__all__ = [
    "ORIGIN_EXPERIMENT",
    "ORIGIN_RUN",
    "ORIGIN_URI",
    "ORIGIN_VERSION",
    "ImportSummary",
    "MlflowImporter",
    "mlflow_client",
    "project_name",
]

#: tags recording where an imported object came from
ORIGIN_URI = "mlflow.origin.uri"
ORIGIN_RUN = "mlflow.origin.run_id"
ORIGIN_EXPERIMENT = "mlflow.origin.experiment_id"
ORIGIN_MODEL = "mlflow.origin.model"
ORIGIN_VERSION = "mlflow.origin.version"

ProgressFn = Callable[[str, int, int], None]

_STATUS = {"FINISHED": RunStatus.FINISHED, "FAILED": RunStatus.FAILED, "KILLED": RunStatus.KILLED}
_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_RUN_NAMESPACE = uuid.UUID("6b1f5c1e-3f0e-4f57-9f0b-6d6c61726e65")
#: runs read from MLflow in one request, a chunk ahead of the writes
_CHUNK = 32
#: MLflow signature types -> pandas dtypes
_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}
_XGB_CLASSES = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")


@dataclass
class ImportSummary:
    """What an import found, did and left out."""

    source: str
    dry_run: bool = False
    experiments: int = 0
    projects: list[str] = field(default_factory=list)
    runs_imported: int = 0
    runs_present: int = 0
    runs_active: int = 0
    metric_values: int = 0
    artifacts: int = 0
    models: int = 0
    versions_imported: int = 0
    versions_present: int = 0
    aliases_set: int = 0
    #: versions not imported as loadable models: ``{"model", "version", "reason"}``
    versions_not_imported: list[dict[str, str]] = field(default_factory=list)
    #: aliases not carried over: ``{"model", "alias", "reason"}``
    aliases_not_set: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON values."""
        return asdict(self)


def project_name(name: str, experiment_id: str) -> str:
    """A valid carnet project name for an MLflow experiment name (characters outside
    ``[A-Za-z0-9_.-]`` become ``-``)."""
    text = _NAME_BAD.sub("-", name).strip("-_.")[:128]
    return text or f"mlflow-{experiment_id}"[:128]


def carnet_run_id(mlflow_run_id: str) -> str:
    """The carnet id of an imported run: the MLflow id when it is 32 hex digits, else derived."""
    rid = mlflow_run_id.lower()
    return rid if _HEX32.match(rid) else uuid.uuid5(_RUN_NAMESPACE, mlflow_run_id).hex


def _metrics(columns: dict[str, Any]) -> list[Metric]:
    """Validated metric values from MLflow's columns ``{key: [values, steps, ms]}`` (times made
    seconds). Columns of plain floats and 64-bit integers are checked column by column; anything
    else goes through :func:`make_metric` value by value (same checks, same errors)."""
    out: list[Metric] = []
    low, high = STEP_RANGE
    for key, (values, steps, stamps) in columns.items():
        check_key(key, "metric")
        if not len(values) == len(steps) == len(stamps):
            raise InvalidInput(f"MLflow metric {key!r}: columns of different lengths", field="metrics")
        plain = (
            all(type(v) is float for v in values)
            and all(type(s) is int for s in steps)
            and all(type(ms) is int for ms in stamps)
            and (not steps or (low <= min(steps) and max(steps) <= high))
        )
        if plain:
            clean = [v if v == v else math.nan for v in values]
            seconds = [ms / 1000.0 for ms in stamps]
            out.extend(map(Metric, repeat(key, len(clean)), clean, steps, seconds))
        else:
            out.extend(
                make_metric(key, v, s, _seconds(ms)) for v, s, ms in zip(values, steps, stamps, strict=True)
            )
    return out


def _seconds(ms: Any) -> Any:
    """MLflow's milliseconds as seconds; anything not a number as it is (refused by the check)."""
    return ms / 1000.0 if isinstance(ms, int | float) and not isinstance(ms, bool) else ms


def _parents_first(runs: Sequence[Any]) -> list[Any]:
    """``runs`` ordered so that a parent comes before its children (then by start time)."""
    by_id = {r.info.run_id: r for r in runs}
    out: list[Any] = []
    seen: set[str] = set()

    def visit(run: Any, depth: int = 0) -> None:
        rid = run.info.run_id
        if rid in seen:
            return
        seen.add(rid)
        parent = by_id.get(run.data.tags.get("mlflow.parentRunId", ""))
        if parent is not None and depth < 1000:
            visit(parent, depth + 1)
        out.append(run)

    for run in sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        visit(run)
    return out


class MlflowImporter:
    """Import one MLflow tracking store (``source``) into the workspace, idempotently."""

    def __init__(
        self,
        ctx: ServiceContext,
        tracking: TrackingService,
        registry: RegistryService,
        source: str,
        *,
        allow_pickle: bool = False,
        python: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.registry = registry
        self.client = mlflow_client(source, python=python)
        self.uri = normalise_uri(source)
        self.origin_uri = shown_uri(self.uri)
        self.allow_pickle = allow_pickle
        #: MLflow run id -> carnet project, of the runs seen (for model projects)
        self._run_projects: dict[str, str] = {}

    def close(self) -> None:
        """Stop MLflow's client."""
        self.client.close()

    def __enter__(self) -> MlflowImporter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the whole import -------------------------------------------------------------------------
    def run(
        self,
        experiments: Sequence[str] = (),
        models: Sequence[str] = (),
        *,
        dry_run: bool = False,
        progress: ProgressFn | None = None,
    ) -> ImportSummary:
        """Import the experiments named (every active one when empty) with their runs, then the
        registered models named (every one when empty). ``dry_run`` counts without writing."""
        summary = ImportSummary(source=self.origin_uri, dry_run=dry_run)
        tick = progress or (lambda _s, _d, _t: None)
        for exp in self._experiments(experiments):
            summary.experiments += 1
            project = project_name(exp.name, exp.experiment_id)
            summary.projects.append(project)
            self._import_experiment(exp, project, summary, dry_run, tick)
        self._import_models(models, summary, dry_run, tick)
        return summary

    def _experiments(self, names: Sequence[str]) -> list[Any]:
        found = [e for e in self.client.call("experiments") if e.lifecycle_stage == "active"]
        if not names:
            return sorted(found, key=lambda e: str(e.experiment_id))
        by_name = {e.name: e for e in found}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise NotFound(
                f"no MLflow experiment named {missing[0]!r}; there are: " + ", ".join(sorted(by_name)[:20]),
                field="experiments",
            )
        return [by_name[n] for n in dict.fromkeys(names)]

    # -- runs --------------------------------------------------------------------------------------
    def _import_experiment(
        self, exp: Any, project: str, summary: ImportSummary, dry_run: bool, tick: ProgressFn
    ) -> None:
        runs = self.client.call("runs", experiment_id=exp.experiment_id)
        ordered = _parents_first(runs)
        ids = {r.info.run_id: carnet_run_id(r.info.run_id) for r in ordered}
        present = self._present(ids.values())
        label = f"{project}: runs"
        chunks = [ordered[i : i + _CHUNK] for i in range(0, len(ordered), _CHUNK)]

        def wanted(chunk: Sequence[Any]) -> list[Any]:
            return [
                mr
                for mr in chunk
                if not dry_run and ids[mr.info.run_id] not in present and mr.info.status in _STATUS
            ]

        done = 0
        # one thread reads the next chunk from MLflow while this one is written (in order: parents
        # first); MLflow's process answers it on the other core
        pool = ThreadPoolExecutor(max_workers=1)
        try:
            ahead = pool.submit(self._fetch, wanted(chunks[0])) if chunks else None
            for n, chunk in enumerate(chunks):
                assert ahead is not None
                fetched = ahead.result()
                ahead = pool.submit(self._fetch, wanted(chunks[n + 1])) if n + 1 < len(chunks) else None
                for mr in chunk:
                    done += 1
                    self._run_projects[mr.info.run_id] = project
                    rid = ids[mr.info.run_id]
                    if rid in present:
                        summary.runs_present += 1
                    elif mr.info.status not in _STATUS:
                        summary.runs_active += 1
                    elif dry_run:
                        summary.runs_imported += 1
                    else:
                        parent = ids.get(mr.data.tags.get("mlflow.parentRunId", ""))
                        metrics, artifacts = fetched[mr.info.run_id]
                        parent = parent if parent in present else None
                        self._write_run(mr, exp, project, rid, parent, metrics, artifacts)
                        present.add(rid)
                        summary.runs_imported += 1
                        summary.metric_values += len(metrics)
                        summary.artifacts += len(artifacts)
                    tick(label, done, len(ordered))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _present(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are runs of the workspace already."""
        with self.ctx.store.transaction(write=False) as tx:
            return {rid for rid in ids if tx.runs.exists(rid)}

    def _store_artifacts(self, run_id: str, listed: dict[str, int]) -> list[Artifact]:
        """Download an MLflow run's artifacts into the content store, sizes checked."""
        if not listed:
            return []
        tmp = Path(tempfile.mkdtemp(prefix="carnet-mlflow-"))
        try:
            local = Path(self.client.call("download_run_artifacts", run_id=run_id, dst=str(tmp)))
            items = []
            stored = self.ctx.artifacts.put_tree(local)
            lost = sorted(set(listed) - {rel for rel, _ in stored})
            if lost:
                raise InvalidInput(f"MLflow run {run_id}: artifact {lost[0]!r} could not be downloaded")
            for rel, info in stored:
                if rel in listed and listed[rel] != info.size:
                    raise ArtifactCorrupted(
                        f"MLflow run {run_id}: artifact {rel!r} has {info.size} bytes, "
                        f"the store listed {listed[rel]}",
                        digest=info.digest,
                    )
                items.append(Artifact(artifact_path(rel), info.digest, info.size))
            return items
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _fetch(self, runs: Sequence[Any]) -> dict[str, tuple[list[Metric], list[Artifact]]]:
        """Every value of every metric of some MLflow runs (one request for all), and their
        artifact files stored by digest: MLflow run id -> (metric values, artifacts)."""
        if not runs:
            return {}
        asked = [[mr.info.run_id, sorted(mr.data.metrics)] for mr in runs]
        bundles = self.client.call_plain("run_bundles", runs=asked)
        out: dict[str, tuple[list[Metric], list[Artifact]]] = {}
        for mr in runs:
            rid = mr.info.run_id
            bundle = bundles.get(rid) or {}
            metrics = _metrics(bundle.get("metrics") or {})
            out[rid] = metrics, self._store_artifacts(rid, dict(bundle.get("files") or {}))
        return out

    def _write_run(
        self,
        mr: Any,
        exp: Any,
        project: str,
        rid: str,
        parent_id: str | None,
        metrics: list[Metric],
        artifacts: list[Artifact],
    ) -> None:
        """Record one finished MLflow run, whole, in one transaction."""
        info = mr.info
        origin = {
            ORIGIN_URI: self.origin_uri,
            ORIGIN_RUN: info.run_id,
            ORIGIN_EXPERIMENT: str(exp.experiment_id),
        }
        params = {check_key(k, "param"): param_value(v, k) for k, v in mr.data.params.items()}
        tags = {check_key(k, "tag"): param_value(v, k, "tag") for k, v in {**mr.data.tags, **origin}.items()}
        name = (info.run_name or mr.data.tags.get("mlflow.runName") or f"run-{rid[:8]}")[:256]
        start = (info.start_time or 0) / 1000.0
        end = (info.end_time or info.start_time or 0) / 1000.0
        status = _STATUS[info.status]
        with self.ctx.store.transaction() as tx:
            proj = self.tracking.ensure_project(tx, project)
            run = Run(
                id=rid,
                project=project,
                name=name,
                status=RunStatus.RUNNING,
                start_time=start,
                parent_id=parent_id,
                params=params,
                tags=tags,
            )
            tx.runs.insert(run, proj.id)
            payload = {"project": project, "name": name, "parent_id": parent_id, "params": params}
            payload |= {"tags": tags, "start_time": start, "origin": {"mlflow": origin}}
            record(self.ctx, tx, "run.create", "run", rid, payload)
            if artifacts:
                tx.runs.add_artifacts(rid, artifacts)
                listed = [[a.path, a.digest, a.size] for a in artifacts]
                record(self.ctx, tx, "run.log_artifacts", "run", rid, {"artifacts": listed})
            tx.runs.finish(rid, status, max(end, start), None)
            if metrics:
                self.tracking.log_metrics_in(tx, rid, metrics)
            # no digests re-read here: run.create lists every param and tag, and the batch event
            # the order-free sum of every metric row (what ``audit verify --deep`` compares)
            record(self.ctx, tx, "run.end", "run", rid, {"status": status.value, "error": None})
            if info.lifecycle_stage == "deleted":
                tx.runs.set_deleted(rid, True)
                record(self.ctx, tx, "run.delete", "run", rid, {})

    # -- registered models ------------------------------------------------------------------------
    def _import_models(
        self, names: Sequence[str], summary: ImportSummary, dry_run: bool, tick: ProgressFn
    ) -> None:
        found = self.client.call("registered_models")
        if names:
            by_name = {m.name: m for m in found}
            missing = [n for n in names if n not in by_name]
            if missing:
                raise NotFound(f"no MLflow registered model named {missing[0]!r}", field="models")
            found = [by_name[n] for n in dict.fromkeys(names)]
        for done, rm in enumerate(found, 1):
            summary.models += 1
            self._import_model(rm, summary, dry_run)
            tick("registered models", done, len(found))

    def _imported_versions(self, name: str) -> dict[str, int]:
        """MLflow version -> carnet version of a model imported before."""
        try:
            versions = self.registry.versions(name)
        except NotFound:
            return {}
        return {mv.tags[ORIGIN_VERSION]: mv.version for mv in versions if ORIGIN_VERSION in mv.tags}

    def _import_model(self, rm: Any, summary: ImportSummary, dry_run: bool) -> None:
        name = project_name(rm.name, "model")
        done = self._imported_versions(name)
        versions = self.client.call("model_versions", name=rm.name)
        for mv in versions:
            if str(mv.version) in done:
                summary.versions_present += 1
                continue
            if dry_run:
                summary.versions_imported += 1
                continue
            try:
                number = self._import_version(rm, mv, name)
            except _NotLoadable as why:
                summary.versions_not_imported.append(
                    {"model": rm.name, "version": str(mv.version), "reason": str(why)}
                )
                continue
            done[str(mv.version)] = number
            summary.versions_imported += 1
        if dry_run or not done:
            return
        rm = self.client.call("registered_model", name=rm.name) or rm  # with its aliases and tags
        model = self.registry.get_model(name)
        wanted = {str(k): str(v) for k, v in (rm.tags or {}).items()}
        if rm.description:
            wanted["mlflow.description"] = str(rm.description)
        changed = {k: v for k, v in wanted.items() if model.tags.get(k) != v}
        if changed:
            self.registry.set_tags(name, changed)
        aliases = dict(getattr(rm, "aliases", None) or {})
        for alias, version in sorted(aliases.items()):
            target = done.get(str(version))
            if target is None:
                reason = f"version {version} was not imported"
            elif not ALIAS_PATTERN.match(alias):
                reason = "not a valid carnet alias name"
            else:
                if dict(model.aliases).get(alias) != target:
                    self.registry.set_alias(name, alias, target, reason=f"imported from {self.origin_uri}")
                    summary.aliases_set += 1
                continue
            summary.aliases_not_set.append({"model": rm.name, "alias": alias, "reason": reason})

    def _import_version(self, rm: Any, mv: Any, name: str) -> int:
        """Register one MLflow model version; raises _NotLoadable when it cannot be loaded safely."""
        tmp = Path(tempfile.mkdtemp(prefix="carnet-mlflow-model-"))
        try:
            folder = self._download_model(mv, tmp)
            meta = _mlmodel(folder)
            model, flavor, pickled = self._load(folder, meta, lambda: self._audit_unpickle(name, mv, meta))
            sample = _sample(folder, meta, model)
            tags = {
                ORIGIN_URI: self.origin_uri,
                ORIGIN_MODEL: str(rm.name),
                ORIGIN_VERSION: str(mv.version),
                "mlflow.stage": str(mv.current_stage or "None"),
                "mlflow.source": str(mv.source or ""),
            }
            if mv.run_id:
                tags[ORIGIN_RUN] = str(mv.run_id)
                tags["carnet.run_id"] = carnet_run_id(str(mv.run_id))
            tags = {str(k): str(v) for k, v in (mv.tags or {}).items()} | tags
            project = self._run_projects.get(str(mv.run_id or ""), "default")
            version = self.registry.register_object(
                model,
                name,
                sample,
                project=project,
                description=str(mv.description or ""),
                tags=tags,
                allow_pickle=pickled and flavor is None,
                flavor=flavor,
            )
            return version.version
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _download_model(self, mv: Any, tmp: Path) -> Path:
        try:
            path = self.client.call("download_model_version", name=mv.name, version=mv.version, dst=str(tmp))
        except MlflowError:  # the files are gone or unreachable: say so, go on
            raise _NotLoadable("its files could not be read") from None
        folder = Path(path)
        if not (folder / "MLmodel").is_file():
            raise _NotLoadable("it has no MLmodel file")
        return folder

    def _load(
        self, folder: Path, meta: dict[str, Any], before_unpickle: Callable[[], None]
    ) -> tuple[Any, str | None, bool]:
        """(model object, carnet flavor or None to choose, whether a pickle was read).

        ``before_unpickle`` records the audited opt-in before any pickle byte is read.
        """
        flavors = meta.get("flavors") or {}
        if "onnx" in flavors:
            try:
                import onnx
            except ImportError:
                raise _NotLoadable("ONNX model and the onnx extra is not installed") from None
            return onnx.load(str(_inside(folder, flavors["onnx"].get("data", "model.onnx")))), "onnx", False
        if "lightgbm" in flavors:
            conf = flavors["lightgbm"]
            data = str(conf.get("data", ""))
            if "Booster" in str(conf.get("model_class", "")) and not data.endswith(".pkl"):
                import lightgbm

                return lightgbm.Booster(model_file=str(_inside(folder, data))), "lightgbm", False
        if "xgboost" in flavors:
            conf = flavors["xgboost"]
            cls = str(conf.get("model_class", "xgboost.core.Booster")).rsplit(".", 1)[-1]
            data = str(conf.get("data", "model.xgb"))
            if not data.endswith(".pkl") and (cls == "Booster" or cls in _XGB_CLASSES):
                import xgboost

                obj = xgboost.Booster() if cls == "Booster" else getattr(xgboost, cls)()
                obj.load_model(str(_inside(folder, data)))
                return obj, "xgboost", False
        if "sklearn" in flavors or "lightgbm" in flavors:
            conf = flavors.get("sklearn") or flavors["lightgbm"]
            fmt = str(conf.get("serialization_format", "cloudpickle"))
            file = _inside(folder, conf.get("pickled_model") or conf.get("data") or "model.pkl")
            if fmt == "skops":  # read by carnet's scikit-learn flavor: its trusted-types check first
                from carnet.plugins.loader import registry

                try:
                    return registry("flavor").get("sklearn").loads(file.read_bytes()), None, False
                except CarnetError as exc:
                    raise _NotLoadable(f"its skops file was refused: {exc.message}") from None
            if not self.allow_pickle:
                raise _NotLoadable("pickled model: import again with --allow-pickle to convert it (audited)")
            before_unpickle()
            return _unpickle(file), None, True
        if "python_function" in flavors:
            raise _NotLoadable("a python_function (pyfunc) model: carnet does not import custom code")
        raise _NotLoadable(f"no flavor carnet reads ({', '.join(sorted(flavors)) or 'none'})")

    def _audit_unpickle(self, name: str, mv: Any, meta: dict[str, Any]) -> None:
        """The audited opt-in: record that a pickle from MLflow is about to be executed."""
        with self.ctx.store.transaction() as tx:
            record(
                self.ctx,
                tx,
                "model.import.unpickle",
                "model",
                name,
                {
                    "origin": {"mlflow": {ORIGIN_URI: self.origin_uri, ORIGIN_MODEL: mv.name}},
                    "version": str(mv.version),
                    "source": str(mv.source or ""),
                    "flavors": sorted(meta.get("flavors") or {}),
                },
            )


class _NotLoadable(CarnetError):
    """An MLflow model version carnet does not import as a loadable model (the reason)."""


def _inside(folder: Path, name: Any) -> Path:
    """``folder / name`` for a file name an MLmodel gives; _NotLoadable when it leads outside the
    downloaded model (an absolute path, ``..``, a link out): the source never names a local file."""
    root = folder.resolve()
    path = (root / str(name)).resolve()
    if not path.is_relative_to(root) or path == root:
        raise _NotLoadable(f"its MLmodel names a file outside the model folder: {str(name)[:100]!r}")
    return path


def _mlmodel(folder: Path) -> dict[str, Any]:
    import yaml  # type: ignore[import-untyped, unused-ignore]

    loaded = yaml.safe_load((folder / "MLmodel").read_text())
    if not isinstance(loaded, dict):
        raise _NotLoadable("its MLmodel file is not a mapping")
    return loaded


def _unpickle(file: Path) -> Any:
    """Read a pickle (only called after the audited opt-in)."""
    import pickle

    try:
        import cloudpickle

        loader: Any = cloudpickle
    except ImportError:
        loader = pickle
    with file.open("rb") as fh:
        return loader.load(fh)


def _sample(folder: Path, meta: dict[str, Any], model: Any) -> Any:
    """A DataFrame of the model's inputs: MLflow's input example, else its signature, else the
    model's feature names (an empty frame when nothing says)."""
    import pandas as pd

    info = meta.get("saved_input_example_info") or {}
    try:
        example = _inside(folder, info.get("artifact_path", "input_example.json"))
    except _NotLoadable:
        example = folder / "input_example.json"
    if example.is_file():
        try:
            doc = json.loads(example.read_text())
            if isinstance(doc, dict) and "columns" in doc and "data" in doc:
                return pd.DataFrame(doc["data"], columns=doc["columns"])
            if isinstance(doc, dict) and "dataframe_split" in doc:
                split = doc["dataframe_split"]
                return pd.DataFrame(split["data"], columns=split.get("columns"))
        except (ValueError, KeyError, TypeError):
            pass
    inputs = (meta.get("signature") or {}).get("inputs")
    if isinstance(inputs, str):
        try:
            cols = [c for c in json.loads(inputs) if isinstance(c, dict) and c.get("name")]
        except ValueError:
            cols = []
        if cols:
            return pd.DataFrame(
                {str(c["name"]): pd.Series(dtype=_DTYPES.get(str(c.get("type")), "object")) for c in cols}
            )
    names = _feature_names(model)
    return pd.DataFrame({n: pd.Series(dtype="float64") for n in names})


def _feature_names(model: Any) -> list[str]:
    for attr in ("feature_names_in_", "feature_name_"):
        names = getattr(model, attr, None)
        if names is not None:
            return [str(n) for n in list(names)]
    for method in ("feature_name", "feature_names"):
        got = getattr(model, method, None)
        value = got() if callable(got) else got
        if value:
            return [str(n) for n in list(value)]
    count = getattr(model, "n_features_in_", None)
    return [f"f{i}" for i in range(count)] if isinstance(count, int) else []
