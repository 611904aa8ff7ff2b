"""The console shows every group a fairness gate saw, those under ``min_group_size`` marked excluded;
the dossier line states the number of files its zip holds."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer

from carnet import Client
from carnet.cli.main import cli


def test_excluded_groups_and_the_dossier_count(tmp_path: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame["site"] = np.where(frame.index % 2 == 0, "north", "south")
    frame.loc[frame.index[:12], "site"] = "island"  # a group of 12 rows
    data = tmp_path / "cancer.csv"
    frame.to_csv(data, index=False)
    ws = str(tmp_path / "ws")
    with Client(ws) as c:
        c.add_dataset(data, "cancer")
        run = c.train({"dataset": "cancer@1", "task": "binary", "target": "target",
                       "model": {"name": "logistic_regression"}}).run_id  # fmt: skip
        c.register_model(run, "clf")
        c.set_policy(
            {"name": "fair", "evaluation_data": "cancer@1", "gates": [
                {"type": "fairness", "sensitive": ["site"], "min_group_size": 30,
                 "max_demographic_parity_difference": 1.0}]},
            model="clf",
        )  # fmt: skip
    runner = CliRunner()
    out = runner.invoke(cli, ["--uri", ws, "models", "promote", "clf/1", "--dry-run"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    island = next(line for line in out.output.splitlines() if "island" in line)
    assert "12" in island and "excluded: under 30 rows" in island
    assert any("north" in line and "yes" in line for line in out.output.splitlines())

    zpath = tmp_path / "dossier.zip"
    written = runner.invoke(cli, ["--uri", ws, "models", "dossier", "clf/1", "-o", str(zpath)])
    assert written.exit_code == 0, written.output
    stated = int(re.search(r": (\d+) files", written.output).group(1))  # type: ignore[union-attr]
    with zipfile.ZipFile(zpath) as zf:
        assert stated == len(zf.namelist())
