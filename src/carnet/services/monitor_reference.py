"""What a monitor compares production with, built once and stored: profiles, quality spec, estimator.

When a monitor is created the followed version predicts its reference dataset; from that come
the input profile (stored once per dataset content and column set, reused by every monitor and
by ``carnet drift``), the output profile (for prediction drift), the data-quality spec and a
label-free performance estimator (CBPE for classifiers, DLE for regressors) fitted on the
reference labels. Each is stored as a content-addressed artifact; the monitor's state keeps the
digests, so a monitoring pass reads them and never rescans the reference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from carnet.domain import ModelVersion, Monitor
from carnet.errors import InvalidInput
from carnet.monitoring.window import OUTPUT, WindowReference
from carnet.services.context import ServiceContext
from carnet.services.datasets import DatasetService
from carnet.services.registry import RegistryService
from carnet.tasks import version_family

__all__ = ["ReferenceBuilder", "log_columns", "outputs_for_drift"]


def log_columns(outputs: dict[str, Any]) -> dict[str, Any]:
    """Model outputs as prediction-log columns: ``output.<name>``, ``output.<name>.<k>`` for matrices."""
    import numpy as np

    cols: dict[str, Any] = {}
    for name, value in outputs.items():
        arr = np.asarray(value)
        if arr.ndim == 1:
            cols[f"{OUTPUT}{name}"] = arr
        elif arr.ndim == 2:
            for k in range(arr.shape[1]):
                cols[f"{OUTPUT}{name}.{k}"] = arr[:, k]
    return cols


def outputs_for_drift(frame: Any, family: str | None) -> Any:
    """The output columns to compare; a classifier's predicted labels are compared as categories."""
    out = frame.copy()
    label = f"{OUTPUT}predict"
    if family == "classification" and label in out.columns:
        out[label] = out[label].astype(str)
    return out.reset_index(drop=True)


