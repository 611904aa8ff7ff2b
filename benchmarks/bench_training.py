"""Overhead of a tracked ``carnet train`` against the same raw scikit-learn code, side by side.

Generates a 200,000-row binary classification table (numeric and categorical
columns), then alternately runs, each in a fresh process:

* raw: pandas read of the same Parquet file, the same holdout split, the same
  preprocessing and HistGradientBoostingClassifier, predict_proba, ROC AUC;
* carnet: ``carnet train spec.yaml`` through the SDK on a fresh workspace with the
  dataset already registered (what a user runs), which also evaluates with bootstrap
  intervals, draws plots, writes reports and stores the model.

Target: carnet's overhead (the median over repeats of carnet's time minus the raw time of
the same repeat) <= 5 % of the raw fit time + 1 s.

    python benchmarks/bench_training.py [--rows 200000] [--repeat 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

RAW = textwrap.dedent(
    """
    import sys, time, json
    t0 = time.perf_counter()
    import numpy as np, pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    frame = pd.read_parquet(sys.argv[1])
    y = frame.pop("target")
    num = [c for c in frame.columns if c.startswith("x")]
    cat = [c for c in frame.columns if c.startswith("c")]
    Xtr, Xte, ytr, yte = train_test_split(frame, y, test_size=0.2, random_state=0, stratify=y)
    pre = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), num),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", max_categories=50,
                                            sparse_output=False)), cat),
    ])
    model = Pipeline([("preprocess", pre), ("model", HistGradientBoostingClassifier(random_state=0))])
    t1 = time.perf_counter()
    model.fit(Xtr, ytr)
    fit = time.perf_counter() - t1
    auc = roc_auc_score(yte, model.predict_proba(Xte)[:, 1])
    print(json.dumps({"seconds": time.perf_counter() - t0, "fit_seconds": fit, "auc": auc}))
    """
)

CARNET = textwrap.dedent(
    """
    import sys, time, json
    t0 = time.perf_counter()
    import carnet
    client = carnet.Client(sys.argv[1])
    outcome = client.train(open(sys.argv[2]).read())
    print(json.dumps({"seconds": time.perf_counter() - t0, "auc": outcome.metrics.get("roc_auc")}))
    """
)

SPEC = """
dataset: bench@1
task: binary
target: target
split: {kind: holdout, test_size: 0.2}
preprocess: {impute_numeric: median, impute_categorical: most_frequent, encode: onehot, scale: none}
model: {name: hist_gradient_boosting}
seed: 0
project: bench
"""


def make_data(path: Path, rows: int) -> None:
    """A reproducible table: 20 numeric columns, 4 categorical, a nonlinear binary target."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 20))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
    for i in range(4):
        frame[f"c{i}"] = rng.choice([f"v{j}" for j in range(8 + i * 4)], size=rows)
    logit = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) * 2 + X[:, 3] - (frame["c0"] == "v1") * 1.5
    frame["target"] = (logit + rng.normal(scale=1.0, size=rows) > 0).astype(int)
    frame.loc[rng.choice(rows, rows // 50, replace=False), "x5"] = np.nan
    frame.to_parquet(path)


def run(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carnet-bench-train-") as tmp:
        root = Path(tmp)
        data = root / "bench.parquet"
        make_data(data, opts.rows)
        (root / "raw.py").write_text(RAW)
        (root / "carnet_train.py").write_text(CARNET)
        (root / "spec.yaml").write_text(SPEC)
        raw_s, carnet_s, fits = [], [], []
        for i in range(opts.repeat):
            ws = root / f"ws{i}"
            import carnet

            with carnet.Client(str(ws)) as c:  # registration is setup, not measured
                c.add_dataset(data, "bench", project="bench")
            r = run([str(root / "raw.py"), str(data)])
            c_ = run([str(root / "carnet_train.py"), str(ws), str(root / "spec.yaml")])
            raw_s.append(r["seconds"])
            fits.append(r["fit_seconds"])
            carnet_s.append(c_["seconds"])
            print(
                f"repeat {i + 1}: raw {r['seconds']:.2f}s (fit {r['fit_seconds']:.2f}s, auc {r['auc']:.4f}); "
                f"carnet {c_['seconds']:.2f}s (auc {c_['auc']:.4f})",
                flush=True,
            )
        raw, tracked, fit = statistics.median(raw_s), statistics.median(carnet_s), statistics.median(fits)
        # each carnet run is compared with the raw run just before it: slow phases of the
        # shared machine then fall on both sides of a pair
        paired = statistics.median(c - r for c, r in zip(carnet_s, raw_s, strict=True))
        overhead = paired
        limit = 0.05 * fit + 1.0
        verdict = "PASS" if overhead <= limit else "FAIL"
        print(f"\nrows {opts.rows}: raw {raw:.2f}s, carnet train {tracked:.2f}s, fit {fit:.2f}s")
        print(f"difference of the medians {tracked - raw:.2f}s")
        print(
            f"overhead (median of paired differences) {overhead:.2f}s; "
            f"target <= 5% of fit + 1 s = {limit:.2f}s: {verdict}"
        )
        if opts.json:
            opts.json.write_text(
                json.dumps(
                    {
                        "rows": opts.rows,
                        "raw": raw_s,
                        "carnet": carnet_s,
                        "fit": fits,
                        "overhead": overhead,
                        "difference_of_medians": tracked - raw,
                        "limit": limit,
                        "result": verdict,
                    },
                    indent=2,
                )
            )
        return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
