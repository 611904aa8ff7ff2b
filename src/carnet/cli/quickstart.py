"""``carnet quickstart``: a guided first session on a bundled dataset, fully offline."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from carnet.cli.render import console, emit_json, get_client, given_uri, json_verb, refuse_server

__all__ = ["quickstart"]

PROJECT = "quickstart"
DATASET = "breast-cancer"
HOLDOUT = "breast-cancer-holdout"
MONITOR = "breast-cancer-prod"
MODEL = "breast-cancer-clf"


def _policy(holdout: str) -> dict[str, Any]:
    """The project's promotion policy: gates judged on rows no candidate trained on."""
    return {
        "name": "quickstart-production",
        "aliases": ["production"],
        "evaluation_data": holdout,
        "seed": 0,
        "intended_use": "A walkthrough of carnet on a bundled dataset; not for clinical use.",
        "limitations": "569 rows from one source; no sensitive attributes to check fairness on.",
        "gates": [
            {"metric": "roc_auc >= 0.95"},
            {"type": "non_regression", "metric": "roc_auc", "margin": 0.01},
            {
                "type": "explainability",
                "top_k": 5,
                "stability": {"n_bootstrap": 5, "min_rank_correlation": 0.5},
            },
            {"type": "stress"},
            {"type": "signature"},
            {"type": "approval", "required": 1},
        ],
    }


#: (run name, model section, preprocessing section) of the candidates trained
CANDIDATES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("logreg", {"name": "logistic_regression", "params": {"C": 1.0}}, {"scale": "standard"}),
    ("forest", {"name": "random_forest", "params": {"n_estimators": 200, "max_depth": 6}}, {}),
    ("hgb", {"name": "hist_gradient_boosting", "params": {"learning_rate": 0.1, "max_iter": 100}}, {}),
]


def _spec(ref: str, name: str, model: dict[str, Any], preprocess: dict[str, Any]) -> dict[str, Any]:
    """The training spec of one candidate on the dataset version ``ref``."""
    return {
        "dataset": ref,
        "task": "binary",
        "target": "target",
        "split": {"kind": "holdout", "test_size": 0.25},
        "preprocess": preprocess,
        "model": model,
        "seed": 42,
        "project": PROJECT,
        "name": name,
    }


