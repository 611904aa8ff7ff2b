"""Detect drift between a reference profile and current data: per column, per dataset, multivariate."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from carnet.domain.drift import (
    ADAPTIVE,
    DISTANCES,
    ColumnDrift,
    DriftOptions,
    DriftReport,
)
from carnet.errors import InvalidInput
from carnet.monitoring.drift.build import Frame, build_profile, window
from carnet.monitoring.drift.compare import binned_test, distance
from carnet.monitoring.drift.multivariate import domain_classifier
from carnet.monitoring.drift.profile import ColumnProfile, DatasetProfile
from carnet.monitoring.drift.stats import ks

__all__ = ["ColumnDrift", "DriftReport", "adaptive_threshold", "detect_drift"]


def adaptive_threshold(ref: ColumnProfile, method: str, k: float) -> float:
    """Mean + ``k`` * std (ddof=1) of the reference chunks' ``method`` statistics for column ``ref``.

    Raises:
        InvalidInput: the reference profile holds no chunk statistics for that column and method.
    """
    values = ref.chunks.get(method)
    if not values or len(values) < 2:
        raise InvalidInput(
            f"column {ref.name!r}: the reference profile has no chunk statistics for {method}, so no "
            "adaptive threshold; build it with chunks >= 2 (and enough rows) or use a fixed threshold",
            field=ref.name,
        )
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean() + k * a.std(ddof=1))


def _shares(counts: np.ndarray) -> tuple[float, ...]:
    total = counts.sum()
    return tuple((counts / total).tolist()) if total else tuple(0.0 for _ in counts.tolist())


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _numbers(values: Any) -> np.ndarray:
    return np.array([v for v in values if v is not None], dtype=np.float64)


def _column(
    name: str,
    reference: DatasetProfile,
    current: DatasetProfile,
    options: DriftOptions,
    raw: dict[str, Any],
    output: bool,
) -> ColumnDrift:
    ref, cur = reference.column(name), current.column(name)
    method = options.method_for(name, ref.kind)
    setting = options.thresholds[method]
    adaptive = setting == ADAPTIVE
    threshold = adaptive_threshold(ref, method, options.adaptive_k) if adaptive else float(setting)
    rb, cb = ref.bin_counts(), cur.bin_counts()
    labels = ref.labels()
    if ref.kind != "numeric" and not (rb[-1] or cb[-1]):
        labels = labels[:-1]  # no "(other)" on either side
    keep = len(labels)
    base = ColumnDrift(
        column=name,
        kind=ref.kind,
        method=method,
        statistic=None,
        p_value=None,
        threshold=threshold,
        drifted=False,
        adaptive=adaptive,
        output=output,
        labels=labels,
        reference_shares=_shares(rb)[:keep],
        current_shares=_shares(cb)[:keep],
        reference_missing=_share(ref.missing, ref.count + ref.missing),
        current_missing=_share(cur.missing, cur.count + cur.missing),
    )
    if ref.count == 0 or cur.count == 0:
        side = "reference" if ref.count == 0 else "current data"
        return replace(base, note=f"no values in the {side}")
    if method in DISTANCES:
        stat = distance(method, ref, cur)
        p = binned_test(ref, cur).p_value if options.significance is not None else None
        significant = p is None or options.significance is None or p < options.significance
        over = stat >= threshold
        decided = "statistic" if not over else ("both" if p is not None else "statistic")
        if over and not significant:
            decided = "p-value"
        return replace(
            base,
            statistic=stat,
            p_value=p,
            drifted=bool(over and significant),
            significance=options.significance,
            decided_by=decided,
        )
    if method == "chi2":
        res = binned_test(ref, cur)
    else:
        if reference.sample is None:
            raise InvalidInput(
                f"column {name!r}: ks needs the reference's row sample; build the reference with "
                "sample_rows > 0",
                field=name,
            )
        col = raw.get(name)
        if col is not None:
            cur_values = col.values
        elif current.sample is not None:
            cur_values = _numbers(current.sample.values[name])
        else:
            raise InvalidInput(
                f"column {name!r}: ks needs current values; pass the current DataFrame, or build the "
                "window with profile_like(..., sample_rows=N)",
                field=name,
            )
        res = ks(_numbers(reference.sample.values[name]), cur_values)
    return replace(
        base,
        statistic=res.statistic,
        p_value=res.p_value,
        drifted=bool(res.p_value < threshold),
        decided_by="p-value",
    )


def detect_drift(
    reference: DatasetProfile | Frame,
    current: DatasetProfile | Frame,
    options: DriftOptions | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column, then at the dataset level.

    Either side may be a profile or a table (pandas DataFrame or pyarrow Table): a reference table
    is profiled with :func:`build_profile`, a current table is counted on the reference's bins with
    :func:`profile_like` (its raw values also serve KS). A current profile must have been counted
    on the reference's bins.

    Raises:
        InvalidInput: unknown method or column, a column missing from the current data or of
            another type, a setting the profiles cannot support (adaptive without chunks, KS
            without samples).
    """
    options = options if options is not None else DriftOptions()
    if not isinstance(options, DriftOptions):
        raise InvalidInput("options must be a DriftOptions (see DriftOptions.from_dict)", field="options")
    if not isinstance(reference, DatasetProfile):
        reference = build_profile(reference, outputs=options.outputs or (), seed=options.seed)
    outputs = reference.outputs if options.outputs is None else options.outputs
    for name in [*outputs, *options.column_methods]:
        if name not in reference.names:
            raise InvalidInput(
                f"column {name!r} is named in the options but not profiled in the reference; "
                f"profiled: {list(reference.names)}",
                field=name,
            )
    methods = {c.name: options.method_for(c.name, c.kind) for c in reference.columns}
    raw: dict[str, Any] = {}
    if isinstance(current, DatasetProfile):
        current.check_like(reference)
    else:
        current, raw = window(
            reference,
            current,
            sample_rows=options.multivariate_rows if options.multivariate else 0,
            seed=options.seed,
            keep=[n for n, m in methods.items() if m == "ks"],
        )
    outs = set(outputs)
    features = [n for n in reference.names if n not in outs]
    cols = tuple(_column(n, reference, current, options, raw, False) for n in features)
    out_cols = tuple(_column(n, reference, current, options, raw, True) for n in reference.names if n in outs)
    judged = [c for c in cols if c.statistic is not None]
    share = sum(c.drifted for c in judged) / len(judged) if judged else 0.0
    multi = None
    if options.multivariate and features:
        if reference.sample is None or current.sample is None:
            side = "reference" if reference.sample is None else "current"
            raise InvalidInput(
                f"the multivariate check needs a row sample of the {side}; build the profile with "
                "sample_rows > 0 or pass the DataFrame",
                field="multivariate",
            )
        multi = domain_classifier(
            [reference.column(n) for n in features],
            reference.sample,
            current.sample,
            threshold=options.multivariate_threshold,
            significance=options.significance,
            rows=options.multivariate_rows,
            seed=options.seed,
        )
    return DriftReport(
        columns=cols,
        outputs=out_cols,
        share_drifted=share,
        dataset_drift=bool(judged and share >= options.drift_share) or bool(multi and multi.drifted),
        drift_share=options.drift_share,
        multivariate=multi,
        reference_rows=reference.rows,
        current_rows=current.rows,
        options=options,
    )
