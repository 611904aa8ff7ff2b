"""Classification detail tables: per class, confusion matrix, thresholds, lift/gain, calibration bins.

* Thresholds 0.05, 0.10, ..., 0.95: a row is positive when its positive-class score >= t;
  ``best_threshold`` is the grid threshold with the highest F1 (the first on ties).
* Lift/gain: rows sorted by descending positive score (ties keep row order) and split into 10
  groups of equal size (``numpy.array_split``); per decile the response rate, lift = rate /
  overall rate, and the cumulative gain % = share of all positives found so far.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from carnet.evaluation._common import quiet, summary
from carnet.evaluation.metrics_classification import ECE_BINS, ClassificationData, ece_parts

__all__ = ["THRESHOLDS", "details", "ece_table", "lift_gain_table", "threshold_table"]

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


def threshold_table(score: np.ndarray, positive: np.ndarray) -> list[dict[str, float]]:
    """Precision, recall, F1, accuracy and predicted-positive rate at thresholds 0.05..0.95 (score >= t)."""
    t = np.asarray(THRESHOLDS)[:, None]
    pred = score[None, :] >= t
    pos = positive[None, :].astype(bool)
    tp, fp = (pred & pos).sum(axis=1), (pred & ~pos).sum(axis=1)
    fn, tn = (~pred & pos).sum(axis=1), (~pred & ~pos).sum(axis=1)
    n = score.size
    with np.errstate(all="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return [
        {
            "threshold": THRESHOLDS[i],
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "accuracy": float((tp[i] + tn[i]) / n),
            "predicted_positive_rate": float((tp[i] + fp[i]) / n),
        }
        for i in range(len(THRESHOLDS))
    ]


def lift_gain_table(score: np.ndarray, positive: np.ndarray, groups: int = 10) -> list[dict[str, float]]:
    """Deciles by descending score: response rate, lift, cumulative gain % and cumulative lift."""
    order = np.argsort(-score, kind="stable")
    pos = positive.astype(float)[order]
    total, base = pos.sum(), pos.mean() if pos.size else float("nan")
    rows, cum_n, cum_pos = [], 0, 0.0
    for i, part in enumerate(np.array_split(np.arange(score.size), groups), start=1):
        if part.size == 0:
            continue
        hits = float(pos[part].sum())
        cum_n, cum_pos = cum_n + part.size, cum_pos + hits
        rate = hits / part.size
        rows.append(
            {
                "decile": i,
                "n": int(part.size),
                "positives": int(hits),
                "min_score": float(score[order[part[-1]]]),
                "response_rate": rate,
                "lift": rate / base if base > 0 else float("nan"),
                "cumulative_positives": int(cum_pos),
                "cumulative_gain_pct": 100.0 * cum_pos / total if total > 0 else float("nan"),
                "cumulative_lift": (cum_pos / cum_n) / base if base > 0 else float("nan"),
            }
        )
    return rows


def ece_table(data: ClassificationData) -> list[dict[str, float]]:
    """Per confidence bin: bounds, count, mean confidence and accuracy (non-empty bins)."""
    conf, correct, bins = ece_parts(data)
    count = np.bincount(bins, minlength=ECE_BINS)
    sum_conf = np.bincount(bins, weights=conf, minlength=ECE_BINS)
    sum_acc = np.bincount(bins, weights=correct, minlength=ECE_BINS)
    return [
        {
            "bin": b + 1,
            "lower": b / ECE_BINS,
            "upper": (b + 1) / ECE_BINS,
            "count": int(count[b]),
            "confidence": float(sum_conf[b] / count[b]),
            "accuracy": float(sum_acc[b] / count[b]),
        }
        for b in range(ECE_BINS)
        if count[b]
    ]


def details(data: ClassificationData) -> dict[str, Any]:
    """Per-class table, confusion matrix, class balance; binary: thresholds, lift/gain, scores."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    with quiet():
        prec, rec, f1, support = precision_recall_fscore_support(
            data.y, data.y_pred, labels=data.labels, zero_division=0
        )
        matrix = confusion_matrix(data.y, data.y_pred, labels=data.labels)
    predicted = matrix.sum(axis=0)
    out: dict[str, Any] = {
        "labels": list(data.labels),
        "binary": data.binary,
        "per_class": [
            {
                "label": label,
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
                "predicted": int(predicted[i]),
            }
            for i, label in enumerate(data.labels)
        ],
        "confusion_matrix": {"labels": list(data.labels), "matrix": matrix.tolist()},
    }
    if data.binary:
        out["positive_label"] = data.pos_label
    if data.proba is None:
        return out
    if data.probabilistic:
        out["calibration_bins"] = ece_table(data)
    if data.binary:
        score, positive = data.pos_score, data.is_pos
        table = threshold_table(score, positive)
        best = max(table, key=lambda r: r["f1"])
        out["thresholds"] = table
        out["best_threshold"] = {"threshold": best["threshold"], "f1": best["f1"]}
        out["lift_gain"] = lift_gain_table(score, positive)
        out["score_distribution"] = {
            "positive": summary(score[positive]),
            "negative": summary(score[~positive]),
        }
    else:
        out["score_distribution"] = {"max_probability": summary(data.proba.max(axis=1))}
    return out
