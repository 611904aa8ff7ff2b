"""CBPE: confidence-based performance estimation of a classifier on windows without labels.

Fitted on a labelled reference, CBPE turns each window's scores into calibrated class
probabilities ``p`` (isotonic regression per class, fitted on the reference when that
improves the out-of-fold expected calibration error, as NannyML does) and reads the
expected confusion matrix from them: with the model's prediction ``yhat`` per row,
``E[TP] = sum p * yhat``, ``E[FP] = sum (1 - p) * yhat``, ``E[FN] = sum p * (1 - yhat)``,
``E[TN] = sum (1 - p) * (1 - yhat)``; accuracy, precision, recall and F1 follow. ROC AUC is
the area under the expected ROC curve: rows ranked by their raw score, the expected TPR and
FPR at each threshold are the cumulative shares of ``p`` and ``1 - p``. Multiclass metrics
are one-vs-rest and macro-averaged. Estimates are right as long as the model stays
calibrated on the window (covariate shift: ``P(y | x)`` unchanged); they cannot see concept
drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from carnet.errors import InvalidInput
from carnet.monitoring.perf_common import (
    Estimate,
    ReferenceStats,
    check_metrics,
    check_sigmas,
    chunk_slices,
    dump_state,
    load_state,
    make_estimate,
    plain,
    resolve_chunk_size,
)
from carnet.monitoring.perf_realized import realized_metrics

__all__ = ["CALIBRATION_MODES", "CBPE", "CBPE_METRICS", "Calibration"]

#: metrics CBPE estimates (multiclass: one-vs-rest, macro-averaged)
CBPE_METRICS = ("roc_auc", "f1", "accuracy", "precision", "recall")
#: ``auto`` calibrates a class when it lowers the out-of-fold ECE; ``always`` / ``never`` force it
CALIBRATION_MODES = ("auto", "always", "never")
_FORMAT = "carnet.cbpe/1"
_ECE_BINS = 10
_FOLDS = 5
_ROW_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Calibration:
    """The isotonic map of one class's score (None = identity) and the ECEs that decided it."""

    x: tuple[float, ...] | None
    y: tuple[float, ...] | None
    ece_raw: float
    ece_calibrated: float | None

    @property
    def applied(self) -> bool:
        return self.x is not None

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``scores`` (piecewise-linear, clipped at the ends)."""
        if self.x is None or self.y is None:
            return scores
        return cast("np.ndarray", np.interp(scores, np.asarray(self.x), np.asarray(self.y)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": None if self.x is None else list(self.x),
            "y": None if self.y is None else list(self.y),
            "ece_raw": self.ece_raw,
            "ece_calibrated": self.ece_calibrated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        x, y = data.get("x"), data.get("y")
        return cls(
            x=None if x is None else tuple(float(v) for v in x),
            y=None if y is None else tuple(float(v) for v in y),
            ece_raw=float(data["ece_raw"]),
            ece_calibrated=None if data.get("ece_calibrated") is None else float(data["ece_calibrated"]),
        )


def _ece(prob: np.ndarray, target: np.ndarray) -> float:
    """Expected calibration error of one class's probabilities (10 equal-width bins)."""
    bins = np.clip(np.floor(prob * _ECE_BINS).astype(int), 0, _ECE_BINS - 1)
    gap = np.bincount(bins, weights=target - prob, minlength=_ECE_BINS)
    return float(np.abs(gap).sum() / max(len(prob), 1))


def _isotonic(scores: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, target)
    return np.asarray(iso.X_thresholds_, dtype=float), np.asarray(iso.y_thresholds_, dtype=float)


def _calibrate(scores: np.ndarray, target: np.ndarray, mode: str, seed: int) -> Calibration:
    """Fit the isotonic map of one class and decide whether to use it (``mode``)."""
    ece_raw = _ece(scores, target)
    if mode == "never" or np.ptp(scores) == 0:
        return Calibration(None, None, ece_raw, None)
    from sklearn.model_selection import KFold

    oof = np.empty_like(scores)
    for train, test in KFold(_FOLDS, shuffle=True, random_state=seed).split(scores):
        x, y = _isotonic(scores[train], target[train])
        oof[test] = np.interp(scores[test], x, y)
    ece_cal = _ece(oof, target)
    if mode == "auto" and ece_cal >= ece_raw:
        return Calibration(None, None, ece_raw, ece_cal)
    x, y = _isotonic(scores, target)
    return Calibration(tuple(x.tolist()), tuple(y.tolist()), ece_raw, ece_cal)