@click.command()
@json_verb
def quickstart(ctx: click.Context, as_json: bool) -> None:
    """Version a dataset, train three models, promote the best, serve it, monitor it, check the ledger.

    Runs offline on scikit-learn's breast cancer dataset in under a minute: each candidate is a
    tracked `carnet train` run with metrics, bootstrap intervals, plots, reports and its model.
    The best one is registered and promoted to production through the project's policy
    (metric, non-regression, explainability, stress, signature and approval gates; the
    explainability gate uses SHAP when carnet[explain] is installed, else permutation importance),
    judged on a held-out dataset version. It is then served over HTTP on 127.0.0.1, and a monitor
    over the prediction log finds the drift of a shifted batch of traffic and opens an alert.

    \b
    Example:
      carnet quickstart
      carnet --uri /tmp/demo quickstart --json
    """
    from sklearn.datasets import load_breast_cancer

    uri = given_uri(ctx)
    out = console()
    started = time.perf_counter()
    refuse_server("carnet quickstart", uri)
    client = get_client(ctx, create=True)
    previous = _check_workspace(client)  # every precondition, before the first change
    if not as_json:
        if previous:
            out.print(
                f"[bold]carnet quickstart[/bold] continues in workspace {client.uri} (round {previous + 1}: "
                f"the earlier runs and model versions are kept; for a fresh start use "
                f"carnet --uri NEW_FOLDER quickstart)"
            )
        else:
            out.print(f"[bold]carnet quickstart[/bold] in the new workspace {client.uri}")

    frame = load_breast_cancer(as_frame=True).frame
    held = frame.sample(frac=0.25, random_state=0).sort_index()
    with tempfile.TemporaryDirectory(prefix="carnet-quickstart-") as tmp:
        csv = Path(tmp) / "breast_cancer.csv"
        frame.drop(held.index).to_csv(csv, index=False)
        version, created = client.add_dataset(
            csv,
            DATASET,
            project=PROJECT,
            source="sklearn.datasets.load_breast_cancer (75% of the rows)",
            description="Wisconsin diagnostic breast cancer (scikit-learn bundled dataset)",
        )
        csv_holdout = Path(tmp) / "breast_cancer_holdout.csv"
        held.to_csv(csv_holdout, index=False)
        holdout, _ = client.add_dataset(
            csv_holdout,
            HOLDOUT,
            project=PROJECT,
            source="sklearn.datasets.load_breast_cancer (the other 25%)",
            description="Rows kept out of training, to judge promotions on",
        )
    if not as_json:
        state = "registered" if created else "already registered as"
        out.print(
            f"dataset {state} [cyan]{version.ref}[/cyan]: {version.num_rows} rows x {version.num_columns} "
            f"columns, digest {version.digest[:23]}"
        )

    results = []
    for i, (name, model, preprocess) in enumerate(CANDIDATES, start=1):
        with _working(out if not as_json else None, f"training {name} ({i}/{len(CANDIDATES)})"):
            outcome = client.train(_spec(version.ref, name, model, preprocess))
        results.append(
            {
                "run_id": outcome.run_id,
                "name": name,
                "model": model["name"],
                **outcome.metrics,
                "roc_auc_ci": list(outcome.intervals.get("roc_auc", (float("nan"), float("nan")))),
            }
        )
    best = max(results, key=lambda r: r["roc_auc"])
    client.set_tag(best["run_id"], "quickstart", "best")
    governed = _govern(client, best["run_id"], holdout.ref, out if not as_json else None)
    served = monitored = None
    if governed["promoted"]:
        if not _has_monitor(client):  # made before the traffic: a monitor reads from its creation on
            _create_monitor(client, holdout.ref)
        served = _serve_demo(client, held.drop(columns=["target"]))
        monitored = _monitor_demo(client)
    verification = client.verify_audit()
    elapsed = time.perf_counter() - started
    if as_json:
        emit_json(
            {
                "workspace": client.uri,
                "round": previous + 1,
                "dataset": version.ref,
                "runs": results,
                "best_run": best["run_id"],
                "model": governed,
                "served": served,
                "monitor": monitored,
                "audit": {"ok": verification.ok, "events": verification.count},
                "seconds": round(elapsed, 2),
            }
        )
        return
    from rich.table import Table

    table = Table(
        "run",
        "model",
        "accuracy",
        "f1",
        "roc_auc (95% CI)",
        "log_loss",
        title=f"Holdout evaluation in {PROJECT!r}",
    )
    for r in results:
        low, high = r["roc_auc_ci"]
        table.add_row(
            r["run_id"][:12],
            r["model"],
            f"{r['accuracy']:.4f}",
            f"{r['f1']:.4f}",
            f"{r['roc_auc']:.4f} [{low:.3f}, {high:.3f}]",
            f"{r['log_loss']:.4f}",
            style="bold green" if r is best else None,
        )
    out.print(table)
    verdict = "[green]promoted[/green]" if governed["promoted"] else "[red]refused[/red]"
    out.print(f"model {governed['ref']} -> production: {verdict} ({governed['gates_passed']} gates passed)")
    if served is not None:
        out.print(
            f"served {MODEL}@production on {served['url']}: v2 predictions {served['v2_predictions']}, "
            f"MLflow /invocations {served['mlflow_predictions']} ({served['latency_ms']:.1f} ms per request)"
        )
    if monitored is not None:
        out.print(
            f"monitor {monitored['name']}: {len(monitored['windows'])} windows of the prediction log; "
            f"input drift share per window {monitored['drift_share']}, "
            f"estimated roc_auc {monitored['estimated_roc_auc']}; alerts: {monitored['alerts'] or 'none'}"
        )
    if verification.ok:
        out.print(f"audit ledger: [green]OK[/green], {verification.count} events verified")
    else:
        out.print(
            f"audit ledger: [red]BROKEN[/red] at event {verification.broken_seq}: {verification.reason}"
        )
    out.print(f"done in {elapsed:.1f}s. Next:")
    runs = [r["run_id"] for r in results]
    for line in next_steps(uri, best["run_id"], runs, version.ref, holdout.ref, governed):
        click.echo(f"  {line}")  # never wrapped: each line is a command to copy


def next_steps(
    uri: str | None, best: str, runs: list[str], dataset: str, holdout: str, governed: dict[str, Any]
) -> list[str]:
    """The commands that open what the quickstart made: reports, logs, metrics, lineage, explanations."""
    u = f"--uri {uri} " if uri else ""
    b = best[:12]
    ref = f"{MODEL}/{governed['version']}"
    return [
        f"carnet {u}runs show {b}                 # metrics, params, artifacts, the model",
        f"carnet {u}runs open {b}                 # the evaluation report in a browser",
        f"carnet {u}runs artifacts {b} -o report  # download the reports and plots, verified",
        f"carnet {u}runs log {b}                  # the training log",
        f"carnet {u}runs metrics {b}              # every metric (--plot metrics.png)",
        f"carnet {u}runs compare {' '.join(r[:12] for r in runs)} --only-diff",
        f"carnet {u}evaluate {b} {holdout}        # score the model on rows it never saw",
        f"carnet {u}explain {ref} {holdout} --rows 0-4 -o explain  # why it predicts what it does",
        f"carnet {u}stress {ref} {holdout} -o stress.html",
        f"carnet {u}lineage {dataset}             # what used the data, and what came of it",
        f"carnet {u}runs reproduce {b}",
        f"carnet {u}models show {MODEL}@production",
        f"carnet {u}models card {ref} --format html -o card.html",
        f"carnet {u}monitor show {MONITOR}",
        f"carnet {u}monitor report {MONITOR} -o monitor.html",
        f"carnet {u}audit log --subject run:{best}",
        f"carnet {u}serve {MODEL}@production --port 8080   # inference; the REST API is carnet server",
    ]


