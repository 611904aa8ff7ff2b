"""One monitoring window judged against its reference: drift, prediction drift, quality, performance.

Pure computation: the monitoring service reads prediction-log rows and the stored reference
(profiles, quality spec, performance estimator) and calls :func:`evaluate_window`, which returns
the window's flat metrics (what alert rules read) and its full JSON-ready report. The prediction
log's column names are kept: inputs are ``input.<name>``, outputs ``output.<name>`` (a matrix
output such as ``predict_proba`` is ``output.predict_proba.<k>``).

Flat metric names:

* ``rows``; ``versions`` is in the window record, not a metric;
* ``drift.share_drifted``, ``drift.dataset_drift`` (1/0), ``drift.<column>`` (the column's
  statistic), ``drift.<column>.drifted`` (1/0), ``drift.multivariate_auc`` when asked for;
* ``prediction_drift.share_drifted``, ``prediction_drift.<output>``, ``prediction_drift.drifted``;
* ``quality.<metric>`` from :class:`carnet.monitoring.quality.QualityReport` (``quality.rows``,
  ``quality.missing_share.<column>``, ``quality.out_of_range_share.<column>`` ...);
* ``performance.estimated.<metric>`` with ``.lower``, ``.upper`` and ``.alert`` (1/0);
* ``performance.realized.<metric>`` and ``performance.labeled_rows`` once labels are joined;
* ``pii.columns``: how many input columns hold personal data in the window (tier-1 scan of a
  seeded sample of 1,000 rows, as at ``data add``), and ``pii.<column>`` the share that matched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from carnet.errors import InvalidInput

__all__ = [
    "WindowReference",
    "evaluate_window",
    "input_frame",
    "output_scores",
    "realized_window",
    "rollup",
    "window_profile",
]

INPUT = "input."
OUTPUT = "output."


@dataclass
class WindowReference:
    """Everything a window is compared with, built once when the monitor is created."""

    family: str | None
    classes: list[Any] | None
    input_columns: list[str]
    output_columns: list[str]
    input_profile: Any = None  # carnet.monitoring.drift.DatasetProfile of the reference inputs
    output_profile: Any = None  # ... of the model's outputs on the reference
    quality_spec: Any = None  # carnet.monitoring.quality.QualitySpec
    estimator: Any = None  # carnet.monitoring.performance.CBPE or DLE
    drift_options: dict[str, Any] = field(default_factory=dict)


def input_frame(log: Any, columns: Sequence[str]) -> Any:
    """The model inputs of prediction-log rows, under their own names (missing columns stay missing)."""
    present = [c for c in columns if INPUT + c in log.columns]
    frame = log[[INPUT + c for c in present]]
    frame.columns = present
    return frame.reset_index(drop=True)


def output_scores(log: Any, classes: Sequence[Any] | None) -> Any:
    """The probability matrix of a classifier's rows (``output.predict_proba.<k>``), or None."""
    import numpy as np

    if not classes:
        return None
    names = [f"{OUTPUT}predict_proba.{k}" for k in range(len(classes))]
    if not all(n in log.columns for n in names):
        return None
    return np.column_stack([log[n].to_numpy(dtype=np.float64) for n in names])


def evaluate_window(
    log: Any, ref: WindowReference, checks: Sequence[str]
) -> tuple[dict[str, float], dict[str, Any]]:
    """The flat metrics and the JSON report of one window of prediction-log rows.

    Raises:
        InvalidInput: the window has no rows.
    """
    if len(log) == 0:
        raise InvalidInput("a monitoring window needs at least one row", field="window")
    metrics: dict[str, float] = {"rows": float(len(log))}
    report: dict[str, Any] = {"rows": len(log)}
    inputs = input_frame(log, ref.input_columns)
    if len(inputs.columns):
        from carnet.privacy import scan_frame

        findings = scan_frame(inputs)
        report["pii"] = [f.to_dict() for f in findings]
        metrics["pii.columns"] = float(len(findings))
        metrics.update({f"pii.{f.column}": float(f.share) for f in findings})
    if "drift" in checks and ref.input_profile is not None:
        drift = _drift(ref.input_profile, inputs, ref.drift_options)
        report["drift"] = drift.to_dict()
        report["profile"] = window_profile(ref.input_profile, inputs)
        metrics.update(_drift_metrics("drift", drift))
    if "prediction_drift" in checks and ref.output_profile is not None:
        outputs = log[[c for c in ref.output_columns if c in log.columns]].reset_index(drop=True)
        options = {k: v for k, v in ref.drift_options.items() if k != "multivariate"}
        pdrift = _drift(ref.output_profile, outputs, options)
        report["prediction_drift"] = pdrift.to_dict()
        metrics.update(_drift_metrics("prediction_drift", pdrift))
        metrics["prediction_drift.drifted"] = float(any(c.drifted for c in pdrift.columns))
    if "quality" in checks and ref.quality_spec is not None:
        from carnet.monitoring.quality import check_quality

        quality = check_quality(ref.quality_spec, inputs)
        report["quality"] = quality.to_dict()
        metrics.update({f"quality.{k}": float(v) for k, v in quality.metrics.items()})
    if "performance" in checks and ref.estimator is not None:
        estimates = _estimate(ref, log, inputs)
        report["performance"] = {"estimated": [e.to_dict() for e in estimates]}
        for e in estimates:
            base = f"performance.estimated.{e.metric}"
            metrics[base] = float(e.value)
            metrics[f"{base}.lower"] = float(e.lower)
            metrics[f"{base}.upper"] = float(e.upper)
            metrics[f"{base}.alert"] = float(bool(e.alert))
    return {k: v for k, v in metrics.items() if not math.isnan(v)}, report


