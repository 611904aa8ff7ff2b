"""Preprocessing: dtype-driven column handling inside the pipeline, no leakage, clone and skops."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import clone

from carnet.domain.training import PreprocessSpec
from carnet.errors import InvalidInput
from carnet.training import build_pipeline, build_preprocessor, column_kinds, load_spec
from carnet.training.transformers import CategoryStrings, DateParts


class Task:
    """A task with just the attributes preprocessing reads."""

    description = "fake"

    def __init__(self, family: str = "classification", supervised: bool = True, tabular: bool = True) -> None:
        self.family, self.supervised, self.tabular = family, supervised, tabular
        self.name = f"fake_{family}"

    def models(self) -> dict[str, Any]:
        return {}

    def default_model(self) -> str:
        return {"classification": "random_forest", "regression": "ridge"}.get(self.family, "kmeans")


def mixed_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "count": pd.array(rng.integers(0, 9, n), dtype="Int64"),
            "city": rng.choice(["paris", "oslo", "rome"], n).astype(object),
            "plan": pd.Categorical(rng.choice(["free", "pro"], n)),
            "mixed": rng.choice(np.array([1, "a", 2.0], dtype=object), n),
            "flag": rng.choice([True, False], n),
            "signup": pd.date_range("2023-01-01", periods=n, freq="37h"),
            "day": pd.date_range("2024-03-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )
    frame.loc[::5, "num"] = np.nan
    frame.loc[::7, "count"] = pd.NA
    frame.loc[::6, "city"] = None
    frame.loc[::9, "signup"] = pd.NaT
    frame["y"] = (frame["num"].fillna(0) > 0).astype(int)
    return frame


FEATURES = ["num", "count", "city", "plan", "mixed", "flag", "signup", "day"]


def spec_for(**preprocess: Any) -> Any:
    return load_spec(
        {
            "dataset": "d",
            "task": "fake",
            "target": "y",
            "model": {"name": "random_forest", "params": {"n_estimators": 10}},
            "preprocess": preprocess,
            "task_options": {"date_columns": ["day"]},
        }
    )


def test_column_kinds() -> None:
    kinds = column_kinds(mixed_frame(), FEATURES, ["day"])
    assert kinds == {
        "numeric": ["num", "count"],
        "categorical": ["city", "plan", "mixed", "flag"],
        "datetime": ["signup", "day"],
    }
    with pytest.raises(InvalidInput, match="durations"):
        column_kinds(pd.DataFrame({"d": pd.to_timedelta([1, 2], unit="s")}), ["d"])


@pytest.mark.parametrize("encode", ["onehot", "ordinal", "target"])
def test_mixed_frame_fits_and_predicts(encode: str) -> None:
    frame = mixed_frame()
    pipe = build_pipeline(spec_for(encode=encode, scale="standard"), Task(), frame, FEATURES)
    pipe.fit(frame[FEATURES], frame["y"])
    out = pipe[:-1].transform(frame[FEATURES])
    assert not np.isnan(out).any()
    categories = {"onehot": 3 + 2 + 3 + 2, "ordinal": 4, "target": 4}[encode]
    assert out.shape == (len(frame), 2 + categories + 2 * 5)
    assert len(pipe[:-1].get_feature_names_out()) == out.shape[1]
    assert set(pipe.predict(frame[FEATURES])) <= {0, 1}


def test_no_leakage_statistics_come_from_training_rows() -> None:
    frame = mixed_frame()
    train, test = frame.iloc[:60], frame.iloc[60:]
    pre = build_preprocessor(PreprocessSpec(scale="standard"), frame, ["num"], Task())
    pre.fit(train[["num"]])
    num = pre.named_transformers_["num"]
    assert num["impute"].statistics_[0] == pytest.approx(train["num"].median())
    imputed = train["num"].fillna(train["num"].median())
    assert num["scale"].mean_[0] == pytest.approx(imputed.mean())
    assert num["scale"].mean_[0] != pytest.approx(frame["num"].fillna(frame["num"].median()).mean())
    assert pre.transform(test[["num"]]).shape == (60, 1)


def test_unseen_categories_do_not_fail() -> None:
    frame = mixed_frame()
    pipe = build_pipeline(spec_for(), Task(), frame, ["city", "num"]).fit(frame[["city", "num"]], frame["y"])
    new = pd.DataFrame({"city": ["tokyo", None], "num": [0.1, np.nan]})
    assert pipe[:-1].transform(new)[0].tolist() == [0.1, 0.0, 0.0, 0.0]  # numeric first, then one-hot
    ordinal = build_pipeline(spec_for(encode="ordinal"), Task(), frame, ["city"]).fit(
        frame[["city"]], frame["y"]
    )
    assert ordinal[:-1].transform(pd.DataFrame({"city": ["tokyo"]}))[0, 0] == -1


def test_max_categories_and_none_options() -> None:
    frame = pd.DataFrame({"c": [f"v{i % 30}" for i in range(300)], "x": np.arange(300.0)})
    frame.loc[3, "x"] = np.nan
    pre = build_preprocessor(
        PreprocessSpec(max_categories=5, impute_numeric="none"), frame, ["c", "x"], Task()
    )
    out = pre.fit_transform(frame)
    assert out.shape == (300, 5 + 1)
    assert np.isnan(out[3, 0])


def test_target_encoding_needs_a_supervised_family() -> None:
    frame = mixed_frame()
    reg = build_preprocessor(PreprocessSpec(encode="target"), frame, ["city"], Task("regression"))
    assert reg.fit_transform(frame[["city"]], frame["num"].fillna(0)).shape == (len(frame), 1)
    with pytest.raises(InvalidInput) as err:
        build_preprocessor(
            PreprocessSpec(encode="target"), frame, ["city"], Task("clustering", supervised=False)
        )
    assert err.value.field == "preprocess.encode"


def test_clone_gives_an_equal_unfitted_pipeline() -> None:
    frame = mixed_frame()
    pipe = build_pipeline(spec_for(encode="target"), Task(), frame, FEATURES)
    copy = clone(pipe)
    assert copy is not pipe and repr(copy) == repr(pipe)
    pipe.fit(frame[FEATURES], frame["y"])
    refitted = clone(pipe).fit(frame[FEATURES], frame["y"])
    assert (refitted.predict(frame[FEATURES]) == pipe.predict(frame[FEATURES])).all()


def test_non_tabular_tasks_get_the_bare_model() -> None:
    est = build_pipeline(spec_for(), Task(tabular=False), mixed_frame(), FEATURES)
    assert type(est).__name__ == "RandomForestClassifier"


def test_date_parts() -> None:
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-02-29 13:45", None]),
            "aware": pd.to_datetime(["2024-02-29 13:45", "2021-01-01 00:00"]).tz_localize("Europe/Paris"),
            "text": ["2024-02-29", "not a date"],
        }
    )
    out = DateParts().fit(frame).transform(frame)
    assert out.shape == (2, 15)
    assert out[0, :5].tolist() == [2024, 2, 29, 3, 13]  # Thursday
    assert np.isnan(out[1, :5]).all()
    assert out[0, 5:10].tolist() == [2024, 2, 29, 3, 12]  # 13:45 in Paris is 12:45 UTC
    assert out[0, 10:13].tolist() == [2024, 2, 29] and np.isnan(out[1, 10:]).all()
    epoch = DateParts(parts=("epoch",)).fit(frame[["ts"]]).transform(frame[["ts"]])
    assert epoch[0, 0] == pd.Timestamp("2024-02-29 13:45", tz="UTC").timestamp()
    assert DateParts().fit(frame).get_feature_names_out()[:2].tolist() == ["ts_year", "ts_month"]
    with pytest.raises(ValueError, match="parts"):
        DateParts(parts=("century",)).fit(frame)


def test_date_parts_off_means_epoch_seconds() -> None:
    frame = mixed_frame()
    pre = build_preprocessor(PreprocessSpec(date_parts=False), frame, ["signup"], Task())
    assert pre.fit_transform(frame).shape == (len(frame), 1)


def test_category_strings() -> None:
    frame = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64").astype(object), "b": ["x", pd.NA, 2.0]})
    out = CategoryStrings().fit(frame).transform(frame)
    assert out[0].tolist() == ["1", "x"]
    assert out[2].tolist() == ["3", "2"]
    assert all(isinstance(v, float) and np.isnan(v) for v in out[1])


def test_category_strings_fast_paths_match_the_per_value_conversion() -> None:
    frame = pd.DataFrame(
        {
            "plain": ["u", None, "w"],
            "string": pd.array(["s", pd.NA, "t"], dtype="string"),
            "category": pd.Categorical(["p", None, "q"]),
            "float_category": pd.Categorical([1.0, 2.5, None]),
            "all_missing": [None, None, None],
        }
    )
    out = CategoryStrings().fit(frame).transform(frame)
    assert out[0].tolist()[:4] == ["u", "s", "p", "1"]
    assert out[2].tolist()[:3] == ["w", "t", "q"]
    assert out[1][3] == "2.5"
    assert np.isnan(out[2][3]) and all(np.isnan(v) for v in out[:, 4])
    assert all(isinstance(v, float) and np.isnan(v) for v in out[1][:3])


def test_fitted_pipeline_round_trips_through_skops() -> None:
    frame = mixed_frame()
    pipe = build_pipeline(spec_for(encode="target"), Task(), frame, FEATURES).fit(frame[FEATURES], frame["y"])
    data = sio.dumps(pipe)
    untrusted = sio.get_untrusted_types(data=data)
    assert "carnet.training.transformers.DateParts" in untrusted
    loaded = sio.loads(data, trusted=untrusted)
    assert (loaded.predict(frame[FEATURES]) == pipe.predict(frame[FEATURES])).all()
    assert (loaded[:-1].transform(frame[FEATURES]) == pipe[:-1].transform(frame[FEATURES])).all()
