"""Export the workspace to an MLflow tracking store: runs and registered models, so nothing is
locked in.

Written through MLflow's public client (the ``mlflow`` extra), run in its own process like the
import (:class:`~carnet.services.mlflow_gateway.MlflowGateway`), to any tracking URI it accepts.

* A project becomes an experiment of the same name (created when missing).
* A finished run becomes an MLflow run with its name, start and end times, status, params, tags,
  every metric value (step and time), its artifacts and its parent. It is tagged
  ``carnet.origin.run_id``, so a second export skips it; a run whose export was interrupted
  (left running in MLflow) is deleted there and exported again.
* A registered model version becomes an MLflow model version whose source is carnet's model file,
  logged as an artifact of its run (exported first) or, for a version registered without a run,
  of a run made to hold it. Its flavor and digest are version tags; aliases follow.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from carnet.domain import ModelVersion, Run
from carnet.errors import NotFound
from carnet.services.context import ServiceContext
from carnet.services.mlflow_gateway import mlflow_client, normalise_uri, shown_uri
from carnet.services.mlflow_import import ORIGIN_RUN, ORIGIN_URI
from carnet.services.registry import RegistryService
from carnet.services.tracking import TrackingService

__all__ = ["CARNET_ORIGIN_RUN", "CARNET_ORIGIN_VERSION", "ExportSummary", "MlflowExporter"]

#: tags recording which carnet object an MLflow object was exported from
CARNET_ORIGIN_RUN = "carnet.origin.run_id"
CARNET_ORIGIN_MODEL = "carnet.origin.model"
CARNET_ORIGIN_VERSION = "carnet.origin.version"
CARNET_ORIGIN_WORKSPACE = "carnet.origin.workspace"

ProgressFn = Callable[[str, int, int], None]

_MLFLOW_STATUS = {"finished": "FINISHED", "failed": "FAILED", "killed": "KILLED"}
#: MLflow's log_batch limits: 1000 metrics, 100 params, 100 tags, 1000 entities in all
_BATCH = 1000
_SMALL_BATCH = 100
#: tags of a carnet run that describe an MLflow origin: not written back as they are
_SKIPPED_TAGS = (ORIGIN_URI, ORIGIN_RUN, "mlflow.origin.experiment_id")


@dataclass
class ExportSummary:
    """What an export wrote and left out."""

    dest: str
    dry_run: bool = False
    experiments: list[str] = field(default_factory=list)
    runs_exported: int = 0
    runs_present: int = 0
    runs_active: int = 0
    runs_redone: int = 0
    metric_values: int = 0
    artifacts: int = 0
    models: int = 0
    versions_exported: int = 0
    versions_present: int = 0
    aliases_set: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON values."""
        return asdict(self)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


