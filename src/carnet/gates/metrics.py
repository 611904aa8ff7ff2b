"""Metric gates: a threshold on one metric, and non-inferiority against the incumbent.

Both compute metrics with :mod:`carnet.evaluation` on the policy's evaluation data. The
non-regression gate uses a *paired* bootstrap: every resample draws the same rows for the
candidate and the incumbent, so the noise both models share cancels out of the difference.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from carnet.domain.policies import GateResult
from carnet.errors import CarnetError, InvalidInput
from carnet.gates.runner import reject_unknown, setting_number

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from carnet.evaluation.catalog import Metric
    from carnet.gates.context import GateContext

__all__ = ["MetricGate", "NonRegressionGate", "compare_metrics", "parse_condition"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CONDITION = re.compile(rf"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|==|>|<)\s*({_NUMBER})\s*$")
#: a metric name, or a multitask model's ``target.metric``
_METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def parse_condition(text: Any) -> tuple[str, str, float]:
    """``"roc_auc >= 0.85"`` as ``("roc_auc", ">=", 0.85)``.

    Raises:
        InvalidInput: (field ``condition``) it is not ``METRIC OP NUMBER`` with OP one of
            ``>= > <= < ==``.
    """
    match = _CONDITION.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(
            f"condition must read METRIC OP NUMBER with OP one of {' '.join(_OPS)}, "
            f'e.g. "roc_auc >= 0.85"; got {text!r}',
            field="condition",
        )
    return match.group(1), match.group(2), float(match.group(3))


def _fmt(value: float) -> str:
    """A metric value for the results table: 4 significant digits, no exponent for large values."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _signed(value: float) -> str:
    """A difference for the results table: sign and 4 decimals."""
    return f"{value:+.4f}" if abs(value) < 1e4 else f"{value:+.0f}"


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, CarnetError) else f"{type(exc).__name__}: {exc}"


def _known_metric(ctx: GateContext, name: str) -> Metric:
    """The metric ``name`` of the task's family, or InvalidInput listing the known ones."""
    from carnet.evaluation.catalog import get_metric, metric_names

    family = ctx.task.family
    try:
        metric = get_metric(family, name)
    except InvalidInput:
        metric = None
    if metric is None:
        raise InvalidInput(
            f"unknown {family} metric {name!r} for task {ctx.task.name!r}; "
            f"known: {', '.join(metric_names(family))}",
            field="metric",
        )
    return metric


def _model_predictions(ctx: GateContext, which: str, frame: pd.DataFrame | None = None) -> Any:
    """Predictions of the candidate or the incumbent, each on its own input columns, on the
    evaluation frame (cached) or on ``frame`` (some of its rows)."""
    version = ctx.incumbent_version if which == "incumbent" else None
    columns = version.signature.input_names() if version is not None else []
    if not columns or columns == ctx.features:
        return ctx.predictions(which) if frame is None else ctx.predict(frame, which)
    data = ctx.require_data() if frame is None else frame
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise InvalidInput(
            f"the evaluation data lacks the incumbent's input columns {', '.join(missing[:10])}",
            field="evaluation_data",
        )
    return ctx.task.predict(ctx.incumbent, data[columns], ctx.options)


class _Scored:
    """One model's metric on the evaluation rows (or on ``frame``, some of them): point value and
    bootstrap batches."""

    def __init__(
        self, ctx: GateContext, metric: Metric, which: str, frame: pd.DataFrame | None = None
    ) -> None:
        import numpy as np

        from carnet.evaluation.engine import prepare

        model = ctx.incumbent if which == "incumbent" else ctx.candidate
        X = ctx.X(frame) if "X" in metric.needs else None
        fitted = model if "fitted" in metric.needs else None
        predictions = _model_predictions(ctx, which, frame)
        family, data = prepare(
            metric.family, ctx.truth(frame), predictions, ctx.options, X=X, fitted=fitted, seed=ctx.seed
        )
        impl = family.impls[metric.name]
        with np.errstate(all="ignore"):
            self.value = float(impl.point(data))
        self.n = int(data.n)
        self.notes: list[str] = list(data.notes)
        self.batch: Callable[[np.ndarray], np.ndarray] | None = None
        if impl.batch is not None and metric.bootstrap:
            self.batch = functools.partial(impl.batch, data)


