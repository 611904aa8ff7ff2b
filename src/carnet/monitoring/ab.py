"""A/B analysis of live versions: each arm's metric and an always-valid comparison of two arms.

Pure computation over per-unit outcomes (one value per predicted row: 1/0 for a correct answer,
a squared or absolute error, a log loss...). The difference ``control - challenger`` of the arms'
means is judged with the **mixture sequential probability ratio test** (mSPRT) of Johari,
Koomen, Pekelis and Walsh, "Always valid inference: continuous monitoring of A/B tests",
*Operations Research* 70(3), 2022, with a normal mixture ``theta ~ N(0, tau^2)`` over the
difference. With ``d`` the observed difference and ``V = s_c^2 / n_c + s_t^2 / n_t`` its variance,

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

and the (1 - alpha) confidence sequence is ``d +/- sqrt(V (V + tau^2) / tau^2 *
(2 log(1/alpha) + log((V + tau^2) / V)))``; the always-valid p-value is ``min(1, 1 / max Lambda)``
over every look. Since the bound holds at every sample size at once (Ville's inequality), looking
at the result after every batch does not inflate false positives; with variances estimated from
the data it is valid asymptotically (Waudby-Smith et al., "Time-uniform central limit theory and
asymptotic confidence sequences", *Annals of Statistics*, 2024). The reported interval is the
running intersection over the looks (:func:`sequence_path`).

Decisions (:data:`DECISIONS`): ``promote_challenger`` when the interval excludes 0 in the
challenger's favour; ``keep_control`` when it excludes 0 in the control's favour, or lies within
``+/- mde`` (no meaningful difference: stop early); ``continue`` otherwise, with the rows still
needed. numpy and scipy are imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from carnet.errors import InvalidInput

__all__ = [
    "DECISIONS",
    "KINDS",
    "METHOD",
    "ROW_METRICS",
    "ArmSummary",
    "Comparison",
    "RowMetric",
    "SequencePath",
    "check_settings",
    "compare",
    "expected_outcomes",
    "fixed_horizon_size",
    "msprt",
    "overall_decision",
    "row_metric",
    "row_outcomes",
    "sample_ratio",
    "sequence_path",
    "sequential_size",
    "summarize",
]

#: what an analysis may conclude
DECISIONS = ("promote_challenger", "keep_control", "continue")
#: ``bernoulli``: 0/1 outcomes (Wilson interval per arm, smoothed variance); ``continuous``: any number
KINDS = ("bernoulli", "continuous")
#: the method's name, formula and reference, as reported with every analysis
METHOD: dict[str, str] = {
    "name": "mSPRT",
    "title": "mixture sequential probability ratio test, normal mixture (always-valid)",
    "formula": "Lambda = sqrt(V/(V+tau^2)) * exp(tau^2 d^2 / (2 V (V+tau^2))), V = s_c^2/n_c + s_t^2/n_t",
    "reference": "Johari, Koomen, Pekelis & Walsh, Always valid inference: continuous monitoring of "
    "A/B tests, Operations Research 70(3), 2022",
}
#: the default minimum effect, in standard deviations of the per-row outcome
DEFAULT_MDE_SD = 0.1
#: the default mixing sd without a given mde: a too small tau costs power linearly, a too large
#: one only logarithmically, so it is larger than the default mde
DEFAULT_TAU_SD = 0.25
#: rows per arm before a decision is taken (the normal approximation needs a few)
MIN_SAMPLES = 30


@dataclass(frozen=True)
class RowMetric:
    """A metric that is the mean of a per-row outcome: its family, direction and outcome kind."""

    name: str
    family: str
    greater_is_better: bool
    kind: str
    description: str


def _catalog_direction(family: str, name: str, default: bool) -> bool:
    from carnet.evaluation.catalog import get_metric

    try:
        return bool(get_metric(family, name).greater_is_better)
    except InvalidInput:
        return default


#: metrics that decompose per row (the only ones a sequential test of means can compare)
ROW_METRICS: dict[str, tuple[str, str, str]] = {
    "accuracy": ("classification", "bernoulli", "share of rows whose predicted label equals the truth"),
    "error_rate": ("classification", "bernoulli", "share of rows whose predicted label is wrong"),
    "log_loss": ("classification", "continuous", "per-row cross-entropy -log p(true class)"),
    "brier": ("classification", "continuous", "per-row (p(positive) - y)^2, binary labels"),
    "mae": ("regression", "continuous", "per-row absolute error"),
    "mse": ("regression", "continuous", "per-row squared error (what RMSE compares)"),
}
_LOWER_IS_BETTER = {"error_rate", "mse"}  # not in the metric catalogue


def row_metric(name: str | None, family: str | None) -> RowMetric:
    """The per-row metric ``name`` (default: accuracy for classification, mse for regression).

    Raises:
        InvalidInput: (``field="metric"``) an unknown metric, one that does not decompose per
            row, one of another task family, or a family without per-row metrics.
    """
    if family not in ("classification", "regression"):
        raise InvalidInput(
            "A/B analysis compares classifiers or regressors; these versions are "
            f"{family or 'of no known task'}",
            field="metric",
        )
    if name is None:
        name = "accuracy" if family == "classification" else "mse"
    supported = [m for m, (f, _, _) in ROW_METRICS.items() if f == family]
    if name not in ROW_METRICS or ROW_METRICS[name][0] != family:
        raise InvalidInput(
            f"metric {name!r} is not supported for {family}: A/B analysis needs a metric that is a mean "
            f"over rows; use one of {', '.join(supported)}",
            field="metric",
        )
    fam, kind, description = ROW_METRICS[name]
    up = False if name in _LOWER_IS_BETTER else _catalog_direction(fam, name, False)
    return RowMetric(name, fam, up, kind, description)


# -- per-row outcomes ---------------------------------------------------------------------------------
def _aligned(y_true: Any, y_pred: Any, classes: Sequence[Any] | None) -> tuple[Any, Any]:
    """Labels and predictions as comparable arrays (labels read from CSV may be text or floats)."""
    import numpy as np

    t, p = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    try:
        return t.astype(np.float64), p.astype(np.float64)
    except (TypeError, ValueError):
        pass
    if classes:
        sample = classes[0]
        if isinstance(sample, int | float | np.number) and not isinstance(sample, bool):
            try:
                return t.astype(np.float64), p.astype(np.float64)
            except (TypeError, ValueError):
                pass
    return t.astype(str), p.astype(str)


def _class_index(y_true: Any, classes: Sequence[Any]) -> Any:
    """The column of each label in ``classes`` (-1 when it is none of them); numbers compare as numbers."""
    import numpy as np

    labels = np.asarray(y_true, dtype=object)
    try:
        keys, values = np.asarray(classes, dtype=np.float64), labels.astype(np.float64)
    except (TypeError, ValueError):
        keys, values = np.asarray([str(c) for c in classes]), labels.astype(str)
    out = np.full(len(labels), -1, dtype=np.int64)
    for j, key in enumerate(keys):
        out[values == key] = j
    return out


def row_outcomes(
    metric: RowMetric,
    y_true: Any,
    y_pred: Any,
    scores: Any = None,
    classes: Sequence[Any] | None = None,
) -> Any:
    """The per-row outcome of ``metric`` (a float array whose mean is the metric).

    Args:
        metric: from :func:`row_metric`.
        y_true: the labels (or true values).
        y_pred: the predicted labels (or values).
        scores: ``(n, k)`` class probabilities in ``classes`` order (log_loss, brier).
        classes: the class labels of the score columns.

    Raises:
        InvalidInput: (``field="metric"``) the metric needs class probabilities the log lacks, or
            binary labels (brier) and there are more classes.
    """
    import numpy as np

    if metric.family == "regression":
        t = np.asarray(y_true, dtype=np.float64)
        err = t - np.asarray(y_pred, dtype=np.float64)
        return np.abs(err) if metric.name == "mae" else err**2
    if metric.name in ("accuracy", "error_rate"):
        t, p = _aligned(y_true, y_pred, classes)
        correct = (t == p).astype(np.float64)
        return correct if metric.name == "accuracy" else 1.0 - correct
    if scores is None or not classes:
        raise InvalidInput(
            f"metric {metric.name!r} needs the class probabilities (predict_proba) in the prediction log; "
            "use accuracy or error_rate",
            field="metric",
        )
    probs = np.asarray(scores, dtype=np.float64)
    idx = _class_index(y_true, classes)
    known = idx >= 0
    if metric.name == "log_loss":
        p_true = np.where(known, probs[np.arange(len(idx)), np.clip(idx, 0, None)], 0.0)
        return -np.log(np.clip(p_true, 1e-15, 1.0))
    if len(classes) != 2:
        raise InvalidInput(
            f"brier compares binary labels; these versions have {len(classes)} classes: use log_loss",
            field="metric",
        )
    return (probs[:, 1] - (idx == 1).astype(np.float64)) ** 2


def expected_outcomes(metric: RowMetric, probabilities: Any, scores: Any) -> Any:
    """Label-free per-row outcomes of a classifier: the outcome's expectation under the calibrated
    class ``probabilities`` (CBPE's reading), given the raw ``scores`` the model answered.

    An estimate, right while the model stays calibrated as on its reference (covariate shift only).
    """
    import numpy as np

    q = np.asarray(probabilities, dtype=np.float64)
    raw = np.asarray(scores, dtype=np.float64)
    pred = raw.argmax(axis=1)
    rows = np.arange(len(q))
    if metric.name == "accuracy":
        return q[rows, pred]
    if metric.name == "error_rate":
        return 1.0 - q[rows, pred]
    if metric.name == "log_loss":
        return -(q * np.log(np.clip(raw, 1e-15, 1.0))).sum(axis=1)
    if metric.name == "brier" and q.shape[1] == 2:
        return q[:, 1] * (raw[:, 1] - 1.0) ** 2 + q[:, 0] * raw[:, 1] ** 2
    raise InvalidInput(f"no label-free estimate of {metric.name!r}", field="metric")


# -- one arm ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArmSummary:
    """One arm's mean outcome with a fixed-sample (1 - alpha) interval (Wilson for 0/1 outcomes)."""

    name: str
    n: int
    mean: float | None
    variance: float | None
    lower: float | None
    upper: float | None
    interval: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.name,
            "n": self.n,
            "value": self.mean,
            "lower": self.lower,
            "upper": self.upper,
            "interval": self.interval,
        }


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", field="kind")


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidInput(f"alpha must be in (0, 1), e.g. 0.05; got {alpha!r}", field="alpha")
    return float(alpha)


