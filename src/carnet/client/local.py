"""``LocalClient``: the SDK over a workspace in this process (folder, ``sqlite:///``, ``postgresql://``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from carnet.bootstrap import open_services
from carnet.client.api import ClientAPI
from carnet.client.forward import forward
from carnet.client.local_admin import LocalAdmin
from carnet.client.local_ops import LocalOps
from carnet.config import Settings
from carnet.domain import (
    Approval,
    Artifact,
    AuditEvent,
    DatasetVersion,
    Metric,
    ModelVersion,
    Promotion,
    Run,
    RunStatus,
)
from carnet.services import Services
from carnet.services.audit import AuditService
from carnet.services.chunks import ChunkService
from carnet.services.datasets import DatasetService
from carnet.services.dossier import DossierService
from carnet.services.encoders import EncoderService
from carnet.services.promotion import PromotionService
from carnet.services.registry import RegistryService
from carnet.services.tracking import TrackingService

__all__ = ["LocalClient"]


class LocalClient(LocalOps, LocalAdmin, ClientAPI):
    """:class:`~carnet.client.api.ClientAPI` over the services of a workspace opened in this process."""

    def __init__(
        self,
        uri: str | Settings | None = None,
        *,
        artifacts: str | None = None,
        create: bool = True,
    ) -> None:
        self.services: Services = open_services(uri, artifacts=artifacts, create=create)
        self.settings = self.services.ctx.settings

    @property
    def uri(self) -> str:
        return self.settings.uri

    def close(self) -> None:
        self.services.close()

    def __enter__(self) -> LocalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- projects and runs -------------------------------------------------
    create_project = forward("tracking", TrackingService.create_project)
    list_projects = forward("tracking", TrackingService.list_projects)

    def create_run(
        self,
        project: str = "default",
        name: str | None = None,
        *,
        parent_id: str | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
    ) -> Run:
        return self.services.tracking.create_run(
            project, name, parent_id=parent_id, params=params, tags=tags, environment=environment
        )

    resolve_run_id = forward("tracking", TrackingService.resolve_run_id)
    get_run = forward("tracking", TrackingService.get_run)

    def end_run(
        self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None
    ) -> Run:
        self.services.tracking.end_run(run_id, RunStatus(status), error)
        return self.get_run(run_id)

    def delete_run(self, run_id: str) -> None:
        self.services.tracking.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.services.tracking.delete_run(run_id, restore=True)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.services.tracking.log_params(run_id, {key: value})

    log_params = forward("tracking", TrackingService.log_params)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.services.tracking.set_tags(run_id, {key: value})

    set_tags = forward("tracking", TrackingService.set_tags)
    delete_tag = forward("tracking", TrackingService.delete_tag)

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: float | None = None
    ) -> None:
        m = self.services.tracking.make_metric(
            key, value, step, time.time() if timestamp is None else timestamp
        )
        self.services.tracking.log_metrics(run_id, [m])

    def log_metrics(
        self, run_id: str, metrics: dict[str, float], step: int = 0, timestamp: float | None = None
    ) -> None:
        ts = time.time() if timestamp is None else timestamp
        make = self.services.tracking.make_metric
        self.services.tracking.log_metrics(run_id, [make(k, v, step, ts) for k, v in metrics.items()])

    # -- what the fluent API writes through (the same on a remote client) ----------------------------
    @property
    def flush_interval(self) -> float:
        return float(self.settings.flush_interval)

    def connect_artifacts(self) -> None:
        self.services.ctx.artifacts.connect()

    def write_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: dict[str, Any] | None = None,
        *,
        allow_ended: bool = False,
    ) -> int:
        return self.services.tracking.log_batch(run_id, metrics, params, allow_ended=allow_ended)

    def finish_run(
        self,
        run_id: str,
        status: RunStatus | str,
        error: str | None = None,
        *,
        metrics: Sequence[Metric] = (),
        params: dict[str, Any] | None = None,
    ) -> None:
        self.services.tracking.end_run(run_id, RunStatus(status), error, metrics=list(metrics), params=params)

    def log_artifact_bytes(self, run_id: str, data: bytes, artifact_path: str) -> Artifact:
        return self.services.tracking.log_artifact_bytes(run_id, data, artifact_path)

    def log_batch(self, run_id: str, metrics: Sequence[Metric]) -> int:
        make = self.services.tracking.make_metric
        return self.services.tracking.log_metrics(
            run_id, [make(m.key, m.value, m.step, m.timestamp) for m in metrics]
        )

    get_metric_history = forward("tracking", TrackingService.metric_history)

    def log_artifact(
        self,
        run_id: str,
        local_path: str | Path,
        artifact_path: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Artifact]:
        return self.services.tracking.log_artifact(run_id, local_path, artifact_path, progress)

    list_artifacts = forward("tracking", TrackingService.list_artifacts)
    download_artifact = forward("tracking", TrackingService.download_artifact)
    log_inputs = forward("tracking", TrackingService.log_inputs)
    list_inputs = forward("tracking", TrackingService.list_inputs)
    child_runs = forward("tracking", TrackingService.children)
    search_runs = forward("tracking", TrackingService.search_runs)

    # -- datasets ------------------------------------------------------------
    def add_dataset(self, path: str | Path, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]:
        return self.services.datasets.add(path, name, **kwargs)

    def log_dataframe(self, df: Any, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]:
        return self.services.datasets.log_dataframe(df, name, **kwargs)

    get_dataset = forward("datasets", DatasetService.get)
    list_datasets = forward("datasets", DatasetService.list)
    dataset_versions = forward("datasets", DatasetService.versions)

    def scan_dataset(self, ref: str, **options: Any) -> dict[str, Any]:
        return self.services.datasets.scan(ref, **options)

    def dataset_risk(
        self, ref: str, quasi_identifiers: list[str], sensitive: str | None = None
    ) -> dict[str, Any]:
        return self.services.datasets.risk(ref, list(quasi_identifiers), sensitive)

    def deidentify_dataset(
        self, ref: str, config: Any, *, name: str | None = None, description: str = ""
    ) -> tuple[DatasetVersion, bool]:
        return self.services.datasets.deidentify(ref, config, name=name, description=description)

    def erase_dataset(
        self, name: str, where: str, *, reason: str, purge: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        return self.services.erasure.erase(name, where, reason=reason, purge=purge, dry_run=dry_run)

    def purge_dataset(self, name: str, versions: list[int] | None = None, *, reason: str) -> dict[str, Any]:
        return self.services.erasure.purge(name, versions, reason=reason)

    def dataset_erasures(self, name: str) -> list[dict[str, Any]]:
        return self.services.erasure.erasures(name)

    dataset_usage = forward("chunks", ChunkService.usage)

    def collect_garbage(self, *, dry_run: bool = False, grace: float = 3600.0) -> dict[str, Any]:
        return self.services.chunks.collect(dry_run=dry_run, grace=grace)

    def chunk_datasets(self, *, dry_run: bool = False, limit: int | None = None) -> dict[str, Any]:
        return self.services.chunks.migrate(dry_run=dry_run, limit=limit)

    diff_datasets = forward("datasets", DatasetService.diff)
    download_dataset = forward("datasets", DatasetService.download)

    # -- training ------------------------------------------------------------
    def train(
        self,
        spec: Any,
        *,
        jobs: int = 1,
        progress: Callable[[str, int, int], None] | None = None,
        executor: str | None = None,
    ) -> Any:
        from carnet.client.environment import capture_environment

        env = capture_environment(_spec_seed(spec))
        return self.services.search.run_spec(
            spec, jobs=jobs, progress=progress, environment=env, executor=executor
        )

    def automl(self, data: str, **kwargs: Any) -> dict[str, Any]:
        from carnet.client.environment import capture_environment

        return self.services.search.automl(
            data, environment=capture_environment(kwargs.get("seed")), **kwargs
        )

    def evaluate(
        self, run_id: str, data: str, *, progress: Callable[[str, int, int], None] | None = None
    ) -> Any:
        return self.services.training.evaluate(run_id, data, progress=progress)

    def predict_batch(
        self,
        ref: str,
        data: str,
        out: str | Path,
        *,
        batch_rows: int = 65_536,
        with_proba: bool = False,
        explain: str | None = None,
        id_column: str | None = None,
        log: bool = False,
        executor: str | None = None,
        jobs: int | None = None,
        max_driver_memory: int | None = None,
        allow_pickle: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> dict[str, Any]:
        return self.services.batch.predict(
            ref,
            data,
            out,
            batch_rows=batch_rows,
            with_proba=with_proba,
            explain=explain,
            id_column=id_column,
            log=log,
            executor=executor,
            jobs=jobs,
            max_driver_memory=max_driver_memory,
            allow_pickle=allow_pickle,
            progress=progress,
        )

    def explain(
        self, ref: str, data: str, *, rows: str | None = None, method: str | None = None, seed: int = 0
    ) -> dict[str, Any]:
        return self.services.explain.explain(ref, data, rows=rows, method=method, seed=seed)

    def stress(
        self,
        ref: str,
        data: str,
        *,
        scenarios: list[dict[str, Any]] | None = None,
        metric: str | None = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        return self.services.promotion.stress(ref, data, scenarios=scenarios, metric=metric, seed=seed)

    def reproduce(
        self, run_id: str, *, progress: Callable[[str, int, int], None] | None = None
    ) -> dict[str, Any]:
        from carnet.client.environment import capture_environment

        return self.services.training.reproduce(run_id, progress=progress, environment=capture_environment())

    def derive(
        self,
        ref: str,
        data: str,
        *,
        reuse: str | None = None,
        params: dict[str, Any] | None = None,
        refit_preprocessing: bool = False,
        register: bool = True,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        from carnet.client.environment import capture_environment

        return self.services.reuse.derive(
            ref,
            data,
            reuse=reuse,
            params=params,
            refit_preprocessing=refit_preprocessing,
            register=register,
            progress=progress,
            environment=capture_environment(),
        )

    add_encoder = forward("encoders", EncoderService.add)
    list_encoders = forward("encoders", EncoderService.list)
    get_encoder = forward("encoders", EncoderService.get)

    def embed(
        self,
        encoder: str,
        data: str,
        column: str,
        out: str | Path,
        *,
        keep: Sequence[str] = (),
        batch_rows: int = 1024,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        return self.services.encoders.embed(
            encoder, data, column, out, keep=keep, batch_rows=batch_rows, progress=progress
        )

    def load_model(self, ref: str, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        if "@" in ref or "/" in ref or self._is_model(ref):
            return self.services.registry.load(ref, trusted=trusted, allow_pickle=allow_pickle)[0]
        return self.services.training.load_model(ref, trusted=trusted)[0]

    def _is_model(self, name: str) -> bool:
        from carnet.errors import InvalidInput, NotFound

        try:
            self.services.registry.get_model(name)
        except (NotFound, InvalidInput):
            return False
        return True

    # -- model registry ----------------------------------------------------------
    def register_model(
        self,
        run_id: str,
        name: str,
        *,
        description: str = "",
        tags: dict[str, str] | None = None,
        derived_from: int | None = None,
    ) -> ModelVersion:
        return self.services.registry.register(
            self.resolve_run_id(run_id), name, description=description, tags=tags, derived_from=derived_from
        )

    log_model = forward("registry", RegistryService.register_object)

    def export_model(self, ref: str, out: str | Path, *, register: bool = False) -> ModelVersion | None:
        data, registered = self.services.registry.export_onnx(ref, register=register)
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return registered

    get_model = forward("registry", RegistryService.get_model)
    list_models = forward("registry", RegistryService.list_models)
    model_versions = forward("registry", RegistryService.versions)
    get_model_version = forward("registry", RegistryService.resolve)
    set_model_alias = forward("registry", RegistryService.set_alias)

    def delete_model_alias(self, name: str, alias: str) -> int:
        return self.services.registry.delete_alias(name, alias)

    set_model_tags = forward("registry", RegistryService.set_tags)
    delete_model_tag = forward("registry", RegistryService.delete_tag)
    set_policy = forward("promotion", PromotionService.set_policy)
    get_policy = forward("promotion", PromotionService.policy_for)
    get_project_policy = forward("promotion", PromotionService.project_policy)

    def promote(
        self,
        name: str,
        version: int,
        alias: str = "production",
        *,
        dry_run: bool = False,
        policy: Any = None,
        allow_pickle: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> Promotion:
        return self.services.promotion.promote(
            name, version, alias, dry_run=dry_run, policy=policy, allow_pickle=allow_pickle, progress=progress
        )

    def request_promotion(
        self, name: str, version: int, alias: str = "production", *, policy: Any = None
    ) -> Promotion:
        return self.services.promotion.promote(name, version, alias, policy=policy, request=True)

    def approve(self, name: str, version: int, alias: str = "production", comment: str = "") -> Approval:
        return self.services.registry.approve(name, version, alias, comment)

    rollback = forward("promotion", PromotionService.rollback)
    promotions = forward("promotion", PromotionService.promotions)
    model_card = forward("dossier", DossierService.card)

    def model_card_data(self, name: str, version: int | None = None) -> dict[str, Any]:
        return self.services.dossier.card_data(name, version)

    model_dossier = forward("dossier", DossierService.dossier)
    model_compliance = forward("dossier", DossierService.compliance)

    # -- deployments, monitors, alerts, labels and drift: in LocalOps (local_ops.py) -----------------

    # -- audit ---------------------------------------------------------------
    def audit_log(
        self,
        subject_type: str | None = None,
        subject_id: str | None = None,
        *,
        action: str | None = None,
        limit: int | None = 100,
    ) -> list[AuditEvent]:
        return self.services.audit.log(subject_type, subject_id, action=action, limit=limit)

    verify_audit = forward("audit", AuditService.verify)


def _spec_seed(spec: Any) -> int | None:
    """The seed of a spec given as a mapping or TrainSpec (None when unknown before parsing)."""
    if isinstance(spec, dict):
        seed = spec.get("seed")
        return seed if isinstance(seed, int) else None
    return getattr(spec, "seed", None)
