"""``carnet stress`` and ``Client.stress``: the stress gate's scenarios on their own, locally and
through a server; bad scenarios are one-line errors; nothing is changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from conftest import Workspace, serve_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_breast_cancer

    root = tmp_path_factory.mktemp("stress")
    load_breast_cancer(as_frame=True).frame.to_csv(root / "cancer.csv", index=False)
    with Client(str(root / "ws")) as c:
        c.add_dataset(root / "cancer.csv", "cancer")
        run = c.train({"dataset": "cancer@1", "task": "binary", "target": "target", "seed": 0}).run_id
        c.register_model(run, "clf")
    return root


def carnet(root: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--uri", str(root / "ws"), *args])
    assert result.exit_code == code, result.output
    return result.output


def test_default_scenarios_table_json_and_report(ws: Path, tmp_path: Path) -> None:
    with Client(str(ws / "ws")) as c:
        events = c.verify_audit().count
    report = tmp_path / "stress.html"
    result = json.loads(carnet(ws, "stress", "clf/1", "cancer@1", "-o", str(report), "--json"))
    assert result["metric"] == "roc_auc" and 0.9 < result["base"] <= 1
    names = [s["name"] for s in result["scenarios"]]
    assert names == ["gaussian_noise", "missing_values", "out_of_range"]  # no categorical column
    for s in result["scenarios"]:
        assert (
            s["rows"] == 569
            and s["value"] is not None
            and s["passed"] == (s["degradation"] <= s["max_degradation"])
        )
    assert result["passed"] == all(s["passed"] for s in result["scenarios"])
    page = report.read_text()
    assert page.lower().startswith("<!doctype html>") and "out_of_range" in page and "<img" in page
    table = carnet(ws, "stress", "clf/1", "cancer@1")
    assert "scenarios within limits" in table
    lines = table.splitlines()
    header = next(line for line in lines if "scenario" in line and "verdict" in line)
    assert header.replace("┃", " ").split() == [
        "scenario", "metric", "baseline", "stressed", "change", "limit", "verdict"
    ]  # fmt: skip
    for s in result["scenarios"]:  # relative limits: the change in percent of the baseline
        line = next(line for line in lines if s["name"] in line).replace("│", " ").split()
        change = 100 * (s["value"] - result["base"]) / result["base"]
        verdict = "pass" if s["passed"] else "FAIL"
        assert line == [
            s["name"], "roc_auc", f"{result['base']:.4g}", f"{s['value']:.4g}", f"{change:+.2f}%",
            f"{-100 * s['max_degradation']:+g}%", verdict,
        ]  # fmt: skip
    with Client(str(ws / "ws")) as c:
        assert c.verify_audit().count == events  # a stress run changes nothing


def test_given_scenarios_a_file_and_fail(ws: Path, tmp_path: Path) -> None:
    strict = "{type: missing_values, fraction: 0.9, max_degradation: 0.0001, name: mostly-missing}"
    result = json.loads(carnet(ws, "stress", "clf/1", "cancer@1", "--scenario", strict, "--json"))
    assert [s["name"] for s in result["scenarios"]] == ["mostly-missing"]
    assert result["scenarios"][0]["passed"] is False and result["passed"] is False
    carnet(ws, "stress", "clf/1", "cancer@1", "--scenario", strict, "--fail", code=1)
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "scenarios:\n"
        "  - {type: subpopulation, column: 'mean radius', quantile: [0, 0.5], max_degradation: 1}\n"
    )
    only = json.loads(carnet(ws, "stress", "clf/1", "cancer@1", "--scenarios", str(spec), "--json"))
    assert only["scenarios"][0]["type"] == "subpopulation" and only["scenarios"][0]["rows"] < 569


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("{type: gaussian_noise, scale: -1, max_degradation: 0.1}", "scenarios[0].scale"),
        ("{type: nonsense, max_degradation: 0.1}", "nonsense"),
        ("[not, a, mapping]", "not a mapping"),
        ("{type: [", "not YAML"),
    ],
)
def test_a_bad_scenario_is_one_line_and_exit_2(ws: Path, scenario: str, message: str) -> None:
    result = CliRunner().invoke(
        cli, ["--uri", str(ws / "ws"), "stress", "clf/1", "cancer@1", "--scenario", scenario]
    )
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_remote_stress_matches_local(ws: Path) -> None:
    local = Workspace(str(ws / "ws"), None, "sqlite", ws)
    with serve_workspace(local, auth=False) as served, Client(served.uri) as far, Client(local.uri) as near:
        a, b = near.stress("clf/1", "cancer@1"), far.stress("clf/1", "cancer@1")
    assert [s["value"] for s in a["scenarios"]] == pytest.approx([s["value"] for s in b["scenarios"]])
