"""The ``fairness`` gate: group metrics over declared sensitive columns, with Fairlearn.

For every sensitive column (and, for multiclass tasks, every class taken one-vs-rest) a
Fairlearn ``MetricFrame`` gives the per-group selection rate, true and false positive rates
and accuracy; Fairlearn's demographic parity and equalized odds differences and ratios are
compared with the policy's thresholds. Groups smaller than ``min_group_size`` are shown but
left out of the verdict.

    gates:
      - type: fairness
        sensitive: [sex, age_band]
        max_demographic_parity_difference: 0.1
        max_equalized_odds_difference: 0.1
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from carnet.domain.policies import GateResult
from carnet.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from carnet.gates.context import GateContext

__all__ = ["THRESHOLDS", "FairnessGate", "fairness_report"]

#: threshold setting -> (measure, short name, comparison)
THRESHOLDS: dict[str, tuple[str, str, str]] = {
    "max_demographic_parity_difference": ("demographic_parity_difference", "dp_diff", "<="),
    "min_demographic_parity_ratio": ("demographic_parity_ratio", "dp_ratio", ">="),
    "max_equalized_odds_difference": ("equalized_odds_difference", "eo_diff", "<="),
    "min_equalized_odds_ratio": ("equalized_odds_ratio", "eo_ratio", ">="),
}
_MEASURES = tuple(measure for measure, _, _ in THRESHOLDS.values())
_METHODS = ("between_groups", "to_overall")
_SETTINGS = ("sensitive", "min_group_size", "positive_label", "method", *THRESHOLDS)
_IGNORED = ("type", "name", "label", "description")
_MISSING = "(missing)"
DEFAULT_MIN_GROUP_SIZE = 30


def _number(value: Any) -> float | None:
    """A finite float, or None (NaN, inf and missing become None)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """A numpy scalar as the equivalent Python value (group and class labels stay JSON-friendly)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _resolve_label(label: Any, classes: Sequence[Any]) -> Any:
    """``label`` as one of ``classes`` (``"1"`` matches ``1``); ValueError listing them otherwise."""
    if label in list(classes):
        return label
    for cls in classes:
        if str(cls) == str(label):
            return cls
    raise ValueError(f"positive_label {label!r} is not a class of the model; classes: {list(classes)}")


def _group_labels(values: pd.Series) -> np.ndarray:
    """A sensitive column as an object array, missing values as ``"(missing)"``."""
    import numpy as np

    out = values.to_numpy(dtype=object, na_value=None)
    missing = values.isna().to_numpy()
    out = np.asarray([_plain(v) for v in out], dtype=object)
    out[missing] = _MISSING
    return out


def _one_vs_rest(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, min_group_size: int, method: str
) -> dict[str, Any]:
    """Per-group table and Fairlearn's differences/ratios for 0/1 truth and predictions."""
    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    frame = MetricFrame(
        metrics={
            "n": count,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "accuracy": accuracy_score,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    table = frame.by_group
    included = {g for g in table.index if int(table.loc[g, "n"]) >= min_group_size}
    rows = [
        {
            "group": _plain(group),
            "n": int(table.loc[group, "n"]),
            "included": group in included,
            **{m: _number(table.loc[group, m]) for m in ("selection_rate", "tpr", "fpr", "accuracy")},
        }
        for group in table.index
    ]
    result: dict[str, Any] = {"groups": rows, **dict.fromkeys(_MEASURES)}
    if len(included) < 2:
        sizes = ", ".join(f"{r['group']}: {r['n']}" for r in rows)
        result["error"] = (
            f"fewer than 2 groups with at least {min_group_size} rows ({sizes}); "
            "lower min_group_size or evaluate on more data"
        )
        return result
    judged = frame
    if len(included) < len(table.index):
        keep = pd.Series(groups).isin(list(included)).to_numpy()
        judged = MetricFrame(
            metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=y_true[keep],
            y_pred=y_pred[keep],
            sensitive_features=groups[keep],
        )
    # exactly how Fairlearn's demographic_parity_* and equalized_odds_* (worst case) aggregate,
    # from one MetricFrame instead of four
    diff, ratio = judged.difference(method=method), judged.ratio(method=method)
    result["demographic_parity_difference"] = _number(diff["selection_rate"])
    result["demographic_parity_ratio"] = _number(ratio["selection_rate"])
    result["equalized_odds_difference"] = _number(max(diff["tpr"], diff["fpr"]))
    result["equalized_odds_ratio"] = _number(min(ratio["tpr"], ratio["fpr"]))
    result["error"] = None
    return result


def fairness_report(
    truth: Any,
    y_pred: Any,
    sensitive: pd.DataFrame | Mapping[str, Any],
    *,
    classes: Sequence[Any] | None = None,
    positive_label: Any = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    method: str = "between_groups",
) -> dict[str, Any]:
    """Per-group metrics and Fairlearn's parity measures of classifier predictions.

    Two classes: one evaluation per sensitive column for ``positive_label`` (default: the
    last class, the task's positive class). More classes: one evaluation per column and
    class, one-vs-rest. Groups below ``min_group_size`` rows are listed but excluded from
    the differences and ratios, which equal Fairlearn's ``demographic_parity_*`` and
    ``equalized_odds_*`` (worst case) on the remaining rows.

    Args:
        truth: true labels, one per row.
        y_pred: predicted labels, aligned with ``truth``.
        sensitive: the sensitive columns (name -> values aligned with ``truth``).
        classes: the model's classes (default: the sorted labels seen in truth and predictions).
        positive_label: the positive class of a binary task.
        min_group_size: smallest group that counts in the verdict.
        method: Fairlearn's ``between_groups`` or ``to_overall``.

    Returns:
        ``{"positive_label", "evaluations": [{"column", "class", "groups": [...],
        "demographic_parity_difference", ..., "error"}], "worst": {measure: {"value",
        "column", "class"}}}`` (JSON-ready; undefined numbers are None).

    Raises:
        ValueError: ``positive_label`` is not a class, or lengths differ.
    """
    import numpy as np
    import pandas as pd

    y_true = np.asarray(getattr(truth, "to_numpy", lambda: truth)(), dtype=object)
    predicted = np.asarray(y_pred, dtype=object)
    if len(y_true) != len(predicted):
        raise ValueError(f"truth has {len(y_true)} rows but predictions have {len(predicted)}")
    if classes is None:
        classes = sorted({_plain(v) for v in (*y_true, *predicted)}, key=str)
    classes = [_plain(c) for c in classes]
    positive = None
    if len(classes) <= 2:
        positive = _resolve_label(classes[-1] if positive_label is None else positive_label, classes)
        targets = [positive]
    else:
        targets = list(classes)
    evaluations = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for column, values in dict(sensitive).items():
            series = values if isinstance(values, pd.Series) else pd.Series(values)
            if len(series) != len(y_true):
                raise ValueError(f"sensitive column {column!r} has {len(series)} rows, truth {len(y_true)}")
            groups = _group_labels(series)
            for target in targets:
                t = (y_true == target).astype(int)
                p = (predicted == target).astype(int)
                evaluation = _one_vs_rest(t, p, groups, min_group_size, method)
                evaluations.append({"column": str(column), "class": target, **evaluation})
    return {"positive_label": positive, "evaluations": evaluations, "worst": _worst(evaluations)}


def _worst(evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """The worst value of each measure over columns and classes (largest difference, smallest ratio)."""
    worst: dict[str, Any] = {}
    for measure in _MEASURES:
        ratio = measure.endswith("ratio")
        best: dict[str, Any] | None = None
        for ev in evaluations:
            value = ev.get(measure)
            if value is None:
                continue
            if best is None or (value < best["value"] if ratio else value > best["value"]):
                best = {"value": value, "column": ev["column"], "class": ev["class"]}
        worst[measure] = best
    return worst


def _fail(message: str, **details: Any) -> GateResult:
    return GateResult(gate="fairness", type="fairness", passed=False, error=message, details=details)


class FairnessGate:
    """Fairness over declared sensitive columns: demographic parity and equalized odds thresholds."""

    name = "fairness"
    description = (
        "per-group selection rate, TPR, FPR and accuracy over sensitive columns (Fairlearn); "
        "demographic parity and equalized odds differences/ratios within thresholds"
    )

    def validate(self, config: dict[str, Any]) -> None:
        """Check the settings; InvalidInput names the bad one."""
        for key in config:
            if key not in _SETTINGS and key not in _IGNORED:
                raise InvalidInput(
                    f"unknown fairness setting {key!r}; known: {', '.join(_SETTINGS)}", field=key
                )
        sensitive = config.get("sensitive")
        if isinstance(sensitive, str):
            sensitive = [sensitive]
        if not sensitive or not isinstance(sensitive, list) or not all(isinstance(c, str) for c in sensitive):
            raise InvalidInput(
                "fairness needs sensitive: a list of columns of the evaluation data, e.g. [sex, age_band]",
                field="sensitive",
            )
        if not any(key in config for key in THRESHOLDS):
            raise InvalidInput(
                f"fairness needs at least one threshold: {', '.join(THRESHOLDS)}",
                field="max_demographic_parity_difference",
            )
        for key in THRESHOLDS:
            if key not in config:
                continue
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise InvalidInput(f"{key} must be a number between 0 and 1, got {value!r}", field=key)
        size = config.get("min_group_size", DEFAULT_MIN_GROUP_SIZE)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInput(
                f"min_group_size must be a whole number >= 1, got {size!r}", field="min_group_size"
            )
        if config.get("method", "between_groups") not in _METHODS:
            raise InvalidInput(
                f"method must be one of {', '.join(_METHODS)}, got {config.get('method')!r}", field="method"
            )

    def check(self, config: dict[str, Any], ctx: GateContext) -> GateResult:
        """Judge the candidate's predictions on the evaluation data; never raises for a bad model."""
        try:
            self.validate(config)
        except InvalidInput as exc:
            return _fail(str(exc))
        sensitive = config.get("sensitive") or []
        sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
        limits = {key: float(config[key]) for key in THRESHOLDS if key in config}
        threshold = ", ".join(f"{THRESHOLDS[k][1]} {THRESHOLDS[k][2]} {v:g}" for k, v in limits.items())
        if ctx.task.family != "classification":
            return _fail(
                f"fairness gates need a classification task; {ctx.task.name!r} is {ctx.task.family}",
            )
        try:
            frame = ctx.require_data()
            absent = [c for c in sensitive if c not in frame.columns]
            if absent:
                return _fail(
                    f"sensitive column(s) {', '.join(map(repr, absent))} not in the evaluation data; "
                    f"columns: {', '.join(map(str, frame.columns))}"
                )
            predictions = ctx.predictions()
            report = fairness_report(
                ctx.truth(),
                predictions.y_pred,
                {c: frame[c] for c in sensitive},
                classes=predictions.classes,
                positive_label=config.get("positive_label"),
                min_group_size=int(config.get("min_group_size", DEFAULT_MIN_GROUP_SIZE)),
                method=str(config.get("method", "between_groups")),
            )
        except Exception as exc:  # noqa: BLE001 - a crashing model or bad data is a failed gate
            return _fail(f"{type(exc).__name__}: {exc}")
        return self._verdict(report, limits, threshold, config)

    def _verdict(
        self, report: dict[str, Any], limits: dict[str, float], threshold: str, config: dict[str, Any]
    ) -> GateResult:
        from carnet.evaluation import jsonable

        errors = [
            f"{ev['column']} (class {ev['class']}): {ev['error']}"
            for ev in report["evaluations"]
            if ev["error"]
        ]
        passed = not errors
        measured = []
        for ev in report["evaluations"]:
            ev["passed"] = ev["error"] is None and all(
                _within(ev[THRESHOLDS[key][0]], key, limit) for key, limit in limits.items()
            )
            passed = passed and ev["passed"]
        value = None
        for key in limits:
            measure, short, _ = THRESHOLDS[key]
            worst = report["worst"][measure]
            shown = "n/a" if worst is None else f"{worst['value']:.3f}"
            measured.append(f"{short} {shown}")
            if value is None and worst is not None:
                value = worst["value"]
        details = {
            "sensitive": list(config.get("sensitive") or []),
            "min_group_size": int(config.get("min_group_size", DEFAULT_MIN_GROUP_SIZE)),
            "method": str(config.get("method", "between_groups")),
            "thresholds": limits,
            **report,
        }
        return GateResult(
            gate=self.name,
            type=self.name,
            passed=passed,
            measured=", ".join(measured),
            threshold=threshold,
            value=value,
            details=jsonable(details),
            error="; ".join(errors) or None,
        )


def _within(value: float | None, key: str, limit: float) -> bool:
    """Whether one measure meets its threshold; an undefined ratio (every group at 0) is parity."""
    if value is None:
        return key.startswith("min_")
    return value <= limit if key.startswith("max_") else value >= limit