def check_settings(alpha: float, mde: float | None = None, power: float = 0.8) -> float:
    """``alpha`` as a float once ``alpha``, ``mde`` and ``power`` are valid.

    Raises:
        InvalidInput: ``alpha`` or ``power`` outside (0, 1), ``mde`` not a positive number (named).
    """
    alpha = _check_alpha(alpha)
    if mde is not None and (
        isinstance(mde, bool) or not isinstance(mde, int | float) or not 0 < mde < math.inf
    ):
        raise InvalidInput(f"mde must be a positive number on the metric's scale, got {mde!r}", field="mde")
    if isinstance(power, bool) or not isinstance(power, int | float) or not 0 < power < 1:
        raise InvalidInput(f"power must be in (0, 1), e.g. 0.8; got {power!r}", field="power")
    return alpha


def _variance(n: Any, total: Any, squares: Any, kind: str) -> Any:
    """Per-row variance from counts and sums; 0/1 outcomes use the smoothed ``(s + 1/2) / (n + 1)``,
    so an arm that is always right (or wrong) still has a positive variance."""
    import numpy as np

    n = np.asarray(n, dtype=np.float64)
    with np.errstate(all="ignore"):
        if kind == "bernoulli":
            p = (np.asarray(total, dtype=np.float64) + 0.5) / (n + 1.0)
            return p * (1.0 - p)
        mean = np.where(n > 0, total / np.where(n > 0, n, 1.0), 0.0)
        var = np.where(n > 1, (squares - n * mean**2) / np.where(n > 1, n - 1.0, 1.0), 0.0)
        return np.maximum(var, 0.0)


