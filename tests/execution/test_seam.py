"""The execution seam: settings, batch streaming in order with offsets, bounded driver memory."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from carnet.errors import InvalidInput
from carnet.execution import HeldBytes, InlineExecutor, LocalProcessExecutor, open_executor, parse_executor
from carnet.services.tables import FileTable


def row_sum(batch: Any, offset: int) -> tuple[int, int, float]:
    """Worker side: the batch's first row number, its rows and the sum of column x."""
    return offset, batch.num_rows, float(batch.column("x").to_numpy().sum())


@pytest.mark.parametrize(
    ("text", "backend", "address"),
    [
        (None, "local", None),
        ("local", "local", None),
        ("ray:local", "ray", None),
        ("ray://10.0.0.5:10001", "ray", "ray://10.0.0.5:10001"),
        ("dask:local", "dask", None),
        ("dask://sched:8786", "dask", "tcp://sched:8786"),
        ("tcp://sched:8786", "dask", "tcp://sched:8786"),
    ],
)
def test_settings_name_a_backend_and_an_address(text: str | None, backend: str, address: str | None) -> None:
    setting = parse_executor(text)
    assert (setting.backend, setting.address) == (backend, address)


@pytest.mark.parametrize("text", ["spark", "ray://host", "dask://host:port", "ray://:1", "dask://h:70000"])
def test_bad_settings_are_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_executor(text)
    assert err.value.field == "executor"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("scheme", ["ray", "dask"])
def test_an_unreachable_cluster_is_one_clear_line(scheme: str) -> None:
    address = f"{scheme}://127.0.0.1:{_closed_port()}"
    with pytest.raises(InvalidInput, match="cannot reach the cluster"):
        open_executor(address)


def test_local_setting_opens_this_process_or_a_pool() -> None:
    assert isinstance(open_executor("local"), InlineExecutor)
    pool = open_executor("local", 2)
    assert isinstance(pool, LocalProcessExecutor) and pool.max_workers == 2
    pool.shutdown()
    with pytest.raises(InvalidInput):
        open_executor("local", 0)


def _table(tmp_path: Path, rows: int, fmt: str) -> Path:
    frame = pd.DataFrame({"x": np.arange(rows, dtype=np.int64), "g": np.where(np.arange(rows) % 3, "a", "b")})
    path = tmp_path / f"t.{fmt}"
    if fmt == "parquet":
        frame.to_parquet(path, row_group_size=700)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("jobs", [1, 2])
def test_map_batches_streams_every_row_once_in_order(tmp_path: Path, fmt: str, jobs: int) -> None:
    path = _table(tmp_path, 5000, fmt)
    seen: list[int] = []
    held = HeldBytes()
    with open_executor("local", jobs) as runner:
        source = FileTable(path, fmt, remote=not runner.in_process)
        out = list(runner.map_batches(row_sum, source, 1000, progress=seen.append, held=held))
    offsets = [o for o, _, _ in out]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert sum(n for _, n, _ in out) == 5000 == sum(seen)
    assert sum(s for _, _, s in out) == sum(range(5000))
    for (o1, n1, _), (o2, _, _) in itertools.pairwise(out):
        assert o1 + n1 == o2  # contiguous: each row exactly once
    assert 0 < held.peak < path.stat().st_size * 10


def test_map_batches_refuses_a_bad_batch_size(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="batch_rows"):
        list(InlineExecutor().map_batches(row_sum, FileTable(_table(tmp_path, 10, "csv"), "csv"), 0))


def test_settings_read_the_executor_from_env_and_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carnet.config import resolve_settings

    (tmp_path / "carnet.toml").write_text('executor = "dask:local"\n')
    assert resolve_settings(str(tmp_path / "ws"), cwd=tmp_path).executor == "dask:local"
    monkeypatch.setenv("CARNET_EXECUTOR", "ray:local")
    assert resolve_settings(str(tmp_path / "ws"), cwd=tmp_path).executor == "ray:local"
    (tmp_path / "carnet.toml").write_text("executor = 3\n")
    monkeypatch.delenv("CARNET_EXECUTOR")
    with pytest.raises(InvalidInput, match="executor"):
        resolve_settings(str(tmp_path / "ws"), cwd=tmp_path)


def test_cli_says_one_line_and_exits_2_for_an_unreachable_cluster(tmp_path: Path) -> None:
    from carnet.cli.main import cli

    data = _table(tmp_path, 20, "csv")
    assert CliRunner().invoke(cli, ["init", str(tmp_path / "ws")]).exit_code == 0
    res = CliRunner().invoke(
        cli,
        [
            "--uri",
            str(tmp_path / "ws"),
            "drift",
            str(data),
            str(data),
            "--executor",
            f"ray://127.0.0.1:{_closed_port()}",
        ],
    )
    assert res.exit_code == 2, res.output
    assert "cannot reach the cluster" in res.output and "Traceback" not in res.output
