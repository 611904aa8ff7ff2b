"""Training use cases: train from a spec, evaluate a run on a dataset, reproduce a run.

Every training is one tracked run: the resolved spec, params, dataset inputs,
environment, metrics (holdout with bootstrap intervals, cross-validation means),
plots, HTML/JSON evaluation reports, the training log and the fitted model.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carnet.domain import DatasetRef, Metric, RunStatus
from carnet.domain.models import MODEL_META_PATH, MODEL_PATH
from carnet.domain.training import SPEC_PATH, Predictions, TrainOutcome, TrainSpec
from carnet.errors import ArtifactCorrupted, InvalidInput
from carnet.evaluation import jsonable
from carnet.flavors.packaging import input_example
from carnet.services.context import ServiceContext
from carnet.services.datasets import DatasetService
from carnet.services.hooks import hooks_of
from carnet.services.tracking import TrackingService, flat_params, store_evaluation

if TYPE_CHECKING:  # pragma: no cover
    from carnet.services.reuse import Parent

__all__ = ["MetricScorer", "TrainOutcome", "TrainingService", "finite", "flat_params"]

ProgressFn = Callable[[str, int, int], None]
#: what a helper process imports while the main one loads data and fits
HELPER_MODULES = (
    "numpy",
    "pandas",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.metrics",
    "sklearn.ensemble",
    "carnet.training.transformers",
    "carnet.evaluation.engine",
    "carnet.evaluation.importance",
    "carnet.evaluation.plots",
    "carnet.evaluation.plots_other",
    "carnet.flavors",
    "skops.io",
)


def _warm_plots() -> None:
    """Draw one throw-away chart in the helper so fonts and the renderer are loaded."""
    from carnet.evaluation.plots import figure, render

    fig, (ax,) = figure()
    ax.plot([0, 1], [0, 1])
    ax.set(title="warm-up", xlabel="x", ylabel="y")
    render(fig)


@dataclass(frozen=True)
class MetricScorer:
    """Picklable scorer handed to the training engine: computes a task family's metrics."""

    family: str
    names: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, predictions: Predictions, truth: Any) -> dict[str, float]:
        from carnet.evaluation import score_all

        return score_all(self.family, list(self.names), truth, predictions, dict(self.options))