class ReferenceBuilder:
    """Builds, stores and reloads the reference of monitors (with a small in-process cache)."""

    def __init__(self, ctx: ServiceContext, registry: RegistryService, datasets: DatasetService) -> None:
        self.ctx = ctx
        self.registry = registry
        self.datasets = datasets
        self._cache: dict[str, WindowReference] = {}

    # -- the input profile of a dataset, stored once ------------------------------------------
    def dataset_profile(self, ref: str, columns: Sequence[str] | None = None, frame: Any = None) -> Any:
        """The drift profile of a dataset version's ``columns`` (all by default), stored once.

        The profile is keyed by the dataset's content digest and the column list, so a second
        call (or another monitor on the same data) reads it back instead of rescanning.
        """
        from carnet.monitoring.drift import DatasetProfile, build_profile

        version = self.datasets.get(ref)
        key = _options_key({"columns": list(columns) if columns is not None else None})
        with self.ctx.store.transaction(write=False) as tx:
            digest = tx.monitors.get_reference_profile(version.digest, key)
        if digest is not None:
            return DatasetProfile.from_dict(json.loads(self.ctx.artifacts.get_bytes(digest)))
        if frame is None:
            _, frame = self.datasets.load_frame(ref)
            if columns is not None:
                _require(frame, columns, ref)
                frame = frame[list(columns)]
        profile = build_profile(frame)
        info = self.ctx.artifacts.put_bytes(_json_bytes(profile.to_dict()))
        with self.ctx.store.transaction() as tx:
            tx.monitors.set_reference_profile(version.digest, key, info.digest, self.ctx.clock())
        return profile

    # -- a monitor's whole reference ------------------------------------------------------------
    def build(self, monitor: Monitor) -> tuple[dict[str, Any], ModelVersion]:
        """Build and store the reference of ``monitor``; returns the state entries and the version."""
        from carnet.inference.codecs import validate_frame
        from carnet.inference.outputs import model_outputs
        from carnet.monitoring.drift import build_profile
        from carnet.monitoring.quality import QualitySpec

        model, mv = self.registry.load(monitor.model)
        if mv.signature is None:
            raise InvalidInput(
                f"{mv.ref} has no signature; register it with a sample of its inputs to monitor it",
                field="model",
            )
        family, classes = version_family(mv), (mv.extra or {}).get("classes")
        columns = [c.name for c in mv.signature.inputs]
        _, frame = self.datasets.load_frame(monitor.reference)
        _require(frame, columns, monitor.reference)
        inputs = validate_frame(frame[columns].reset_index(drop=True), mv.signature)
        outputs = log_columns(model_outputs(model, inputs, family, classes))
        import pandas as pd

        out_frame = pd.DataFrame(outputs)
        target = monitor.target or (mv.extra or {}).get("target")
        if monitor.target is not None and monitor.target not in frame.columns:
            raise InvalidInput(
                f"target column {monitor.target!r} is not in {monitor.reference}", field="target"
            )
        labels = frame[target].reset_index(drop=True) if target and target in frame.columns else None
        state: dict[str, Any] = {"reference_version": mv.version, "family": family, "classes": classes}
        state["input_columns"] = columns
        state["output_columns"] = list(out_frame.columns)
        # a column holding personal data is not profiled by value: no email in a drift report
        flagged = {c.name for c in self.datasets.get(monitor.reference).profile if c.pii}
        profiled = [c for c in columns if c not in flagged]
        state["pii_columns"] = [c for c in columns if c in flagged]
        input_profile = self.dataset_profile(monitor.reference, profiled, inputs[profiled])
        state["input_profile"] = self._digest_of(input_profile)
        output_profile = build_profile(outputs_for_drift(out_frame, family))
        state["output_profile"] = self.ctx.artifacts.put_bytes(_json_bytes(output_profile.to_dict())).digest
        quality = QualitySpec.from_frame(inputs[profiled])
        state["quality_spec"] = self.ctx.artifacts.put_bytes(_json_bytes(quality.to_dict())).digest
        estimator = self._estimator(family, classes, inputs, out_frame, labels)
        if estimator is not None:
            state["estimator_kind"] = type(estimator).__name__
            state["estimator"] = self.ctx.artifacts.put_bytes(estimator.save()).digest
        state["target"] = target if labels is not None else None
        return state, mv

    def _digest_of(self, profile: Any) -> str:
        return self.ctx.artifacts.put_bytes(_json_bytes(profile.to_dict())).digest

    @staticmethod
    def _estimator(
        family: str | None, classes: list[Any] | None, inputs: Any, outputs: Any, labels: Any
    ) -> Any:
        import numpy as np

        if labels is None or len(labels) < 100:
            return None
        if family == "classification" and classes:
            names = [f"{OUTPUT}predict_proba.{k}" for k in range(len(classes))]
            if not all(n in outputs.columns for n in names):
                return None
            from carnet.monitoring.performance import CBPE

            scores = np.column_stack([outputs[n].to_numpy(dtype=np.float64) for n in names])
            return CBPE.fit(scores, labels.to_numpy(), classes=classes)
        if family == "regression" and f"{OUTPUT}predict" in outputs.columns:
            from carnet.monitoring.performance import DLE

            preds = outputs[f"{OUTPUT}predict"].to_numpy(dtype=np.float64)
            return DLE.fit(inputs, preds, labels.to_numpy(dtype=np.float64))
        return None

    # -- reading it back ------------------------------------------------------------------------
    def load(self, monitor: Monitor) -> WindowReference:
        """The stored reference of ``monitor`` (cached by its digests)."""
        from carnet.monitoring.drift import DatasetProfile
        from carnet.monitoring.quality import QualitySpec

        s = monitor.state
        key = "|".join(
            str(s.get(k)) for k in ("input_profile", "output_profile", "quality_spec", "estimator")
        )
        key += json.dumps(monitor.drift, sort_keys=True)
        if key in self._cache:
            return self._cache[key]
        get = self.ctx.artifacts.get_bytes
        estimator = None
        if s.get("estimator"):
            from carnet.monitoring.performance import CBPE, DLE

            cls = CBPE if s.get("estimator_kind") == "CBPE" else DLE
            estimator = cls.load(get(s["estimator"]))
        ref = WindowReference(
            family=s.get("family"),
            classes=s.get("classes"),
            input_columns=list(s.get("input_columns") or []),
            output_columns=list(s.get("output_columns") or []),
            input_profile=DatasetProfile.from_dict(json.loads(get(s["input_profile"]))),
            output_profile=DatasetProfile.from_dict(json.loads(get(s["output_profile"]))),
            quality_spec=QualitySpec.from_dict(json.loads(get(s["quality_spec"]))),
            estimator=estimator,
            drift_options=dict(monitor.drift),
        )
        self._cache[key] = ref
        return ref


def _require(frame: Any, columns: Sequence[str], ref: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"reference {ref} lacks the model's input column(s) {', '.join(map(repr, missing))}; "
            "pick a dataset version with the columns the model was trained on",
            field="reference",
        )


def _options_key(options: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:32]


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
