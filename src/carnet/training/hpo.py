"""Hyperparameter search with Optuna over ``fit_and_evaluate``.

The search drives an Optuna study through its ask/tell interface and runs trials through an
:class:`~carnet.execution.Executor`:

- in process (:class:`~carnet.execution.InlineExecutor`, ``n_jobs == 1``): each fold
  score is reported to the trial, so the pruner can stop a poor trial between folds, and
  the timeout is checked between folds too;
- in worker processes (``n_jobs > 1``): ``n_jobs`` trials run at once (TPE's constant liar
  accounts for the running ones). A trial in another process cannot consult the study while it
  runs, so there is no per-fold pruning there; its fold scores are reported once it returns.
  At the timeout, running trials are killed through the executor.

Each trial evaluates ``spec`` with the trial's params merged over ``spec.model.params``
(``refit=False``); the caller refits the best params. A trial that raises is recorded as
``failed`` with a one-line error and the search goes on, unless every trial fails.
"""

from __future__ import annotations

import importlib.util
import math
import numbers
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from carnet.domain.training import ModelSpec, SearchSpec, TrainSpec
from carnet.errors import InvalidInput
from carnet.execution import DeadlineExceeded, Executor, InlineExecutor, LocalProcessExecutor

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from carnet.plugins.api import Task
    from carnet.training.fit import ProgressFn, Scorer

__all__ = [
    "TIMEOUT_ERROR",
    "SearchResult",
    "TrialOutcome",
    "TrialRecord",
    "evaluate_spec",
    "make_sampler",
    "metric_direction",
    "one_line",
    "run_search",
    "search_leaderboard",
    "suggest",
    "trial_spec",
    "validate_space",
]

TrialState = Literal["complete", "pruned", "failed"]

#: the error recorded for a trial stopped by the time budget
TIMEOUT_ERROR = "TimeoutError: stopped at the time budget"
_SPACE_KEYS = ("type", "low", "high", "log", "step", "choices")
#: substrings of metric names that are better when lower (used when no direction is given)
_LOWER_IS_BETTER = ("loss", "error", "rmse", "mse", "mae", "mape", "brier", "deviance", "davies_bouldin")


@dataclass
class TrialRecord:
    """One finished trial: its params, mean scores over folds, objective value and outcome."""

    number: int
    params: dict[str, Any]
    scores: dict[str, float]
    value: float | None
    state: TrialState
    seconds: float
    error: str | None = None


@dataclass
class SearchResult:
    """All trials in completion order and the best complete one (the caller refits it)."""

    best: TrialRecord
    trials: list[TrialRecord]
    direction: str
    metric: str
    study: Any = field(default=None, repr=False, compare=False)


# --------------------------------------------------------------------------- search space


def _bad(name: str, message: str) -> InvalidInput:
    return InvalidInput(f"search.space.{name}: {message}", field=f"search.space.{name}")


def _is_number(value: Any, integral: bool = False) -> bool:
    if isinstance(value, bool):
        return False
    if integral:
        return isinstance(value, numbers.Integral)
    return isinstance(value, numbers.Real) and math.isfinite(value)


def _entry(name: str, raw: Any) -> dict[str, Any]:
    """One validated, normalised space entry."""
    if isinstance(raw, list | tuple):
        raw = {"type": "categorical", "choices": list(raw)}
    if not isinstance(raw, Mapping):
        raise _bad(name, f"expected a mapping with type/low/high or choices, got {type(raw).__name__}")
    unknown = [key for key in raw if key not in _SPACE_KEYS]
    if unknown:
        raise _bad(name, f"unknown key {unknown[0]!r}; expected: {', '.join(_SPACE_KEYS)}")
    kind = raw.get("type")
    if kind is None:
        kind = "categorical" if "choices" in raw else None
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, list | tuple) or not choices:
            raise _bad(name, "categorical needs a non-empty list of choices")
        if any(c is not None and not isinstance(c, str | bool | int | float) for c in choices):
            raise _bad(name, "choices must be strings, numbers, booleans or null")
        extra = [key for key in ("low", "high", "log", "step") if raw.get(key) is not None]
        if extra and not (extra == ["log"] and not raw.get("log")):
            raise _bad(name, f"{extra[0]!r} does not apply to a categorical parameter")
        return {"type": "categorical", "choices": list(choices)}
    if kind not in ("int", "float"):
        raise _bad(name, f"type must be int, float or categorical, got {kind!r}")
    if raw.get("choices") is not None:
        raise _bad(name, "choices apply only to type categorical")
    low: Any = raw.get("low")
    high: Any = raw.get("high")
    step: Any = raw.get("step")
    log: Any = raw.get("log", False)
    integral = kind == "int"
    for key, value in (("low", low), ("high", high)):
        if not _is_number(value, integral):
            raise _bad(name, f"{key} must be {'an integer' if integral else 'a number'}, got {value!r}")
    if not low < high:
        raise _bad(name, f"high must be greater than low ({low}), got {high}")
    if not isinstance(log, bool):
        raise _bad(name, f"log must be true or false, got {log!r}")
    if log and low <= 0:
        raise _bad(name, f"low must be > 0 when log is true, got {low}")
    if step is not None:
        if not _is_number(step, integral) or step <= 0:
            raise _bad(name, f"step must be a positive {'integer' if integral else 'number'}, got {step!r}")
        if log:
            raise _bad(name, "step cannot be combined with log")
    return {"type": kind, "low": low, "high": high, "log": log, "step": step}