def summarize(name: str, values: Any, *, kind: str, alpha: float = 0.05) -> ArmSummary:
    """One arm's mean, variance and (1 - alpha) interval: Wilson score for 0/1 outcomes, normal
    otherwise (no interval below two rows)."""
    import numpy as np
    from scipy.stats import norm

    _check_kind(kind)
    alpha = _check_alpha(alpha)
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return ArmSummary(name, 0, None, None, None, None, "wilson" if kind == "bernoulli" else "normal")
    mean = float(x.mean())
    var = float(_variance(n, x.sum(), (x**2).sum(), kind))
    z = float(norm.ppf(1 - alpha / 2))
    if kind == "bernoulli":
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return ArmSummary(name, n, mean, var, max(0.0, centre - half), min(1.0, centre + half), "wilson")
    if n < 2:
        return ArmSummary(name, n, mean, var, None, None, "normal")
    half = z * math.sqrt(var / n)
    return ArmSummary(name, n, mean, var, mean - half, mean + half, "normal")


# -- the sequential test ----------------------------------------------------------------------------
def msprt(difference: Any, variance: Any, tau: float, alpha: float) -> tuple[Any, Any]:
    """The mSPRT's half-width of the (1 - alpha) confidence sequence and its log likelihood ratio,
    for estimates ``difference`` of variance ``variance`` (arrays or numbers) and mixing sd ``tau``.

    A zero variance gives a zero half-width (and an infinite ratio unless the difference is 0).
    """
    import numpy as np

    d = np.asarray(difference, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    t2 = float(tau) ** 2
    with np.errstate(all="ignore"):
        safe = np.where(v > 0, v, 1.0)
        half = np.sqrt(safe * (safe + t2) / t2 * (2 * math.log(1 / alpha) + np.log((safe + t2) / safe)))
        loglr = 0.5 * np.log(safe / (safe + t2)) + t2 * d**2 / (2 * safe * (safe + t2))
        half = np.where(v > 0, half, 0.0)
        loglr = np.where(v > 0, loglr, np.where(d != 0, np.inf, 0.0))
    return half, loglr


@dataclass
class SequencePath:
    """The confidence sequence at each look: rows seen per arm, the difference and its bounds."""

    n_control: list[int] = field(default_factory=list)
    n_challenger: list[int] = field(default_factory=list)
    difference: list[float] = field(default_factory=list)
    lower: list[float | None] = field(default_factory=list)
    upper: list[float | None] = field(default_factory=list)
    p_value: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": [a + b for a, b in zip(self.n_control, self.n_challenger, strict=True)],
            "n_control": self.n_control,
            "n_challenger": self.n_challenger,
            "difference": self.difference,
            "lower": self.lower,
            "upper": self.upper,
        }


