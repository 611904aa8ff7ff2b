"""Dataset content stored as chunks: writing a version's file, usage per dataset, garbage collection,
scrubbing erased content out of packs, and moving whole-file versions to chunks.

The artifact store holds packs and manifests (:mod:`carnet.store.chunks`); the metadata database
indexes which chunks are stored where and which packs each manifest reads. Writers and the collector
serialise on the audit ledger's head row (every audited write takes it): a writer checks, under that
lock, that the packs its manifest reads are still indexed, and the collector decides what is garbage
and forgets it under the same lock, so a write never commits a manifest over a pack being deleted.
Packs are written before the lock is taken, so a pack no row names yet may belong to a write in
flight: unindexed objects are removed only once older than a grace period.
"""

from __future__ import annotations

import builtins
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carnet.errors import InvalidInput, NotFound
from carnet.services.context import ServiceContext, record
from carnet.store.chunks import Manifest, StagedWrite, repack, write_chunked
from carnet.store.interfaces import Transaction

__all__ = ["DEFAULT_GRACE", "ChunkService", "StaleChunks"]

DEFAULT_GRACE = 3600.0
"""Seconds an unindexed pack or manifest is left alone (a write may still be committing it)."""
REPACK_BELOW = 0.5
"""A pack whose live chunks fill less than this share of it is rewritten by garbage collection."""

Progress = Callable[[int], None]


class StaleChunks(Exception):
    """A staged write reads a pack garbage collection removed meanwhile: stage it again."""


@dataclass
class _Plan:
    """What a collection removes or rewrites (computed under the lock)."""

    dead_manifests: list[str] = field(default_factory=list)
    dead_packs: dict[str, int] = field(default_factory=dict)
    repacks: dict[str, int] = field(default_factory=dict)  # pack -> bytes freed by rewriting it
    orphan_packs: dict[str, int] = field(default_factory=dict)
    orphan_manifests: list[str] = field(default_factory=list)

    def freed(self) -> int:
        return sum(self.dead_packs.values()) + sum(self.repacks.values()) + sum(self.orphan_packs.values())


