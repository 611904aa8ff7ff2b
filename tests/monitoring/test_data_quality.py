"""Per-window data quality against a reference spec, on seeded generated frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from carnet.errors import InvalidInput
from carnet.monitoring.quality import (
    ColumnSpec,
    QualityReport,
    QualitySpec,
    check_quality,
    column_kind,
)

CITIES = ["lyon", "paris", "nice", "lille"]


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n).astype(float)
    age[rng.random(n) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "income": rng.normal(50_000, 10_000, n),
            "city": rng.choice(CITIES, n),
            "member": rng.random(n) < 0.3,
            "signup": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return frame(5000, seed=1)


@pytest.fixture(scope="module")
def spec(reference) -> QualitySpec:
    return QualitySpec.from_frame(reference)


def test_spec_from_frame_records_kinds_ranges_and_categories(spec, reference) -> None:
    assert [c.name for c in spec.columns] == list(reference.columns)
    assert spec.rows == 5000
    kinds = {c.name: c.kind for c in spec.columns}
    assert kinds == {
        "age": "numeric",
        "income": "numeric",
        "city": "categorical",
        "member": "boolean",
        "signup": "temporal",
    }
    age = spec.column("age")
    assert age.min == reference["age"].min() and age.max == reference["age"].max()
    assert age.missing_share == pytest.approx(reference["age"].isna().mean())
    city = spec.column("city")
    assert sorted(city.categories) == sorted(CITIES) and city.distinct == 4
    assert spec.column("income").categories is None


def test_spec_json_round_trip(spec) -> None:
    text = json.dumps(spec.to_dict(), allow_nan=False)
    assert QualitySpec.from_dict(json.loads(text)) == spec
    with pytest.raises(InvalidInput) as exc:
        QualitySpec.from_dict({"format": "nope"})
    assert exc.value.field == "spec"
    with pytest.raises(InvalidInput) as exc:
        QualitySpec.from_dict({"columns": [{"name": "a"}], "rows": 1})
    assert exc.value.field == "spec"


def test_clean_window_has_no_findings(spec) -> None:
    report = check_quality(spec, frame(2000, seed=2))
    assert report.ok
    assert report.schema_violations == ()
    m = report.metrics
    assert m["rows"] == 2000 and m["schema_violations"] == 0
    assert m["out_of_range_share.age"] == 0.0
    assert m["unseen_share.city"] == 0.0
    assert abs(m["missing_share_change.age"]) < 0.02
    assert "out_of_range_share.city" not in m and "unseen_share.age" not in m
    assert "out_of_range_share.signup" not in m and "missing_share.member" in m


def test_schema_violations_missing_unexpected_and_wrong_type(spec) -> None:
    window = frame(300, seed=3).drop(columns=["income"])
    window["coupon"] = "x"
    window["age"] = window["age"].astype(str)  # numbers arriving as text
    report = check_quality(spec, window)
    found = {(v.kind, v.column) for v in report.schema_violations}
    assert found == {("missing_column", "income"), ("unexpected_column", "coupon"), ("wrong_type", "age")}
    wrong = next(v for v in report.schema_violations if v.kind == "wrong_type")
    assert wrong.expected == "numeric" and wrong.actual is not None and wrong.actual.startswith("categorical")
    m = report.metrics
    assert m["schema_violations"] == 3
    assert (m["missing_columns"], m["unexpected_columns"], m["wrong_types"]) == (1, 1, 1)
    assert "out_of_range_share.age" not in m  # no range check on text
    assert "missing_share.income" not in m
    assert not report.ok
    age = next(c for c in report.columns if c.name == "age")
    assert age.skipped and "categorical" in age.skipped[0]


def test_missing_share_increase_is_flagged_above_threshold(spec) -> None:
    window = frame(1000, seed=4)
    window.loc[window.index[:200], "income"] = np.nan  # 20 % missing, reference 0 %
    window.loc[window.index[:50], "city"] = None  # 5 %
    report = check_quality(spec, window)
    cols = {c.name: c for c in report.columns}
    assert cols["income"].missing_share == pytest.approx(0.2)
    assert cols["income"].missing_share_change == pytest.approx(0.2)
    assert cols["income"].missing_flag and not cols["city"].missing_flag
    assert report.metrics["missing_share.income"] == pytest.approx(0.2)
    assert report.metrics["missing_flags"] == 1 and not report.ok
    strict = check_quality(spec, window, missing_increase_threshold=0.04)
    assert {c.name for c in strict.columns if c.missing_flag} == {"income", "city"}
    lenient = check_quality(spec, window, missing_increase_threshold=0.5)
    assert lenient.ok


def test_out_of_range_share_per_numeric_column(spec) -> None:
    low, high = spec.column("income").min, spec.column("income").max
    window = frame(1000, seed=5)
    window.loc[window.index[:30], "income"] = low - 1
    window.loc[window.index[30:80], "income"] = high * 2
    window.loc[window.index[80:100], "income"] = np.nan  # missing is not out of range
    report = check_quality(spec, window)
    income = next(c for c in report.columns if c.name == "income")
    assert income.below_min_share == pytest.approx(30 / 980)
    assert income.above_max_share == pytest.approx(50 / 980)
    assert report.metrics["out_of_range_share.income"] == pytest.approx(80 / 980)


def test_unseen_category_share_and_top_values(spec) -> None:
    window = frame(1000, seed=6)
    window.loc[window.index[:100], "city"] = "marseille"
    window.loc[window.index[100:110], "city"] = "brest"
    window.loc[window.index[110:160], "city"] = None
    report = check_quality(spec, window)
    city = next(c for c in report.columns if c.name == "city")
    assert city.unseen_share == pytest.approx(110 / 950)
    assert city.unseen_values == (("marseille", 100), ("brest", 10))
    assert report.metrics["unseen_share.city"] == pytest.approx(110 / 950)
    # a pandas categorical column in the window is compared the same way
    as_category = window.assign(city=window["city"].astype("category"))
    assert check_quality(spec, as_category).metrics["unseen_share.city"] == pytest.approx(110 / 950)


def test_high_cardinality_column_skips_unseen_check() -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"user": [f"u{i}" for i in range(3000)], "tier": rng.choice(["a", "b"], 3000)})
    spec = QualitySpec.from_frame(ref, max_categories=1000)
    user = spec.column("user")
    assert user.categories is None and user.distinct == 3000
    window = pd.DataFrame({"user": ["new"] * 10, "tier": ["c"] * 10})
    report = check_quality(spec, window)
    assert "unseen_share.user" not in report.metrics
    assert report.metrics["unseen_share.tier"] == 1.0
    col = next(c for c in report.columns if c.name == "user")
    assert col.unseen_share is None
    assert "3000 distinct" in col.skipped[0] and "1000" in col.skipped[0]
    assert QualitySpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_all_missing_and_empty_windows(spec, reference) -> None:
    window = frame(200, seed=8)
    window["city"] = None  # object column of None: no values, so no type verdict
    window["income"] = pd.Series([None] * 200, dtype=object)
    report = check_quality(spec, window)
    assert report.schema_violations == ()
    assert report.metrics["missing_share.city"] == 1.0
    assert report.metrics["unseen_share.city"] == 0.0
    assert report.metrics["out_of_range_share.income"] == 0.0
    assert {c.name for c in report.columns if c.missing_flag} == {"city", "income"}
    empty = check_quality(spec, reference.iloc[:0])
    assert empty.rows == 0 and empty.schema_violations == ()
    assert empty.metrics["missing_share.age"] == 0.0 and empty.notes


def test_nullable_and_integer_dtypes_are_numeric(spec) -> None:
    window = frame(100, seed=9)
    window["age"] = pd.array([20, None, 999] + [30] * 97, dtype="Int64")
    report = check_quality(spec, window)
    assert report.schema_violations == ()
    assert report.metrics["missing_share.age"] == pytest.approx(0.01)
    assert report.metrics["out_of_range_share.age"] == pytest.approx(1 / 99)
    assert column_kind(pd.Series([1], dtype="int8").dtype) == "numeric"
    assert column_kind(pd.Series(["a"], dtype="category").dtype) == "categorical"
    assert column_kind(pd.Series([True], dtype="boolean").dtype) == "boolean"


def test_report_to_dict_is_json_ready(spec) -> None:
    window = frame(500, seed=10)
    window.loc[window.index[:5], "city"] = "rome"
    window["extra"] = 1.0
    data = check_quality(spec, window).to_dict()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["metrics"]["unseen_share.city"] == pytest.approx(0.01)
    assert back["schema_violations"] == [
        {"kind": "unexpected_column", "column": "extra", "expected": None, "actual": "numeric"}
    ]
    assert back["ok"] is False
    city = next(c for c in back["columns"] if c["name"] == "city")
    assert city["unseen_values"] == [["rome", 5]]


def test_large_window_is_checked_column_wise(spec) -> None:
    n = 1_000_000
    rng = np.random.default_rng(11)
    window = pd.DataFrame(
        {
            "age": rng.integers(10, 90, n).astype(float),
            "income": rng.normal(50_000, 10_000, n),
            "city": rng.choice([*CITIES, "oslo"], n),
            "member": rng.random(n) < 0.3,
            "signup": pd.Timestamp("2024-06-01"),
        }
    )
    report = check_quality(spec, window)
    assert report.rows == n
    expected = ((window["age"] < spec.column("age").min) | (window["age"] > spec.column("age").max)).mean()
    assert report.metrics["out_of_range_share.age"] == pytest.approx(expected)
    assert report.metrics["unseen_share.city"] == pytest.approx((window["city"] == "oslo").mean())


def test_bad_input_is_rejected(spec, reference) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_quality(spec, reference.to_dict())
    assert exc.value.field == "window_frame"
    with pytest.raises(InvalidInput) as exc:
        check_quality(spec.to_dict(), reference)
    assert exc.value.field == "spec"
    with pytest.raises(InvalidInput) as exc:
        check_quality(spec, reference, missing_increase_threshold=2)
    assert exc.value.field == "missing_increase_threshold"
    with pytest.raises(InvalidInput) as exc:
        QualitySpec.from_frame(reference, columns=["age", "nope"])
    assert exc.value.field == "columns"
    with pytest.raises(InvalidInput) as exc:
        QualitySpec.from_frame(reference, max_categories=-1)
    assert exc.value.field == "max_categories"
    duplicated = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidInput, match="duplicate"):
        QualitySpec.from_frame(duplicated)
    with pytest.raises(InvalidInput) as exc:
        ColumnSpec.from_dict({"name": "a", "kind": "weird"})
    assert exc.value.field == "spec"
    assert isinstance(check_quality(spec, reference), QualityReport)