def validate_space(space: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Check a search space and return it normalised (a list is short for categorical choices).

    Raises:
        InvalidInput: naming ``search.space.<param>`` (or ``search.space`` when empty).
    """
    if not isinstance(space, Mapping) or not space:
        raise InvalidInput(
            "search.space must map each searched model param to a range or choices", field="search.space"
        )
    return {str(name): _entry(str(name), raw) for name, raw in space.items()}


def suggest(trial: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    """Ask an Optuna ``trial`` for one value per parameter of ``space``.

    Entries: ``{"type": "int"|"float", "low", "high", "log"?, "step"?}`` or
    ``{"type": "categorical", "choices": [...]}`` (a bare list means categorical).

    Raises:
        InvalidInput: an entry is malformed, naming ``search.space.<param>``.
    """
    params: dict[str, Any] = {}
    for name, entry in validate_space(space).items():
        if entry["type"] == "categorical":
            params[name] = trial.suggest_categorical(name, entry["choices"])
        elif entry["type"] == "int":
            low, high, step = int(entry["low"]), int(entry["high"]), int(entry["step"] or 1)
            params[name] = trial.suggest_int(name, low, high, step=step, log=entry["log"])
        else:
            params[name] = trial.suggest_float(
                name, float(entry["low"]), float(entry["high"]), step=entry["step"], log=entry["log"]
            )
    return params


def _grid(space: dict[str, dict[str, Any]]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for name, entry in space.items():
        if entry["type"] == "categorical":
            grid[name] = list(entry["choices"])
        elif entry["type"] == "int":
            grid[name] = list(range(int(entry["low"]), int(entry["high"]) + 1, int(entry["step"] or 1)))
        elif entry["step"] is None:
            raise _bad(name, "the grid sampler needs choices or a step")
        else:
            count = math.floor((entry["high"] - entry["low"]) / entry["step"] + 1e-9) + 1
            grid[name] = [entry["low"] + i * entry["step"] for i in range(count)]
    return grid


# --------------------------------------------------------------------------- study setup


def metric_direction(task: Task, spec: TrainSpec) -> tuple[str, str]:
    """The metric a search optimises and its direction (``maximize`` / ``minimize``).

    ``spec.search.metric`` / ``direction`` win; otherwise the task's primary metric. A named
    metric without a direction is minimised when its name says so (loss, error, rmse, ...).
    """
    search = spec.search
    primary, primary_direction = task.primary_metric()
    metric = (search.metric if search else None) or primary
    direction = search.direction if search else None
    if direction is None:
        if metric == primary:
            direction = primary_direction
        else:
            direction = "minimize" if any(s in metric.lower() for s in _LOWER_IS_BETTER) else "maximize"
    if direction not in ("maximize", "minimize"):
        raise InvalidInput(
            f"search.direction must be maximize or minimize, got {direction!r}", field="search.direction"
        )
    return metric, direction


def make_sampler(name: str, seed: int, space: dict[str, dict[str, Any]]) -> Any:
    """An Optuna sampler by short or class name (``tpe``, ``RandomSampler``, ...), seeded."""
    from optuna import samplers

    key = name.lower().removesuffix("sampler")
    if key == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise InvalidInput(
            "the cmaes sampler needs the cmaes package: pip install cmaes", field="search.sampler"
        )
    if key == "grid":
        return samplers.GridSampler(_grid(space), seed=seed)
    classes = {"tpe": "TPESampler", "random": "RandomSampler", "qmc": "QMCSampler", "cmaes": "CmaEsSampler"}
    if key not in classes:
        raise InvalidInput(
            f"unknown sampler {name!r}; use tpe, random, grid, qmc or cmaes", field="search.sampler"
        )
    return getattr(samplers, classes[key])(seed=seed)


def _pruner(name: str, folds: int) -> Any:
    """An Optuna pruner by short or class name; its steps are folds."""
    from optuna import pruners

    choices: dict[str, Callable[[], Any]] = {
        "none": pruners.NopPruner,
        "nop": pruners.NopPruner,
        "median": pruners.MedianPruner,
        "percentile": lambda: pruners.PercentilePruner(25.0),
        "hyperband": lambda: pruners.HyperbandPruner(min_resource=1, max_resource=max(folds, 1)),
        "successive_halving": pruners.SuccessiveHalvingPruner,
        "successivehalving": pruners.SuccessiveHalvingPruner,
    }
    key = name.lower().removesuffix("pruner")
    if key not in choices:
        raise InvalidInput(
            f"unknown pruner {name!r}; use median, percentile, hyperband, successive_halving or none",
            field="search.pruner",
        )
    return choices[key]()


# --------------------------------------------------------------------------- one trial


@dataclass
class _Job:
    number: int
    params: dict[str, Any]
    trial: Any = None  # the Optuna trial, only when running in process


@dataclass
class TrialOutcome:
    """What evaluating one trial spec gave (mean fold scores); picklable, returned by workers."""

    state: TrialState
    scores: dict[str, float]
    value: float | None
    seconds: float
    error: str | None = None
    fold_values: list[float] = field(default_factory=list)


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (the form failed trials are recorded in)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def trial_spec(spec: TrainSpec, task: Task, params: Mapping[str, Any]) -> TrainSpec:
    """``spec`` with ``params`` merged over its model params and no search section."""
    model = spec.model or ModelSpec(task.default_model())
    return replace(spec, model=replace(model, params={**model.params, **params}), search=None)


def _mean_scores(folds: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in (folds[0] if folds else {}) if all(k in f for f in folds)]
    return {k: float(sum(f[k] for f in folds) / len(folds)) for k in keys}


def evaluate_spec(
    spec: TrainSpec,
    *,
    task: Task,
    frame: pd.DataFrame | None,
    scorer: Scorer,
    features: list[str] | None,
    metric: str,
    trial: Any = None,
    deadline: float | None = None,
    load: Callable[[], pd.DataFrame] | None = None,
) -> TrialOutcome:
    """Evaluate one trial spec (``refit=False``); a failing fit is an outcome, never an exception.

    With an Optuna ``trial`` (in process only) each fold score but the last is reported and the
    pruner may stop the trial; past ``deadline`` (monotonic) the trial stops after the current
    fold. A trial whose last fold is done is kept whole. A worker elsewhere gets ``load`` instead
    of the frame: it reads the dataset version through the workspace's store (once per process).
    """
    import optuna

    if frame is None:
        if load is None:
            raise InvalidInput("evaluate_spec needs a frame or a loader", field="frame")
        frame = load()

    from carnet.training.fit import fit_and_evaluate

    start = time.perf_counter()
    folds: list[dict[str, float]] = []
    total = [0]

    def on_progress(stage: str, done: int, count: int) -> None:
        if stage == "fold":
            total[0] = count

    def on_fold(index: int, scores: dict[str, float]) -> None:
        folds.append(dict(scores))
        if index + 1 >= total[0]:
            return  # the last fold: the work is done, keep it
        if trial is not None and metric in scores and math.isfinite(scores[metric]):
            trial.report(float(scores[metric]), index)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {index}")
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlineExceeded("stopped at the time budget")

    def stopped(state: TrialState, error: str | None = None) -> TrialOutcome:
        scores = _mean_scores(folds)
        return TrialOutcome(state, scores, scores.get(metric), time.perf_counter() - start, error)

    try:
        result = fit_and_evaluate(
            task,
            spec,
            frame,
            scorer=scorer,
            features=features,
            progress=on_progress,
            on_fold=on_fold,
            refit=False,
        )
    except optuna.TrialPruned:
        return stopped("pruned")
    except DeadlineExceeded:
        return stopped("failed", TIMEOUT_ERROR)
    except Exception as exc:  # noqa: BLE001 - a failing trial is recorded, not fatal
        return stopped("failed", one_line(exc))
    seconds = time.perf_counter() - start
    scores = {k: float(v) for k, v in result.scores.items()}
    value = scores.get(metric)
    if value is None:
        error = f"metric {metric!r} is not among the scores: {', '.join(sorted(scores)) or '(none)'}"
        return TrialOutcome("failed", scores, None, seconds, error)
    if not math.isfinite(value):
        return TrialOutcome("failed", scores, None, seconds, f"metric {metric!r} is {value}")
    fold_values = [float(f.scores[metric]) for f in result.folds if metric in f.scores]
    return TrialOutcome("complete", scores, value, seconds, None, fold_values)


def _evaluate(job: _Job, *, spec: TrainSpec, task: Task, **kwargs: Any) -> TrialOutcome:
    """Evaluate one search trial: ``spec`` with the job's params (runs in the worker)."""
    return evaluate_spec(trial_spec(spec, task, job.params), task=task, trial=job.trial, **kwargs)


# --------------------------------------------------------------------------- the search


def run_search(
    task: Task,
    spec: TrainSpec,
    frame: pd.DataFrame,
    *,
    scorer: Scorer,
    executor: Executor | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
    progress: ProgressFn | None = None,
    load: Callable[[], pd.DataFrame] | None = None,
    storage: Any = None,
    study_name: str | None = None,
) -> SearchResult:
    """Search ``spec.search.space`` for the best params of ``spec.model``.

    Args:
        task: the task plugin; ``frame``: the data; ``scorer``: metrics of one test fold.
        spec: a spec with a ``search`` section (``n_trials`` and ``timeout`` both honoured).
        executor: where trials run, ``search.n_jobs`` at a time (at most its ``max_workers``);
            None = in process for ``n_jobs == 1``, else a pool of ``n_jobs`` worker processes
            owned (and shut down) by this call.
        on_trial: called in this process for every finished trial, in completion order.
        progress: ``progress("search", finished, n_trials)`` after every trial.
        load: how a worker elsewhere reads ``frame`` itself (a picklable callable); with it, the
            frame is never shipped to workers.
        storage: an Optuna storage for the study (None: in memory), named ``study_name``.

    Returns:
        Every trial and the best complete one.

    Raises:
        InvalidInput: a bad search section (naming the field), or every trial failed.
    """
    import optuna

    from carnet.training.spec import validate_against_data

    search: SearchSpec | None = spec.search
    if search is None:
        raise InvalidInput("the spec has no search section", field="search")
    space = validate_space(search.space)
    metric, direction = metric_direction(task, spec)
    folds = spec.split.folds if spec.split.kind != "holdout" else 1
    sampler = make_sampler(search.sampler, spec.seed, space)
    pruner = _pruner(search.pruner, folds)
    n_trials = search.n_trials
    if n_trials < 1:
        raise InvalidInput(f"search.n_trials must be >= 1, got {n_trials}", field="search.n_trials")
    if isinstance(sampler, optuna.samplers.GridSampler):
        n_trials = min(n_trials, math.prod(len(v) for v in _grid(space).values()))
    if search.timeout is not None and search.timeout <= 0:
        raise InvalidInput(
            f"search.timeout must be > 0 seconds, got {search.timeout}", field="search.timeout"
        )
    features = validate_against_data(spec, task, frame)

    owned = executor is None
    runner: Executor = executor or (
        LocalProcessExecutor(search.n_jobs) if search.n_jobs > 1 else InlineExecutor()
    )
    in_process = bool(runner.in_process)
    in_flight = max(1, min(search.n_jobs, runner.max_workers))
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line on the console
    try:
        study = optuna.create_study(
            direction=optuna.study.StudyDirection[direction.upper()],
            sampler=sampler,
            pruner=pruner,
            storage=storage,
            study_name=study_name,
        )
    finally:
        optuna.logging.set_verbosity(verbosity)
    start = time.monotonic()
    deadline = start + search.timeout if search.timeout else None
    fn = partial(
        _evaluate,
        task=task,
        spec=spec,
        frame=frame if in_process or load is None else None,
        load=None if in_process else load,
        scorer=scorer,
        features=features,
        metric=metric,
        deadline=deadline if in_process else None,
    )
    trials: dict[int, Any] = {}
    dispatched: dict[int, float] = {}
    stop = False

    def jobs() -> Iterator[_Job]:
        for _ in range(n_trials):
            if stop:
                return
            trial = study.ask()
            trials[trial.number] = trial
            dispatched[trial.number] = time.monotonic()
            yield _Job(trial.number, suggest(trial, space), trial if in_process else None)

    records: list[TrialRecord] = []
    results = runner.map_unordered(fn, jobs(), deadline=deadline, max_in_flight=in_flight)
    try:
        for job, outcome in results:
            if isinstance(outcome, BaseException):
                error = TIMEOUT_ERROR if isinstance(outcome, DeadlineExceeded) else one_line(outcome)
                outcome = TrialOutcome("failed", {}, None, time.monotonic() - dispatched[job.number], error)
            stop = _tell(study, trials.pop(job.number), outcome, in_process) or stop
            o = outcome
            record = TrialRecord(job.number, dict(job.params), o.scores, o.value, o.state, o.seconds, o.error)
            records.append(record)
            if on_trial is not None:
                on_trial(record)
            if progress is not None:
                progress("search", len(records), n_trials)
    finally:
        _close(results)  # on an error, cancel (kill) what still runs
        if owned:
            runner.shutdown(kill=True)

    complete = [r for r in records if r.state == "complete" and r.value is not None]
    if not complete:
        errors = [r.error for r in records if r.error]
        timed_out = bool(errors) and all(e == TIMEOUT_ERROR for e in errors)
        if timed_out or not records:
            raise InvalidInput(
                f"no trial finished within search.timeout={search.timeout}s; raise the timeout",
                field="search.timeout",
            )
        first = next((e for e in errors if e != TIMEOUT_ERROR), "no trial completed")
        raise InvalidInput(f"every search trial failed; the first error: {first}", field="search")
    pick = max if direction == "maximize" else min
    best = pick(complete, key=lambda r: float(r.value or 0.0))  # the earliest among ties
    return SearchResult(best=best, trials=records, direction=direction, metric=metric, study=study)


def _close(results: Iterator[Any]) -> None:
    close = getattr(results, "close", None)
    if callable(close):
        close()


def _tell(study: Any, trial: Any, outcome: TrialOutcome, in_process: bool) -> bool:
    """Report ``outcome`` to the study; True when the sampler says the search is exhausted (grid)."""
    from optuna.trial import TrialState as State

    try:
        if outcome.state == "complete":
            last = len(outcome.fold_values) - 1
            for step, value in enumerate(outcome.fold_values):
                if not in_process or step == last:  # in process, the other folds are reported live
                    trial.report(value, step)
            study.tell(trial, outcome.value)
        elif outcome.state == "pruned":
            study.tell(trial, state=State.PRUNED)
        else:
            study.tell(trial, state=State.FAIL)
    except RuntimeError as exc:
        # GridSampler calls study.stop() once the grid is done, which only works inside
        # study.optimize(); the trial is stored before that, so the search just ends.
        if "Study.stop" not in str(exc):
            raise
        return True
    return False


def search_leaderboard(result: Any, trial_runs: Mapping[int, str]) -> list[dict[str, Any]]:
    """A search's trials best first (complete trials by their objective, then pruned, then failed),
    each with its rank, trial number, objective value, params, state, seconds and child run."""
    sign = -1.0 if result.direction == "maximize" else 1.0
    order = {"complete": 0, "pruned": 1, "failed": 2}

    def key(rec: Any) -> tuple[int, float, int]:
        value = rec.value if rec.value is not None and rec.value == rec.value else None
        return (order.get(rec.state, 3) if value is not None else 3, sign * (value or 0.0), rec.number)

    rows = []
    for rank, rec in enumerate(sorted(result.trials, key=key), start=1):
        rows.append(
            {
                "rank": rank,
                "trial": rec.number,
                "value": rec.value,
                "params": rec.params,
                "state": rec.state,
                "seconds": rec.seconds,
                "run_id": trial_runs.get(rec.number),
                "error": rec.error,
            }
        )
    return rows