def _expected_auc(score: np.ndarray, prob: np.ndarray) -> float:
    """ROC AUC expected from ``prob``: the area under the expected ROC curve of ``score``.

    Rows ranked by ``score``; the expected TPR / FPR at each threshold are cumulative shares
    of ``p`` and ``1 - p`` (NannyML's curve). A row cannot be both positive and negative, so
    the curve's self-pairs ``p_i (1 - p_i)`` are taken out of the ratio: the result is
    ``E[correctly ordered pairs] / E[positives * negatives]`` (tied pairs count one half).
    """
    order = np.argsort(-score, kind="stable")
    s, p = score[order], prob[order]
    last = np.r_[s[1:] != s[:-1], True]  # last row of each group of tied scores
    tps, fps = np.cumsum(p)[last], np.cumsum(1.0 - p)[last]
    pos, neg = tps[-1], fps[-1]
    if pos <= 0 or neg <= 0:
        return float("nan")
    area = float(np.trapezoid(np.r_[0.0, tps / pos], np.r_[0.0, fps / neg]))
    self_pairs = float((p * (1.0 - p)).sum())
    pairs = pos * neg - self_pairs
    return (area * pos * neg - 0.5 * self_pairs) / pairs if pairs > 0 else float("nan")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


class CBPE:
    """Confidence-based performance estimation for binary and multiclass classifiers.

    Build it with :meth:`fit` on a labelled reference, then call :meth:`estimate` on windows
    of scores. ``save()`` / ``load()`` keep it as JSON bytes (no pickle).
    """

    def __init__(self, state: dict[str, Any]) -> None:
        """From a fitted state (use :meth:`fit` or :meth:`load`)."""
        self.classes: list[Any] = list(state["classes"])
        self.metrics: tuple[str, ...] = tuple(state["metrics"])
        self.threshold = float(state["threshold"])
        self.band_sigmas = float(state["band_sigmas"])
        self.alert_sigmas = float(state["alert_sigmas"])
        self.reference_rows = int(state["reference_rows"])
        self.calibrations = [Calibration.from_dict(c) for c in state["calibrations"]]
        self.reference = {m: ReferenceStats.from_dict(s) for m, s in state["reference"].items()}

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    # -- fitting ----------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        reference_scores: Any,
        reference_labels: Any,
        *,
        classes: Sequence[Any],
        metrics: Sequence[str] = CBPE_METRICS,
        threshold: float = 0.5,
        chunk_size: int | None = None,
        band_sigmas: float = 3.0,
        alert_sigmas: float = 3.0,
        calibration: str = "auto",
        seed: int = 0,
    ) -> CBPE:
        """Calibrate on the reference and measure the realized metrics' spread across its chunks.

        Args:
            reference_scores: binary: ``(n,)`` probability of ``classes[1]`` or ``(n, 2)``;
                multiclass: ``(n, k)`` class probabilities in ``classes`` order (rows sum to 1).
            reference_labels: the true labels, each one of ``classes``.
            classes: the class labels in score-column order (JSON scalars).
            metrics: any of :data:`CBPE_METRICS`.
            threshold: binary decision threshold on the positive score (multiclass: arg-max).
            chunk_size: reference chunk size for the sampling error and the alert thresholds
                (default: a tenth of the reference); pick the usual window size.
            band_sigmas: band half-width in standard errors.
            alert_sigmas: alert threshold distance from the reference mean in chunk std devs.
            calibration: one of :data:`CALIBRATION_MODES`.
            seed: seeds the calibration check's folds.

        Raises:
            InvalidInput: bad shapes, labels outside ``classes``, unknown metrics or settings.
        """
        classes_ = _check_classes(classes)
        metrics_ = check_metrics(metrics, CBPE_METRICS)
        bands, alerts = check_sigmas(band_sigmas, "band_sigmas"), check_sigmas(alert_sigmas, "alert_sigmas")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < 1:
            raise InvalidInput(f"threshold must be in (0, 1), got {threshold!r}", field="threshold")
        if calibration not in CALIBRATION_MODES:
            raise InvalidInput(
                f"calibration must be one of {', '.join(CALIBRATION_MODES)}, got {calibration!r}",
                field="calibration",
            )
        scores = _scores(reference_scores, len(classes_), "reference_scores")
        codes = _label_codes(reference_labels, classes_, len(scores))
        size = resolve_chunk_size(chunk_size, len(scores))
        k = len(classes_)
        columns = [1] if k == 2 else list(range(k))
        cals = [_calibrate(scores[:, j], (codes == j).astype(float), calibration, seed) for j in columns]
        pred = np.asarray(classes_, dtype=object)[_predict(scores, float(threshold))]
        labels = np.asarray(classes_, dtype=object)[codes]
        per_chunk: dict[str, list[float]] = {m: [] for m in metrics_}
        for part in chunk_slices(len(scores), size):
            values = realized_metrics(
                "classification",
                labels[part].tolist(),
                pred[part].tolist(),
                scores[part],
                list(metrics_),
                classes=classes_,
            )
            for m in metrics_:
                per_chunk[m].append(values[m])
        state = {
            "classes": classes_,
            "metrics": list(metrics_),
            "threshold": float(threshold),
            "band_sigmas": bands,
            "alert_sigmas": alerts,
            "reference_rows": len(scores),
            "calibrations": [c.to_dict() for c in cals],
            "reference": {m: ReferenceStats.from_values(v, size).to_dict() for m, v in per_chunk.items()},
        }
        return cls(state)

    # -- estimation -------------------------------------------------------------------------------

    def probabilities(self, scores: Any) -> np.ndarray:
        """Calibrated ``(n, k)`` class probabilities of raw ``scores`` (shaped as in :meth:`fit`)."""
        return self._calibrated(_scores(scores, len(self.classes), "window_scores"))

    def _calibrated(self, raw: np.ndarray) -> np.ndarray:
        if self.binary:
            pos = np.clip(self.calibrations[0].apply(raw[:, 1]), 0.0, 1.0)
            return np.column_stack([1.0 - pos, pos])
        prob = np.column_stack([c.apply(raw[:, j]) for j, c in enumerate(self.calibrations)])
        total = prob.sum(axis=1, keepdims=True)
        uniform = np.full_like(prob, 1.0 / prob.shape[1])
        with np.errstate(all="ignore"):
            return np.where(total > 0, prob / np.where(total > 0, total, 1.0), uniform)

    def estimate(self, window_scores: Any) -> list[Estimate]:
        """Estimated metrics of one window of scores without labels, with bands and alert flags.

        Raises:
            InvalidInput: scores shaped unlike the reference's, or an empty window.
        """
        raw = _scores(window_scores, len(self.classes), "window_scores")
        rows = len(raw)
        if rows == 0:
            raise InvalidInput("window_scores has no rows: nothing to estimate", field="window_scores")
        prob = self._calibrated(raw)
        pred = _predict(raw, self.threshold)
        values = self._expected(raw, prob, pred)
        return [
            make_estimate(
                m,
                values[m],
                self.reference[m],
                rows,
                band_sigmas=self.band_sigmas,
                alert_sigmas=self.alert_sigmas,
                greater_is_better=True,
                bounds=(0.0, 1.0),
            )
            for m in self.metrics
        ]

    def _expected(self, raw: np.ndarray, prob: np.ndarray, pred: np.ndarray) -> dict[str, float]:
        n, k = prob.shape
        hat = pred[:, None] == np.arange(k)[None, :]
        tp = (prob * hat).sum(axis=0)
        fp = ((1.0 - prob) * hat).sum(axis=0)
        fn = (prob * ~hat).sum(axis=0)
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        columns = [1] if self.binary else list(range(k))
        out = {
            "accuracy": float(prob[np.arange(n), pred].mean()),
            "precision": float(precision[columns].mean()),
            "recall": float(recall[columns].mean()),
            "f1": float(f1[columns].mean()),
        }
        if "roc_auc" in self.metrics:
            aucs = [_expected_auc(raw[:, j], prob[:, j]) for j in columns]
            out["roc_auc"] = float(np.mean(aucs)) if all(math.isfinite(a) for a in aucs) else float("nan")
        return out

    def realized(self, window_scores: Any, window_labels: Any) -> dict[str, float]:
        """The metrics CBPE estimates, realized on a window whose labels arrived (carnet's metrics)."""
        raw = _scores(window_scores, len(self.classes), "window_scores")
        codes = _label_codes(window_labels, self.classes, len(raw), "window_labels")
        cls = np.asarray(self.classes, dtype=object)
        return realized_metrics(
            "classification",
            cls[codes].tolist(),
            cls[_predict(raw, self.threshold)].tolist(),
            raw,
            list(self.metrics),
            classes=self.classes,
        )

    # -- persistence ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The fitted state, JSON-ready (``CBPE(state)`` rebuilds it)."""
        return {
            "classes": list(self.classes),
            "metrics": list(self.metrics),
            "threshold": self.threshold,
            "band_sigmas": self.band_sigmas,
            "alert_sigmas": self.alert_sigmas,
            "reference_rows": self.reference_rows,
            "calibrations": [c.to_dict() for c in self.calibrations],
            "reference": {m: s.to_dict() for m, s in self.reference.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CBPE:
        """The inverse of :meth:`to_dict`."""
        try:
            return cls(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"not a CBPE state: {type(exc).__name__}: {exc}", field="data") from None

    def save(self) -> bytes:
        """The fitted estimator as UTF-8 JSON bytes (for the artifact store)."""
        return dump_state(_FORMAT, self.to_dict())

    @classmethod
    def load(cls, data: bytes) -> CBPE:
        """The estimator saved by :meth:`save`."""
        state = load_state(_FORMAT, data)
        return cls.from_dict(state)


# -- input validation -----------------------------------------------------------------------------


def _check_classes(classes: Sequence[Any]) -> list[Any]:
    if isinstance(classes, str) or not isinstance(classes, Sequence | np.ndarray):
        raise InvalidInput("classes must be a list of class labels in score-column order", field="classes")
    out = [plain(c) for c in classes]
    if len(out) < 2 or len(set(out)) != len(out):
        raise InvalidInput(f"classes must hold at least two distinct labels, got {out!r}", field="classes")
    bad = [c for c in out if not isinstance(c, str | int | float | bool)]
    if bad:
        raise InvalidInput(f"classes must be strings or numbers, got {bad!r}", field="classes")
    return out


def _scores(values: Any, k: int, fieldname: str) -> np.ndarray:
    """Raw scores as an ``(n, k)`` float matrix; binary ``(n,)`` input is the positive column."""
    try:
        arr = np.asarray(getattr(values, "to_numpy", lambda: values)(), dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{fieldname} must be numeric scores: {exc}", field=fieldname) from None
    if k == 2 and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if k == 2 and arr.ndim == 1:
        arr = np.column_stack([1.0 - arr, arr])
    if arr.ndim != 2 or arr.shape[1] != k:
        expected = "(n,) or (n, 2)" if k == 2 else f"(n, {k})"
        raise InvalidInput(
            f"{fieldname} has shape {arr.shape}; expected {expected} scores for {k} classes", field=fieldname
        )
    if not np.isfinite(arr).all():
        raise InvalidInput(f"{fieldname} contains NaN or infinite values", field=fieldname)
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise InvalidInput(f"{fieldname} must be probabilities in [0, 1]", field=fieldname)
    if k > 2 and arr.size and np.abs(arr.sum(axis=1) - 1.0).max() > _ROW_SUM_TOLERANCE:
        raise InvalidInput(
            f"{fieldname} rows must sum to 1 (class probabilities, e.g. predict_proba or a softmax)",
            field=fieldname,
        )
    return arr


def _label_codes(labels: Any, classes: list[Any], n: int, fieldname: str = "reference_labels") -> np.ndarray:
    import pandas as pd

    arr = np.asarray(getattr(labels, "to_numpy", lambda: labels)())
    if arr.ndim != 1:
        raise InvalidInput(f"{fieldname} must be one-dimensional, got shape {arr.shape}", field=fieldname)
    if len(arr) != n:
        raise InvalidInput(f"{fieldname} has {len(arr)} rows but the scores have {n}", field=fieldname)
    codes = pd.Index(classes).get_indexer(arr)
    if (codes < 0).any():
        unknown = list(dict.fromkeys(arr[codes < 0].tolist()))[:5]
        raise InvalidInput(f"{fieldname} holds labels outside classes: {unknown!r}", field=fieldname)
    return np.asarray(codes)


def _predict(raw: np.ndarray, threshold: float) -> np.ndarray:
    """Predicted class codes: positive score >= threshold (binary) or the arg-max (multiclass)."""
    if raw.shape[1] == 2:
        return (raw[:, 1] >= threshold).astype(int)
    return cast("np.ndarray", raw.argmax(axis=1))
