"""The evaluation entry points: ``evaluate`` (metrics, intervals, details, plots) and ``score``."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from carnet.domain.evaluation import EvaluationResult, Plot
from carnet.domain.training import Predictions
from carnet.errors import InvalidInput, MetricUnavailable
from carnet.evaluation._common import Impl, quiet
from carnet.evaluation.catalog import check_family, get_metric
from carnet.evaluation.resampling import run_bootstrap

__all__ = [
    "MIN_BOOTSTRAP_ROWS",
    "Offload",
    "PendingEvaluation",
    "begin_evaluation",
    "draw_plots",
    "evaluate",
    "prepare",
    "score",
    "score_all",
]

#: below this many rows (users) no bootstrap interval is computed
MIN_BOOTSTRAP_ROWS = 20
_IMPORTANCE_SCORING = {"classification": "accuracy", "regression": "r2"}


@dataclass(frozen=True)
class _Family:
    prepare: Callable[..., Any]
    impls: dict[str, Impl]
    details: Callable[[Any], dict[str, Any]]
    defaults: Callable[[Any], list[str]]
    plots: Callable[[Any, dict[str, Any], int], list[Plot]]


@functools.cache
def _family(name: str) -> _Family:
    """The implementation of family ``name`` (its modules are imported on first use)."""
    from carnet.evaluation import plots as p
    from carnet.evaluation import plots_other as po
    from carnet.evaluation.catalog import default_metrics

    if name == "multitask":
        from carnet.evaluation import multitask as mt

        return _Family(
            functools.partial(mt.prepare, resolve=_family), mt.IMPLS, mt.details, mt.defaults, mt.plots
        )

    def fixed(family: str) -> Callable[[Any], list[str]]:
        return lambda _data: default_metrics(family)

    if name == "classification":
        from carnet.evaluation import classification_details as cd
        from carnet.evaluation import metrics_classification as c

        return _Family(
            c.prepare, c.IMPLS, cd.details, c.defaults, lambda d, det, s: p.classification_plots(d, det)
        )
    if name in ("regression", "forecasting"):
        from carnet.evaluation import metrics_regression as r

        if name == "regression":
            return _Family(
                r.prepare,
                r.IMPLS,
                r.regression_details,
                fixed(name),
                lambda d, det, s: p.regression_plots(d, s),
            )
        return _Family(
            r.prepare_forecast,
            r.FORECAST_IMPLS,
            r.forecast_details,
            fixed(name),
            lambda d, det, s: po.forecast_plots(d),
        )
    if name == "recommendation":
        from carnet.evaluation import metrics_ranking as k

        return _Family(
            k.prepare, k.IMPLS, k.details, fixed(name), lambda d, det, s: po.recommendation_plots(d, det)
        )
    from carnet.evaluation import metrics_unsupervised as u

    if name == "clustering":
        return _Family(
            u.prepare_clustering,
            u.CLUSTERING_IMPLS,
            u.clustering_details,
            fixed(name),
            lambda d, det, s: po.clustering_plots(d, det),
        )
    if name == "anomaly":
        return _Family(
            u.prepare_anomaly,
            u.ANOMALY_IMPLS,
            u.anomaly_details,
            fixed(name),
            lambda d, det, s: po.anomaly_plots(d),
        )
    return _Family(u.prepare_dim, u.DIM_IMPLS, u.dim_details, fixed(name), lambda d, det, s: po.dim_plots(d))


def _check_predictions(predictions: Any) -> None:
    if not isinstance(predictions, Predictions):
        raise InvalidInput(
            f"predictions must be a carnet Predictions, got {type(predictions).__name__}", field="predictions"
        )


def _prepare(
    family: str, truth: Any, predictions: Any, options: dict[str, Any] | None, X: Any, fitted: Any, seed: int
) -> tuple[_Family, Any]:
    check_family(family)
    _check_predictions(predictions)
    if options is not None and not isinstance(options, dict):
        raise InvalidInput("options must be a dict", field="options")
    impl = _family(family)
    with quiet():
        data = impl.prepare(truth, predictions, dict(options or {}), X=X, fitted=fitted, seed=seed)
    return impl, data


def prepare(
    family: str,
    truth: Any,
    predictions: Any,
    options: dict[str, Any] | None = None,
    *,
    X: Any = None,
    fitted: Any = None,
    seed: int = 0,
) -> tuple[Any, Any]:
    """A family's metric implementations (``.impls[name].point`` / ``.batch``) and its
    validated inputs, for callers that resample on their own (e.g. a paired bootstrap)."""
    return _prepare(family, truth, predictions, options, X, fitted, seed)


def score(
    family: str,
    name: str,
    truth: Any,
    predictions: Predictions,
    options: dict[str, Any] | None = None,
    *,
    X: Any = None,
    fitted: Any = None,
) -> float:
    """One metric, fast: no intervals, details or plots.

    Returns NaN when the metric is undefined on these data (e.g. AUC with one class).

    Raises:
        InvalidInput: unknown family (``family``) or metric (``metrics``), inconsistent
            inputs (the field named), or the metric cannot be computed from them
            (``MetricUnavailable``, e.g. no ``y_score`` for ``roc_auc``).
    """
    get_metric(family, name)
    impl, data = _prepare(family, truth, predictions, options, X, fitted, 0)
    with quiet():
        return float(impl.impls[name].point(data))


def score_all(
    family: str,
    names: Sequence[str],
    truth: Any,
    predictions: Predictions,
    options: dict[str, Any] | None = None,
    *,
    X: Any = None,
    fitted: Any = None,
    strict: bool = False,
) -> dict[str, float]:
    """Several metrics over one validation pass.

    Metrics that cannot be computed from the inputs are left out (``strict=False``) or raise
    ``MetricUnavailable`` (``strict=True``); undefined values are NaN.
    """
    for name in names:
        get_metric(family, name)
    impl, data = _prepare(family, truth, predictions, options, X, fitted, 0)
    out: dict[str, float] = {}
    with quiet():
        for name in names:
            try:
                out[name] = float(impl.impls[name].point(data))
            except MetricUnavailable:
                if strict:
                    raise
    return out


def _check_settings(bootstrap: int, confidence: float, metrics: Sequence[str] | None) -> None:
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0:
        raise InvalidInput(f"bootstrap must be an integer >= 0, got {bootstrap!r}", field="bootstrap")
    if not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise InvalidInput(f"confidence must be in (0, 1), got {confidence!r}", field="confidence")
    if isinstance(metrics, str):
        raise InvalidInput("metrics must be a list of metric names, not a string", field="metrics")


def _n_rows(X: Any) -> int:
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None else len(X)


class Offload(Protocol):
    """Where plots and permutation importance may run meanwhile (e.g. a helper process)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule ``fn(*args, **kwargs)``; the future holds its result or exception."""
        ...


def evaluate(
    family: str,
    truth: Any,
    predictions: Predictions,
    *,
    metrics: Sequence[str] | None = None,
    X: Any = None,
    fitted: Any = None,
    options: dict[str, Any] | None = None,
    bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    plots: bool = True,
    interval_metrics: Sequence[str] | None = None,
) -> EvaluationResult:
    """Score ``predictions`` against ``truth`` as metric family ``family``.

    Args:
        family: one of ``carnet.plugins.api.EVALUATION_FAMILIES``.
        truth: what the task's ``truth()`` returns (labels, values, ``{user: items}``, or None).
        predictions: the task's ``Predictions`` for the same rows.
        metrics: headline metric names (None = the family defaults for these data). Metrics
            that cannot be computed from the inputs are skipped with a note.
        X: feature rows: the raw feature frame for permutation importance (classification,
            regression); the matrix clustering / dim_reduction metrics use when the task gives
            no ``predictions.extra["embedding_input"]``.
        fitted: the fitted model or pipeline (permutation importance, explained variance).
        options: family options (``k``, ``n_items``, ``season_length``, ``importance`` False to
            skip permutation importance, ``importance_scoring``, ``importance_rows``,
            ``importance_repeats``, ...); unknown keys are ignored.
        bootstrap: resamples for percentile intervals (0 = none); skipped below 20 rows.
        confidence: interval level.
        seed: seeds resampling, sampling and permutations: results are deterministic.
        plots: draw PNG plots.
        interval_metrics: the headline metrics that get bootstrap intervals (None = every
            metric that supports them).

    Raises:
        InvalidInput: unknown family or metric, inconsistent lengths or shapes (field named).
    """
    return begin_evaluation(
        family,
        truth,
        predictions,
        metrics=metrics,
        X=X,
        fitted=fitted,
        options=options,
        bootstrap=bootstrap,
        confidence=confidence,
        seed=seed,
        plots=plots,
        interval_metrics=interval_metrics,
    ).result()


def begin_evaluation(
    family: str,
    truth: Any,
    predictions: Predictions,
    *,
    metrics: Sequence[str] | None = None,
    X: Any = None,
    fitted: Any = None,
    options: dict[str, Any] | None = None,
    bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    plots: bool = True,
    interval_metrics: Sequence[str] | None = None,
    offload: Offload | None = None,
) -> PendingEvaluation:
    """:func:`evaluate` in two steps, so the caller can do other work before ``.result()``.

    With ``offload``, plots and permutation importance are submitted to it first and run
    there while metrics and intervals are computed here; the result is identical to
    :func:`evaluate`'s. Whatever the offload cannot run (it is gone, an input does not
    pickle) is computed here by ``.result()``. Arguments and errors as :func:`evaluate`.
    """
    _check_settings(bootstrap, confidence, metrics)
    check_family(family)
    if metrics is not None:
        for name in metrics:
            get_metric(family, name)
    impl, data = _prepare(family, truth, predictions, options, X, fitted, seed)
    opts = dict(options or {})
    if X is not None and family in _IMPORTANCE_SCORING and _n_rows(X) != data.n:
        raise InvalidInput(f"length mismatch: X has {_n_rows(X)} rows but truth has {data.n}", field="X")
    with quiet():
        details = impl.details(data)
    pending = PendingEvaluation(family, data, details, seed, plots, offload)
    if plots and offload is not None:
        pending.plots = _offer(offload, _draw, family, data, details, seed)
    wants_importance = fitted is not None and X is not None and opts.get("importance", True)
    if family in _IMPORTANCE_SCORING and wants_importance:
        pending.importance = _Importance(
            fitted,
            X,
            truth,
            opts.get("importance_scoring", _IMPORTANCE_SCORING[family]),
            seed,
            int(opts.get("importance_repeats", 5)),
            int(opts.get("importance_rows", 2000)),
        )
    names = list(dict.fromkeys(metrics if metrics is not None else impl.defaults(data)))
    values: dict[str, float] = {}
    skipped: dict[str, list[str]] = {}
    with quiet():
        for name in names:
            try:
                values[name] = float(impl.impls[name].point(data))
            except MetricUnavailable as exc:
                reason = exc.message.split(" is unavailable: ", 1)[-1]
                skipped.setdefault(reason, []).append(name)
    notes = [f"skipped {', '.join(v)}: {reason}" for reason, v in skipped.items()]
    wanted = {k: v for k, v in values.items() if interval_metrics is None or k in interval_metrics}
    intervals, more = bootstrap_intervals(family, impl, data, wanted, bootstrap, confidence, seed)
    notes += more
    pending.base = EvaluationResult(
        family=family,
        n=data.n,
        metrics=values,
        intervals=intervals,
        details=details,
        plots=[],
        confidence=float(confidence),
        bootstrap=bootstrap if intervals else 0,
        greater_is_better={name: get_metric(family, name).greater_is_better for name in values},
        notes=notes,
    )
    return pending


def bootstrap_intervals(
    family: str,
    impl: Any,
    data: Any,
    values: Mapping[str, float],
    bootstrap: int,
    confidence: float,
    seed: int,
    *,
    metric_names: Mapping[str, str] | None = None,
) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Bootstrap intervals of the finite ``values`` whose metric supports resampling, and notes.

    ``metric_names`` maps a key of ``values`` to carnet's metric name when they differ.
    """
    if not bootstrap:
        return {}, []
    if data.n < MIN_BOOTSTRAP_ROWS:
        return {}, [f"no confidence intervals: {data.n} rows, fewer than {MIN_BOOTSTRAP_ROWS}"]
    names = metric_names or {}
    batches = {
        key: functools.partial(batch, data)
        for key, value in values.items()
        if (batch := impl.impls[names.get(key, key)].batch) is not None
        and get_metric(family, names.get(key, key)).bootstrap
        and math.isfinite(value)
    }
    return run_bootstrap(data.n, batches, bootstrap, float(confidence), seed)


