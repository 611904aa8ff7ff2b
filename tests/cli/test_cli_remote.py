"""The tracking, dataset and audit commands with ``CARNET_URI`` naming a live carnet server: the same
``--json`` output as the same commands on a local workspace holding the same records, exit code 2 and
one line for a user mistake, and a clear refusal of the commands that need a local workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from carnet import Client
from carnet.domain import Metric
from conftest import Workspace, serve_workspace

#: values that differ between two workspaces holding the same records: when, and hash chain links
TIME_KEYS = frozenset({"start_time", "end_time", "duration", "created_at", "time", "timestamp"})
HASH_KEYS = frozenset({"hash", "prev_hash", "payload_digest"})


@dataclass
class Side:
    """One workspace as the CLI reaches it: ``env`` names it, ``ids`` maps run names to run ids."""

    kind: str
    env: dict[str, str]
    ids: dict[str, str]
    out: Path

    def invoke(self, *args: str) -> Result:
        """Run ``carnet ARGS`` against this workspace."""
        from carnet.cli.main import cli

        return CliRunner().invoke(cli, list(args), env=self.env)

    def json(self, *args: str) -> Any:
        """The ``--json`` output of a command that succeeds, with ids, times and paths made neutral."""
        result = self.invoke(*args, "--json")
        assert result.exit_code == 0, f"{self.kind}: {result.output}"
        return self.neutral(json.loads(result.stdout))

    def neutral(self, value: Any) -> Any:
        """``value`` with this side's run ids as run names, times and chain hashes as placeholders."""
        if isinstance(value, dict):
            return {
                k: "<time>"
                if k in TIME_KEYS and v is not None
                else "<hash>"
                if k in HASH_KEYS
                else self.neutral(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.neutral(v) for v in value]
        if isinstance(value, str):
            for name, run_id in self.ids.items():
                value = value.replace(run_id, f"<{name}>")
            return value.replace(str(self.out), "<out>")
        return value


def populate(c: Any, files: Path) -> dict[str, str]:
    """The same records in any workspace: a sweep with two trials, a dataset with two versions."""
    c.create_project("demo", "the CLI over HTTP")
    sweep = c.create_run("demo", "sweep", params={"grid": "lr"}, tags={"team": "ml"})
    ids = {"sweep": sweep.id}
    for i, lr in enumerate((0.1, 0.01), start=1):
        run = c.create_run("demo", f"trial-{i}", parent_id=sweep.id, params={"lr": lr, "depth": 3})
        c.log_batch(run.id, [Metric("auc", 0.8 + i / 100 + s / 1000, s, 100.0 + s) for s in range(3)])
        c.set_tags(run.id, {"trial": i})
        ids[f"trial-{i}"] = run.id
    c.log_artifact(ids["trial-1"], files / "notes.txt", "docs/")
    c.add_dataset(files / "iris.csv", "iris", project="demo", description="first")
    c.add_dataset(files / "iris2.csv", "iris", project="demo", parent="iris@1")
    c.log_inputs(ids["trial-1"], ["iris@1"])
    c.end_run(ids["trial-1"])
    c.end_run(ids["trial-2"], "failed", error="diverged")
    ids["loose"] = c.create_run("other", "loose").id
    return ids


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[Side, Side]]:
    """A local workspace and a live server over another one, both holding :func:`populate`'s records."""
    files = tmp_path / "files"
    files.mkdir()
    (files / "notes.txt").write_text("what was tried\n")
    (files / "iris.csv").write_text("a,b,label\n1,2.5,x\n3,4.5,y\n5,6.5,x\n")
    (files / "iris2.csv").write_text("a,label,c\n1,x,0.5\n9,z,0.5\n")
    local_uri = str(tmp_path / "local")
    with Client(local_uri) as c:
        local_ids = populate(c, files)
    # authentication off: both ledgers then hold the same events (no user or token records)
    served_ws = Workspace(str(tmp_path / "served"), None, "sqlite", tmp_path)
    with serve_workspace(served_ws, auth=False) as served:
        with served.client() as c:
            remote_ids = populate(c, files)
        yield (
            Side("local", {"CARNET_URI": local_uri}, local_ids, tmp_path / "out-local"),
            Side(
                "remote",
                {"CARNET_URI": served.uri},
                remote_ids,
                tmp_path / "out-remote",
            ),
        )


def both(sides: tuple[Side, Side], *args: str) -> Any:
    """The neutral ``--json`` output of ``carnet ARGS`` (``{sweep}`` etc. name runs), the same on both."""
    local, remote = (side.json(*(a.format(out=side.out, **side.ids) for a in args)) for side in sides)
    assert remote == local
    return remote


# -- the same output -------------------------------------------------------------------------------


