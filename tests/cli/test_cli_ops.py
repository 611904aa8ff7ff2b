"""``carnet ops``: dashboards and alerting rules written to files, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from carnet.cli.main import cli
from carnet.reports.grafana import dashboards
from carnet.reports.metric_catalogue import METRICS
from carnet.reports.prometheus_rules import RuleOptions, alerting_rules


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_grafana_writes_the_three_dashboards(tmp_path: Path) -> None:
    out = tmp_path / "grafana" / "carnet"
    code, text = invoke("ops", "grafana", "-o", str(out), "--json")
    assert code == 0, text
    written = json.loads(text)["dashboards"]
    assert sorted(Path(w["file"]).name for w in written) == sorted(dashboards())
    for w in written:
        board = json.loads(Path(w["file"]).read_text())
        assert board == dashboards()[Path(w["file"]).name]
        assert w["panels"] == sum(1 for p in board["panels"] if p["type"] != "row") > 5
    code, text = invoke("ops", "grafana", "-o", str(out))  # again: the files are replaced
    assert code == 0 and "carnet / serving" in text


def test_prometheus_rules_are_written_with_the_thresholds_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "rules" / "carnet.yml"
    code, text = invoke("ops", "prometheus-rules", "-o", str(out), "--error-ratio", "0.02", "--p99-seconds",
                        "0.25", "--json")  # fmt: skip
    assert code == 0, text
    assert json.loads(text)["file"] == str(out)
    doc = yaml.safe_load(out.read_text())
    assert doc == alerting_rules(RuleOptions(error_ratio=0.02, p99_seconds=0.25))
    assert "CarnetMonitorAlertsOpen" in json.loads(text)["groups"][1]["alerts"]
    code, text = invoke("ops", "prometheus-rules", "-o", str(out))
    assert code == 0 and "promtool check rules" in text


def test_metrics_lists_the_catalogue() -> None:
    code, text = invoke("ops", "metrics", "--json")
    assert code == 0, text
    assert [m["name"] for m in json.loads(text)] == [m.name for m in METRICS]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["prometheus-rules", "-o", "{tmp}/r.yml", "--error-ratio", "1.5"],
            "--error-ratio must be between 0 and 1",
        ),
        (
            ["prometheus-rules", "-o", "{tmp}/r.yml", "--p99-seconds", "fast"],
            "--p99-seconds must be a number",
        ),
        (["prometheus-rules", "-o", "{tmp}/r.yml", "--overload-ratio", "nan"], "--overload-ratio must be"),
        (["prometheus-rules", "-o", "{tmp}"], "is a folder"),
        (["grafana", "-o", "{tmp}/file.txt"], "is a file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    code, text = invoke("ops", *(a.replace("{tmp}", str(tmp_path)) for a in args))
    lines = [line for line in text.splitlines() if line.strip()]
    assert code == 2, text
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], text
    assert not (tmp_path / "r.yml").exists()
