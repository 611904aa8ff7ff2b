"""Local explanations as a use case: explain a registered version's (or a run's) predictions on rows of
a dataset version or file, and keep the explanation as a run (JSON, plots and an HTML report)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from carnet.domain.models import ModelRef
from carnet.errors import CarnetError, InvalidInput
from carnet.evaluation import jsonable
from carnet.services.context import ServiceContext
from carnet.services.datasets import DatasetService
from carnet.services.registry import RegistryService
from carnet.services.tracking import TrackingService
from carnet.services.training import TrainingService

__all__ = ["MAX_ROWS", "ExplainService", "parse_rows"]

#: rows one explanation covers at most (SHAP and LIME cost a few hundred model calls per row)
MAX_ROWS = 200
DEFAULT_ROWS = 5
BACKGROUND_ROWS = 100
PREFIX = "explain/"


def parse_rows(text: str | None, available: int) -> list[int]:
    """Row positions from ``0,5,10-20`` (0-based, ranges inclusive); the first rows when None."""
    if text is None or not str(text).strip():
        return list(range(min(DEFAULT_ROWS, available)))
    picked: list[int] = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise InvalidInput(
                f"rows: {part.strip()!r} is not a row number or a range like 10-20", field="rows"
            )
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        if high < low:
            raise InvalidInput(f"rows: range {part.strip()} goes backwards", field="rows")
        picked += range(low, high + 1)
    picked = list(dict.fromkeys(picked))
    outside = [r for r in picked if r >= available]
    if outside:
        raise InvalidInput(f"rows: {outside[0]} is past the last row ({available - 1})", field="rows")
    if len(picked) > MAX_ROWS:
        raise InvalidInput(f"rows: {len(picked)} rows; explain at most {MAX_ROWS} at a time", field="rows")
    return picked


class ExplainService:
    """Explains models on data; each explanation is a run with its report."""

    def __init__(
        self,
        ctx: ServiceContext,
        tracking: TrackingService,
        training: TrainingService,
        registry: RegistryService,
        datasets: DatasetService,
    ) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.training = training
        self.registry = registry
        self.datasets = datasets

    def _model(self, ref: str) -> tuple[Any, dict[str, Any]]:
        """The model and what the explanation needs of it: features, family, target, project, label."""
        try:
            parsed = ModelRef.parse(ref)
            named = "/" in ref or "@" in ref or self._is_model(parsed.name)
        except CarnetError:
            named = False
        if named:
            model, mv = self.registry.load(ref)
            extra = mv.extra or {}
            family = extra.get("family") or (self.training.task(mv.task).family if mv.task else None)
            info = {
                "features": [c.name for c in mv.signature.inputs] if mv.signature else None,
                "family": family or "classification",
                "target": extra.get("target"),
                "project": self.registry.get_model(mv.name).project,
                "label": mv.ref,
                "run_id": mv.run_id,
            }
            return model, info
        run_id = self.tracking.resolve_run_id(ref)
        model, meta = self.training.load_model(run_id)
        task = self.training.task(meta["task"])
        info = {
            "features": [f["name"] for f in meta["features"]],
            "family": task.family,
            "target": meta.get("target"),
            "project": self.tracking.get_run(run_id).project,
            "label": f"run {run_id}",
            "run_id": run_id,
        }
        return model, info

    def _is_model(self, name: str) -> bool:
        try:
            self.registry.get_model(name)
        except CarnetError:
            return False
        return True

    def _data(self, data: str) -> tuple[Any, str | None]:
        """The rows (a frame) and the dataset version they are, None for a file."""
        path = Path(data)
        if path.suffix and path.exists():
            from carnet.data import read_table

            return read_table(path).to_pandas(), None
        version, frame = self.datasets.load_frame(data)
        return frame, version.ref

    def explain(
        self,
        ref: str,
        data: str,
        *,
        rows: str | None = None,
        method: str | None = None,
        seed: int = 0,
        record: bool = True,
    ) -> dict[str, Any]:
        """Explain ``ref`` (``NAME/3``, ``NAME@alias`` or a run id) on rows of ``data`` (a dataset
        version or a CSV/Parquet file) with ``method`` (``shap``, ``lime`` or ``permutation``; None:
        SHAP when installed, else LIME, else permutation importance).

        Returns a dict: ``method`` (what ran), ``requested`` (None when no method was named),
        ``note`` (why SHAP did not run, with the install command), ``output`` (what is explained),
        ``rows`` (per-row attributions, prediction, base value), ``global`` (mean |attribution| per
        feature, largest first), and ``run_id`` (the run holding ``explain/explanation.json``, plots
        and ``explain/report.html``).

        Raises:
            InvalidInput: unknown method, a method named explicitly whose library is not installed,
                bad rows, or data lacking the model's columns.
        """
        from carnet.evaluation.explain_local import choose_method, explain_rows

        ran, note = choose_method(method)
        model, info = self._model(ref)
        frame, data_ref = self._data(data)
        features = info["features"] or [c for c in frame.columns if c != info["target"]]
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise InvalidInput(f"{data} lacks the model's columns: {', '.join(missing[:10])}", field="data")
        picked = parse_rows(rows, len(frame))
        X = frame[features]
        background = X.sample(min(BACKGROUND_ROWS, len(X)), random_state=seed) if len(X) else X
        target = info["target"]
        y = frame[target].iloc[picked] if target and target in frame.columns else None
        explanation = explain_rows(
            model, X.iloc[picked], background, method=ran, family=str(info["family"]), seed=seed, y=y
        )
        result: dict[str, Any] = {
            "model": info["label"],
            "data": data_ref or str(data),
            "requested": method,
            **explanation.to_dict(),
        }
        if note:
            result["note"] = note + (f"; {explanation.note}" if explanation.note else "")
        result["run_id"] = self._record(result, info, data_ref) if record else None
        return dict(jsonable(result))

    def _record(self, result: dict[str, Any], info: dict[str, Any], data_ref: str | None) -> str:
        """A finished run holding the explanation, its plots and its HTML report."""
        from carnet.domain import RunStatus
        from carnet.reports.explain import explanation_plots, render_explanation_html

        run = self.tracking.create_run(
            info["project"],
            f"explain-{info['label'].replace('run ', '')[:40]}",
            params={
                "model": info["label"],
                "data": result["data"],
                "method": result["method"],
                "rows": len(result["rows"]),
            },
            tags={"kind": "explanation", "explains": info["label"], "source_run": info.get("run_id") or ""},
        )
        try:
            if data_ref is not None:
                self.tracking.log_inputs(run.id, [data_ref], "explanation")
            plots = explanation_plots(result)
            for name, png in plots.items():
                self.tracking.log_artifact_bytes(run.id, png, f"{PREFIX}plots/{name}.png")
            self.tracking.log_artifact_bytes(
                run.id,
                json.dumps(jsonable({**result, "run_id": run.id}), indent=2).encode(),
                f"{PREFIX}explanation.json",
            )
            context = {"model": info["label"], "data": result["data"], "run": run.id}
            page = render_explanation_html(result, plots, context)
            self.tracking.log_artifact_bytes(run.id, page.encode(), f"{PREFIX}report.html")
            self.tracking.end_run(run.id, RunStatus.FINISHED)
        except BaseException as exc:
            self.tracking.end_run(run.id, RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        return run.id
