"""Plots and the HTML report of a local explanation (see :mod:`carnet.evaluation.explain_local`)."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

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

    def img(name: str) -> str:
        data = plots.get(name)
        if data is None:
            return ""
        return (
            f'<img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        )

    e = html.escape
    head = "".join(
        f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in context.items() if v is not None
    )
    note = f"<p class=note>{e(explanation['note'])}</p>" if explanation.get("note") else ""
    glob = "".join(
        f"<tr><td>{e(r['feature'])}</td><td>{r['mean_abs']:.4g}</td></tr>" for r in explanation["global"]
    )
    rows = []
    for row in explanation["rows"]:
        top = sorted(row["attributions"].items(), key=lambda kv: -abs(kv[1]))[:TOP]
        cells = "".join(f"<tr><td>{e(k)}</td><td>{v:+.4g}</td></tr>" for k, v in top)
        picture = img(f"row_{row['row']}")
        rows.append(
            f"<section><h3>Row {e(str(row['row']))}: {e(explanation['output'])} = {row['prediction']:.4g}"
            f" (base value {row['base_value']:.4g})</h3>{picture}"
            f"<table><tr><th>feature</th><th>contribution</th></tr>{cells}</table></section>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Explanation: {e(str(context.get("model", "")))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 980px; color: #222 }}
table {{ border-collapse: collapse; margin: .5rem 0 1.5rem }}
td, th {{ border: 1px solid #ddd; padding: .25rem .6rem; text-align: left }}
img {{ max-width: 100%; display: block; margin: .5rem 0 }}
.note {{ background: #fff3c4; padding: .5rem .8rem }}
</style></head><body>
<h1>Explanation of {e(str(context.get("model", "")))}</h1>
<table>{head}<tr><th>method</th><td>{e(explanation["method"])}</td></tr>
<tr><th>explained output</th><td>{e(explanation["output"])}</td></tr></table>{note}
<h2>Global summary</h2>{img("summary")}
<table><tr><th>feature</th><th>mean |attribution|</th></tr>{glob}</table>
<h2>Rows</h2>{"".join(rows) or "<p>No per-row attributions with this method.</p>"}
</body></html>
"""
