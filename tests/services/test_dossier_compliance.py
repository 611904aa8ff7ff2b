"""The compliance map of a dossier: the built-in EU AI Act Annex IV and NIST AI RMF maps and a
user's own, each item linked to the dossier files that evidence it, in a local workspace and
through `carnet server`; bad mappings refused naming the field (SDK, CLI, HTTP)."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from carnet.errors import InvalidInput
from carnet.reports.compliance import (
    EVIDENCED,
    TO_PROVIDE,
    build_checklist,
    builtin_mappings,
    load_mapping,
    render_checklist_markdown,
)

pytestmark = pytest.mark.served

SPEC = """
dataset: {ref}
task: binary
target: target
split: {{kind: holdout, test_size: 0.25}}
model: {{name: logistic_regression, params: {{C: 1.0, max_iter: 200}}}}
preprocess: {{scale: standard}}
seed: 3
project: demo
"""
POLICY = """
name: prod
aliases: [production]
evaluation_data: {ref}
seed: 1
intended_use: screening support
limitations: trained on one hospital's data
gates:
  - metric: "roc_auc >= 0.9"
  - type: stress
    scenarios:
      - {{type: gaussian_noise, scale: 0.1, max_degradation: 0.5}}
  - type: approval
    required: 1
"""
INTERNAL = """
name: acme-ml-policy
title: ACME model risk policy v3
framework: ACME MRP
items:
  - id: MRP-1
    title: A second person approved the model
    evidence:
      - {file: promotions.json, fact: approval_gate_passed, shows: the approval gate}
  - id: MRP-2
    title: Production behaviour is watched
    evidence:
      - {file: monitoring.json, fact: monitor_exists}
  - id: MRP-3
    title: Business owner sign-off
    evidence: []
