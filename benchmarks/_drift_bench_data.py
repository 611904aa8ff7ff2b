"""Data of ``benchmarks/bench_drift.py``: the sides, the sizes, the columns and their shifts, and
the seeded reference and current tables written as Parquet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SIDES = ("carnet", "carnet_stored", "evidently", "floor")
LABELS = {
    "carnet": "carnet: build_profile + detect_drift",
    "carnet_stored": "carnet, stored profile: load JSON + from_dict + detect_drift",
    "carnet_profile": "carnet: build + save the reference profile (preparation)",
    "evidently": "Evidently DataDriftPreset",
    "floor": "floor: numpy/scipy",
}
SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
SEED = 20240601
TARGET_ROWS = 1_000_000

NUMERIC = [
    "normal_a",
    "normal_b",
    "normal_c",
    "lognormal_a",
    "lognormal_b",
    "uniform_a",
    "uniform_b",
    "int_poisson",
    "int_uniform",
    "int_binomial",
]
CATEGORIES = {"cat_5": 5, "cat_10": 10, "cat_20": 20, "cat_35": 35, "cat_50": 50}
SHIFTED = {
    "normal_a": "mean + 0.5 sd",
    "normal_b": "sd x 1.5",
    "cat_10": "share of the top category + 20 points",
}


# -- data ------------------------------------------------------------------------------------
def category_shares() -> dict[str, Any]:
    """Fixed (seeded) category probabilities of each categorical column."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    return {name: rng.dirichlet(np.full(k, 2.0)) for name, k in CATEGORIES.items()}


def table(n: int, current: bool) -> Any:
    """One side's table as a pyarrow Table (``current``: with the three shifts)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng([SEED, n, int(current)])
    cols: dict[str, Any] = {
        "normal_a": rng.normal(10.0 + (0.5 * 2.0 if current else 0.0), 2.0, n),
        "normal_b": rng.normal(0.0, 1.5 if current else 1.0, n),
        "normal_c": rng.normal(-3.0, 5.0, n),
        "lognormal_a": rng.lognormal(0.0, 0.5, n),
        "lognormal_b": rng.lognormal(2.0, 1.0, n),
        "uniform_a": rng.uniform(0.0, 1.0, n),
        "uniform_b": rng.uniform(-100.0, 100.0, n),
        "int_poisson": rng.poisson(4.0, n),
        "int_uniform": rng.integers(0, 100, n),
        "int_binomial": rng.binomial(20, 0.3, n),
    }
    for name, p in category_shares().items():
        if current and name == "cat_10":
            top = int(np.argmax(p))
            q = p * (1.0 - (p[top] + 0.2)) / (1.0 - p[top])
            q[top] = p[top] + 0.2
            p = q / q.sum()
        labels = np.array([f"v{i:02d}" for i in range(len(p))])
        cols[name] = labels[rng.choice(len(p), size=n, p=p)]
    return pa.table({k: pa.array(v) for k, v in cols.items()})


def write_data(folder: Path, n: int) -> dict[str, Any]:
    """``reference.parquet``, ``current.parquet`` and ``meta.json`` of one size."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name, current in (("reference", False), ("current", True)):
        path = folder / f"{name}.parquet"
        pq.write_table(table(n, current), path)
        sizes[name] = path.stat().st_size
    meta = {
        "rows": n,
        "numeric": NUMERIC,
        "categorical": list(CATEGORIES),
        "shifted": SHIFTED,
        "seed": SEED,
        "parquet_bytes": sizes,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta
