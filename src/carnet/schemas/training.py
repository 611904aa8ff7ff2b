"""Wire models of remote training: the requests of the training routes and the events of their streams.

A training route answers ``application/x-ndjson``: one :class:`TrainingEventOut` per line, ending
with a ``result`` or an ``error`` event. NaN values travel as ``null``; plot images as base64 PNG.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from carnet.evaluation import EvaluationResult, jsonable
from carnet.schemas.common import RequestBody

__all__ = [
    "MAX_ENVIRONMENT_BYTES",
    "NDJSON_MEDIA_TYPE",
    "AutoMLIn",
    "DeriveIn",
    "EvaluateIn",
    "EvaluationOut",
    "ExplainIn",
    "PlotOut",
    "PredictBatchIn",
    "ReproduceIn",
    "StressIn",
    "TrainIn",
    "TrainOutcomeOut",
    "TrainingEventOut",
]

NDJSON_MEDIA_TYPE = "application/x-ndjson"
#: the largest environment a request may record (its JSON form)
MAX_ENVIRONMENT_BYTES = 256 * 1024
_MAX_KEYS = 64
_MAX_ITEMS = 4096
_MAX_KEY = 256
_MAX_TEXT = 4096
_MAX_SEED = 2**32


def _scalar(value: Any, where: str) -> None:
    if isinstance(value, str):
        if len(value) > _MAX_TEXT:
            raise ValueError(f"{where} is longer than {_MAX_TEXT} characters")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number")
    elif value is not None and not isinstance(value, int | bool):
        raise ValueError(f"{where} must be a string, a number, a boolean or null")


def _key(key: Any, where: str) -> None:
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY:
        raise ValueError(f"{where} has a key that is not a string of 1 to {_MAX_KEY} characters")


def _environment(env: dict[str, Any]) -> dict[str, Any]:
    """Check the shape of a recorded environment: top-level keys whose values are scalars, lists
    of scalars, or mappings of scalars (``packages``, ``git``), within bounded sizes."""
    if len(env) > _MAX_KEYS:
        raise ValueError(f"at most {_MAX_KEYS} keys")
    for key, value in env.items():
        _key(key, "environment")
        where = f"environment.{key}"
        if isinstance(value, dict):
            if len(value) > _MAX_ITEMS:
                raise ValueError(f"{where} has more than {_MAX_ITEMS} entries")
            for k, v in value.items():
                _key(k, where)
                _scalar(v, f"{where}.{k}")
        elif isinstance(value, list):
            if len(value) > _MAX_ITEMS:
                raise ValueError(f"{where} has more than {_MAX_ITEMS} items")
            for i, v in enumerate(value):
                _scalar(v, f"{where}[{i}]")
        else:
            _scalar(value, where)
    if len(json.dumps(env)) > MAX_ENVIRONMENT_BYTES:
        raise ValueError(f"the environment is over {MAX_ENVIRONMENT_BYTES} bytes as JSON")
    return env


#: the environment a run records: scalars, lists of scalars or mappings of scalars per key
Environment = Annotated[dict[str, Any], AfterValidator(_environment)]


class TrainIn(RequestBody):
    """Train from a spec (a search when it has a ``search`` section) on the server's data.

    ``spec`` is the training spec as a JSON object (what the YAML file says); its ``dataset`` is a
    version of this server (``name@N``, or ``name``: the latest), never a file path.
    """

    spec: dict[str, Any]
    jobs: int = Field(1, ge=1, le=1024, description="parallel trials of a search (at most the CPUs)")
    environment: Environment = Field(default_factory=dict)


class AutoMLIn(RequestBody):
    """Try model families within a time budget on a dataset version of the server."""

    data: str = Field(min_length=1, max_length=1024, description="a dataset version: name@N or name")
    target: str | None = None
    task: str | None = None
    time_budget: float = Field(120.0, gt=0, le=7 * 24 * 3600, description="seconds")
    project: str = "default"
    seed: int = Field(0, ge=0, lt=_MAX_SEED)
    jobs: int = Field(1, ge=1, le=1024, description="parallel trials (at most the CPUs)")
    max_trials: int | None = Field(None, ge=1, le=100_000, description="stop after this many candidates")
    environment: Environment = Field(default_factory=dict)


class EvaluateIn(RequestBody):
    """Evaluate a training run's model on a dataset version of the server."""

    data: str = Field(min_length=1, max_length=1024, description="a dataset version: name@N or name")


class ExplainIn(RequestBody):
    """Explain a model version's (or a run's) predictions on rows of a dataset version."""

    ref: str = Field(min_length=1, max_length=300, description="NAME/3, NAME@alias or a run id")
    data: str = Field(min_length=1, max_length=1024, description="a dataset version: name@N or name")
    rows: str | None = Field(None, max_length=2000, description="row positions, e.g. 0,5,10-20")
    method: str | None = Field(
        None, max_length=20, description="shap, lime or permutation; none: shap when installed, else lime"
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)


