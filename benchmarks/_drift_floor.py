"""The floor of ``benchmarks/bench_drift.py``: data drift in plain numpy/scipy, no carnet.

It computes the statistics carnet computes by default, in the most direct way: for every
numeric column the Wasserstein distance normalised by the reference's standard deviation
(``scipy.stats.wasserstein_distance(ref, cur) / ref.std()``, drifted at >= 0.1), for every
categorical column a chi-square test of the 2 x k contingency table of category counts
(``scipy.stats.chi2_contingency``, drifted at p < 0.05). No caching, no profile.

The module also holds what every side's worker shares (stdlib only at import time, so the
Evidently worker imports it from its own venv): the memory probes and the measurement protocol.

    python benchmarks/_drift_floor.py --data DIR --out result.json [--warmup 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WASSERSTEIN_THRESHOLD = 0.1  # normalised Wasserstein distance: drifted at >= this
P_VALUE_THRESHOLD = 0.05  # chi-square p-value: drifted below this


# -- shared by the workers ------------------------------------------------------------------
def _status_kb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """Resident memory of this process now (VmRSS), MB."""
    kb = _status_kb("VmRSS")
    return (kb if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM), MB.

    The same figure as ``getrusage(RUSAGE_SELF).ru_maxrss`` for a process that owns its memory
    from the start, but ``ru_maxrss`` of a child started by vfork + exec (Python's subprocess)
    also holds the parent's high-water mark: VmHWM does not, and can be reset (``reset_peak``).
    """
    kb = _status_kb("VmHWM")
    return (kb if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_meta(data: Path) -> dict[str, Any]:
    """``meta.json`` of a data folder: rows, numeric / categorical / shifted column names."""
    return dict(json.loads((data / "meta.json").read_text()))


def measure(
    side: str,
    out: Path,
    import_s: float,
    read: Callable[[], Any],
    compute: Callable[[Any], dict[str, Any]],
    warm: Callable[[Any], Any] | None = None,
    extra: dict[str, Any] | None = None,
    prepare: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Run one side once and write its figures to ``out`` (JSON).

    ``read`` loads the data (timed: ``read_s``); ``prepare`` (timed apart: ``prepare_s``, not part
    of ``compute_s``) turns it into what ``compute`` takes, when a tool needs a wrapper; ``warm``
    (untimed) runs the computation on a small slice first, so that lazy imports and first-call
    set-up are not timed; then the peak-memory mark is reset and ``compute`` (timed:
    ``compute_s``, and its CPU time ``compute_cpu_s``, all threads) returns ``{"drifted": {column:
    bool}, "scores": {column: float}, ...}``.
    Memory: ``baseline_mb`` is the RSS after imports, reading and warm-up; ``compute_mb`` the peak
    during the computation minus that baseline; ``peak_mb`` the whole process's peak.
    """
    t0 = time.perf_counter()
    data = read()
    read_s = time.perf_counter() - t0
    rss_read = rss_mb()
    t0 = time.perf_counter()
    if prepare is not None:
        data = prepare(data)
    prepare_s = time.perf_counter() - t0
    if warm is not None:
        warm(data)
    baseline = rss_mb()
    peak_before = peak_mb()
    resettable = reset_peak()
    c0, t0 = cpu_s(), time.perf_counter()
    result = compute(data)
    compute_s = time.perf_counter() - t0
    compute_cpu_s = cpu_s() - c0
    peak_compute = peak_mb()
    record = {
        "side": side,
        "import_s": import_s,
        "read_s": read_s,
        "prepare_s": prepare_s,
        "compute_s": compute_s,
        "compute_cpu_s": compute_cpu_s,
        "rss_after_read_mb": rss_read,
        "baseline_mb": baseline,
        "peak_mb": max(peak_before, peak_compute),
        # with the mark reset, the peak during the computation; else the increment of the process's peak
        "compute_mb": max(0.0, peak_compute - (baseline if resettable else peak_before)),
        "peak_reset": resettable,
        "ru_maxrss_mb": maxrss_mb(),
        **(extra or {}),
        **result,
    }
    record["drifted"] = {k: bool(v) for k, v in record["drifted"].items()}
    out.write_text(json.dumps(record, default=float))
    return record


# -- the floor ------------------------------------------------------------------------------
def drift(ref: Any, cur: Any, numeric: list[str], categorical: list[str]) -> dict[str, Any]:
    """Per-column scores and flags of two pandas DataFrames."""
    import numpy as np
    from scipy.stats import chi2_contingency, wasserstein_distance

    scores: dict[str, float] = {}
    drifted: dict[str, bool] = {}
    for col in numeric:
        r = ref[col].to_numpy(dtype=np.float64)
        c = cur[col].to_numpy(dtype=np.float64)
        std = r.std()
        score = wasserstein_distance(r, c) / (std if std > 0 else 1.0)
        scores[col], drifted[col] = float(score), bool(score >= WASSERSTEIN_THRESHOLD)
    for col in categorical:
        rc = ref[col].value_counts()
        cc = cur[col].value_counts()
        cats = rc.index.union(cc.index)
        table = np.vstack([rc.reindex(cats, fill_value=0), cc.reindex(cats, fill_value=0)])
        p = chi2_contingency(table).pvalue if len(cats) > 1 else 1.0
        scores[col], drifted[col] = float(p), bool(p < P_VALUE_THRESHOLD)
    return {"drifted": drifted, "scores": scores}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder with reference.parquet, current.parquet, meta.json")
    p.add_argument("--out", required=True, help="where the figures go (JSON)")
    p.add_argument("--warmup", type=int, default=2000, help="rows of the untimed warm-up (0: none)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd
    import scipy.stats

    import_s = time.perf_counter() - t0
    data = Path(args.data)
    meta = read_meta(data)
    num, cat = meta["numeric"], meta["categorical"]

    def read() -> tuple[Any, Any]:
        return pd.read_parquet(data / "reference.parquet"), pd.read_parquet(data / "current.parquet")

    def warm(frames: tuple[Any, Any]) -> None:
        if args.warmup:
            drift(frames[0].head(args.warmup), frames[1].head(args.warmup), num, cat)

    measure(
        "floor",
        Path(args.out),
        import_s,
        read,
        lambda frames: drift(frames[0], frames[1], num, cat),
        warm,
        {"versions": {"pandas": pd.__version__, "numpy": np.__version__, "scipy": scipy.__version__}},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