def draw_plots(family: str, data: Any, details: dict[str, Any], seed: int) -> list[Plot]:
    """The family's plots of prepared ``data``."""
    with quiet():
        return _family(family).plots(data, details, seed)


def _draw(family: str, data: Any, details: dict[str, Any], seed: int) -> tuple[list[Plot], list[str]]:
    """:func:`draw_plots` plus the notes drawing added to ``data`` (lost with an offloaded copy)."""
    before = len(data.notes)
    drawn = draw_plots(family, data, details, seed)
    return drawn, list(data.notes[before:])


def _offer(offload: Offload, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any] | None:
    """Submit to ``offload``; None when it refuses at once (the caller computes it)."""
    try:
        return offload.submit(fn, *args, **kwargs)
    except Exception:  # noqa: BLE001 - an offload is an optimisation, never a failure
        return None


class _Call:
    """A call to make here, unless an offloaded copy of it already succeeded."""

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None = None,
        future: Future[Any] | None = None,
    ) -> None:
        self.fn, self.args, self.kwargs, self.future = fn, args, kwargs or {}, future

    def run(self) -> Any:
        if self.future is not None:
            try:
                return self.future.result()
            except Exception:  # noqa: BLE001 - recomputed here: same inputs, same result or error
                pass
        return self.fn(*self.args, **self.kwargs)


