"""Tables handed to an executor's workers by reference: a dataset version or a file, streamed in parts.

Workers never receive a whole table from the driver. A dataset version stored as Parquet is
described by its digest and the workspace's artifact store (:class:`StoreAddress`): each worker
process fetches one verified copy (the bytes are checked against the digest while copying, as
everywhere else) and reads the row groups of its parts. A CSV version or a plain file is read by
the driver as a stream and shipped a batch at a time, so the driver holds at most the parts in
flight. The functions named here run inside workers; they are module-level so every backend
can import them by name.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from carnet.execution import Part

__all__ = ["FileTable", "StoreAddress", "StoredTable", "load_stored_frame", "verified_copy"]

_CACHE_LOCK = threading.Lock()
_COPIES: dict[tuple[str, str], Path] = {}
_FRAMES: dict[tuple[str, str], Any] = {}
_STORES: dict[tuple[str, str], Any] = {}
_FOLDER: list[Path] = []
#: verified copies a worker process keeps (the oldest is deleted past this), so a long-lived
#: cluster worker does not fill its disk with every table it was ever given
MAX_COPIES = 4


@dataclass(frozen=True)
class StoreAddress:
    """How a worker reaches the workspace's artifact store: its root URL and fsspec options."""

    root: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Any:
        """The artifact store (connected lazily by its first read), one per process and address."""
        import json

        from carnet.store.artifacts import FsspecArtifactStore

        key = (self.root, json.dumps(self.storage_options, sort_keys=True, default=str))
        with _CACHE_LOCK:
            store = _STORES.get(key)
            if store is None:
                store = _STORES[key] = FsspecArtifactStore(self.root, self.storage_options)
            return store


def _folder() -> Path:
    if not _FOLDER:
        folder = Path(tempfile.mkdtemp(prefix="carnet-worker-"))
        atexit.register(shutil.rmtree, folder, True)
        _FOLDER.append(folder)
    return _FOLDER[0]


def verified_copy(address: StoreAddress, digest: str, suffix: str) -> Path:
    """A local copy of stored content, verified against ``digest``, made once per process."""
    key = (address.root, digest)
    with _CACHE_LOCK:
        path = _COPIES.get(key)
        if path is not None and path.exists():
            return path
        path = _folder() / f"{digest.split(':', 1)[-1]}{suffix}"
        while len(_COPIES) >= MAX_COPIES:  # readers that opened the oldest keep reading it
            _COPIES.pop(next(iter(_COPIES))).unlink(missing_ok=True)
        _COPIES[key] = path
    try:
        address.open().get_file(digest, path)
    except BaseException:
        with _CACHE_LOCK:
            _COPIES.pop(key, None)
        raise
    return path


def load_stored_frame(address: StoreAddress, digest: str, fmt: str, suffix: str) -> Any:
    """A stored table as a pandas DataFrame, read as ``DatasetService.load_frame`` reads it; kept
    per process (the last two) so a worker running many trials on one dataset reads it once."""
    from carnet.data import read_table

    key = (address.root, digest)
    with _CACHE_LOCK:
        frame = _FRAMES.get(key)
    if frame is None:
        frame = read_table(verified_copy(address, digest, suffix), fmt).to_pandas()  # type: ignore[arg-type]
        with _CACHE_LOCK:
            while len(_FRAMES) >= 2:
                _FRAMES.pop(next(iter(_FRAMES)))
            _FRAMES[key] = frame
    return frame


def read_stored_parquet(
    address: StoreAddress, digest: str, suffix: str, row_groups: tuple[int, ...], batch_rows: int
) -> Iterator[Any]:
    """Run in a worker: the record batches of some row groups of a stored Parquet table."""
    from carnet.data import iter_batches

    path = verified_copy(address, digest, suffix)
    return iter_batches(path, "parquet", batch_rows=batch_rows, row_groups=list(row_groups))


def read_local_parquet(path: str, row_groups: tuple[int, ...], batch_rows: int) -> Iterator[Any]:
    """In the driver's process: the record batches of some row groups of a local Parquet file."""
    from carnet.data import iter_batches

    return iter_batches(path, "parquet", batch_rows=batch_rows, row_groups=list(row_groups))


def _group(sizes: list[int], batch_rows: int) -> Iterator[tuple[tuple[int, ...], int]]:
    """Consecutive row groups bundled into parts of about ``batch_rows`` rows (a big group alone)."""
    groups: list[int] = []
    rows = 0
    for index, size in enumerate(sizes):
        if groups and rows + size > batch_rows:
            yield tuple(groups), rows
            groups, rows = [], 0
        groups.append(index)
        rows += size
    if groups:
        yield tuple(groups), rows


def _shipped(path: Path, fmt: str, batch_rows: int) -> Iterator[Part]:
    """Parts read here, one batch each, for workers that cannot read the file themselves."""
    from carnet.data import iter_batches

    offset = 0
    for index, batch in enumerate(iter_batches(path, fmt, batch_rows=batch_rows)):  # type: ignore[arg-type]
        yield Part(index, batch.num_rows, batches=(batch,), nbytes=batch.nbytes, offset=offset)
        offset += batch.num_rows


@dataclass
class StoredTable:
    """A dataset version streamed in parts: Parquet row groups read by the workers themselves.

    ``local_copy`` is the driver's verified copy (for the row-group layout, a CSV stream, and
    reading in process); ``remote`` says whether workers run elsewhere (then they read Parquet
    parts through the store, by digest).
    """

    address: StoreAddress
    digest: str
    format: str
    suffix: str
    local_copy: Path
    rows: int | None = None
    remote: bool = True

    def parts(self, batch_rows: int) -> Iterator[Part]:
        """Row-group parts of about ``batch_rows`` rows (Parquet), or shipped batches (CSV)."""
        if self.format != "parquet":
            yield from _shipped(self.local_copy, self.format, batch_rows)
            return
        from carnet.data import parquet_row_groups

        offset = 0
        for index, (groups, rows) in enumerate(_group(parquet_row_groups(self.local_copy), batch_rows)):
            if self.remote:
                read = partial(
                    read_stored_parquet, self.address, self.digest, self.suffix, groups, batch_rows
                )
            else:
                read = partial(read_local_parquet, str(self.local_copy), groups, batch_rows)
            yield Part(index, rows, read=read, offset=offset)
            offset += rows


@dataclass
class FileTable:
    """A CSV or Parquet file on this machine streamed in parts.

    In process, Parquet row groups are read where the work runs; for workers elsewhere, the
    driver reads the file a batch at a time and ships each batch (never the whole file).
    """

    path: Path
    format: str
    rows: int | None = None
    remote: bool = False

    def parts(self, batch_rows: int) -> Iterator[Part]:
        """The file's parts, in order."""
        if self.remote or self.format != "parquet":
            yield from _shipped(self.path, self.format, batch_rows)
            return
        from carnet.data import parquet_row_groups

        offset = 0
        for index, (groups, rows) in enumerate(_group(parquet_row_groups(self.path), batch_rows)):
            yield Part(
                index,
                rows,
                read=partial(read_local_parquet, str(self.path), groups, batch_rows),
                offset=offset,
            )
            offset += rows
