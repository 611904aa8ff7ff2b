"""Every HTML page carnet writes, rendered from Jinja2 templates in one place.

The engines produce data (an evaluation result, a drift report, a monitor's windows, a card); the
modules here turn it into self-contained pages (inline CSS, images as ``data:`` URIs, no external
reference) through the templates in ``templates/``, with autoescaping on: every string that comes
from data is escaped unless a module marks a fragment it built itself (a chart) as safe. The CLI,
the server and the web UI share them.

The other documents carnet writes for people and tools live here too: the CI report (``ci``:
Markdown, JUnit XML, JSON), the compliance map of a dossier (``compliance``), and the Grafana
dashboards and Prometheus alerting rules over the metrics of ``metric_catalogue``.
"""

from __future__ import annotations

import base64
import functools
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

__all__ = ["br", "data_uri", "num", "render", "safe", "utc_time"]


def num(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; missing or not finite as ``-``."""
    if value is None:
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "-" if not math.isfinite(number) else f"{number:.{digits}g}"


def br(text: Any) -> Any:
    """``text`` escaped, its line breaks as ``<br>``."""
    import markupsafe

    return markupsafe.escape(str(text)).replace("\n", markupsafe.Markup("<br>"))


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI for an ``<img src>``."""
    return f"data:image/png;base64,{base64.b64encode(png).decode()}"


def utc_time(ts: Any) -> str:
    """Seconds since the epoch as ``YYYY-MM-DD HH:MM:SS`` (UTC); empty when missing."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S")


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("carnet.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=num, data_uri=data_uri, utc_time=utc_time, br=br)
    return env


def render(template: str, **context: Any) -> str:
    """The page ``template`` (a file of ``templates/``) rendered with ``context``, autoescaped."""
    return _environment().get_template(template).render(**context)


def safe(fragment: str) -> Any:
    """Mark markup a report module built itself (a chart's SVG or plotly HTML) as not to be escaped."""
    import markupsafe

    return markupsafe.Markup(fragment)
