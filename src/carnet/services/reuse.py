"""Starting from a registered model: resolve the parent, fill the spec from it, check the new data.

A spec with ``model.from`` trains a *derived* model: its task, target, features, preprocessing
and task options default to the parent's (from the parent's training spec when it has one, else
from its registry record), ``model.from`` is pinned to ``NAME/VERSION`` so the run reproduces
even after the alias moves, and the new rows are checked against the parent's signature with the
signature gate's rules before anything runs. :meth:`ReuseService.derive` is ``carnet models
derive``: train from the parent on new data, register the result as the parent's next version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from carnet.domain.models import ModelRef, ModelVersion
from carnet.domain.training import SPEC_PATH, FeatureSpec, ModelSpec, PreprocessSpec, TrainSpec
from carnet.errors import InvalidInput
from carnet.services.context import ServiceContext
from carnet.services.registry import RegistryService
from carnet.services.tracking import TrackingService

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Parent", "ReuseService", "check_parent_inputs", "prepare_parent"]

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Parent:
    """The registered model a derived one starts from: its record, fitted model and reuse mode."""

    version: ModelVersion
    model: Any
    mode: str

    def record(self, refit_preprocessing: bool) -> dict[str, Any]:
        """What the derived model's metadata (and registry record) say about its parent."""
        return {
            "from": self.version.ref,
            "model": self.version.name,
            "version": self.version.version,
            "digest": self.version.artifact_digest,
            "reuse": self.mode,
            "refit_preprocessing": refit_preprocessing,
            "run_id": self.version.run_id,
        }


def _parent_spec(ctx: ServiceContext, tracking: TrackingService, mv: ModelVersion) -> TrainSpec | None:
    """The training spec of the run that made ``mv`` (None for a model registered without one)."""
    from carnet.training import load_spec

    if not mv.run_id:
        return None
    for art in tracking.list_artifacts(mv.run_id):
        if art.path == SPEC_PATH:
            return load_spec(ctx.artifacts.get_bytes(art.digest).decode())
    return None


def prepare_parent(
    ctx: ServiceContext, tracking: TrackingService, registry: RegistryService, spec: TrainSpec
) -> tuple[TrainSpec, Parent]:
    """The spec completed from its ``model.from`` parent, and the parent (loaded, mode checked).

    Raises:
        NotFound: no such model version.
        InvalidInput: the spec contradicts the parent (task, target, model name), or the parent's
            model cannot be reused as asked (field ``model.reuse``, naming what would work).
        PermissionDenied: the parent was stored with pickle.
    """
    from carnet.training.reuse import check_reuse

    assert spec.model is not None and spec.model.parent is not None
    model_spec = spec.model
    ref = ModelRef.parse(str(model_spec.parent))
    mv = registry.resolve(ref)
    if not mv.task:
        raise InvalidInput(
            f"{mv.ref} has no task recorded; register it with a task to derive from it", field="model.from"
        )
    from carnet.tasks import get_task

    task = get_task(mv.task)
    if not task.tabular:
        raise InvalidInput(
            f"{mv.ref} is a {mv.task} model: deriving is for tabular tasks (binary, multiclass, regression, "
            "clustering, anomaly, dim_reduction); train a new model with carnet train",
            field="model.from",
        )
    if spec.task and spec.task != mv.task:
        raise InvalidInput(
            f"task {spec.task!r} differs from the parent's ({mv.task!r}); a derived model keeps its task",
            field="task",
        )
    target = mv.extra.get("target")
    if spec.target is not None and spec.target != target:
        raise InvalidInput(
            f"target {spec.target!r} differs from the parent's ({target!r}); "
            "a derived model keeps its target",
            field="target",
        )
    recorded = str(mv.extra.get("model") or "")
    if model_spec.name and recorded and model_spec.name != recorded:
        raise InvalidInput(
            f"model.name {model_spec.name!r} differs from the parent's ({recorded!r}); leave it out: "
            "a derived model keeps its parent's model",
            field="model.name",
        )
    features = tuple(mv.signature.input_names())
    if spec.features.include is not None and tuple(spec.features.include) != features:
        raise InvalidInput(
            "features differ from the parent's inputs; a derived model takes its parent's inputs "
            f"({', '.join(features[:10])}); leave features out",
            field="features.include",
        )
    model, _ = registry.load(mv.ref)
    mode = check_reuse(model, model_spec.reuse, mv.ref)
    before = _parent_spec(ctx, tracking, mv)
    preprocess, options = spec.preprocess, spec.task_options
    if before is not None:
        preprocess = before.preprocess if preprocess == PreprocessSpec() else preprocess
        options = options or dict(before.task_options)
    completed = replace(
        spec,
        task=mv.task,
        target=target,
        features=FeatureSpec(include=features),
        preprocess=preprocess,
        task_options=options,
        project=registry.get_model(mv.name).project if spec.project == "default" else spec.project,
        model=ModelSpec(
            name=recorded or type(model).__name__,
            params=dict(model_spec.params),
            parent=mv.ref,
            reuse=mode,
            refit_preprocessing=model_spec.refit_preprocessing,
        ),
    )
    return completed, Parent(mv, model, mode)


