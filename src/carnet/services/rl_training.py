"""Reinforcement-learning runs: ``carnet train`` on a spec with ``task: rl``.

An agent's training is one tracked run, like any model's:

- params: the resolved spec, and the environment's id, version, package, spaces and kwargs;
- metrics as the agent learns (step = environment steps): ``episode_return``,
  ``episode_length``, Stable-Baselines3's losses, entropy and learning rate, ``fps``, and the
  periodic ``eval_return`` on the evaluation seeds;
- the evaluation: ``mean_return`` and ``iqm_return`` over ``eval_episodes`` x ``eval_seeds``
  with stratified bootstrap intervals, ``mean_episode_length`` and ``success_rate``, in the
  same evaluation report as other tasks, with the learning curve and the return distribution;
- the training log, and the policy in the ``sb3`` flavor (no pickle) with metadata whose
  signature is the observation columns and the action.

A spec with a ``search`` section runs an Optuna study: each trial a complete child run (its
own model), the best trial's run is the result.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, cast

from carnet.domain import Metric, RunStatus
from carnet.domain.models import MODEL_META_PATH, MODEL_PATH
from carnet.domain.training import SPEC_PATH, ModelSpec, TrainOutcome, TrainSpec
from carnet.errors import InvalidInput
from carnet.services.tracking import flat_params, store_evaluation

__all__ = ["TIMING_METRICS", "RLTraining"]

ProgressFn = Callable[[str, int, int], None]
#: metrics that measure the machine, not the agent (a reproduction does not compare them)
TIMING_METRICS = frozenset({"fit_seconds", "fps"})
#: metric values buffered before they are written in one transaction
_FLUSH_EVERY = 5000


class _Recorder:
    """Receives the callback's metrics: buffers them for the run and keeps the learning curve."""

    def __init__(self, tracking: Any, run_id: str) -> None:
        self.tracking = tracking
        self.run_id = run_id
        self.pending: list[Metric] = []
        self.episodes: list[tuple[int, float]] = []
        self.evaluations: list[tuple[int, float]] = []
        self.lines: list[str] = []

    def __call__(self, metrics: Mapping[str, float], step: int) -> None:
        now = time.time()
        for name, value in metrics.items():
            self.pending.append(Metric(name, float(value), step, now))
        if "episode_return" in metrics:
            self.episodes.append((step, float(metrics["episode_return"])))
        if "eval_return" in metrics:
            self.evaluations.append((step, float(metrics["eval_return"])))
            self.lines.append(f"step {step}: evaluation return {metrics['eval_return']:.4g}")
        if len(self.pending) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            batch, self.pending = self.pending, []
            self.tracking.log_metrics(self.run_id, batch)