class MlflowExporter:
    """Export the workspace's runs and registered models to the MLflow store at ``dest``."""

    def __init__(
        self,
        ctx: ServiceContext,
        tracking: TrackingService,
        registry: RegistryService,
        dest: str,
        *,
        python: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.registry = registry
        self.client = mlflow_client(dest, must_exist=False, python=python)
        self.uri = normalise_uri(dest, must_exist=False)
        #: carnet run id -> MLflow run (of the experiments looked at)
        self._exported: dict[str, Any] = {}
        self._experiment_ids: dict[str, str] = {}

    def close(self) -> None:
        """Stop MLflow's client."""
        self.client.close()

    def __enter__(self) -> MlflowExporter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run(
        self,
        projects: Sequence[str] = (),
        models: Sequence[str] = (),
        *,
        dry_run: bool = False,
        progress: ProgressFn | None = None,
    ) -> ExportSummary:
        """Export the projects named (every one when empty) and the registered models named
        (every one when empty). ``dry_run`` counts what would be written."""
        summary = ExportSummary(dest=shown_uri(self.uri), dry_run=dry_run)
        tick = progress or (lambda _s, _d, _t: None)
        known = [p.name for p, _count in self.tracking.list_projects()]
        missing = [p for p in projects if p not in known]
        if missing:
            raise NotFound(
                f"no project named {missing[0]!r}; list them with: carnet projects list", field="projects"
            )
        for project in projects or known:
            summary.experiments.append(project)
            self._export_project(project, summary, dry_run, tick)
        self._export_models(models, summary, dry_run, tick)
        return summary

    # -- runs --------------------------------------------------------------------------------------
    def _experiment(self, project: str, create: bool) -> str | None:
        if project in self._experiment_ids:
            return self._experiment_ids[project]
        exp = self.client.call("experiment_by_name", name=project)
        if exp is not None and exp.lifecycle_stage == "deleted":
            self.client.call("restore_experiment", experiment_id=exp.experiment_id)
        if exp is None:
            if not create:
                return None
            eid = str(
                self.client.call("create_experiment", name=project, tags={"carnet.origin.project": project})
            )
        else:
            eid = str(exp.experiment_id)
        self._experiment_ids[project] = eid
        self._load_exported(eid)
        return eid

    def _load_exported(self, experiment_id: str) -> None:
        """Remember the runs of an experiment exported from carnet before."""
        for mr in self.client.call("runs", experiment_id=experiment_id, view="ACTIVE_ONLY"):
            origin = mr.data.tags.get(CARNET_ORIGIN_RUN)
            if origin:
                self._exported[origin] = mr

    def _runs(self, project: str) -> list[Run]:
        out: list[Run] = []
        token = None
        while True:
            page = self.tracking.search_runs(project, max_results=1000, page_token=token)
            out.extend(page.runs)
            token = page.next_page_token
            if not token:
                break
        ids = {r.id for r in out}
        done: set[str] = set()
        ordered: list[Run] = []
        by_id = {r.id: r for r in out}

        def visit(run: Run, depth: int = 0) -> None:
            if run.id in done:
                return
            done.add(run.id)
            if run.parent_id in ids and depth < 1000:
                visit(by_id[str(run.parent_id)], depth + 1)
            ordered.append(run)

        for run in sorted(out, key=lambda r: (r.start_time, r.id)):
            visit(run)
        return ordered

    def _export_project(self, project: str, summary: ExportSummary, dry_run: bool, tick: ProgressFn) -> None:
        eid = self._experiment(project, create=not dry_run)
        runs = self._runs(project)
        for done, run in enumerate(runs, 1):
            existing = self._exported.get(run.id)
            if not run.status.terminal:
                summary.runs_active += 1
            elif existing is not None and existing.info.status != "RUNNING":
                summary.runs_present += 1
            elif dry_run or eid is None:
                summary.runs_exported += 1
            else:
                if existing is not None:  # an interrupted export: start it again
                    self.client.call("delete_run", run_id=existing.info.run_id)
                    summary.runs_redone += 1
                values, files = self._export_run(run, eid)
                summary.runs_exported += 1
                summary.metric_values += values
                summary.artifacts += files
            tick(f"{project}: runs", done, len(runs))

    def _export_run(self, run: Run, experiment_id: str) -> tuple[int, int]:
        """Write one run to MLflow; returns (metric values, files)."""
        parent = self._exported.get(str(run.parent_id)) if run.parent_id else None
        tags = {k: v for k, v in run.tags.items() if k not in _SKIPPED_TAGS}
        tags[CARNET_ORIGIN_RUN] = run.id
        tags[CARNET_ORIGIN_WORKSPACE] = self.ctx.settings.uri
        tags.pop("mlflow.parentRunId", None)
        tags.pop("mlflow.runName", None)  # the run's name is given as run_name
        if parent is not None:
            tags["mlflow.parentRunId"] = parent.info.run_id
        created = self.client.call(
            "create_run",
            experiment_id=experiment_id,
            start_time=_ms(run.start_time),
            tags=tags,
            run_name=run.name,
        )
        mid = created.info.run_id
        params = [[k, v] for k, v in run.params.items()]
        for i in range(0, len(params), _SMALL_BATCH):
            self.client.call("log_batch", run_id=mid, metrics=[], params=params[i : i + _SMALL_BATCH])
        values = 0
        pending: list[list[Any]] = []
        for key in sorted(run.metrics):
            for m in self.tracking.metric_history(run.id, key):
                pending.append([key, m.value, _ms(m.timestamp), m.step])
                if len(pending) == _BATCH:
                    self.client.call("log_batch", run_id=mid, metrics=pending, params=[])
                    values, pending = values + len(pending), []
        if pending:
            self.client.call("log_batch", run_id=mid, metrics=pending, params=[])
            values += len(pending)
        files = self._export_artifacts(run.id, mid)
        end = _ms(run.end_time or run.start_time)
        self.client.call("set_terminated", run_id=mid, status=_MLFLOW_STATUS[run.status.value], end_time=end)
        self._exported[run.id] = self.client.call("get_run", run_id=mid)
        return values, files

    def _export_artifacts(self, run_id: str, mlflow_run_id: str) -> int:
        artifacts = self.tracking.list_artifacts(run_id)
        if not artifacts:
            return 0
        tmp = Path(tempfile.mkdtemp(prefix="carnet-export-"))
        try:
            for a in artifacts:
                target = tmp.joinpath(*a.path.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                self.ctx.artifacts.get_file(a.digest, target)  # verified against its digest
            self.client.call("log_artifacts", run_id=mlflow_run_id, local_dir=str(tmp), artifact_path=None)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return len(artifacts)

    # -- registered models ------------------------------------------------------------------------
    def _export_models(
        self, names: Sequence[str], summary: ExportSummary, dry_run: bool, tick: ProgressFn
    ) -> None:
        models = self.registry.list_models()
        if names:
            by_name = {m.name: m for m in models}
            missing = [n for n in names if n not in by_name]
            if missing:
                raise NotFound(f"no registered model named {missing[0]!r}", field="models")
            models = [by_name[n] for n in dict.fromkeys(names)]
        for done, model in enumerate(models, 1):
            summary.models += 1
            self._export_model(model, summary, dry_run)
            tick("registered models", done, len(models))

    def _mlflow_versions(self, name: str) -> dict[int, str] | None:
        """carnet version -> MLflow version of a model exported before (None: no such model)."""
        if self.client.call("registered_model", name=name) is None:
            return None
        out: dict[int, str] = {}
        for mv in self.client.call("model_versions", name=name):
            origin = mv.tags.get(CARNET_ORIGIN_VERSION)
            if origin and origin.isdigit():
                out[int(origin)] = str(mv.version)
        return out

    def _export_model(self, model: Any, summary: ExportSummary, dry_run: bool) -> None:
        name = model.name
        done = self._mlflow_versions(name)
        versions = self.registry.versions(name)
        if done is None:
            if dry_run:
                summary.versions_exported += len(versions)
                return
            tags = {str(k): str(v) for k, v in model.tags.items()} | {CARNET_ORIGIN_MODEL: name}
            self.client.call(
                "create_registered_model", name=name, tags=tags, description=model.description or None
            )
            done = {}
        for mv in versions:
            if mv.version in done:
                summary.versions_present += 1
            elif dry_run:
                summary.versions_exported += 1
            else:
                done[mv.version] = self._export_version(mv)
                summary.versions_exported += 1
        if dry_run:
            return
        current = dict((self.client.call("registered_model", name=name) or {}).get("aliases") or {})
        for alias, number in sorted(dict(model.aliases).items()):
            target = done.get(int(number))
            if target is not None and str(current.get(alias)) != target:
                self.client.call("set_registered_model_alias", name=name, alias=alias, version=target)
                summary.aliases_set += 1

    def _holder_run(self, mv: ModelVersion) -> Any:
        """The MLflow run whose artifacts hold a version's file: its exported run, else a new one."""
        run_id = mv.run_id or mv.tags.get("carnet.run_id")  # an imported version names its run
        if run_id and run_id in self._exported:
            return self._exported[run_id]
        if run_id:
            try:
                run = self.tracking.get_run(run_id)
            except NotFound:
                run = None
            if run is not None and run.status.terminal and not run.deleted:
                eid = self._experiment(run.project, create=True)
                if run_id in self._exported:
                    return self._exported[run_id]
                if eid is not None:
                    self._export_run(run, eid)
                    return self._exported[run_id]
        eid = self._experiment("carnet-models", create=True)
        holder = self.client.call(
            "create_run",
            experiment_id=str(eid),
            start_time=None,
            tags={CARNET_ORIGIN_MODEL: mv.name},
            run_name=f"{mv.name}-v{mv.version}",
        )
        self.client.call("set_terminated", run_id=holder.info.run_id, status="FINISHED", end_time=None)
        return holder

    def _export_version(self, mv: ModelVersion) -> str:
        holder = self._holder_run(mv)
        path = f"carnet-models/{mv.name}/v{mv.version}"
        tmp = Path(tempfile.mkdtemp(prefix="carnet-export-model-"))
        try:
            self.ctx.artifacts.get_file(mv.artifact_digest, tmp / mv.file_name)  # verified
            described = {
                "name": mv.name,
                "version": mv.version,
                "flavor": mv.flavor,
                "digest": mv.artifact_digest,
                "file": mv.file_name,
                "signature": [[c.name, c.dtype] for c in mv.signature.inputs],
                "input_example": mv.input_example,
            }
            (tmp / "carnet-model.json").write_text(json.dumps(described, indent=2, default=str))
            self.client.call(
                "log_artifacts", run_id=holder.info.run_id, local_dir=str(tmp), artifact_path=path
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        tags = {str(k): str(v) for k, v in mv.tags.items()}
        tags |= {
            CARNET_ORIGIN_MODEL: mv.name,
            CARNET_ORIGIN_VERSION: str(mv.version),
            "carnet.flavor": mv.flavor,
            "carnet.digest": mv.artifact_digest,
        }
        return str(
            self.client.call(
                "create_model_version",
                name=mv.name,
                source=f"{holder.info.artifact_uri}/{path}",
                run_id=holder.info.run_id,
                tags=tags,
                description=mv.description or None,
            )
        )
