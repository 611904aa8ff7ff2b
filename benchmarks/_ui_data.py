"""The runs of the web UI benchmark, generated the same way for carnet and for MLflow (standard
library only: the MLflow side runs in its own venv).

Run ``i`` has 50 params (``p0``..``p49``), 100 metrics (``m0``..``m99``, one value each) and, for the
first ``long_runs`` runs, a ``loss`` of ``steps`` steps (a slow sine with noise).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

PARAMS = 50
METRICS = 100
T0 = 1_790_000_000.0  # seconds: the first run's start


@dataclass(frozen=True)
class BenchRun:
    index: int
    run_id: str
    name: str
    start: float
    end: float
    params: dict[str, str]
    metrics: dict[str, float]


def run_id(index: int) -> str:
    """A stable id per index (the same in both stores)."""
    return uuid.UUID(int=(0xC0FFEE << 96) + index).hex


def runs(count: int) -> Iterator[BenchRun]:
    """The ``count`` runs, oldest first."""
    for i in range(count):
        start = T0 + i * 60.0
        yield BenchRun(
            index=i,
            run_id=run_id(i),
            name=f"run-{i}",
            start=start,
            end=start + 30.0 + (i % 50),
            params={f"p{j}": str((i * 31 + j * 7) % 97) for j in range(PARAMS)},
            metrics={f"m{j}": ((i * (j + 3)) % 1000) / 1000.0 for j in range(METRICS)},
        )


def loss(steps: int, seed: int = 0) -> Iterator[tuple[int, float]]:
    """A long metric: ``(step, value)`` for ``steps`` steps."""
    for s in range(steps):
        noise = math.sin(s * 12.9898 + seed * 78.233) * 43758.5453 % 1.0
        yield s, 1.0 / (1.0 + s / 5000.0) + 0.05 * math.sin(s / 700.0) + 0.02 * noise
