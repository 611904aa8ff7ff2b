"""Drift profiles: kinds from dtypes, JSON round trip, exact merging, samples, chunk statistics, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from carnet.errors import InvalidInput
from carnet.monitoring.drift import (
    DatasetProfile,
    build_profile,
    merge_profiles,
    profile_like,
    psi,
    wasserstein_normalized,
)
from carnet.monitoring.drift.compare import distance


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, size=n)
    x[rng.random(n) < 0.05] = np.nan
    x[:3] = [np.inf, -np.inf, np.nan] if n > 3 else x[:3]
    ints = pd.array(rng.poisson(3 + shift, size=n), dtype="Int64")
    ints[rng.random(n) < 0.02] = pd.NA
    cities = np.array(["paris", "lyon", "nice", "lille", "brest", "metz"])
    city = pd.Series(cities[rng.choice(6, size=n, p=[0.3, 0.25, 0.2, 0.15, 0.07, 0.03])], dtype=object)
    city[rng.random(n) < 0.03] = None
    if shift:
        city[rng.random(n) < 0.1] = "toulouse"  # a category the reference never saw
    return pd.DataFrame(
        {
            "x": x,
            "count": ints,
            "city": city,
            "band": pd.Categorical(rng.choice(["a", "b", "c"], size=n)),
            "flag": rng.random(n) < 0.3 + shift / 10,
            "when": pd.date_range("2024-01-01", periods=n, freq="min"),
            "score": rng.random(n),
        }
    )


def test_kinds_come_from_dtypes_and_unsupported_columns_are_left_out():
    df = pd.DataFrame(
        {
            "code": ["1", "2", "3"] * 10,  # numbers written as strings: categorical
            "level": [1, 2, 3] * 10,  # few distinct integers: still numeric
            "ok": [True, False, None] * 10,  # object bools with None
            "when": pd.date_range("2024-01-01", periods=30),
        }
    )
    prof = build_profile(df)
    assert {c.name: c.kind for c in prof.columns} == {
        "code": "categorical",
        "level": "numeric",
        "ok": "boolean",
    }
    with pytest.raises(InvalidInput, match="'when' is temporal") as err:
        build_profile(df, columns=["level", "when"])
    assert err.value.field == "when"


@pytest.mark.parametrize("as_arrow", [False, True])
def test_profiles_round_trip_through_json_exactly(as_arrow):
    ref_df, cur_df = _frame(3000, 1), _frame(2000, 2, shift=1.0)
    not_finite = int((~np.isfinite(ref_df["x"])).sum())
    if as_arrow:
        ref_df, cur_df = pa.Table.from_pandas(ref_df), pa.Table.from_pandas(cur_df)
    ref = build_profile(ref_df, outputs=["score"], seed=3)
    cur = profile_like(ref, cur_df, sample_rows=100)
    for prof in (ref, cur):
        text = json.dumps(prof.to_dict(), allow_nan=False)
        again = DatasetProfile.from_dict(json.loads(text))
        assert again == prof
        assert again.to_dict() == prof.to_dict()
    assert ref.names == ("x", "count", "city", "band", "flag", "score")
    assert ref.outputs == ("score",) and ref.features == ("x", "count", "city", "band", "flag")
    x = ref.column("x")
    assert x.missing == not_finite and x.count + x.missing == 3000
    assert x.std is not None and x.chunks.keys() == {"psi", "js", "wasserstein"}
    assert cur.column("x").std is None and cur.column("x").chunks == {}


def test_numeric_missing_counts_nulls_nan_and_infinities():
    df = pd.DataFrame({"x": [1.0, np.nan, np.inf, -np.inf, 2.0, 3.0]})
    col = build_profile(df).column("x")
    assert (col.count, col.missing, col.min, col.max) == (3, 3, 1.0, 3.0)
    tab = pa.table({"x": pa.array([1, None, 2, 3], type=pa.int32())})
    col = build_profile(tab).column("x")
    assert (col.count, col.missing, col.dtype) == (3, 1, "int32")


def test_reference_bins_are_quantiles_and_categories_keep_top_k_plus_other():
    rng = np.random.default_rng(0)
    words = np.array([f"w{i:02d}" for i in range(60)])
    df = pd.DataFrame({"x": rng.normal(size=10_000), "w": words[rng.zipf(1.5, size=10_000) % 60]})
    prof = build_profile(df, top_k=5)
    shares = prof.column("x").bin_counts() / 10_000
    assert len(shares) == 10 and np.allclose(shares, 0.1, atol=1e-3)
    w = prof.column("w")
    top = df["w"].value_counts().sort_values(ascending=False, kind="stable")
    assert list(w.categories) == list(top.index[:5])
    assert w.counts == (*top.iloc[:5].tolist(), int(top.iloc[5:].sum()))


def test_window_profiles_merge_exactly():
    ref = build_profile(_frame(5000, 1), outputs=["score"])
    cur = _frame(9000, 2, shift=1.5)  # values beyond the reference range, an unseen category, nulls
    a, b, c = cur.iloc[:2500], cur.iloc[2500:7000], cur.iloc[7000:]
    whole = profile_like(ref, cur)
    assert merge_profiles([profile_like(ref, a), profile_like(ref, b)]) == profile_like(
        ref, pd.concat([a, b])
    )
    parts = [profile_like(ref, p) for p in (a, b, c)]
    assert merge_profiles(parts) == whole
    assert merge_profiles(parts[::-1]) == whole
    assert merge_profiles([merge_profiles(parts[:2]), parts[2]]) == whole
    x = whole.column("x")
    assert x.tail_high > 0 and x.max > ref.column("x").max
    city = whole.column("city")
    assert city.counts[-1] > 0  # "toulouse" counted as other
    # and the drift read from the merged windows is the drift of the whole
    assert distance("wasserstein", ref.column("x"), merge_profiles(parts).column("x")) == distance(
        "wasserstein", ref.column("x"), whole.column("x")
    )


def test_arrow_and_pandas_windows_count_the_same():
    ref = build_profile(_frame(3000, 1))
    cur = _frame(2000, 4, shift=0.5)
    assert profile_like(ref, cur) == profile_like(ref, pa.Table.from_pandas(cur))
    cur_cat = cur.assign(city=cur["city"].astype("category"))  # dictionary-encoded in Arrow
    assert profile_like(ref, cur_cat).column("city").counts == profile_like(ref, cur).column("city").counts


def test_row_samples_are_bounded_seeded_and_keep_rows_together():
    rng = np.random.default_rng(0)
    a = rng.normal(size=20_000)
    df = pd.DataFrame({"a": a, "b": a * 2, "s": np.where(a > 0, "pos", "neg")})
    p1, p2 = build_profile(df, sample_rows=500, seed=1), build_profile(df, sample_rows=500, seed=1)
    assert p1.sample is not None and p1.sample.rows == 500 and p1.sample == p2.sample
    assert build_profile(df, sample_rows=500, seed=2).sample != p1.sample
    vals = p1.sample.values
    assert all(
        b == 2 * x and s == ("pos" if x > 0 else "neg")
        for x, b, s in zip(vals["a"], vals["b"], vals["s"], strict=True)
    )
    assert build_profile(df.iloc[:100], sample_rows=500).sample.rows == 100
    assert build_profile(df, sample_rows=0).sample is None
    # merged window samples: a bounded sample of the union
    w = merge_profiles(
        [profile_like(p1, df.iloc[:300], sample_rows=200), profile_like(p1, df.iloc[300:], sample_rows=200)]
    )
    assert w.sample is not None and w.sample.rows == 200 and set(w.sample.values["a"]) <= set(a.tolist())


def test_chunk_statistics_are_each_chunk_against_the_whole_reference():
    rng = np.random.default_rng(2)
    x = rng.normal(size=4000)
    prof = build_profile(pd.DataFrame({"x": x}), chunks=8)
    col = prof.column("x")
    edges = np.asarray(col.edges)
    ref_counts = col.bin_counts()
    for i, chunk in enumerate(np.array_split(x, 8)):
        counts = np.bincount(np.searchsorted(edges, chunk, side="left"), minlength=len(edges) + 1)
        assert col.chunks["psi"][i] == pytest.approx(psi(ref_counts, counts), abs=1e-12)
        assert col.chunks["wasserstein"][i] == pytest.approx(
            wasserstein_normalized(x, chunk) * np.std(x) / col.std, abs=0.01
        )
    assert prof.chunk_count == 8
    assert build_profile(pd.DataFrame({"x": x}), chunks=0).column("x").chunks == {}


def test_bad_input_names_the_column():
    ref = build_profile(_frame(500, 1))
    cur = _frame(300, 2)
    with pytest.raises(InvalidInput, match="'city' of the reference is missing") as err:
        profile_like(ref, cur.drop(columns=["city"]))
    assert err.value.field == "city"
    with pytest.raises(InvalidInput, match="'x' is categorical") as err:
        profile_like(ref, cur.assign(x=cur["x"].astype(str)))
    assert err.value.field == "x"
    with pytest.raises(InvalidInput, match="'nope' is not in the data") as err:
        build_profile(cur, columns=["x", "nope"])
    assert err.value.field == "nope"
    with pytest.raises(InvalidInput, match="mixes value types") as err:
        build_profile(pd.DataFrame({"m": [1, "a", 2.5]}), columns=["m"])
    assert err.value.field == "m"
    with pytest.raises(InvalidInput, match="multiple of bins"):
        build_profile(cur, bins=10, grid=25)
    with pytest.raises(InvalidInput, match="pandas DataFrame or a pyarrow Table"):
        build_profile([[1, 2]])
    other = build_profile(_frame(400, 9))
    with pytest.raises(InvalidInput, match="other bins"):
        merge_profiles([profile_like(ref, cur), profile_like(other, cur)])
    with pytest.raises(InvalidInput, match="format"):
        DatasetProfile.from_dict({"kind": "window"})
    broken = ref.to_dict()
    del broken["columns"][0]["counts"]
    with pytest.raises(InvalidInput, match="malformed"):
        DatasetProfile.from_dict(broken)
