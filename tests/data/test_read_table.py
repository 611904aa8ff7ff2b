"""read_table gives the rows exactly as scan_table profiles them, and the dataset service uses it."""

from __future__ import annotations

from pathlib import Path

from carnet import Client
from carnet.data import read_table, scan_table


def test_semicolons_and_a_type_widened_late_are_read_like_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    # 'a' looks like integers for the first block and turns out to be a float near the end
    rows = [f"{i};x{i % 3};" for i in range(200_000)] + ["1.5;x1;NA"]
    path.write_text("a;b;c\n" + "\n".join(rows) + "\n")
    table = read_table(path)
    summary = scan_table(path)
    assert table.column_names == ["a", "b", "c"]
    assert [f.type for f in summary.schema] == [str(t) for t in table.schema.types]
    assert table.num_rows == summary.num_rows == 200_001
    assert table.column("a").to_pylist()[-1] == 1.5
    assert table.column("c").null_count == 200_001


def test_dataset_frames_come_from_the_same_reader(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("x;y\n1;a\n2;b\n")
    with Client(str(tmp_path / "ws")) as client:
        client.add_dataset(path, "semi")
        _, frame = client.services.datasets.load_frame("semi@1")
    assert list(frame.columns) == ["x", "y"] and frame["x"].tolist() == [1, 2]
