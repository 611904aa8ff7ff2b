"""Wire models of experiment tracking: projects, runs, params, metrics, tags, artifacts, inputs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from carnet.domain import Metric, Project, Run
from carnet.domain.runs import MAX_METRICS_PER_BATCH, RunPage
from carnet.schemas.common import RecordOut, RequestBody, WireFloat, wire_float, wire_floats

__all__ = [
    "MAX_METRICS_PER_BATCH",
    "ArtifactOut",
    "InputsIn",
    "LoggedOut",
    "MetricIn",
    "MetricOut",
    "MetricsBatchIn",
    "ParamsIn",
    "ProjectIn",
    "ProjectOut",
    "RunCreate",
    "RunInputOut",
    "RunOut",
    "RunPageOut",
    "RunPatch",
    "RunSearch",
    "TagsIn",
]

#: metric values one request may carry


def _scalar(value: Any) -> Any:
    if not isinstance(value, str | int | float | bool):
        raise ValueError("must be a string, a number or a boolean")
    return value


#: a param or tag value as JSON: a string, number or boolean (stored as text)
Scalar = Annotated[Any, AfterValidator(_scalar)]


class ProjectIn(RequestBody):
    """A project to create."""

    name: str
    description: str = ""


class ProjectOut(BaseModel):
    """A project and its number of runs (when listed)."""

    name: str
    description: str
    created_at: float
    runs: int | None = None

    @classmethod
    def of(cls, project: Project, runs: int | None = None) -> ProjectOut:
        return cls(
            name=project.name, description=project.description, created_at=project.created_at, runs=runs
        )


class RunCreate(RequestBody):
    """A run to start (status ``running``); the project is created when missing."""

    project: str = "default"
    name: str | None = None
    parent_id: str | None = None
    params: dict[str, Scalar] = Field(default_factory=dict)
    tags: dict[str, Scalar] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)


class RunOut(BaseModel):
    """A run with its params, tags and the latest value of each metric (NaN as null, infinities as
    ``Infinity`` / ``-Infinity``)."""

    id: str
    project: str
    name: str
    status: str
    start_time: float
    end_time: float | None
    duration: float | None
    parent_id: str | None
    params: dict[str, str]
    metrics: dict[str, WireFloat]
    tags: dict[str, str]
    environment: dict[str, Any]
    error: str | None
    deleted: bool

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls.model_validate(
            {
                **run.__dict__,
                "status": run.status.value,
                "duration": run.duration,
                "metrics": wire_floats(run.metrics),
            }
        )


class MetricIn(RequestBody):
    """One metric value; ``value`` null means NaN, ``timestamp`` defaults to the server's clock."""

    key: str
    value: float | None
    step: int = Field(0, strict=True, description="an integer (a string or a boolean is refused)")
    timestamp: float | None = None


class MetricOut(BaseModel):
    """One recorded metric value (NaN as null, infinities as ``Infinity`` / ``-Infinity``)."""

    key: str
    value: WireFloat
    step: int
    timestamp: float

    @classmethod
    def of(cls, m: Metric) -> MetricOut:
        return cls(key=m.key, value=wire_float(m.value), step=m.step, timestamp=m.timestamp)


class MetricsBatchIn(RequestBody):
    """A batch of metric values (and params) written in one transaction, as the SDK's buffer sends.

    ``allow_ended`` lets values queued before the run ended reach it (params are still refused then).
    """

    metrics: list[MetricIn] = Field(default_factory=list, max_length=MAX_METRICS_PER_BATCH)
    params: dict[str, Scalar] = Field(default_factory=dict)
    allow_ended: bool = False


class LoggedOut(BaseModel):
    """How many values a write recorded."""

    logged: int


class ParamsIn(RequestBody):
    """Params to record (immutable: another value for a logged key is a conflict)."""

    params: dict[str, Scalar]


class TagsIn(RequestBody):
    """Tags to set (they may change after the run ended)."""

    tags: dict[str, Scalar]


class RunPatch(RequestBody):
    """A change of a run: end it (with its last metric values and params), or delete/restore it."""

    status: Literal["finished", "failed", "killed"] | None = None
    error: str | None = None
    metrics: list[MetricIn] = Field(default_factory=list, max_length=MAX_METRICS_PER_BATCH)
    params: dict[str, Scalar] = Field(default_factory=dict)
    deleted: bool | None = None


class RunSearch(RequestBody):
    """A run search: projects (all readable ones when omitted), filter, order, one page."""

    projects: list[str] | None = None
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    max_results: int = Field(1000, strict=True)
    page_token: str | None = None
    include_deleted: bool = False


class RunPageOut(BaseModel):
    """One page of runs and the token of the next (null at the end)."""

    runs: list[RunOut]
    next_page_token: str | None

    @classmethod
    def of(cls, page: RunPage) -> RunPageOut:
        return cls(runs=[RunOut.of(r) for r in page.runs], next_page_token=page.next_page_token)


class ArtifactOut(RecordOut):
    """A file of a run: its path (metadata, not a file path), content digest and size."""

    path: str
    digest: str
    size: int


class InputsIn(RequestBody):
    """Dataset versions a run read (``name@N``; ``name`` alone: the latest)."""

    datasets: list[str] = Field(min_length=1)
    context: str = "training"


class RunInputOut(RecordOut):
    """A dataset version a run read."""

    dataset: str
    version: int
    digest: str
    context: str
