"""Tier-2 PII detection with Presidio on spaCy's small English pipeline (extra pii): names and
places in free text and in columns of names, at tier 2 and never at tier 1; redact_text with
tier 2; `data scan --tier 2` through the CLI and over HTTP; bad tiers and a missing model refused
in one line."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from faker import Faker

from carnet import Client
from carnet.cli.main import cli
from carnet.errors import InvalidInput
from carnet.privacy import ScanOptions, scan_values, tier2
from carnet.privacy.deidentify import apply_deidentification, parse_config

TIER2 = ScanOptions(tier=2)
_TEMPLATES = (
    "Called {name} back about the delivery to {city}.",
    "{name} asked for a refund on the last order.",
    "Spoke with {name}, who is moving to {city} next month.",
    "Delivery was late, customer satisfied with the refund.",
)


@pytest.fixture(scope="module")
def fake() -> Faker:
    faker = Faker("en_US")
    faker.seed_instance(11)
    return faker


@pytest.fixture(scope="module", autouse=True)
def analyzer() -> Iterator[None]:
    """Presidio's analyzer, built once for the module (later calls share it)."""
    assert tier2.available()
    assert tier2.entities(["Ada Lovelace lived in London."]) == [
        [("person_name", 0, 12), ("location", 22, 28)]
    ]
    yield


def _notes(fake: Faker, rows: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(_TEMPLATES).format(name=fake.name(), city=fake.city()) for _ in range(rows)]


def test_free_text_with_names_and_places_is_flagged_at_tier_2_only(fake: Faker) -> None:
    notes = _notes(fake, 120)
    assert scan_values("notes", notes) is None  # no email, phone or card: tier 1 sees nothing
    found = scan_values("notes", notes, TIER2)
    assert found is not None and found.kind == "free_text"
    assert found.detector == "embedded:person,location" and found.sampled == 120
    assert 0.6 <= found.share <= 0.8  # the refund-only template holds no one
    mixed = [n + (f" Reach them at {fake.email()}" if i % 10 == 0 else "") for i, n in enumerate(notes)]
    assert scan_values("notes", mixed).detector == "embedded:email"  # type: ignore[union-attr]
    both = scan_values("notes", mixed, TIER2)
    assert both is not None and both.detector == "embedded:email,person,location"
    assert both.share >= found.share  # a value counts once, whatever it holds
    plain = [fake.sentence(nb_words=12) for _ in range(120)]  # no one named, nowhere
    assert scan_values("comment", plain, TIER2) is None


def test_a_column_of_names_is_flagged_without_a_name_hint_and_places_are_not(fake: Faker) -> None:
    people = [fake.name() for _ in range(150)]
    assert scan_values("holder", people) is None  # capitalised words, no hint: tier 1 passes
    found = scan_values("holder", people, TIER2)
    assert found is not None and (found.kind, found.detector, found.hint) == (
        "person_name",
        "presidio:PERSON",
        False,
    )
    assert found.share >= 0.8
    assert scan_values("destination", [fake.state() for _ in range(150)], TIER2) is None  # LOCATION
    assert scan_values("destination", [fake.city() for _ in range(150)], TIER2) is None
    products = [
        fake.word().capitalize() + " " + random.Random(i).choice(["Pro", "Max", "Lite"]) for i in range(150)
    ]
    assert scan_values("product", products, TIER2) is None  # a shared word: a vocabulary, not people
    assert scan_values("plan", ["Marie", "Jean-Pierre", "Lucas"] * 10, TIER2) is None


def test_tier_2_keeps_what_tier_1_finds(fake: Faker) -> None:
    emails = [fake.email() for _ in range(50)]
    assert scan_values("contact", emails, TIER2) == scan_values("contact", emails)
    assert scan_values("amount", [1.5, 2.25, 3.75] * 10, TIER2) is None


def test_redact_text_with_tier_2_replaces_names_and_places() -> None:
    frame = pd.DataFrame(
        {
            "notes": [
                "Called Marie Curie at marie@example.org about her visit to Paris",
                "John Smith moved from Boston to Chicago, call +1 415 555 0100",
                None,
                "Nothing to report today",
            ]
        }
    )
    config = parse_config({"columns": {"notes": {"method": "redact_text", "tier": 2}}})
    out = apply_deidentification(frame, config, None)["notes"].tolist()
    assert out[0] == "Called [PERSON] at [EMAIL] about her visit to [LOCATION]"
    assert out[1] == "[PERSON] moved from [LOCATION] to [LOCATION], call [PHONE]"
    assert out[2] is None or out[2] != out[2]  # missing stays missing
    assert out[3] == "Nothing to report today"
    tier1 = apply_deidentification(frame, parse_config({"columns": {"notes": "redact_text"}}), None)
    assert tier1["notes"][1] == "John Smith moved from Boston to Chicago, call [PHONE]"
    assert tier2.redact("Ada Lovelace wrote from London.") == "[PERSON] wrote from [LOCATION]."


