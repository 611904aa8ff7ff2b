"""Content digests (``blake3:<hex>``): what the artifact store keys content by, and what any side
(the store, a server, the SDK checking a download) computes to verify bytes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ALGORITHM", "CHUNK_SIZE", "ArtifactInfo", "hash_bytes", "hash_file"]

ALGORITHM = "blake3"
CHUNK_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class ArtifactInfo:
    """What the artifact store knows of stored content: its digest and size in bytes."""

    digest: str
    size: int


def _new_hasher() -> Any:
    import blake3

    return blake3.blake3(max_threads=blake3.blake3.AUTO)


def _digest(hasher: Any) -> str:
    return f"{ALGORITHM}:{hasher.hexdigest()}"


def hash_bytes(data: bytes) -> str:
    """The digest content is stored under (``blake3:<hex>``), without storing it."""
    hasher = _new_hasher()
    hasher.update(data)
    return _digest(hasher)


def hash_file(path: str | Path, progress: Callable[[int], None] | None = None) -> ArtifactInfo:
    """Digest and size of a local file, without storing it (one read pass, in chunks)."""
    hasher = _new_hasher()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            hasher.update(chunk)
            size += len(chunk)
            if progress is not None:
                progress(len(chunk))
    return ArtifactInfo(_digest(hasher), size)
