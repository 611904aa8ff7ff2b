"""The dataset engine on real files: formats, streaming profiles, user mistakes, diffs, Parquet writing."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import math
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_diabetes, load_iris

from carnet.data import TableProfiler, detect_format, diff_versions, scan_table, table_from_dataframe
from carnet.domain.datasets import ColumnProfile, SchemaField
from carnet.errors import InvalidInput

QS = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}


def _iris() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    df = data.frame.copy()
    df["species"] = pd.Categorical.from_codes(data.target, data.target_names).astype(str)
    return df


def _by_name(profile: list[ColumnProfile]) -> dict[str, ColumnProfile]:
    return {p.name: p for p in profile}


def _write_csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.csv", "csv"), ("a.TSV", "csv"), ("a.csv.gz", "csv"), ("a.tsv.gz", "csv"), ("a.parquet", "parquet")],
)
def test_detect_format_by_extension(tmp_path: Path, name: str, expected: str) -> None:
    path = _write_csv(tmp_path, name, "a,b\n1,2\n")
    assert detect_format(path) == expected


def test_detect_format_by_magic_bytes(tmp_path: Path) -> None:
    path = tmp_path / "export.bin"
    pq.write_table(pa.table({"a": [1, 2]}), path)
    assert detect_format(path) == "parquet"
    assert detect_format(str(path)) == "parquet"
    pq_path = tmp_path / "x.pq"
    pq.write_table(pa.table({"a": [1]}), pq_path)
    assert detect_format(pq_path) == "parquet"


def test_detect_format_unknown(tmp_path: Path) -> None:
    path = _write_csv(tmp_path, "notes.txt", "a,b\n1,2\n")
    with pytest.raises(InvalidInput) as err:
        detect_format(path)
    assert "notes.txt" in str(err.value)
    assert ".csv" in str(err.value) and ".parquet" in str(err.value)


# --------------------------------------------------------------------------- profiles


def test_csv_and_parquet_give_the_same_profile(tmp_path: Path) -> None:
    df = _iris()
    csv = tmp_path / "iris.csv"
    df.to_csv(csv, index=False)
    parquet = table_from_dataframe(df, tmp_path / "iris.parquet")
    a, b = scan_table(csv), scan_table(parquet)
    assert (a.format, b.format) == ("csv", "parquet")
    assert a.num_rows == b.num_rows == 150
    assert a.num_columns == b.num_columns == 6
    assert [f.name for f in a.schema] == [f.name for f in b.schema] == list(df.columns)
    for pa_, pb in zip(a.profile, b.profile, strict=True):
        assert pa_.kind == pb.kind
        assert (pa_.count, pa_.missing, pa_.missing_share) == (pb.count, pb.missing, pb.missing_share)
        assert pa_.distinct == pb.distinct and pa_.top == pb.top
        for stat in ("min", "max", "mean", "std"):
            va, vb = getattr(pa_, stat), getattr(pb, stat)
            assert (va is None) == (vb is None), stat  # categorical columns have no moments
            if va is not None:
                assert va == pytest.approx(vb, rel=1e-12)
        assert (pa_.quantiles is None) == (pb.quantiles is None)
        if pa_.quantiles is not None:
            assert pa_.quantiles == pytest.approx(pb.quantiles, rel=1e-12)
    kinds = {p.name: p.kind for p in a.profile}
    assert kinds == {
        **dict.fromkeys(df.columns[:4], "numeric"),
        "target": "numeric",
        "species": "categorical",
    }


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_numeric_stats_match_pandas(tmp_path: Path, fmt: str) -> None:
    df = load_diabetes(as_frame=True).frame
    if fmt == "csv":
        path = tmp_path / "diabetes.csv"
        df.to_csv(path, index=False)
    else:
        path = table_from_dataframe(df, tmp_path / "diabetes.parquet")
    summary = scan_table(path)
    assert summary.num_rows == len(df)
    prof = _by_name(summary.profile)
    for col in df.columns:
        p, s = prof[col], df[col]
        assert p.kind == "numeric"
        assert p.count == s.count() and p.missing == 0
        assert p.min == pytest.approx(s.min(), rel=1e-12)
        assert p.max == pytest.approx(s.max(), rel=1e-12)
        assert p.mean == pytest.approx(s.mean(), rel=1e-9, abs=1e-12)
        assert p.std == pytest.approx(s.std(ddof=1), rel=1e-9)  # sample std, as pandas
        for key, q in QS.items():
            assert p.quantiles[key] == pytest.approx(s.quantile(q), rel=1e-12, abs=1e-15)


def test_stats_merge_across_many_batches(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(1e6, 3.0, size=200_000)  # large mean, small spread: naive sums lose precision
    path = tmp_path / "batches.parquet"
    pq.write_table(pa.table({"x": values}), path, row_group_size=7_000)
    p = scan_table(path).profile[0]
    assert p.mean == pytest.approx(values.mean(), rel=1e-12)
    assert p.std == pytest.approx(values.std(ddof=1), rel=1e-9)
    assert p.quantiles["p50"] == pytest.approx(np.quantile(values, 0.5), rel=1e-15)


def test_quantiles_exact_for_small_data(tmp_path: Path) -> None:
    values = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9]
    path = _write_csv(tmp_path, "small.csv", "v\n" + "\n".join(map(str, values)) + "\n")
    p = scan_table(path).profile[0]
    assert p.type == "int64" and p.min == 1 and p.max == 9
    assert p.quantiles == {k: float(np.quantile(values, q)) for k, q in QS.items()}


def test_quantiles_from_a_repeatable_reservoir_beyond_the_exact_limit(tmp_path: Path) -> None:
    values = np.random.default_rng(3).uniform(0, 1, size=50_000)
    path = tmp_path / "u.parquet"
    pq.write_table(pa.table({"u": values}), path, row_group_size=4_000)
    p1 = scan_table(path, exact_limit=5_000).profile[0]
    p2 = scan_table(path, exact_limit=5_000).profile[0]
    assert p1.quantiles == p2.quantiles  # fixed seed
    for key, q in QS.items():
        assert p1.quantiles[key] == pytest.approx(q, abs=0.03)
    assert p1.count == 50_000 and p1.mean == pytest.approx(values.mean(), rel=1e-12)  # moments stay exact


def test_missing_values_in_csv(tmp_path: Path) -> None:
    text = "x,s,i\n1.5,a,1\n,b,\nNaN,,3\nNA,c,4\n2.5,NA,\n"
    p = _by_name(scan_table(_write_csv(tmp_path, "m.csv", text)).profile)
    assert (p["x"].count, p["x"].missing) == (2, 3)
    assert p["x"].missing_share == pytest.approx(3 / 5)
    assert p["x"].mean == pytest.approx(2.0)
    assert (p["s"].count, p["s"].missing, p["s"].distinct) == (3, 2, 3)
    assert (p["i"].count, p["i"].missing) == (3, 2)


def test_missing_values_none_and_nan_in_parquet(tmp_path: Path) -> None:
    x = pa.array([1.0, float("nan"), None, 3.0], from_pandas=False)
    assert x.null_count == 1  # the NaN is a value for Arrow, missing for us
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"x": x, "s": ["a", None, "a", None]}), path)
    p = _by_name(scan_table(path).profile)
    assert (p["x"].count, p["x"].missing, p["x"].missing_share) == (2, 2, 0.5)
    assert (p["x"].min, p["x"].max, p["x"].mean) == (1.0, 3.0, 2.0)
    assert (p["s"].count, p["s"].missing, p["s"].top) == (2, 2, [("a", 2)])


def test_categorical_top_values_and_distinct(tmp_path: Path) -> None:
    colors = ["red"] * 50 + ["blue"] * 30 + ["green"] * 30 + [f"c{i:02d}" for i in range(20)]
    df = pd.DataFrame({"color": colors, "flag": [True, False] * 65})
    csv = tmp_path / "colors.csv"
    df.to_csv(csv, index=False)
    for path in (csv, table_from_dataframe(df, tmp_path / "colors.parquet")):
        p = _by_name(scan_table(path).profile)
        color = p["color"]
        assert color.kind == "categorical" and color.distinct == 23 and color.distinct_exact
        assert len(color.top) == 10
        assert color.top[:3] == [("red", 50), ("blue", 30), ("green", 30)]  # ties broken by value
        assert color.top[3:] == [(f"c{i:02d}", 1) for i in range(7)]
        flag = p["flag"]
        assert flag.kind == "boolean" and flag.distinct == 2
        assert sorted(flag.top) == [("false", 65), ("true", 65)] and flag.mean == 0.5


def test_dictionary_columns_are_categorical(tmp_path: Path) -> None:
    df = pd.DataFrame({"c": pd.Categorical(["x", "y", "x", None])})
    p = scan_table(table_from_dataframe(df, tmp_path / "cat.parquet")).profile[0]
    assert p.kind == "categorical" and p.type.startswith("dictionary")
    assert (p.count, p.missing, p.distinct, p.top) == (3, 1, 2, [("x", 2), ("y", 1)])


def test_distinct_stops_being_exact_past_the_limit(tmp_path: Path) -> None:
    n = 300_000
    keys = np.char.add("k", np.arange(n).astype(str))
    heavy = np.array(["hot"] * 5_000 + ["warm"] * 3_000)
    path = tmp_path / "keys.parquet"
    pq.write_table(pa.table({"k": np.concatenate([heavy, keys])}), path, row_group_size=20_000)
    p = scan_table(path, distinct_limit=100_000).profile[0]
    assert not p.distinct_exact
    assert 100_000 < p.distinct <= n + 2  # a lower bound
    assert p.top[:2] == [("hot", 5_000), ("warm", 3_000)]
    exact = scan_table(path).profile[0]
    assert exact.distinct_exact and exact.distinct == n + 2


def test_temporal_columns(tmp_path: Path) -> None:
    text = "when,day\n2024-03-01 10:00:00,2024-03-01\n2023-12-31 23:59:59,2025-01-02\n,\n"
    p = _by_name(scan_table(_write_csv(tmp_path, "t.csv", text)).profile)
    assert p["when"].kind == p["day"].kind == "temporal"
    assert (p["when"].min, p["when"].max) == ("2023-12-31T23:59:59", "2024-03-01T10:00:00")
    assert (p["day"].min, p["day"].max, p["day"].missing) == ("2024-03-01", "2025-01-02", 1)


def test_header_only_csv_has_zero_rows(tmp_path: Path) -> None:
    s = scan_table(_write_csv(tmp_path, "h.csv", "a,b\n"))
    assert (s.num_rows, s.num_columns, [f.name for f in s.schema]) == (0, 2, ["a", "b"])
    assert all(p.count == 0 and p.missing_share == 0.0 for p in s.profile)


def test_tsv_semicolon_and_gzip(tmp_path: Path) -> None:
    rows = "".join(f"{i}\tv{i % 3}\n" for i in range(100))
    tsv = _write_csv(tmp_path, "a.tsv", "n\tname\n" + rows)
    semi = _write_csv(tmp_path, "b.csv", "n;name\n" + rows.replace("\t", ";"))
    gz = tmp_path / "c.csv.gz"
    gz.write_bytes(gzip.compress(("n,name\n" + rows.replace("\t", ",")).encode()))
    summaries = [scan_table(p) for p in (tsv, semi, gz)]
    for s in summaries:
        assert [f.name for f in s.schema] == ["n", "name"] and s.num_rows == 100
        assert s.profile == summaries[0].profile


def test_csv_types_widen_when_a_later_block_disagrees(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("carnet.data._csv.BLOCK_SIZE", 1024)
    lines = ["a,b,c,d"] + [f"{i},{i},,2024-01-01" for i in range(2_000)]
    lines += ["2.5,x,7,2024-01-01 12:30:00"]
    path = _write_csv(tmp_path, "late.csv", "\n".join(lines) + "\n")
    s = scan_table(path)
    types = {f.name: f.type for f in s.schema}
    assert types["a"] == "double" and types["b"] == "string" and types["c"] == "int64"
    assert types["d"] != "date32[day]"
    p = _by_name(s.profile)
    assert s.num_rows == 2_001 and p["a"].max == 1999.0 and p["a"].min == 0.0
    assert (p["c"].count, p["c"].max) == (1, 7)
    assert p["b"].distinct == 2_001


# --------------------------------------------------------------------------- streaming + progress


def _big_csv(path: Path, target_bytes: int) -> None:
    rng = np.random.default_rng(11)
    cats = np.array([f"cat{i:02d}" for i in range(30)])
    chunk, start = 200_000, 0
    with path.open("w") as fh:
        while fh.tell() < target_bytes:
            ids = np.arange(start, start + chunk)
            pd.DataFrame(
                {
                    "id": ids,
                    "x": rng.normal(size=chunk),
                    "cat": cats[rng.integers(0, 30, chunk)],
                    "flag": rng.random(chunk) < 0.25,
                }
            ).to_csv(fh, index=False, header=start == 0)
            start += chunk


def test_streaming_scan_memory_and_progress(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    _big_csv(path, 60_000_000)
    size = path.stat().st_size
    rows = sum(1 for _ in path.open()) - 1

    pool = pa.proxy_memory_pool(pa.default_memory_pool())  # counts Arrow allocations made via the default
    previous_pool = pa.default_memory_pool()
    base = pa.total_allocated_bytes()
    seen: list[int] = []
    arrow_sampled = 0

    def progress(n: int) -> None:
        nonlocal arrow_sampled
        seen.append(n)
        arrow_sampled = max(arrow_sampled, pa.total_allocated_bytes() - base)

    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        summary = scan_table(path, progress=progress)
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous_pool)
    arrow_peak = max(pool.max_memory(), arrow_sampled)

    assert summary.num_rows == rows > 1_000_000
    assert python_peak + arrow_peak < size * 1.5, (python_peak, arrow_peak, size)  # loading it all: ~3x
    assert len(seen) > 10
    assert all(a < b for a, b in itertools.pairwise(seen))
    assert seen[-1] == size
    assert seen[len(seen) // 2] < size  # progress advances with the scan, not with the read-ahead

    p = _by_name(summary.profile)
    assert p["id"].count == rows and p["id"].min == 0 and p["id"].max == rows - 1
    assert p["id"].mean == pytest.approx((rows - 1) / 2)
    assert p["id"].quantiles["p50"] == pytest.approx((rows - 1) / 2, rel=0.01)  # reservoir past 1M values
    assert p["x"].mean == pytest.approx(0, abs=0.01) and p["x"].std == pytest.approx(1, abs=0.01)
    assert p["cat"].distinct == 30 and sum(c for _, c in p["cat"].top) < rows
    assert p["flag"].mean == pytest.approx(0.25, abs=0.01)


def test_parquet_progress_per_row_group(tmp_path: Path) -> None:
    path = tmp_path / "rg.parquet"
    pq.write_table(
        pa.table({"a": np.arange(100_000), "b": np.arange(100_000) * 0.5}), path, row_group_size=10_000
    )
    seen: list[int] = []
    assert scan_table(path, progress=seen.append).num_rows == 100_000
    assert len(seen) >= 10 and seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[-1] == path.stat().st_size


def test_gzip_progress_counts_compressed_bytes(tmp_path: Path) -> None:
    path = tmp_path / "g.csv.gz"
    path.write_bytes(gzip.compress(("a,b\n" + "".join(f"{i},{i * 3}\n" for i in range(300_000))).encode()))
    seen: list[int] = []
    assert scan_table(path, progress=seen.append).num_rows == 300_000
    assert seen == sorted(seen) and seen[-1] == path.stat().st_size


# --------------------------------------------------------------------------- user mistakes


def _parquet_without_columns(path: Path) -> None:
    pq.write_table(pa.table({}), path)


def _parquet_with_duplicates(path: Path) -> None:
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"]), path)


MISTAKES = {
    "missing": ("nope.csv", None, "not found"),
    "empty": ("empty.csv", b"", "empty"),
    "blank lines": ("blank.csv", b"\n\n", "empty"),
    "ragged": ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "Expected 2 columns"),
    "duplicates": ("dups.csv", b"a,b,a,b,c\n1,2,3,4,5\n", "'a', 'b'"),
    "bad utf8": ("latin.csv", b"name\n" + b"\xe9t\xe9\n" * 3, "UTF-8"),
    "bad utf8 later": ("late.csv", b"name\n" + b"ok\n" * 400_000 + b"\xe9t\xe9\n", "UTF-8"),
    "not gzip": ("fake.csv.gz", b"a,b\n1,2\n", "gzip"),
    "not parquet": ("fake.parquet", b"a,b\n1,2\n", "Parquet"),
    "truncated parquet": ("cut.parquet", b"PAR1" + b"\0" * 20, "Parquet"),
    "parquet no columns": ("nocols.parquet", _parquet_without_columns, "no columns"),
    "parquet duplicates": ("dups.parquet", _parquet_with_duplicates, "duplicate"),
    "unknown format": ("data.xlsx", b"PK\x03\x04", "accepted formats"),
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_user_mistakes_raise_invalid_input_naming_the_file(tmp_path: Path, case: str) -> None:
    name, content, needle = MISTAKES[case]
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        content(path)
    with pytest.raises(InvalidInput) as err:
        scan_table(path)
    message = str(err.value)
    assert name in message and needle in message
    assert "\n" not in message


def test_directory_and_bad_format_argument(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is a directory"):
        scan_table(tmp_path)
    path = _write_csv(tmp_path, "ok.csv", "a\n1\n")
    with pytest.raises(InvalidInput, match=r"unknown format 'xlsx'.*ok\.csv"):
        scan_table(path, fmt="xlsx")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- diff


def test_diff_versions(tmp_path: Path) -> None:
    df = _iris()
    a = scan_table(table_from_dataframe(df, tmp_path / "a.parquet"))
    changed = df.drop(columns=["petal width (cm)"]).assign(
        **{"sepal length (cm)": df["sepal length (cm)"] + 1.0, "target": df["target"].astype(float), "new": 1}
    )
    changed = changed[changed["species"] != "virginica"]
    b = scan_table(table_from_dataframe(changed, tmp_path / "b.parquet"))
    d = diff_versions(a.schema, a.profile, b.schema, b.profile, a_rows=a.num_rows, b_rows=b.num_rows)
    assert [f.name for f in d.added] == ["new"]
    assert [f.name for f in d.removed] == ["petal width (cm)"]
    assert [(t.name, t.old, t.new) for t in d.type_changed] == [("target", "int64", "double")]
    sepal = d.column("sepal length (cm)")
    assert sepal is not None
    assert sepal.changes["mean"].delta == pytest.approx(
        changed["sepal length (cm)"].mean() - df["sepal length (cm)"].mean()
    )
    assert sepal.changes["p50"].delta == pytest.approx(1.0, abs=0.5)
    species = d.column("species")
    assert species is not None and species.top_removed == ["virginica"] and species.top_added == []
    assert species.changes["distinct"].to_dict() == {"old": 3, "new": 2, "delta": -1}
    assert d.rows is not None and d.rows.delta == -50
    assert d.has_changes
    out = json.loads(json.dumps(d.to_dict()))
    assert out["added"] == [{"name": "new", "type": "int64"}]
    assert out["rows"] == {"old": 150, "new": 100, "delta": -50}


def test_diff_of_identical_versions_and_top_values() -> None:
    schema = [SchemaField("c", "string")]
    a = [ColumnProfile("c", "string", "categorical", 3, 0, 0.0, distinct=2, top=[("x", 2), ("y", 1)])]
    b = [ColumnProfile("c", "string", "categorical", 3, 0, 0.0, distinct=2, top=[("x", 2), ("z", 1)])]
    assert not diff_versions(schema, a, schema, a).has_changes
    assert not diff_versions(schema, None, schema, b).has_changes  # unknown profile: schema only
    d = diff_versions(schema, a, schema, b)
    col = d.column("c")
    assert col is not None and (col.top_added, col.top_removed) == (["z"], ["y"])
    assert col.changes == {}


# --------------------------------------------------------------------------- writing DataFrames


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_table_from_dataframe_is_deterministic(tmp_path: Path) -> None:
    def frame() -> pd.DataFrame:
        return pd.DataFrame(
            {
                "x": np.linspace(0, 1, 1_000),
                "s": [f"v{i % 7}" for i in range(1_000)],
                "t": pd.date_range("2024-01-01", periods=1_000, freq="h"),
                "c": pd.Categorical([["a", "b"][i % 2] for i in range(1_000)]),
            }
        )

    p1 = table_from_dataframe(frame(), tmp_path / "one.parquet")
    p2 = table_from_dataframe(frame(), tmp_path / "two.parquet")
    p3 = table_from_dataframe(frame(), tmp_path / "one.parquet")  # overwrite in place
    assert _sha(p1) == _sha(p2) == _sha(p3)
    assert {p.name for p in tmp_path.iterdir()} == {"one.parquet", "two.parquet"}  # no temp files left
    pd.testing.assert_frame_equal(pd.read_parquet(p1), frame())
    other = frame().assign(x=lambda f: f["x"] + 1)
    assert _sha(table_from_dataframe(other, tmp_path / "three.parquet")) != _sha(p1)


def test_table_from_dataframe_index_and_tables(tmp_path: Path) -> None:
    ranged = pd.DataFrame({"a": [1, 2, 3]}, index=pd.RangeIndex(5, 8))
    p = table_from_dataframe(ranged, tmp_path / "r.parquet")
    assert pq.read_schema(p).names == ["a"]
    labelled = pd.DataFrame({"a": [1, 2, 3]}, index=pd.Index(["x", "y", "z"], name="key"))
    p = table_from_dataframe(labelled, tmp_path / "l.parquet")
    assert "key" in pq.read_schema(p).names
    pd.testing.assert_frame_equal(pd.read_parquet(p), labelled)
    t = pa.table({"a": [1, 2]})
    assert _sha(table_from_dataframe(t, tmp_path / "t1.parquet")) == _sha(
        table_from_dataframe(t, tmp_path / "t2.parquet")
    )


def test_table_from_dataframe_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="pass a pandas DataFrame"):
        table_from_dataframe([1, 2, 3], tmp_path / "x.parquet")  # type: ignore[arg-type]
    dup = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidInput, match=r"x\.parquet"):
        table_from_dataframe(dup, tmp_path / "x.parquet")
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- misc


def test_profiler_accepts_tables_and_is_json_ready() -> None:
    t = pa.table({"x": [1.0, 2.0, float("inf")], "n": pa.array([None, None, None], pa.null())})
    prof = TableProfiler(t.schema)
    prof.update(t)
    x, n = prof.finish()
    assert x.max is None and x.mean is None and x.min == 1.0  # non-finite stats are dropped
    assert (n.kind, n.missing, n.missing_share) == ("other", 3, 1.0)
    json.dumps([x.to_dict(), n.to_dict()], allow_nan=False)
    assert math.isclose(x.quantiles["p01"], 1.02)


def test_importing_carnet_data_stays_light() -> None:
    code = (
        "import sys, carnet.data; "
        "print(sorted(m for m in ('pyarrow', 'pandas', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