"""
#: items the approvals, the stress gate and the monitor evidence on their own
WATCHED = {
    ("eu_ai_act_annex_iv", "9"),
    ("nist_ai_rmf", "MAP 3.5"),
    ("nist_ai_rmf", "MEASURE 2.4"),
    ("nist_ai_rmf", "MEASURE 2.6"),
    ("nist_ai_rmf", "MANAGE 4.1"),
}


@pytest.fixture
def ws(client: Any) -> Any:
    return client


@pytest.fixture
def cancer(ws: Client, tmp_path: Path) -> str:
    from sklearn.datasets import load_breast_cancer

    path = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.iloc[:, -8:].to_csv(path, index=False)
    return ws.add_dataset(path, "cancer", project="demo")[0].ref


@pytest.fixture
def run(ws: Client, services: Any, cancer: str) -> str:
    """One training run, registered as ``bare`` (no policy, no approval, no monitor)."""
    run_id: str = services.search.run_spec(SPEC.format(ref=cancer)).run_id
    ws.register_model(run_id, "bare")
    return run_id


@pytest.fixture
def trained(ws: Client, run: str, cancer: str) -> str:
    """The run registered as ``cancer`` too: a policy, approved, promoted, monitored."""
    ws.register_model(run, "cancer")
    ws.set_policy(POLICY.format(ref=cancer), model="cancer")
    ws.approve("cancer", 1, comment="reviewed")
    assert ws.promote("cancer", 1, "production").applied
    ws.create_monitor(
        {"name": "cancer-watch", "model": "cancer@production", "reference": cancer, "window": "50rows"}
    )
    return run


def _zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}


def _items(checklist: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["name"], i["id"]): i for m in checklist["mappings"] for i in m["items"]}


def _links(text: str, pattern: str, folder: str) -> list[str]:
    """The targets of ``pattern``'s links in ``text``, as paths from the dossier's root."""
    found = []
    for target in re.findall(pattern, text):
        parts: list[str] = []
        for part in PurePosixPath(folder, unquote(target)).parts:
            if part == "..":
                assert parts, f"{target} leaves the dossier"
                parts.pop()
            elif part != ".":
                parts.append(part)
        found.append("/".join(parts))
    return found


def test_evidence_links_to_files_inside_the_zip(
    ws: Client, workspace: Any, trained: str, tmp_path: Path
) -> None:
    internal = tmp_path / "internal.yaml"
    internal.write_text(INTERNAL)
    manifest = ws.model_dossier("cancer", 1, tmp_path / "d.zip", mappings=[internal])
    files = _zip(tmp_path / "d.zip")
    for name in (
        "compliance/checklist.md",
        "compliance/checklist.html",
        "compliance/checklist.json",
        "index.md",
    ):
        assert name in files and name in manifest["files"]
    monitoring = json.loads(files["monitoring.json"])
    assert [m["spec"]["name"] for m in monitoring["monitors"]] == ["cancer-watch"]

    checklist = json.loads(files["compliance/checklist.json"])
    assert "not a conformity assessment" in checklist["note"]
    items = _items(checklist)
    for key in WATCHED | {("acme-ml-policy", "MRP-1"), ("acme-ml-policy", "MRP-2")}:
        assert items[key]["status"] == EVIDENCED, key
        assert items[key]["files"] and set(items[key]["files"]) <= set(files), key
    assert items[("nist_ai_rmf", "MEASURE 2.6")]["files"] == ["promotions.json"]
    assert items[("eu_ai_act_annex_iv", "9")]["files"] == ["monitoring.json"]
    assert items[("acme-ml-policy", "MRP-3")]["status"] == TO_PROVIDE
    assert items[("eu_ai_act_annex_iv", "8")]["status"] == TO_PROVIDE  # a declaration of conformity
    assert checklist["facts"]["stress_gate_ran"] and checklist["facts"]["approval_gate_passed"]

    # every link resolves to a file of the zip: the checklist (Markdown, HTML) and the index
    md = files["compliance/checklist.md"].decode()
    md_links = _links(md, r"\]\(([^)]+)\)", "compliance")
    html_links = _links(files["compliance/checklist.html"].decode(), r'href="([^"]+)"', "compliance")
    index_links = _links(files["index.md"].decode(), r"\]\(([^)]+)\)", "")
    assert md_links and html_links and index_links
    assert set(md_links) | set(html_links) | set(index_links) <= set(files) | {"manifest.json"}
    assert "[monitoring.json](../monitoring.json)" in md and "ACME model risk policy v3" in md

    # the manifest records the mappings used (name + digest) and each item's evidencing files
    used = {m["name"]: m for m in manifest["compliance"]["mappings"]}
    assert set(used) == {"eu_ai_act_annex_iv", "nist_ai_rmf", "acme-ml-policy"}
    assert used["acme-ml-policy"]["digest"] == load_mapping(INTERNAL).digest
    assert used["eu_ai_act_annex_iv"]["builtin"] and not used["acme-ml-policy"]["builtin"]
    for item in manifest["compliance"]["items"]:
        assert set(item["files"]) <= set(manifest["files"]), item
    for path, meta in manifest["files"].items():
        assert hashlib.sha256(files[path]).hexdigest() == meta["sha256"]

    # the same checklist without writing a zip
    alone = ws.model_compliance("cancer", 1, mappings=[INTERNAL])
    assert _items(alone)[("acme-ml-policy", "MRP-1")]["files"] == ["promotions.json"]

    # a bad mapping is refused naming the field, before anything is written
    for text, field in BAD[2:5]:
        with pytest.raises(InvalidInput) as caught:
            ws.model_dossier("cancer", 1, tmp_path / "x.zip", mappings=[text])
        assert caught.value.field == field and "mapping 1" in caught.value.message
    assert not (tmp_path / "x.zip").exists()
    if not workspace.remote:
        return
    # over HTTP: 422 problem+json naming the field, on the POST of the dossier and of the checklist
    doc = {
        "name": "x",
        "title": "t",
        "framework": "f",
        "items": [{"id": "a", "title": "b", "evidence": [{"fact": "vibes"}]}],
    }
    headers = {"Authorization": f"Bearer {workspace.token}"}
    for route in ("dossier", "compliance"):
        r = httpx.post(
            f"{workspace.uri}/api/v1/models/cancer/versions/1/{route}",
            json={"mappings": [doc]},
            headers=headers,
            timeout=60,
        )
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == "items[0].evidence[0].fact" and "vibes" in r.json()["detail"]
    # the GET of the dossier is unchanged: the built-in maps only
    r = httpx.get(f"{workspace.uri}/api/v1/models/cancer/versions/1/dossier", headers=headers, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"


def test_a_bare_version_leaves_those_items_to_the_organisation(ws: Client, run: str, tmp_path: Path) -> None:
    ws.model_dossier("bare", 1, tmp_path / "bare.zip")
    files = _zip(tmp_path / "bare.zip")
    items = _items(json.loads(files["compliance/checklist.json"]))
    for key in WATCHED:
        assert items[key]["status"] == TO_PROVIDE and items[key]["files"] == [], key
    assert json.loads(files["monitoring.json"])["monitors"] == []
    assert not any(k[0] == "acme-ml-policy" for k in items)
    # what any registered version has is still evidenced: the registry's record of it
    assert items[("nist_ai_rmf", "GOVERN 1.6")]["status"] == EVIDENCED
    assert "**to be provided by the organisation**" in files["compliance/checklist.md"].decode()


HEAD = "name: x\ntitle: t\nframework: f\n"
ITEM = "{id: a, title: b, evidence: [%s]}"
BAD = [
    (HEAD + "items: []\n", "items"),
    (HEAD + "owner: me\nitems: [" + ITEM % "" + "]\n", "owner"),
    (HEAD + "items: [{id: a, title: b}]\n", "items[0].evidence"),
    (
        HEAD + "items:\n  - {id: a, title: b, evidence: []}\n  - {id: c, title: d, evidence: []}\n"
        "  - {id: e, title: f, evidence: [{file: secrets.txt}]}\n",
        "items[2].evidence[0].file",
    ),
    (HEAD + "items: [" + ITEM % "{fact: vibes}" + "]\n", "items[0].evidence[0].fact"),
    (HEAD + "items: [" + ITEM % "{shows: s}" + "]\n", "items[0].evidence[0]"),
    (HEAD + "items: [" + ITEM % "{file: ../card.md}" + "]\n", "items[0].evidence[0].file"),
    (HEAD + "items: [{id: a, title: b, evidence: [], risk: high}]\n", "items[0].risk"),
    (HEAD + "items: [" + ITEM % "" + ", {id: a, title: c, evidence: []}]\n", "items[1].id"),
    ("name: nist_ai_rmf\ntitle: t\nframework: f\nitems: [" + ITEM % "" + "]\n", "name"),
    ("- just\n- a list\n", "mapping"),
]


@pytest.mark.parametrize(("text", "field"), BAD, ids=[f for _, f in BAD])
def test_bad_mappings_are_refused_naming_the_field_in_process(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build_checklist([*builtin_mappings(), load_mapping(text)], {"card.md"}, {})
    assert caught.value.field == field, caught.value


@pytest.mark.local_only("the CLI runs against the workspace folder")
def test_cli_mapping_option_compliance_verb_and_bad_mapping(
    workspace: Any, trained: str, tmp_path: Path
) -> None:
    internal = tmp_path / "internal.yaml"
    internal.write_text(INTERNAL)
    runner = CliRunner()
    base = ["--uri", workspace.uri, *(["--artifacts", workspace.artifacts] if workspace.artifacts else [])]
    out = runner.invoke(
        cli,
        [*base, "models", "dossier", "cancer/1", "-o", str(tmp_path / "c.zip"), "--mapping", str(internal)],
    )
    assert out.exit_code == 0, out.output
    assert "items evidenced" in out.output and "compliance/checklist.md" in out.output
    assert "compliance/checklist.md" in _zip(tmp_path / "c.zip")
    shown = runner.invoke(
        cli, [*base, "models", "compliance", "cancer@production", "--mapping", str(internal)]
    )
    assert shown.exit_code == 0, shown.output
    assert (
        "ACME model risk policy v3" in shown.output and "[monitoring.json](monitoring.json)" in shown.output
    )
    data = json.loads(
        runner.invoke(cli, [*base, "models", "compliance", "bare/1", "--format", "json"]).output
    )
    assert _items(data)[("nist_ai_rmf", "MANAGE 4.1")]["status"] == TO_PROVIDE

    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD[3][0])
    refused = runner.invoke(
        cli, [*base, "models", "dossier", "cancer/1", "-o", str(tmp_path / "b.zip"), "--mapping", str(bad)]
    )
    assert refused.exit_code == 2, refused.output
    assert len(refused.output.strip().splitlines()) == 1 and "items[2].evidence[0].file" in refused.output
    assert "Traceback" not in refused.output


def test_user_text_cannot_inject_links_or_markup() -> None:
    doc = {
        "name": "tricky",
        "title": "<script>alert(1)</script>",
        "framework": "f",
        "items": [
            {
                "id": "[x](http://evil)",
                "title": "<b>",
                "evidence": [{"file": "card.md", "shows": "](javascript:1)"}],
            }
        ],
    }
    checklist = build_checklist([load_mapping(doc)], {"card.md"}, {})
    md = render_checklist_markdown(checklist)
    assert re.findall(r"(?<!\\)\]\(([^)]*)\)", md) == ["../card.md"] and "<script>" not in md
    from carnet.reports.compliance import render_checklist_html

    html = render_checklist_html(checklist)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert re.findall(r'href="([^"]+)"', html) == ["../card.md"]


def test_the_builtin_maps_cover_annex_iv_and_the_four_rmf_functions() -> None:
    eu, nist = builtin_mappings()
    assert {i.id.split("(")[0] for i in eu.items} == {str(n) for n in range(1, 10)}
    assert {i.section for i in nist.items} == {"GOVERN", "MAP", "MEASURE", "MANAGE"}
    assert all(re.fullmatch(r"(GOVERN|MAP|MEASURE|MANAGE) \d+\.\d+", i.id) for i in nist.items)
    assert eu.builtin and nist.builtin and eu.digest.startswith("sha256:")
