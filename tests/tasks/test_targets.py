"""Each task rejects data it cannot learn from with an InvalidInput that names the column and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carnet.errors import InvalidInput
from carnet.tasks import get_task


def _frame(y: object, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=n), "y": y})


def _fails(task: str, frame: pd.DataFrame, target: str | None, match: str, field: str = "target", **options):
    with pytest.raises(InvalidInput, match=match) as err:
        get_task(task).check_target(frame, target, options)
    assert err.value.field == field
    return err.value


def test_binary_needs_exactly_two_classes() -> None:
    get_task("binary").check_target(_frame(["a", "b"] * 30), "y", {})
    _fails("binary", _frame([0, 1, 2] * 20), "y", 'target "y" has 3 classes; use task multiclass')
    _fails(
        "binary",
        _frame(["yes"] * 60),
        "y",
        r"target \"y\" has only 1 class \('yes'\); binary needs exactly 2",
    )


def test_multiclass_needs_three_classes_and_discrete_values() -> None:
    get_task("multiclass").check_target(_frame([1.0, 2.0, 3.0] * 20), "y", {})
    _fails(
        "multiclass",
        _frame([True, False] * 30),
        "y",
        r'target "y" has 2 classes \(False, True\); use task binary',
    )
    continuous = _frame(np.random.default_rng(1).normal(size=60))
    _fails(
        "multiclass",
        continuous,
        "y",
        'target "y" has 60 distinct fractional values and looks continuous; use task regression',
    )
    _fails("binary", continuous, "y", "looks continuous; use task regression")


def test_regression_needs_numbers_with_more_than_two_values() -> None:
    get_task("regression").check_target(_frame(np.arange(60.0)), "y", {})
    _fails(
        "regression",
        _frame(["low", "mid", "high"] * 20),
        "y",
        r'target "y" is not numeric \(.*\); use task binary or multiclass',
    )
    _fails("regression", _frame([True, False] * 30), "y", "is not numeric")
    _fails(
        "regression", _frame([0, 1] * 30), "y", 'target "y" has only 2 distinct value\\(s\\); use task binary'
    )
    _fails("regression", _frame([1.0, np.inf, 2.0] * 20), "y", "20 infinite value")


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression", "forecasting"])
def test_missing_target_values_are_counted(task: str) -> None:
    y = np.arange(60.0) % 3
    y[[3, 10, 40]] = np.nan
    frame = _frame(y).assign(date=pd.date_range("2020-01-01", periods=60, freq="D"))
    _fails(task, frame, "y", 'target "y" has 3 missing value\\(s\\) out of 60 rows; drop or fill those rows')


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression", "forecasting"])
def test_supervised_tasks_need_a_target_column(task: str) -> None:
    frame = _frame(np.arange(60) % 3)
    _fails(task, frame, None, f"task {task} is supervised: set target")
    _fails(task, frame, "label", 'target "label" is not a column of the data; columns: x, y')


def test_unsupervised_tasks_take_an_optional_evaluation_target() -> None:
    frame = _frame([0, 1, 2] * 20)
    for name in ("clustering", "anomaly", "dim_reduction"):
        get_task(name).check_target(frame.drop(columns="y"), None, {})
    get_task("clustering").check_target(frame, "y", {})
    get_task("dim_reduction").check_target(frame, "y", {})
    _fails("clustering", _frame([0, None, 1] * 20), "y", 'target "y" has 20 missing value')


def test_anomaly_labels_are_zero_one() -> None:
    get_task("anomaly").check_target(_frame([0] * 57 + [1] * 3), "y", {})
    get_task("anomaly").check_target(_frame([False] * 57 + [True] * 3), "y", {})
    _fails(
        "anomaly",
        _frame([1] * 57 + [-1] * 3),
        "y",
        "must mark anomalies with 1 .*scikit-learn's -1/1 convention",
    )
    _fails("anomaly", _frame(["ok"] * 57 + ["bad"] * 3), "y", r"found values \['bad', 'ok'\]")
    _fails("anomaly", _frame([0] * 60), "y", r'target "y" has no anomalies \(1\)')


def _series(n: int = 48) -> pd.DataFrame:
    return pd.DataFrame(
        {"date": pd.date_range("2020-01-01", periods=n, freq="MS"), "y": np.arange(n, dtype=float)}
    )


def test_forecasting_checks_the_time_column() -> None:
    task = get_task("forecasting")
    task.check_target(_series(), "y", {})  # the only datetime column is found
    task.check_target(_series().assign(date=lambda f: f["date"].astype(str)), "y", {"time_column": "date"})
    task.check_target(_series().assign(date=np.arange(48)), "y", {"time_column": "date"})
    _fails(
        "forecasting",
        _series().assign(date=np.arange(48)),
        "y",
        "needs a time column: set task_options.time_column",
        "task_options.time_column",
    )
    _fails(
        "forecasting",
        _series(),
        "y",
        'time column "when" is not a column',
        "task_options.time_column",
        time_column="when",
    )
    _fails(
        "forecasting",
        _series().iloc[::-1],
        "y",
        'time column "date" is not sorted ascending; sort the rows',
        "task_options.time_column",
    )
    dup = pd.concat([_series(), _series().iloc[:2]]).sort_values("date")
    _fails(
        "forecasting",
        dup,
        "y",
        'time column "date" has 2 duplicate time stamp\\(s\\) .*aggregate',
        "task_options.time_column",
    )
    bad = _series().assign(date=["soon"] * 48)
    _fails(
        "forecasting",
        bad,
        "y",
        "time column 'date' cannot be parsed as datetimes",
        "task_options.time_column",
        time_column="date",
    )
    _fails("forecasting", _series().assign(y="a"), "y", 'target "y" is not numeric')
    _fails("forecasting", _series(), "y", "horizon=47 leaves too few", "task_options.horizon", horizon=47)
    _fails(
        "forecasting",
        _series(),
        "y",
        "season_length must be an integer >= 1",
        "task_options.season_length",
        season_length=0,
    )


def _interactions() -> pd.DataFrame:
    return pd.DataFrame({"u": [1, 1, 2, 2, 3], "i": ["a", "b", "a", "c", "b"], "r": [5, 3, 4, 2, 1]})


def test_recommendation_checks_ids_and_ratings() -> None:
    task = get_task("recommendation")
    ids = {"user_column": "u", "item_column": "i"}
    task.check_target(_interactions(), None, ids)
    task.check_target(_interactions(), None, {**ids, "rating_column": "r"})
    task.check_target(_interactions(), "r", ids)
    _fails(
        "recommendation", _interactions(), None, "needs task_options.user_column", "task_options.user_column"
    )
    _fails(
        "recommendation",
        _interactions(),
        None,
        'item_column "item" is not a column',
        "task_options.item_column",
        user_column="u",
        item_column="item",
    )
    bad = _interactions().assign(r=["x", "y", "z", "w", "v"])
    _fails(
        "recommendation",
        bad,
        None,
        'rating column "r" is not numeric',
        "task_options.rating_column",
        rating_column="r",
        **ids,
    )
    missing = _interactions().assign(u=[1, None, 2, 2, 3])
    _fails("recommendation", missing, None, 'column "u" has 1 missing id', "task_options", **ids)
    _fails(
        "recommendation",
        _interactions(),
        None,
        "option k must be an integer >= 1",
        "task_options.k",
        k=0,
        **ids,
    )
