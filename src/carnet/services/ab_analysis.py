"""A/B analysis of an endpoint whose deployment splits traffic between versions (read-only).

The current deployment's routes are the arms: the first route is the *control*, the others are
*challengers*; shadows answer the same requests (paired, not randomised), so they are shown apart
and never tested. The prediction log of the endpoint gives each arm's rows; ground-truth labels
added with ``carnet monitor labels add`` are joined on ``(request_id, row)``, and each labelled row
becomes one outcome of the chosen metric (:mod:`carnet.monitoring.ab`). Each challenger is
compared with the control by the always-valid mSPRT (alpha split evenly between challengers).

Rows without a label get label-free estimates instead (CBPE for classifiers, DLE for regressors,
fitted on the labelled reference of a monitor of the arm's model, else on the version's training
dataset), and the arms' prediction distributions are compared with the drift engine; both are
marked ``estimated``. Nothing is written, so nothing is audited.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from carnet.domain import ModelVersion
from carnet.domain.monitors import since_time
from carnet.errors import CarnetError, InvalidInput
from carnet.monitoring.ab import (
    METHOD,
    MIN_SAMPLES,
    Comparison,
    RowMetric,
    check_settings,
    compare,
    expected_outcomes,
    overall_decision,
    row_metric,
    row_outcomes,
    sample_ratio,
    summarize,
)
from carnet.services.context import ServiceContext
from carnet.services.datasets import DatasetService
from carnet.services.deployments import DeploymentService
from carnet.services.registry import RegistryService
from carnet.tasks import version_family

__all__ = ["ABAnalysisService"]

_OUTPUT = "output."
#: reference rows a label-free estimator is fitted on, at most (a seeded sample beyond)
_REFERENCE_ROWS = 20_000
#: labelled reference rows an estimator needs
_MIN_REFERENCE = 100


@dataclass
class _Arm:
    """One arm: the route (or shadow) reference, the version it names, its weight and its rows."""

    ref: str
    version: ModelVersion
    weight: float
    role: str
    rows: Any = None

    @property
    def name(self) -> str:
        return self.version.ref


class ABAnalysisService:
    """Per-arm metrics, the always-valid comparison and label-free estimates of a live A/B split."""

    def __init__(
        self,
        ctx: ServiceContext,
        registry: RegistryService,
        datasets: DatasetService,
        deployments: DeploymentService,
    ) -> None:
        self.ctx = ctx
        self.registry = registry
        self.datasets = datasets
        self.deployments = deployments
        self._estimators: dict[tuple[str, str, str], Any] = {}

    def analyse(
        self,
        endpoint: str,
        metric: str | None = None,
        alpha: float = 0.05,
        mde: float | None = None,
        since: str | float | None = None,
        power: float = 0.8,
    ) -> dict[str, Any]:
        """The A/B analysis of ``endpoint`` now (a JSON-ready dict; see the module doc).

        Args:
            endpoint: a deployed endpoint with at least two routes to different versions.
            metric: a per-row metric (accuracy, error_rate, log_loss, brier; mae, mse); default
                accuracy for classifiers, mse for regressors.
            alpha: the false-positive rate the test keeps however often it is read.
            mde: the smallest difference worth acting on (default: a tenth of a standard
                deviation of the per-row outcome).
            since: rows logged from then on: ``all``, a duration back from now (``7d``), a time
                (ISO 8601 or seconds); default: from when the last arm began receiving traffic.
            power: for the sample sizes.

        Raises:
            NotFound: no such endpoint (``field="endpoint"``).
            InvalidInput: fewer than two versions routed, versions of different task families,
                or a bad ``metric``, ``alpha``, ``mde``, ``since`` or ``power`` (named).
        """
        check_settings(alpha, mde, power)
        resolved = self.deployments.resolve(endpoint)
        arms = self._arms(resolved)
        routes = [a for a in arms if a.role != "shadow"]
        if len(routes) < 2:
            raise InvalidInput(
                f"endpoint {endpoint!r} routes its traffic to one version ({routes[0].name}); an A/B "
                "analysis needs two routes, e.g. routes: [{model: churn@production, weight: 50}, "
                "{model: churn/4, weight: 50}]",
                field="endpoint",
            )
        families = {version_family(a.version) for a in routes}
        if len(families) != 1:
            raise InvalidInput(
                f"the routes of {endpoint!r} are of different task families "
                f"({', '.join(map(str, families))})",
                field="endpoint",
            )
        family = families.pop()
        row_m = row_metric(metric, family)
        start = self._since(since)
        self._read_rows(endpoint, arms, start, inputs=family == "regression")
        if since is None:  # the experiment starts when its last arm began receiving traffic
            firsts = [float(a.rows["time"].min()) for a in routes if len(a.rows)]
            start = max(firsts) if len(firsts) == len(routes) else None
            if start is not None:
                for a in arms:
                    a.rows = a.rows[a.rows["time"].to_numpy(dtype=float) >= start].reset_index(drop=True)
        labels = self._labels({a.version.name for a in arms})
        control, challengers = routes[0], routes[1:]
        outcomes = {a.name: self._outcomes(a, labels, row_m) for a in arms}
        total = sum(a.weight for a in routes)
        arm_rows = []
        for a in arms:
            values, _ = outcomes[a.name]
            summary = summarize(a.name, values, kind=row_m.kind, alpha=alpha).to_dict()
            arm_rows.append(
                {
                    **summary,
                    "ref": a.ref,
                    "model": a.version.name,
                    "version": a.version.version,
                    "role": a.role,
                    "weight": a.weight,
                    "share": a.weight / total if a.role != "shadow" else 0.0,
                    "rows": len(a.rows),
                    "labeled_rows": len(values),
                    "estimated": False,
                }
            )
        each = alpha / len(challengers)
        comparisons: list[Comparison] = []
        for ch in challengers:
            (a_val, a_time), (b_val, b_time) = outcomes[control.name], outcomes[ch.name]
            comparisons.append(
                compare(
                    a_val,
                    b_val,
                    kind=row_m.kind,
                    greater_is_better=row_m.greater_is_better,
                    alpha=each,
                    mde=mde,
                    power=power,
                    share=control.weight / (control.weight + ch.weight)
                    if control.weight + ch.weight
                    else None,
                    control_times=a_time,
                    challenger_times=b_time,
                    names=(control.name, ch.name),
                )
            )
        decision, reason = overall_decision(comparisons)
        labeled = sum(r["labeled_rows"] for r in arm_rows if r["role"] != "shadow")
        if labeled == 0:
            reason = (
                "no labelled rows yet: the decision needs labels (carnet monitor labels add); estimates below"
            )
        notes = self._notes(resolved.deployment.sticky_header, challengers, row_m)
        traffic = sample_ratio(
            {a.name: int(a.rows["request_id"].nunique()) if len(a.rows) else 0 for a in routes},
            {a.name: a.weight for a in routes},
        )
        if traffic is not None and traffic["mismatch"]:
            observed = ", ".join(f"{k} {v:.1%}" for k, v in traffic["observed_share"].items())
            notes.insert(
                0,
                f"sample ratio mismatch: the routes got {observed} of the requests, unlike their weights "
                f"(p={traffic['p_value']:.2g}); check for changed weights, sticky callers or lost log "
                "files before trusting the comparison",
            )
        return {
            "endpoint": endpoint,
            "revision": resolved.deployment.revision,
            "sticky_header": resolved.deployment.sticky_header,
            "family": family,
            "metric": row_m.name,
            "metric_description": row_m.description,
            "greater_is_better": row_m.greater_is_better,
            "kind": row_m.kind,
            "alpha": float(alpha),
            "power": float(power),
            "since": start,
            "method": {**METHOD, "tau": comparisons[0].tau if comparisons else None},
            "arms": arm_rows,
            "comparisons": [c.to_dict() for c in comparisons],
            "decision": decision,
            "reason": reason,
            "estimates": self._estimates(arms, labels, row_m, family, alpha),
            "prediction_differences": self._prediction_differences(control, challengers, family),
            "traffic": traffic,
            "notes": notes,
        }

    # -- inputs ---------------------------------------------------------------------------------------
    def _arms(self, resolved: Any) -> list[_Arm]:
        """The routes (merged when two references name one version) and the shadows."""
        arms: dict[str, _Arm] = {}
        for i, r in enumerate(resolved.routes):
            role = "control" if not arms else "challenger"
            if r.version.ref in arms:
                arms[r.version.ref].weight += r.weight
            elif r.weight > 0 or i == 0:
                arms[r.version.ref] = _Arm(r.ref, r.version, float(r.weight), role)
        for s in resolved.shadows:
            arms.setdefault(s.version.ref, _Arm(s.ref, s.version, 0.0, "shadow"))
        return list(arms.values())

    def _since(self, since: str | float | None) -> float | None:
        if since is None or since == "all":
            return None
        if isinstance(since, str):
            try:
                return float(since)
            except ValueError:
                pass
        return since_time(since, self.ctx.clock())

    def _read_rows(self, endpoint: str, arms: list[_Arm], since: float | None, *, inputs: bool) -> None:
        """Each arm's prediction-log rows of ``endpoint`` logged at or after ``since`` (the input
        columns only when ``inputs``: a regressor's label-free estimate reads them)."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        by_key = {(a.version.name, a.version.version, a.role == "shadow"): a for a in arms}
        tables: dict[str, list[Any]] = {a.name: [] for a in arms}
        for f in self.deployments.prediction_files(endpoint=endpoint, since=since):
            arm = by_key.get((f.model, int(f.version), bool(f.shadow)))
            if arm is None:
                continue
            data = pq.ParquetFile(io.BytesIO(self.ctx.artifacts.get_bytes(f.digest)))
            names = [n for n in data.schema_arrow.names if inputs or not n.startswith("input.")]
            tables[arm.name].append(data.read(columns=names))
        for a in arms:
            parts = tables[a.name]
            frame = (
                pa.concat_tables(parts, promote_options="permissive").to_pandas()
                if parts
                else pd.DataFrame({"request_id": [], "row": [], "time": []})
            )
            if since is not None and len(frame):
                frame = frame[frame["time"].to_numpy(dtype=float) >= since]
            a.rows = frame.sort_values("time", kind="stable").reset_index(drop=True)

    def _labels(self, models: set[str]) -> Any:
        """Every label of ``models`` (and of no model): a frame of request_id, row, label; later wins."""
        import pandas as pd
        import pyarrow.parquet as pq

        seen: set[int] = set()
        frames = []
        with self.ctx.store.transaction(write=False) as tx:
            files = [f for m in sorted(models) for f in tx.monitors.label_files(m)]
        for f in sorted(files, key=lambda f: f.id):
            if f.id in seen:
                continue
            seen.add(f.id)
            frames.append(pq.read_table(io.BytesIO(self.ctx.artifacts.get_bytes(f.digest))).to_pandas())
        if not frames:
            return pd.DataFrame(
                {
                    "request_id": pd.Series([], dtype=object),
                    "row": pd.Series([], dtype="int64"),
                    "label": pd.Series([], dtype=object),
                }
            )
        out = pd.concat(frames, ignore_index=True)
        out["request_id"] = out["request_id"].astype(str)
        out["row"] = out["row"].astype("int64")
        return out.drop_duplicates(["request_id", "row"], keep="last").reset_index(drop=True)

    @staticmethod
    def _joined(rows: Any, labels: Any) -> Any:
        """The arm's rows with their label (``label`` missing where none was given)."""
        import pandas as pd

        if len(rows) == 0:
            return rows.assign(label=pd.Series([], dtype=object))
        keys = rows.assign(request_id=rows["request_id"].astype(str), row=rows["row"].astype("int64"))
        return keys.merge(labels, on=["request_id", "row"], how="left", sort=False)

    def _outcomes(self, arm: _Arm, labels: Any, metric: RowMetric) -> tuple[Any, Any]:
        """The per-row outcomes of the arm's labelled rows and their times."""
        import numpy as np

        joined = self._joined(arm.rows, labels)
        if len(joined) == 0 or "label" not in joined:
            return np.zeros(0), np.zeros(0)
        done = joined[joined["label"].notna()].reset_index(drop=True)
        if len(done) == 0 or f"{_OUTPUT}predict" not in done.columns:
            return np.zeros(0), np.zeros(0)
        classes = (arm.version.extra or {}).get("classes")
        scores = _scores(done, classes)
        values = row_outcomes(
            metric, done["label"].to_numpy(), done[f"{_OUTPUT}predict"].to_numpy(), scores, classes
        )
        return values, done["time"].to_numpy(dtype=np.float64)

    # -- label-free -----------------------------------------------------------------------------------
    def _estimates(
        self, arms: list[_Arm], labels: Any, metric: RowMetric, family: str | None, alpha: float
    ) -> dict[str, Any] | None:
        """Label-free estimates of the metric on each arm's unlabelled rows (None when all are labelled)."""

        out: list[dict[str, Any]] = []
        notes: list[str] = []
        for a in arms:
            joined = self._joined(a.rows, labels)
            rest = joined[joined["label"].isna()].reset_index(drop=True) if len(joined) else joined
            if len(rest) == 0:
                continue
            entry: dict[str, Any] = {"arm": a.name, "role": a.role, "rows": len(rest), "estimated": True}
            try:
                estimator, source = self._estimator(a.version, family)
            except CarnetError as exc:
                estimator, source = None, f"none: {exc.message}"
            except (ValueError, TypeError, KeyError) as exc:  # the reference does not suit the model
                estimator, source = None, f"none: {type(exc).__name__}: {exc}"
            entry["reference"] = source
            found = (
                None if estimator is None else self._estimate_arm(a, rest, estimator, metric, family, alpha)
            )
            if isinstance(found, str):
                source = found
            if not isinstance(found, dict):
                notes.append(f"{a.name}: no estimate ({source})")
                out.append({**entry, "method": None, "value": None, "lower": None, "upper": None})
                continue
            out.append({**entry, **found})
        if not out:
            return None
        control = next((e for e in out if e["role"] == "control"), None)
        diffs = []
        if control is not None and control["value"] is not None:
            for e in out:
                if e["role"] == "challenger" and e["value"] is not None:
                    diffs.append(
                        {
                            "control": control["arm"],
                            "challenger": e["arm"],
                            "difference": control["value"] - e["value"],
                        }
                    )
        return {
            "estimated": True,
            "metric": metric.name,
            "arms": out,
            "differences": diffs,
            "notes": [
                "estimates without labels: right while each model stays as calibrated as on its reference "
                "(covariate shift only); intervals count sampling error only",
                *notes,
            ],
        }

    @staticmethod
    def _estimate_arm(
        arm: _Arm, rows: Any, estimator: Any, metric: RowMetric, family: str | None, alpha: float
    ) -> dict[str, Any] | str:
        """``{method, value, lower, upper}`` of the arm's unlabelled ``rows``, or why there is none."""
        import numpy as np
        from scipy.stats import norm

        try:
            if family == "classification":
                scores = _scores(rows, (arm.version.extra or {}).get("classes"))
                if scores is None:
                    return "the log has no class probabilities to estimate from"
                per_row = expected_outcomes(metric, estimator.probabilities(scores), scores)
                value = float(per_row.mean())
                spread = float(per_row.std(ddof=1)) if len(per_row) > 1 else 0.0
                half = float(norm.ppf(1 - alpha / 2)) * spread / math.sqrt(len(per_row))
                return {"method": "CBPE", "value": value, "lower": value - half, "upper": value + half}
            preds = rows[f"{_OUTPUT}predict"].to_numpy(dtype=np.float64)
            want = "mae" if metric.name == "mae" else "rmse"
            est = next(e for e in estimator.estimate(_inputs(rows, arm.version), preds) if e.metric == want)
        except CarnetError as exc:
            return exc.message
        except (ValueError, TypeError, KeyError) as exc:  # rows unlike the reference
            return f"{type(exc).__name__}: {exc}"
        bounds = [float(x) for x in (est.value, est.lower, est.upper)]
        if metric.name == "mse":  # the square of DLE's RMSE is its mean squared error
            bounds = [x * x for x in bounds]
        return {"method": "DLE", "value": bounds[0], "lower": bounds[1], "upper": bounds[2]}

    def _estimator(self, mv: ModelVersion, family: str | None) -> tuple[Any, str]:
        """A label-free estimator of ``mv`` fitted on a labelled reference, and where it came from."""
        reference, target = self._reference_of(mv)
        if reference is None or target is None:
            return (
                None,
                "no labelled reference: create a monitor of the model, or register it with its training data",
            )
        key = (mv.ref, mv.artifact_digest, f"{reference}:{target}")
        if key in self._estimators:
            return self._estimators[key], reference
        estimator = self._fit(mv, family, reference, target)
        self._estimators[key] = estimator
        return estimator, reference if estimator is not None else f"{reference} (too few labelled rows)"

    def _reference_of(self, mv: ModelVersion) -> tuple[str | None, str | None]:
        """A monitor's reference of the model (and its target), else the version's training dataset."""
        with self.ctx.store.transaction(write=False) as tx:
            monitors = [m for m in tx.monitors.list() if m.model_ref.name == mv.name]
        target = (mv.extra or {}).get("target")
        for m in monitors:
            return m.reference, m.target or m.state.get("target") or target
        if mv.datasets:
            return mv.datasets[0], target
        return None, None

    def _fit(self, mv: ModelVersion, family: str | None, reference: str, target: str) -> Any:
        import numpy as np

        from carnet.inference.codecs import validate_frame
        from carnet.inference.outputs import model_outputs

        if mv.allow_pickle:
            raise InvalidInput(f"{mv.ref} is stored with pickle: not loaded for an estimate", field="model")
        _, frame = self.datasets.load_frame(reference)
        columns = [c.name for c in mv.signature.inputs]
        if target not in frame.columns or any(c not in frame.columns for c in columns):
            return None
        frame = frame.dropna(subset=[target])
        if len(frame) > _REFERENCE_ROWS:
            frame = frame.sample(_REFERENCE_ROWS, random_state=0)
        if len(frame) < _MIN_REFERENCE:
            return None
        model, _ = self.registry.load(mv.ref)
        inputs = validate_frame(frame[columns].reset_index(drop=True), mv.signature)
        classes = (mv.extra or {}).get("classes")
        outputs = model_outputs(model, inputs, family, classes)
        labels = frame[target].to_numpy()
        if family == "classification":
            if not classes or "predict_proba" not in outputs:
                return None
            from carnet.monitoring.performance import CBPE

            return CBPE.fit(np.asarray(outputs["predict_proba"], dtype=np.float64), labels, classes=classes)
        from carnet.monitoring.performance import DLE

        preds = np.asarray(outputs["predict"], dtype=np.float64)
        return DLE.fit(inputs, preds, labels.astype(np.float64))

    def _prediction_differences(
        self, control: _Arm, challengers: Sequence[_Arm], family: str | None
    ) -> list[dict[str, Any]]:
        """Each challenger's output distribution against the control's (drift statistics; estimates)."""
        from carnet.monitoring.drift import build_profile, detect_drift
        from carnet.services.monitor_reference import outputs_for_drift

        out: list[dict[str, Any]] = []
        if len(control.rows) == 0:
            return out
        for ch in challengers:
            columns = [c for c in control.rows.columns if c.startswith(_OUTPUT) and c in ch.rows.columns]
            if len(ch.rows) == 0 or not columns:
                continue
            ref = outputs_for_drift(control.rows[columns], family)
            cur = outputs_for_drift(ch.rows[columns], family)
            try:
                report = detect_drift(build_profile(ref), cur)
            except CarnetError as exc:
                out.append(
                    {"control": control.name, "challenger": ch.name, "estimated": True, "error": exc.message}
                )
                continue
            out.append(
                {
                    "control": control.name,
                    "challenger": ch.name,
                    "estimated": True,
                    "rows": {"control": len(control.rows), "challenger": len(ch.rows)},
                    "columns": [
                        {
                            "column": c.column,
                            "method": c.method,
                            "statistic": _finite(c.statistic),
                            "p_value": _finite(c.p_value),
                            "threshold": _finite(c.threshold),
                            "drifted": bool(c.drifted),
                            "note": c.note,
                        }
                        for c in report.columns
                    ],
                }
            )
        return out

    @staticmethod
    def _notes(sticky: str | None, challengers: Sequence[_Arm], metric: RowMetric) -> list[str]:
        notes = [f"difference = control - challenger of {metric.name}; each labelled row is one outcome"]
        if len(challengers) > 1:
            notes.append(f"alpha is split evenly between the {len(challengers)} challengers (Bonferroni)")
        if sticky:
            notes.append(
                f"sticky routing on {sticky}: a caller's rows stay in one arm and are counted as "
                "independent, so intervals are optimistic when few callers send many rows"
            )
        notes.append(f"no decision before {MIN_SAMPLES} labelled rows per arm")
        return notes


def _scores(rows: Any, classes: Sequence[Any] | None) -> Any:
    """The ``(n, k)`` class probabilities of logged rows (``output.predict_proba.<k>``), or None."""
    import numpy as np

    if not classes:
        return None
    names = [f"{_OUTPUT}predict_proba.{k}" for k in range(len(classes))]
    if not all(n in rows.columns for n in names):
        return None
    return np.column_stack([rows[n].to_numpy(dtype=np.float64) for n in names])


def _inputs(rows: Any, mv: ModelVersion) -> Any:
    """The model's inputs of logged rows, under their own names."""
    from carnet.monitoring.window import input_frame

    return input_frame(rows, [c.name for c in mv.signature.inputs])


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None
