"""Plots and the HTML page of a local explanation (see :mod:`carnet.evaluation.explain_local`;
template ``explain.html``)."""

from __future__ import annotations

import io
from typing import Any

from carnet.reports import render

__all__ = ["explanation_plots", "render_explanation_html"]

TOP = 12


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def explanation_plots(explanation: dict[str, Any]) -> dict[str, bytes]:
    """``{name: PNG}``: ``summary`` (mean |attribution| per feature) and ``row_<i>`` (each explained
    row's largest contributions, positive in red, negative in blue)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, bytes] = {}
    table = explanation["global"][:TOP][::-1]
    if table:
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(table) + 1.2))
        ax.barh([r["feature"] for r in table], [r["mean_abs"] for r in table], color="#4c72b0")
        label = "mean |attribution|" if explanation["method"] != "permutation" else "score drop when shuffled"
        ax.set_xlabel(label)
        ax.set_title(f"What drives {explanation['output']} ({explanation['method']})")
        plots["summary"] = _png(fig)
    for row in explanation["rows"][:20]:
        items = sorted(row["attributions"].items(), key=lambda kv: -abs(kv[1]))[:TOP][::-1]
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 1.4))
        ax.barh(
            [k for k, _ in items],
            [v for _, v in items],
            color=["#c44e52" if v > 0 else "#4c72b0" for _, v in items],
        )
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(
            f"row {row['row']}: {explanation['output']} = {row['prediction']:.4g} "
            f"(base {row['base_value']:.4g})"
        )
        ax.set_xlabel("contribution")
        plots[f"row_{row['row']}"] = _png(fig)
    return plots


def render_explanation_html(
    explanation: dict[str, Any], plots: dict[str, bytes], context: dict[str, Any]
) -> str:
    """A self-contained page: what was explained, the method, the global table and each row."""
    rows = [
        {
            "row": row,
            "top": sorted(row["attributions"].items(), key=lambda kv: -abs(kv[1]))[:TOP],
            "image": plots.get(f"row_{row['row']}"),
        }
        for row in explanation["rows"]
    ]
    return render(
        "explain.html",
        model=str(context.get("model", "")),
        context=[(str(k), str(v)) for k, v in context.items() if v is not None],
        explanation=explanation,
        summary=plots.get("summary"),
        rows=rows,
    )