def _order(values: Any, times: Any | None) -> tuple[Any, Any]:
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    if times is None:  # no times: the rows arrived evenly spread over the experiment
        t = (np.arange(len(x), dtype=np.float64) + 1) / max(len(x), 1)
    else:
        t = np.asarray(times, dtype=np.float64)
        if len(t) != len(x):
            raise InvalidInput("times must have one entry per value", field="times")
    order = np.argsort(t, kind="stable")
    return x[order], t[order]


def sequence_path(
    control: Any,
    challenger: Any,
    *,
    kind: str,
    tau: float,
    alpha: float,
    control_times: Any = None,
    challenger_times: Any = None,
    looks: int | None = 100,
    min_samples: int = MIN_SAMPLES,
) -> SequencePath:
    """The always-valid confidence sequence of ``mean(control) - mean(challenger)`` over time.

    Rows of both arms are merged in time order and the test looks after every ``1/looks`` of them
    (``looks=None``: after every row); looks before ``min_samples`` rows per arm are skipped. The
    bounds are the running intersection of the sequence, and ``p_value`` the always-valid p-value
    ``min(1, 1 / max Lambda)`` over the looks.
    """
    import numpy as np

    _check_kind(kind)
    alpha = _check_alpha(alpha)
    a, ta = _order(control, control_times)
    b, tb = _order(challenger, challenger_times)
    path = SequencePath()
    total = len(a) + len(b)
    if len(a) == 0 or len(b) == 0:
        return path
    arm = np.concatenate([np.zeros(len(a), dtype=np.int8), np.ones(len(b), dtype=np.int8)])
    merged = np.argsort(np.concatenate([ta, tb]), kind="stable")
    arm = arm[merged]
    values = np.concatenate([a, b])[merged]
    in_a = (arm == 0).astype(np.float64)
    in_b = 1.0 - in_a
    n_a, n_b = np.cumsum(in_a), np.cumsum(in_b)
    s_a, s_b = np.cumsum(values * in_a), np.cumsum(values * in_b)
    q_a, q_b = np.cumsum(values**2 * in_a), np.cumsum(values**2 * in_b)
    if looks is None or looks >= total:
        at = np.arange(total)
    else:
        at = np.unique(np.ceil(np.linspace(0, total, int(looks) + 1)[1:]).astype(np.int64) - 1)
    at = at[(n_a[at] >= min_samples) & (n_b[at] >= min_samples)]
    if len(at) == 0:
        return path
    na, nb = n_a[at], n_b[at]
    diff = s_a[at] / na - s_b[at] / nb
    var = _variance(na, s_a[at], q_a[at], kind) / na + _variance(nb, s_b[at], q_b[at], kind) / nb
    half, loglr = msprt(diff, var, tau, alpha)
    lo = np.maximum.accumulate(diff - half)
    hi = np.minimum.accumulate(diff + half)
    empty = lo > hi  # the asymptotic sequence may cross itself: keep the current look then
    lo, hi = np.where(empty, diff - half, lo), np.where(empty, diff + half, hi)
    best = float(np.max(loglr))
    path.p_value = 1.0 if best <= 0 else float(min(1.0, math.exp(-best)))
    path.n_control = [int(x) for x in na]
    path.n_challenger = [int(x) for x in nb]
    path.difference = [float(x) for x in diff]
    path.lower = [float(x) for x in lo]
    path.upper = [float(x) for x in hi]
    return path


