"""The ``multitask`` metric family: several targets scored at once, each by its own family.

The truth is a frame with one column per target; the predictions carry one
:class:`~carnet.domain.training.Predictions` per target (``extra["targets"]``) and each target's
family, ``classification`` or ``regression`` (``extra["families"]``). Metrics are named
``<target>.<metric>`` (``churned.roc_auc``, ``spend.rmse``) and computed by that target's family
on the same rows (so a bootstrap resamples every target alike), plus ``mean_primary``: the mean of
each target's primary metric (ROC AUC for a binary target, macro F1 for a multiclass one, R² for a
numeric one), every one higher-is-better.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from carnet.errors import InvalidInput, MetricUnavailable
from carnet.evaluation._common import Impl

__all__ = [
    "MEAN_PRIMARY",
    "MultitaskData",
    "defaults",
    "details",
    "plots",
    "prepare",
    "primary_of",
    "split_name",
]

MEAN_PRIMARY = "mean_primary"
_SUB_FAMILIES = ("classification", "regression")


def split_name(name: str) -> tuple[str, str]:
    """``("churned", "roc_auc")`` of ``churned.roc_auc``.

    Raises:
        InvalidInput: (field ``metrics``) not ``TARGET.METRIC``.
    """
    target, sep, metric = name.rpartition(".")
    if not sep or not target or not metric:
        raise InvalidInput(
            f"a multitask metric is {MEAN_PRIMARY} or TARGET.METRIC (e.g. churned.roc_auc), got {name!r}",
            field="metrics",
        )
    return target, metric


@dataclass
class MultitaskData:
    """Each target's prepared data, its family and its primary metric, on shared rows."""

    n: int
    parts: dict[str, Any]
    families: dict[str, str]
    primaries: dict[str, str]
    #: a family's implementation by name (the engine's own lookup, handed in: no import cycle)
    resolve: Callable[[str], Any]
    notes: list[str] = field(default_factory=list)


def primary_of(family: str, data: Any) -> str:
    """A target's primary metric: ROC AUC (binary), macro F1 (multiclass), R² (numeric)."""
    if family == "regression":
        return "r2"
    classes = getattr(data, "classes", None)
    return "roc_auc" if classes is not None and len(classes) == 2 else "f1_macro"


def prepare(
    truth: Any,
    predictions: Any,
    options: dict[str, Any],
    *,
    X: Any = None,
    fitted: Any = None,
    seed: int = 0,
    resolve: Callable[[str], Any],
) -> MultitaskData:
    """Each target's data prepared by its family (``resolve(family)``, the engine's lookup).

    Raises:
        InvalidInput: the predictions do not carry one entry per target of the truth.
    """
    per_target = dict(predictions.extra.get("targets") or {})
    families = dict(predictions.extra.get("families") or {})
    columns = list(getattr(truth, "columns", []))
    if not columns or set(columns) != set(per_target) or set(families) != set(per_target):
        raise InvalidInput(
            f"multitask predictions must cover the truth's targets {columns}, got {sorted(per_target)}",
            field="predictions",
        )
    parts: dict[str, Any] = {}
    for target in columns:
        family = families[target]
        if family not in _SUB_FAMILIES:
            raise InvalidInput(
                f"target {target!r} has family {family!r}; expected classification or regression",
                field="predictions",
            )
        with np.errstate(all="ignore"):
            parts[target] = resolve(family).prepare(
                truth[target], per_target[target], dict(options), X=None, fitted=None, seed=seed
            )
    primaries = {t: primary_of(families[t], parts[t]) for t in columns}
    return MultitaskData(len(truth), parts, families, primaries, resolve)


def _sub(data: MultitaskData, target: str) -> Any:
    if target not in data.parts:
        raise MetricUnavailable(
            f"{target} is unavailable: the model has no target {target!r} (targets: {', '.join(data.parts)})"
        )
    return data.resolve(data.families[target])


def _target_impl(name: str) -> Impl:
    target, metric = split_name(name)

    def point(data: MultitaskData) -> float:
        return float(_sub(data, target).impls[metric].point(data.parts[target]))

    def batch(data: MultitaskData, W: np.ndarray) -> np.ndarray:
        sub = _sub(data, target).impls[metric]
        if sub.batch is None:
            return np.full(W.shape[0], np.nan)
        return np.asarray(sub.batch(data.parts[target], W), dtype=float)

    return Impl(point, batch)


def _mean_point(data: MultitaskData) -> float:
    return float(np.mean([_sub(data, t).impls[m].point(data.parts[t]) for t, m in data.primaries.items()]))


def _mean_batch(data: MultitaskData, W: np.ndarray) -> np.ndarray:
    rows = []
    for target, metric in data.primaries.items():
        sub = _sub(data, target).impls[metric]
        if sub.batch is None:
            return np.full(W.shape[0], np.nan)
        rows.append(np.asarray(sub.batch(data.parts[target], W), dtype=float))
    return np.asarray(np.mean(rows, axis=0))


class _Impls(dict[str, Impl]):
    """``mean_primary``, and any ``TARGET.METRIC`` built on first lookup."""

    def __missing__(self, key: str) -> Impl:
        impl = _target_impl(key)
        self[key] = impl
        return impl


IMPLS = _Impls({MEAN_PRIMARY: Impl(_mean_point, _mean_batch)})


def defaults(data: MultitaskData) -> list[str]:
    """``mean_primary``, then each target's family defaults as ``TARGET.METRIC``."""
    out = [MEAN_PRIMARY]
    for target in data.parts:
        out += [f"{target}.{m}" for m in _sub(data, target).defaults(data.parts[target])]
    return out


def details(data: MultitaskData) -> dict[str, Any]:
    """Each target's family details, and the targets' families and primary metrics."""
    out: dict[str, Any] = {"targets": dict(data.families), "primary_metrics": dict(data.primaries)}
    for target in data.parts:
        out[target] = _sub(data, target).details(data.parts[target])
    return out


def plots(data: MultitaskData, found: dict[str, Any], seed: int) -> list[Any]:
    """Each target's plots, named ``<target>_<plot>``."""
    out = []
    for target in data.parts:
        for plot in _sub(data, target).plots(data.parts[target], found.get(target, {}), seed):
            out.append(
                dataclasses.replace(plot, name=f"{target}_{plot.name}", title=f"{target}: {plot.title}")
            )
        data.notes.extend(f"{target}: {n}" for n in data.parts[target].notes)
    return out
