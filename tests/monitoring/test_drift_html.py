"""render_drift_html: a self-contained page with the verdict, every column and its chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carnet.monitoring.drift import DriftOptions, detect_drift
from carnet.reports.drift import render_drift_html


def _report(shift: bool):
    rng = np.random.default_rng(0)
    n = 2000
    cities = np.array(["paris", "lyon", "nice"])

    def frame(moved: bool) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "age": rng.normal(40 + (8 if moved else 0), 10, size=n),
                "income": rng.lognormal(10, 0.5, size=n),
                "city": cities[rng.choice(3, size=n, p=[0.2, 0.3, 0.5] if moved else [0.5, 0.3, 0.2])],
                "<b>odd name</b>": rng.random(n) < 0.4,
                "score": rng.random(n),
            }
        )

    return detect_drift(frame(False), frame(shift), DriftOptions(outputs=("score",), drift_share=0.3))


@pytest.mark.parametrize("interactive", [False, True])
def test_report_page_has_every_column_and_the_verdict(interactive):
    if interactive:
        pytest.importorskip("plotly")
    report = _report(shift=True)
    page = render_drift_html(report, title="Weekly drift <check>", interactive=interactive)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "Dataset drift detected" in page and "Weekly drift &lt;check&gt;" in page
    for name in ("age", "income", "city", "score"):
        assert f'id="col-{name}"' in page
    assert "&lt;b&gt;odd name&lt;/b&gt;" in page and "<b>odd name</b>" not in page
    assert "Output columns" in page and "2 of 4 feature columns drifted" in page
    if interactive:
        assert page.count("drift-chart-") >= 5 and "<script src=" not in page  # plotly.js inlined
    else:
        assert page.count("<svg") == 5 and "<script" not in page


def test_report_page_says_no_drift():
    page = render_drift_html(_report(shift=False), title="Stable", interactive=False)
    assert "No dataset drift" in page and "0 of 4 feature columns drifted" in page
