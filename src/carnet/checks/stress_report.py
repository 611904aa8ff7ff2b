"""The HTML report of a stress run (``carnet stress``): the baseline, each scenario's metric, its
degradation against its limit, and a chart of the degradations."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

__all__ = ["render_stress_html"]


def _chart(scenarios: list[dict[str, Any]]) -> str:
    """A bar per scenario: its degradation, with its limit marked (empty when none ran)."""
    ran = [s for s in scenarios if s.get("degradation") is not None]
    if not ran:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(ran) + 1.3))
    names = [s["name"] for s in ran][::-1]
    drops = [s["degradation"] for s in ran][::-1]
    limits = [s["max_degradation"] for s in ran][::-1]
    ax.barh(names, drops, color=["#55a868" if s["passed"] else "#c44e52" for s in ran][::-1])
    ax.scatter(limits, names, marker="|", s=300, color="black", label="limit")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("degradation (relative where the scenario says so)")
    ax.legend(loc="lower right", fontsize="small")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return (
        f'<img alt="degradations" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'
    )


def render_stress_html(result: dict[str, Any]) -> str:
    """A self-contained page for the dict :meth:`PromotionService.stress` returns."""
    e = html.escape
    rows = []
    for s in result.get("scenarios", []):
        limit = f"{100 * s['max_degradation']:g}%" if s["relative"] else f"{s['max_degradation']:g}"
        drop = (
            ""
            if s["degradation"] is None
            else (f"{100 * s['degradation']:.2f}%" if s["relative"] else f"{s['degradation']:.4g}")
        )
        value = "" if s["value"] is None else f"{s['value']:.4g}"
        verdict = "pass" if s["passed"] else "FAIL"
        rows.append(
            f"<tr class={verdict.lower()}><td>{e(s['name'])}</td><td>{e(s['type'])}</td>"
            f"<td>{e(str(s.get('settings') or ''))}</td><td>{s.get('rows') or ''}</td><td>{value}</td>"
            f"<td>{drop}</td><td>{limit}</td><td>{verdict}</td><td>{e(s.get('error') or '')}</td></tr>"
        )
    base = result.get("base")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stress: {e(str(result.get("model")))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 1100px; color: #222 }}
table {{ border-collapse: collapse; margin: .5rem 0 1.5rem }}
td, th {{ border: 1px solid #ddd; padding: .25rem .6rem; text-align: left }}
tr.fail td {{ background: #fde2e2 }}
img {{ max-width: 100%; display: block }}
</style></head><body>
<h1>Stress scenarios: {e(str(result.get("model")))}</h1>
<p>On {e(str(result.get("data")))}: {e(str(result.get("metric")))} = {"" if base is None else f"{base:.4g}"}
without perturbation; {e(str(result.get("measured")))} (seed {result.get("seed")}).</p>
{_chart(result.get("scenarios", []))}
<table><tr><th>scenario</th><th>type</th><th>settings</th><th>rows</th><th>{e(str(result.get("metric")))}</th>
<th>degradation</th><th>limit</th><th>verdict</th><th>error</th></tr>{"".join(rows)}</table>
</body></html>
"""