@dataclass(frozen=True)
class _Importance:
    fitted: Any
    X: Any
    truth: Any
    scoring: str | None
    seed: int
    n_repeats: int
    max_rows: int


class PendingEvaluation:
    """An evaluation whose plots may still be drawing elsewhere; :meth:`result` completes it.

    Permutation importance runs in :meth:`result` (in this process, where the model's
    libraries are loaded); only its chart goes to the offload.
    """

    def __init__(
        self, family: str, data: Any, details: dict[str, Any], seed: int, plots: bool, offload: Offload | None
    ) -> None:
        self.family, self.data, self.details, self.seed = family, data, details, seed
        self.draw, self.offload = plots, offload
        self.base: EvaluationResult | None = None
        self.plots: Future[Any] | None = None
        self.importance: _Importance | None = None

    def result(self) -> EvaluationResult:
        """The complete result: computes importance, waits for offloaded parts (or draws them here)."""
        from carnet.evaluation.importance import importance_plot, permutation_importance_table

        result = self.base
        assert result is not None, "begin_evaluation fills base before returning"
        chart: _Call | None = None
        imp = self.importance
        if imp is not None:
            try:
                with quiet():
                    table, rows = permutation_importance_table(
                        imp.fitted,
                        imp.X,
                        imp.truth,
                        imp.scoring,
                        imp.seed,
                        imp.n_repeats,
                        max_rows=imp.max_rows,
                    )
            except Exception as exc:  # noqa: BLE001 - user model code: report, do not fail the evaluation
                result.notes.append(f"permutation importance failed: {type(exc).__name__}: {exc}")
            else:
                result.details["permutation_importance"] = table
                if self.draw:
                    args = (table, imp.scoring, imp.n_repeats, rows)
                    future = _offer(self.offload, importance_plot, *args) if self.offload else None
                    chart = _Call(importance_plot, args, None, future)
        if self.draw:
            call = _Call(_draw, (self.family, self.data, self.details, self.seed), None, self.plots)
            drawn, notes = call.run()
            result.plots = [*drawn, *([chart.run()] if chart is not None else [])]
            self.data.notes.extend(notes)
        result.notes = list(dict.fromkeys([*self.data.notes, *result.notes]))
        return result
