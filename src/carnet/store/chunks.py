"""Dataset content as content-defined chunks in pack objects: the manifest format, the writer, the reader.

A file is cut with FastCDC (``pyfastcdc``: average 64 KiB, min 16 KiB, max 256 KiB), so an append or
an edit changes only the chunks around it. Each chunk is named by its BLAKE3 digest; chunks not yet
stored are written back to back into *packs* of about 16 MiB, stored content-addressed under
``<root>/packs/``. The file's *manifest* lists, in order, every chunk's id, pack, offset and length; it
is stored under ``<root>/manifests/`` keyed by the whole file's digest, which stays the identity users
see. Reads verify every chunk against its id and the whole file against its digest.

Manifest layout (little-endian): ``CARNETM1``, the whole digest (32 bytes), the file size (u64), the
pack count (u32), the chunk count (u32), each pack digest (32 bytes), then per chunk its id (32
bytes), pack index (u32), offset in the pack (u64) and length (u32).

Which chunks are already stored is the caller's business (``lookup``): the metadata database keeps
that index, so a write asks about a thousand chunks in one query.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from carnet.errors import ArtifactCorrupted

__all__ = [
    "AVG_SIZE",
    "MAX_SIZE",
    "MIN_SIZE",
    "PACK_SIZE",
    "ChunkedFile",
    "Location",
    "Manifest",
    "PackSpace",
    "PendingPack",
    "StagedWrite",
    "write_chunked",
]

AVG_SIZE = 64 * 1024
MIN_SIZE = 16 * 1024
MAX_SIZE = 256 * 1024
PACK_SIZE = 16 * 1024 * 1024
LOOKUP_BATCH = 1024
_MAGIC = b"CARNETM1"
_HEAD = struct.Struct("<8s32sQII")
_ENTRY = struct.Struct("<32sIQI")

Location = tuple[str, int, int]
"""Where a chunk is stored: pack digest (hex), offset in the pack, length."""
Lookup = Callable[[list[str]], dict[str, Location]]


class PendingPack(NamedTuple):
    """A pack written to a temp object, not yet durable nor visible under its name."""

    pack: str
    tmp: str
    size: int


class PackSpace(Protocol):
    """What chunked storage needs from the artifact store."""

    def put_pack(self, data: bytes | memoryview) -> str: ...
    def write_pack(self, data: bytes | memoryview) -> PendingPack: ...
    def sync_pack(self, pending: PendingPack) -> None: ...
    def commit_pack(self, pending: PendingPack) -> None: ...
    def discard_pack(self, pending: PendingPack) -> None: ...
    def read_pack(self, pack: str, offset: int, length: int) -> bytes: ...
    def write_manifest(self, manifest: Manifest) -> None: ...
    def read_manifest(self, digest: str) -> Manifest | None: ...


@dataclass(frozen=True)
class Manifest:
    """The ordered chunks of one file: ``packs`` (hex digests) and per chunk ``(id hex, pack index,
    offset, length)``."""

    digest: str
    size: int
    packs: list[str]
    entries: list[tuple[str, int, int, int]]

    def encode(self) -> bytes:
        """The manifest's bytes (see the module docstring)."""
        parts = [_HEAD.pack(_MAGIC, bytes.fromhex(self.digest.split(":", 1)[1]), self.size,
                            len(self.packs), len(self.entries))]  # fmt: skip
        parts += [bytes.fromhex(p) for p in self.packs]
        pack = _ENTRY.pack
        parts += [pack(bytes.fromhex(i), p, o, n) for i, p, o, n in self.entries]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes, digest: str) -> Manifest:
        """Parse and check a manifest read for ``digest``; ArtifactCorrupted names what is wrong."""

        def bad(why: str) -> ArtifactCorrupted:
            return ArtifactCorrupted(
                f"artifact {digest} is corrupted: its chunk manifest {why}", digest=digest
            )

        if len(data) < _HEAD.size:
            raise bad("is truncated")
        magic, whole, size, n_packs, n_chunks = _HEAD.unpack_from(data)
        if magic != _MAGIC:
            raise bad("has an unknown format")
        if f"blake3:{whole.hex()}" != digest:
            raise bad("belongs to other content")
        if len(data) != _HEAD.size + 32 * n_packs + _ENTRY.size * n_chunks:
            raise bad("has the wrong length")
        start = _HEAD.size
        packs = [data[start + 32 * i : start + 32 * (i + 1)].hex() for i in range(n_packs)]
        entries = [
            (cid.hex(), p, o, n)
            for cid, p, o, n in _ENTRY.iter_unpack(memoryview(data)[start + 32 * n_packs :])
        ]
        if any(p >= n_packs for _, p, _, _ in entries) or sum(e[3] for e in entries) != size:
            raise bad("does not add up")
        return cls(digest, size, packs, entries)

    @staticmethod
    def size_of(data: bytes) -> int:
        """The file size a manifest's header gives (no other check)."""
        return int(_HEAD.unpack_from(data)[2])

    def locations(self) -> Iterator[tuple[str, str, int, int]]:
        """``(chunk id, pack, offset, length)`` of every chunk, in file order."""
        packs = self.packs
        for cid, p, o, n in self.entries:
            yield cid, packs[p], o, n

    def pack_bytes(self) -> dict[str, int]:
        """Per pack, the bytes of distinct chunks this manifest uses in it."""
        used: dict[str, int] = {}
        seen: set[tuple[int, int]] = set()
        for _, p, o, n in self.entries:
            if (p, o) not in seen:
                seen.add((p, o))
                used[self.packs[p]] = used.get(self.packs[p], 0) + n
        return used