def _bootstrap_note(metric: Metric, *scored: _Scored) -> str | None:
    """Why the rows cannot be resampled for ``metric`` (None when they can)."""
    from carnet.evaluation.engine import MIN_BOOTSTRAP_ROWS

    if any(s.batch is None for s in scored):
        return f"{metric.name} does not support resampling"
    n = scored[0].n
    if n < MIN_BOOTSTRAP_ROWS:
        return f"{n} rows, fewer than {MIN_BOOTSTRAP_ROWS}"
    return None


class MetricGate:
    """A threshold on one metric of the candidate on the evaluation data."""

    name = "metric"
    description = "one metric of the candidate on the evaluation data meets a threshold, e.g. roc_auc >= 0.85"

    _SETTINGS = ("condition", "metric", "op", "value", "bootstrap", "confidence")

    def _condition(self, config: dict[str, Any]) -> tuple[str, str, float]:
        """(metric, op, threshold) from either form of the settings; InvalidInput names the field."""
        if "condition" in config:
            if any(k in config for k in ("metric", "op", "value")):
                raise InvalidInput(
                    'give either condition: "METRIC OP NUMBER" or metric, op and value, not both',
                    field="condition",
                )
            return parse_condition(config["condition"])
        if "metric" not in config:
            raise InvalidInput(
                'a metric gate needs condition: "roc_auc >= 0.85" (or metric, op and value)',
                field="condition",
            )
        name, op = config["metric"], config.get("op")
        if not isinstance(name, str) or not _METRIC_NAME.match(name):
            raise InvalidInput(f"metric must be a metric name such as roc_auc, got {name!r}", field="metric")
        if op not in _OPS:
            raise InvalidInput(f"op must be one of {', '.join(_OPS)}, got {op!r}", field="op")
        if "value" not in config:
            raise InvalidInput("a metric gate with metric and op needs value: a number", field="value")
        value = setting_number(config, "value", 0.0)
        return name, op, float(value)

    def validate(self, config: dict[str, Any]) -> None:
        """Check the settings' syntax; the metric name is checked against the task at ``check``."""
        reject_unknown(config, self._SETTINGS, "metric")
        self._condition(config)
        setting_number(config, "bootstrap", 200, minimum=0, integer=True)
        setting_number(config, "confidence", 0.95, minimum=0, maximum=1, open_interval=True)

    def check(self, config: dict[str, Any], ctx: GateContext) -> GateResult:
        """Compute the metric for the candidate and compare it with the threshold."""
        name, op, limit = self._condition(config)
        label, threshold = f"metric {name}", f"{op} {limit:g}"
        resamples = int(setting_number(config, "bootstrap", 200, minimum=0, integer=True))
        confidence = float(
            setting_number(config, "confidence", 0.95, minimum=0, maximum=1, open_interval=True)
        )
        details: dict[str, Any] = {"metric": name, "op": op, "threshold": limit}
        if ctx.task.family == "rl":  # a policy is judged by playing it
            from carnet.gates.rl import rl_metric

            return rl_metric(ctx, config, name, lambda v: _OPS[op](v, limit), label, threshold)
        try:
            metric = _known_metric(ctx, name)
            scored = _Scored(ctx, metric, "candidate")
        except Exception as exc:  # noqa: BLE001 - a model or data problem fails the gate, never raises
            return GateResult(
                label, self.name, False, threshold=threshold, details=details, error=_message(exc)
            )
        value = scored.value
        details.update(value=value, n_rows=scored.n, greater_is_better=metric.greater_is_better)
        notes = scored.notes
        why = _bootstrap_note(metric, scored)
        if resamples and why is None and scored.batch is not None:
            from carnet.evaluation.resampling import run_bootstrap

            intervals, more = run_bootstrap(scored.n, {name: scored.batch}, resamples, confidence, ctx.seed)
            notes += more
            if name in intervals:
                details.update(ci=list(intervals[name]), confidence=confidence, bootstrap=resamples)
        elif resamples:
            notes.append(f"no confidence interval: {why}")
        if notes:
            details["notes"] = notes
        if not math.isfinite(value):
            return GateResult(
                label, self.name, False, _fmt(value), threshold, None, details,
                error=f"{name} is undefined on the evaluation data (e.g. a single class present)",
            )  # fmt: skip
        return GateResult(label, self.name, _OPS[op](value, limit), _fmt(value), threshold, value, details)