def _check_workspace(client: Any) -> int:
    """How many quickstarts this workspace has seen (0: none); refuses, before any change, a workspace
    whose model or monitor of the same name is not the quickstart's."""
    from carnet.errors import Conflict, NotFound

    fix = "run the quickstart in a fresh workspace: carnet --uri NEW_FOLDER quickstart"
    try:
        model = client.get_model(MODEL)
    except NotFound:
        model = None
    if model is not None and model.project != PROJECT:
        raise Conflict(f"model {MODEL!r} exists in project {model.project!r}, not {PROJECT!r}; {fix}")
    if _has_monitor(client):
        monitor = client.services.monitoring.get(MONITOR)
        if monitor.model != f"{MODEL}@production":
            raise Conflict(f"monitor {MONITOR!r} watches {monitor.model}, not {MODEL}@production; {fix}")
    if model is None:
        return 0
    return len(client.model_versions(MODEL))


@contextmanager
def _working(out: Any, text: str) -> Iterator[None]:
    """A spinner on the console ``out`` while the work runs (none without a console: JSON output)."""
    if out is None:
        yield
        return
    with out.status(text):
        yield


def _has_monitor(client: Any) -> bool:
    """Whether the workspace has the quickstart's monitor."""
    return any(m.name == MONITOR for m in client.services.monitoring.list())


def _govern(client: Any, run_id: str, holdout: str, out: Any) -> dict[str, Any]:
    """Register the best run's model and promote it to production through the project policy."""
    from carnet.errors import GateFailed

    mv = client.register_model(run_id, MODEL, description="best of the quickstart candidates")
    if client.services.promotion.project_policy(PROJECT) is None:
        client.set_policy(_policy(holdout), project=PROJECT)
    client.approve(MODEL, mv.version, comment="quickstart walkthrough")
    with _working(out, "running the promotion gates"):
        try:
            promotion = client.promote(MODEL, mv.version, "production")
        except GateFailed as exc:
            promotion = exc.promotion
    return {
        "ref": mv.ref,
        "version": mv.version,
        "promoted": promotion.applied,
        "gates_passed": f"{sum(r.passed for r in promotion.results)}/{len(promotion.results)}",
        "gates": [{"gate": r.gate, "passed": r.passed, "measured": r.measured} for r in promotion.results],
    }


def _create_monitor(client: Any, reference: str) -> None:
    """The monitor over the production model's prediction log (made on the first round)."""
    client.services.monitoring.create(
        {
            "name": MONITOR,
            "model": f"{MODEL}@production",
            "reference": reference,
            "target": "target",
            "window": "150rows",
            "rules": ["drift.share_drifted > 0.15"],
        }
    )


def _monitor_demo(client: Any) -> dict[str, Any]:
    """One pass of the monitor over the traffic just served, and what it found."""
    service = client.services.monitoring
    result = service.run(MONITOR, flush=True)
    return {
        "name": MONITOR,
        "windows": [w.to_dict() for w in result.windows],
        "drift_share": [round(w.metrics.get("drift.share_drifted", 0.0), 2) for w in result.windows],
        "estimated_roc_auc": [
            round(w.metrics["performance.estimated.roc_auc"], 3)
            for w in result.windows
            if "performance.estimated.roc_auc" in w.metrics
        ],
        "alerts": [f"#{t.alert.id} {t.kind}: {t.alert.rule}" for t in result.transitions],
    }


def _serve_demo(client: Any, rows: Any) -> dict[str, Any]:
    """Serve the production model on a free local port, send it requests (logged), stop it."""
    everything, rows = rows, rows.head(3)
    import json
    import urllib.request

    from carnet.server.background import serve_in_thread

    background = serve_in_thread(client.services, [f"{MODEL}@production"], log_predictions=True)
    url = background.url

    def post(path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            url + path, json.dumps(body).encode(), {"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own local server
            return json.loads(response.read())

    try:
        records = json.loads(rows.to_json(orient="records"))
        post("/invocations", {"dataframe_records": records[:1]})  # warm-up, not timed
        started = time.perf_counter()
        v2 = [
            post(
                f"/v2/models/{MODEL}/infer",
                {
                    "inputs": [
                        {"name": c, "shape": [1], "datatype": "FP64", "data": [r[c]]} for c in rows.columns
                    ]
                },
            )
            for r in records
        ]
        latency = (time.perf_counter() - started) * 1000 / len(records)
        mlflow = post("/invocations", {"dataframe_records": records})
        # production traffic for the monitor: the held-out rows, then a shifted copy (a new scanner
        # reporting sizes 40 % larger)
        post("/invocations", {"dataframe_split": json.loads(everything.to_json(orient="split", index=False))})
        drifted = everything.copy()
        for column in [c for c in drifted.columns if c.endswith(("radius", "perimeter", "area"))]:
            drifted[column] = drifted[column] * 1.4
        post("/invocations", {"dataframe_split": json.loads(drifted.to_json(orient="split", index=False))})
    finally:
        background.stop()
    return {
        "url": url,
        "v2_predictions": [o["data"][0] for r in v2 for o in r["outputs"] if o["name"] == "predict"],
        "mlflow_predictions": mlflow["predictions"],
        "latency_ms": latency,
    }
