"""Projects, runs and what a run records."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from carnet.errors import Conflict, NotFound

__all__ = [
    "MAX_METRICS_PER_BATCH",
    "MAX_RESULTS_LIMIT",
    "Artifact",
    "Metric",
    "Project",
    "Run",
    "RunInput",
    "RunPage",
    "RunStatus",
    "check_params_unchanged",
    "select_artifacts",
]

#: metric values one request (and one transaction) may carry
MAX_METRICS_PER_BATCH = 100_000
#: runs one search page may return at most
MAX_RESULTS_LIMIT = 50_000


class RunStatus(enum.StrEnum):
    """Lifecycle of a run: running, then exactly one terminal state."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"

    @property
    def terminal(self) -> bool:
        """True once the run can no longer change status."""
        return self is not RunStatus.RUNNING


@dataclass(frozen=True)
class Project:
    """A named group of runs, datasets and models."""

    id: int
    name: str
    description: str
    created_at: float


@dataclass(frozen=True)
class Metric:
    """One value of a metric at a step and a time (seconds since the epoch)."""

    key: str
    value: float
    step: int = 0
    timestamp: float = 0.0


@dataclass(frozen=True)
class Artifact:
    """A file logged by a run: its path inside the run and the content digest."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class RunInput:
    """A dataset version a run read."""

    dataset: str
    version: int
    digest: str
    context: str = "training"


@dataclass
class Run:
    """A tracked execution: params, metrics, tags, artifacts, inputs and environment.

    ``metrics`` holds the latest value per key; the full history is queried
    through the tracking service.
    """

    id: str
    project: str
    name: str
    status: RunStatus
    start_time: float
    end_time: float | None = None
    parent_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    deleted: bool = False

    @property
    def duration(self) -> float | None:
        """Seconds between start and end, when ended."""
        return None if self.end_time is None else self.end_time - self.start_time


def check_params_unchanged(run_id: str, existing: Mapping[str, str], params: Mapping[str, str]) -> None:
    """Params are immutable: raise Conflict when a key already has a different value."""
    for key, value in params.items():
        old = existing.get(key)
        if old is not None and old != value:
            raise Conflict(
                f"param {key!r} of run {run_id} is already {old!r}; params are immutable, "
                f"log a new run to try {value!r}",
                field=f"params.{key}",
            )


@dataclass(frozen=True)
class RunPage:
    """One page of search results and the token of the next page (None at the end).

    A sequence of its runs: ``for run in page``, ``len(page)``, ``page[0]``, ``bool(page)``.
    """

    runs: list[Run]
    next_page_token: str | None

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    @overload
    def __getitem__(self, index: int) -> Run: ...
    @overload
    def __getitem__(self, index: slice) -> list[Run]: ...
    def __getitem__(self, index: int | slice) -> Run | list[Run]:
        return self.runs[index]

    def __bool__(self) -> bool:
        return bool(self.runs)


def select_artifacts(
    artifacts: Sequence[Artifact], want: str, run_id: str
) -> list[tuple[Artifact, tuple[str, ...] | None]]:
    """What a download of ``want`` (a normalised artifact path: one file, or a folder) copies: each
    artifact with its path's parts under ``want``, or None for ``want`` itself (it keeps its name).

    Raises:
        NotFound: the run has no artifact at or under ``want``.
    """
    chosen = [
        (a, None if a.path == want else tuple(a.path[len(want) + 1 :].split("/")))
        for a in artifacts
        if a.path == want or a.path.startswith(want + "/")
    ]
    if not chosen:
        raise NotFound(f"run {run_id} has no artifact {want!r}; see: carnet runs show {run_id}", field="path")
    return chosen