class NonRegressionGate:
    """Non-inferiority of the candidate to the incumbent, by a paired bootstrap on the same rows,
    on the whole evaluation data and on each pinned slice of it."""

    name = "non_regression"
    description = (
        "the candidate is not worse than the version holding the alias (or, for a derived model, "
        "its parent) by more than a margin (lower bound of a paired bootstrap confidence interval "
        "of the difference), on the evaluation data and on each of its pinned slices"
    )

    _SETTINGS = ("metric", "margin", "confidence", "n_bootstrap", "against", "slices")

    def validate(self, config: dict[str, Any]) -> None:
        """Check the settings; the metric name is checked against the task at ``check``."""
        from carnet.gates.slices import parse_slices

        reject_unknown(config, self._SETTINGS, "non_regression")
        against = config.get("against")
        if against is not None and against not in ("parent", "alias"):
            raise InvalidInput(
                "against must be parent (the model a derived version started from) or alias, "
                f"got {against!r}",
                field="against",
            )
        name = config.get("metric")
        if name is not None and (not isinstance(name, str) or not _METRIC_NAME.match(name)):
            raise InvalidInput(f"metric must be a metric name such as roc_auc, got {name!r}", field="metric")
        self._settings(config)
        parse_slices(config.get("slices"))

    @staticmethod
    def _settings(config: dict[str, Any]) -> tuple[float, float, int]:
        margin = setting_number(config, "margin", 0.005, minimum=0)
        confidence = setting_number(config, "confidence", 0.95, minimum=0, maximum=1, open_interval=True)
        resamples = setting_number(config, "n_bootstrap", 1000, minimum=1, integer=True)
        return float(margin), float(confidence), int(resamples)

    def check(self, config: dict[str, Any], ctx: GateContext) -> GateResult:
        """Compare candidate and incumbent on the evaluation rows, then on each slice; passes with
        no incumbent.

        A derived candidate (``model.from``) is compared with its parent unless ``against: alias``.
        """
        from carnet.gates.slices import parse_slices

        against = config.get("against") or ("parent" if ctx.parent_version is not None else "alias")
        if against == "parent" and ctx.parent_version is not None:
            ctx = dataclasses.replace(
                ctx, incumbent=ctx.parent, incumbent_version=ctx.parent_version, _cache={}
            )
        margin, confidence, resamples = self._settings(config)
        specs = parse_slices(config.get("slices"))
        name = config.get("metric") or ctx.primary_metric()[0]
        label = f"non_regression {name}"
        floor = f"{-margin:g}" if margin else "0"
        threshold = f"lower bound >= {floor}"
        details: dict[str, Any] = {"metric": name, "margin": margin, "confidence": confidence}
        if ctx.incumbent is None:
            details["note"] = f"no version holds alias {ctx.alias!r}: nothing to compare with"
            return GateResult(label, self.name, True, "no incumbent", threshold, None, details)
        if ctx.incumbent_version is not None:
            details["incumbent_version"] = ctx.incumbent_version.version
            derived = against == "parent" and ctx.parent_version is not None
            details["compared_with"] = (
                f"parent {ctx.incumbent_version.ref}"
                if derived
                else f"alias {ctx.alias} ({ctx.incumbent_version.ref})"
            )
        if ctx.task.family == "rl":  # the same seeded episodes for both policies
            from carnet.gates.rl import rl_non_regression

            return rl_non_regression(ctx, name, margin, confidence, resamples, details)
        try:
            metric = _known_metric(ctx, name)
            sign = 1.0 if metric.greater_is_better else -1.0
            overall = _compare(ctx, metric, sign, resamples, confidence)
        except Exception as exc:  # noqa: BLE001 - a model or data problem fails the gate, never raises
            return GateResult(
                label, self.name, False, threshold=threshold, details=details, error=_message(exc)
            )
        diff, notes = overall.pop("difference"), overall.pop("notes")
        details.update(
            candidate=overall["candidate"],
            incumbent=overall["incumbent"],
            difference=diff,
            difference_is="candidate - incumbent" if sign > 0 else "incumbent - candidate (lower is better)",
            n_rows=overall["n_rows"],
        )
        if not math.isfinite(diff):
            details["notes"] = notes
            return GateResult(
                label, self.name, False, _fmt(diff), threshold, None, details,
                error=f"{name} is undefined on the evaluation data for one of the models",
            )  # fmt: skip
        if overall["ci"] is not None:
            details.update(ci=overall["ci"], n_bootstrap=resamples)
        details["lower_bound"] = overall["lower_bound"]
        if notes:
            details["notes"] = notes
        measured = _measured(diff, overall["ci"], confidence)
        passed = overall["lower_bound"] >= -margin
        if specs:
            try:
                rows, regressed, slice_notes = _judge_slices(
                    ctx, metric, specs, sign, margin, confidence, resamples
                )
            except Exception as exc:  # noqa: BLE001 - a slice the data cannot give fails the gate
                return GateResult(
                    label, self.name, False, measured, threshold, diff, details, error=_message(exc)
                )
            details["slices"] = rows
            if slice_notes:
                details["slice_notes"] = slice_notes
            if regressed:
                noun = "slice" if len(regressed) == 1 else "slices"
                details["message"] = f"regressed on {noun} " + "; ".join(regressed)
                measured = f"{measured}; {details['message']}"
                passed = False
        return GateResult(label, self.name, passed, measured, threshold, diff, details)