@dataclass
class StagedWrite:
    """A file cut into chunks with its new chunks already packed and stored (not yet indexed)."""

    manifest: Manifest
    new_chunks: dict[str, Location] = field(default_factory=dict)
    new_packs: dict[str, int] = field(default_factory=dict)
    new_bytes: int = 0

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def size(self) -> int:
        return self.manifest.size


class _Packer:
    """Collects new chunks into a pack buffer and writes each full pack.

    A pack's bytes are made durable on a background thread while the next ones are hashed (the
    disk works while the processor does), and every pack is moved under its name once all are
    durable (:meth:`finish`), so a pack under its final name is always complete.
    """

    def __init__(self, space: PackSpace, staged: StagedWrite) -> None:
        self.space = space
        self.staged = staged
        self.buffer = bytearray(PACK_SIZE + MAX_SIZE)
        self.used = 0
        self.pending: list[tuple[str, int, int]] = []  # (id, offset, length) in the open pack
        self.placed: dict[str, Location | int] = {}  # id -> location, or index into pending
        self.written: list[PendingPack] = []
        self.syncs: list[Future[None]] = []
        self.pool: ThreadPoolExecutor | None = None

    def add(self, cid: str, data: Any) -> None:
        n = len(data)
        self.placed[cid] = len(self.pending)
        self.pending.append((cid, self.used, n))
        self.buffer[self.used : self.used + n] = data
        self.used += n
        self.staged.new_bytes += n
        if self.used >= PACK_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        written = self.space.write_pack(memoryview(self.buffer)[: self.used])
        self.written.append(written)
        if self.pool is None:
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="carnet-pack-sync")
        self.syncs.append(self.pool.submit(self.space.sync_pack, written))
        self.staged.new_packs[written.pack] = written.size
        for cid, offset, length in self.pending:
            self.placed[cid] = self.staged.new_chunks[cid] = (written.pack, offset, length)
        self.used = 0
        self.pending = []

    def finish(self) -> None:
        """Wait until every pack is durable, then give each its name."""
        self.flush()
        try:
            for sync in self.syncs:
                sync.result()
            for written in self.written:
                self.space.commit_pack(written)
        finally:
            if self.pool is not None:
                self.pool.shutdown()

    def abandon(self) -> None:
        """Drop the packs written so far (the write failed)."""
        if self.pool is not None:
            self.pool.shutdown()
        for written in self.written:
            self.space.discard_pack(written)


def cut(source: str | Path) -> Iterator[Any]:
    """FastCDC chunks (``data`` memoryviews, ``length``) of a local file, in order."""
    from pyfastcdc import FastCDC

    chunker = FastCDC(avg_size=AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE)
    if Path(source).stat().st_size == 0:  # mmap refuses an empty file
        return iter(())
    return iter(chunker.cut_file(str(source)))


def write_chunked(
    space: PackSpace, source: str | Path, lookup: Lookup, progress: Callable[[int], None] | None = None
) -> StagedWrite:
    """Cut ``source`` into chunks, store the chunks ``lookup`` does not know in new packs, and return
    the manifest with what was stored (the caller stores the manifest and indexes the chunks).

    One read pass: the whole-file digest, chunk ids and packs are computed together.
    """
    import blake3

    whole = blake3.blake3()  # fed ~64 KiB at a time: threads would cost more than they give
    order: list[tuple[str, int]] = []  # (id, length) in file order
    staged = StagedWrite(Manifest("", 0, [], []))
    packer = _Packer(space, staged)
    batch: list[tuple[str, Any]] = []

    def settle() -> None:
        unknown = [cid for cid, _ in batch if cid not in packer.placed]
        known = lookup(list(dict.fromkeys(unknown))) if unknown else {}
        for cid, data in batch:
            if cid in packer.placed:
                continue
            if cid in known:
                packer.placed[cid] = known[cid]
            else:
                packer.add(cid, data)
        batch.clear()

    size = 0
    try:
        for chunk in cut(source):
            data = chunk.data
            whole.update(data)
            cid = blake3.blake3(data).hexdigest()
            order.append((cid, len(data)))
            batch.append((cid, data))
            size += len(data)
            if len(batch) >= LOOKUP_BATCH:
                settle()
            if progress is not None:
                progress(len(data))
        settle()
        packer.finish()
    except BaseException:
        packer.abandon()
        raise
    packs: dict[str, int] = {}
    entries = []
    for cid, length in order:
        place = packer.placed[cid]
        assert not isinstance(place, int)  # every pack was flushed
        pack, offset, stored = place
        if stored != length:  # an index row that disagrees with the chunk's own length
            raise ArtifactCorrupted(f"the chunk index holds chunk {cid} with a wrong length", digest=cid)
        entries.append((cid, packs.setdefault(pack, len(packs)), offset, length))
    staged.manifest = Manifest(f"blake3:{whole.hexdigest()}", size, list(packs), entries)
    return staged