class TrainingService:
    """Trains, evaluates and reproduces models; every outcome is a tracked, audited run."""

    def __init__(self, ctx: ServiceContext, tracking: TrackingService, datasets: DatasetService) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.datasets = datasets

    # -- helpers -------------------------------------------------------------
    @staticmethod
    def task(name: str) -> Any:
        """The task plugin named ``name``."""
        from carnet.tasks import get_task

        return get_task(name)

    def resolve_dataset(self, ref: str, project: str) -> str:
        """``name@version`` of the spec's dataset, registering it first when it is a file path."""
        return self.datasets.resolve(ref, project)

    def check_on_server(self, spec: TrainSpec) -> None:
        """On a carnet server, refuse a model class path outside the allowed modules (before importing it)."""
        server = self.ctx.settings.server
        if server is not None and spec.model is not None:
            from carnet.training import check_model_path

            check_model_path(spec.model.name, server.allowed_model_modules)

    def complete_spec(self, spec: TrainSpec, task: Any) -> TrainSpec:
        """Fill what the spec left to the task: dataset version, split, model, time column."""
        from carnet.domain.training import ModelSpec, SplitSpec
        from carnet.plugins.api import default_split

        self.check_on_server(spec)
        spec = replace(spec, dataset=self.resolve_dataset(spec.dataset, spec.project))
        if spec.split == SplitSpec():
            spec = replace(spec, split=default_split(task))
        if spec.model is None:
            spec = replace(spec, model=ModelSpec(task.default_model()))
        if spec.split.time_column and "time_column" not in spec.task_options:
            spec = replace(spec, task_options={**spec.task_options, "time_column": spec.split.time_column})
        return spec

    def scorer(self, task: Any, spec: TrainSpec) -> MetricScorer:
        """The scorer for a spec's task and metrics."""
        names = tuple(spec.metrics or task.default_metrics())
        return MetricScorer(task.family, names, dict(spec.task_options))

    # -- train ----------------------------------------------------------------
    def train(
        self,
        spec: TrainSpec | Mapping[str, Any] | str | Path,
        *,
        progress: ProgressFn | None = None,
        parent_id: str | None = None,
        environment: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> TrainOutcome:
        """Validate the spec against its data, fit, evaluate, store everything in one run."""
        from carnet.training import load_spec

        spec = spec if isinstance(spec, TrainSpec) else load_spec(spec)
        if spec.task == "rl":
            return self._train_agent(spec, progress, parent_id, environment, tags)
        parent = None
        if spec.model is not None and spec.model.parent is not None:
            from carnet.services.reuse import prepare_parent

            spec, parent = prepare_parent(self.ctx, self.tracking, self.registry, spec)
        task = self.task(spec.task)
        spec = self.complete_spec(spec, task)
        ref = spec.dataset
        hooks = hooks_of(self.ctx)
        hooks.before(self.ctx, "before_train", spec=spec)
        with self._helper(self.datasets.get(ref).num_rows) as helper:
            outcome = self._train(spec, task, helper, progress, parent_id, environment, tags, parent)
        hooks.after(self.ctx, "after_train", run_id=outcome.run_id, spec=spec, metrics=dict(outcome.metrics))
        return outcome

    def _train_agent(
        self,
        spec: TrainSpec,
        progress: ProgressFn | None,
        parent_id: str | None,
        environment: dict[str, Any] | None,
        tags: dict[str, str] | None,
    ) -> TrainOutcome:
        """An ``rl`` spec: the agent learns in its environment (see :mod:`carnet.services.rl_training`)."""
        from carnet.services.rl_training import RLTraining

        hooks = hooks_of(self.ctx)
        hooks.before(self.ctx, "before_train", spec=spec)
        outcome = RLTraining(self.ctx, self.tracking).train(
            spec, progress=progress, parent_id=parent_id, environment=environment, tags=tags
        )
        hooks.after(self.ctx, "after_train", run_id=outcome.run_id, spec=spec, metrics=dict(outcome.metrics))
        return outcome

    @property
    def registry(self) -> Any:
        """The model registry (parents of derived models are read from it)."""
        from carnet.services.registry import RegistryService

        return RegistryService(self.ctx, self.tracking)

    def _helper(self, rows: int) -> contextlib.AbstractContextManager[Any]:
        """A helper process for big evaluations (started now, to warm up while data loads)."""
        from carnet.execution import cpu_count
        from carnet.training.helper import HelperProcess

        threshold = self.ctx.settings.offload_rows
        if not threshold or rows < threshold or cpu_count() < 2:
            return contextlib.nullcontext(None)
        helper = HelperProcess(warm=HELPER_MODULES)
        helper.submit(_warm_plots)
        return helper

    def _train(
        self,
        spec: TrainSpec,
        task: Any,
        helper: Any,
        progress: ProgressFn | None,
        parent_id: str | None,
        environment: dict[str, Any] | None,
        tags: dict[str, str] | None,
        parent: Parent | None = None,
    ) -> TrainOutcome:
        from carnet.training import build_pipeline, fit_and_evaluate, spec_to_dict, validate_against_data

        ref = spec.dataset
        _, frame = self.datasets.load_frame(ref)
        raw, transforms = frame, None
        if spec.preprocess.deidentify:  # columns as the model will see them, wherever it is served
            from carnet.privacy.transforms import deidentify_training_frame

            frame, transforms = deidentify_training_frame(spec.preprocess.deidentify, frame)
        # everything is checked before a run exists: a bad spec leaves nothing behind
        estimator = None
        if parent is not None:
            from carnet.services.reuse import check_parent_inputs

            check_parent_inputs(parent.version, frame, f"dataset {ref}")
            estimator = _derivation(parent, spec, task)
            tags = {**(tags or {}), "derived_from": parent.version.ref, "reuse": parent.mode}
        features = validate_against_data(spec, task, frame)
        for column in (transforms or {}).get("columns", {}):
            if column not in features:
                raise InvalidInput(
                    f"preprocess.deidentify.columns.{column}: {column!r} is not a feature of this spec",
                    field=f"preprocess.deidentify.columns.{column}",
                )
        text_encoder, encoders = self._text_encoder(spec)
        if parent is None:
            # unknown model, params or preprocessing choices
            build_pipeline(spec, task, frame, features, text_encoder=text_encoder)
            if text_encoder is not None:
                estimator = _pipeline(spec, task, frame, features, text_encoder)
        resolved = spec_to_dict(spec)
        run = self.tracking.create_run(
            spec.project,
            spec.name,
            parent_id=parent_id,
            params=flat_params(resolved),
            tags={
                "task": task.name,
                "model": spec.model.name if spec.model else "",
                "kind": "train",
                **(tags or {}),
            },
            environment=environment,
        )
        log = _TrainingLog()
        try:
            self.tracking.log_inputs(run.id, [ref], "training")
            self.tracking.log_artifact_bytes(run.id, _yaml(resolved).encode(), SPEC_PATH)
            log.line(f"dataset {ref}: {len(frame)} rows, {len(features)} features; task {task.name}")
            started = time.perf_counter()
            if parent is not None:
                log.line(f"derived from {parent.version.ref} by {parent.mode}")
            result = fit_and_evaluate(
                task,
                spec,
                frame,
                scorer=self.scorer(task, spec),
                features=features,
                progress=progress,
                estimator=estimator,
            )
            log.line(f"fitted {len(result.folds)} fold(s) in {time.perf_counter() - started:.2f}s")
            for warning in result.warnings:
                log.line(f"warning: {warning}")
            model_bytes = self._offer_dumps(helper, result.fitted)
            if helper is not None:
                log.line(f"plots and the model file are made in helper process {helper.pid}")
            pending = self._begin_evaluation(task, spec, frame, result, helper)
            evaluation = pending.result()
            refit = bool(spec.model and spec.model.refit_preprocessing)
            reuse = None if parent is None else parent.record(refit)
            self._store_model(
                run.id, task, spec, result, features, frame, model_bytes, reuse, encoders, raw, transforms
            )
            outcome = self._record_fit(run.id, task, spec, result, evaluation, log)
            self._log_epochs(run.id, result.fitted, log)
            if parent is not None:
                self._score_parent(run.id, parent, task, spec, frame, result, log)
            self.tracking.log_artifact_bytes(run.id, log.text().encode(), "logs/training.txt")
            self.tracking.end_run(run.id, RunStatus.FINISHED)
            return outcome
        except BaseException as exc:
            log.line(f"failed: {type(exc).__name__}: {exc}")
            try:
                self.tracking.log_artifact_bytes(run.id, log.text().encode(), "logs/training.txt")
            finally:
                status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
                self.tracking.end_run(run.id, status, f"{type(exc).__name__}: {exc}"[:2000])
            raise

    def _log_epochs(self, run_id: str, fitted: Any, log: _TrainingLog) -> None:
        """A network's per-epoch history (loss, validation loss and metric, learning rate) as the
        run's ``epoch_*`` metrics, step = epoch."""
        from carnet.plugins.api import final_step
        from carnet.training.reuse import unwrap

        history = getattr(final_step(unwrap(fitted)[0])[1], "history_", None)
        if not isinstance(history, list) or not history:
            return
        now = time.time()
        metrics = [
            Metric(f"epoch_{key}", float(value), int(row["epoch"]), now)
            for row in history
            for key, value in row.items()
            if key != "epoch" and finite(value)
        ]
        self.tracking.log_metrics(run_id, metrics)
        best = getattr(final_step(unwrap(fitted)[0])[1], "best_epoch_", None)
        log.line(f"trained {len(history)} epoch(s); kept the weights of epoch {best}")

    def _text_encoder(self, spec: TrainSpec) -> tuple[Any, list[dict[str, Any]] | None]:
        """A registered encoder ``preprocess.text.encoder`` names, frozen, and its record; (None, None)
        when the spec names an installed encoder plugin (or none)."""
        text = spec.preprocess.text
        if text is None:
            return None, None
        from carnet.services.encoders import EncoderService

        found = EncoderService(self.ctx, self.registry, self.datasets).resolve(text.encoder)
        if found is None:
            return None, None
        if text.params:
            raise InvalidInput(
                f"encoder {text.encoder} is registered with its settings; leave preprocess.text.params out",
                field="preprocess.text.params",
            )
        return found[0], [found[1]]

    def _score_parent(
        self,
        run_id: str,
        parent: Parent,
        task: Any,
        spec: TrainSpec,
        frame: Any,
        result: Any,
        log: _TrainingLog,
    ) -> None:
        """The parent's metrics on the same held-out rows, as ``parent_<metric>`` (what reuse changed)."""
        fold = result.holdout
        rows = frame.iloc[fold.test_index][result.features]
        scores = self.scorer(task, spec)(task.predict(parent.model, rows, spec.task_options), fold.truth)
        now = time.time()
        metrics = [Metric(f"parent_{k}", float(v), 0, now) for k, v in scores.items() if finite(v)]
        self.tracking.log_metrics(run_id, metrics)
        log.line("parent on the same rows: " + ", ".join(f"{m.key}={m.value:.4g}" for m in metrics))

    def _begin_evaluation(self, task: Any, spec: TrainSpec, frame: Any, result: Any, helper: Any) -> Any:
        """Start the full evaluation of the holdout fold (plots and importance on ``helper``)."""
        from carnet.evaluation.engine import begin_evaluation

        fold = result.holdout
        names = list(spec.metrics or task.default_metrics())
        from carnet.evaluation.catalog import DATA_DEFAULT_FAMILIES

        dynamic = not spec.metrics and task.family in DATA_DEFAULT_FAMILIES  # defaults from the data
        return begin_evaluation(
            task.family,
            fold.truth,
            fold.predictions,
            metrics=None if dynamic else names,
            X=frame.iloc[fold.test_index][result.features],
            fitted=result.fitted if len(result.folds) == 1 else None,
            options={"importance_rows": 1000, "importance_repeats": 3, **spec.task_options},
            seed=spec.seed,
            interval_metrics=None if dynamic else _headline(task, names),
            offload=helper,
        )

    def _record_fit(
        self, run_id: str, task: Any, spec: TrainSpec, result: Any, evaluation: Any, log: _TrainingLog
    ) -> TrainOutcome:
        """Log the holdout evaluation's metrics, plots and reports, and the folds' scores."""
        now = time.time()
        cv: dict[str, float] = {}
        headline, intervals = dict(evaluation.metrics), dict(evaluation.intervals)
        context: dict[str, Any] = {
            "run_id": run_id,
            "dataset": spec.dataset,
            "task": task.name,
            "model": spec.model.name if spec.model else None,
        }
        if len(result.folds) > 1:
            # k folds: the headline is each metric's mean over the folds (its spread in cv_*_std, each
            # fold's value as fold_<metric> at step = fold); the report and plots show the last fold
            for name, value in result.scores.items():
                cv[f"cv_{name}_mean"] = float(value)
                cv[f"cv_{name}_std"] = float(result.scores_std.get(name, 0.0))
            headline = {k: result.scores.get(k, v) for k, v in headline.items()}
            intervals = {}
            context["evaluated_on"] = (
                f"fold {len(result.folds)} of {len(result.folds)} (headline: mean over folds)"
            )
        metrics = _headline_metrics(headline, intervals, now)
        if len(result.folds) > 1:
            for fold_result in result.folds:
                metrics += [
                    Metric(f"fold_{k}", float(v), fold_result.fold, now)
                    for k, v in fold_result.scores.items()
                    if finite(v)
                ]
        metrics += [Metric(k, v, 0, now) for k, v in cv.items() if finite(v)]
        metrics.append(Metric("fit_seconds", float(result.fit_seconds), 0, now))
        self.tracking.log_metrics(run_id, metrics)
        self._store_evaluation(run_id, evaluation, context)
        log.line("metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in headline.items() if finite(v)))
        return TrainOutcome(
            run_id, headline, intervals, cv, evaluation, spec, result.fitted, list(result.warnings)
        )

    def _store_evaluation(
        self, run_id: str, evaluation: Any, context: dict[str, Any], prefix: str = ""
    ) -> None:
        store_evaluation(self.tracking, run_id, evaluation, context, prefix)

    @staticmethod
    def _offer_dumps(helper: Any, fitted: Any) -> Any:
        """The model's bytes serialised on ``helper`` meanwhile (None without a helper)."""
        from carnet.flavors import flavor_for

        return helper.submit(flavor_for(fitted).dumps, fitted) if helper is not None else None

    def _store_model(
        self,
        run_id: str,
        task: Any,
        spec: TrainSpec,
        result: Any,
        features: list[str],
        frame: Any,
        offloaded: Any = None,
        reuse: dict[str, Any] | None = None,
        encoders: list[dict[str, Any]] | None = None,
        raw: Any = None,
        transforms: dict[str, Any] | None = None,
    ) -> None:
        """The fitted model and its metadata as run artifacts (``offloaded``: a future of its bytes).

        With ``transforms`` (``preprocess.deidentify``), the inputs are described as requests carry
        them (``raw``'s dtypes) and the example keeps none of the transformed columns' values.
        """
        from carnet.flavors import flavor_for

        flavor = flavor_for(result.fitted)
        data = None
        if offloaded is not None:
            try:
                data = offloaded.result()
            except Exception:  # noqa: BLE001 - serialised here instead: same bytes or the same error
                data = None
        data = data if data is not None else flavor.dumps(result.fitted)
        art = self.tracking.log_artifact_bytes(run_id, data, MODEL_PATH)
        meta = {
            "flavor": flavor.name,
            "file": MODEL_PATH,
            "digest": art.digest,
            "task": task.name,
            "family": task.family,
            "target": spec.target,
            "features": [
                {"name": c, "dtype": str((frame if raw is None else raw)[c].dtype)} for c in features
            ],
            "classes": jsonable(list(result.holdout.predictions.classes or [])) or None,
            "model": spec.model.name if spec.model else None,
            "input_example": input_example(frame, features),
        }
        if transforms:
            hidden = set(transforms["columns"])
            meta["deidentify"] = transforms
            meta["input_example"] = [
                {k: (None if k in hidden else v) for k, v in row.items()}
                for row in input_example(raw, features)
            ]
        if reuse is not None:
            meta["reuse"] = reuse
        per_target = result.holdout.predictions.extra.get("targets")
        if per_target:  # a multitask model: every target, its kind and classes
            families = result.holdout.predictions.extra.get("families") or {}
            meta["targets"] = [
                {"name": t, "family": families.get(t), "classes": jsonable(list(p.classes or [])) or None}
                for t, p in per_target.items()
            ]
        built_on = _encoders_of(result.fitted)
        for entry in built_on:  # a registered encoder: its reference too
            entry.update({k: v for k, v in (encoders or [{}])[0].items() if k == "encoder"})
        if built_on:
            meta["encoders"] = built_on
        self.tracking.log_artifact_bytes(run_id, json.dumps(meta, indent=2).encode(), MODEL_META_PATH)

    # -- loading and evaluating stored models ----------------------------------
    def load_model(self, run_id: str, *, trusted: tuple[str, ...] = ()) -> tuple[Any, dict[str, Any]]:
        """The fitted model of a training run (digest verified, types checked) and its metadata."""
        from carnet.flavors.trust import require_model
        from carnet.plugins.loader import registry

        arts = {a.path: a for a in self.tracking.list_artifacts(run_id)}
        if MODEL_PATH not in arts or MODEL_META_PATH not in arts:
            raise InvalidInput(
                f"run {run_id} has no stored model; train one with: carnet train SPEC", field="run_id"
            )
        meta = json.loads(self.ctx.artifacts.get_bytes(arts[MODEL_META_PATH].digest))
        digest = arts[MODEL_PATH].digest
        if meta.get("digest") != digest:  # the model file must be the one its metadata describes
            raise ArtifactCorrupted(
                f"model of run {run_id}: recorded digest {meta.get('digest')} does not match {digest}",
                digest=digest,
            )
        data = self.ctx.artifacts.get_bytes(digest)  # verified against the digest while read
        from carnet.privacy.transforms import deidentified

        model = registry("flavor").get(str(meta.get("flavor"))).loads(data, trusted=trusted)
        model = require_model(model, str(meta.get("flavor")))
        return deidentified(model, meta.get("deidentify")), meta  # raw inputs, as at serving

    def evaluate(self, run_id: str, dataset: str, *, progress: ProgressFn | None = None) -> TrainOutcome:
        """Score a trained run's model on a dataset version; the result is a new run linked to it."""
        source = self.tracking.get_run(run_id)
        if source.tags.get("task") == "rl":
            raise InvalidInput(
                f"run {run_id} is an agent: it is evaluated in its environment over seeds when trained, "
                "and under stress with carnet stress",
                field="run_id",
            )
        path = Path(dataset)
        if path.suffix and path.exists():  # a file is checked against the model before it is registered
            from carnet.data.tabular import read_table

            meta = self._model_meta(run_id)
            _check_evaluation_columns(meta, self.task(meta["task"]), read_table(path).column_names, str(path))
        ref = self.resolve_dataset(dataset, source.project)
        with self._helper(self.datasets.get(ref).num_rows) as helper:
            return self._evaluate(run_id, source, ref, helper, progress)

    def _model_meta(self, run_id: str) -> dict[str, Any]:
        """The stored model's metadata of a training run (its task, target and features)."""
        arts = {a.path: a for a in self.tracking.list_artifacts(run_id)}
        if MODEL_PATH not in arts or MODEL_META_PATH not in arts:
            raise InvalidInput(
                f"run {run_id} has no stored model; train one with: carnet train SPEC", field="run_id"
            )
        meta: dict[str, Any] = json.loads(self.ctx.artifacts.get_bytes(arts[MODEL_META_PATH].digest))
        return meta

    def _evaluate(
        self, run_id: str, source: Any, ref: str, helper: Any, progress: ProgressFn | None
    ) -> TrainOutcome:
        from carnet.evaluation.engine import begin_evaluation

        model, meta = self.load_model(run_id)
        task = self.task(meta["task"])
        _, frame = self.datasets.load_frame(ref)
        features = [f["name"] for f in meta["features"]]
        target = meta.get("target")
        _check_evaluation_columns(meta, task, list(frame.columns), f"dataset {ref}")
        options: dict[str, Any] = {}
        spec_text = self._artifact_text(run_id, SPEC_PATH)
        if spec_text:
            from carnet.training import load_spec

            options = dict(load_spec(spec_text).task_options)
        run = self.tracking.create_run(
            source.project,
            f"evaluate-{source.name}",
            tags={"kind": "evaluation", "evaluates": run_id, "task": task.name},
            params={"model_run": run_id, "dataset": ref},
        )
        try:
            self.tracking.log_inputs(run.id, [ref], "evaluation")
            if progress:
                progress("predict", 0, 1)
            predictions = task.predict(model, frame[features], options)
            truth = task.truth(frame, target, options)
            pending = begin_evaluation(
                task.family,
                truth,
                predictions,
                X=frame[features],
                fitted=model,
                options=options,
                offload=helper,
            )
            evaluation = pending.result()
            self.tracking.log_metrics(run.id, _evaluation_metrics(evaluation, time.time()))
            self._store_evaluation(
                run.id, evaluation, {"run_id": run.id, "model_run": run_id, "dataset": ref, "task": task.name}
            )
            if progress:
                progress("predict", 1, 1)
            self.tracking.end_run(run.id, RunStatus.FINISHED)
        except BaseException as exc:
            self.tracking.end_run(run.id, RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        return TrainOutcome(
            run.id,
            dict(evaluation.metrics),
            dict(evaluation.intervals),
            {},
            evaluation,
            TrainSpec(dataset=ref, task=task.name, target=target),
        )

    def _artifact_text(self, run_id: str, path: str) -> str | None:
        for a in self.tracking.list_artifacts(run_id):
            if a.path == path:
                return self.ctx.artifacts.get_bytes(a.digest).decode()
        return None

    # -- reproduce -------------------------------------------------------------
    def reproduce(
        self, run_id: str, *, progress: ProgressFn | None = None, environment: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Re-run a training from its recorded spec, dataset version and seed; compare metrics.

        Returns a dict with the new run id, original and new metrics, the differing metric
        names, and warnings about package versions or code commit that changed.
        """
        original = self.tracking.get_run(run_id)
        text = self._artifact_text(run_id, SPEC_PATH)
        if text is None:
            raise InvalidInput(
                f"run {run_id} was not made by carnet train; nothing to reproduce", field="run_id"
            )
        inputs = self.tracking.list_inputs(run_id)
        warnings: list[str] = []
        for inp in inputs:
            current = self.datasets.get(DatasetRef(inp.dataset, inp.version))
            if current.digest != inp.digest:
                raise InvalidInput(
                    f"dataset {inp.dataset}@{inp.version} no longer has the recorded digest", field="dataset"
                )
        outcome = self.train(text, progress=progress, tags={"reproduces": run_id}, environment=environment)
        new = self.tracking.get_run(outcome.run_id)
        warnings += _environment_differences(original.environment, new.environment)
        from carnet.services.rl_training import TIMING_METRICS

        keys = sorted(k for k in original.metrics if k in new.metrics and k not in TIMING_METRICS)
        differing = [k for k in keys if not _same(original.metrics[k], new.metrics[k])]
        self.tracking.set_tags(outcome.run_id, {"reproduced": "identical" if not differing else "different"})
        return {
            "run_id": run_id,
            "new_run_id": outcome.run_id,
            "metrics": {k: [original.metrics[k], new.metrics[k]] for k in keys},
            "differing": differing,
            "warnings": warnings,
        }


def _pipeline(
    spec: TrainSpec, task: Any, frame: Any, features: list[str], text_encoder: Any
) -> Callable[[], Any]:
    """Builds the spec's pipeline with a resolved (registered, frozen) text encoder."""
    from carnet.training import build_pipeline

    def build() -> Any:
        return build_pipeline(spec, task, frame, features, text_encoder=text_encoder)

    return build


def _encoders_of(fitted: Any) -> list[dict[str, Any]]:
    """What the fitted pipeline's text steps are built on: column, encoder plugin and identity."""
    from carnet.plugins.api import final_step
    from carnet.training.reuse import unwrap

    head, _ = final_step(unwrap(fitted)[0])
    steps = getattr(head, "steps", None) or []
    out: list[dict[str, Any]] = []
    for _, step in steps:
        for name, transformer, columns in getattr(step, "transformers_", []) or []:
            inner = getattr(transformer, "estimator", transformer)  # a registered encoder is frozen
            identity = getattr(inner, "identity_", None)
            if str(name).startswith("text_") and identity is not None:
                column = columns[0] if isinstance(columns, list | tuple) and columns else str(columns)
                out.append({"column": str(column), "plugin": inner.encoder, **dict(identity)})
    return out


def _derivation(parent: Parent, spec: TrainSpec, task: Any) -> Callable[[], Any]:
    """Builds the estimator each fold fits: the parent continued by its reuse mode."""
    from carnet.training.reuse import Derivation

    model = spec.model
    params = dict(model.params) if model else {}
    refit = bool(model and model.refit_preprocessing)
    supervised = bool(task.supervised)

    def build() -> Any:
        return Derivation(parent.model, parent.mode, params, refit_preprocessing=refit, supervised=supervised)

    return build


class _TrainingLog:
    """A timestamped text log of the training steps (stored as ``logs/training.txt``)."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._start = time.perf_counter()

    def line(self, text: str) -> None:
        self._lines.append(f"[{time.perf_counter() - self._start:8.3f}s] {text}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


#: metrics that get bootstrap intervals besides the task's primary one, when reported
HEADLINE = ("accuracy", "f1", "f1_macro", "rmse", "mae", "r2", "mase", "ndcg_at_k", "precision_at_k")


def _headline(task: Any, names: list[str]) -> list[str]:
    """The task's primary metric and up to three other headline metrics among ``names``."""
    primary = task.primary_metric()[0]
    others = [m for m in HEADLINE if m in names and m != primary][:3]
    return [primary, *others]


def _check_evaluation_columns(meta: Mapping[str, Any], task: Any, columns: list[str], label: str) -> None:
    """Refuse data lacking the model's feature columns or, for a supervised task, its target."""
    have = set(columns)
    missing = [f["name"] for f in meta["features"] if f["name"] not in have]
    if missing:
        raise InvalidInput(
            f"{label} lacks the model's feature columns: {', '.join(missing[:10])}", field="dataset"
        )
    target = meta.get("target")
    if task.supervised and (not target or target not in have):
        raise InvalidInput(
            f"{label} has no target column {target!r} to evaluate against; add it, or score the rows "
            "without labels with: carnet serve",
            field="dataset",
        )


def _evaluation_metrics(evaluation: Any, now: float) -> list[Metric]:
    """Headline metric values and their interval bounds (``<name>_ci_low`` / ``_ci_high``)."""
    return _headline_metrics(evaluation.metrics, evaluation.intervals, now)


def _headline_metrics(
    values: Mapping[str, Any], intervals: Mapping[str, tuple[float, float]], now: float
) -> list[Metric]:
    """Metric values and their interval bounds (``<name>_ci_low`` / ``_ci_high``)."""
    metrics = [Metric(k, float(v), 0, now) for k, v in values.items() if finite(v)]
    for name, (low, high) in intervals.items():
        metrics += [
            Metric(f"{name}_ci_low", float(low), 0, now),
            Metric(f"{name}_ci_high", float(high), 0, now),
        ]
    return metrics


def finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _same(a: float, b: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _yaml(data: Mapping[str, Any]) -> str:
    import yaml  # type: ignore[import-untyped, unused-ignore]

    return str(yaml.safe_dump(jsonable(data), sort_keys=False))


def _environment_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    old_pk, new_pk = old.get("packages", {}), new.get("packages", {})
    changed = [
        f"{p} {old_pk[p]} -> {new_pk.get(p, 'missing')}" for p in sorted(old_pk) if new_pk.get(p) != old_pk[p]
    ]
    if changed:
        out.append(f"{len(changed)} package version(s) differ: " + "; ".join(changed[:8]))
    if old.get("python") != new.get("python"):
        out.append(f"Python {old.get('python')} -> {new.get('python')}")
    og, ng = old.get("git") or {}, new.get("git") or {}
    if og.get("commit") != ng.get("commit"):
        out.append(f"code commit {str(og.get('commit'))[:10]} -> {str(ng.get('commit'))[:10]}")
    elif ng.get("dirty"):
        out.append("the working tree has uncommitted changes")
    return out