def test_projects_and_runs_list_the_same(sides: tuple[Side, Side]) -> None:
    projects = both(sides, "projects", "list")
    assert [(p["name"], p["runs"], p["description"]) for p in projects] == [
        ("demo", 3, "the CLI over HTTP"),
        ("other", 1, ""),
    ]
    listed = both(sides, "runs", "list", "-p", "demo", "-f", "metrics.auc > 0.8", "-o", "metrics.auc desc")
    assert [r["name"] for r in listed["runs"]] == ["trial-2", "trial-1"]
    assert listed["runs"][1]["params"] == {"lr": "0.1", "depth": "3"}
    # a page token holds the position of the last run shown (its start time and id): each side
    # pages with its own token, and both show the same pages
    firsts = [side.json("runs", "list", "-n", "2") for side in sides]
    assert firsts[0]["runs"] == firsts[1]["runs"] and len(firsts[0]["runs"]) == 2
    assert all(f["next_page_token"] for f in firsts)
    seconds = [
        side.json("runs", "list", "-n", "2", "--page-token", f["next_page_token"])
        for side, f in zip(sides, firsts, strict=True)
    ]
    assert seconds[0] == seconds[1] and len(seconds[0]["runs"]) == 2
    assert {r["name"] for r in firsts[0]["runs"]}.isdisjoint(r["name"] for r in seconds[0]["runs"])


def test_runs_show_and_compare_the_same(sides: tuple[Side, Side]) -> None:
    sweep = both(sides, "runs", "show", "{sweep}")
    assert sweep["children"] == ["<trial-1>", "<trial-2>"] and sweep["tags"] == {"team": "ml"}
    trial = both(sides, "runs", "show", "{trial-1}")
    assert trial["parent_id"] == "<sweep>" and trial["status"] == "finished"
    assert [a["path"] for a in trial["artifacts"]] == ["docs/notes.txt"]
    assert [(i["dataset"], i["version"], i["context"]) for i in trial["inputs"]] == [("iris", 1, "training")]
    assert trial["metrics"] == {"auc": pytest.approx(0.812)}
    failed = both(sides, "runs", "show", "{trial-2}")
    assert (failed["status"], failed["error"]) == ("failed", "diverged")
    compared = both(sides, "runs", "compare", "{trial-1}", "{trial-2}", "--only-diff")
    assert {(r["kind"], r["key"]) for r in compared["rows"]} == {("params", "lr"), ("metrics", "auc")}


def test_runs_delete_and_restore_the_same(sides: tuple[Side, Side]) -> None:
    assert both(sides, "runs", "delete", "{trial-2}") == {"deleted": ["<trial-2>"]}
    assert [r["name"] for r in both(sides, "runs", "list", "-p", "demo")["runs"]] == ["trial-1", "sweep"]
    assert len(both(sides, "runs", "list", "-p", "demo", "--all")["runs"]) == 3
    assert both(sides, "runs", "delete", "{trial-2}", "--restore") == {"restored": ["<trial-2>"]}
    assert len(both(sides, "runs", "list", "-p", "demo")["runs"]) == 3


def test_data_commands_the_same(sides: tuple[Side, Side], tmp_path: Path) -> None:
    listed = both(sides, "data", "list")
    assert [(d["name"], d["version"], d["project"]) for d in listed] == [("iris", 2, "demo")]
    shown = both(sides, "data", "show", "iris")
    assert [v["version"] for v in shown["versions"]] == [1, 2] and shown["parent"] == "iris@1"
    first = both(sides, "data", "show", "iris@1")
    assert [c["name"] for c in first["profile"]] == ["a", "b", "label"] and first["description"] == "first"
    diff = both(sides, "data", "diff", "iris@1", "iris@2")
    assert [c["name"] for c in diff["added"]] == ["c"] and [c["name"] for c in diff["removed"]] == ["b"]
    assert diff["has_changes"] is True

    v3 = tmp_path / "files" / "iris3.csv"
    v3.write_text("a,label,c\n1,x,0.5\n")
    added = both(sides, "data", "add", str(v3), "--name", "iris", "--parent", "iris@2", "-d", "smaller")
    assert (added["version"], added["created"], added["parent"]) == (3, True, "iris@2")
    again = both(sides, "data", "add", str(v3), "--name", "iris")
    assert (again["version"], again["created"]) == (3, False)

    for side in sides:
        side.out.mkdir()
    got = both(sides, "data", "get", "iris@1", "--out", "{out}")  # a folder: NAME-vN.csv inside it
    assert got["path"] == "<out>/iris-v1.csv"
    local, remote = sides
    assert (remote.out / "iris-v1.csv").read_bytes() == (local.out / "iris-v1.csv").read_bytes()


def test_audit_commands_the_same(sides: tuple[Side, Side]) -> None:
    events = both(sides, "audit", "log", "-n", "100")
    assert events[-1]["action"] == "project.create" and events[-1]["seq"] == 1
    assert {e["actor"] for e in events} == {"tester"}
    trial = both(sides, "audit", "log", "--subject", "run:{trial-1}")
    assert [e["action"] for e in trial][::-1][:2] == ["run.create", "run.log_metrics"]
    datasets = both(sides, "audit", "log", "-s", "dataset", "-a", "dataset.add_version")
    assert [e["payload"]["version"] for e in datasets] == [2, 1]
    verified = both(sides, "audit", "verify")
    assert verified["ok"] is True and verified["count"] == len(events)


