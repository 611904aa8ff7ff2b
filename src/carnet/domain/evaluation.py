"""What an evaluation returns: headline metrics with intervals, detail tables, plots and notes."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EvaluationResult", "Plot", "jsonable"]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars/arrays unwrapped, NaN/inf -> None, keys -> str.

    Bytes are dropped (``None``); tuples, sets and arrays become lists.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {_key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes | bytearray | memoryview):
        return None
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return [jsonable(v) for v in sorted(value, key=repr)]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays, pandas objects
    if callable(tolist):
        return jsonable(tolist())
    isoformat = getattr(value, "isoformat", None)  # datetime, pandas Timestamp
    if callable(isoformat):
        return str(isoformat())
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    plain = jsonable(key)
    return str(plain)


@dataclass
class Plot:
    """One chart: a PNG and the JSON-ready series it was drawn from."""

    name: str
    title: str
    png: bytes
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = jsonable(self.data)  # plain JSON types from the start (NaN -> None)

    def data_uri(self) -> str:
        """The PNG as a ``data:image/png;base64,...`` URI (for self-contained HTML)."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def to_dict(self) -> dict[str, Any]:
        """Name, title and data, JSON-ready (no PNG bytes)."""
        return {"name": self.name, "title": self.title, "data": jsonable(self.data)}


@dataclass
class EvaluationResult:
    """The outcome of :func:`carnet.evaluation.evaluate`.

    ``n`` is the number of rows (users for recommendation) scored; ``intervals`` are
    bootstrap percentile confidence intervals at ``confidence`` over ``bootstrap`` resamples;
    ``greater_is_better`` gives each headline metric's direction.
    """

    family: str
    n: int
    metrics: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    confidence: float = 0.95
    bootstrap: int = 0
    greater_is_better: dict[str, bool] = field(default_factory=dict)

    def plot(self, name: str) -> Plot | None:
        """The plot called ``name``, if any."""
        return next((p for p in self.plots if p.name == name), None)

    def metric_table(self) -> list[dict[str, Any]]:
        """One row per headline metric: metric, value, lower, upper, greater_is_better (NaN -> None)."""
        rows = []
        for name, value in self.metrics.items():
            low, high = self.intervals.get(name, (None, None))
            rows.append(
                {
                    "metric": name,
                    "value": jsonable(value),
                    "lower": jsonable(low),
                    "upper": jsonable(high),
                    "greater_is_better": self.greater_is_better.get(name),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: plain types, NaN -> None, plots as name/title/data without PNG bytes."""
        return {
            "family": self.family,
            "n": int(self.n),
            "metrics": jsonable(self.metrics),
            "intervals": {k: jsonable(list(v)) for k, v in self.intervals.items()},
            "confidence": jsonable(self.confidence),
            "bootstrap": int(self.bootstrap),
            "greater_is_better": dict(self.greater_is_better),
            "details": jsonable(self.details),
            "plots": [p.to_dict() for p in self.plots],
            "notes": list(self.notes),
        }