def _runs(manifest: Manifest, limit: int = PACK_SIZE) -> Iterator[tuple[str, int, list[tuple[str, int]]]]:
    """Consecutive chunks stored back to back in one pack, as ``(pack, offset, [(id, length)...])``."""
    run: list[tuple[str, int]] = []
    pack, start, end = "", 0, 0
    for cid, p, o, n in manifest.locations():
        if run and p == pack and o == end and end - start + n <= limit:
            run.append((cid, n))
            end += n
            continue
        if run:
            yield pack, start, run
        run, pack, start, end = [(cid, n)], p, o, o + n
    if run:
        yield pack, start, run


class ChunkedFile(io.RawIOBase):
    """A readable file over a manifest's chunks; every chunk is checked against its id as it is read.

    The whole-file digest is checked by whoever reads to the end (the artifact store's readers hash
    everything they return).
    """

    def __init__(self, space: PackSpace, manifest: Manifest) -> None:
        super().__init__()
        self._space = space
        self._manifest = manifest
        self._runs = _runs(manifest)
        self._buffer = memoryview(b"")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def _next_run(self) -> bool:
        import blake3

        step = next(self._runs, None)
        if step is None:
            return False
        pack, offset, chunks = step
        total = sum(n for _, n in chunks)
        data = self._space.read_pack(pack, offset, total)
        if len(data) != total:
            raise self._corrupted(f"pack {pack} is shorter than the manifest says")
        view = memoryview(data)
        at = 0
        for cid, n in chunks:
            if blake3.blake3(view[at : at + n]).hexdigest() != cid:
                raise self._corrupted(f"chunk {cid} in pack {pack} no longer matches its id")
            at += n
        self._buffer = view
        return True

    def _corrupted(self, why: str) -> ArtifactCorrupted:
        digest = self._manifest.digest
        return ArtifactCorrupted(f"artifact {digest} is corrupted: {why}", digest=digest)

    def runs(self) -> Iterator[memoryview]:
        """The content from the current position on, in verified pieces (up to a pack each)."""
        if self._buffer.nbytes:
            piece, self._buffer = self._buffer, memoryview(b"")
            self._pos += piece.nbytes
            yield piece
        while self._next_run():
            piece, self._buffer = self._buffer, memoryview(b"")
            self._pos += piece.nbytes
            yield piece

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not view.nbytes:
            return 0
        if not self._buffer.nbytes and not self._next_run():
            return 0
        n = min(view.nbytes, self._buffer.nbytes)
        view[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        self._pos += n
        return n

    def readall(self) -> bytes:
        parts = [bytes(self._buffer)]
        self._pos += self._buffer.nbytes
        self._buffer = memoryview(b"")
        while self._next_run():
            parts.append(bytes(self._buffer))
            self._pos += self._buffer.nbytes
            self._buffer = memoryview(b"")
        return b"".join(parts)


def repack(
    space: PackSpace, pack: str, keep: Sequence[tuple[str, int, int]]
) -> tuple[str, dict[int, int], int]:
    """A new pack holding only the ``(id, offset, length)`` chunks of ``pack`` to keep, each checked
    against its id as it is copied.

    Returns the new pack's digest, the new offset of each kept chunk (by old offset), and its size.
    """
    import blake3

    parts: list[bytes] = []
    moved: dict[int, int] = {}
    at = 0
    for cid, offset, length in sorted(set(keep), key=lambda k: k[1]):
        if offset in moved:
            continue
        data = space.read_pack(pack, offset, length)
        if len(data) != length or blake3.blake3(data).hexdigest() != cid:
            raise ArtifactCorrupted(f"chunk {cid} in pack {pack} no longer matches its id", digest=cid)
        parts.append(data)
        moved[offset] = at
        at += length
    return space.put_pack(b"".join(parts)), moved, at
