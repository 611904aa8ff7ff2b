"""Hyperparameter search and AutoML use cases: a parent run, one child run per trial, the best refitted."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from carnet.domain import Metric, RunStatus
from carnet.domain.training import ModelSpec, TrainSpec
from carnet.errors import InvalidInput
from carnet.plugins.api import default_split
from carnet.services.context import ServiceContext
from carnet.services.datasets import readable
from carnet.services.tracking import TrackingService, flat_params
from carnet.services.training import ProgressFn, TrainingService, finite
from carnet.training.hpo import search_leaderboard

__all__ = ["SearchService"]


class SearchService:
    """Runs Optuna searches and AutoML; trials are child runs of one parent run."""

    def __init__(self, ctx: ServiceContext, tracking: TrackingService, training: TrainingService) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.training = training

    def _executor(self, jobs: int, executor: str | None, *, processes: bool = False) -> Any:
        """The executor trials run on: ``executor`` (default: the workspace's setting); locally, a
        pool of ``jobs`` processes (also for one job when ``processes``, so a budget can kill it)."""
        from carnet.execution import InlineExecutor, LocalProcessExecutor, open_executor, parse_executor

        setting = parse_executor(executor if executor is not None else self.ctx.settings.executor)
        if setting.backend != "local":
            return open_executor(setting, jobs)
        return LocalProcessExecutor(max_workers=jobs) if jobs > 1 or processes else InlineExecutor()

    def _loader(self, ref: str) -> Any:
        """How a worker reads dataset version ``ref`` itself: through the workspace's artifact store,
        verified against its digest, once per worker process."""
        from functools import partial

        from carnet.services.tables import StoreAddress, load_stored_frame

        version = readable(self.training.datasets.get(ref))
        address = StoreAddress(self.ctx.settings.artifact_root, dict(self.ctx.settings.storage_options))
        return partial(load_stored_frame, address, version.digest, version.format, version.read_suffix)

    def _study_storage(self, executor: Any, parent_id: str) -> tuple[Any, str | None]:
        """Where the Optuna study lives: in memory for local work; for a cluster, in the workspace
        database (:class:`~carnet.services.search_journal.WorkspaceJournal`), so the study outlives
        the driver and Optuna's own tools can read it."""
        if executor.name == "local":
            return None, None
        from optuna.storages import JournalStorage

        from carnet.services.search_journal import WorkspaceJournal

        name = f"carnet-search-{parent_id}"
        return JournalStorage(WorkspaceJournal(self.ctx, name)), name

    def _trial_run(
        self,
        parent_id: str,
        project: str,
        number: int,
        model: str,
        params: Mapping[str, Any],
        scores: Mapping[str, float],
        state: str,
        seconds: float,
        error: str | None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> str:
        """Record one finished trial as a child run."""
        run = self.tracking.create_run(
            project,
            f"trial-{number}",
            parent_id=parent_id,
            params={
                "model.name": model,
                **flat_params({"model": {"params": dict(params)}}),
                **(extra_params or {}),
            },
            tags={"kind": "trial", "trial_state": state},
        )
        now = time.time()
        metrics = [Metric(k, float(v), 0, now) for k, v in scores.items() if finite(v)]
        metrics.append(Metric("trial_seconds", float(seconds), 0, now))
        self.tracking.log_metrics(run.id, metrics)
        status = (
            RunStatus.FINISHED
            if state == "complete"
            else (RunStatus.KILLED if state == "pruned" else RunStatus.FAILED)
        )
        self.tracking.end_run(run.id, status, error)
        return run.id

    def run_spec(
        self,
        spec: TrainSpec | Mapping[str, Any] | str | Path,
        *,
        jobs: int = 1,
        progress: ProgressFn | None = None,
        environment: dict[str, Any] | None = None,
        executor: str | None = None,
    ) -> Any:
        """``carnet train``: a search when the spec has a ``search`` section, else one training."""
        from carnet.training import load_spec

        spec = spec if isinstance(spec, TrainSpec) else load_spec(spec)
        if spec.task == "rl" and spec.search is not None:
            from carnet.services.rl_training import RLTraining

            if executor not in (None, "local"):
                raise InvalidInput(
                    "an rl search runs its trials in this process; drop --executor", field="executor"
                )
            return RLTraining(self.ctx, self.tracking).search(
                spec, progress=progress, environment=environment
            )
        if spec.search is not None:
            return self.search(spec, jobs=jobs, progress=progress, environment=environment, executor=executor)
        return self.training.train(spec, progress=progress, environment=environment)

    # -- hyperparameter search ----------------------------------------------------
    def search(
        self,
        spec: TrainSpec,
        *,
        jobs: int = 1,
        progress: ProgressFn | None = None,
        environment: dict[str, Any] | None = None,
        executor: str | None = None,
    ) -> dict[str, Any]:
        """Optuna search over ``spec.search``; each trial a child run; the best refitted as a child.

        ``executor`` (default: the workspace's setting) is where trials run; on a cluster each
        worker reads the dataset version through the workspace's store and the study is journaled.
        """
        from carnet.training import validate_against_data
        from carnet.training.hpo import run_search

        if spec.search is None:
            raise InvalidInput("the spec has no search section", field="search")
        if spec.preprocess.deidentify:
            raise InvalidInput(
                "a search cannot de-identify in its preprocessing yet: make a de-identified version "
                "with carnet data deidentify and search on it, or train without search",
                field="preprocess.deidentify",
            )
        task = self.training.task(spec.task)
        spec = self.training.complete_spec(spec, task)
        ref = spec.dataset
        _, frame = self.training.datasets.load_frame(ref)
        validate_against_data(spec, task, frame)
        parent = self.tracking.create_run(
            spec.project,
            spec.name or f"search-{spec.model.name}",  # type: ignore[union-attr]
            tags={"kind": "search", "task": task.name},
            environment=environment,
        )
        model_name = spec.model.name  # type: ignore[union-attr]
        trial_runs: dict[int, str] = {}

        def on_trial(rec: Any) -> None:
            trial_runs[rec.number] = self._trial_run(
                parent.id,
                spec.project,
                rec.number,
                model_name,
                rec.params,
                rec.scores,
                rec.state,
                rec.seconds,
                rec.error,
            )

        try:
            self.tracking.log_inputs(parent.id, [ref])
            with self._executor(jobs, executor) as runner:
                storage, study_name = self._study_storage(runner, parent.id)
                self.tracking.set_tags(parent.id, {"executor": runner.name})
                result = run_search(
                    task,
                    spec,
                    frame,
                    scorer=self.training.scorer(task, spec),
                    executor=runner,
                    on_trial=on_trial,
                    progress=progress,
                    load=self._loader(ref),
                    storage=storage,
                    study_name=study_name,
                )
            best = result.best
            best_spec = replace(
                spec,
                model=ModelSpec(model_name, {**spec.model.params, **best.params}),  # type: ignore[union-attr]
                search=None,
                name=f"best-trial-{best.number}",
            )
            outcome = self.training.train(
                best_spec,
                progress=progress,
                parent_id=parent.id,
                tags={"best_trial": str(best.number)},
                environment=environment,
            )
            self.tracking.set_tags(
                parent.id,
                {
                    "best_trial": str(best.number),
                    "best_run": outcome.run_id,
                    "best_trial_run": trial_runs.get(best.number, ""),
                },
            )
            self.tracking.log_params(parent.id, {f"best.{k}": v for k, v in best.params.items()})
            leaderboard = search_leaderboard(result, trial_runs)
            self.tracking.log_artifact_bytes(
                parent.id,
                json.dumps(leaderboard, indent=2, default=str).encode(),
                "search/leaderboard.json",
            )
            self.tracking.log_metrics(
                parent.id, [Metric(f"best_{result.metric}", _value(best.value), 0, time.time())]
            )
            self.tracking.end_run(parent.id, RunStatus.FINISHED)
        except BaseException as exc:
            self.tracking.end_run(parent.id, RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        return {
            "kind": "search",
            "run_id": outcome.run_id,
            "parent_run_id": parent.id,
            "best_run": outcome.run_id,
            "best_trial": best.number,
            "best_trial_run": trial_runs.get(best.number),
            "metric": result.metric,
            "direction": result.direction,
            "best_value": best.value,
            "best_params": best.params,
            "trials": len(result.trials),
            "leaderboard": leaderboard,
            "metrics": outcome.metrics,
            "intervals": {k: list(v) for k, v in outcome.intervals.items()},
            "cv": outcome.cv,
        }

    # -- AutoML -------------------------------------------------------------------
    def automl(
        self,
        data: str,
        *,
        target: str | None = None,
        task: str | None = None,
        time_budget: float = 120.0,
        project: str = "default",
        seed: int = 0,
        jobs: int = 1,
        progress: ProgressFn | None = None,
        environment: dict[str, Any] | None = None,
        executor: str | None = None,
        max_trials: int | None = None,
    ) -> dict[str, Any]:
        """Try model families within ``time_budget`` seconds (and at most ``max_trials`` candidates);
        the best is refitted and stored. ``executor`` (default: the workspace's setting) is where
        candidates run."""
        from carnet.training.automl import run_automl

        ref = self.training.resolve_dataset(data, project)
        _, frame = self.training.datasets.load_frame(ref)
        task_name = task or _infer_task(frame, target)
        task_obj = self.training.task(task_name)
        split = default_split(task_obj)
        base = TrainSpec(dataset=ref, task=task_name, target=target, split=split, seed=seed, project=project)
        from carnet.training import validate_against_data

        validate_against_data(base, task_obj, frame)
        parent = self.tracking.create_run(
            project,
            f"automl-{Path(ref).name}",
            tags={"kind": "automl", "task": task_name},
            params={"time_budget": time_budget, "dataset": ref, "target": target or ""},
            environment=environment,
        )
        runs: dict[int, str] = {}

        def on_trial(entry: Any) -> None:
            runs[entry.number] = self._trial_run(
                parent.id,
                project,
                entry.number,
                entry.model,
                entry.params,
                entry.scores,
                "complete" if entry.value is not None else "failed",
                entry.seconds,
                getattr(entry, "error", None),
                {"preprocess": entry.preprocess},
            )

        try:
            self.tracking.log_inputs(parent.id, [ref])
            # trials run in worker processes even with one job, so the budget can stop a running fit
            with self._executor(jobs, executor, processes=True) as runner:
                self.tracking.set_tags(parent.id, {"executor": runner.name})
                result = run_automl(
                    task_obj,
                    frame,
                    target=target,
                    base_spec=base,
                    scorer=self.training.scorer(task_obj, base),
                    time_budget=time_budget,
                    executor=runner,
                    on_trial=on_trial,
                    progress=progress,
                    load=self._loader(ref),
                    max_trials=max_trials,
                )
            rows = [{**row, "run_id": runs.get(row["number"])} for row in result.to_rows()]
            best_spec = replace(result.best.trial_spec, name="automl-best", search=None)
            outcome = self.training.train(
                best_spec,
                progress=progress,
                parent_id=parent.id,
                tags={"automl_rank": "1"},
                environment=environment,
            )
            self.tracking.log_artifact_bytes(
                parent.id, json.dumps(rows, indent=2, default=str).encode(), "automl/leaderboard.json"
            )
            self.tracking.set_tags(parent.id, {"best_run": outcome.run_id, "best_model": result.best.model})
            now = time.time()
            self.tracking.log_metrics(
                parent.id,
                [
                    Metric(f"best_{result.metric}", _value(result.best.value), 0, now),
                    Metric(f"baseline_{result.metric}", _value(result.baseline.value), 0, now),
                ],
            )
            self.tracking.end_run(parent.id, RunStatus.FINISHED)
        except BaseException as exc:
            self.tracking.end_run(parent.id, RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        return {
            "run_id": outcome.run_id,
            "parent_run_id": parent.id,
            "metric": result.metric,
            "direction": result.direction,
            "leaderboard": rows,
            "best": {"model": result.best.model, "value": result.best.value},
            "baseline": {"model": result.baseline.model, "value": result.baseline.value},
            "elapsed": result.elapsed,
            "test_metrics": outcome.metrics,
        }


def _value(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _infer_task(frame: Any, target: str | None) -> str:
    """binary / multiclass / regression from the target column; InvalidInput without a target."""
    if not target:
        raise InvalidInput("pass --target, or --task for an unsupervised task", field="target")
    if target not in frame.columns:
        raise InvalidInput(f"no column {target!r} in the data", field="target")
    col = frame[target].dropna()
    distinct = col.nunique()
    if distinct == 2:
        return "binary"
    numeric = str(col.dtype).startswith(("float", "int", "uint"))
    if not numeric or (distinct <= 20 and str(col.dtype).startswith(("int", "uint"))):
        return "multiclass"
    return "regression"
