"""A metric's history bucketed by the database for charts (on SQLite and PostgreSQL): every
extreme kept, the raw values when they are few, NaN and the infinities as gaps."""

from __future__ import annotations

import math
from typing import Any

import pytest

from carnet.errors import InvalidInput


def test_buckets_keep_every_extreme_and_the_raw_series_when_short(services: Any) -> None:
    t = services.tracking
    run = t.create_run("demo", "buckets")
    values = [float(i % 100) for i in range(10_000)]
    values[777], values[4242], values[5000] = -5.0, math.nan, math.inf
    t.log_batch(run.id, [t.make_metric("v", v, i, 1.0) for i, v in enumerate(values)])
    out = t.metric_series(run.id, "v", points=100)
    assert len(out["step"]) == 100 and min(out["min"]) == -5.0 and max(out["max"]) == 99.0
    assert out["total"] == 10_000 and not out["raw"] and out["step"] == sorted(out["step"])
    short = t.metric_series(run.id, "v", points=100, start=4241, end=4243)
    assert short["raw"] and short["step"] == [4241.0, 4242.0, 4243.0] and short["value"] == [41.0, None, 43.0]
    assert t.metric_series(run.id, "v", points=10, start=5000, end=5000)["value"] == [None]  # infinity
    with pytest.raises(InvalidInput):
        t.metric_series(run.id, "v", points=1)
