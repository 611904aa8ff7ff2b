"""AutoML: try model families, preprocessing choices and params within a wall-clock budget.

The plan is ordered to have a good model early:

1. the **baseline**: HistGradientBoosting (else LightGBM, else the task's default model) with
   its default params and the spec's preprocessing;
2. every other candidate family with its defaults (linear, kNN and SVM models scaled);
3. rounds of sampled configurations (params from small, fast ranges; one-hot or ordinal
   encoding when there are categorical columns; the scaler for scaled families), families
   ranked by their best score so far, the leader sampled twice per round.

Each candidate is evaluated with the spec's split (``fit_and_evaluate(refit=False)``) through
an :class:`~carnet.execution.Executor`. At the deadline, running candidates are
killed (worker processes) or stopped after their current fold (in process). The baseline is
a candidate, so the best entry is at least as good as the baseline by construction. A
candidate that fails is recorded with its error and the search goes on.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from carnet.domain.training import ModelSpec, PreprocessSpec, SplitSpec, TrainSpec
from carnet.errors import InvalidInput
from carnet.execution import DeadlineExceeded, Executor, LocalProcessExecutor
from carnet.plugins.api import default_split
from carnet.training.hpo import (
    TIMEOUT_ERROR,
    TrialOutcome,
    evaluate_spec,
    metric_direction,
    one_line,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from carnet.plugins.api import Task
    from carnet.training.fit import ProgressFn, Scorer

__all__ = ["SEARCH_RANGES", "AutoMLResult", "LeaderboardEntry", "run_automl"]

#: optional model packages: a candidate is skipped when its package is not importable
_OPTIONAL = {"lightgbm": "lightgbm", "xgboost": "xgboost"}
#: families that need scaled inputs (scaled with ``standard`` by default)
_SCALED = {
    "logistic_regression": ("standard", "robust"),
    "ridge": ("standard", "robust"),
    "lasso": ("standard", "robust"),
    "elastic_net": ("standard", "robust"),
    "linear_regression": ("standard",),
    "knn": ("standard", "minmax"),
    "svc": ("standard", "minmax"),
    "svr": ("standard", "minmax"),
}
_BASELINES = ("hist_gradient_boosting", "lightgbm")

_LR = ("log", 0.02, 0.3)
_TREES = {
    "n_estimators": ("choice", [50, 100, 200]),
    "max_depth": ("choice", [None, 8, 16]),
    "min_samples_leaf": ("intlog", 1, 20),
    "max_features": ("choice", ["sqrt", 0.5, 1.0]),
}
#: sampled ranges per model family: ("log", low, high) | ("float", low, high) |
#: ("int", low, high) | ("intlog", low, high) | ("choice", [values])
SEARCH_RANGES: dict[str, dict[str, tuple[Any, ...]]] = {
    "hist_gradient_boosting": {
        "learning_rate": _LR,
        "max_leaf_nodes": ("intlog", 8, 128),
        "max_depth": ("choice", [None, 4, 8, 12]),
        "min_samples_leaf": ("intlog", 5, 100),
        "l2_regularization": ("choice", [0.0, 0.01, 0.1, 1.0]),
        "max_iter": ("choice", [50, 100, 200]),
    },
    "lightgbm": {
        "learning_rate": _LR,
        "num_leaves": ("intlog", 8, 128),
        "max_depth": ("choice", [-1, 4, 8, 12]),
        "min_child_samples": ("intlog", 5, 100),
        "n_estimators": ("choice", [50, 100, 200]),
        "colsample_bytree": ("choice", [0.6, 0.8, 1.0]),
        "reg_lambda": ("choice", [0.0, 0.1, 1.0]),
    },
    "xgboost": {
        "learning_rate": _LR,
        "max_depth": ("int", 3, 10),
        "n_estimators": ("choice", [50, 100, 200]),
        "subsample": ("choice", [0.7, 0.85, 1.0]),
        "colsample_bytree": ("choice", [0.6, 0.8, 1.0]),
        "min_child_weight": ("intlog", 1, 20),
    },
    "random_forest": _TREES,
    "extra_trees": _TREES,
    "gradient_boosting": {
        "learning_rate": _LR,
        "n_estimators": ("choice", [50, 100, 200]),
        "max_depth": ("int", 2, 6),
        "subsample": ("choice", [0.7, 1.0]),
    },
    "decision_tree": {"max_depth": ("choice", [None, 4, 8, 16]), "min_samples_leaf": ("intlog", 1, 50)},
    "logistic_regression": {"C": ("log", 1e-3, 1e2)},
    "ridge": {"alpha": ("log", 1e-3, 1e2)},
    "lasso": {"alpha": ("log", 1e-4, 10.0)},
    "elastic_net": {"alpha": ("log", 1e-4, 10.0), "l1_ratio": ("float", 0.1, 0.9)},
    "knn": {"n_neighbors": ("intlog", 3, 50), "weights": ("choice", ["uniform", "distance"])},
    "svc": {"C": ("log", 1e-2, 1e2), "gamma": ("choice", ["scale", "auto"])},
    "svr": {"C": ("log", 1e-2, 1e2), "epsilon": ("log", 1e-3, 1.0)},
}


@dataclass
class LeaderboardEntry:
    """One evaluated candidate. ``rank`` is 1-based among complete entries (None: failed)."""

    rank: int | None
    model: str
    preprocess: str
    params: dict[str, Any]
    scores: dict[str, float]
    value: float | None
    seconds: float
    trial_spec: TrainSpec
    number: int = 0
    state: str = "complete"
    error: str | None = None

    def to_row(self) -> dict[str, Any]:
        """Plain data for a table or a JSON artifact."""
        return {
            "rank": self.rank,
            "number": self.number,
            "model": self.model,
            "preprocess": self.preprocess,
            "params": dict(self.params),
            "value": self.value,
            "scores": dict(self.scores),
            "seconds": round(self.seconds, 3),
            "state": self.state,
            "error": self.error,
        }


@dataclass
class AutoMLResult:
    """Complete candidates best first, the failed ones, the best and the baseline entries."""

    leaderboard: list[LeaderboardEntry]
    best: LeaderboardEntry
    baseline: LeaderboardEntry
    metric: str
    direction: str
    elapsed: float
    failed: list[LeaderboardEntry] = field(default_factory=list)

    def to_rows(self, include_failed: bool = True) -> list[dict[str, Any]]:
        """The leaderboard as plain dicts (failed candidates last, rank None)."""
        entries = self.leaderboard + (self.failed if include_failed else [])
        return [entry.to_row() for entry in entries]


@dataclass
class _Candidate:
    number: int
    model: str
    params: dict[str, Any]
    spec: TrainSpec
    default: bool


def _summary(pre: PreprocessSpec) -> str:
    return f"encode={pre.encode}, scale={pre.scale}"


def _draw(rng: random.Random, rule: tuple[Any, ...]) -> Any:
    kind = rule[0]
    if kind == "choice":
        return rng.choice(rule[1])
    low, high = rule[1], rule[2]
    if kind == "log":
        return float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.3g}")
    if kind == "float":
        return round(rng.uniform(low, high), 3)
    if kind == "intlog":
        return round(math.exp(rng.uniform(math.log(low), math.log(high))))
    return rng.randint(low, high)


_Config = tuple[str, dict[str, Any], PreprocessSpec]  # model family, params, preprocessing


class _Planner:
    """The ordered stream of candidate configurations; adapts to the scores recorded so far."""

    def __init__(
        self,
        families: list[str],
        base: PreprocessSpec,
        categorical: bool,
        seed: int,
        direction: str,
        tabular: bool = True,
    ) -> None:
        self.families = families
        self.base = base
        self.categorical = categorical and tabular
        self.tabular = tabular
        self.rng = random.Random(seed)
        self.direction = direction
        self.best: dict[str, float] = {}
        self.failed: set[str] = set()
        self.seen: set[str] = set()

    def record(self, family: str, value: float | None, is_default: bool) -> None:
        if value is None:
            if is_default:
                self.failed.add(family)
            return
        old = self.best.get(family)
        if old is None or (value > old if self.direction == "maximize" else value < old):
            self.best[family] = value

    def _preprocess(self, family: str, encode: str | None = None, scale: str | None = None) -> PreprocessSpec:
        if not self.tabular:  # the task prepares its own inputs
            return self.base
        default_scale = (
            _SCALED[family][0] if family in _SCALED and self.base.scale == "none" else self.base.scale
        )
        return replace(self.base, encode=encode or self.base.encode, scale=scale or default_scale)

    def _new(self, family: str, params: dict[str, Any], pre: PreprocessSpec) -> _Config | None:
        key = json.dumps([family, params, pre.encode, pre.scale], sort_keys=True, default=str)
        if key in self.seen:
            return None
        self.seen.add(key)
        return family, params, pre

    def _sample(self, family: str) -> _Config | None:
        encodes = ["onehot", "ordinal"] if self.categorical else [self.base.encode]
        scales = (list(_SCALED.get(family, ())) if self.tabular else []) or [self.base.scale]
        ranges = SEARCH_RANGES.get(family, {})
        for _ in range(20):
            params = {name: _draw(self.rng, rule) for name, rule in ranges.items()}
            pre = self._preprocess(family, self.rng.choice(encodes), self.rng.choice(scales))
            found = self._new(family, params, pre)
            if found is not None:
                return found
        return None

    def _ranked(self) -> list[str]:
        done = sorted(self.best, key=self.best.__getitem__, reverse=self.direction == "maximize")
        waiting = [f for f in self.families if f not in self.best and f not in self.failed]
        return done + waiting

    def __iter__(self) -> Iterator[_Config]:
        for family in self.families:
            found = self._new(family, {}, self._preprocess(family))
            if found is not None:
                yield found
        idle = 0
        while idle < 2:
            produced = 0
            for position, family in enumerate(self._ranked()):
                for _ in range(2 if position == 0 else 1):
                    found = self._sample(family)
                    if found is not None:
                        produced += 1
                        yield found
            idle = 0 if produced else idle + 1


def _families(task: Task, candidates: Sequence[str] | None) -> list[str]:
    names = list(candidates) if candidates is not None else list(task.candidate_models())
    names = [n for n in dict.fromkeys(names) if n not in _OPTIONAL or importlib.util.find_spec(_OPTIONAL[n])]
    if not names:
        default = task.default_model()
        names = [default] if default else []
    if not names:
        raise InvalidInput(f"task {task.name!r} has no candidate models for AutoML", field="candidates")
    first = next((n for n in _BASELINES if n in names), None)
    if first is None and task.default_model() in names:
        first = task.default_model()
    if first is not None:
        names.remove(first)
        names.insert(0, first)
    return names


def _close(results: Iterator[Any]) -> None:
    close = getattr(results, "close", None)
    if callable(close):
        close()


def _evaluate_candidate(candidate: _Candidate, **kwargs: Any) -> TrialOutcome:
    """Evaluate one candidate (runs in the worker)."""
    return evaluate_spec(candidate.spec, **kwargs)


def _rank(entries: list[LeaderboardEntry], direction: str) -> list[LeaderboardEntry]:
    sign = -1.0 if direction == "maximize" else 1.0
    ordered = sorted(entries, key=lambda e: (sign * float(e.value), e.number))  # type: ignore[arg-type]
    return [replace(entry, rank=i) for i, entry in enumerate(ordered, start=1)]


def run_automl(
    task: Task,
    frame: pd.DataFrame,
    *,
    target: str | None,
    base_spec: TrainSpec,
    scorer: Scorer,
    time_budget: float,
    executor: Executor | None = None,
    on_trial: Callable[[LeaderboardEntry], None] | None = None,
    progress: ProgressFn | None = None,
    candidates: Sequence[str] | None = None,
    load: Callable[[], pd.DataFrame] | None = None,
    max_trials: int | None = None,
) -> AutoMLResult:
    """Find a good model for ``frame`` within ``time_budget`` seconds of wall clock.

    Args:
        task: the task plugin; ``frame``: the data; ``scorer``: metrics of one test fold.
        target: the label column (overrides ``base_spec.target``; None keeps it).
        base_spec: split, features, preprocessing defaults, seed and metric (``search.metric``
            / ``direction`` when set); its model is replaced by each candidate's. A default
            split is replaced by the task's ``default_split()``.
        time_budget: seconds for the whole search; running candidates are stopped at the end.
        executor: where candidates run; None = one worker process owned by this call (so the
            budget can be enforced by killing it). An in-process executor stops a running
            candidate only between folds.
        on_trial: called in this process for every finished candidate (rank None), in order.
        progress: ``progress("automl", seconds elapsed, time_budget)`` after every candidate.
        candidates: model names to try (default ``task.candidate_models()``); lightgbm and
            xgboost are skipped when not installed.
        load: how a worker elsewhere reads ``frame`` itself (never shipped then).
        max_trials: stop after this many candidates.

    Returns:
        The leaderboard (best first), best, baseline, metric and direction; the caller refits
        ``best.trial_spec`` on all rows and stores it.

    Raises:
        InvalidInput: bad budget or candidates, or no candidate finished (every one failed, or
            the budget is too small for the baseline).
    """
    from carnet.training.preprocess import column_kinds
    from carnet.training.spec import validate_against_data

    start = time.monotonic()
    if not time_budget > 0:
        raise InvalidInput(f"time_budget must be > 0 seconds, got {time_budget}", field="time_budget")
    if max_trials is not None and max_trials < 1:
        raise InvalidInput(f"max_trials must be >= 1, got {max_trials}", field="max_trials")
    spec = base_spec if target is None else replace(base_spec, target=target)
    if spec.split == SplitSpec():
        spec = replace(spec, split=default_split(task))
    metric, direction = metric_direction(task, spec)
    spec = replace(spec, model=None, search=None)
    features = validate_against_data(spec, task, frame)
    kinds = column_kinds(frame, features, spec.task_options.get("date_columns", ()))
    families = _families(task, candidates)
    tabular = bool(getattr(task, "tabular", True))
    planner = _Planner(families, spec.preprocess, bool(kinds["categorical"]), spec.seed, direction, tabular)

    owned = executor is None
    runner: Executor = executor or LocalProcessExecutor(1)
    deadline = start + float(time_budget)
    fn = partial(
        _evaluate_candidate,
        task=task,
        frame=frame if runner.in_process or load is None else None,
        load=None if runner.in_process else load,
        scorer=scorer,
        features=features,
        metric=metric,
        deadline=deadline if runner.in_process else None,
    )
    plan: list[_Candidate] = []
    dispatched: list[float] = []

    def stream() -> Iterator[_Candidate]:
        for family, params, pre in planner:
            if max_trials is not None and len(plan) >= max_trials:
                return
            trial = replace(spec, model=ModelSpec(family, dict(params)), preprocess=pre)
            plan.append(_Candidate(len(plan), family, dict(params), trial, len(plan) < len(families)))
            dispatched.append(time.monotonic())
            yield plan[-1]

    entries: list[LeaderboardEntry] = []
    results = runner.map_unordered(fn, stream(), deadline=deadline)
    try:
        for candidate, outcome in results:
            if isinstance(outcome, BaseException):
                error = TIMEOUT_ERROR if isinstance(outcome, DeadlineExceeded) else one_line(outcome)
                outcome = TrialOutcome(
                    "failed", {}, None, time.monotonic() - dispatched[candidate.number], error
                )
            value = outcome.value if outcome.state == "complete" else None
            planner.record(candidate.model, value, candidate.default)
            entry = LeaderboardEntry(
                rank=None,
                model=candidate.model,
                preprocess=_summary(candidate.spec.preprocess),
                params=candidate.params,
                scores=outcome.scores,
                value=value,
                seconds=outcome.seconds,
                trial_spec=candidate.spec,
                number=candidate.number,
                state="complete" if value is not None else "failed",
                error=None if value is not None else outcome.error or outcome.state,
            )
            entries.append(entry)
            if on_trial is not None:
                on_trial(entry)
            if progress is not None:
                progress("automl", min(int(time.monotonic() - start), int(time_budget)), int(time_budget))
    finally:
        _close(results)  # on an error, cancel (kill) what still runs
        if owned:
            runner.shutdown(kill=True)

    complete = [e for e in entries if e.state == "complete"]
    failed = sorted((e for e in entries if e.state != "complete"), key=lambda e: e.number)
    if not complete:
        errors = [e.error for e in failed if e.error and e.error != TIMEOUT_ERROR]
        if errors:
            raise InvalidInput(
                f"every AutoML candidate failed; the first error: {errors[0]}", field="candidates"
            )
        raise InvalidInput(
            f"no candidate finished within the time budget of {time_budget:g}s "
            f"(the baseline {families[0]} needs longer); raise the time budget",
            field="time_budget",
        )
    leaderboard = _rank(complete, direction)
    baseline = min(leaderboard, key=lambda e: e.number)  # the first planned candidate that finished
    return AutoMLResult(
        leaderboard=leaderboard,
        best=leaderboard[0],
        baseline=baseline,
        metric=metric,
        direction=direction,
        elapsed=time.monotonic() - start,
        failed=failed,
    )
