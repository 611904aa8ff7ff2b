"""The Evidently side of ``benchmarks/bench_drift.py``, run by ``.bench-evidently-venv/bin/python``.

Evidently 0.7's ``DataDriftPreset`` with its default methods (for more than 1,000 rows: the
normed Wasserstein distance for numeric columns and the Jensen-Shannon distance for categorical
ones, both at 0.1) on the two DataFrames, each wrapped in a ``Dataset`` with a
``DataDefinition`` declaring the numeric and categorical columns. The timed part is
``report.run(current, reference)`` plus reading the per-column verdicts out of the snapshot's
dict; wrapping the DataFrames is timed apart (``prepare_s``). The report asks for the preset's
tests (``include_tests=True``): the per-column ``ValueDriftTest`` status (FAIL = drifted) is
Evidently's own verdict.

    .bench-evidently-venv/bin/python benchmarks/_drift_evidently.py --data DIR --out result.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _drift_floor import measure, read_meta  # noqa: E402


def _column(config: dict[str, Any]) -> str | None:
    params = config.get("params", config)
    return params.get("column") if "ValueDrift" in str(params.get("type", "")) else None


def verdicts(snapshot: Any) -> dict[str, Any]:
    """Per-column drift flags, scores and methods from the snapshot's dict."""
    doc = snapshot.dict()
    scores: dict[str, float] = {}
    methods: dict[str, str] = {}
    thresholds: dict[str, float] = {}
    for m in doc.get("metrics", []):
        col = _column(m.get("config", {}))
        if col is not None:
            scores[col] = float(m["value"])
            methods[col] = str(m["config"].get("method"))
            thresholds[col] = float(m["config"].get("threshold"))
    drifted: dict[str, bool] = {}
    for t in doc.get("tests", []):
        col = _column(t.get("metric_config", {}))
        if col is not None:
            drifted[col] = t["status"] != "SUCCESS"
    for col, score in scores.items():  # without tests: p-values drift below, distances at or above
        if col not in drifted:
            p_value = "p_value" in methods[col]
            drifted[col] = score < thresholds[col] if p_value else score >= thresholds[col]
    return {"drifted": drifted, "scores": scores, "methods": methods}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder with reference.parquet, current.parquet, meta.json")
    p.add_argument("--out", required=True, help="where the figures go (JSON)")
    p.add_argument("--warmup", type=int, default=2000, help="rows of the untimed warm-up (0: none)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    import evidently
    import numpy as np
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    import_s = time.perf_counter() - t0
    data = Path(args.data)
    meta = read_meta(data)
    definition = DataDefinition(numerical_columns=meta["numeric"], categorical_columns=meta["categorical"])

    def read() -> tuple[Any, Any]:
        return pd.read_parquet(data / "reference.parquet"), pd.read_parquet(data / "current.parquet")

    def wrap(ref: Any, cur: Any) -> tuple[Any, Any]:
        return (
            Dataset.from_pandas(ref, data_definition=definition),
            Dataset.from_pandas(cur, data_definition=definition),
        )

    def run(prepared: tuple[Any, Any, Any, Any]) -> dict[str, Any]:
        report = Report([DataDriftPreset()], include_tests=True)
        t0 = time.perf_counter()
        snapshot = report.run(prepared[3], prepared[2])  # current first, then the reference
        run_s = time.perf_counter() - t0
        return verdicts(snapshot) | {"run_s": run_s}

    def warm(prepared: tuple[Any, Any, Any, Any]) -> None:
        if args.warmup:  # above 1,000 rows, so that the preset picks the same methods as on the data
            ref, cur = prepared[0].head(args.warmup), prepared[1].head(args.warmup)
            run((ref, cur, *wrap(ref, cur)))

    measure(
        "evidently",
        Path(args.out),
        import_s,
        read,
        run,
        warm,
        {"versions": {"evidently": evidently.__version__, "pandas": pd.__version__, "numpy": np.__version__}},
        prepare=lambda frames: (*frames, *wrap(*frames)),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