def realized_window(
    log: Any, labels: Mapping[tuple[str, int], Any], ref: WindowReference
) -> dict[str, float]:
    """``performance.realized.*`` and ``performance.labeled_rows`` of a window, given labels by
    ``(request_id, row)``; empty when none of its rows has a label yet."""
    import numpy as np

    from carnet.monitoring.performance import realized_metrics

    keys = list(zip(log["request_id"].astype(str), log["row"].astype(int), strict=True))
    found = np.fromiter((k in labels for k in keys), dtype=bool, count=len(keys))
    if not found.any() or ref.family not in ("classification", "regression"):
        return {}
    y_true = np.asarray([labels[k] for k, f in zip(keys, found, strict=True) if f])
    labeled = log[found]
    y_pred = labeled[f"{OUTPUT}predict"].to_numpy()
    scores = output_scores(labeled, ref.classes)
    if ref.family == "classification" and ref.classes:
        y_true = _as_class_labels(y_true, ref.classes)
        if scores is not None and len(ref.classes) == 2:
            scores = scores[:, 1]
    out = realized_metrics(ref.family, y_true, y_pred, scores, classes=ref.classes)
    metrics = {f"performance.realized.{k}": float(v) for k, v in out.items() if v is not None}
    metrics["performance.labeled_rows"] = float(found.sum())
    return {k: v for k, v in metrics.items() if not math.isnan(v)}


def _as_class_labels(values: Any, classes: Sequence[Any]) -> Any:
    """Labels in the type of the model's classes (labels read from CSV may be text or floats)."""
    import numpy as np

    sample = classes[0]
    try:
        if isinstance(sample, bool | np.bool_):
            return values.astype(bool)
        if isinstance(sample, int | np.integer):
            return values.astype(np.float64).astype(np.int64)
        if isinstance(sample, float | np.floating):
            return values.astype(np.float64)
    except (TypeError, ValueError):
        return values
    return values.astype(str) if isinstance(sample, str) else values


def window_profile(reference: Any, inputs: Any) -> dict[str, Any]:
    """The window's input profile counted on the reference's bins (mergeable: hour -> day)."""
    from carnet.monitoring.drift import profile_like

    return dict(profile_like(reference, inputs).to_dict())


def rollup(reference: Any, profiles: Sequence[Mapping[str, Any]], options: Mapping[str, Any]) -> Any:
    """The drift of several windows together, from their stored profiles (no row is read again)."""
    from carnet.monitoring.drift import DatasetProfile, DriftOptions, detect_drift, merge_profiles

    merged = merge_profiles([DatasetProfile.from_dict(p) for p in profiles])
    opts = {k: v for k, v in options.items() if k != "multivariate"}
    return detect_drift(reference, merged, DriftOptions.from_dict(opts) if opts else None)


def _drift(profile: Any, current: Any, options: Mapping[str, Any]) -> Any:
    from carnet.monitoring.drift import DriftOptions, detect_drift

    return detect_drift(profile, current, DriftOptions.from_dict(dict(options)) if options else None)


def _drift_metrics(prefix: str, report: Any) -> dict[str, float]:
    out: dict[str, float] = {f"{prefix}.share_drifted": float(report.share_drifted)}
    if prefix == "drift":
        out["drift.dataset_drift"] = float(bool(report.dataset_drift))
        multi = getattr(report, "multivariate", None)
        auc = getattr(multi, "auc", None) if multi is not None else None
        if auc is not None:
            out["drift.multivariate_auc"] = float(auc)
    for c in report.columns:
        if c.statistic is not None:
            out[f"{prefix}.{c.column}"] = float(c.statistic)
        out[f"{prefix}.{c.column}.drifted"] = float(bool(c.drifted))
    return out


def _estimate(ref: WindowReference, log: Any, inputs: Any) -> list[Any]:
    import numpy as np

    if ref.family == "classification":
        scores = output_scores(log, ref.classes)
        if scores is None:
            return []
        return list(ref.estimator.estimate(scores))
    if ref.family == "regression" and f"{OUTPUT}predict" in log.columns:
        preds = log[f"{OUTPUT}predict"].to_numpy(dtype=np.float64)
        return list(ref.estimator.estimate(inputs, preds))
    return []
