"""``carnet quickstart``: a guided first session on a bundled dataset, fully offline."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from carnet.cli.render import console, emit_json, handle_errors, json_option

__all__ = ["quickstart"]

PROJECT = "quickstart"
DATASET = "breast-cancer"


def _candidates() -> list[tuple[str, dict[str, Any], Any]]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        (
            "logreg",
            {"model": "logistic_regression", "C": 1.0},
            make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500)),
        ),
        (
            "forest",
            {"model": "random_forest", "n_estimators": 200, "max_depth": 6},
            RandomForestClassifier(n_estimators=200, max_depth=6, random_state=0, n_jobs=1),
        ),
        (
            "hgb",
            {"model": "hist_gradient_boosting", "learning_rate": 0.1, "max_iter": 100},
            HistGradientBoostingClassifier(learning_rate=0.1, max_iter=100, random_state=0),
        ),
    ]


def _train(
    run: Any, estimator: Any, X_train: Any, X_test: Any, y_train: Any, y_test: Any
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score

    estimator.fit(X_train, y_train)
    proba = estimator.predict_proba(X_test)[:, 1]
    pred = (proba >= 0.5).astype(int)
    metrics = {
        "accuracy": float(accuracy_score(y_test, pred)),
        "f1": float(f1_score(y_test, pred)),
        "roc_auc": float(roc_auc_score(y_test, proba)),
        "log_loss": float(log_loss(y_test, proba)),
    }
    if hasattr(estimator, "staged_predict_proba"):  # learning curve for boosting
        for i, p in enumerate(estimator.staged_predict_proba(X_test)):
            run.log_metric("test_log_loss", float(log_loss(y_test, p[:, 1])), step=i)
    run.log_metrics(metrics)
    _log_roc_plot(run, y_test, proba, metrics["roc_auc"])
    run.log_dict(
        {"labels": [0, 1], "matrix": confusion_matrix(y_test, pred).tolist()},
        "evaluation/confusion_matrix.json",
    )
    return metrics


def _log_roc_plot(run: Any, y_true: Any, proba: Any, auc: float) -> None:
    """Store the ROC curve of the test split as ``plots/roc_curve.png``."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_true, proba)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.plot(fpr, tpr, label=f"{run.name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (test split)")
    ax.legend(loc="lower right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    run.log_bytes(buf.getvalue(), "plots/roc_curve.png")


@click.command()
@json_option
@click.pass_context
@handle_errors
def quickstart(ctx: click.Context, as_json: bool) -> None:
    """Create a workspace, version a bundled dataset, track three models, verify the ledger.

    Runs offline on scikit-learn's breast cancer dataset in a few seconds.

    \b
    Example:
      carnet quickstart
      carnet --uri /tmp/demo quickstart --json
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from carnet.client import Client, start_run

    obj = ctx.find_root().obj or {}
    uri, artifacts = obj.get("uri"), obj.get("artifacts")
    out = console()
    started = time.perf_counter()
    client = Client(uri, artifacts=artifacts)
    ctx.call_on_close(client.close)
    if not as_json:
        out.print(f"[bold]carnet quickstart[/bold] in workspace {client.uri}")

    frame = load_breast_cancer(as_frame=True).frame
    with tempfile.TemporaryDirectory(prefix="carnet-quickstart-") as tmp:
        csv = Path(tmp) / "breast_cancer.csv"
        frame.to_csv(csv, index=False)
        version, created = client.add_dataset(
            csv,
            DATASET,
            project=PROJECT,
            source="sklearn.datasets.load_breast_cancer",
            description="Wisconsin diagnostic breast cancer (scikit-learn bundled dataset)",
        )
    if not as_json:
        state = "registered" if created else "already registered as"
        out.print(
            f"dataset {state} [cyan]{version.ref}[/cyan]: {version.num_rows} rows x {version.num_columns} "
            f"columns, digest {version.digest[:23]}"
        )

    X, y = frame.drop(columns=["target"]), frame["target"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
    results = []
    from contextlib import nullcontext

    candidates = _candidates()
    for i, (name, params, estimator) in enumerate(candidates, start=1):
        status = out.status(f"training {name} ({i}/{len(candidates)})") if not as_json else nullcontext()
        with (
            status,
            start_run(
                project=PROJECT,
                name=name,
                uri=uri,
                artifacts=artifacts,
                seed=42,
                params=params,
                capture_output=False,
            ) as run,
        ):
            run.log_input(version.ref)
            run.set_tag("source", "quickstart")
            metrics = _train(run, estimator, X_train, X_test, y_train, y_test)
            run.log_text(json.dumps(params, indent=2), "model/params.json")
        results.append({"run_id": run.id, "name": name, **params, **metrics})
    verification = client.verify_audit()
    best = max(results, key=lambda r: r["roc_auc"])
    elapsed = time.perf_counter() - started
    if as_json:
        emit_json(
            {
                "workspace": client.uri,
                "dataset": version.ref,
                "runs": results,
                "best_run": best["run_id"],
                "audit": {"ok": verification.ok, "events": verification.count},
                "seconds": round(elapsed, 2),
            }
        )
        return
    from rich.table import Table

    table = Table(
        "run", "model", "accuracy", "f1", "roc_auc", "log_loss", title=f"Runs in project {PROJECT!r}"
    )
    for r in results:
        style = "bold green" if r is best else None
        table.add_row(
            r["run_id"][:12],
            r["model"],
            f"{r['accuracy']:.4f}",
            f"{r['f1']:.4f}",
            f"{r['roc_auc']:.4f}",
            f"{r['log_loss']:.4f}",
            style=style,
        )
    out.print(table)
    if verification.ok:
        out.print(f"audit ledger: [green]OK[/green], {verification.count} events verified")
    else:
        out.print(
            f"audit ledger: [red]BROKEN[/red] at event {verification.broken_seq}: {verification.reason}"
        )
    u = f"--uri {uri} " if uri else ""
    out.print(f"done in {elapsed:.1f}s. Next:")
    out.print(f"  carnet {u}runs list --project {PROJECT} --order-by 'metrics.roc_auc desc'")
    out.print(f"  carnet {u}runs show {best['run_id']}")
    out.print(f"  carnet {u}runs compare {' '.join(r['run_id'][:32] for r in results)} --only-diff")
    out.print(f"  carnet {u}data show {DATASET}")
    out.print(f"  carnet {u}audit log --subject run:{best['run_id']}")
