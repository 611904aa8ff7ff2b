"""One grammar for the command line: model references (NAME/3, NAME@alias, the older NAME 3), run id
prefixes, alias typos answered with a suggestion, and ``-o/--out`` for every output file."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from carnet.cli.main import COMMANDS, cli


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def ws(tmp_path: Path) -> tuple[str, str]:
    from sklearn.datasets import load_breast_cancer

    ws = str(tmp_path / "ws")
    data = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    invoke("--uri", ws, "data", "add", str(data), "--name", "cancer")
    spec = tmp_path / "spec.yaml"
    spec.write_text("dataset: cancer@1\ntask: binary\ntarget: target\nmodel: {name: logistic_regression}\n")
    run = json.loads(invoke("--uri", ws, "train", str(spec), "--json"))["run_id"]
    return ws, run


def test_model_references_everywhere(ws: tuple[str, str], tmp_path: Path) -> None:
    uri, run = ws
    registered = json.loads(invoke("--uri", uri, "models", "register", run[:8], "--name", "cancer", "--json"))
    assert registered["run_id"] == run  # a unique prefix names the run
    invoke("--uri", uri, "models", "register", run, "--name", "cancer")
    invoke("--uri", uri, "models", "alias", "cancer", "staging", "2")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "name: p\naliases: [production]\nevaluation_data: cancer@1\ngates:\n  - {metric: roc_auc >= 0.5}\n"
    )
    invoke("--uri", uri, "models", "policy", "set", str(policy), "--model", "cancer")

    assert "approved cancer/2 for production" in invoke("--uri", uri, "models", "approve", "cancer@staging")
    assert "approved cancer/1 for production" in invoke("--uri", uri, "models", "approve", "cancer", "1")
    out = json.loads(invoke("--uri", uri, "models", "promote", "cancer/1", "--dry-run", "--json"))
    assert out["version"] == 1
    out = json.loads(invoke("--uri", uri, "models", "promote", "cancer@staging", "--json"))
    assert out["version"] == 2 and out["applied"] is True
    card = json.loads(invoke("--uri", uri, "models", "card", "cancer@production", "--json"))
    assert card["version"] == 2
    assert json.loads(invoke("--uri", uri, "models", "card", "cancer/1", "--json"))["version"] == 1
    zpath = tmp_path / "d.zip"
    manifest = json.loads(
        invoke("--uri", uri, "models", "dossier", "cancer@production", "-o", str(zpath), "--json")
    )
    assert manifest["model"] == "cancer/2" and zipfile.is_zipfile(zpath)

    # the version given twice, or not at all where one is needed: one line, exit 2
    both = CliRunner().invoke(cli, ["--uri", uri, "models", "promote", "cancer/1", "2"])
    assert both.exit_code == 2 and "not both" in both.output
    none = CliRunner().invoke(cli, ["--uri", uri, "models", "promote", "cancer"])
    assert none.exit_code == 2 and "cancer/VERSION or cancer@ALIAS" in none.output


def test_an_alias_typo_gets_a_suggestion(ws: tuple[str, str]) -> None:
    uri, run = ws
    invoke("--uri", uri, "models", "register", run, "--name", "cancer")
    invoke("--uri", uri, "models", "alias", "cancer", "production", "1")
    for args in (
        ["models", "show", "cancer@prodution"],
        ["models", "card", "cancer@prodution"],
        ["models", "promote", "cancer@prodution"],
        ["models", "alias", "cancer", "prodution", "--delete"],
        ["models", "rollback", "cancer", "--alias", "prodution", "--reason", "x"],
    ):
        result = CliRunner().invoke(cli, ["--uri", uri, *args])
        assert result.exit_code == 2, (args, result.output)
        assert "did you mean 'production'?" in result.output, args
        assert "set one with" not in result.output
    from carnet import Client
    from carnet.errors import NotFound

    with Client(uri) as client, pytest.raises(NotFound, match="did you mean 'production'"):
        client.get_model_version("cancer@prodution")


def _commands(
    group: click.Group, ctx: click.Context, prefix: str = ""
) -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, ctx, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_every_output_file_option_is_dash_o_out() -> None:
    ctx = click.Context(cli)
    seen = []
    for path, cmd in _commands(cli, ctx):
        for param in cmd.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            if param.name in ("out", "output", "report") or {"--output", "--report"} & set(param.opts):
                assert sorted(param.opts) == ["--out", "-o"], (path, param.opts)
                seen.append(path)
    assert {"models card", "models dossier", "models export", "drift", "monitor report", "data get"} <= set(
        seen
    )
    assert "drift" in COMMANDS


def test_older_output_spellings_still_work(ws: tuple[str, str], tmp_path: Path) -> None:
    uri, run = ws
    invoke("--uri", uri, "models", "register", run, "--name", "cancer")
    legacy = tmp_path / "legacy.md"
    invoke("--uri", uri, "models", "card", "cancer", "1", "--out", str(legacy))
    assert legacy.read_text().startswith("#")
    report = tmp_path / "drift.html"
    invoke("--uri", uri, "drift", "cancer@1", "cancer@1", "--report", str(report))
    assert "<html" in report.read_text().lower()
    assert "--report" not in invoke("drift", "--help")
    missing = CliRunner().invoke(cli, ["--uri", uri, "models", "dossier", "cancer/1"])
    assert missing.exit_code == 2 and "Missing option '-o' / '--out'" in missing.output


def test_tags_take_a_version_reference(ws: tuple[str, str]) -> None:
    uri, run = ws
    invoke("--uri", uri, "models", "register", run, "--name", "cancer")
    invoke("--uri", uri, "models", "alias", "cancer", "production", "1")
    out = json.loads(invoke("--uri", uri, "models", "tag", "cancer@production", "checked=yes", "--json"))
    assert out == {"name": "cancer", "version": 1, "tags": {"checked": "yes"}}
    shown = json.loads(invoke("--uri", uri, "models", "show", "cancer/1", "--json"))
    assert shown["tags"]["checked"] == "yes"
