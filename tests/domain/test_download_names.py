"""Where downloads land, decided once for the local workspace and the SDK over HTTP: a dataset
version's file name, the suffix its reader goes by, and which artifacts a path selects."""

from __future__ import annotations

import pytest

from carnet.domain import Artifact, DatasetVersion
from carnet.domain.runs import select_artifacts
from carnet.domain.validation import artifact_path
from carnet.errors import InvalidInput, NotFound


def _version(source: str, fmt: str = "csv") -> DatasetVersion:
    return DatasetVersion("churn", 3, "blake3:" + "0" * 64, fmt, 1, 1, 1, [], [], source, None, 0.0)


@pytest.mark.parametrize(
    ("source", "fmt", "name", "read"),
    [
        ("/data/train.csv", "csv", "churn-v3.csv", ".csv"),
        ("C:\\data\\train.csv.gz", "csv", "churn-v3.csv.gz", ".csv.gz"),
        ("exports/train.TSV", "csv", "churn-v3.csv", ".tsv"),  # an extension read case-blind
        ("table.parquet", "parquet", "churn-v3.parquet", ".parquet"),
        ("dataframe:pandas.core.frame.DataFrame", "parquet", "churn-v3.parquet", ".parquet"),
        ("", "csv", "churn-v3.csv", ".csv"),
        ("weird.v2/data", "csv", "churn-v3.csv", ".csv"),
    ],
)
def test_a_version_names_its_download_and_its_reader_suffix(
    source: str, fmt: str, name: str, read: str
) -> None:
    version = _version(source, fmt)
    assert version.file_name == name
    assert version.read_suffix == read


def _art(path: str) -> Artifact:
    return Artifact(path, "blake3:" + "1" * 64, 1)


def test_a_path_selects_the_file_itself_or_the_folder_under_it() -> None:
    arts = [_art("model/model.skops"), _art("model/meta.json"), _art("plots/roc.png"), _art("modelx")]
    assert select_artifacts(arts, "plots/roc.png", "r1") == [(arts[2], None)]
    assert select_artifacts(arts, "model", "r1") == [(arts[0], ("model.skops",)), (arts[1], ("meta.json",))]
    with pytest.raises(NotFound, match="run r1 has no artifact 'plot'") as err:
        select_artifacts(arts, "plot", "r1")
    assert err.value.field == "path"


def test_artifact_paths_are_normalised_and_never_climb() -> None:
    assert artifact_path("//a/./b\\c") == "a/b/c"
    for bad in ("../x", "a/../b", "%2e%2e/x", " ", "a\x00b"):
        with pytest.raises(InvalidInput):
            artifact_path(bad)
