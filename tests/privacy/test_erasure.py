"""Erasure on request: the rows leave every current version, the old versions are superseded and
(on request) purged from the store, models trained on them are named, and the ledger still
verifies; the ``--where`` condition is parsed, never evaluated as code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from carnet.errors import InvalidInput, NotFound
from carnet.privacy.erasure import parse_where


def _customers(rows: int = 60, start: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    ids = np.arange(start, start + rows)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "email": [f"c{i}@example.org" for i in ids],
            "tenure": rng.integers(1, 60, rows),
            "spend": rng.normal(50, 10, rows).round(2),
            "churn": (rng.random(rows) > 0.6).astype(int),
        }
    )


def _train(client: Any, ref: str) -> str:
    spec = {
        "dataset": ref,
        "task": "binary",
        "target": "churn",
        "features": ["tenure", "spend"],
        "model": {"name": "logistic_regression", "params": {"max_iter": 200}},
        "seed": 0,
    }
    return str(client.train(spec).run_id)


# -- the condition ----------------------------------------------------------------------------------


def test_the_condition_selects_rows_in_the_columns_types() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [1001, 1002, 1003, None],
            "code": ["1001", "x", "1003", None],
            "email": ["a@x.org", "b@x.org", None, "d@x.org"],
            "first name": ["Ann", "Bob", "Cy", "Di"],
            "age": [10, 20, 30, 40],
        }
    )
    cases = {
        'customer_id in (1001, "1003")': [True, False, True, False],  # an id written as text
        "code == 1001": [True, False, False, False],  # a number matches the text column
        'email == "b@x.org" or age > 35': [False, True, False, True],
        '`first name` == "Cy"': [False, False, True, False],
        "not (age < 25)": [False, False, True, True],
        "customer_id == None": [False, False, False, True],
        "10 < age <= 30": [False, True, True, False],
        "35 < age": [False, False, False, True],
        "email not in ['a@x.org']": [False, True, True, True],
    }
    for text, expected in cases.items():
        assert parse_where(text).mask(frame).tolist() == expected, text
    predicate = parse_where('`first name` == "Cy" and age > 1')
    assert predicate.columns == ("first name", "age") and len(predicate.digest) == 64
    with pytest.raises(InvalidInput, match="no column 'ghost'"):
        parse_where("ghost == 1").mask(frame)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "(lambda: 1)() == 1",
        "age.__class__ == 1",
        "age[0] == 1",
        "age == (1 if True else 2)",
        "age == f'{age}'",
        "age == 1 + 1",
        "age",
        "customer_id = 5",
        "age in age",
        "1 in age",
        "age == [1, 2]",
        "age in (1, [2])",
        "age is None",
        "",
        "(" * 500 + "age == 1" + ")" * 500,
    ],
)
def test_anything_but_a_comparison_of_columns_with_values_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_where(text)
    assert err.value.field == "where"
    assert not Path("/tmp/pwned").exists()


# -- the whole erasure ------------------------------------------------------------------------------


@pytest.mark.served
def test_erasure_supersedes_purges_names_models_and_keeps_the_ledger_valid(
    client: Any, services: Any, tmp_path: Path
) -> None:
    first = _customers()
    client.log_dataframe(first, "customers")
    client.log_dataframe(pd.concat([first, _customers(20, start=2000)]), "customers")
    run = _train(client, "customers@2")
    model = client.register_model(run, "churn")
    where = "customer_id in (1005, 2003) or email == 'c1007@example.org'"

    preview = client.erase_dataset("customers", where, reason="DSR-1", dry_run=True)
    assert preview["erasure"] is None and preview["rows_removed"] == 2 + 3
    assert [(v["version"], v["rows_removed"]) for v in preview["versions"]] == [(1, 2), (2, 3)]
    assert [(m["model"], m["version"]) for m in preview["models"]] == [("churn", model.version)]
    assert len(client.dataset_versions("customers")) == 2  # a dry run changes nothing

    done = client.erase_dataset("customers", where, reason="DSR-1", purge=True)
    assert done["erasure"] == 1 and [v["superseded_by"] for v in done["versions"]] == [3, 4]
    assert [p["version"] for p in done["purged"]] == [1, 2] and all(
        p["content_deleted"] for p in done["purged"]
    )
    versions = {v.version: v for v in client.dataset_versions("customers")}
    assert str(versions[1].superseded_by) == "customers@3" and versions[1].purged and versions[1].erasure == 1
    assert (
        versions[3].num_rows == 58 and versions[4].num_rows == 77 and str(versions[4].parent) == "customers@2"
    )
    assert not services.ctx.artifacts.exists(versions[2].digest)  # the old content is gone
    kept = services.datasets.load_frame("customers@4")[1]
    assert not kept["customer_id"].isin([1005, 2003, 1007]).any() and len(kept) == 77
    with pytest.raises(NotFound, match="purged after erasure #1; use customers@4"):
        client.download_dataset("customers@2", tmp_path / "out.csv")
    with pytest.raises((NotFound, InvalidInput)):
        _train(client, "customers@2")  # nobody trains on erased rows again

    [record] = client.dataset_erasures("customers")
    assert (
        record["reason"] == "DSR-1"
        and record["rows_removed"] == 5
        and record["columns"] == ["customer_id", "email"]
    )
    assert "1005" not in json.dumps(record) and "c1007" not in json.dumps(
        record
    )  # only a digest of the condition
    events = [e for e in client.audit_log(subject_type="dataset") if e.action.startswith("dataset.")]
    actions = [e.action for e in events]
    assert actions.count("dataset.erase") == 1 and actions.count("dataset.purge") == 1
    erase = next(e for e in events if e.action == "dataset.erase")
    assert erase.payload["models"][0]["model"] == "churn" and "c1007" not in json.dumps(erase.payload)
    assert client.verify_audit().ok and client.verify_audit(deep=True).ok

    card = client.model_card("churn", model.version)
    assert "erased on request" in card and "customers@2" in card
    again = client.erase_dataset("customers", where, reason="DSR-1 repeated")
    assert again["erasure"] is None and again["rows_removed"] == 0  # nothing left to erase
    assert client.purge_dataset("customers", reason="again")["purged"] == []


@pytest.mark.served
def test_only_superseded_versions_are_purged_and_shared_content_stays(client: Any, services: Any) -> None:
    frame = _customers(30)
    client.log_dataframe(frame, "customers")
    client.log_dataframe(frame, "copy")  # the same bytes under another name
    with pytest.raises(InvalidInput, match="customers@1 is current"):
        client.purge_dataset("customers", [1], reason="x")
    with pytest.raises(InvalidInput) as no_column:
        client.erase_dataset("customers", "ssn == '1'", reason="x")
    assert no_column.value.field == "where"
    client.erase_dataset("customers", "customer_id == 1001", reason="DSR-2")
    result = client.purge_dataset("customers", [1], reason="DSR-2")
    assert result["purged"][0]["content_deleted"] is False  # customers@1's bytes are copy@1's too
    assert services.datasets.load_frame("copy@1")[1].equals(services.datasets.load_frame("copy@1")[1])
    with pytest.raises(NotFound, match="purged"):
        services.datasets.load_frame("customers@1")


def test_a_purge_cut_short_is_finished_by_running_it_again(tmp_path: Path) -> None:
    ws = Client(str(tmp_path / "ws"))
    ws.log_dataframe(_customers(30), "customers")
    ws.erase_dataset("customers", "customer_id == 1002", reason="DSR-3")
    old = ws.get_dataset("customers@1")
    assert ws.services.ctx.artifacts.delete(old.digest)  # the store was emptied, then the process died
    assert not ws.get_dataset("customers@1").purged
    done = ws.purge_dataset("customers", reason="DSR-3")
    assert done["purged"][0]["version"] == 1 and done["purged"][0]["was_stored"] is False
    assert ws.get_dataset("customers@1").purged and ws.verify_audit().ok


def test_re_adding_erased_content_makes_a_new_version_and_tampering_is_caught(tmp_path: Path) -> None:
    ws = Client(str(tmp_path / "ws"))
    frame = _customers(30)
    ws.log_dataframe(frame, "customers")
    ws.erase_dataset("customers", "customer_id == 1002", reason="DSR-4")
    back, created = ws.log_dataframe(frame, "customers")  # someone loads the old extract again
    assert created and back.version == 3 and back.superseded_by is None
    from sqlalchemy import update

    from carnet.store.sql import tables as t

    with ws.services.ctx.store.transaction() as tx:  # undo the erasure behind carnet's back
        tx.datasets.conn.execute(update(t.dataset_versions).values(superseded_by=None, erasure_id=None))
    verification = ws.verify_audit(deep=True)
    assert not verification.ok and any(m.table == "dataset_versions" for m in verification.state)


def test_cli_erase_purge_and_erasures(tmp_path: Path) -> None:
    ws_path = str(tmp_path / "ws")
    ws = Client(ws_path)
    ws.log_dataframe(_customers(30), "customers")
    ws.close()
    runner = CliRunner()
    base = ["--uri", ws_path, "data"]
    dry = runner.invoke(cli, [*base, "erase", "customers", "--where", "customer_id == 1003", "--reason", "R",
                              "--dry-run"])  # fmt: skip
    assert dry.exit_code == 0 and "would be erased" in dry.output and "1 row(s)" in dry.output
    bad = runner.invoke(cli, [*base, "erase", "customers", "--where", "customer_id = 1003", "--reason", "R"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "use == for equality" in bad.output
    done = runner.invoke(cli, [*base, "erase", "customers", "--where", "customer_id == 1003", "--reason", "R",
                               "--json"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["versions"][0]["superseded_by"] == 2
    purge = runner.invoke(cli, [*base, "purge", "customers", "--version", "1", "--reason", "R"])
    assert purge.exit_code == 0 and "purged customers@1" in purge.output
    listed = runner.invoke(cli, [*base, "erasures", "customers", "--json"])
    assert json.loads(listed.output)[0]["versions"][0]["purged"] is True
    shown = runner.invoke(cli, [*base, "erasures", "customers"])
    assert "v1->v2 purged" in shown.output
    gone = runner.invoke(cli, [*base, "get", "customers@1", "--out", str(tmp_path / "x.csv")])
    assert gone.exit_code == 2 and "purged" in gone.output
    for verb in ("erase", "purge", "erasures"):
        helped = runner.invoke(cli, [*base, verb, "--help"])
        assert "Example:" in helped.output and "--json" in helped.output


def test_a_measure_reads_only_the_columns_it_needs(tmp_path: Path) -> None:
    ws = Client(str(tmp_path / "ws"))
    ws.log_dataframe(_customers(30), "customers")  # stored as Parquet: columns are read alone
    _, frame = ws.services.datasets.load_frame("customers@1", columns=["tenure", "churn", "tenure"])
    assert list(frame.columns) == ["tenure", "churn"] and len(frame) == 30
    with pytest.raises(InvalidInput, match="no column 'ghost'") as err:
        ws.services.datasets.load_frame("customers@1", columns=["ghost"])
    assert err.value.field == "columns"
    risk = ws.dataset_risk("customers@1", ["tenure"], "churn")
    assert risk["rows"] == 30 and risk["k"] >= 1
    with pytest.raises(InvalidInput, match="ghost"):
        ws.dataset_risk("customers@1", ["ghost"])
