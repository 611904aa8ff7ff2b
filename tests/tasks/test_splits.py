"""Splits: sizes, stratification, groups, time order, none, and the per-user recommendation holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from carnet.domain.training import SplitSpec
from carnet.errors import InvalidInput
from carnet.tasks import default_split, get_task


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


def _check_partition(pairs: list[tuple[np.ndarray, np.ndarray]], n: int) -> None:
    for train, test in pairs:
        assert train.dtype == np.int64 and test.dtype == np.int64
        assert len(np.intersect1d(train, test)) == 0
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        assert train.min(initial=n) >= 0 and max(train.max(initial=0), test.max(initial=0)) < n


def test_holdout_is_stratified_seeded_and_sized(cancer: pd.DataFrame) -> None:
    task = get_task("binary")
    [(train, test)] = task.split(cancer, "target", default_split(task), 0, {})
    _check_partition([(train, test)], len(cancer))
    assert len(test) == round(0.2 * len(cancer)) and len(train) + len(test) == len(cancer)
    share = cancer["target"].mean()
    assert abs(cancer["target"].iloc[test].mean() - share) < 0.01
    assert abs(cancer["target"].iloc[train].mean() - share) < 0.01
    [(_, test2)] = task.split(cancer, "target", SplitSpec(), 0, {})
    [(_, test3)] = task.split(cancer, "target", SplitSpec(), 1, {})
    assert np.array_equal(test, test2) and not np.array_equal(test, test3)


def test_holdout_falls_back_to_plain_when_a_class_is_too_small() -> None:
    frame = pd.DataFrame({"x": range(30), "y": ["a"] * 15 + ["b"] * 14 + ["c"]})
    [(train, test)] = get_task("multiclass").split(frame, "y", SplitSpec(test_size=0.2), 0, {})
    assert len(test) == 6 and len(train) == 24


def test_holdout_without_shuffle_takes_the_last_rows() -> None:
    frame = pd.DataFrame({"x": range(10), "y": np.arange(10.0)})
    [(train, test)] = get_task("regression").split(frame, "y", SplitSpec(shuffle=False, test_size=0.3), 0, {})
    assert train.tolist() == list(range(7)) and test.tolist() == [7, 8, 9]


def test_kfold_partitions_the_rows(cancer: pd.DataFrame) -> None:
    pairs = get_task("regression").split(cancer, "mean radius", SplitSpec(kind="kfold", folds=4), 0, {})
    assert len(pairs) == 4
    _check_partition(pairs, len(cancer))
    assert sorted(np.concatenate([te for _, te in pairs]).tolist()) == list(range(len(cancer)))


def test_stratified_kfold_is_for_classification_only(cancer: pd.DataFrame) -> None:
    pairs = get_task("binary").split(cancer, "target", SplitSpec(kind="stratified_kfold", folds=5), 0, {})
    share = cancer["target"].mean()
    assert all(abs(cancer["target"].iloc[te].mean() - share) < 0.02 for _, te in pairs)
    for task, target in (("regression", "mean radius"), ("clustering", None)):
        with pytest.raises(InvalidInput, match=r"stratified_kfold needs class labels.*use kfold") as err:
            get_task(task).split(cancer, target, SplitSpec(kind="stratified_kfold"), 0, {})
        assert err.value.field == "split.kind"


def test_group_splits_keep_groups_whole() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"g": rng.integers(0, 20, 300), "x": rng.normal(size=300), "y": rng.integers(0, 2, 300)}
    )
    for spec in (SplitSpec(kind="group_kfold", folds=4, group_column="g"), SplitSpec(group_column="g")):
        pairs = get_task("binary").split(frame, "y", spec, 0, {})
        assert len(pairs) == (4 if spec.kind == "group_kfold" else 1)
        for train, test in pairs:
            assert set(frame["g"].iloc[train]).isdisjoint(frame["g"].iloc[test])
            assert len(train) + len(test) == len(frame)
    with pytest.raises(InvalidInput, match=r"group_kfold needs split\.group_column"):
        get_task("binary").split(frame, "y", SplitSpec(kind="group_kfold"), 0, {})
    with pytest.raises(InvalidInput, match="only 20 group"):
        get_task("binary").split(frame, "y", SplitSpec(kind="group_kfold", folds=25, group_column="g"), 0, {})


def test_time_split_orders_rows_by_the_time_column() -> None:
    rng = np.random.default_rng(0)
    days = pd.date_range("2021-01-01", periods=100, freq="D")
    frame = pd.DataFrame(
        {"when": rng.permutation(days), "x": rng.normal(size=100), "y": rng.normal(size=100)}
    )
    task = get_task("regression")
    [(train, test)] = task.split(frame, "y", SplitSpec(kind="time", folds=1, time_column="when"), 0, {})
    assert len(test) == 20 and frame["when"].iloc[train].max() < frame["when"].iloc[test].min()
    # the time column may also come from the task options; folds give expanding windows
    pairs = task.split(frame, "y", SplitSpec(kind="time", folds=4), 0, {"time_column": "when"})
    assert [len(te) for _, te in pairs] == [5, 5, 5, 5]
    assert [len(tr) for tr, _ in pairs] == [80, 85, 90, 95]
    for train, test in pairs:
        assert frame["when"].iloc[train].max() < frame["when"].iloc[test].min()


def test_time_split_keeps_equal_time_stamps_together() -> None:
    frame = pd.DataFrame({"t": np.repeat(np.arange(10), 3), "y": np.arange(30.0)})
    [(train, test)] = get_task("regression").split(
        frame, "y", SplitSpec(kind="time", folds=1, test_size=0.25), 0, {"time_column": "t"}
    )
    assert set(frame["t"].iloc[train]).isdisjoint(frame["t"].iloc[test])
    assert frame["t"].iloc[train].max() < frame["t"].iloc[test].min()


def test_none_split_uses_every_row_for_both() -> None:
    frame = pd.DataFrame({"x": range(7)})
    for name in ("clustering", "anomaly", "dim_reduction", "regression"):
        [(train, test)] = get_task(name).split(frame, None, SplitSpec(kind="none"), 0, {})
        assert train.tolist() == test.tolist() == list(range(7))


def test_unsupervised_holdout_is_allowed_and_anomaly_holdout_is_stratified() -> None:
    frame = pd.DataFrame({"x": np.arange(200.0), "y": [0] * 190 + [1] * 10})
    [(train, test)] = get_task("clustering").split(frame, None, SplitSpec(), 0, {})
    assert len(test) == 40 and len(train) == 160
    [(train, test)] = get_task("anomaly").split(frame, "y", SplitSpec(), 0, {})
    assert frame["y"].iloc[test].sum() == 2


def test_bad_split_settings_are_invalid_input() -> None:
    frame = pd.DataFrame({"x": range(10), "y": np.arange(10.0)})
    task = get_task("regression")
    with pytest.raises(InvalidInput, match="split kind 'random' is not supported by task regression") as err:
        task.split(frame, "y", SplitSpec(kind="random"), 0, {})
    assert err.value.field == "split.kind"
    with pytest.raises(InvalidInput, match="test_size must be between 0 and 1"):
        task.split(frame, "y", SplitSpec(test_size=1.5), 0, {})
    with pytest.raises(InvalidInput, match="folds must be between 2 and 10"):
        task.split(frame, "y", SplitSpec(kind="kfold", folds=11), 0, {})


def _series(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame(
        {"date": pd.date_range("2019-01-01", periods=n, freq="MS"), "y": np.arange(n, dtype=float)}
    )


def test_forecasting_holds_out_the_last_horizon_or_rolling_windows() -> None:
    task = get_task("forecasting")
    frame = _series()
    [(train, test)] = task.split(frame, "y", default_split(task), 0, {})
    assert train.tolist() == list(range(48)) and test.tolist() == list(range(48, 60))
    [(train, test)] = task.split(frame, "y", SplitSpec(), 0, {"horizon": 6})
    assert test.tolist() == list(range(54, 60))
    pairs = task.split(frame, "y", SplitSpec(kind="time", folds=3), 0, {"horizon": 6})
    assert [(len(tr), te.tolist()) for tr, te in pairs] == [
        (42, list(range(42, 48))),
        (48, list(range(48, 54))),
        (54, list(range(54, 60))),
    ]
    with pytest.raises(InvalidInput, match="kfold' would train on the future"):
        task.split(frame, "y", SplitSpec(kind="kfold"), 0, {})
    with pytest.raises(InvalidInput, match="leave 0 training row"):
        task.split(frame, "y", SplitSpec(kind="time", folds=5), 0, {"horizon": 12})


def _interactions(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(u, int(i)) for u in range(50) for i in rng.choice(40, size=1 + u % 9, replace=False)]
    frame = pd.DataFrame(rows, columns=["user", "item"])
    frame["ts"] = rng.permutation(len(frame))
    return frame


def test_recommendation_holds_out_a_share_of_each_user() -> None:
    task = get_task("recommendation")
    frame = _interactions()
    options = {"user_column": "user", "item_column": "item"}
    [(train, test)] = task.split(frame, None, default_split(task), 0, options)
    _check_partition([(train, test)], len(frame))
    assert len(train) + len(test) == len(frame)
    train_users, test_users = frame["user"].iloc[train], frame["user"].iloc[test]
    sizes = frame.groupby("user").size()
    assert set(sizes[sizes == 1].index).isdisjoint(test_users)  # lone interactions stay in train
    assert set(test_users) <= set(train_users)  # every tested user keeps training history
    held = test_users.value_counts()
    for user, n_u in sizes[sizes >= 2].items():
        assert held[user] == min(n_u - 1, max(1, round(n_u * 0.2)))
    [(_, again)] = task.split(frame, None, SplitSpec(), 0, options)
    [(_, other)] = task.split(frame, None, SplitSpec(), 1, options)
    assert np.array_equal(test, again) and not np.array_equal(test, other)


def test_recommendation_time_holdout_takes_each_users_latest() -> None:
    task = get_task("recommendation")
    frame = _interactions()
    options = {"user_column": "user", "item_column": "item", "time_column": "ts"}
    [(train, test)] = task.split(frame, None, SplitSpec(kind="time"), 0, options)
    for user, rows in frame.iloc[test].groupby("user"):
        history = frame.iloc[train]
        assert history.loc[history["user"] == user, "ts"].max() < rows["ts"].min()
    with pytest.raises(InvalidInput, match="split kind time needs"):
        task.split(frame, None, SplitSpec(kind="time"), 0, {"user_column": "user", "item_column": "item"})
    with pytest.raises(InvalidInput, match="kfold' is not supported by task recommendation"):
        task.split(frame, None, SplitSpec(kind="kfold"), 0, options)
