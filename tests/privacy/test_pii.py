"""Personal data found and kept out of profiles: the tier-1 detectors and the column scan measured
on a labelled synthetic corpus, `data add` flagging and masking, `data scan` with options and
--apply (audited), the row sample the scan reads, and the migration that masks stored profiles."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from carnet.data.profiling import RowSample
from carnet.privacy import ScanOptions, scan_frame, scan_values
from carnet.privacy.detectors import DETECTORS
from carnet.testing.pii import pii_corpus


@pytest.mark.parametrize("seed", [0, 1])
def test_the_scan_classifies_a_labelled_corpus(seed: int) -> None:
    frame, labels = pii_corpus(rows=400, seed=seed)
    found = {f.column: f for f in scan_frame(frame)}
    flagged = {c for c in found}
    truth = {c for c, kind in labels.items() if kind is not None}
    precision = len(flagged & truth) / len(flagged)
    recall = len(flagged & truth) / len(truth)
    assert precision >= 0.95 and recall >= 0.95, (flagged - truth, truth - flagged)
    right = [c for c in flagged & truth if found[c].kind == labels[c]]
    assert len(right) >= 0.95 * len(truth), {c: (found[c].kind, labels[c]) for c in flagged & truth}
    for column in ("email", "num_secu", "iban", "card_number", "siret", "nino", "steuer_id"):
        assert found[column].share >= 0.9 and found[column].sampled == 400


def test_each_detector_tells_its_kind_from_the_others() -> None:
    frame, labels = pii_corpus(rows=200, seed=5)
    for kind, detector in DETECTORS.items():
        positives = [str(v) for c, k in labels.items() if k == kind for v in frame[c]]
        negatives = [str(v) for c, k in labels.items() if k is None for v in frame[c]]
        hinted = sum(map(detector.hinted, positives)) / len(positives)
        false = sum(map(detector.match, negatives)) / len(negatives)
        assert hinted >= 0.9, (kind, hinted)
        assert false <= 0.02, (kind, false)


def test_values_alone_need_a_hint_where_they_are_ordinary() -> None:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(2)
    digits = [fake.ssn().replace("-", "") for _ in range(30)]  # valid SSNs, written as bare digits
    assert scan_values("order_number", digits) is None
    assert scan_values("ssn", digits).kind == "us_ssn"  # type: ignore[union-attr]
    dates = ["1984-03-12", "1990-11-02", "1975-06-30"] * 10
    assert scan_values("signup_date", dates) is None
    assert scan_values("date_of_birth", dates).kind == "date_of_birth"  # type: ignore[union-attr]
    names = ["Marie", "Jean-Pierre", "Lucas"] * 10
    assert scan_values("plan", names) is None and scan_values("file_name", names) is None
    assert scan_values("prenom", names).kind == "person_name"  # type: ignore[union-attr]
    assert (
        scan_values("anything", ["12 rue de la Paix, Paris", "3 avenue Foch"] * 10).kind == "postal_address"
    )  # type: ignore[union-attr]
    assert scan_values("amount", [1.5, 2.25, 3.75] * 10) is None
    assert scan_values("flag", [True, False] * 10) is None


def test_the_row_sample_is_uniform_seeded_and_independent_of_batch_sizes() -> None:
    table = pa.table({"i": list(range(20_000))})
    samples = []
    for size in (20_000, 3_000, 777):
        sampler = RowSample(500, seed=7)
        for batch in table.to_batches(max_chunksize=size):
            sampler.update(batch)
        got = sampler.table()
        assert got is not None
        samples.append(got.column("i").to_pylist())
    assert samples[0] == samples[1] == samples[2] and len(samples[0]) == 500
    assert samples[0] == sorted(samples[0])  # file order
    assert 8_000 < sum(samples[0]) / 500 < 12_000  # spread over the whole file


def _customers(path: Path, rows: int = 300) -> Path:
    frame, _ = pii_corpus(rows=rows, seed=3)
    frame = frame[["email", "telephone", "num_secu", "order_id", "amount", "city", "notes"]]
    frame.to_csv(path, index=False)
    return path


def test_adding_a_table_flags_pii_and_keeps_its_values_out_of_the_profile(tmp_path: Path) -> None:
    ws = Client(str(tmp_path / "ws"))
    path = _customers(tmp_path / "customers.csv")
    version, _ = ws.add_dataset(path, "customers")
    profile = {c.name: c for c in version.profile}
    assert {c: p.pii["kind"] for c, p in profile.items() if p.pii} == {
        "email": "email",
        "telephone": "phone",
        "num_secu": "fr_nir",
        "notes": "free_text",
    }
    stored = json.dumps([c.to_dict() for c in ws.get_dataset("customers@1").profile])
    raw = pd.read_csv(path)
    for column in ("email", "telephone", "num_secu"):
        assert not any(str(v) in stored for v in raw[column].head(50)), column
        assert profile[column].top[0][0] == f"<{profile[column].pii['kind']} 1>"
        assert profile[column].count == len(raw)
    assert profile["city"].pii is None and profile["city"].top  # ordinary columns keep their values
    assert profile["amount"].mean == pytest.approx(raw["amount"].mean())
    (event,) = [e for e in ws.audit_log() if e.action == "dataset.add_version"]
    assert event.payload["pii"]["num_secu"] == "fr_nir"


def test_data_scan_reports_with_options_and_applies_on_request(tmp_path: Path) -> None:
    ws_path = tmp_path / "ws"
    frame = pd.DataFrame(
        {
            "id": range(200),
            "reply_to": [f"user{i}@example.org" if i % 3 == 0 else "none" for i in range(200)],
            "plan": ["basic", "pro"] * 100,
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    ws = Client(str(ws_path))
    version, _ = ws.add_dataset(tmp_path / "t.csv", "mail")
    assert not any(c.pii for c in version.profile)  # a third of emails: under the default 0.5
    runner = CliRunner()
    shown = runner.invoke(cli, ["--uri", str(ws_path), "data", "scan", "mail@1", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["findings"] == []
    args = ["--uri", str(ws_path), "data", "scan", "mail@1", "--threshold", "0.3", "--json", "--apply"]
    applied = runner.invoke(cli, args)
    result = json.loads(applied.output)
    assert [f["kind"] for f in result["findings"]] == ["email"] and result["applied"] == ["reply_to"]
    masked = {c.name: c for c in Client(str(ws_path)).get_dataset("mail@1").profile}
    assert masked["reply_to"].pii["kind"] == "email" and "user0@example.org" not in str(
        masked["reply_to"].top
    )
    assert masked["plan"].pii is None
    events = [e for e in Client(str(ws_path)).audit_log() if e.action == "dataset.scan"]
    assert len(events) == 1 and events[0].payload["masked"] == {"reply_to": "email"}
    bad = runner.invoke(cli, ["--uri", str(ws_path), "data", "scan", "mail@1", "--threshold", "2"])
    assert bad.exit_code == 2 and "threshold" in bad.output
    table = runner.invoke(cli, ["--uri", str(ws_path), "data", "show", "mail@1"])
    assert "personal data in 1 column(s): reply_to" in table.output


def test_the_migration_masks_profiles_stored_before_detection(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    import carnet.store.sql.migrations as migrations_pkg
    from carnet.domain.datasets import ColumnProfile
    from carnet.store.sql.engine import run_alembic_upgrade

    ws = Client(str(tmp_path / "ws"))
    version, _ = ws.add_dataset(_customers(tmp_path / "c.csv", rows=60), "customers")
    raw = pd.read_csv(tmp_path / "c.csv")
    legacy = [  # what a profile held before: the top values themselves, no flag
        ColumnProfile(c.name, c.type, c.kind, c.count, c.missing, c.missing_share,
                      top=[(str(v), 1) for v in raw[c.name].head(10)])
        for c in version.profile
    ]  # fmt: skip
    store = ws.services.ctx.store
    with store.transaction() as tx:
        tx.datasets.set_profile("customers", 1, legacy)
    assert "@" in str(ws.get_dataset("customers@1").profile[0].top)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations_pkg.__file__).parent))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    with store.engine.begin() as conn:
        run_alembic_upgrade(conn)
    after = {c.name: c for c in ws.get_dataset("customers@1").profile}
    assert after["email"].pii["kind"] == "email" and "@" not in str(after["email"].top)
    assert after["num_secu"].pii["kind"] == "fr_nir"
    assert after["city"].pii is None and after["city"].top == legacy[5].top


def test_scan_options_are_checked(tmp_path: Path) -> None:
    from carnet.errors import InvalidInput

    ws = Client(str(tmp_path / "ws"))
    ws.add_dataset(_customers(tmp_path / "c.csv", rows=20), "c")
    for bad, field in (({"sample": 5}, "sample"), ({"text_threshold": 0}, "text_threshold")):
        with pytest.raises(InvalidInput) as err:
            ws.scan_dataset("c@1", **bad)
        assert err.value.field == field
    assert ScanOptions().threshold == 0.5


def test_the_dataset_page_flags_pii_and_shows_no_value_of_it(tmp_path: Path) -> None:
    import httpx

    from carnet.bootstrap import open_services
    from carnet.server.api import create_api_app, serve_api_in_thread

    services = open_services(str(tmp_path / "ws"))
    path = _customers(tmp_path / "customers.csv", rows=120)
    services.datasets.add(path, "customers")
    server = serve_api_in_thread(create_api_app(services, require_auth=False))
    try:
        page = httpx.get(f"{server.url}/datasets/customers/1", timeout=60).text
        api = httpx.get(f"{server.url}/api/v1/datasets/customers@1", timeout=60).json()
    finally:
        server.stop()
        services.close()
    raw = pd.read_csv(path)
    assert "PII email" in page and "PII fr_nir" in page and "values hidden (personal data)" in page
    for column in ("email", "telephone", "num_secu"):
        for value in raw[column].head(30):
            assert str(value) not in page and str(value) not in json.dumps(api), (column, value)
    assert any(str(v) in page for v in raw["city"])  # ordinary columns still show their values


@pytest.mark.parametrize("locale", ["en_US", "en_GB", "de_DE", "nl_NL", "it_IT", "es_ES", "fr_FR", "pt_PT"])
def test_street_addresses_of_seven_languages_are_found_without_a_hint(locale: str) -> None:
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(9)
    found = scan_values("where", [fake.street_address() for _ in range(300)])
    assert found is not None and found.kind == "postal_address" and found.share >= 0.6
    assert found.detector == "street pattern" and not found.hint


def test_short_texts_with_numbers_are_not_addresses() -> None:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(1)
    for values in (
        [f"{fake.word().title()} {fake.random_int(1, 99)}" for _ in range(300)],  # products
        [fake.sentence() for _ in range(300)],
        [f"order {i} shipped in 3 boxes" for i in range(300)],
    ):
        assert scan_values("label", values) is None
