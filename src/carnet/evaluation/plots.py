"""Charts as PNG bytes (matplotlib ``Figure`` + Agg, no pyplot state) with the data they show.

Every :class:`~carnet.domain.evaluation.Plot` carries the JSON-ready series it was drawn
from; curves are thinned to at most ``MAX_POINTS`` points and scatters sampled (seeded) to
at most ``MAX_SCATTER`` points so reports stay small.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from carnet.domain.evaluation import Plot
from carnet.evaluation._common import take_rows

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from carnet.evaluation.metrics_classification import ClassificationData
    from carnet.evaluation.metrics_regression import RegressionData

__all__ = [
    "MAX_POINTS",
    "MAX_SCATTER",
    "classification_plots",
    "figure",
    "regression_plots",
    "render",
    "short",
    "thin",
]

MAX_POINTS = 300
MAX_SCATTER = 2000
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


#: fixed margins in inches (left, right, bottom, top, between columns) of ``figure(tight=False)``
_MARGINS = (0.72, 0.15, 0.55, 0.32, 0.75)


def figure(
    ncols: int = 1, width: float = 4.8, height: float = 3.4, *, tight: bool = True
) -> tuple[Figure, list[Axes]]:
    """A detached Agg figure with ``ncols`` axes side by side.

    ``tight`` fits the margins to the tick labels (an extra layout pass when rendered); charts
    whose labels are short and known, such as curves over [0, 1], use fixed margins instead.
    """
    from matplotlib.figure import Figure

    total = width * ncols
    fig = Figure(figsize=(total, height), dpi=90, layout="tight" if tight else None)
    if not tight:
        left, right, bottom, top, gap = _MARGINS
        axis = (total - left - right - gap * (ncols - 1)) / ncols
        fig.subplots_adjust(
            left=left / total,
            right=1 - right / total,
            bottom=bottom / height,
            top=1 - top / height,
            wspace=gap / axis,
        )
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def render(fig: Figure) -> bytes:
    """The figure as PNG bytes (no software/time metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def thin(*series: np.ndarray, max_points: int = MAX_POINTS) -> list[list[float]]:
    """Evenly thinned copies of equal-length curves (first and last points kept), as lists."""
    n = len(series[0])
    if n > max_points:
        idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
        series = tuple(np.asarray(s)[idx] for s in series)
    return [[float(v) for v in np.asarray(s, dtype=float)] for s in series]


def short(label: Any, width: int = 14) -> str:
    """A label as plain text for matplotlib: cut to ``width`` characters, ``$`` escaped (no mathtext)."""
    text = str(label)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.replace("$", r"\$")


def sample(n: int, seed: int = 0) -> np.ndarray:
    """Row positions of a seeded scatter sample of at most ``MAX_SCATTER`` rows."""
    rows = take_rows(n, MAX_SCATTER, seed)
    return np.arange(n) if rows is None else rows


# -- classification -------------------------------------------------------------------------------


def confusion_plot(labels: list[Any], matrix: list[list[int]]) -> Plot:
    """Heat map of the confusion matrix (rows = truth, columns = prediction)."""
    k = len(labels)
    shown = min(k, 30)
    m = np.asarray(matrix, dtype=float)[:shown, :shown]
    size = 3.6 + 0.12 * shown
    fig, (ax,) = figure(width=size, height=size * 0.85)
    ax.imshow(m, cmap="Blues")
    ticks = np.arange(shown)
    names = [short(v) for v in labels[:shown]]
    ax.set_xticks(ticks, names, rotation=45 if shown > 3 else 0, ha="right" if shown > 3 else "center")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    if shown <= 12:
        top = m.max() if m.size else 0
        for i in range(shown):
            for j in range(shown):
                color = "white" if top and m[i, j] > top / 2 else "black"
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", color=color, fontsize=8)
    title = "Confusion matrix" + (f" (first {shown} of {k} labels)" if shown < k else "")
    ax.set_title(title)
    return Plot("confusion_matrix", title, render(fig), {"labels": list(labels), "matrix": matrix})


def _roc(data: ClassificationData) -> Plot:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(data.is_pos, data.pos_score)
    auc = float(roc_auc_score(data.is_pos, data.pos_score))
    xs, ys = thin(fpr, tpr)
    fig, (ax,) = figure(tight=False)
    ax.plot(xs, ys, color=COLORS[0], label=f"AUC = {auc:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    return Plot("roc", "ROC curve", render(fig), {"fpr": xs, "tpr": ys, "auc": auc})


def _pr(data: ClassificationData) -> Plot:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(data.is_pos, data.pos_score)
    ap = float(average_precision_score(data.is_pos, data.pos_score))
    base = float(data.is_pos.mean())
    rs, ps = thin(recall, precision)
    fig, (ax,) = figure(tight=False)
    ax.step(rs, ps, where="post", color=COLORS[0], label=f"AP = {ap:.3f}")
    ax.axhline(base, ls="--", color="grey", lw=1, label=f"prevalence {base:.3f}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", ylim=(0, 1.02))
    ax.legend(loc="lower left")
    return Plot("pr", "Precision-recall curve", render(fig), {"recall": rs, "precision": ps, "ap": ap})


def _calibration_binary(data: ClassificationData) -> Plot:
    from sklearn.calibration import calibration_curve

    prob_true, prob_pred = calibration_curve(data.is_pos, data.pos_score, n_bins=10, strategy="uniform")
    fig, (ax,) = figure(tight=False)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    ax.plot(prob_pred, prob_true, marker="o", color=COLORS[0], label="model")
    ax.set(xlabel="mean predicted probability", ylabel="observed frequency", title="Calibration")
    ax.legend(loc="upper left")
    payload = {"mean_predicted": prob_pred.tolist(), "observed": prob_true.tolist(), "n_bins": 10}
    return Plot("calibration", "Calibration", render(fig), payload)


def _calibration_max(details: dict[str, Any]) -> Plot:
    bins = details["calibration_bins"]
    conf = [b["confidence"] for b in bins]
    acc = [b["accuracy"] for b in bins]
    fig, (ax,) = figure(tight=False)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.plot(conf, acc, marker="o", color=COLORS[0])
    ax.set(xlabel="confidence (max probability)", ylabel="accuracy", title="Calibration of max probability")
    payload = {"confidence": conf, "accuracy": acc, "count": [b["count"] for b in bins]}
    return Plot("calibration", "Calibration of max probability", render(fig), payload)


def _lift_gain(details: dict[str, Any]) -> Plot:
    rows = details["lift_gain"]
    deciles = [r["decile"] for r in rows]
    gain = [r["cumulative_gain_pct"] for r in rows]
    lift = [r["lift"] for r in rows]
    fig, (ax1, ax2) = figure(ncols=2, width=4.2, tight=False)
    ax1.plot([0, *deciles], [0, *gain], marker="o", color=COLORS[0], label="model")
    ax1.plot([0, 10], [0, 100], ls="--", color="grey", lw=1, label="random")
    ax1.set(xlabel="decile (by descending score)", ylabel="cumulative gain %", title="Cumulative gains")
    ax1.legend(loc="lower right")
    ax2.bar(deciles, lift, color=COLORS[0])
    ax2.axhline(1.0, ls="--", color="grey", lw=1)
    ax2.set(xlabel="decile", ylabel="lift", title="Lift by decile")
    payload = {"decile": deciles, "cumulative_gain_pct": gain, "lift": lift}
    return Plot("lift_gain", "Lift and cumulative gains", render(fig), payload)


def _threshold(details: dict[str, Any]) -> Plot:
    rows = details["thresholds"]
    t = [r["threshold"] for r in rows]
    fig, (ax,) = figure(tight=False)
    series = {}
    for i, key in enumerate(("precision", "recall", "f1")):
        series[key] = [r[key] for r in rows]
        ax.plot(t, series[key], color=COLORS[i], label=key)
    best = details["best_threshold"]["threshold"]
    ax.axvline(best, ls=":", color="black", lw=1, label=f"best F1 at {best:.2f}")
    ax.set(
        xlabel="threshold (score >= t is positive)",
        ylabel="value",
        title="Threshold analysis",
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower left", fontsize=8)
    return Plot(
        "threshold", "Threshold analysis", render(fig), {"threshold": t, **series, "best_threshold": best}
    )


def _roc_multiclass(data: ClassificationData) -> Plot:
    from sklearn.metrics import roc_auc_score, roc_curve

    assert data.proba is not None
    fig, (ax,) = figure(width=5.2)
    curves = []
    for j, label in enumerate(data.classes[:10]):
        positive = data.t == j
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, data.proba[:, j])
        auc = float(roc_auc_score(positive, data.proba[:, j]))
        xs, ys = thin(fpr, tpr, max_points=100)
        ax.plot(xs, ys, color=COLORS[j % len(COLORS)], lw=1.2, label=f"{short(label)} ({auc:.3f})")
        curves.append({"label": label, "fpr": xs, "tpr": ys, "auc": auc})
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC one-vs-rest")
    ax.legend(loc="lower right", fontsize=7)
    return Plot("roc", "ROC one-vs-rest per class", render(fig), {"classes": curves})


def classification_plots(data: ClassificationData, details: dict[str, Any]) -> list[Plot]:
    """Binary: roc, pr, calibration, lift_gain, confusion_matrix, threshold.

    Multiclass: confusion_matrix, roc (one-vs-rest per class), calibration of the max probability.
    """
    cm = details["confusion_matrix"]
    out: list[Plot] = []
    if data.proba is not None and data.binary and 0 < data.is_pos.sum() < data.n:
        out += [_roc(data), _pr(data)]
        out += [_calibration_binary(data)] if data.probabilistic else []
        out.append(_lift_gain(details))
    out.append(confusion_plot(cm["labels"], cm["matrix"]))
    if data.proba is None:
        return out
    if data.binary:
        out.append(_threshold(details))
    else:
        out.append(_roc_multiclass(data))
        out += [_calibration_max(details)] if data.probabilistic else []
    return out


# -- regression -----------------------------------------------------------------------------------


def regression_plots(data: RegressionData, seed: int = 0) -> list[Plot]:
    """Residuals (vs predicted and histogram) and predicted vs actual."""
    rows = sample(data.n, seed)
    pred, actual, resid = data.y_hat[rows], data.y[rows], data.residual[rows]
    counts, edges = np.histogram(data.residual, bins=30)
    fig, (ax1, ax2) = figure(ncols=2, width=4.2)
    ax1.scatter(pred, resid, s=6, alpha=0.5, color=COLORS[0])
    ax1.axhline(0, color="grey", lw=1)
    ax1.set(xlabel="predicted", ylabel="residual (truth - predicted)", title="Residuals vs predicted")
    ax2.hist(edges[:-1], bins=edges.tolist(), weights=counts, color=COLORS[0])
    ax2.set(xlabel="residual", ylabel="rows", title="Residual distribution")
    residuals = Plot(
        "residuals",
        "Residuals",
        render(fig),
        {
            "predicted": pred.tolist(),
            "residual": resid.tolist(),
            "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
            "sampled": bool(rows.size < data.n),
        },
    )
    fig, (ax,) = figure(width=4.2, height=3.8)
    ax.scatter(actual, pred, s=6, alpha=0.5, color=COLORS[0])
    low = float(min(actual.min(), pred.min()))
    high = float(max(actual.max(), pred.max()))
    ax.plot([low, high], [low, high], ls="--", color="grey", lw=1)
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    pva = Plot(
        "predicted_vs_actual",
        "Predicted vs actual",
        render(fig),
        {"actual": actual.tolist(), "predicted": pred.tolist(), "sampled": bool(rows.size < data.n)},
    )
    return [residuals, pva]