# -- traffic ---------------------------------------------------------------------------------------
#: the p-value below which the split of the traffic is called a sample ratio mismatch
SRM_ALPHA = 0.001


def sample_ratio(counts: dict[str, int], weights: dict[str, float]) -> dict[str, Any] | None:
    """The sample ratio check: requests per arm against the deployment's weights (chi-square
    goodness of fit); ``mismatch`` when ``p < 0.001``. None without traffic or without two arms."""
    from scipy.stats import chisquare

    names = [k for k in counts if weights.get(k, 0) > 0]
    total, weight = sum(counts[k] for k in names), sum(weights[k] for k in names)
    if len(names) < 2 or total == 0:
        return None
    expected = [total * weights[k] / weight for k in names]
    p = float(chisquare([counts[k] for k in names], expected).pvalue)
    return {
        "requests": {k: int(counts[k]) for k in names},
        "expected_share": {k: weights[k] / weight for k in names},
        "observed_share": {k: counts[k] / total for k in names},
        "p_value": p,
        "mismatch": p < SRM_ALPHA,
    }


# -- sample sizes -----------------------------------------------------------------------------------
def _z(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


def _sizes(total: float, share: float) -> dict[str, int]:
    control = math.ceil(share * total - 1e-9)
    challenger = math.ceil((1 - share) * total - 1e-9)
    return {"control": control, "challenger": challenger, "total": control + challenger}


def _spread(var_control: float, var_challenger: float, share: float) -> float:
    """``V * N``: the variance of the difference times the total rows, at ``share`` to the control."""
    return var_control / share + var_challenger / (1 - share)


def fixed_horizon_size(
    var_control: float,
    var_challenger: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    share: float = 0.5,
) -> dict[str, int]:
    """Rows per arm a classical two-sided z-test, run once at the end, needs to detect ``mde``:
    ``N = (z_{1-alpha/2} + z_{power})^2 (s_c^2 / w + s_t^2 / (1 - w)) / mde^2``, split by ``share`` (w)."""
    z = _z(1 - alpha / 2) + _z(power)
    return _sizes(z * z * _spread(var_control, var_challenger, share) / mde**2, share)


def sequential_size(
    var_control: float,
    var_challenger: float,
    mde: float,
    *,
    tau: float,
    alpha: float = 0.05,
    power: float = 0.8,
    share: float = 0.5,
) -> dict[str, int]:
    """Rows per arm at which the always-valid test detects a true difference of ``mde`` with
    probability ``power`` (approximately: when the sequence's half-width plus ``z_power`` standard
    errors falls to ``mde``)."""
    spread = _spread(var_control, var_challenger, share)
    zp = _z(power)

    def reaches(total: float) -> bool:
        v = spread / total
        half, _ = msprt(0.0, v, tau, alpha)
        return float(half) + zp * math.sqrt(v) <= mde

    lo, hi = 1.0, 2.0
    while not reaches(hi):
        lo, hi = hi, hi * 2
        if hi > 1e15:
            return _sizes(hi, share)
    for _ in range(100):
        if hi - lo <= 0.5:
            break
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if reaches(mid) else (mid, hi)
    return _sizes(hi, share)


# -- a comparison -------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Control against one challenger: the always-valid difference, the sample sizes, the decision."""

    control: str
    challenger: str
    n_control: int
    n_challenger: int
    difference: float | None
    lower: float | None
    upper: float | None
    p_value: float
    alpha: float
    tau: float | None
    mde: float | None
    mde_source: str
    greater_is_better: bool
    decision: str
    reason: str
    favours: str | None = None
    fixed_horizon: dict[str, int] | None = None
    sequential: dict[str, int] | None = None
    remaining: dict[str, int] | None = None
    path: SequencePath = field(default_factory=SequencePath)
    estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the difference is ``control - challenger``)."""
        return {
            "control": self.control,
            "challenger": self.challenger,
            "n_control": self.n_control,
            "n_challenger": self.n_challenger,
            "difference": self.difference,
            "lower": self.lower,
            "upper": self.upper,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "tau": self.tau,
            "mde": self.mde,
            "mde_source": self.mde_source,
            "greater_is_better": self.greater_is_better,
            "decision": self.decision,
            "reason": self.reason,
            "favours": self.favours,
            "sample_size": {
                "fixed_horizon": self.fixed_horizon,
                "sequential": self.sequential,
                "remaining": self.remaining,
            },
            "path": self.path.to_dict(),
            "estimated": self.estimated,
        }


def compare(
    control: Any,
    challenger: Any,
    *,
    kind: str,
    greater_is_better: bool,
    alpha: float = 0.05,
    mde: float | None = None,
    power: float = 0.8,
    tau: float | None = None,
    share: float | None = None,
    control_times: Any = None,
    challenger_times: Any = None,
    names: tuple[str, str] = ("control", "challenger"),
    looks: int | None = 100,
    min_samples: int = MIN_SAMPLES,
) -> Comparison:
    """Compare two arms' per-row outcomes with the mSPRT and decide (see the module doc).

    Args:
        control, challenger: per-row outcomes of each arm.
        kind: ``bernoulli`` (0/1 outcomes) or ``continuous``.
        greater_is_better: the metric's direction (accuracy: True; a loss: False).
        alpha: the error rate the test keeps, however often it is looked at.
        mde: the smallest difference worth acting on, on the metric's scale (default:
            :data:`DEFAULT_MDE_SD` standard deviations of the per-row outcome).
        power: for the sample sizes.
        tau: the mixing standard deviation of the mSPRT (default: ``mde`` when given, where the
            interval is tightest about when the classical test would detect it; else
            :data:`DEFAULT_TAU_SD` standard deviations of the per-row outcome).
        share: the control's share of the traffic between the two (default: as observed).
        control_times, challenger_times: when each row was logged (orders the looks).
        names: the arms' names, for the result.
        looks: how many times the sequence is evaluated over the rows (all looks count).
        min_samples: rows per arm before any decision.

    Raises:
        InvalidInput: a bad ``alpha``, ``mde``, ``power``, ``tau`` or ``kind`` (named).
    """
    import numpy as np

    _check_kind(kind)
    alpha = check_settings(alpha, mde, power)
    if tau is not None and (
        isinstance(tau, bool) or not isinstance(tau, int | float) or not 0 < tau < math.inf
    ):
        raise InvalidInput(f"tau must be a positive number, got {tau!r}", field="tau")
    a, b = np.asarray(control, dtype=np.float64), np.asarray(challenger, dtype=np.float64)
    na, nb = len(a), len(b)
    var_a = float(_variance(na, a.sum(), (a**2).sum(), kind)) if na else None
    var_b = float(_variance(nb, b.sum(), (b**2).sum(), kind)) if nb else None
    known = [v for v in (var_a, var_b) if v is not None]
    var_a = var_a if var_a is not None else (known[0] if known else None)
    var_b = var_b if var_b is not None else (known[0] if known else None)
    mde_source = "given"
    if mde is None and var_a is not None and var_b is not None:
        sd = math.sqrt((var_a + var_b) / 2)
        mde = DEFAULT_MDE_SD * sd if sd > 0 else None
        mde_source = f"default: {DEFAULT_MDE_SD:g} standard deviation of the per-row outcome"
        if tau is None and sd > 0:
            tau = DEFAULT_TAU_SD * sd
    tau = tau if tau is not None else mde
    result = Comparison(
        control=names[0],
        challenger=names[1],
        n_control=na,
        n_challenger=nb,
        difference=None,
        lower=None,
        upper=None,
        p_value=1.0,
        alpha=alpha,
        tau=tau,
        mde=mde,
        mde_source=mde_source,
        greater_is_better=bool(greater_is_better),
        decision="continue",
        reason="",
    )
    if share is None:
        share = na / (na + nb) if na and nb else 0.5
    share = min(max(float(share), 0.01), 0.99)
    if mde is not None and var_a is not None and var_b is not None and tau is not None:
        result.fixed_horizon = fixed_horizon_size(var_a, var_b, mde, alpha=alpha, power=power, share=share)
        result.sequential = sequential_size(var_a, var_b, mde, tau=tau, alpha=alpha, power=power, share=share)
        need = result.sequential
        rest_a, rest_b = max(0, need["control"] - na), max(0, need["challenger"] - nb)
        result.remaining = {"control": rest_a, "challenger": rest_b, "total": rest_a + rest_b}
    if na == 0 or nb == 0:
        empty = names[0] if na == 0 else names[1]
        result.reason = f"arm {empty} has no rows with an outcome yet"
        return result
    result.difference = float(a.mean() - b.mean())
    if tau is None:  # zero variance in both arms and no mde: every outcome is the same number
        result.lower = result.upper = result.difference
        result.tau = 0.0
        if result.difference == 0:
            result.decision, result.reason = "keep_control", "every outcome is the same in both arms"
            return result
        result.p_value = 0.0
        return _decide(result, min_samples)
    result.path = sequence_path(
        a,
        b,
        kind=kind,
        tau=tau,
        alpha=alpha,
        control_times=control_times,
        challenger_times=challenger_times,
        looks=looks,
        min_samples=min_samples,
    )
    result.p_value = result.path.p_value
    if result.path.lower:
        result.lower, result.upper = result.path.lower[-1], result.path.upper[-1]
    return _decide(result, min_samples)


def _decide(r: Comparison, min_samples: int) -> Comparison:
    if r.n_control < min_samples or r.n_challenger < min_samples or r.lower is None or r.upper is None:
        r.decision = "continue"
        r.reason = f"fewer than {min_samples} rows with an outcome in an arm: keep collecting"
        return r
    lo, hi = r.lower, r.upper
    # difference = control - challenger: the challenger is better when it is < 0 (higher is better)
    challenger_better = hi < 0 if r.greater_is_better else lo > 0
    control_better = lo > 0 if r.greater_is_better else hi < 0
    if challenger_better:
        r.decision, r.favours = "promote_challenger", "challenger"
        r.reason = f"the always-valid interval excludes 0 in favour of {r.challenger}"
    elif control_better:
        r.decision, r.favours = "keep_control", "control"
        r.reason = f"the always-valid interval excludes 0 in favour of {r.control}"
    elif r.mde is not None and -r.mde <= lo and hi <= r.mde:
        r.decision = "keep_control"
        r.reason = f"no meaningful difference: the interval lies within +/-{r.mde:.4g}; stop early"
    else:
        r.decision = "continue"
        more = f"; about {r.remaining['total']:,} more rows" if r.remaining and r.remaining["total"] else ""
        r.reason = f"the interval still contains 0 and effects beyond +/-{r.mde or 0:.4g}{more}"
        return r
    if r.remaining is not None:  # decided: nothing more is needed
        r.remaining = {"control": 0, "challenger": 0, "total": 0}
    return r


def overall_decision(comparisons: Sequence[Comparison]) -> tuple[str, str]:
    """One decision for several challengers: promote the best challenger that beat the control,
    keep the control when every comparison says so, continue otherwise."""
    if not comparisons:
        return "continue", "no challenger to compare"
    winners = [c for c in comparisons if c.decision == "promote_challenger"]
    if winners:
        sign = -1.0 if winners[0].greater_is_better else 1.0
        best = max(winners, key=lambda c: sign * (c.difference or 0.0))
        return "promote_challenger", f"promote {best.challenger}: {best.reason}"
    if all(c.decision == "keep_control" for c in comparisons):
        return "keep_control", comparisons[0].reason if len(
            comparisons
        ) == 1 else "no challenger beats the control"
    waiting = [c for c in comparisons if c.decision == "continue"]
    return "continue", waiting[0].reason