class RLTraining:
    """Trains, evaluates and stores reinforcement-learning agents as tracked runs."""

    def __init__(self, ctx: Any, tracking: Any) -> None:
        self.ctx = ctx
        self.tracking = tracking

    def _allow(self) -> tuple[str, ...] | None:
        """Module prefixes an environment path may come from (None: any, outside a server)."""
        server = self.ctx.settings.server
        return None if server is None else tuple(server.allowed_model_modules)

    def complete(self, spec: TrainSpec) -> TrainSpec:
        """The spec with its defaults filled (the algorithm), checked for what rl does not take."""
        if spec.model is not None and spec.model.parent is not None:
            raise InvalidInput(
                "an rl spec cannot start from a registered model yet; train from scratch", field="model.from"
            )
        if spec.target is not None:
            raise InvalidInput(
                "an rl task learns from its environment's rewards; remove target", field="target"
            )
        if spec.metrics:
            from carnet.evaluation.catalog import metric_names

            unknown = [m for m in spec.metrics if m not in metric_names("rl")]
            if unknown:
                raise InvalidInput(
                    f"unknown rl metric {unknown[0]!r}; use {', '.join(metric_names('rl'))}", field="metrics"
                )
        return spec if spec.model is not None else replace(spec, model=ModelSpec("ppo"))

    # -- one training ---------------------------------------------------------------------------
    def train(
        self,
        spec: TrainSpec,
        *,
        progress: ProgressFn | None = None,
        parent_id: str | None = None,
        environment: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> TrainOutcome:
        """Check the spec and the environment, then learn, evaluate and store one run."""
        from carnet.training import spec_to_dict
        from carnet.training.rl import describe_env, make_env, prepare, rl_options

        spec = self.complete(spec)
        options = rl_options(spec.task_options)
        algorithm = spec.model.name if spec.model else "ppo"
        allow = self._allow()
        # everything is checked before a run exists: a bad spec leaves nothing behind
        vec, model = prepare(
            options.env,
            algorithm,
            env_kwargs=options.env_kwargs,
            params=spec.model.params if spec.model else {},
            seed=spec.seed,
            n_envs=options.n_envs,
            allow=allow,
        )
        probe = make_env(options.env, options.env_kwargs, allow=allow)
        try:
            described = describe_env(probe, options.env)
            examples = [probe.reset(seed=spec.seed + i)[0] for i in range(3)]
        finally:
            probe.close()
        resolved = spec_to_dict(spec)
        params = flat_params(resolved)
        params.update(_env_params(described, options.env_kwargs))
        run = self.tracking.create_run(
            spec.project,
            spec.name,
            parent_id=parent_id,
            params=params,
            tags={"task": "rl", "model": algorithm, "kind": "train", "env": options.env, **(tags or {})},
            environment=environment,
        )
        recorder = _Recorder(self.tracking, run.id)
        lines = [f"environment {options.env} ({described['package']} {described['version'] or ''})".rstrip()]
        eval_env = make_env(options.env, options.env_kwargs, allow=allow) if options.eval_every else None
        try:
            self.tracking.log_artifact_bytes(run.id, _yaml(resolved).encode(), SPEC_PATH)
            lines.append(
                f"{algorithm} for {options.total_timesteps} steps on {options.n_envs} environment(s), "
                f"seed {spec.seed}"
            )
            outcome = self._learn_and_store(
                run.id, spec, options, model, eval_env, recorder, described, examples, lines, progress
            )
            self.tracking.end_run(run.id, RunStatus.FINISHED)
            return outcome
        except BaseException as exc:
            lines.append(f"failed: {type(exc).__name__}: {exc}")
            try:
                recorder.flush()
                self.tracking.log_artifact_bytes(
                    run.id, "\n".join(lines).encode() + b"\n", "logs/training.txt"
                )
            finally:
                status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
                self.tracking.end_run(run.id, status, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        finally:
            vec.close()
            if eval_env is not None:
                eval_env.close()

    def _learn_and_store(
        self,
        run_id: str,
        spec: TrainSpec,
        options: Any,
        model: Any,
        eval_env: Any,
        recorder: _Recorder,
        described: dict[str, Any],
        examples: list[Any],
        lines: list[str],
        progress: ProgressFn | None,
    ) -> TrainOutcome:
        from carnet.training.rl import evaluate, learn, make_env

        total = options.total_timesteps
        if progress:
            progress("learn", 0, total)
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            learn(
                model,
                total,
                log=recorder,
                eval_env=eval_env,
                eval_every=options.eval_every,
                eval_seeds=options.eval_seeds,
                progress=(lambda step: progress("learn", min(step, total), total)) if progress else None,
            )
        seconds = time.perf_counter() - started
        recorder.flush()
        notes = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
        lines += recorder.lines
        taken = int(getattr(model, "num_timesteps", total))  # whole rollouts: at least total
        lines.append(f"learned {taken} steps in {seconds:.2f}s ({len(recorder.episodes)} episodes)")
        lines += [f"warning: {n}" for n in notes]
        if progress:
            progress("evaluate", 0, len(options.eval_seeds))
        allow = self._allow()
        result = evaluate(
            model,
            lambda: make_env(options.env, options.env_kwargs, allow=allow),
            episodes=options.eval_episodes,
            seeds=options.eval_seeds,
            success=options.success(),
        )
        if progress:
            progress("evaluate", len(options.eval_seeds), len(options.eval_seeds))
        evaluation = _evaluation(result, recorder, options)
        now = time.time()
        headline = {k: v for k, v in evaluation.metrics.items()}
        metrics = [Metric(k, float(v), 0, now) for k, v in headline.items()]
        for name, (low, high) in evaluation.intervals.items():
            metrics += [
                Metric(f"{name}_ci_low", float(low), 0, now),
                Metric(f"{name}_ci_high", float(high), 0, now),
            ]
        metrics += [Metric("fit_seconds", seconds, 0, now), Metric("timesteps", float(taken), 0, now)]
        self.tracking.log_metrics(run_id, metrics)
        context = {"run_id": run_id, "task": "rl", "model": spec.model.name if spec.model else None,
                   "environment": options.env, "evaluated_on": _evaluated_on(options)}  # fmt: skip
        store_evaluation(self.tracking, run_id, evaluation, context)
        self._store_policy(run_id, spec, model, described, examples, options)
        lines.append("metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in headline.items()))
        self.tracking.log_artifact_bytes(run_id, "\n".join(lines).encode() + b"\n", "logs/training.txt")
        return TrainOutcome(run_id, headline, dict(evaluation.intervals), {}, evaluation, spec, model, notes)

    def _store_policy(
        self,
        run_id: str,
        spec: TrainSpec,
        model: Any,
        described: dict[str, Any],
        examples: list[Any],
        options: Any,
    ) -> None:
        """The policy in the sb3 flavor and its metadata (observation columns -> action)."""
        import numpy as np

        from carnet.flavors.sb3 import SB3Flavor, observation_columns

        flavor = SB3Flavor()
        art = self.tracking.log_artifact_bytes(run_id, flavor.dumps(model), MODEL_PATH)
        obs_space = described["observation_space"]
        columns = observation_columns(obs_space)
        dtype = str(obs_space.get("dtype") or "int64")
        rows = [np.asarray(e, dtype=np.float64).reshape(-1).tolist() for e in examples]
        meta = {
            "flavor": flavor.name,
            "file": MODEL_PATH,
            "digest": art.digest,
            "task": "rl",
            "family": "rl",
            "target": None,
            "features": [{"name": c, "dtype": dtype} for c in columns],
            "classes": None,
            "model": spec.model.name if spec.model else None,
            "input_example": [dict(zip(columns, r, strict=True)) for r in rows],
            "environment": {**described, "kwargs": dict(options.env_kwargs)},
        }
        self.tracking.log_artifact_bytes(run_id, json.dumps(meta, indent=2).encode(), MODEL_META_PATH)

    # -- search -----------------------------------------------------------------------------------
    def search(
        self,
        spec: TrainSpec,
        *,
        progress: ProgressFn | None = None,
        environment: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An Optuna study over ``spec.search``: every trial a full child run; the best one wins."""
        import optuna

        from carnet.training.hpo import search_leaderboard, suggest, validate_space

        spec = self.complete(spec)
        search = spec.search
        assert search is not None
        space = validate_space(search.space)
        metric = search.metric or "mean_return"
        from carnet.evaluation.catalog import get_metric

        up = get_metric("rl", metric).greater_is_better
        direction = search.direction or ("maximize" if up else "minimize")
        plain = replace(spec, search=None)
        self.train_check(plain)
        parent = self.tracking.create_run(
            spec.project,
            spec.name or f"search-{spec.model.name if spec.model else 'ppo'}",
            tags={"kind": "search", "task": "rl"},
            environment=environment,
        )
        from carnet.training.hpo import make_sampler

        sampler = make_sampler(search.sampler, spec.seed, space)
        study = optuna.create_study(direction=cast(Any, direction), sampler=sampler)
        trial_runs: dict[int, str] = {}
        records: list[Any] = []
        try:
            for number in range(search.n_trials):
                trial = study.ask()
                params = suggest(trial, space)
                model = replace(
                    spec.model or ModelSpec("ppo"),
                    params={**(spec.model.params if spec.model else {}), **params},
                )
                started = time.perf_counter()
                try:
                    outcome = self.train(
                        replace(plain, model=model, name=f"trial-{number}"),
                        parent_id=parent.id,
                        environment=environment,
                        tags={"search_trial": str(number)},
                    )
                except InvalidInput as exc:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    records.append(
                        _Trial(number, None, params, "failed", time.perf_counter() - started, str(exc))
                    )
                    continue
                value = float(outcome.metrics.get(metric, float("nan")))
                trial_runs[number] = outcome.run_id
                study.tell(trial, value)
                records.append(_Trial(number, value, params, "complete", time.perf_counter() - started))
                if progress:
                    progress("trials", number + 1, search.n_trials)
        except BaseException as exc:
            self.tracking.end_run(parent.id, RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        result = _Study(metric, direction, records)
        leaderboard = search_leaderboard(result, trial_runs)
        complete = [r for r in records if r.state == "complete" and r.value == r.value]
        if not complete:
            self.tracking.end_run(parent.id, RunStatus.FAILED, "every trial failed")
            raise InvalidInput(
                f"every trial failed; first: {records[0].error if records else ''}", field="search"
            )
        sign = 1.0 if direction == "maximize" else -1.0
        best = max(complete, key=lambda r: sign * float(r.value or 0.0))
        best_run = trial_runs[best.number]
        self.tracking.log_artifact_bytes(
            parent.id, json.dumps(leaderboard, indent=2).encode(), "search/leaderboard.json"
        )
        self.tracking.log_metrics(
            parent.id, [Metric(f"best_{metric}", float(best.value or 0.0), 0, time.time())]
        )
        self.tracking.set_tags(parent.id, {"best_run": best_run})
        self.tracking.end_run(parent.id, RunStatus.FINISHED)
        run = self.tracking.get_run(best_run)
        return {
            "kind": "search",
            "run_id": best_run,
            "parent_run_id": parent.id,
            "best_run": best_run,
            "best_trial": best.number,
            "best_trial_run": best_run,
            "metric": metric,
            "direction": direction,
            "best_value": best.value,
            "best_params": best.params,
            "trials": len(records),
            "leaderboard": leaderboard,
            "metrics": {
                k: v for k, v in run.metrics.items() if k in ("mean_return", "iqm_return", "success_rate")
            },
            "intervals": {},
        }

    def train_check(self, spec: TrainSpec) -> None:
        """Build the environment and the model once, so a bad spec fails before any run."""
        from carnet.training.rl import prepare, rl_options

        options = rl_options(spec.task_options)
        vec, _ = prepare(
            options.env,
            spec.model.name if spec.model else "ppo",
            env_kwargs=options.env_kwargs,
            params=spec.model.params if spec.model else {},
            seed=spec.seed,
            allow=self._allow(),
        )
        vec.close()


class _Trial:
    """One finished trial of an rl search, as :func:`search_leaderboard` reads it."""

    def __init__(
        self,
        number: int,
        value: float | None,
        params: dict[str, Any],
        state: str,
        seconds: float,
        error: str | None = None,
    ) -> None:
        self.number, self.value, self.params, self.state = number, value, params, state
        self.seconds, self.error, self.duration = seconds, error, seconds


class _Study:
    def __init__(self, metric: str, direction: str, trials: list[_Trial]) -> None:
        self.metric, self.direction, self.trials = metric, direction, trials


def _env_params(described: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, str]:
    """The environment as run params (``env.id``, ``env.version``, spaces and kwargs as JSON)."""
    out = {
        "env.id": str(described["id"]),
        "env.version": str(described.get("version")),
        "env.package": str(described.get("package")),
        "env.observation_space": json.dumps(described["observation_space"], sort_keys=True),
        "env.action_space": json.dumps(described["action_space"], sort_keys=True),
    }
    if described.get("max_episode_steps") is not None:
        out["env.max_episode_steps"] = str(described["max_episode_steps"])
    for key, value in kwargs.items():
        out[f"env.kwargs.{key}"] = json.dumps(value, sort_keys=True, default=str)
    return out


def _evaluated_on(options: Any) -> str:
    return (
        f"{options.eval_episodes} deterministic episode(s) x {len(options.eval_seeds)} seed(s) "
        f"{list(options.eval_seeds)}"
    )


def _evaluation(result: Any, recorder: _Recorder, options: Any) -> Any:
    """The agent's evaluation in the report form every task shares."""
    from carnet.domain.evaluation import EvaluationResult
    from carnet.evaluation.plots_rl import learning_curve_plot, return_distribution_plot

    metrics = result.metrics()
    plots = [
        learning_curve_plot(recorder.episodes, recorder.evaluations),
        return_distribution_plot(result.returns, result.iqm, result.mean),
    ]
    return EvaluationResult(
        family="rl",
        n=int(result.extra.get("episodes", 0)),
        metrics=metrics,
        intervals=result.intervals(),
        details={
            "returns": {str(k): v for k, v in result.returns.items()},
            "environment": options.env,
            "env_kwargs": dict(options.env_kwargs),
            "evaluated_on": _evaluated_on(options),
        },
        plots=plots,
        notes=[
            "intervals: 95% stratified bootstrap over episodes within each seed (2000 resamples)",
            *(
                ["success: return >= " + f"{options.success_threshold:g}"]
                if options.success_threshold is not None
                else []
            ),
        ],
        confidence=0.95,
        bootstrap=2000,
        greater_is_better={k: True for k in metrics if k != "mean_episode_length"},
    )


def _yaml(data: Mapping[str, Any]) -> str:
    import yaml  # type: ignore[import-untyped, unused-ignore]

    return str(yaml.safe_dump(dict(data), sort_keys=False))
