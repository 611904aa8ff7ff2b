"""De-identification: every method on a table, keys read from outside the workspace, a new version
derived from the source with its config stored by digest, and the same call through a server."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from carnet.errors import InvalidInput
from carnet.privacy.deidentify import apply_deidentification, parse_config, read_key, reverse_fpe

KEY = "0123456789abcdef-test-key"
CONFIG = """
key: env:CARNET_DEID_KEY
columns:
  nir: drop
  phone: {method: mask, keep_last: 2}
  email: pseudonymize
  card: encrypt_fpe
  age: {method: generalize, bins: [0, 18, 30, 50, 70, 120]}
  birth: {method: generalize, truncate: year}
  zip: {method: generalize, prefix: 2}
  visit: {method: shift_dates, entity: customer_id, max_days: 30}
  notes: redact_text
"""


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 1, 3],
            "email": ["ann@example.fr", "bob@example.fr", "ann@example.fr", None],
            "phone": ["06 12 34 56 78", "+33 6 98 76 54 32", "0612345678", "0700000001"],
            "card": ["4111 1111 1111 1111", "5500-0000-0000-0004", "4000056655665556", "4242424242424242"],
            "age": [17, 45, 70, 30],
            "birth": ["1980-05-03", "1991-12-01", None, "2001-01-31"],
            "zip": ["75011", "13001", "69003", "33000"],
            "visit": ["2024-01-10", "2024-02-01", "2024-03-05", "2024-04-01"],
            "notes": ["call ann@example.fr or 06 12 34 56 78", "fine", "card 4111111111111111 on file", None],
            "nir": ["2 83 05 75 123 456 28"] * 4,
        }
    )


def test_every_method_transforms_as_documented() -> None:
    frame = _table()
    config = parse_config(__import__("yaml").safe_load(CONFIG))
    key = read_key(config.key_source, {"CARNET_DEID_KEY": KEY})
    out = apply_deidentification(frame, config, key)
    assert "nir" not in out.columns and list(out.columns) == [c for c in frame.columns if c != "nir"]
    assert out["phone"].tolist()[:2] == ["** ** ** ** 78", "+** * ** ** ** 32"]
    tokens = out["email"].tolist()
    assert tokens[0] == tokens[2] != tokens[1] and tokens[0].startswith("tok_") and len(tokens[0]) == 20
    assert pd.isna(tokens[3])  # missing stays missing
    for before, after in zip(frame["card"], out["card"], strict=True):
        assert after != before and len(after) == len(before)
        assert [c.isdigit() for c in after] == [c.isdigit() for c in before]  # separators stay
        assert reverse_fpe(after, key, "card") == before  # reversible with the key only
    assert out["age"].tolist() == ["[0, 18)", "[30, 50)", "[70, 120)", "[30, 50)"]
    assert out["birth"].tolist()[:2] == ["1980", "1991"] and out["birth"].tolist()[2] is None
    assert out["zip"].tolist() == ["75", "13", "69", "33"]
    visits, shifted = pd.to_datetime(frame["visit"]), pd.to_datetime(out["visit"])
    delta = (shifted - visits).dt.days
    assert delta[0] == delta[2] and abs(delta).max() <= 30  # one person, one offset: intervals kept
    assert out["notes"].tolist()[:3] == ["call [EMAIL] or [PHONE]", "fine", "card [CARD] on file"]
    again = apply_deidentification(frame, config, key)
    pd.testing.assert_frame_equal(out, again)  # deterministic
    other = apply_deidentification(frame, config, b"another key of sixteen bytes")
    assert other["email"][0] != tokens[0]


def test_a_bad_config_is_named_before_anything_runs() -> None:
    cases = [
        ({"columns": {"email": "hash"}}, "columns.email.method"),
        ({"columns": {"email": {"method": "mask", "keep": 2}}}, "columns.email.keep"),
        ({"columns": {"email": "pseudonymize"}}, "key"),
        ({"key": "env:X", "columns": {"d": {"method": "shift_dates"}}}, "columns.d.entity"),
        ({"columns": {"a": {"method": "generalize", "bins": [5, 1]}}}, "columns.a.bins"),
        ({"columns": {"a": {"method": "generalize"}}}, "columns.a"),
        ({"columns": {}}, "columns"),
        ({"colums": {}}, "colums"),
    ]
    for raw, field in cases:
        with pytest.raises(InvalidInput) as err:
            parse_config(raw)
        assert err.value.field == field, (raw, err.value.field)
    with pytest.raises(InvalidInput, match="not set"):
        read_key("env:NOPE_NOT_SET", {})
    with pytest.raises(InvalidInput, match="at least 16 bytes"):
        read_key("env:SHORT", {"SHORT": "abc"})
    config = parse_config({"columns": {"ghost": "drop"}})
    with pytest.raises(InvalidInput) as missing:
        apply_deidentification(_table(), config, None)
    assert missing.value.field == "columns.ghost"


def test_deidentify_makes_a_derived_version_with_its_config_and_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws_path = tmp_path / "ws"
    ws = Client(str(ws_path))
    source, _ = ws.log_dataframe(_table(), "customers")
    assert {c.name for c in source.profile if c.pii} >= {"email", "phone"}
    (tmp_path / "deid.yaml").write_text(CONFIG)
    runner = CliRunner()
    args = [
        "--uri",
        str(ws_path),
        "data",
        "deidentify",
        "customers@1",
        "--config",
        str(tmp_path / "deid.yaml"),
    ]
    refused = runner.invoke(cli, [*args, "--json"])
    assert refused.exit_code == 2 and "CARNET_DEID_KEY" in refused.output  # no key: nothing made
    assert len(Client(str(ws_path)).dataset_versions("customers")) == 1
    monkeypatch.setenv("CARNET_DEID_KEY", KEY)
    made = runner.invoke(cli, [*args, "--json"])
    assert made.exit_code == 0, made.output
    result = json.loads(made.output)
    assert result["ref"] == "customers@2" and result["parent"] == "customers@1" and result["created"]
    version = Client(str(ws_path)).get_dataset("customers@2")
    assert "nir" not in [f.name for f in version.schema]
    # tokens, masks and bins are not personal data; FPE keeps a card's shape, so a column named
    # card may still be flagged when a few encrypted numbers happen to pass a Luhn check
    assert {c.name for c in version.profile if c.pii} <= {"card"}
    digest = version.source.rsplit(" ", 1)[1]
    stored = json.loads(Client(str(ws_path)).services.ctx.artifacts.get_bytes(digest))
    assert stored["source"] == "customers@1" and stored["key"] == "env:CARNET_DEID_KEY"
    assert KEY not in json.dumps(stored) and len(stored["key_fingerprint"]) == 16
    assert stored["columns"]["email"] == {"method": "pseudonymize"}
    again = runner.invoke(cli, args)
    assert "unchanged" in again.output  # same source, config and key: the same content
    elsewhere = runner.invoke(cli, [*args, "--name", "customers_deid", "--json"])
    assert json.loads(elsewhere.output)["ref"] == "customers_deid@1"


def test_deidentify_through_a_server_reads_the_key_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carnet.bootstrap import open_services
    from carnet.server.api import create_api_app, serve_api_in_thread

    services = open_services(str(tmp_path / "ws"))
    services.datasets.log_dataframe(_table(), "customers")
    server = serve_api_in_thread(create_api_app(services, require_auth=False))
    monkeypatch.setenv("CARNET_DEID_KEY", KEY)  # the server's environment (same process here)
    try:
        remote = Client(server.url)
        version, created = remote.deidentify_dataset("customers@1", CONFIG)
        local = services.datasets.get("customers@2")
        assert created and version.ref == "customers@2" and version.digest == local.digest
        with pytest.raises(InvalidInput) as err:
            remote.deidentify_dataset("customers@1", {"columns": {"email": "hash"}})
        assert err.value.field == "columns.email.method"
        for key in ("file:/etc/hostname", "env:HOME"):  # no server file or unrelated variable as a key
            with pytest.raises(InvalidInput) as refused:
                remote.deidentify_dataset("customers@1", {"key": key, "columns": {"email": "pseudonymize"}})
            assert refused.value.field == "key"
        remote.close()
    finally:
        server.stop()
        services.close()


def test_an_id_gets_one_token_whatever_its_dtype_and_edges_are_never_lost() -> None:
    key = b"0123456789abcdef-test-key"
    as_int = pd.DataFrame({"id": [1001, 1002], "t": ["2024-01-05 13:45:00", "2024-01-06 08:00:00"]})
    as_float = pd.DataFrame({"id": [1001.0, None], "t": ["2024-01-05 13:45:00", None]})  # a CSV with a gap
    config = parse_config({"key": "env:K", "columns": {"id": "pseudonymize"}})
    a, b = (apply_deidentification(f, config, key)["id"].tolist() for f in (as_int, as_float))
    assert a[0] == b[0] and pd.isna(b[1])
    shift = parse_config({"key": "env:K", "columns": {"t": {"method": "shift_dates", "entity": "id"}}})
    shifted = apply_deidentification(as_int, shift, key)["t"].tolist()
    assert all(v.endswith(("13:45:00", "08:00:00")) for v in shifted)  # the time of day stays
    assert apply_deidentification(as_float, shift, key)["t"][0] == shifted[0]  # same person, same offset
    bins = parse_config({"columns": {"age": {"method": "generalize", "bins": [0, 18, 120]}}})
    with pytest.raises(InvalidInput, match="2 value") as err:
        apply_deidentification(pd.DataFrame({"age": [10, 120, -1]}), bins, None)
    assert err.value.field == "columns.age.bins"


def test_redaction_finds_national_us_numbers_and_dotted_cards() -> None:
    config = parse_config({"columns": {"notes": "redact_text"}})
    frame = pd.DataFrame(
        {
            "notes": [
                "call (415) 867-5309 or 415-867-5309",
                "card 4111.1111.1111.1111 ok",
                "order 12345 shipped",
            ]
        }
    )
    out = apply_deidentification(frame, config, None)["notes"].tolist()
    assert out == ["call [PHONE] or [PHONE]", "card [CARD] ok", "order 12345 shipped"]