class StressIn(RequestBody):
    """Run stress scenarios of a model version on a dataset version (changes nothing)."""

    ref: str = Field(min_length=1, max_length=300, description="NAME/3 or NAME@alias")
    data: str = Field(
        "",
        max_length=1024,
        description="a dataset version: name@N or name (empty for a reinforcement-learning policy, "
        "which plays in its environment)",
    )
    scenarios: list[dict[str, Any]] | None = Field(
        None, max_length=50, description="the stress gate's grammar"
    )
    metric: str | None = Field(None, max_length=100)
    seed: int = Field(0, ge=0, le=2**31 - 1)


class PredictBatchIn(RequestBody):
    """Score a dataset version of the server with a model version (a batch prediction run)."""

    ref: str = Field(min_length=1, max_length=300, description="NAME/3 or NAME@alias")
    data: str = Field(min_length=1, max_length=1024, description="a dataset version: name@N or name")
    batch_rows: int = Field(65_536, ge=1, le=10_000_000, description="rows scored at once by a worker")
    with_proba: bool = Field(False, description="add proba_<class> columns for a classifier")
    explain: Literal["shap", "lime"] | None = Field(None, description="per-row attributions")
    id_column: str | None = Field(None, min_length=1, max_length=300, description="the request ids' column")
    log: bool = Field(False, description="append the predictions to the prediction log")


class DeriveIn(RequestBody):
    """Continue a registered model on a dataset version of the server; register the next version."""

    ref: str = Field(min_length=1, max_length=300, description="the parent: NAME, NAME/3 or NAME@alias")
    data: str = Field(min_length=1, max_length=1024, description="a dataset version: name@N or name")
    reuse: Literal["warm_start", "finetune", "frozen_features"] | None = Field(
        None, description="how to continue the parent (null: what its model supports)"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="model params of the derivation")
    refit_preprocessing: bool = False
    register_version: bool = Field(True, description="register the result as the parent model's next version")
    environment: Environment = Field(default_factory=dict)


class ReproduceIn(RequestBody):
    """Re-run a training from what it recorded."""

    environment: Environment = Field(default_factory=dict)


class PlotOut(BaseModel):
    """One chart of an evaluation: the PNG (base64) and the series it was drawn from."""

    name: str
    title: str
    png: str
    data: dict[str, Any]


class EvaluationOut(BaseModel):
    """An evaluation: headline metrics with intervals, details, plots and notes (NaN as null)."""

    family: str
    n: int
    metrics: dict[str, float | None]
    intervals: dict[str, list[float | None]]
    confidence: float | None
    bootstrap: int
    greater_is_better: dict[str, bool | None]
    details: dict[str, Any]
    plots: list[PlotOut]
    notes: list[str]

    @classmethod
    def of(cls, result: EvaluationResult) -> EvaluationOut:
        doc = result.to_dict()
        doc["plots"] = [
            {
                "name": p.name,
                "title": p.title,
                "png": base64.b64encode(p.png).decode("ascii"),
                "data": jsonable(p.data),
            }
            for p in result.plots
        ]
        return cls.model_validate(doc)


class TrainOutcomeOut(BaseModel):
    """What a training or an evaluation produced: its run, metrics, intervals, cross-validation
    scores, the resolved spec and the evaluation."""

    run_id: str
    metrics: dict[str, float | None]
    intervals: dict[str, list[float | None]]
    cv: dict[str, float | None]
    spec: dict[str, Any]
    evaluation: EvaluationOut | None
    warnings: list[str] = []

    @classmethod
    def of(cls, outcome: Any) -> TrainOutcomeOut:
        """From a :class:`carnet.services.TrainOutcome`."""
        from carnet.training import spec_to_dict

        evaluation = outcome.evaluation
        return cls(
            run_id=outcome.run_id,
            metrics=jsonable(outcome.metrics),
            intervals={k: jsonable(list(v)) for k, v in outcome.intervals.items()},
            cv=jsonable(outcome.cv),
            spec=spec_to_dict(outcome.spec),
            evaluation=EvaluationOut.of(evaluation) if isinstance(evaluation, EvaluationResult) else None,
            warnings=list(getattr(outcome, "warnings", [])),
        )


class TrainingEventOut(BaseModel):
    """One line of a training stream.

    ``queued`` (waiting for a training slot), ``started``, ``progress`` (``stage``, ``done``,
    ``total``), ``heartbeat`` (nothing new), then ``result`` (``kind``: ``outcome`` for a training
    or an evaluation, ``search``, ``automl``, ``reproduce`` or ``derive``; ``result``: what the SDK
    returns) or
    ``error`` (``problem``: the problem+json document the error would have had as a response).
    """

    event: Literal["queued", "started", "progress", "heartbeat", "result", "error"]
    stage: str | None = None
    done: int | None = None
    total: int | None = None
    kind: Literal["outcome", "search", "automl", "reproduce", "derive"] | None = None
    result: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None

    def line(self) -> bytes:
        """The event as one NDJSON line."""
        return (self.model_dump_json(exclude_none=True) + "\n").encode()
