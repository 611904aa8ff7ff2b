"""SQL repository of chunked dataset content: the chunk index, the packs and what each manifest reads."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, select, union

from carnet.store.sql import tables as t
from carnet.store.sql.dialect import insert_for

__all__ = ["SqlChunkRepo"]

_BATCH = 900  # bound parameters per IN (...) query, well under SQLite's limit


def _batches(items: Iterable[str]) -> Iterable[builtins.list[str]]:
    batch: builtins.list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class SqlChunkRepo:
    """The chunk index on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lookup(self, ids: builtins.list[str]) -> dict[str, tuple[str, int, int]]:
        """Where each of ``ids`` that is stored lives: ``{id: (pack, offset, length)}``."""
        c = t.chunks.c
        found: dict[str, tuple[str, int, int]] = {}
        for batch in _batches(ids):
            rows = self.conn.execute(select(c.id, c.pack, c.offset, c.length).where(c.id.in_(batch)))
            found.update({r.id: (r.pack, int(r.offset), int(r.length)) for r in rows})
        return found

    def missing_packs(self, packs: Iterable[str]) -> builtins.list[str]:
        """The packs of ``packs`` the index does not hold."""
        wanted = set(packs)
        have: set[str] = set()
        for batch in _batches(sorted(wanted)):
            have.update(
                self.conn.execute(select(t.packs.c.digest).where(t.packs.c.digest.in_(batch))).scalars()
            )
        return sorted(wanted - have)

    def add(
        self,
        chunks: Mapping[str, tuple[str, int, int]],
        packs: Mapping[str, int],
        now: float,
    ) -> None:
        """Index new chunks and packs (rows already there are kept)."""
        if packs:
            stmt = insert_for(self.conn, t.packs).on_conflict_do_nothing()
            self.conn.execute(stmt, [{"digest": p, "size": s, "created_at": now} for p, s in packs.items()])
        if chunks:
            stmt = insert_for(self.conn, t.chunks).on_conflict_do_nothing()
            rows = [{"id": i, "pack": p, "offset": o, "length": n} for i, (p, o, n) in chunks.items()]
            for start in range(0, len(rows), 5000):
                self.conn.execute(stmt, rows[start : start + 5000])

    def set_manifest(
        self, digest: str, size: int, count: int, pack_bytes: Mapping[str, int], now: float
    ) -> None:
        """Record (or replace) a manifest and the bytes it reads from each pack."""
        self.conn.execute(delete(t.manifest_packs).where(t.manifest_packs.c.manifest == digest))
        self.conn.execute(delete(t.chunk_manifests).where(t.chunk_manifests.c.digest == digest))
        self.conn.execute(
            t.chunk_manifests.insert().values(digest=digest, size=size, chunks=count, created_at=now)
        )
        if pack_bytes:
            self.conn.execute(
                t.manifest_packs.insert(),
                [{"manifest": digest, "pack": p, "bytes": b} for p, b in pack_bytes.items()],
            )

    def manifest(self, digest: str) -> tuple[int, int] | None:
        """``(size, chunks)`` of a recorded manifest, or None."""
        m = t.chunk_manifests.c
        row = self.conn.execute(select(m.size, m.chunks).where(m.digest == digest)).first()
        return None if row is None else (int(row.size), int(row.chunks))

    def manifests(self) -> dict[str, int]:
        """Every recorded manifest with its file size."""
        m = t.chunk_manifests.c
        return {r.digest: int(r.size) for r in self.conn.execute(select(m.digest, m.size))}

    def referenced(self) -> set[str]:
        """Digests some record still reads: a dataset version not purged, or a run artifact."""
        dv, a = t.dataset_versions.c, t.artifacts.c
        query = union(select(dv.digest).where(dv.purged_at.is_(None)), select(a.digest))
        found: builtins.list[Any] = list(self.conn.execute(query).scalars().all())
        return {str(d) for d in found}

    def pack_users(self, packs: Iterable[str]) -> dict[str, builtins.list[str]]:
        """Per pack of ``packs``, the manifests that read it."""
        users: dict[str, builtins.list[str]] = {}
        mp = t.manifest_packs.c
        for batch in _batches(sorted(set(packs))):
            for row in self.conn.execute(select(mp.pack, mp.manifest).where(mp.pack.in_(batch))):
                users.setdefault(row.pack, []).append(row.manifest)
        return users

    def manifest_packs(self, digests: Iterable[str]) -> dict[str, dict[str, int]]:
        """Per manifest of ``digests``, the bytes it reads from each pack."""
        found: dict[str, dict[str, int]] = {}
        mp = t.manifest_packs.c
        for batch in _batches(sorted(set(digests))):
            for row in self.conn.execute(
                select(mp.manifest, mp.pack, mp.bytes).where(mp.manifest.in_(batch))
            ):
                found.setdefault(row.manifest, {})[row.pack] = int(row.bytes)
        return found

    def packs(self) -> dict[str, tuple[int, float]]:
        """Every indexed pack: ``{digest: (size, created_at)}``."""
        p = t.packs.c
        return {
            r.digest: (int(r.size), float(r.created_at))
            for r in self.conn.execute(select(p.digest, p.size, p.created_at))
        }

    def pack_live_bytes(self) -> dict[str, int]:
        """Per pack, the bytes of chunks the index still places in it."""
        c = t.chunks.c
        rows = self.conn.execute(select(c.pack, func.sum(c.length)).group_by(c.pack))
        return {str(row[0]): int(row[1] or 0) for row in rows}

    def drop_manifest(self, digest: str) -> None:
        """Forget a manifest (its object is deleted by the caller)."""
        self.conn.execute(delete(t.manifest_packs).where(t.manifest_packs.c.manifest == digest))
        self.conn.execute(delete(t.chunk_manifests).where(t.chunk_manifests.c.digest == digest))

    def drop_packs(self, packs: Iterable[str]) -> None:
        """Forget packs and every chunk the index places in them."""
        for batch in _batches(sorted(set(packs))):
            self.conn.execute(delete(t.chunks).where(t.chunks.c.pack.in_(batch)))
            self.conn.execute(delete(t.manifest_packs).where(t.manifest_packs.c.pack.in_(batch)))
            self.conn.execute(delete(t.packs).where(t.packs.c.digest.in_(batch)))

    def chunks_in(self, pack: str) -> builtins.list[tuple[str, int, int]]:
        """``(id, offset, length)`` of the chunks the index places in ``pack``."""
        c = t.chunks.c
        rows: Any = self.conn.execute(select(c.id, c.offset, c.length).where(c.pack == pack))
        return [(r.id, int(r.offset), int(r.length)) for r in rows]