def check_parent_inputs(mv: ModelVersion, frame: pd.DataFrame, label: str) -> None:
    """Refuse new rows that lack the parent's inputs or retype them (the signature gate's rules).

    Raises:
        InvalidInput: field ``dataset``, naming the columns.
    """
    from carnet.gates.signature import is_retyped

    missing = [c.name for c in mv.signature.inputs if c.name not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{label} lacks the parent {mv.ref}'s input columns: {', '.join(missing[:10])}", field="dataset"
        )
    changed = [
        f"{c.name} ({c.dtype} -> {frame[c.name].dtype})"
        for c in mv.signature.inputs
        if is_retyped(c.dtype, str(frame[c.name].dtype))
    ]
    if changed:
        raise InvalidInput(
            f"{label} retypes the parent {mv.ref}'s inputs: {', '.join(changed[:10])}; convert them back",
            field="dataset",
        )


class ReuseService:
    """``carnet models derive``: a new version of a registered model, continued on new data."""

    def __init__(
        self,
        ctx: ServiceContext,
        tracking: TrackingService,
        training: Any,  # carnet.services.training.TrainingService (which imports this module)
        registry: RegistryService,
    ) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.training = training
        self.registry = registry

    def derive(
        self,
        ref: str,
        data: str,
        *,
        reuse: str | None = None,
        params: Mapping[str, Any] | None = None,
        refit_preprocessing: bool = False,
        register: bool = True,
        progress: ProgressFn | None = None,
        environment: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Train from ``ref`` on ``data`` and register the result as ``ref``'s model's next version.

        Returns what was made and what it saved: the run, the new version (None with
        ``register=False``), the reuse mode, the headline metrics of the derived model and of the
        parent on the same held-out rows, and the fit times of both.
        """
        parent = self.registry.resolve(ModelRef.parse(ref))
        spec: dict[str, Any] = {
            "dataset": data,
            "model": {
                "from": parent.ref,
                "reuse": reuse,
                "refit_preprocessing": refit_preprocessing,
                "params": dict(params or {}),
            },
        }
        if reuse is None:
            del spec["model"]["reuse"]
        outcome = self.training.train(spec, progress=progress, environment=environment)
        version = self.registry.register(outcome.run_id, parent.name) if register else None
        metrics = self.tracking.get_run(outcome.run_id).metrics
        return derive_summary(outcome, metrics, parent, self._fit_seconds(parent), version)

    def _fit_seconds(self, mv: ModelVersion) -> float | None:
        value = mv.metrics.get("fit_seconds")
        return None if value is None else float(value)


def derive_summary(
    outcome: Any,
    run_metrics: Mapping[str, float],
    parent: ModelVersion,
    parent_fit_seconds: float | None,
    version: ModelVersion | None,
) -> dict[str, Any]:
    """The answer of a derivation: the new run and version, and the comparison with the parent."""
    spec = outcome.spec
    compared = {
        name: {"parent": run_metrics[f"parent_{name}"], "derived": value}
        for name, value in outcome.metrics.items()
        if f"parent_{name}" in run_metrics
    }
    return {
        "run_id": outcome.run_id,
        "model": parent.name,
        "version": None if version is None else version.version,
        "derived_from": parent.ref,
        "reuse": spec.model.reuse if spec.model else None,
        "dataset": spec.dataset,
        "metrics": compared,
        "fit_seconds": run_metrics.get("fit_seconds"),
        "parent_fit_seconds": parent_fit_seconds,
    }
