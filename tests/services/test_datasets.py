"""Versioned datasets through carnet.Client on SQLite and PostgreSQL, in-process and through a live
carnet server: versions, lineage, profiles, diffs, DataFrames, verified downloads, user mistakes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pandas as pd
import pytest

from carnet import Client
from carnet.data import VersionDiff
from carnet.domain import DatasetRef
from carnet.errors import ArtifactCorrupted, InvalidInput, NotFound
from conftest import Workspace

pytestmark = pytest.mark.served  # also through a live carnet server (remote-* workspaces)

IRIS = "a,b,label\n1,2.5,x\n3,4.5,y\n5,6.5,x\n"


def _csv(folder: Path, name: str, text: str = IRIS) -> Path:
    path = folder / name
    path.write_text(text)
    return path


# -- versions --------------------------------------------------------------------------------------


def test_versions_are_numbered_and_identical_content_is_not_a_new_version(
    client: Client, tmp_path: Path
) -> None:
    v1, created1 = client.add_dataset(_csv(tmp_path, "iris.csv"), "iris", project="data", description="first")
    assert created1 is True
    assert (v1.name, v1.version, v1.ref, v1.project, v1.description) == ("iris", 1, "iris@1", "data", "first")
    assert (v1.format, v1.num_rows, v1.num_columns, v1.size) == ("csv", 3, 3, len(IRIS))
    assert [(f.name, f.type) for f in v1.schema] == [("a", "int64"), ("b", "double"), ("label", "string")]
    assert v1.digest.startswith("blake3:") and v1.parent is None
    assert v1.source == str((tmp_path / "iris.csv").resolve())

    copy = _csv(tmp_path, "copy.csv")  # the same bytes under another file name
    again, created = client.add_dataset(copy, "iris")
    assert created is False and again.version == 1 and again.digest == v1.digest

    v2, created2 = client.add_dataset(_csv(tmp_path, "more.csv", IRIS + "7,8.5,y\n"), "iris", parent="iris@1")
    assert created2 is True and v2.version == 2 and v2.num_rows == 4
    assert v2.parent == DatasetRef("iris", 1) and v2.digest != v1.digest
    assert v2.project == "data"  # a dataset stays in the project of its first version
    v3, _ = client.add_dataset(_csv(tmp_path, "less.csv", "a,b,label\n1,2.5,x\n"), "iris", parent="iris")
    assert v3.parent == DatasetRef("iris", 2)  # the parent's latest version when none is given

    assert [v.version for v in client.dataset_versions("iris")] == [1, 2, 3]
    assert client.get_dataset("iris").version == 3
    assert client.get_dataset("iris@1") == v1


def test_the_same_content_under_another_name_is_its_own_dataset(client: Client, tmp_path: Path) -> None:
    csv = _csv(tmp_path, "iris.csv")
    a, _ = client.add_dataset(csv, "one")
    b, created = client.add_dataset(csv, "two", project="other")
    assert created is True and (b.name, b.version, b.project) == ("two", 1, "other")
    assert a.digest == b.digest
    assert [(v.name, v.version, v.project) for v in client.list_datasets()] == [
        ("one", 1, "default"),
        ("two", 1, "other"),
    ]


def test_profiles_come_with_every_version(client: Client, tmp_path: Path) -> None:
    client.add_dataset(_csv(tmp_path, "iris.csv"), "iris")
    client.add_dataset(_csv(tmp_path, "more.csv", IRIS + "7,,z\n"), "iris")
    got = client.get_dataset("iris@2")
    by_name = {c.name: c for c in got.profile}
    assert list(by_name) == ["a", "b", "label"]
    assert (by_name["a"].min, by_name["a"].max, by_name["a"].mean) == (1, 7, 4.0)
    assert by_name["b"].missing_share == pytest.approx(0.25)
    assert dict(by_name["label"].top) == {"x": 2, "y": 1, "z": 1}
    assert client.dataset_versions("iris")[1].profile == got.profile
    assert client.list_datasets()[0].profile == got.profile


def test_parquet_and_compressed_csv(client: Client, tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.5, 2.5, None], "y": ["a", "b", "c"]})
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    pq, _ = client.add_dataset(tmp_path / "t.parquet", "table")
    assert (pq.format, pq.num_rows, [f.name for f in pq.schema]) == ("parquet", 3, ["x", "y"])
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(IRIS.encode()))
    v, _ = client.add_dataset(gz, "zipped")
    assert (v.format, v.num_rows) == ("csv", 3)
    # content that is not what its name says is read as the format given
    odd = _csv(tmp_path, "data.txt")
    assert client.add_dataset(odd, "odd", format="csv")[0].num_rows == 3


# -- DataFrames ------------------------------------------------------------------------------------


def test_log_dataframe_is_deterministic(client: Client) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    v1, created = client.log_dataframe(frame, "frame", project="data")
    assert created is True and (v1.format, v1.num_rows, v1.project) == ("parquet", 3, "data")
    assert v1.source == f"dataframe:{type(frame).__module__}.DataFrame"
    again, created = client.log_dataframe(frame.copy(), "frame")
    assert created is False and again.digest == v1.digest
    v2, created = client.log_dataframe(frame.head(2), "frame", parent="frame@1", description="fewer")
    assert created is True and v2.version == 2 and v2.parent == DatasetRef("frame", 1)
    with pytest.raises(InvalidInput):
        client.log_dataframe([1, 2, 3], "frame")
    assert len(client.dataset_versions("frame")) == 2


# -- diffs -----------------------------------------------------------------------------------------


def test_diff_between_versions(client: Client, tmp_path: Path) -> None:
    client.add_dataset(_csv(tmp_path, "v1.csv"), "iris")
    client.add_dataset(_csv(tmp_path, "v2.csv", "a,label,c\n1,x,0.5\n9,x,0.5\n"), "iris")
    diff = client.diff_datasets("iris@1", "iris@2")
    assert isinstance(diff, VersionDiff) and diff.has_changes
    assert [f.name for f in diff.added] == ["c"] and [f.name for f in diff.removed] == ["b"]
    assert diff.rows is not None and (diff.rows.old, diff.rows.new) == (3, 2)
    a = diff.column("a")
    assert a is not None and (a.changes["max"].old, a.changes["max"].new) == (5, 9)
    label = diff.column("label")
    assert label is not None and label.top_removed == ["y"]
    same = client.diff_datasets("iris@2", "iris")
    assert not same.has_changes and same.to_dict()["columns"] == []
    with pytest.raises(NotFound):
        client.diff_datasets("iris@1", "iris@7")
    with pytest.raises(InvalidInput):
        client.diff_datasets("iris@0", "iris@1")


# -- downloads -------------------------------------------------------------------------------------


def test_download_to_a_file_or_a_folder(client: Client, tmp_path: Path) -> None:
    client.add_dataset(_csv(tmp_path, "iris.csv"), "iris")
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(IRIS.encode()))
    client.add_dataset(gz, "iris")
    out = tmp_path / "out"
    out.mkdir()
    first = client.download_dataset("iris@1", out)
    assert first == out / "iris-v1.csv" and first.read_text() == IRIS
    latest = client.download_dataset("iris", str(tmp_path / "new") + "/")
    assert latest == tmp_path / "new" / "iris-v2.csv.gz" and latest.read_bytes() == gz.read_bytes()
    named = client.download_dataset("iris@1", tmp_path / "deep" / "copy.csv")
    assert named.read_text() == IRIS
    seen: list[int] = []
    client.download_dataset("iris@1", tmp_path / "again.csv", progress=seen.append)
    assert sum(seen) == len(IRIS)


def test_a_corrupted_stored_file_is_never_handed_out(
    client: Client, workspace: Workspace, tmp_path: Path
) -> None:
    version, _ = client.add_dataset(_csv(tmp_path, "iris.csv"), "iris")
    # a small file is one chunk, alone in its pack: the pack holds exactly the file's bytes
    [stored] = [p for p in workspace.path.rglob(version.digest.split(":", 1)[1]) if "packs" in p.parts]
    os.chmod(stored, 0o644)
    stored.write_text(IRIS.replace("2.5", "9.5"))
    target = tmp_path / "got.csv"
    with pytest.raises(ArtifactCorrupted):
        client.download_dataset("iris@1", target)
    assert not target.exists()


# -- user mistakes ---------------------------------------------------------------------------------


def test_unknown_datasets_and_versions_are_not_found(client: Client, tmp_path: Path) -> None:
    client.add_dataset(_csv(tmp_path, "iris.csv"), "iris")
    for call in (
        lambda: client.get_dataset("ghost"),
        lambda: client.get_dataset("iris@2"),
        lambda: client.dataset_versions("ghost"),
        lambda: client.download_dataset("ghost@1", tmp_path / "x.csv"),
        lambda: client.add_dataset(tmp_path / "iris.csv", "other", parent="ghost@1"),
    ):
        with pytest.raises(NotFound) as info:
            call()
        assert info.value.field == "dataset"
    assert [d.name for d in client.list_datasets()] == ["iris"]


@pytest.mark.parametrize("ref", ["", "a/b", "iris@", "iris@0", "iris@x", "bad name"])
def test_malformed_references_are_invalid(client: Client, ref: str) -> None:
    with pytest.raises(InvalidInput):
        client.get_dataset(ref)
    if "@" not in ref:
        with pytest.raises(InvalidInput) as info:
            client.dataset_versions(ref)
        assert info.value.field == "dataset name"


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("missing file", "path"),
        ("folder", "path"),
        ("empty file", None),
        ("duplicate columns", None),
        ("bad name", "dataset name"),
        ("bad format", "format"),
        ("bad parent", None),
    ],
)
def test_bad_input_is_invalid_and_stores_nothing(
    client: Client, tmp_path: Path, case: str, field: str | None
) -> None:
    good = _csv(tmp_path, "good.csv")
    args: dict[str, object] = {
        "missing file": {"path": tmp_path / "nope.csv"},
        "folder": {"path": tmp_path},
        "empty file": {"path": _csv(tmp_path, "empty.csv", "")},
        "duplicate columns": {"path": _csv(tmp_path, "dupes.csv", "a,b,a\n1,2,3\n")},
        "bad name": {"name": "bad name!"},
        "bad format": {"format": "xlsx"},
        "bad parent": {"parent": "ds@zero"},
    }[case]
    kwargs = {k: v for k, v in args.items() if k not in ("path", "name")}
    with pytest.raises(InvalidInput) as info:
        client.add_dataset(args.get("path", good), str(args.get("name", "ds")), **kwargs)
    if field is not None:
        assert info.value.field == field
    assert client.list_datasets() == []
    assert client.audit_log("dataset") == []


def test_an_unknown_argument_is_a_type_error(client: Client, tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        client.add_dataset(_csv(tmp_path, "iris.csv"), "iris", colour="blue")
    assert client.list_datasets() == []


# -- audit -----------------------------------------------------------------------------------------


def test_each_new_version_is_one_audit_event(client: Client, tmp_path: Path) -> None:
    csv = _csv(tmp_path, "iris.csv")
    client.add_dataset(csv, "iris", project="data")
    client.add_dataset(csv, "iris")  # identical: nothing changes, nothing is recorded
    client.add_dataset(_csv(tmp_path, "v2.csv", IRIS + "7,8.5,y\n"), "iris", parent="iris@1")
    events = client.audit_log("dataset", "iris")
    assert [e.action for e in events] == ["dataset.add_version", "dataset.add_version"]
    newest = events[0].payload
    assert (newest["version"], newest["rows"], newest["parent"], newest["format"]) == (2, 4, "iris@1", "csv")
    assert newest["source"] == str((tmp_path / "v2.csv").resolve())
    assert client.verify_audit().ok


def test_a_new_version_creates_no_other_project(client: Client, tmp_path: Path) -> None:
    client.add_dataset(_csv(tmp_path, "iris.csv"), "iris", project="data")
    v2, _ = client.add_dataset(_csv(tmp_path, "v2.csv", IRIS + "7,8.5,y\n"), "iris")  # project: default
    v3, _ = client.add_dataset(_csv(tmp_path, "v3.csv", IRIS + "9,8.5,y\n"), "iris", project="elsewhere")
    assert (v2.project, v3.project) == ("data", "data")
    assert [p.name for p, _ in client.list_projects()] == ["data"]
    assert len(client.audit_log(action="project.create")) == 1
