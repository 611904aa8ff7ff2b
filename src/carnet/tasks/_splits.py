"""Row splits shared by the tabular tasks: holdout, k-fold, stratified, grouped, time, none.

Every function returns ``(train positions, test positions)`` pairs of sorted ``int64`` arrays
(positions, not index labels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carnet.errors import InvalidInput
from carnet.tasks._base import quote

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from carnet.domain.training import SplitSpec

__all__ = ["TABULAR_KINDS", "check_split", "n_test_rows", "split_rows", "time_windows"]

TABULAR_KINDS = ("holdout", "kfold", "stratified_kfold", "group_kfold", "time", "none")

Pairs = list[tuple["np.ndarray", "np.ndarray"]]


def check_split(split: SplitSpec, n: int, kinds: tuple[str, ...], task: str) -> None:
    """Validate kind, test_size and folds against ``n`` rows; InvalidInput (field ``split...``)."""
    if split.kind not in kinds:
        raise InvalidInput(
            f"split kind {split.kind!r} is not supported by task {task}; use one of {', '.join(kinds)}",
            field="split.kind",
        )
    if not 0.0 < float(split.test_size) < 1.0:
        raise InvalidInput(
            f"split.test_size must be between 0 and 1, got {split.test_size}", field="split.test_size"
        )
    if n < 2 and split.kind != "none":
        raise InvalidInput(f"cannot split {n} row(s); need at least 2", field="split")
    if split.kind in ("kfold", "stratified_kfold", "group_kfold") and not 2 <= split.folds <= n:
        raise InvalidInput(
            f"split.folds must be between 2 and {n} rows, got {split.folds}", field="split.folds"
        )


def n_test_rows(n: int, test_size: float) -> int:
    """Rows in a test set of share ``test_size`` (at least 1, at most ``n - 1``)."""
    return min(n - 1, max(1, round(n * test_size)))


def _pairs(pairs: Any) -> Pairs:
    import numpy as np

    return [
        (np.sort(np.asarray(tr, dtype=np.int64)), np.sort(np.asarray(te, dtype=np.int64))) for tr, te in pairs
    ]


def _stratifiable(labels: pd.Series | None, n_test: int, n: int) -> bool:
    if labels is None:
        return False
    counts = labels.value_counts()
    k = len(counts)
    return bool(k >= 2 and counts.min() >= 2 and n_test >= k and n - n_test >= k)


def split_rows(
    frame: pd.DataFrame,
    split: SplitSpec,
    seed: int,
    task: str,
    *,
    labels: pd.Series | None = None,
    stratified_kfold: bool = False,
    time_column: str | None = None,
) -> Pairs:
    """Split ``frame`` by ``split.kind`` (one of :data:`TABULAR_KINDS`).

    ``holdout`` holds out a ``test_size`` share (the last rows when ``shuffle`` is off; whole
    groups, a ``test_size`` share of them, when ``group_column`` is set); ``kfold``,
    ``stratified_kfold`` and ``group_kfold`` give ``folds`` pairs; ``time`` holds out the
    latest ``test_size`` share, as ``folds`` expanding windows (``folds`` <= 1: one window);
    ``none`` tests on the training rows (train = test = every row).

    Args:
        labels: stratify holdouts on these when every class has >= 2 rows (else plain holdout).
        stratified_kfold: whether ``stratified_kfold`` is allowed (classification only).
        time_column: for ``time`` when ``split.time_column`` is None (both None: row order).
    """
    import numpy as np

    n = len(frame)
    check_split(split, n, TABULAR_KINDS, task)
    kind = split.kind
    everything = np.arange(n, dtype=np.int64)
    if kind == "none":
        return [(everything, everything.copy())]
    group_column = split.group_column
    if kind == "group_kfold" or (kind == "holdout" and group_column):
        return _grouped(frame, split, seed, task)
    if kind == "holdout":
        n_test = n_test_rows(n, split.test_size)
        if not split.shuffle:
            return [(everything[: n - n_test], everything[n - n_test :])]
        from sklearn.model_selection import train_test_split

        strat = labels.to_numpy() if labels is not None and _stratifiable(labels, n_test, n) else None
        train, test = train_test_split(everything, test_size=n_test, random_state=seed, stratify=strat)
        return _pairs([(train, test)])
    if kind == "kfold":
        from sklearn.model_selection import KFold

        folds = KFold(split.folds, shuffle=split.shuffle, random_state=seed if split.shuffle else None)
        return _pairs(folds.split(everything))
    if kind == "stratified_kfold":
        if not stratified_kfold or labels is None:
            raise InvalidInput(
                f"split kind stratified_kfold needs class labels; task {task} is not a classification task: "
                "use kfold",
                field="split.kind",
            )
        from sklearn.model_selection import StratifiedKFold

        smallest = int(labels.value_counts().min())
        if smallest < split.folds:
            raise InvalidInput(
                f"split.folds={split.folds} but the smallest class has {smallest} row(s); "
                "lower folds or use kfold",
                field="split.folds",
            )
        strat = StratifiedKFold(
            split.folds, shuffle=split.shuffle, random_state=seed if split.shuffle else None
        )
        return _pairs(strat.split(everything, labels.to_numpy()))
    return _by_time(frame, split, split.time_column or time_column)


def _grouped(frame: pd.DataFrame, split: SplitSpec, seed: int, task: str) -> Pairs:
    """group_kfold, or a holdout that keeps every group on one side."""
    import numpy as np

    column = split.group_column
    if not column:
        raise InvalidInput("split kind group_kfold needs split.group_column", field="split.group_column")
    if column not in frame.columns:
        raise InvalidInput(
            f"group column {quote(column)} is not a column of the data", field="split.group_column"
        )
    groups = frame[column]
    if groups.isna().any():
        raise InvalidInput(
            f"group column {quote(column)} has {int(groups.isna().sum())} missing value(s)",
            field="split.group_column",
        )
    codes = groups.factorize()[0]
    n_groups = int(codes.max()) + 1
    rows = np.arange(len(frame))
    if split.kind == "holdout":
        if n_groups < 2:
            raise InvalidInput(
                f"group column {quote(column)} has a single group; cannot hold one out", field="split"
            )
        from sklearn.model_selection import GroupShuffleSplit

        gss = GroupShuffleSplit(n_splits=1, test_size=split.test_size, random_state=seed)
        return _pairs(gss.split(rows, groups=codes))
    if n_groups < split.folds:
        raise InvalidInput(
            f"split.folds={split.folds} but group column {quote(column)} has only {n_groups} group(s)",
            field="split.folds",
        )
    from sklearn.model_selection import GroupKFold

    try:
        gkf = GroupKFold(split.folds, shuffle=split.shuffle, random_state=seed if split.shuffle else None)
    except TypeError:  # scikit-learn < 1.6: no shuffling of groups
        gkf = GroupKFold(split.folds)
    return _pairs(gkf.split(rows, groups=codes))


def time_windows(n: int, window: int, folds: int, *, min_train: int = 1) -> list[tuple[int, int]]:
    """(test start, test end) of ``folds`` consecutive test windows of ``window`` rows ending at ``n``.

    Each window is trained on every row before its start (expanding windows).
    """
    folds = max(1, folds)
    first = n - folds * window
    if window < 1 or first < min_train:
        raise InvalidInput(
            f"{folds} test window(s) of {window} row(s) leave {max(first, 0)} training row(s) out of {n} "
            f"(need >= {min_train}); lower split.folds, split.test_size or the horizon",
            field="split",
        )
    return [(first + i * window, first + (i + 1) * window) for i in range(folds)]


def _by_time(frame: pd.DataFrame, split: SplitSpec, column: str | None) -> Pairs:
    """The last ``test_size`` share by time, cut into ``folds`` expanding windows.

    ``folds <= 1`` gives one holdout. Rows sharing a time stamp stay on one side of each cut.
    """
    import numpy as np

    from carnet.tasks._time import parse_time

    n = len(frame)
    if column is None:
        order = np.arange(n, dtype=np.int64)
        stamps = order
    else:
        if column not in frame.columns:
            raise InvalidInput(
                f"time column {quote(column)} is not a column of the data", field="split.time_column"
            )
        raw = parse_time(frame[column], column, "split.time_column")
        order = np.argsort(raw, kind="stable").astype(np.int64)
        stamps = raw[order]
    region = n_test_rows(n, split.test_size)
    folds = max(1, int(split.folds))
    window = region // folds
    if window < 1:
        raise InvalidInput(
            f"split.test_size={split.test_size} gives {region} test row(s), fewer than split.folds={folds}",
            field="split.folds",
        )
    pairs = []
    for start, end in time_windows(n, window, folds):
        cut = int(np.searchsorted(stamps, stamps[start], side="left")) or start
        stop = end if end >= n else int(np.searchsorted(stamps, stamps[end], side="left"))
        if stop <= cut:
            stop = end
        pairs.append((order[:cut], order[cut:stop]))
    return _pairs(pairs)
