"""The SDK surface of datasets: versions, PII scans, de-identification, risk, erasure, files.

Part of :class:`carnet.client.api.ClientAPI` (which extends :class:`DatasetAPI`): both
:class:`~carnet.client.local.LocalClient` and :class:`~carnet.client.remote.RemoteClient` implement
every call here with the same signature.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from carnet.domain import DatasetVersion

__all__ = ["DatasetAPI"]


class DatasetAPI(Protocol):
    """The dataset calls of the SDK (see :class:`carnet.client.api.ClientAPI`)."""

    def add_dataset(self, path: str | Path, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]:
        """Register a CSV or Parquet file as a dataset version (existing one if identical).

        Keyword arguments: ``project``, ``parent``, ``description``, ``source``, ``format``, ``progress``.
        """
        ...

    def log_dataframe(self, df: Any, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]:
        """Register a DataFrame as a dataset version."""
        ...

    def get_dataset(self, ref: str) -> DatasetVersion:
        """A dataset version by ``name@N`` (or the latest)."""
        ...

    def list_datasets(self) -> list[DatasetVersion]:
        """Latest version of every dataset."""
        ...

    def dataset_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset."""
        ...

    def scan_dataset(self, ref: str, **options: Any) -> dict[str, Any]:
        """Scan a version's rows for personal data again (``carnet data scan``).

        Options: ``sample`` (rows, default 1000), ``threshold`` (0.5), ``hinted_threshold`` (0.2),
        ``text_threshold`` (0.05), ``seed`` (0), ``apply`` (False: report only; True: mask the
        profiles of newly flagged columns, audited), ``tier`` (1; 2 also finds names of people
        and places with Presidio, extra ``pii``). Returns the findings per column.
        """
        ...

    def dataset_risk(
        self, ref: str, quasi_identifiers: list[str], sensitive: str | None = None
    ) -> dict[str, Any]:
        """k-anonymity (and l-diversity of ``sensitive``) of a version over ``quasi_identifiers``
        (``carnet data risk``): ``k``, ``l``, ``classes``, ``rows_at_risk``, the smallest classes' sizes."""
        ...

    def deidentify_dataset(
        self, ref: str, config: Any, *, name: str | None = None, description: str = ""
    ) -> tuple[DatasetVersion, bool]:
        """A de-identified copy of a version, stored as a new version derived from it
        (``carnet data deidentify``; methods in docs/privacy.md).

        ``config`` is YAML text, a file path or a mapping. Through a server, the config travels as
        data and its key (``env:VARIABLE`` or ``file:PATH``) is read on the server.
        """
        ...

    def erase_dataset(
        self, name: str, where: str, *, reason: str, purge: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        """Erase the rows matching ``where`` (e.g. ``customer_id in (1001, 1002)``) from every current
        version of dataset ``name`` (``carnet data erase``; docs/privacy.md).

        Each version holding such rows gets a successor without them and is marked superseded;
        ``purge`` also removes the superseded content from the artifact store. Returns the erasure's
        id, the rows removed per version, and the registered models trained on those versions.
        """
        ...

    def purge_dataset(self, name: str, versions: list[int] | None = None, *, reason: str) -> dict[str, Any]:
        """Remove the content of versions an erasure superseded (default: all not yet purged)."""
        ...

    def dataset_erasures(self, name: str) -> list[dict[str, Any]]:
        """The erasures of a dataset, oldest first (no personal data: the condition is a digest)."""
        ...

    def dataset_usage(self, name: str | None = None) -> dict[str, Any]:
        """Logical and stored bytes per dataset with the dedup ratio, and the store's totals
        (``carnet data du``): ``datasets`` rows and ``totals``."""
        ...

    def collect_garbage(self, *, dry_run: bool = False, grace: float = 3600.0) -> dict[str, Any]:
        """Remove stored chunks no dataset version reads any more (``carnet data gc``), recorded in a
        ``dataset.gc`` audit event; objects not indexed yet are left alone for ``grace`` seconds."""
        ...

    def chunk_datasets(self, *, dry_run: bool = False, limit: int | None = None) -> dict[str, Any]:
        """Store whole-file dataset versions as chunks (``carnet data chunk``): online and resumable,
        one ``dataset.chunk`` audit event per content."""
        ...

    def diff_datasets(self, a: str, b: str) -> Any:
        """Schema and profile differences between two versions."""
        ...

    def download_dataset(
        self, ref: str, out: str | Path, progress: Callable[[int], None] | None = None
    ) -> Path:
        """Write a version's file to ``out`` (a file path, or a folder)."""
        ...