# -- user mistakes ---------------------------------------------------------------------------------


#: a file the server could not read is named by its file name: the server never sees the client's path
NAMED_BY_FILE_NAME = "empty.csv is empty"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["runs", "show", "nope"], "no run with id 'nope'"),
        (["runs", "show", "{sweep}0"], "no run with id"),
        (["runs", "list", "-f", "metrics.a >"], "position"),
        (["runs", "list", "-o", "bogus.a"], "invalid order_by"),
        (["runs", "list", "-p", "missing"], "no project named 'missing'"),
        (["runs", "delete", "{sweep}", "ffffffff"], "no run with id 'ffffffff'"),
        (["data", "show", "ghost@1"], "no dataset named 'ghost'"),
        (["data", "show", "iris@9"], "has no version 9"),
        (["data", "add", "{files}/nope.csv", "--name", "x"], "does not exist"),
        (["data", "add", "{files}/empty.csv", "--name", "x"], NAMED_BY_FILE_NAME),
        (["data", "add", "{files}/iris.csv", "--name", "bad name!"], "invalid dataset name"),
        (["data", "add", "{files}/iris.csv", "--name", "x", "--parent", "iris@0"], "invalid dataset version"),
        (["data", "diff", "x@0", "x@1"], "invalid dataset version"),
        (["data", "get", "ghost", "--out", "{files}/g.csv"], "no dataset named 'ghost'"),
    ],
)
def test_user_mistakes_exit_2_with_the_same_line(
    sides: tuple[Side, Side], tmp_path: Path, args: list[str], needle: str
) -> None:
    files = tmp_path / "files"
    (files / "empty.csv").write_text("")
    lines = {}
    for side in sides:
        result = side.invoke(*(a.format(files=files, **side.ids) for a in args))
        assert result.exit_code == 2, f"{side.kind}: {result.output}"
        assert result.stdout == ""
        output = [x for x in result.output.splitlines() if x.strip()]
        assert len(output) == 1 and output[0].startswith("error: "), f"{side.kind}: {result.output}"
        lines[side.kind] = side.neutral(output[0])
    if needle == NAMED_BY_FILE_NAME:
        assert lines["local"] == f"error: '{files}/empty.csv' is empty (0 bytes): nothing to scan"
        assert lines["remote"] == "error: empty.csv is empty (0 bytes): nothing to scan"
    else:
        assert needle in lines["local"] and lines["remote"] == lines["local"]


def test_an_audit_query_matching_nothing_is_not_a_mistake(sides: tuple[Side, Side]) -> None:
    assert both(sides, "audit", "log", "--subject", "run:nope", "-a", "no.such") == []


@pytest.mark.parametrize(
    "args",
    [
        ["init"],
        ["init", "--json"],
        ["db", "upgrade"],
        ["serve", "m@production"],
        ["server", "--port", "1"],
        ["quickstart", "--json"],
    ],
)
def test_commands_that_need_a_local_workspace_refuse_a_server(
    sides: tuple[Side, Side], args: list[str]
) -> None:
    _, remote = sides
    result = remote.invoke(*args)
    assert result.exit_code == 2
    command = "carnet " + " ".join(a for a in args if a.isalpha())
    assert result.output == (
        f"error: {command} needs a local workspace, and {remote.env['CARNET_URI']} is a carnet server: "
        "run it where the server runs, on the server's workspace (a folder, sqlite:/// or postgresql URI)\n"
    )


def test_init_with_an_explicit_path_still_makes_a_local_workspace(
    sides: tuple[Side, Side], tmp_path: Path
) -> None:
    _, remote = sides
    made = remote.json("init", str(tmp_path / "fresh"))
    assert made["created"] is True and (tmp_path / "fresh" / "carnet.db").is_file()


def test_the_console_script_talks_to_the_server(sides: tuple[Side, Side]) -> None:
    _, remote = sides
    env = {**os.environ, **remote.env}
    listed = subprocess.run(
        [sys.executable, "-m", "carnet.cli.main", "projects", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert [p["name"] for p in json.loads(listed.stdout)] == ["demo", "other"]
    missing = subprocess.run(
        [sys.executable, "-m", "carnet.cli.main", "runs", "show", "missing"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr == "error: no run with id 'missing'; list runs with: carnet runs list\n"


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    from carnet.server.background import free_port

    side = Side("remote", {"CARNET_URI": f"http://127.0.0.1:{free_port('127.0.0.1')}"}, {}, tmp_path)
    result = side.invoke("runs", "list")
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert line.startswith(f"error: cannot reach the carnet server at {side.env['CARNET_URI']}")