def test_bad_tiers_are_refused_in_one_line(tmp_path: Path) -> None:
    for bad in (0, 3, "2", True, 2.0):
        with pytest.raises(InvalidInput) as err:
            ScanOptions(tier=bad)  # type: ignore[arg-type]
        assert err.value.field == "tier"
        with pytest.raises(InvalidInput) as err:
            parse_config({"columns": {"notes": {"method": "redact_text", "tier": bad}}})
        assert err.value.field == "columns.notes.tier"
    with pytest.raises(InvalidInput) as err:
        tier2.entities(["Ada"], kinds=("EMAIL_ADDRESS",))
    assert err.value.field == "kinds"
    pd.DataFrame({"notes": ["Ada Lovelace lived in London for years"] * 20}).to_csv(
        tmp_path / "t.csv", index=False
    )
    ws = Client(str(tmp_path / "ws"))
    ws.add_dataset(tmp_path / "t.csv", "t")
    with pytest.raises(InvalidInput) as err:
        ws.scan_dataset("t@1", tier=3)
    assert err.value.field == "tier"
    bad = CliRunner().invoke(cli, ["--uri", str(tmp_path / "ws"), "data", "scan", "t@1", "--tier", "3"])
    assert bad.exit_code == 2 and "--tier" in bad.output


def test_data_scan_tier_2_through_the_cli(tmp_path: Path, fake: Faker) -> None:
    ws_path = tmp_path / "ws"
    frame = pd.DataFrame({"id": range(80), "notes": _notes(fake, 80, seed=1), "plan": ["basic", "pro"] * 40})
    frame.to_csv(tmp_path / "calls.csv", index=False)
    version, _ = Client(str(ws_path)).add_dataset(tmp_path / "calls.csv", "calls")
    assert not any(c.pii for c in version.profile)  # data add runs tier 1
    runner = CliRunner()
    base = ["--uri", str(ws_path), "data", "scan", "calls@1", "--json"]
    tier1 = json.loads(runner.invoke(cli, base).output)
    assert tier1["findings"] == [] and tier1["options"]["tier"] == 1
    shown = runner.invoke(cli, [*base, "--tier", "2", "--apply"])
    assert shown.exit_code == 0, shown.output
    result = json.loads(shown.output)
    assert result["options"]["tier"] == 2 and result["applied"] == ["notes"]
    (finding,) = result["findings"]
    assert (finding["column"], finding["kind"], finding["detector"]) == (
        "notes",
        "free_text",
        "embedded:person,location",
    )
    masked = {c.name: c for c in Client(str(ws_path)).get_dataset("calls@1").profile}
    assert masked["notes"].pii["kind"] == "free_text" and masked["plan"].pii is None
    table = runner.invoke(cli, ["--uri", str(ws_path), "data", "scan", "calls@1", "--tier", "2"])
    assert table.exit_code == 0 and "embedded:person,location" in table.output


def test_a_missing_model_is_one_line_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the model package not importable, tier 2 is refused before anything loads or downloads:
    exit 2 in the CLI, a 4xx problem+json over HTTP; tier 1 goes on."""
    import httpx

    from carnet.bootstrap import open_services
    from carnet.server.api import create_api_app, serve_api_in_thread

    pd.DataFrame({"notes": ["Ada Lovelace lived in London for years"] * 20}).to_csv(
        tmp_path / "t.csv", index=False
    )
    services = open_services(str(tmp_path / "ws"))
    services.datasets.add(tmp_path / "t.csv", "t")
    server = serve_api_in_thread(create_api_app(services, require_auth=False))
    try:
        url = f"{server.url}/api/v1/datasets/t@1/scan"
        ok = httpx.post(url, json={"tier": 2}, timeout=60)
        assert ok.status_code == 200, ok.text
        assert [f["detector"] for f in ok.json()["findings"]] == ["embedded:person,location"]
        assert httpx.post(url, json={"tier": 3}, timeout=60).status_code == 422
        monkeypatch.setitem(sys.modules, tier2.MODEL, None)  # as if the package were not installed
        assert not tier2.available()
        refused = httpx.post(url, json={"tier": 2}, timeout=60)
        assert refused.status_code == 422 and "problem+json" in refused.headers["content-type"]
        assert "pip install 'carnet[pii]'" in refused.text
        assert httpx.post(url, json={"tier": 1}, timeout=60).status_code == 200
    finally:
        server.stop()
        services.close()
    out = CliRunner().invoke(cli, ["--uri", str(tmp_path / "ws"), "data", "scan", "t@1", "--tier", "2"])
    assert out.exit_code == 2 and "pip install 'carnet[pii]'" in out.output
    assert len(out.output.strip().splitlines()) == 1
    with pytest.raises(InvalidInput, match=r"carnet\[pii\]"):
        tier2.entities(["Ada Lovelace"])
    with pytest.raises(InvalidInput, match=r"carnet\[pii\]"):
        parse_config({"columns": {"notes": {"method": "redact_text", "tier": 2}}})


def test_a_workspace_set_to_tier_2_scans_at_data_add(
    tmp_path: Path, fake: Faker, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = pd.DataFrame({"id": range(60), "notes": _notes(fake, 60, seed=2)})
    frame.to_csv(tmp_path / "calls.csv", index=False)
    ws_path = str(tmp_path / "ws")
    runner = CliRunner()
    monkeypatch.setenv("CARNET_PII_TIER", "3")
    bad = runner.invoke(
        cli, ["--uri", ws_path, "data", "add", str(tmp_path / "calls.csv"), "--name", "calls"]
    )
    assert bad.exit_code == 2 and "pii_tier must be 1 or 2" in bad.output
    monkeypatch.setenv("CARNET_PII_TIER", "2")
    added = runner.invoke(
        cli, ["--uri", ws_path, "data", "add", str(tmp_path / "calls.csv"), "--name", "calls"]
    )
    assert added.exit_code == 0, added.output
    notes = {c.name: c for c in Client(ws_path).get_dataset("calls@1").profile}["notes"]
    assert (
        notes.pii is not None
        and notes.pii["detector"] == "embedded:person,location"
        and not notes.top[0][0].startswith("Called")
    )
