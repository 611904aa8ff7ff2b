"""``carnet drift`` says which test decided each column's verdict, with both numbers and both
thresholds: a distance over its threshold that the significance check does not confirm is not
drift, and the table shows why."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer

from carnet.cli.main import cli


def test_the_table_json_and_report_say_what_decided(tmp_path: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    frame.head(300).to_csv(a, index=False)
    frame.tail(269).to_csv(b, index=False)
    ws = str(tmp_path / "ws")
    report = tmp_path / "drift.html"
    runner = CliRunner()
    runner.invoke(cli, ["--uri", ws, "init"])
    out = json.loads(
        runner.invoke(cli, ["--uri", ws, "drift", str(a), str(b), "-o", str(report), "--json"]).output
    )
    columns = {c["column"]: c for c in out["columns"]}
    vetoed = [
        c for c in columns.values()
        if c["statistic"] >= c["statistic_threshold"] and c["p_value"] >= c["p_threshold"]
    ]  # fmt: skip
    assert vetoed, "the data should hold a distance over its threshold that is not significant"
    for c in vetoed:
        assert c["drifted"] is False and c["decided_by"] == "p-value"
    for c in columns.values():
        if c["drifted"]:
            assert c["decided_by"] == "both"
        elif c["statistic"] < c["statistic_threshold"]:
            assert c["decided_by"] == "statistic"
    ks = json.loads(
        runner.invoke(
            cli, ["--uri", ws, "drift", str(a), str(b), "--method", "mean radius=ks", "--json"]
        ).output
    )
    radius = next(c for c in ks["columns"] if c["column"] == "mean radius")
    assert (
        radius["decided_by"] == "p-value"
        and radius["statistic_threshold"] is None
        and radius["p_threshold"] == 0.05
    )
    result = runner.invoke(cli, ["--uri", ws, "drift", str(a), str(b)], env={"COLUMNS": "200"})
    line = next(line for line in result.output.splitlines() if line.startswith("│ " + vetoed[0]["column"]))
    assert ">=" in line and "p-value" in line and line.rstrip("│ ").endswith("no")
    page = report.read_text()
    assert "Decided by" in page and "p-value level" in page