def _measured(diff: float, interval: list[float] | None, confidence: float) -> str:
    """``+0.0012 (95% CI -0.0030 to +0.0051)``, or the difference alone without an interval."""
    if interval is None:
        return _signed(diff)
    return f"{_signed(diff)} ({confidence * 100:g}% CI {_signed(interval[0])} to {_signed(interval[1])})"


def _compare(
    ctx: GateContext,
    metric: Metric,
    sign: float,
    resamples: int,
    confidence: float,
    frame: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Candidate vs incumbent on the evaluation rows (or ``frame``): both values, the oriented
    difference, its paired interval (None when the rows cannot be resampled) and its lower bound."""
    cand = _Scored(ctx, metric, "candidate", frame)
    inc = _Scored(ctx, metric, "incumbent", frame)
    diff = sign * (cand.value - inc.value)
    notes = list(dict.fromkeys([*cand.notes, *inc.notes]))
    out: dict[str, Any] = {"candidate": cand.value, "incumbent": inc.value, "n_rows": cand.n}
    interval: tuple[float, float] | None = None
    if math.isfinite(diff):
        why = _bootstrap_note(metric, cand, inc)
        if why is None and cand.batch is not None and inc.batch is not None:
            interval, more = _paired_interval(
                cand.batch, inc.batch, sign, cand.n, resamples, confidence, ctx.seed
            )
            notes += more
        if interval is None:
            notes.append(
                f"no paired bootstrap ({why or 'undefined in every resample'}): compared point values"
            )
    out.update(
        difference=diff,
        ci=None if interval is None else list(interval),
        lower_bound=diff if interval is None else interval[0],
        notes=notes,
    )
    return out


def _judge_slices(
    ctx: GateContext,
    metric: Metric,
    specs: list[Any],
    sign: float,
    margin: float,
    confidence: float,
    resamples: int,
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Each slice's figures, the regressed slices as message parts, and notes on unjudged values.

    A pinned (``where``) slice that holds no rows or on which the metric is undefined counts as
    regressed; a ``by`` value on which the metric is undefined is reported and not judged.
    """
    from carnet.gates.slices import resolve_slices

    frame = ctx.require_data()
    slices, notes = resolve_slices(specs, frame)
    rows: list[dict[str, Any]] = []
    regressed: list[str] = []
    for sl in slices:
        row: dict[str, Any] = {"slice": sl.name, "where": sl.definition, "rows": sl.rows, "pinned": sl.pinned}
        if sl.rows == 0:
            row.update(regressed=True, note="no evaluation row is in this slice")
            regressed.append(f"{sl.name}: no evaluation row is in this slice")
            rows.append(row)
            continue
        try:
            found = _compare(ctx, metric, sign, resamples, confidence, frame[sl.mask].reset_index(drop=True))
        except Exception as exc:  # noqa: BLE001 - reported on the slice
            row.update(regressed=sl.pinned, error=_message(exc))
            if sl.pinned:
                regressed.append(f"{sl.name}: {_message(exc)}")
            rows.append(row)
            continue
        diff = found["difference"]
        row.update({k: v for k, v in found.items() if k != "notes"})
        if found["notes"]:
            row["notes"] = found["notes"]
        if not math.isfinite(diff):
            row.update(regressed=sl.pinned, note=f"{metric.name} is undefined on this slice")
            if sl.pinned:
                regressed.append(f"{sl.name}: {metric.name} is undefined on this slice")
        else:
            row["regressed"] = bool(found["lower_bound"] < -margin)
            if row["regressed"]:
                regressed.append(f"{sl.name}: {metric.name} {_measured(diff, found['ci'], confidence)}")
        rows.append(row)
    return rows, regressed, notes


def compare_metrics(
    ctx: GateContext, names: list[str], *, confidence: float = 0.95, resamples: int = 200
) -> list[dict[str, Any]]:
    """Each metric of ``names`` for the candidate and the incumbent on the evaluation rows, with
    bootstrap intervals, and the paired interval of ``delta = candidate - incumbent``.

    The same computation as the non-regression gate (shared resamples for the paired interval).
    A metric that cannot be computed gets an ``error`` instead of figures; never raises for one.
    """
    rows: list[dict[str, Any]] = []
    for name in names:
        row: dict[str, Any] = {"metric": name}
        rows.append(row)
        try:
            metric = _known_metric(ctx, name)
            cand = _Scored(ctx, metric, "candidate")
            inc = _Scored(ctx, metric, "incumbent") if ctx.incumbent is not None else None
        except Exception as exc:  # noqa: BLE001 - one metric's problem is reported on its row
            row["error"] = _message(exc)
            continue
        row.update(greater_is_better=metric.greater_is_better, n_rows=cand.n, candidate=cand.value)
        row["candidate_ci"] = _own_interval(metric, cand, resamples, confidence, ctx.seed)
        if inc is None:
            continue
        row.update(incumbent=inc.value, delta=cand.value - inc.value)
        row["incumbent_ci"] = _own_interval(metric, inc, resamples, confidence, ctx.seed)
        interval = None
        if _bootstrap_note(metric, cand, inc) is None and cand.batch is not None and inc.batch is not None:
            interval, _ = _paired_interval(
                cand.batch, inc.batch, 1.0, cand.n, resamples, confidence, ctx.seed
            )
        row["delta_ci"] = None if interval is None else list(interval)
    return rows


def _own_interval(
    metric: Metric, scored: _Scored, resamples: int, confidence: float, seed: int
) -> list[float] | None:
    """The bootstrap interval of one model's metric (None when the rows cannot be resampled)."""
    if _bootstrap_note(metric, scored) is not None or scored.batch is None or not resamples:
        return None
    from carnet.evaluation.resampling import run_bootstrap

    intervals, _ = run_bootstrap(scored.n, {metric.name: scored.batch}, resamples, confidence, seed)
    found = intervals.get(metric.name)
    return None if found is None else list(found)


def _paired_interval(
    candidate: Callable[[np.ndarray], np.ndarray],
    incumbent: Callable[[np.ndarray], np.ndarray],
    sign: float,
    n: int,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[tuple[float, float] | None, list[str]]:
    """Percentile interval of ``sign * (candidate - incumbent)`` over shared resamples of the rows."""
    import numpy as np

    from carnet.evaluation.resampling import percentile_interval, resample_weights

    parts: list[np.ndarray] = []
    with np.errstate(all="ignore"):
        for W in resample_weights(n, resamples, seed):
            parts.append(
                sign * (np.asarray(candidate(W), dtype=float) - np.asarray(incumbent(W), dtype=float))
            )
    values = np.concatenate(parts)
    undefined = int((~np.isfinite(values)).sum())
    if undefined == values.size:
        return None, []
    notes = (
        [f"difference undefined in {undefined} of {values.size} resamples (left out)"] if undefined else []
    )
    return percentile_interval(values, confidence), notes
