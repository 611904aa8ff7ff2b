"""Classification metrics (binary and multiclass) and their bootstrap batches.

Point estimates call scikit-learn; bootstrap batches recompute the same definitions from
weighted confusion matrices and weighted rank statistics (checked equal in the tests).

* Binary means the label space has exactly two labels; the positive label is ``classes[1]``
  (``Predictions.classes``, else the sorted labels) and its score is ``y_score[:, 1]``.
* ``log_loss``, ``brier`` and ``ece`` need probabilities: they are unavailable when
  ``predictions.extra["score_kind"]`` says the scores are something else
  (``decision_function``, ``one_hot``); rank metrics (AUC) still use such scores.
* ``ece``: rows are binned by confidence = max class probability into 10 equal-width bins
  ``[i/10, (i+1)/10)`` (the last closed); ``ece = sum_b n_b / n * |accuracy_b - confidence_b|``
  where accuracy is whether the arg-max class equals the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from carnet.errors import InvalidInput
from carnet.evaluation._common import Impl, as_1d, check_length, unavailable
from carnet.evaluation.catalog import default_metrics
from carnet.evaluation.resampling import weighted_auc, weighted_average_precision, weighted_confusion

__all__ = ["ECE_BINS", "IMPLS", "ClassificationData", "defaults", "ece_parts", "prepare"]

ECE_BINS = 10


@dataclass
class ClassificationData:
    """Validated classification inputs; ``t``/``p`` are label codes into ``labels``."""

    y: np.ndarray
    y_pred: np.ndarray
    labels: list[Any]
    t: np.ndarray
    p: np.ndarray
    classes: list[Any]
    proba: np.ndarray | None
    binary: bool
    n: int
    score_kind: str = "proba"
    notes: list[str] = field(default_factory=list)

    @property
    def probabilistic(self) -> bool:
        """Whether ``y_score`` holds probabilities (not squashed decision values or one-hot labels)."""
        return self.proba is not None and self.score_kind == "proba"

    @property
    def pos_label(self) -> Any:
        return self.labels[1]

    @property
    def pos_score(self) -> np.ndarray:
        assert self.proba is not None
        return self.proba[:, 1]

    @property
    def is_pos(self) -> np.ndarray:
        return cast("np.ndarray", self.t == 1)


def _label_space(classes: list[Any] | None, y: np.ndarray, y_pred: np.ndarray) -> list[Any]:
    seen = list(dict.fromkeys(np.concatenate([y, y_pred]).tolist()))
    base = list(classes) if classes is not None else []
    extra = [v for v in seen if v not in base]
    try:
        extra.sort()
    except TypeError:
        extra.sort(key=repr)
    return base + extra


def prepare(
    truth: Any, predictions: Any, options: dict[str, Any], *, X: Any = None, fitted: Any = None, seed: int = 0
) -> ClassificationData:
    """Validate and encode truth, predicted labels and class probabilities."""
    import pandas as pd

    y = as_1d(truth, "truth")
    n = len(y)
    if n and pd.isna(y).any():
        raise InvalidInput("truth contains missing labels", field="truth")
    classes = None if predictions.classes is None else list(predictions.classes)
    proba = None
    if predictions.y_score is not None:
        proba = np.asarray(predictions.y_score, dtype=float)
        if proba.ndim == 1 or (proba.ndim == 2 and proba.shape[1] == 1):
            proba = proba.reshape(-1)
            proba = np.column_stack([1.0 - proba, proba])
        if proba.ndim != 2:
            raise InvalidInput(
                "predictions.y_score must be (n, k) probabilities", field="predictions.y_score"
            )
        check_length(n, proba.shape[0], "predictions.y_score")
        if not np.isfinite(proba).all():
            raise InvalidInput(
                "predictions.y_score contains NaN or infinite values", field="predictions.y_score"
            )
    if predictions.y_pred is not None:
        y_pred = as_1d(predictions.y_pred, "predictions.y_pred")
        check_length(n, len(y_pred), "predictions.y_pred")
    elif proba is not None and classes is not None:
        y_pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
        y_pred = np.asarray(y_pred.tolist())
    else:
        raise InvalidInput(
            "predictions.y_pred is required (or y_score with classes)", field="predictions.y_pred"
        )
    if classes is None and proba is not None:
        inferred = _label_space(None, y, y_pred)
        if len(inferred) != proba.shape[1]:
            raise InvalidInput(
                f"predictions.classes is required: y_score has {proba.shape[1]} columns but the data "
                f"has {len(inferred)} labels",
                field="predictions.classes",
            )
        classes = inferred
    labels = _label_space(classes, y, y_pred)
    classes = classes if classes is not None else labels
    if proba is not None and proba.shape[1] != len(classes):
        raise InvalidInput(
            f"predictions.y_score has {proba.shape[1]} columns but predictions.classes has {len(classes)}",
            field="predictions.y_score",
        )
    index = pd.Index(labels)
    data = ClassificationData(
        y=y,
        y_pred=y_pred,
        labels=labels,
        t=index.get_indexer(y),
        p=index.get_indexer(y_pred),
        classes=classes,
        proba=proba,
        binary=len(labels) == 2,
        n=n,
        score_kind=str((predictions.extra or {}).get("score_kind", "proba")),
    )
    if n == 0:
        raise InvalidInput("truth is empty: nothing to evaluate", field="truth")
    if proba is not None and extra_labels(data):
        data.notes.append(f"labels without a probability column: {extra_labels(data)}")
    return data


def extra_labels(data: ClassificationData) -> list[Any]:
    """Labels seen in truth or predictions that are not among ``classes``."""
    return data.labels[len(data.classes) :]


def defaults(data: ClassificationData) -> list[str]:
    """Default metrics for these data (binary or multiclass list)."""
    return default_metrics("classification", binary=data.binary)


# -- requirement checks ---------------------------------------------------------------------------


def _need_binary(data: ClassificationData, name: str) -> None:
    if not data.binary:
        raise unavailable(
            name, f"needs binary labels, found {len(data.labels)}; use {name}_macro or roc_auc_ovr", "metrics"
        )


def _need_proba(data: ClassificationData, name: str) -> np.ndarray:
    if data.proba is None:
        raise unavailable(name, "needs class probabilities (predictions.y_score)", "predictions.y_score")
    return data.proba


def _need_probabilities(data: ClassificationData, name: str) -> np.ndarray:
    """The scores, only when they are probabilities (calibration metrics)."""
    proba = _need_proba(data, name)
    if not data.probabilistic:
        raise unavailable(
            name, f"scores are not probabilities (score_kind={data.score_kind})", "predictions.extra"
        )
    return proba


# -- point estimates (scikit-learn) ---------------------------------------------------------------


def _sk_avg(fn_name: str, average: str) -> Any:
    def point(data: ClassificationData) -> float:
        import sklearn.metrics as skm

        fn = getattr(skm, fn_name)
        return float(fn(data.y, data.y_pred, average=average, zero_division=0))

    return point


def _sk_binary(fn_name: str, name: str) -> Any:
    def point(data: ClassificationData) -> float:
        import sklearn.metrics as skm

        _need_binary(data, name)
        try:
            return float(
                getattr(skm, fn_name)(data.y, data.y_pred, pos_label=data.pos_label, zero_division=0)
            )
        except ValueError:  # a label set sklearn's binary mode rejects: same definition by hand
            return float(_CONF[name](_confusion(data, np.ones((1, data.n))), data)[0])

    return point


def _accuracy(data: ClassificationData) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(data.y, data.y_pred))


def _balanced_accuracy(data: ClassificationData) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(data.y, data.y_pred))


def _roc_auc(data: ClassificationData) -> float:
    from sklearn.metrics import roc_auc_score

    _need_binary(data, "roc_auc")
    _need_proba(data, "roc_auc")
    if len(np.unique(data.t)) < 2:
        data.notes.append("roc_auc undefined: only one class in the truth")
        return float("nan")
    return float(roc_auc_score(data.is_pos, data.pos_score))


def _pr_auc(data: ClassificationData) -> float:
    from sklearn.metrics import average_precision_score

    _need_binary(data, "pr_auc")
    _need_proba(data, "pr_auc")
    if not data.is_pos.any():
        data.notes.append("pr_auc undefined: no positive rows in the truth")
        return float("nan")
    return float(average_precision_score(data.is_pos, data.pos_score))


def _roc_auc_ovr(data: ClassificationData) -> float:
    from sklearn.metrics import roc_auc_score

    proba = _need_proba(data, "roc_auc_ovr")
    if data.binary:
        raise unavailable("roc_auc_ovr", "is for multiclass labels; use roc_auc", "metrics")
    try:
        return float(roc_auc_score(data.y, proba, multi_class="ovr", average="macro", labels=data.classes))
    except ValueError as exc:
        data.notes.append(f"roc_auc_ovr undefined: {exc}")
        return float("nan")


def _log_loss(data: ClassificationData) -> float:
    from sklearn.metrics import log_loss

    proba = _need_probabilities(data, "log_loss")
    try:
        order = np.argsort(np.asarray(data.classes))  # sklearn reads columns in sorted label order
        labels = [data.classes[i] for i in order]
        return float(log_loss(data.y, proba[:, order], labels=labels))
    except (ValueError, TypeError) as exc:
        data.notes.append(f"log_loss undefined: {exc}")
        return float("nan")


def _brier(data: ClassificationData) -> float:
    from sklearn.metrics import brier_score_loss

    _need_binary(data, "brier")
    _need_probabilities(data, "brier")
    return float(brier_score_loss(data.is_pos.astype(int), data.pos_score))


def ece_parts(data: ClassificationData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    proba = _need_probabilities(data, "ece")
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == data.t).astype(float)
    bins = np.minimum(np.floor(conf * ECE_BINS), ECE_BINS - 1).astype(int)
    return conf, correct, np.clip(bins, 0, ECE_BINS - 1)


def _ece(data: ClassificationData) -> float:
    conf, correct, bins = ece_parts(data)
    gap = np.bincount(bins, weights=correct - conf, minlength=ECE_BINS)
    return float(np.abs(gap).sum() / data.n)


# -- bootstrap batches ----------------------------------------------------------------------------


def _confusion(data: ClassificationData, W: np.ndarray) -> np.ndarray:
    return weighted_confusion(data.t, data.p, len(data.labels), W)


def _per_class(C: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diagonal(C, axis1=1, axis2=2)
    support, predicted = C.sum(axis=2), C.sum(axis=1)
    with np.errstate(all="ignore"):
        return {
            "tp": tp,
            "support": support,
            "present": (support + predicted) > 0,
            "precision": np.where(predicted > 0, tp / predicted, 0.0),
            "recall": np.where(support > 0, tp / support, 0.0),
            "f1": np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0),
        }


def _macro(kind: str) -> Any:
    def batch(C: np.ndarray, data: ClassificationData) -> np.ndarray:
        pc = _per_class(C)
        present = pc["present"]
        return cast("np.ndarray", (pc[kind] * present).sum(axis=1) / present.sum(axis=1))

    return batch


def _weighted(kind: str) -> Any:
    def batch(C: np.ndarray, data: ClassificationData) -> np.ndarray:
        pc = _per_class(C)
        return cast("np.ndarray", (pc[kind] * pc["support"]).sum(axis=1) / pc["support"].sum(axis=1))

    return batch


def _binary(kind: str) -> Any:
    def batch(C: np.ndarray, data: ClassificationData) -> np.ndarray:
        return _per_class(C)[kind][:, 1]

    return batch


def _acc_batch(C: np.ndarray, data: ClassificationData) -> np.ndarray:
    return cast("np.ndarray", np.trace(C, axis1=1, axis2=2) / C.sum(axis=(1, 2)))


def _bal_batch(C: np.ndarray, data: ClassificationData) -> np.ndarray:
    pc = _per_class(C)
    has = pc["support"] > 0
    return cast("np.ndarray", (pc["recall"] * has).sum(axis=1) / has.sum(axis=1))


_CONF = {
    "accuracy": _acc_batch,
    "balanced_accuracy": _bal_batch,
    "precision_macro": _macro("precision"),
    "recall_macro": _macro("recall"),
    "f1_macro": _macro("f1"),
    "precision_weighted": _weighted("precision"),
    "recall_weighted": _weighted("recall"),
    "f1_weighted": _weighted("f1"),
    "precision": _binary("precision"),
    "recall": _binary("recall"),
    "f1": _binary("f1"),
}


def _conf_batch(name: str) -> Any:
    fn = _CONF[name]
    return lambda data, W: fn(_confusion(data, W), data)


def _row_mean(values: Any) -> Any:
    """A batch computing the W-weighted mean of a per-row vector ``values(data)``."""
    return lambda data, W: (W @ values(data)) / W.sum(axis=1)


def _row_log_loss(data: ClassificationData) -> np.ndarray:
    proba = _need_probabilities(data, "log_loss")
    eps = np.finfo(float).eps
    known = data.t < proba.shape[1]  # labels without a column get probability 0
    p_true = np.where(known, proba[np.arange(data.n), np.where(known, data.t, 0)], 0.0)
    return cast("np.ndarray", -np.log(np.clip(p_true, eps, 1 - eps)))


def _ece_batch(data: ClassificationData, W: np.ndarray) -> np.ndarray:
    conf, correct, bins = ece_parts(data)
    onehot = np.zeros((data.n, ECE_BINS))
    onehot[np.arange(data.n), bins] = correct - conf
    return cast("np.ndarray", np.abs(W @ onehot).sum(axis=1) / W.sum(axis=1))


def _ovr_batch(data: ClassificationData, W: np.ndarray) -> np.ndarray:
    proba = _need_proba(data, "roc_auc_ovr")
    aucs = [weighted_auc(proba[:, j], data.t == j, W) for j in range(proba.shape[1])]
    return cast("np.ndarray", np.mean(aucs, axis=0))


IMPLS: dict[str, Impl] = {
    "accuracy": Impl(_accuracy, _conf_batch("accuracy")),
    "balanced_accuracy": Impl(_balanced_accuracy, _conf_batch("balanced_accuracy")),
    "roc_auc": Impl(_roc_auc, lambda d, W: weighted_auc(d.pos_score, d.is_pos, W)),
    "roc_auc_ovr": Impl(_roc_auc_ovr, _ovr_batch),
    "pr_auc": Impl(_pr_auc, lambda d, W: weighted_average_precision(d.pos_score, d.is_pos, W)),
    "log_loss": Impl(_log_loss, _row_mean(_row_log_loss)),
    "brier": Impl(_brier, _row_mean(lambda d: (d.pos_score - d.is_pos) ** 2)),
    "ece": Impl(_ece, _ece_batch),
}
for _avg in ("macro", "weighted"):
    IMPLS[f"precision_{_avg}"] = Impl(_sk_avg("precision_score", _avg), _conf_batch(f"precision_{_avg}"))
    IMPLS[f"recall_{_avg}"] = Impl(_sk_avg("recall_score", _avg), _conf_batch(f"recall_{_avg}"))
    IMPLS[f"f1_{_avg}"] = Impl(_sk_avg("f1_score", _avg), _conf_batch(f"f1_{_avg}"))
for _name, _fn in (("precision", "precision_score"), ("recall", "recall_score"), ("f1", "f1_score")):
    IMPLS[_name] = Impl(_sk_binary(_fn, _name), _conf_batch(_name))
