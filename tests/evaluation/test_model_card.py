"""Model cards render every section in Markdown and self-contained, escaped HTML."""

from __future__ import annotations

import base64
import copy
import re
from html.parser import HTMLParser

import pytest

from carnet.errors import InvalidInput
from carnet.reports.card import CARD_FORMAT, render_card_html, render_card_markdown

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))
PNG_B64 = base64.b64encode(PNG).decode()
EVIL = "<script>alert(1)</script>"
SECTIONS = [
    "Model details",
    "Intended use",
    "Training data",
    "Data protection",
    "Metrics",
    "Fairness",
    "Top features",
    "Stress scenarios",
    "Gate results",
    "Limitations",
    "Lineage",
    "Approvals and promotions",
    "Audit",
]


def full_card() -> dict:
    return {
        "format": CARD_FORMAT,
        "name": "churn",
        "version": 3,
        "aliases": ["production"],
        "tags": {"team": "risk", "zone": "eu"},
        "description": "Predicts churn of subscribers.",
        "task": "binary",
        "flavor": "sklearn",
        "artifact_digest": "blake3:abc123",
        "created_at": 1700000000.0,
        "created_by": "alice",
        "source_run": "3f2a9c",
        "derived_from": 2,
        "intended_use": "Rank customers for retention offers.",
        "limitations": "Not for credit decisions.",
        "signature": {
            "inputs": [{"name": "age", "dtype": "int64"}, {"name": "plan", "dtype": "object"}],
            "outputs": [{"name": "prediction", "dtype": "int64"}],
        },
        "training_data": [
            {
                "ref": "churn@2",
                "digest": "blake3:d1",
                "rows": 1000,
                "columns": 12,
                "profile": [
                    {
                        "name": "age",
                        "kind": "numeric",
                        "missing_share": 0.0,
                        "min": 18,
                        "max": 90,
                        "mean": 40.1234,
                    },
                    {"name": "plan", "kind": "categorical", "missing_share": 0.025},
                ],
            }
        ],
        "data_protection": {
            "datasets": [
                {"ref": "churn@2", "pii": {}, "deidentified_from": "churn@1", "methods": {"email": "drop"}}
            ],
            "pii_inputs": {},
            "privacy_gate": {"passed": True, "k": 12, "l": None},
        },
        "metrics": {"roc_auc": 0.912345, "accuracy": 0.85},
        "intervals": {"roc_auc": [0.891234, 0.931234]},
        "confidence": 0.95,
        "fairness": {
            "passed": True,
            "sensitive": ["sex"],
            "summary": {"demographic_parity_difference": 0.04},
            "groups": [
                {"column": "sex", "group": "F", "n": 500, "selection_rate": 0.3, "tpr": 0.8, "fpr": 0.1},
                {"column": "sex", "group": "M", "n": 480, "selection_rate": 0.34, "tpr": 0.82, "fpr": 0.12},
            ],
        },
        "top_features": [{"feature": "age", "importance": 0.12}, {"feature": "plan", "importance": 0.05}],
        "attribution_method": "shap",
        "stress": [
            {
                "name": "gaussian_noise",
                "metric": "roc_auc",
                "base": 0.91,
                "value": 0.89,
                "degradation": 0.02,
                "max_degradation": 0.05,
                "passed": True,
                "error": None,
            },
            {
                "name": "missing_values",
                "metric": "roc_auc",
                "base": 0.91,
                "value": None,
                "degradation": None,
                "max_degradation": 0.05,
                "passed": False,
                "error": "ValueError: NaN in input",
            },
        ],
        "gates": [
            {
                "gate": "roc_auc >= 0.85",
                "type": "metric",
                "passed": True,
                "measured": "0.912",
                "threshold": ">= 0.85",
            },
            {"gate": "approval", "type": "approval", "passed": False, "measured": "0", "threshold": ">= 1"},
        ],
        "promotions": [
            {
                "alias": "production",
                "passed": True,
                "applied": True,
                "actor": "alice",
                "time": 1700000100.0,
                "kind": "promote",
                "reason": "",
            }
        ],
        "approvals": [
            {
                "actor": "bob",
                "alias": "production",
                "comment": "ok",
                "time": 1700000050.0,
                "authenticated": False,
            }
        ],
        "lineage": {"run": "3f2a9c", "datasets": ["churn@2"], "derived_from": "churn/2", "parent_runs": []},
        "audit": {"events": 12, "verified": True, "head": "abcd1234"},
        "plots": [{"name": "roc", "title": "ROC curve", "png_base64": PNG_B64}],
    }


