"""Ports of the storage layer: what services need from metadata and artifact stores.

There is one metadata implementation (``store.sql``, SQLite or PostgreSQL through
SQLAlchemy) and one artifact implementation (``store.artifacts``, fsspec). These
Protocols are the seam services are written against.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from carnet.domain import (
    Artifact,
    AuditEvent,
    DatasetVersion,
    Expr,
    Metric,
    Project,
    Run,
    RunInput,
    RunStatus,
)

__all__ = [
    "ArtifactInfo",
    "ArtifactStore",
    "AuditRepo",
    "DatasetRepo",
    "MetadataStore",
    "ProjectRepo",
    "RunPage",
    "RunRepo",
    "Transaction",
]

ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class ArtifactInfo:
    """What the artifact store knows of stored content: its digest and size in bytes."""

    digest: str
    size: int


class ArtifactStore(Protocol):
    """Content-addressed, immutable byte storage keyed by digest (``algo:hex``)."""

    root: str

    def connect(self) -> None: ...
    def put_file(self, path: str | Path, progress: ProgressFn | None = None) -> ArtifactInfo: ...
    def put_stream(self, stream: IO[bytes], progress: ProgressFn | None = None) -> ArtifactInfo: ...
    def put_bytes(self, data: bytes) -> ArtifactInfo: ...
    def put_tree(self, folder: str | Path) -> list[tuple[str, ArtifactInfo]]: ...
    def exists(self, digest: str) -> bool: ...
    def size(self, digest: str) -> int: ...
    def get_bytes(self, digest: str) -> bytes: ...
    def get_file(self, digest: str, dest: str | Path, progress: ProgressFn | None = None) -> Path: ...
    def open(self, digest: str) -> AbstractContextManager[IO[bytes]]: ...


@dataclass(frozen=True)
class RunPage:
    """One page of search results and the token of the next page (None at the end)."""

    runs: list[Run]
    next_page_token: str | None


class ProjectRepo(Protocol):
    """Projects."""

    def get(self, name: str) -> Project: ...
    def find(self, name: str) -> Project | None: ...
    def create(self, name: str, description: str, now: float) -> Project: ...
    def ensure(self, name: str, now: float) -> tuple[Project, bool]: ...
    def list(self) -> builtins.list[Project]: ...


class RunRepo(Protocol):
    """Runs and everything recorded on them."""

    def insert(self, run: Run, project_id: int) -> None: ...
    def count(self, project_id: int) -> int: ...
    def ids_with_prefix(self, prefix: str, limit: int = 2) -> builtins.list[str]: ...
    def get(self, run_id: str) -> Run: ...
    def status(self, run_id: str) -> RunStatus: ...
    def finish(self, run_id: str, status: RunStatus, end_time: float, error: str | None) -> bool: ...
    def set_status(
        self, run_id: str, status: RunStatus, end_time: float | None, error: str | None
    ) -> None: ...
    def set_deleted(self, run_id: str, deleted: bool) -> None: ...
    def add_params(self, run_id: str, params: dict[str, str]) -> None: ...
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None: ...
    def delete_tag(self, run_id: str, key: str) -> None: ...
    def add_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None: ...
    def metric_history(self, run_id: str, key: str) -> builtins.list[Metric]: ...
    def add_artifacts(self, run_id: str, artifacts: Sequence[Artifact]) -> None: ...
    def list_artifacts(self, run_id: str) -> builtins.list[Artifact]: ...
    def add_inputs(self, run_id: str, inputs: Sequence[tuple[int, str]]) -> None: ...
    def list_inputs(self, run_id: str) -> builtins.list[RunInput]: ...
    def children(self, run_id: str) -> builtins.list[str]: ...
    def search(
        self,
        project_ids: Sequence[int],
        where: Expr | None,
        order_by: Sequence[tuple[str, str, bool]],
        max_results: int,
        offset: int,
        include_deleted: bool,
    ) -> RunPage: ...


class DatasetRepo(Protocol):
    """Datasets and their versions."""

    def find_by_digest(self, name: str, digest: str) -> DatasetVersion | None: ...
    def get(self, name: str, version: int | None) -> DatasetVersion: ...
    def insert(self, version: DatasetVersion, project_id: int) -> DatasetVersion: ...
    def version_id(self, name: str, version: int) -> int: ...
    def latest_version(self, name: str) -> int: ...
    def list(self) -> builtins.list[DatasetVersion]: ...
    def versions(self, name: str) -> builtins.list[DatasetVersion]: ...


class AuditRepo(Protocol):
    """The append-only, hash-chained audit ledger."""

    def append(
        self,
        *,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str,
        payload: dict[str, Any],
        time: float,
        key: str | None,
    ) -> AuditEvent: ...
    def list(
        self, subject_type: str | None, subject_id: str | None, limit: int | None, action: str | None
    ) -> builtins.list[AuditEvent]: ...
    def iter_all(self) -> Iterator[AuditEvent]: ...
    def head(self) -> tuple[int, str]: ...


class Transaction(Protocol):
    """One database transaction: all repos share it; commit on success, roll back on error."""

    @property
    def projects(self) -> ProjectRepo: ...
    @property
    def runs(self) -> RunRepo: ...
    @property
    def datasets(self) -> DatasetRepo: ...
    @property
    def audit(self) -> AuditRepo: ...


class MetadataStore(Protocol):
    """The metadata database of a workspace."""

    url: str

    def transaction(self, *, write: bool = True) -> AbstractContextManager[Transaction]: ...
    def upgrade(self) -> str: ...
    def close(self) -> None: ...