class ChunkService:
    """Chunked dataset content: write, account, collect, scrub, migrate."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- writing -----------------------------------------------------------------------------------

    def stage(self, path: str | Path, progress: Progress | None = None) -> StagedWrite:
        """Cut a local file into chunks and store the ones not stored yet (nothing is indexed)."""

        def lookup(ids: list[str]) -> dict[str, tuple[str, int, int]]:
            with self.ctx.store.transaction(write=False) as tx:
                return tx.chunks.lookup(ids)

        return write_chunked(self.ctx.artifacts, path, lookup, progress)

    def commit(self, tx: Transaction, staged: StagedWrite) -> None:
        """Index a staged write inside the caller's write transaction, and store its manifest.

        Raises:
            StaleChunks: a pack the manifest reads was collected since it was staged.
        """
        tx.audit.head(lock=True)  # serialise with the collector (see the module docstring)
        manifest = staged.manifest
        if tx.chunks.manifest(manifest.digest) is not None:
            # content stored meanwhile by another write: drop this write's packs, but never one
            # the index holds (the same bytes packed twice are the same pack)
            for pack in tx.chunks.missing_packs(staged.new_packs):
                self.ctx.artifacts.delete_pack(pack)
            return
        missing = [p for p in tx.chunks.missing_packs(manifest.packs) if p not in staged.new_packs]
        if missing:
            raise StaleChunks(missing[0])
        now = self.ctx.clock()
        tx.chunks.add(staged.new_chunks, staged.new_packs, now)
        tx.chunks.set_manifest(
            manifest.digest, manifest.size, len(manifest.entries), manifest.pack_bytes(), now
        )
        self.ctx.artifacts.write_manifest(manifest)

    # -- accounting --------------------------------------------------------------------------------

    def usage(self, name: str | None = None) -> dict[str, Any]:
        """Logical and stored bytes per dataset, and the store's totals.

        A dataset's ``stored`` counts each chunk (or whole-file object) it reads once, so a chunk two
        of its versions share counts once; chunks shared between datasets count in each. The totals
        count every stored byte once.
        """
        with self.ctx.store.transaction(write=False) as tx:
            versions = [v for v in tx.datasets.all_versions() if name is None or v.name == name]
            packs = tx.chunks.packs()
            recorded = tx.chunks.manifests()
        if name is not None and not versions:
            raise NotFound(
                f"no dataset named {name!r}; list datasets with: carnet data list", field="dataset"
            )
        manifests: dict[str, Manifest | None] = {}
        rows: list[dict[str, Any]] = []
        all_chunks: dict[tuple[str, int], int] = {}
        all_whole: dict[str, int] = {}
        by_name: dict[str, list[Any]] = {}
        for v in versions:
            by_name.setdefault(v.name, []).append(v)
        for dataset, items in sorted(by_name.items()):
            logical = chunked = whole = 0
            used: dict[tuple[str, int], int] = {}
            own_whole: dict[str, int] = {}
            for v in items:
                if v.purged:
                    continue
                logical += v.size
                if v.digest in recorded:
                    if v.digest not in manifests:
                        manifests[v.digest] = self.ctx.artifacts.read_manifest(v.digest)
                    manifest = manifests[v.digest]
                    if manifest is not None:
                        chunked += 1
                        used.update({(p, o): n for _, p, o, n in manifest.locations()})
                        continue
                if self.ctx.artifacts.has_whole(v.digest):
                    whole += 1
                    own_whole[v.digest] = v.size
            stored = sum(used.values()) + sum(own_whole.values())
            all_chunks.update(used)
            all_whole.update(own_whole)
            rows.append({
                "dataset": dataset,
                "versions": sum(1 for v in items if not v.purged),
                "chunked_versions": chunked,
                "whole_versions": whole,
                "logical_bytes": logical,
                "stored_bytes": stored,
                "dedup_ratio": round(logical / stored, 3) if stored else None,
            })  # fmt: skip
        logical_total = sum(r["logical_bytes"] for r in rows)
        stored_total = sum(all_chunks.values()) + sum(all_whole.values())
        totals: dict[str, Any] = {
            "logical_bytes": logical_total,
            "stored_bytes": stored_total,
            "dedup_ratio": round(logical_total / stored_total, 3) if stored_total else None,
        }
        if name is None:
            totals["pack_bytes"] = sum(size for size, _ in packs.values())
            totals["packs"] = len(packs)
            totals["reclaimable_bytes"] = max(totals["pack_bytes"] - sum(all_chunks.values()), 0)
        return {"datasets": rows, "totals": totals}

    # -- collection --------------------------------------------------------------------------------

    def collect(
        self,
        *,
        dry_run: bool = False,
        grace: float = DEFAULT_GRACE,
        dead: Iterable[str] = (),
        scrub: bool = False,
        reason: str = "garbage collection",
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Remove chunks no record reads: packs nobody reads, packs mostly garbage (rewritten with
        their live chunks), manifests of purged content, and unindexed objects older than ``grace``.

        ``dead`` digests count as unreferenced even if a record still names them (an erasure's purge,
        before it marks them purged); with ``scrub`` every pack holding a chunk only they read is
        rewritten without it, whatever its share, so erased bytes leave the store. The plan and what
        was freed are recorded in a ``dataset.gc`` audit event in the transaction that forgets them;
        objects are deleted after it commits (a crash leaves unindexed objects, removed next time).

        Raises:
            InvalidInput: a negative grace period.
        """
        if isinstance(grace, bool) or not isinstance(grace, int | float) or grace < 0:
            raise InvalidInput("grace must be a number of seconds >= 0", field="grace")
        forced = set(dead)
        say = progress or (lambda _m: None)
        with self.ctx.store.transaction(write=dry_run is False) as tx:
            if not dry_run:
                tx.audit.head(lock=True)
            plan, rewrites, cache = self._plan(tx, forced, scrub, grace, say)
            report = self._report(plan, dry_run, reason)
            if dry_run:
                return report
            self._apply(tx, plan, rewrites, cache, say)
            if plan.freed() or plan.dead_manifests or plan.orphan_manifests:
                record(
                    self.ctx,
                    tx,
                    "dataset.gc",
                    "store",
                    "chunks",
                    {k: v for k, v in report.items() if k != "dry_run"},
                )
        for pack in [*plan.dead_packs, *plan.repacks, *plan.orphan_packs]:
            self.ctx.artifacts.delete_pack(pack)
        for digest in [*plan.dead_manifests, *plan.orphan_manifests]:
            self.ctx.artifacts.delete_manifest(digest)  # a whole-file object of the same content stays
        return report

    def _plan(
        self, tx: Transaction, forced: set[str], scrub: bool, grace: float, say: Callable[[str], None]
    ) -> tuple[_Plan, dict[str, dict[str, Any]], dict[str, Manifest]]:
        plan = _Plan()
        recorded = tx.chunks.manifests()
        referenced = tx.chunks.referenced()
        live = {d for d in recorded if d in referenced and d not in forced}
        plan.dead_manifests = sorted(d for d in recorded if d not in live)
        packs = tx.chunks.packs()
        users = tx.chunks.pack_users(packs)
        now = self.ctx.clock()
        touched = {p for used in tx.chunks.manifest_packs(plan.dead_manifests).values() for p in used}
        rewrites: dict[str, dict[str, Any]] = {}
        cache: dict[str, Manifest] = {}
        for pack, (size, _created) in sorted(packs.items()):
            readers = [d for d in users.get(pack, []) if d in live]
            if not readers:
                plan.dead_packs[pack] = size
                continue
            if pack not in touched:
                continue
            say(f"examining pack {pack[:12]}")
            keep: dict[int, tuple[str, int]] = {}
            for digest in readers:
                if digest not in cache:
                    manifest = self.ctx.artifacts.read_manifest(digest)
                    if manifest is None:
                        raise InvalidInput(
                            f"the chunk manifest of {digest} is missing from the store", field="store"
                        )
                    cache[digest] = manifest
                for cid, p, offset, length in cache[digest].locations():
                    if p == pack:
                        keep[offset] = (cid, length)
            live_bytes = sum(n for _, n in keep.values())
            if live_bytes < size and (scrub or live_bytes < size * REPACK_BELOW):
                plan.repacks[pack] = size - live_bytes
                rewrites[pack] = {"keep": keep, "readers": readers}
        indexed_manifests = set(recorded)
        for pack, size, modified in self.ctx.artifacts.list_space("packs"):
            if pack not in packs and now - modified >= grace:
                plan.orphan_packs[pack] = size
        for hexd, _size, modified in self.ctx.artifacts.list_space("manifests"):
            digest = f"blake3:{hexd}"
            if digest not in indexed_manifests and now - modified >= grace:
                plan.orphan_manifests.append(digest)
        return plan, rewrites, cache

    def _apply(
        self,
        tx: Transaction,
        plan: _Plan,
        rewrites: dict[str, dict[str, Any]],
        cache: dict[str, Manifest],
        say: Callable[[str], None],
    ) -> None:
        now = self.ctx.clock()
        changed: set[str] = set()
        for pack, job in rewrites.items():
            say(f"rewriting pack {pack[:12]}")
            keep = [(cid, offset, length) for offset, (cid, length) in job["keep"].items()]
            new_pack, moved, size = repack(self.ctx.artifacts, pack, keep)
            for digest in job["readers"]:
                manifest = cache[digest]
                entries = []
                packs = list(manifest.packs)
                if new_pack not in packs:
                    packs.append(new_pack)
                for cid, p, offset, length in manifest.entries:
                    if manifest.packs[p] == pack:
                        entries.append((cid, packs.index(new_pack), moved[offset], length))
                    else:
                        entries.append((cid, p, offset, length))
                used = sorted({e[1] for e in entries})
                remap = {old: i for i, old in enumerate(used)}
                cache[digest] = Manifest(
                    digest,
                    manifest.size,
                    [packs[i] for i in used],
                    [(c, remap[p], o, n) for c, p, o, n in entries],
                )
                changed.add(digest)
            tx.chunks.drop_packs([pack])
            tx.chunks.add(
                {cid: (new_pack, moved[o], n) for o, (cid, n) in job["keep"].items()}, {new_pack: size}, now
            )
        for digest in plan.dead_manifests:
            tx.chunks.drop_manifest(digest)
        tx.chunks.drop_packs(plan.dead_packs)
        for digest in sorted(changed):
            manifest = cache[digest]
            tx.chunks.set_manifest(digest, manifest.size, len(manifest.entries), manifest.pack_bytes(), now)
            self.ctx.artifacts.write_manifest(manifest)

    @staticmethod
    def _report(plan: _Plan, dry_run: bool, reason: str) -> dict[str, Any]:
        return {
            "dry_run": dry_run,
            "reason": reason,
            "manifests_removed": len(plan.dead_manifests),
            "packs_removed": len(plan.dead_packs),
            "packs_rewritten": len(plan.repacks),
            "orphan_packs": len(plan.orphan_packs),
            "orphan_manifests": len(plan.orphan_manifests),
            "bytes_freed": plan.freed(),
        }

    # -- migration ---------------------------------------------------------------------------------

    def migrate(
        self,
        *,
        dry_run: bool = False,
        limit: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Store whole-file dataset versions as chunks, one content at a time (resumable, online).

        Each content is read back verified, chunked and indexed with a ``dataset.chunk`` audit event;
        the whole-file object is deleted after that commits, unless a run artifact names it. Readers
        find the content throughout (whole first, then chunks). Running it again continues.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidInput("limit must be a positive number of contents", field="limit")
        with self.ctx.store.transaction(write=False) as tx:
            versions = [v for v in tx.datasets.all_versions() if not v.purged]
            recorded = tx.chunks.manifests()
        todo: dict[str, builtins.list[str]] = {}
        for v in versions:
            if self.ctx.artifacts.has_whole(v.digest):
                todo.setdefault(v.digest, []).append(v.ref)
        pending = sorted(todo)[: limit or None]
        done = []
        for digest in pending:
            refs = todo[digest]
            if dry_run:
                done.append({"digest": digest, "versions": refs})
                continue
            if progress is not None:
                progress(f"chunking {', '.join(refs)}")
            entry: dict[str, Any] = {"digest": digest, "versions": refs}
            if digest not in recorded:
                entry.update(self._chunk_one(digest, refs))
            with self.ctx.store.transaction(write=False) as tx:
                named = tx.datasets.artifact_uses(digest)
            entry["whole_deleted"] = not named and self.ctx.artifacts.delete_whole(digest)
            done.append(entry)
        return {"dry_run": dry_run, "migrated": done, "remaining": max(len(todo) - len(pending), 0)}

    def _chunk_one(self, digest: str, refs: builtins.list[str]) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="carnet-chunk-") as tmp:
            path = self.ctx.artifacts.get_file(digest, Path(tmp) / "content")
            for _attempt in range(3):
                staged = self.stage(path)
                if staged.digest != digest:  # get_file verified it: the chunker read something else
                    raise InvalidInput(f"{digest} changed while it was chunked", field="digest")
                try:
                    with self.ctx.store.transaction() as tx:
                        self.commit(tx, staged)
                        record(self.ctx, tx, "dataset.chunk", "content", digest,
                               {"versions": refs, "size": staged.size, "chunks": len(staged.manifest.entries),
                                "new_bytes": staged.new_bytes})  # fmt: skip
                except StaleChunks:
                    continue
                return {"chunks": len(staged.manifest.entries), "new_bytes": staged.new_bytes}
        raise InvalidInput(
            f"could not chunk {digest}: garbage collection kept removing its packs; retry", field="digest"
        )