class Tags(HTMLParser):
    """Every tag of a page with its attributes, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.seen.append((tag, attrs))


def md_section(markdown: str, title: str) -> str:
    """The Markdown text of one ``##`` section."""
    start = markdown.index(f"\n## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end > 0 else None]


def html_section(page: str, title: str) -> str:
    match = re.search(rf"<section[^>]*><h2>{re.escape(title)}</h2>(.*?)</section>", page, re.S)
    assert match, title
    return match.group(1)


def md_row(section: str, first: str) -> list[str]:
    """The cells of the Markdown table row whose first cell is ``first``."""
    for line in section.splitlines():
        if line.startswith(f"| {first} |"):
            return [c.strip() for c in line.strip("|").split(" | ")]
    raise AssertionError(f"no row {first!r} in {section}")


# -- content ----------------------------------------------------------------------------------------
def test_markdown_has_every_section_in_order():
    md = render_card_markdown(full_card())
    assert md.startswith("# Model card: churn v3\n")
    positions = [md.index(f"\n## {title}\n") for title in SECTIONS]
    assert positions == sorted(positions)
    assert "not recorded" not in md


def test_html_has_every_section_in_order():
    page = render_card_html(full_card())
    assert page.startswith("<!DOCTYPE html>")
    titles = re.findall(r"<section[^>]*><h2>(.*?)</h2>", page)
    assert titles == [*SECTIONS, "Plots"]
    assert "<title>Model card: churn v3</title>" in page


def test_markdown_values():
    md = render_card_markdown(full_card())
    details = md_section(md, "Model details")
    assert md_row(details, "Created") == ["Created", "2023-11-14 22:13:20 UTC"]
    assert md_row(details, "Tags") == ["Tags", "team=risk, zone=eu"]
    assert md_row(details, "Derived from") == ["Derived from", "version 2"]
    assert "Predicts churn of subscribers." in details
    assert md_row(details, "output") == ["output", "prediction", "int64"]
    assert "Rank customers for retention offers." in md_section(md, "Intended use")
    data = md_section(md, "Training data")
    assert (
        "### churn@2" in data
        and "1000 rows \N{MULTIPLICATION SIGN} 12 columns" in data
        and "blake3:d1" in data
    )
    assert md_row(data, "age") == ["age", "numeric", "0", "18", "90", "40.12"]
    metrics = md_section(md, "Metrics")
    assert "95% CI [low, high]" in metrics
    assert md_row(metrics, "roc_auc") == ["roc_auc", "0.9123", "[0.8912, 0.9312]"]
    assert md_row(metrics, "accuracy") == ["accuracy", "0.85", "—"]
    fairness = md_section(md, "Fairness")
    assert "Fairness check passed." in fairness
    assert md_row(fairness, "demographic_parity_difference") == ["demographic_parity_difference", "0.04"]
    assert md_row(fairness, "sex")[:4] == ["sex", "F", "500", "0.3"]
    assert md_row(md_section(md, "Top features"), "1") == ["1", "age", "0.12", "shap"]
    stress = md_section(md, "Stress scenarios")
    assert "1 of 2 scenarios did not pass." in stress
    assert md_row(stress, "gaussian_noise")[6] == "passed"
    failed = md_row(stress, "missing_values")
    assert failed[6] == "**failed**" and failed[7] == "ValueError: NaN in input"
    gates = md_section(md, "Gate results")
    assert md_row(gates, "roc_auc >= 0.85") == ["roc_auc >= 0.85", "metric", "0.912", ">= 0.85", "passed"]
    assert md_row(gates, "approval")[4] == "**failed**"
    assert "Not for credit decisions." in md_section(md, "Limitations")
    lineage = md_section(md, "Lineage")
    assert md_row(lineage, "Datasets") == ["Datasets", "churn@2"]
    assert md_row(lineage, "Parent runs") == ["Parent runs", "_none_"]
    approvals = md_section(md, "Approvals and promotions")
    assert md_row(approvals, "2023-11-14 22:14:10 UTC") == [
        "2023-11-14 22:14:10 UTC",
        "bob",
        "production",
        "NO (unauthenticated)",
        "ok",
    ]
    assert md_row(approvals, "2023-11-14 22:15:00 UTC")[1:6] == [
        "production",
        "promote",
        "alice",
        "passed",
        "yes",
    ]
    audit = md_section(md, "Audit")
    assert md_row(audit, "Events") == ["Events", "12"] and md_row(audit, "Chain") == ["Chain", "verified"]
    assert "- roc: ROC curve" in md_section(md, "Plots")
    assert "base64" not in md


def test_html_values_and_verdict_marks():
    page = render_card_html(full_card())
    assert "<td>[0.8912, 0.9312]</td>" not in page  # intervals are numeric cells
    assert '<td class="num">[0.8912, 0.9312]</td>' in html_section(page, "Metrics")
    assert "95% CI [low, high]" in page
    assert '<p class="pass">Fairness check passed.</p>' in html_section(page, "Fairness")
    stress = html_section(page, "Stress scenarios")
    assert '<p class="fail">1 of 2 scenarios did not pass.</p>' in stress
    row = re.search(r"<tr><td>missing_values</td>.*?</tr>", stress).group(0)
    assert '<td class="fail">failed</td>' in row and "<td>ValueError: NaN in input</td>" in row
    assert '<td class="pass">passed</td>' in stress
    gates = html_section(page, "Gate results")
    assert "<td>roc_auc &gt;= 0.85</td>" in gates and '<td class="fail">failed</td>' in gates
    approvals = html_section(page, "Approvals and promotions")
    assert "<td>bob</td>" in approvals and "<td>2023-11-14 22:14:10 UTC</td>" in approvals
    assert '<td class="pass">verified</td>' in html_section(page, "Audit")
    assert f'<img src="data:image/png;base64,{PNG_B64}" alt="ROC curve">' in page
    assert ".pass{" in page and ".fail{" in page


def test_failed_fairness_and_broken_chain_are_marked_failed():
    card = full_card()
    card["fairness"]["passed"] = False
    card["audit"]["verified"] = False
    page = render_card_html(card)
    assert '<p class="fail">Fairness check failed.</p>' in page
    assert '<td class="fail">NOT verified</td>' in page
    md = render_card_markdown(card)
    assert "**Fairness check failed.**" in md and "| Chain | **NOT verified** |" in md


def test_fairness_from_gate_details():
    """The fairness gate's own details (evaluations per column and class, worst values) render too."""
    card = {
        "name": "m",
        "version": 1,
        "fairness": {
            "passed": False,
            "measured": "dp_diff 0.200",
            "sensitive": ["sex"],
            "thresholds": {"max_demographic_parity_difference": 0.1},
            "evaluations": [
                {
                    "column": "sex",
                    "class": 1,
                    "groups": [{"group": "F", "n": 40, "included": True, "selection_rate": 0.5}],
                    "error": None,
                }
            ],
            "worst": {"demographic_parity_difference": {"value": 0.2, "column": "sex", "class": 1}},
        },
    }
    md = md_section(render_card_markdown(card), "Fairness")
    assert "**Fairness check failed.**" in md
    assert md_row(md, "Thresholds") == ["Thresholds", "max_demographic_parity_difference: 0.1"]
    assert md_row(md, "demographic_parity_difference") == [
        "demographic_parity_difference",
        "0.2",
        "column sex / class 1",
    ]
    assert md_row(md, "sex") == ["sex", "1", "F", "40", "0.5", "yes"]


# -- missing data -----------------------------------------------------------------------------------
def test_minimal_card_renders_not_recorded_lines():
    md = render_card_markdown({"name": "m", "version": 1})
    assert md.startswith("# Model card: m v1\n")
    for title in SECTIONS:
        assert f"\n## {title}\n" in md
    first = ("Intended use", "Training data", "Data protection", "Metrics", "Fairness", "Top features")
    for what in (*first, "Stress scenarios"):
        assert f"_{what} not recorded._" in md
    for what in ("Gate results", "Limitations", "Lineage", "Approvals", "Promotions", "Audit"):
        assert f"_{what} not recorded._" in md
    assert md_row(md_section(md, "Model details"), "Task") == ["Task", "_not recorded_"]
    assert "## Plots" not in md
    page = render_card_html({"name": "m", "version": 1})
    assert re.findall(r"<section[^>]*><h2>(.*?)</h2>", page) == SECTIONS
    assert '<p class="muted">Metrics not recorded.</p>' in page


def test_malformed_sections_do_not_crash():
    card = {
        "name": "m",
        "version": 1,
        "unknown_key": {"ignored": True},
        "tags": "not a mapping",
        "metrics": {"rmse": float("nan"), "mae": None, "odd": {"nested": [1, 2]}},
        "intervals": {"rmse": [None, 2.0], "mae": "bad"},
        "training_data": [{"ref": "gone@1", "missing": True}, "junk", {"ref": "x@1"}],
        "stress": [{"name": "shift", "error": "boom"}],
        "gates": "nope",
        "approvals": [None, 3],
        "audit": {"verified": "maybe"},
        "created_at": 1e20,
        "plots": [
            {"name": "bad", "title": "Bad", "png_base64": "!!!"},
            {"name": "notpng", "png_base64": "aGVsbG8="},
        ],
    }
    md = render_card_markdown(card)
    page = render_card_html(card)
    metrics = md_section(md, "Metrics")
    assert md_row(metrics, "rmse") == ["rmse", "—", "[—, 2]"]
    assert "This dataset version is not in the registry." in md
    assert "_Column profile not recorded._" in md_section(md, "Training data")
    assert md_row(md_section(md, "Stress scenarios"), "shift")[6:] == ["**error**", "boom"]
    assert "_Gate results not recorded._" in md and "_Approvals not recorded._" in md
    assert "unknown_key" not in md and "ignored" not in page
    assert "- bad: Bad (invalid PNG, skipped)" in md and "- notpng: notpng (invalid PNG, skipped)" in md
    assert "<img" not in page and "bad: invalid PNG, skipped" in page


def test_name_and_version_are_required():
    with pytest.raises(InvalidInput, match="version"):
        render_card_markdown({"name": "m"})
    with pytest.raises(InvalidInput, match="name"):
        render_card_html({"version": 1})
    with pytest.raises(InvalidInput, match="format"):
        render_card_html({"name": "m", "version": 1, "format": "carnet.evaluation/v1"})


def test_long_tables_are_capped():
    profile = [{"name": f"c{i}", "kind": "numeric", "mean": i / 3} for i in range(45)]
    card = {"name": "m", "version": 1, "training_data": [{"ref": "d@1", "profile": profile}]}
    md = render_card_markdown(card)
    assert "| c29 |" in md and "| c30 |" not in md and "_first 30 of 45 columns_" in md
    assert '<p class="muted">first 30 of 45 columns</p>' in render_card_html(card)


# -- safety -----------------------------------------------------------------------------------------
def evil_card() -> dict:
    card = full_card()
    card["description"] = EVIL
    card["tags"] = {"team": EVIL, EVIL: "x"}
    card["top_features"] = [{"feature": EVIL, "importance": 0.3}]
    card["training_data"][0]["profile"][0]["name"] = EVIL
    card["approvals"][0]["comment"] = EVIL
    card["stress"][1]["error"] = EVIL
    card["plots"][0]["title"] = f'"><img src="https://evil.example/x.png">{EVIL}'
    card["name"] = EVIL
    return card


def test_html_escapes_every_card_string():
    page = render_card_html(evil_card())
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;") >= 8
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f'<p class="text">{escaped}</p>' in page  # description
    assert f"team={escaped}" in page and f"{escaped}=x" in page  # tag value and key
    assert f'<td class="num">1</td><td>{escaped}</td>' in page  # feature name
    assert '<img src="https://' not in page
    assert len(re.findall(r"<img ", page)) == 1


def test_markdown_neutralises_html():
    md = render_card_markdown(evil_card())
    assert "<script" not in md.lower()
    assert "&lt;script>alert(1)&lt;/script>" in md


def test_markdown_table_cells_escape_pipes_and_newlines():
    card = full_card()
    card["top_features"] = [{"feature": "a|b\nc\r\nd", "importance": 0.5}]
    card["approvals"][0]["comment"] = "line one\nline two | *bold* `code` \\"
    md = render_card_markdown(card)
    assert "| 1 | a\\|b<br>c<br>d | 0.5 | shap |" in md
    assert "line one<br>line two \\| \\*bold\\* \\`code\\` \\\\ |" in md
    for line in md.splitlines():
        if line.startswith("| 1 | a"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 5  # four cells, no stray delimiter


def test_html_has_no_external_reference():
    page = render_card_html(full_card())
    assert "http://" not in page and "https://" not in page
    assert "//" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]*", "", page)
    assert "<link" not in page and "<script" not in page and "@import" not in page and "url(" not in page
    # a URL inside card text stays text: the only src/href attributes are the embedded PNGs
    tags = Tags()
    tags.feed(render_card_html(evil_card()))
    assert "script" not in {name for name, _ in tags.seen}
    urls = [value for _, attrs in tags.seen for key, value in attrs if key in ("src", "href", "action")]
    assert len(urls) == 1 and urls[0].startswith("data:image/png;base64,")


def test_embedded_png_is_validated_and_normalised():
    card = {
        "name": "m",
        "version": 1,
        "plots": [{"name": "roc", "png_base64": "data:image/png;base64," + PNG_B64}],
    }
    page = render_card_html(card)
    src = re.search(r'<img src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(src, validate=True) == PNG


# -- determinism ------------------------------------------------------------------------------------
def test_rendering_is_deterministic_and_pure():
    card = full_card()
    before = copy.deepcopy(card)
    assert render_card_markdown(card) == render_card_markdown(copy.deepcopy(card))
    assert render_card_html(card) == render_card_html(copy.deepcopy(card))
    assert card == before
    reordered = dict(card, tags={"zone": "eu", "team": "risk"})
    assert render_card_markdown(reordered) == render_card_markdown(card)
