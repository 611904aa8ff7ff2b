"""The Grafana dashboard JSON model (schema version 39), laid out from Python.

A :class:`Board` places panels left to right on Grafana's 24-column grid (a row header starts a
new line) and builds the dashboard's dict. Every panel and target reads the Prometheus data
source chosen by the dashboard's ``datasource`` variable (:func:`datasource_variable`), so no
data-source uid is baked in; other variables list label values (:func:`label_values_variable`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DATASOURCE",
    "RATE",
    "Board",
    "datasource_variable",
    "label_values_variable",
    "quantiles",
    "thresholds",
]


# -- the JSON model --------------------------------------------------------------------------------
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
_WIDTH = 24


def thresholds(*steps: tuple[str, float]) -> dict[str, Any]:
    """Absolute thresholds: green below the first ``(color, value)`` step."""
    return {
        "mode": "absolute",
        "steps": [{"color": "green", "value": None}, *({"color": c, "value": v} for c, v in steps)],
    }


class Board:
    """A dashboard being laid out: panels flow left to right, rows start a new line."""

    def __init__(self, uid: str, title: str, description: str, variables: list[dict[str, Any]]) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.variables = variables
        self.panels: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self._x = self._y = self._line = 0

    def _place(self, w: int, h: int) -> dict[str, int]:
        if self._x + w > _WIDTH:
            self._x, self._y, self._line = 0, self._y + self._line, 0
        pos = {"h": h, "w": w, "x": self._x, "y": self._y}
        self._x += w
        self._line = max(self._line, h)
        return pos

    def row(self, title: str) -> None:
        """A collapsible row header on a line of its own."""
        if self._x:
            self._x, self._y, self._line = 0, self._y + self._line, 0
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": _WIDTH, "x": 0, "y": self._y},
                "panels": [],
            }
        )
        self._y += 1

    def panel(
        self,
        kind: str,
        title: str,
        description: str,
        targets: list[tuple[str, str]],
        *,
        unit: str = "short",
        w: int = 12,
        h: int = 8,
        thresholds: dict[str, Any] | None = None,
        stacked: bool = False,
        minimum: float | None = 0,
        maximum: float | None = None,
    ) -> None:
        """A ``timeseries``, ``stat`` or ``table`` panel; ``targets`` are (PromQL, legend) pairs."""
        table = kind == "table"
        defaults: dict[str, Any] = {"unit": unit}
        if minimum is not None and not table:
            defaults["min"] = minimum
        if maximum is not None:
            defaults["max"] = maximum
        if thresholds is not None:
            defaults["thresholds"] = thresholds
        options: dict[str, Any]
        if kind == "timeseries":
            defaults["custom"] = {
                "drawStyle": "line",
                "lineWidth": 1,
                "fillOpacity": 20 if stacked else 8,
                "showPoints": "never",
                "spanNulls": False,
                "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
            }
            options = {
                "legend": {
                    "showLegend": True,
                    "displayMode": "table",
                    "placement": "bottom",
                    "calcs": ["mean", "max", "lastNotNull"],
                },
                "tooltip": {"mode": "multi", "sort": "desc"},
            }
        elif kind == "stat":
            defaults["color"] = {"mode": "thresholds"}
            options = {
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value",
                "graphMode": "area",
                "justifyMode": "auto",
                "orientation": "auto",
                "textMode": "auto",
            }
        elif table:
            options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
        else:
            raise ValueError(f"unknown panel type {kind!r}")
        out: dict[str, Any] = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DATASOURCE,
            "gridPos": self._place(w, h),
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options,
            "targets": [
                {
                    "refId": chr(ord("A") + i),
                    "datasource": DATASOURCE,
                    "editorMode": "code",
                    "expr": expr,
                    "legendFormat": legend,
                    "range": not table,
                    "instant": table,
                    **({"format": "table"} if table else {}),
                }
                for i, (expr, legend) in enumerate(targets)
            ],
        }
        if table:
            out["transformations"] = [
                {"id": "merge", "options": {}},
                {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": {}}},
            ]
        self.panels.append(out)

    def annotate(self, name: str, expr: str, text: str, color: str = "blue") -> None:
        """Marks on every time series where ``expr`` has a value."""
        self.annotations.append(
            {
                "name": name,
                "datasource": DATASOURCE,
                "enable": True,
                "hide": False,
                "iconColor": color,
                "expr": expr,
                "step": "60s",
                "titleFormat": text,
            }
        )

    def build(self) -> dict[str, Any]:
        """The dashboard's JSON model."""
        builtin = {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }
        return {
            "id": None,
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["carnet"],
            "timezone": "browser",
            "editable": True,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "timepicker": {},
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "weekStart": "",
            "links": [
                {
                    "type": "dashboards",
                    "title": "carnet",
                    "tags": ["carnet"],
                    "asDropdown": True,
                    "includeVars": False,
                    "keepTime": True,
                    "icon": "external link",
                    "targetBlank": False,
                    "tooltip": "",
                    "url": "",
                }
            ],
            "annotations": {"list": [builtin, *self.annotations]},
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


def datasource_variable() -> dict[str, Any]:
    """The ``datasource`` variable: any Prometheus data source, chosen at import or on the page."""
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
        "includeAll": False,
        "multi": False,
        "skipUrlSync": False,
    }


def label_values_variable(name: str, label: str, query: str) -> dict[str, Any]:
    """A multi-value variable listing ``query``'s values (``All`` matches every value)."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": query,
        "definition": query,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "current": {},
        "options": [],
        "hide": 0,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "skipUrlSync": False,
    }


def quantiles(metric_: str, selector: str) -> list[tuple[str, str]]:
    """p50, p95 and p99 of a histogram over the series ``selector`` matches."""
    matchers = f"{{{selector}}}" if selector else ""
    return [
        (
            f"histogram_quantile({q}, sum by (le) (rate({metric_}_bucket{matchers}[{RATE}])))",
            f"p{round(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]
