"""Erasure on request: remove a person's rows from every version of a dataset, supersede the old
versions, purge their content on request, and list the models trained on them for review.

An erasure keeps no personal data in its records: the ``--where`` predicate (which names the
person) is stored as a SHA-256 digest with the columns it reads; the ledger keeps the old and new
versions' digests, so ``carnet audit verify`` still holds once the old content is purged.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from carnet.domain import DatasetVersion
from carnet.domain.datasets import check_name
from carnet.errors import InvalidInput
from carnet.services.context import ServiceContext, record
from carnet.services.datasets import DatasetService

__all__ = ["ErasureService"]

MAX_REASON = 2000


def _reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("give the reason of the erasure (e.g. the request's reference)", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is longer than {MAX_REASON} characters", field="reason")
    return reason.strip()


class ErasureService:
    """Erasure of rows from datasets and purge of superseded content, all audited."""

    def __init__(self, ctx: ServiceContext, datasets: DatasetService) -> None:
        self.ctx = ctx
        self.datasets = datasets

    def erase(
        self,
        name: str,
        where: str,
        *,
        reason: str,
        purge: bool = False,
        dry_run: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Remove the rows matching ``where`` from every current version of dataset ``name``.

        Each current version holding such rows gets a successor without them (parent: the old
        version; the same content as an existing current version is that version); the old one is
        marked superseded, in one transaction with a ``dataset.erase`` audit event. With
        ``purge``, the superseded versions' content then leaves the artifact store
        (:meth:`purge`). ``dry_run`` reports what would happen and changes nothing.

        Returns:
            ``erasure`` (its id; None on a dry run or when no row matched), per version the rows
            removed and the successor, the versions ``skipped`` (they lack a column the condition
            reads), and the ``models`` trained on the superseded versions, to review.

        Raises:
            InvalidInput: bad name, condition or reason; no version has the condition's columns.
        """
        from carnet.privacy.erasure import parse_where

        check_name(name, "dataset name")
        reason = _reason(reason)
        predicate = parse_where(where)
        current = [v for v in self.datasets.versions(name) if v.superseded_by is None and not v.purged]
        plan: list[tuple[DatasetVersion, Any, int]] = []
        skipped: list[dict[str, Any]] = []
        for version in current:
            if progress is not None:
                progress(f"reading {version.ref}")
            _, frame = self.datasets.load_frame(version.ref, superseded=True)
            missing = [c for c in predicate.columns if c not in frame.columns]
            if missing:
                skipped.append({"version": version.version, "reason": f"no column {missing[0]!r}"})
                continue
            mask = predicate.mask(frame)
            hits = int(mask.sum())
            if hits:
                plan.append((version, frame.loc[~mask.to_numpy()].reset_index(drop=True), hits))
        if current and len(skipped) == len(current):
            raise InvalidInput(
                f"no version of {name!r} has the column(s) {', '.join(predicate.columns)} "
                "the condition reads",
                field="where",
            )
        result: dict[str, Any] = {
            "dataset": name,
            "erasure": None,
            "dry_run": dry_run,
            "reason": reason,
            "where_digest": predicate.digest,
            "columns": list(predicate.columns),
            "rows_removed": sum(h for _, _, h in plan),
            "versions": [{"version": v.version, "digest": v.digest, "rows_removed": h} for v, _, h in plan],
            "skipped": skipped,
            "models": self._models([v for v, _, _ in plan]),
            "purged": [],
        }
        if dry_run or not plan:
            return result
        successors: list[DatasetVersion] = []
        for version, kept, hits in plan:
            if progress is not None:
                progress(f"writing {version.ref} without {hits} row(s)")
            successor, _ = self.datasets.log_dataframe(
                kept,
                name,
                project=version.project,
                parent=version.ref,
                description=f"{version.ref} without {hits} erased row(s)",
                source=f"erase {version.ref}",
            )
            successors.append(successor)
        with self.ctx.store.transaction() as tx:
            erasure = tx.datasets.insert_erasure(
                name,
                reason=reason,
                where_digest=predicate.digest,
                columns=list(predicate.columns),
                actor=self.ctx.actor,
                now=self.ctx.clock(),
            )
            for (version, _, _), successor in zip(plan, successors, strict=True):
                tx.datasets.supersede(name, version.version, (successor.name, successor.version), erasure)
            tx.datasets.finish_erasure(erasure, result["rows_removed"])
            for entry, successor in zip(result["versions"], successors, strict=True):
                entry.update(superseded_by=successor.version, new_digest=successor.digest)
            result["erasure"] = erasure
            record(self.ctx, tx, "dataset.erase", "dataset", name, {
                "erasure": erasure, "reason": reason, "where_digest": predicate.digest,
                "columns": list(predicate.columns), "rows_removed": result["rows_removed"],
                "versions": result["versions"], "models": result["models"],
            })  # fmt: skip
        if purge:
            done = self.purge(name, [v.version for v, _, _ in plan], reason=reason, progress=progress)
            result["purged"] = done["purged"]
        return result

    def purge(
        self,
        name: str,
        versions: builtins.list[int] | None = None,
        *,
        reason: str,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Remove the content of superseded versions of ``name`` from the artifact store.

        ``versions`` (default: every superseded version not yet purged) must all be superseded: a
        current version is never purged. Content another record still uses (a current version, a
        run artifact) stays; the drift profiles computed from it go. The store is emptied first,
        then the versions are marked purged with a ``dataset.purge`` audit event, so a purge cut
        short is finished by running it again.

        Raises:
            InvalidInput: a version that is current, unknown, or given twice; no reason.
        """
        check_name(name, "dataset name")
        reason = _reason(reason)
        known = {v.version: v for v in self.datasets.versions(name)}
        if versions is None:
            chosen = [v for v in known.values() if v.superseded_by is not None and not v.purged]
        else:
            if len(set(versions)) != len(versions):
                raise InvalidInput("a version is given twice", field="versions")
            chosen = []
            for number in versions:
                version = known.get(number)
                if version is None:
                    raise InvalidInput(f"dataset {name!r} has no version {number}", field="versions")
                if version.superseded_by is None:
                    raise InvalidInput(
                        f"{version.ref} is current: only versions an erasure superseded can be purged "
                        f"(erase rows first: carnet data erase {name} --where ...)",
                        field="versions",
                    )
                if not version.purged:
                    chosen.append(version)
        if not chosen:
            return {"dataset": name, "purged": [], "reason": reason}
        targets = [(v.name, v.version) for v in chosen]
        entries = []
        for version in chosen:
            if progress is not None:
                progress(f"purging {version.ref}")
            with self.ctx.store.transaction(write=False) as tx:
                kept = tx.datasets.digest_kept(version.digest, targets)
            deleted = False if kept else self.ctx.artifacts.delete(version.digest)
            entries.append({"version": version.version, "digest": version.digest, "content_deleted": not kept,
                            "was_stored": deleted})  # fmt: skip
        gone = [str(e["digest"]) for e in entries if e["content_deleted"]]
        if gone:  # the chunks only the purged content used leave their packs now, not at the next gc
            self.datasets.chunks.collect(dead=gone, scrub=True, reason=f"purge of {name}")
        with self.ctx.store.transaction() as tx:
            now = self.ctx.clock()
            profiles: builtins.list[str] = []
            for version, entry in zip(chosen, entries, strict=True):
                tx.datasets.mark_purged(name, version.version, now)
                if entry["content_deleted"]:
                    profiles += tx.monitors.drop_reference_profiles(version.digest)
            record(self.ctx, tx, "dataset.purge", "dataset", name,
                   {"reason": reason, "versions": entries, "profiles_dropped": len(profiles)})  # fmt: skip
        for digest in profiles:  # drift profiles hold binned values of the purged content
            self.ctx.artifacts.delete(digest)
        return {"dataset": name, "purged": entries, "reason": reason}

    def erasures(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        """The erasure records (of one dataset, or all), oldest first."""
        if name is not None:
            check_name(name, "dataset name")
            self.datasets.versions(name)  # NotFound naming the dataset
        with self.ctx.store.transaction(write=False) as tx:
            return tx.datasets.erasures(name)

    def _models(self, versions: builtins.list[DatasetVersion]) -> builtins.list[dict[str, Any]]:
        """Registered model versions trained on ``versions`` (by their runs and the runs' children)."""
        out: dict[tuple[str, int], dict[str, Any]] = {}
        with self.ctx.store.transaction(write=False) as tx:
            for version in versions:
                runs = [run for run, _ in tx.runs.readers(version.name, version.version)]
                seen: set[str] = set()
                while runs:
                    run = runs.pop()
                    if run in seen:
                        continue
                    seen.add(run)
                    runs.extend(tx.runs.children(run))
                    for model, number in tx.models.versions_of_run(run):
                        entry = {"model": model, "version": number, "run_id": run, "datasets": []}
                        found = out.setdefault((model, number), entry)
                        if version.ref not in found["datasets"]:
                            found["datasets"].append(version.ref)
        return [out[k] for k in sorted(out)]
