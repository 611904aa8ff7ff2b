"""The HTML page of a stress run (``carnet stress``; template ``stress.html``): the baseline, each
scenario's metric, its degradation against its limit, and a chart of the degradations."""

from __future__ import annotations

import io
from typing import Any

from carnet.reports import render

__all__ = ["render_stress_html"]


def _chart(scenarios: list[dict[str, Any]]) -> bytes | None:
    """A bar per scenario: its degradation, with its limit marked, as PNG (None when none ran)."""
    ran = [s for s in scenarios if s.get("degradation") is not None]
    if not ran:
        return None
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
    return buffer.getvalue()


def _row(s: dict[str, Any]) -> dict[str, Any]:
    relative = s["relative"]
    drop = s["degradation"]
    return {
        "scenario": s,
        "limit": f"{100 * s['max_degradation']:g}%" if relative else f"{s['max_degradation']:g}",
        "drop": "" if drop is None else (f"{100 * drop:.2f}%" if relative else f"{drop:.4g}"),
        "value": "" if s["value"] is None else f"{s['value']:.4g}",
        "verdict": "pass" if s["passed"] else "FAIL",
    }


def render_stress_html(result: dict[str, Any]) -> str:
    """A self-contained page for the dict :meth:`PromotionService.stress` returns."""
    scenarios = result.get("scenarios", [])
    return render(
        "stress.html",
        result=result,
        base="" if result.get("base") is None else f"{result['base']:.4g}",
        chart=_chart(scenarios),
        rows=[_row(s) for s in scenarios],
    )
