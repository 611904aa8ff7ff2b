"""Gated promotion, approvals, rollback, policies, model cards and dossiers, end to end, through a
local workspace and through `carnet server`."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from carnet import Client
from carnet.errors import Conflict, GateFailed, InvalidInput, NotFound

SPEC = """
dataset: {ref}
task: binary
target: target
split: {{kind: holdout, test_size: 0.25}}
model: {model}
preprocess: {{scale: standard}}
seed: 3
project: demo
"""
GOOD = "{name: logistic_regression, params: {C: 1.0}}"
WEAK = "{name: decision_tree, params: {max_depth: 1}}"

POLICY = """
name: prod
aliases: [production]
evaluation_data: {ref}
seed: 1
intended_use: screening support, never a diagnosis on its own
limitations: trained on one hospital's data
gates:
  - metric: "roc_auc >= 0.9"
  - type: non_regression
    metric: roc_auc
    margin: 0.005
  - type: signature
  - type: approval
    required: 1
"""


pytestmark = pytest.mark.served


@pytest.fixture
def ws(client: Any) -> Any:
    return client


@pytest.fixture
def cancer(ws: Client, tmp_path: Path) -> str:
    from sklearn.datasets import load_breast_cancer

    path = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return ws.add_dataset(path, "cancer", project="demo")[0].ref


@pytest.fixture
def versions(ws: Client, services: Any, cancer: str) -> tuple[int, int]:
    train = services.search.run_spec
    good = train(SPEC.format(ref=cancer, model=GOOD)).run_id
    weak = train(SPEC.format(ref=cancer, model=WEAK)).run_id
    v1 = ws.register_model(good, "cancer").version
    v2 = ws.register_model(weak, "cancer").version
    ws.set_policy(POLICY.format(ref=cancer), model="cancer")
    return v1, v2


def _events(ws: Client, action: str) -> list:
    return [e for e in ws.audit_log("model", limit=None) if e.action == action]


def test_promotion_is_refused_until_every_gate_passes(ws: Client, versions: tuple[int, int]) -> None:
    v1, _ = versions
    with pytest.raises(GateFailed) as err:
        ws.promote("cancer", v1, "production")
    refused = err.value.promotion  # type: ignore[attr-defined]
    verdicts = {r.type: r.passed for r in refused.results}
    assert verdicts == {"metric": True, "non_regression": True, "signature": True, "approval": False}
    assert not refused.applied and refused.id > 0
    with pytest.raises(NotFound):
        ws.get_model_version("cancer@production")
    assert len(_events(ws, "model.promote.refused")) == 1

    ws.approve("cancer", v1, comment="reviewed")
    done = ws.promote("cancer", v1, "production")
    assert done.passed and done.applied and done.previous_version is None
    assert ws.get_model_version("cancer@production").version == v1
    (event,) = _events(ws, "model.promote")
    assert event.payload["version"] == v1 and all(g["passed"] for g in event.payload["gates"])
    stored = ws.promotions("cancer", v1)
    assert [(p.applied, p.passed) for p in stored] == [(False, False), (True, True)]
    assert stored[1].results[0].measured and stored[1].results[0].threshold == ">= 0.9"


def test_a_worse_candidate_fails_non_regression_and_the_metric(ws: Client, versions: tuple[int, int]) -> None:
    v1, v2 = versions
    ws.approve("cancer", v1)
    ws.promote("cancer", v1, "production")
    ws.approve("cancer", v2)
    result = ws.promote("cancer", v2, "production", dry_run=True)
    verdicts = {r.type: r.passed for r in result.results}
    assert verdicts["non_regression"] is False and verdicts["approval"] is True
    assert result.previous_version == v1 and not result.applied
    assert ws.get_model_version("cancer@production").version == v1


def test_a_request_stores_the_verdict_but_never_moves_the_alias(
    ws: Client, services: Any, versions: tuple[int, int]
) -> None:
    v1, _ = versions
    requested = ws.request_promotion("cancer", v1, "production")
    assert requested.kind == "request" and requested.id > 0 and not requested.applied
    assert {r.type: r.passed for r in requested.results}["approval"] is False
    with pytest.raises(NotFound):
        ws.get_model_version("cancer@production")
    (event,) = _events(ws, "model.promote.requested")
    assert event.payload["version"] == v1
    assert [(p.version, p.kind) for p in services.promotion.awaiting_approval("cancer")] == [(v1, "request")]
    ws.approve("cancer", v1)
    passed = ws.request_promotion("cancer", v1, "production")  # every gate passes: still a request
    assert passed.passed and not passed.applied
    with pytest.raises(NotFound):
        ws.get_model_version("cancer@production")
    assert ws.promote("cancer", v1, "production").applied  # an admin promotes
    assert ws.get_model_version("cancer@production").version == v1
    assert [p.kind for p in ws.promotions("cancer", v1)] == ["request", "request", "promote"]
    with pytest.raises(NotFound):
        ws.request_promotion("cancer", 99, "production")


def test_each_gate_verdict_is_heard_as_soon_as_it_has_one(services: Any, versions: tuple[int, int]) -> None:
    v1, _ = versions
    heard: list[tuple[int, str, bool]] = []
    started: list[str] = []

    def on_gate(i: int, r: Any) -> None:
        assert len(started) == i + 1  # after its own start, before the next gate starts
        heard.append((i, r.gate, r.passed))

    result = services.promotion.promote(
        "cancer",
        v1,
        "production",
        dry_run=True,
        progress=lambda label, i, n: started.append(label),
        on_gate=on_gate,
    )
    assert heard == [(i, r.gate, r.passed) for i, r in enumerate(result.results)]
    assert len(heard) == 4


def test_a_dry_run_stores_nothing(ws: Client, versions: tuple[int, int]) -> None:
    v1, _ = versions
    before = len(ws.audit_log(limit=None))
    result = ws.promote("cancer", v1, "production", dry_run=True)
    assert not result.passed and result.id == 0
    assert ws.promotions("cancer") == []
    assert len(ws.audit_log(limit=None)) == before


def test_rollback_walks_back_through_the_holders(ws: Client, versions: tuple[int, int]) -> None:
    v1, v2 = versions
    ws.set_model_alias("cancer", "production", v1)
    ws.set_model_alias("cancer", "production", v2)
    with pytest.raises(InvalidInput):
        ws.rollback("cancer", reason=" ")
    back = ws.rollback("cancer", reason="error rate doubled")
    assert (back.previous_version, back.version, back.kind) == (v2, v1, "rollback")
    assert ws.get_model_version("cancer@production").version == v1
    with pytest.raises(Conflict, match="nothing to roll back to"):
        ws.rollback("cancer", reason="again")
    (event,) = _events(ws, "model.rollback")
    assert event.payload == {
        "alias": "production",
        "from": v2,
        "to": v1,
        "reason": "error rate doubled",
        "promotion": back.id,
    }
    with pytest.raises(NotFound):
        ws.rollback("cancer", alias="staging", reason="x")


def test_policies_per_model_and_per_project(ws: Client, versions: tuple[int, int], cancer: str) -> None:
    assert ws.get_policy("cancer").name == "prod"
    ws.set_policy(
        {"name": "project-default", "evaluation_data": cancer, "gates": [{"metric": "accuracy >= 0.5"}]},
        project="demo",
    )
    assert ws.get_policy("cancer").name == "prod"  # the model's own policy wins
    before = len(ws.audit_log(limit=None))
    with pytest.raises(InvalidInput) as err:
        ws.set_policy({"name": "bad", "gates": [{"type": "no_such_gate"}]}, model="cancer")
    assert "gates[0]" in (err.value.field or "")
    assert len(ws.audit_log(limit=None)) == before
    assert ws.get_policy("cancer").name == "prod"
    with pytest.raises(InvalidInput, match="guards aliases"):
        ws.promote("cancer", 1, "staging")


def test_without_a_policy_promotion_is_refused_with_a_hint(ws: Client, cancer: str) -> None:
    run = ws.train(SPEC.format(ref=cancer, model=GOOD)).run_id
    ws.register_model(run, "lonely")
    with pytest.raises(InvalidInput, match="no promotion policy"):
        ws.promote("lonely", 1, "production")


def test_card_and_dossier(ws: Client, versions: tuple[int, int], tmp_path: Path) -> None:
    v1, _ = versions
    ws.approve("cancer", v1, comment="reviewed")
    ws.promote("cancer", v1, "production")
    card = ws.model_card("cancer", v1)
    for text in ("cancer", "roc_auc", "screening support", "one hospital", "reviewed", "cancer@1"):
        assert text in card
    html = ws.model_card("cancer", v1, fmt="html")
    assert html.lstrip().lower().startswith("<!doctype html") and "data:image/png;base64," in html
    manifest = ws.model_dossier("cancer", v1, tmp_path / "dossier.zip")
    with zipfile.ZipFile(tmp_path / "dossier.zip") as zf:
        names = {n.split("/", 1)[1]: n for n in zf.namelist()}
        for required in ("card.md", "card.html", "promotions.json", "audit_events.jsonl", "manifest.json"):
            assert required in names
        assert any(n.startswith("reports/") for n in names)
        for path, meta in manifest["files"].items():
            assert hashlib.sha256(zf.read(names[path])).hexdigest() == meta["sha256"]
        verification = json.loads(zf.read(names["audit_verification.json"]))
        events = [json.loads(line) for line in zf.read(names["audit_events.jsonl"]).splitlines()]
    assert verification["ok"] is True and verification["events_not_matching_their_hash"] == []
    actions = {e["action"] for e in events}
    assert {
        "model.register",
        "model.approve",
        "model.promote",
        "run.create",
        "dataset.add_version",
    } <= actions
