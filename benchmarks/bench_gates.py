"""Time a full gated promotion of a LightGBM candidate on a 100,000-row evaluation set.

Builds a fresh workspace with a generated table (a training version of 50,000 rows and an
evaluation version of 100,000 rows, numeric and categorical columns, a sensitive column),
trains two LightGBM versions through ``carnet train``, puts the first in production and
runs ``promote --dry-run`` of the second with every gate: metric thresholds,
non-regression (paired bootstrap), fairness, explainability with SHAP TreeExplainer and
its stability check, all stress scenarios, signature compatibility and approval.

Target: the gate evaluation completes in under a minute.

    python benchmarks/bench_gates.py [--rows 100000] [--repeat 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SPEC = """
dataset: bench-train@1
task: binary
target: target
features: {{exclude: [customer_id]}}
split: {{kind: holdout, test_size: 0.2}}
model: {{name: lightgbm, params: {{n_estimators: {trees}, num_leaves: 31, verbose: -1}}}}
seed: 0
project: bench
"""

POLICY = {
    "name": "bench",
    "evaluation_data": "bench-eval@1",
    "seed": 0,
    "gates": [
        {"metric": "roc_auc >= 0.7"},
        {"metric": "ece <= 0.1"},
        {"type": "non_regression", "metric": "roc_auc", "margin": 0.01},
        {"type": "fairness", "sensitive": ["group"], "max_demographic_parity_difference": 0.5},
        {
            "type": "explainability",
            "method": "shap",
            "forbidden": ["group"],
            "top_k": 3,
            "stability": {"n_bootstrap": 5, "min_rank_correlation": 0.5},
        },
        {
            "type": "stress",
            "scenarios": [
                {"type": "gaussian_noise", "scale": 0.1, "max_degradation": 0.05, "relative": True},
                {"type": "missing_values", "fraction": 0.1, "max_degradation": 0.05, "relative": True},
                {"type": "out_of_range", "factor": 1.5, "fraction": 0.05, "max_degradation": 0.1},
                {"type": "unseen_categories", "fraction": 0.1, "max_degradation": 0.05, "relative": True},
                {"type": "subpopulation", "column": "plan", "value": "pro", "max_degradation": 0.1},
                {"type": "subpopulation", "column": "x0", "quantile": [0.0, 0.25], "max_degradation": 0.2},
            ],
        },
        {"type": "signature"},
        {"type": "approval", "required": 1},
    ],
}


def make_table(rows: int, seed: int) -> Any:
    """Generated churn-like rows: 12 numeric, 3 categorical, a sensitive group, an id."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 12))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(12)])
    frame["plan"] = rng.choice(["basic", "plus", "pro", "team"], size=rows)
    frame["region"] = rng.choice([f"r{i}" for i in range(12)], size=rows)
    frame["channel"] = rng.choice(["web", "store", "phone"], size=rows)
    frame["group"] = rng.choice(["a", "b"], size=rows)
    frame["customer_id"] = np.arange(rows) + seed * 10_000_000
    logit = X[:, 0] * 1.2 - X[:, 1] + np.sin(X[:, 2]) + (frame["plan"] == "pro") * 0.8 - 0.3
    frame["target"] = (logit + rng.normal(scale=1.0, size=rows) > 0).astype(int)
    frame.loc[rng.choice(rows, rows // 40, replace=False), "x3"] = np.nan
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the evaluation set")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path)
    opts = parser.parse_args()

    import carnet

    with tempfile.TemporaryDirectory(prefix="carnet-bench-gates-") as tmp:
        root = Path(tmp)
        make_table(max(opts.rows // 2, 1000), seed=1).to_parquet(root / "train.parquet")
        make_table(opts.rows, seed=2).to_parquet(root / "eval.parquet")
        client = carnet.Client(str(root / "ws"))
        client.add_dataset(root / "train.parquet", "bench-train", project="bench")
        client.add_dataset(root / "eval.parquet", "bench-eval", project="bench")
        first = client.train(SPEC.format(trees=100)).run_id
        second = client.train(SPEC.format(trees=200)).run_id
        client.register_model(first, "bench-model")
        client.register_model(second, "bench-model")
        client.set_model_alias("bench-model", "production", 1)
        client.set_policy(POLICY, model="bench-model")
        client.approve("bench-model", 2, comment="benchmark")
        seconds: list[float] = []
        result = None
        for i in range(opts.repeat):
            started = time.perf_counter()
            result = client.promote("bench-model", 2, "production", dry_run=True)
            seconds.append(time.perf_counter() - started)
            print(f"repeat {i + 1}: {seconds[-1]:.1f} s", flush=True)
        client.close()
    assert result is not None
    median = statistics.median(seconds)
    verdict = "PASS" if median < 60 else "FAIL"
    print(
        f"\n{opts.rows} evaluation rows, {len(result.results)} gates: "
        f"{median:.1f} s (target < 60 s): {verdict}"
    )
    for r in result.results:
        print(f"  {r.gate:32s} {'pass' if r.passed else 'FAIL'}  {r.measured}  ({r.threshold})")
    if opts.json:
        opts.json.write_text(
            json.dumps(
                {
                    "rows": opts.rows,
                    "seconds": seconds,
                    "median": median,
                    "result": verdict,
                    "gates": [
                        {"gate": r.gate, "passed": r.passed, "measured": r.measured} for r in result.results
                    ],
                },
                indent=2,
            )
        )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
