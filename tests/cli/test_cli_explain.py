"""``carnet explain`` and ``Client.explain`` (local and through a server) on a trained tree model: SHAP
attributions add up to the prediction, LIME gives one weight per column, a missing library is named
with its install command (and what ran instead, unless the method was asked for)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from carnet.errors import InvalidInput
from conftest import Workspace, serve_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_breast_cancer

    root = tmp_path_factory.mktemp("explain")
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [*range(8), -1]]  # 8 columns + target
    frame["site"] = np.where(frame.index % 3 == 0, "north", "south")  # a categorical column too
    frame.to_csv(root / "cancer.csv", index=False)
    with Client(str(root / "ws")) as c:
        c.add_dataset(root / "cancer.csv", "cancer")
        spec = {"dataset": "cancer@1", "task": "binary", "target": "target", "seed": 0,
                "model": {"name": "random_forest", "params": {"n_estimators": 30}}}  # fmt: skip
        run = c.train(spec).run_id
        c.register_model(run, "clf")
        c.set_model_alias("clf", "production", 1)
    return root


def carnet(root: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--uri", str(root / "ws"), *args])
    assert result.exit_code == code, result.output
    return result.output


def test_shap_attributions_add_up_to_the_prediction(ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "ex"
    result = json.loads(
        carnet(ws, "explain", "clf@production", "cancer@1", "--rows", "0,3-5", "-o", str(out), "--json")
    )
    assert result["method"] == "shap" and result["output"] == "P(class = 1)"
    assert [r["row"] for r in result["rows"]] == [0, 3, 4, 5]
    with Client(str(ws / "ws")) as c:
        model = c.load_model("clf/1")
        X = c.services.datasets.load_frame("cancer@1")[1].drop(columns=["target"]).iloc[[0, 3, 4, 5]]
    proba = model.predict_proba(X)[:, 1]
    for row, p in zip(result["rows"], proba, strict=True):
        assert row["prediction"] == pytest.approx(p)
        assert row["base_value"] + sum(row["attributions"].values()) == pytest.approx(p, abs=1e-6)
        assert set(row["attributions"]) == set(X.columns)
    assert [g["mean_abs"] for g in result["global"]] == sorted(
        (g["mean_abs"] for g in result["global"]), reverse=True
    )
    assert (out / "report.html").read_text().count("<img") == 5  # the summary and four rows
    assert json.loads((out / "explanation.json").read_text())["run_id"] == result["run_id"]
    shown = json.loads(carnet(ws, "runs", "show", result["run_id"], "--json"))
    assert shown["tags"]["kind"] == "explanation" and shown["inputs"][0]["dataset"] == "cancer"
    text = carnet(ws, "explain", "clf/1", "cancer@1", "--rows", "1")
    assert "global summary" in text and "report: carnet runs open" in text


def test_lime_gives_one_weight_per_column(ws: Path) -> None:
    result = json.loads(
        carnet(ws, "explain", "clf/1", "cancer@1", "--rows", "0-1", "--method", "lime", "--json")
    )
    assert result["method"] == "lime" and result.get("note") is None
    for row in result["rows"]:
        assert len(row["attributions"]) == 9 and 0 <= row["prediction"] <= 1
        assert any(v != 0 for v in row["attributions"].values())


def test_a_missing_library_is_named_with_its_install_command(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "shap", None)  # a third-party library made unimportable
    out = carnet(ws, "explain", "clf/1", "cancer@1", "--rows", "0")
    assert (
        "shap is not installed" in out
        and 'pip install "carnet[explain]"' in out
        and "lime ran instead" in out
    )
    asked = carnet(ws, "explain", "clf/1", "cancer@1", "--method", "shap", code=2)
    assert asked.startswith("error: method shap needs the shap library") and len(asked.splitlines()) == 1
    monkeypatch.setitem(sys.modules, "lime", None)
    asked = carnet(ws, "explain", "clf/1", "cancer@1", "--method", "lime", "--json", code=2)
    assert 'pip install "carnet[explain]"' in asked and "Traceback" not in asked
    result = json.loads(carnet(ws, "explain", "clf/1", "cancer@1", "--rows", "0-20", "--json"))
    assert result["method"] == "permutation" and result["rows"] == [] and result["global"]
    bad = CliRunner().invoke(cli, ["--uri", str(ws / "ws"), "explain", "clf/1", "cancer@1", "--rows", "9999"])
    assert bad.exit_code == 2 and "past the last row" in bad.output


@pytest.fixture
def remote(ws: Path) -> Iterator[str]:
    with serve_workspace(Workspace(str(ws / "ws"), None, "sqlite", ws), auth=False) as served:
        yield served.uri


def test_remote_explain_matches_local(ws: Path, remote: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(str(ws / "ws")) as local, Client(remote) as far:
        a = local.explain("clf/1", "cancer@1", rows="2")
        b = far.explain("clf/1", "cancer@1", rows="2")
        assert a["rows"][0]["attributions"] == pytest.approx(b["rows"][0]["attributions"])
        assert a["run_id"] != b["run_id"] and a["method"] == b["method"] == "shap"
        assert far.get_run(b["run_id"]).tags["kind"] == "explanation"
        monkeypatch.setitem(sys.modules, "lime", None)  # unimportable in the server's thread too
        with pytest.raises(InvalidInput, match="lime needs the lime library") as err:
            far.explain("clf/1", "cancer@1", rows="2", method="lime")
        assert err.value.field == "method"
