"""Versioned dataset use cases: add a version, look it up, diff two versions, fetch the file."""

from __future__ import annotations

import builtins
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from carnet.domain import DatasetRef, DatasetVersion
from carnet.domain.datasets import check_name
from carnet.errors import AlreadyExists, InvalidInput, NotFound
from carnet.services.chunks import ChunkService, StaleChunks
from carnet.services.context import ServiceContext, record
from carnet.services.hooks import hooks_of
from carnet.services.tracking import DEFAULT_PROJECT, TrackingService
from carnet.store.chunks import StagedWrite

__all__ = ["DatasetService", "readable"]

Progress = Callable[[int], None]


class DatasetService:
    """Datasets: content stored once by digest, every version profiled and audited."""

    def __init__(self, ctx: ServiceContext, tracking: TrackingService) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.chunks = ChunkService(ctx)

    def add(
        self,
        path: str | Path,
        name: str,
        *,
        project: str = DEFAULT_PROJECT,
        parent: str | DatasetRef | None = None,
        description: str = "",
        source: str | None = None,
        progress: Progress | None = None,
        format: str | None = None,  # noqa: A002 - the user-facing name
    ) -> tuple[DatasetVersion, bool]:
        """Register a CSV or Parquet file as the next version of ``name``.

        ``format`` (``csv`` or ``parquet``) overrides detection from the file name and content.
        A dataset belongs to the project of its first version.

        Returns:
            The version and whether it was created (False: identical content already existed).

        Raises:
            InvalidInput: missing, empty, unreadable or ambiguous file; bad name or parent.
        """
        from carnet.data import detect_format, scan_table  # noqa: PLC0415 - pyarrow is loaded lazily

        check_name(name, "dataset name")
        src = Path(path)
        if not src.exists():
            raise InvalidInput(f"dataset file {str(src)!r} does not exist", field="path")
        if src.is_dir():
            raise InvalidInput(f"{str(src)!r} is a folder; pass a CSV or Parquet file", field="path")
        if format is not None and format not in ("csv", "parquet"):
            raise InvalidInput(f"unknown format {format!r}; use csv or parquet", field="format")
        fmt = format or detect_format(src)
        hooks = hooks_of(self.ctx)
        hooks.before(self.ctx, "before_dataset_add", name=name, project=project, source=source or str(src))
        parent_ref = DatasetRef.parse(parent) if isinstance(parent, str) else parent
        if parent_ref is not None and parent_ref.version is None:
            with self.ctx.store.transaction(write=False) as tx:
                parent_ref = DatasetRef(parent_ref.name, tx.datasets.get(parent_ref.name, None).version)
        # profile first: a malformed file is rejected before anything is stored
        tier = self.ctx.settings.pii_tier
        if tier == 2:
            from carnet.privacy import tier2

            if not tier2.available():  # before anything is stored
                raise InvalidInput(
                    f"pii_tier 2 needs the pii extra (Presidio): {tier2.INSTALL}", field="pii_tier"
                )
        summary = protect(scan_table(src, fmt, progress=progress), tier)  # type: ignore[arg-type]
        staged = self.chunks.stage(src, progress)
        for _attempt in range(3):
            try:
                added = self._record(
                    name, project, fmt, staged, summary, src, source, parent_ref, description
                )
            except AlreadyExists:  # another writer took the version number; take the next one
                continue
            except StaleChunks:  # garbage collection removed a pack this write reads: write again
                staged = self.chunks.stage(src)
                continue
            hooks.after(self.ctx, "after_dataset_add", version=added[0], created=added[1])
            return added
        raise AlreadyExists(f"could not allocate a version number for dataset {name!r}; retry", field="name")

    def _record(
        self,
        name: str,
        project: str,
        fmt: str,
        staged: StagedWrite,
        summary: Any,
        src: Path,
        source: str | None,
        parent: DatasetRef | None,
        description: str,
    ) -> tuple[DatasetVersion, bool]:
        digest, size = staged.digest, staged.size
        with self.ctx.store.transaction() as tx:
            self.chunks.commit(tx, staged)
            existing = tx.datasets.find_by_digest(name, digest)
            if existing is not None:
                return existing, False
            latest = tx.datasets.latest_version(name)
            if latest:  # a dataset stays in the project of its first version
                project = tx.datasets.get(name, latest).project
            proj = self.tracking.ensure_project(tx, project)
            if parent is not None and parent.version is not None:
                tx.datasets.get(parent.name, parent.version)
            version = DatasetVersion(
                name=name,
                version=latest + 1,
                digest=digest,
                format=fmt,
                size=size,
                num_rows=summary.num_rows,
                num_columns=summary.num_columns,
                schema=list(summary.schema),
                profile=list(summary.profile),
                source=source or str(src.resolve()),
                parent=parent,
                created_at=self.ctx.clock(),
                project=project,
                description=description,
            )
            tx.datasets.insert(version, proj.id)
            record(
                self.ctx,
                tx,
                "dataset.add_version",
                "dataset",
                name,
                {
                    "version": version.version,
                    "digest": digest,
                    "format": fmt,
                    "rows": version.num_rows,
                    "columns": version.num_columns,
                    "source": version.source,
                    "parent": str(parent) if parent else None,
                    "project": project,
                    "pii": {p.name: p.pii["kind"] for p in version.profile if p.pii},
                },
            )
            return tx.datasets.get(name, version.version), True

    def log_dataframe(self, df: Any, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]:
        """Register a pandas DataFrame or Arrow table (written as deterministic Parquet)."""
        from carnet.data import table_from_dataframe  # noqa: PLC0415

        fd, tmp = tempfile.mkstemp(suffix=".parquet", prefix="carnet-df-")
        os.close(fd)
        try:
            table_from_dataframe(df, Path(tmp))
            kwargs.setdefault("source", f"dataframe:{type(df).__module__}.{type(df).__name__}")
            return self.add(tmp, name, **kwargs)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def resolve(self, ref: str, project: str) -> str:
        """``name@version`` of a dataset reference, or of a CSV/Parquet file path registered first
        (named after the file, in ``project``)."""
        path = Path(ref)
        if path.suffix and path.exists():
            name = path.name.split(".")[0].replace(" ", "-") or "data"
            version, _ = self.add(path, name, project=project)
            return version.ref
        return self.get(DatasetRef.parse(ref)).ref

    def get(self, ref: str | DatasetRef) -> DatasetVersion:
        """A version by ``name@N`` (``name`` alone: the latest)."""
        r = DatasetRef.parse(ref) if isinstance(ref, str) else ref
        with self.ctx.store.transaction(write=False) as tx:
            return tx.datasets.get(r.name, r.version)

    def list(self) -> builtins.list[DatasetVersion]:
        """The latest version of every dataset."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.datasets.list()

    def versions(self, name: str) -> builtins.list[DatasetVersion]:
        """Every version of a dataset."""
        check_name(name, "dataset name")
        with self.ctx.store.transaction(write=False) as tx:
            return tx.datasets.versions(name)

    def diff(self, a: str | DatasetRef, b: str | DatasetRef) -> Any:
        """Schema and profile differences from version ``a`` to version ``b``."""
        from carnet.data import diff_versions  # noqa: PLC0415

        va, vb = self.get(a), self.get(b)
        return diff_versions(
            va.schema, va.profile, vb.schema, vb.profile, a_rows=va.num_rows, b_rows=vb.num_rows
        )

    def scan(
        self,
        ref: str | DatasetRef,
        *,
        sample: int = 1000,
        threshold: float = 0.5,
        hinted_threshold: float = 0.2,
        text_threshold: float = 0.05,
        seed: int = 0,
        apply: bool = False,
        tier: int = 1,
    ) -> dict[str, Any]:
        """Scan a version's rows for personal data again, with these options.

        The stored file is streamed once (bounded memory) for a uniform sample of ``sample``
        rows. With ``apply``, the newly flagged columns' profiles are masked, in the same
        transaction as a ``dataset.scan`` audit event (a column stays masked once it was).
        ``tier=2`` also looks for names of people and places with Presidio (extra ``pii``).

        Raises:
            InvalidInput: an option out of range (named), or tier 2 without the pii extra.
        """
        from dataclasses import replace as replaced

        from carnet.data import scan_table  # noqa: PLC0415 - pyarrow is loaded lazily
        from carnet.privacy import ScanOptions, mask_profile, scan_frame

        if isinstance(sample, bool) or not isinstance(sample, int) or not 10 <= sample <= 1_000_000:
            raise InvalidInput("sample must be an integer from 10 to 1,000,000 rows", field="sample")
        for key, value in (("threshold", threshold), ("hinted_threshold", hinted_threshold),
                           ("text_threshold", text_threshold)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                raise InvalidInput(f"{key} must be a share in (0, 1]", field=key)
        options = ScanOptions(
            sample, float(threshold), float(hinted_threshold), float(text_threshold), seed, tier=tier
        )
        if tier == 2:
            from carnet.privacy import tier2

            if not tier2.available():  # before any row is read
                raise InvalidInput(f"tier 2 needs the pii extra (Presidio): {tier2.INSTALL}", field="tier")
        version = readable(self.get(ref))
        with tempfile.TemporaryDirectory(prefix="carnet-scan-") as tmp:
            path = self.ctx.artifacts.get_file(version.digest, Path(tmp) / f"data{version.read_suffix}")
            summary = scan_table(path, version.format, sample_rows=sample)  # type: ignore[arg-type]
        sampled = summary.sample
        rows = len(next(iter(sampled.values()), []))
        findings = scan_frame(sampled, replaced(options, sample=max(rows, 1))) if rows else []
        masked = {c.name for c in version.profile if c.pii}
        fresh = [f for f in findings if f.column not in masked]
        if apply and fresh:
            by_column = {f.column: f for f in fresh}
            profile = [
                mask_profile(c, by_column[c.name]) if c.name in by_column else c for c in version.profile
            ]
            with self.ctx.store.transaction() as tx:
                tx.datasets.set_profile(version.name, version.version, profile)
                record(self.ctx, tx, "dataset.scan", "dataset", version.name,
                       {"version": version.version, "masked": {f.column: f.kind for f in fresh}})  # fmt: skip
        return {
            "dataset": version.ref,
            "sampled": rows,
            "options": {
                "sample": sample,
                "threshold": threshold,
                "hinted_threshold": hinted_threshold,
                "text_threshold": text_threshold,
                "seed": seed,
                "tier": tier,
            },
            "findings": [f.to_dict() for f in findings],
            "applied": [f.column for f in fresh] if apply else [],
        }

    def deidentify(
        self,
        ref: str | DatasetRef,
        config: Any,
        *,
        name: str | None = None,
        description: str = "",
        environ: Mapping[str, str] | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """A de-identified copy of a version, stored as a new version derived from it.

        ``config`` (YAML text, a path or a mapping: see :mod:`carnet.privacy.deidentify`) is
        checked whole before anything is read. The new version is the next of ``name`` (default:
        the source's dataset), its parent is the source, and its ``source`` names the config stored
        by digest (methods, the key's source and fingerprint, never the key): the version's audit
        event records it with the version, in one transaction.
        """
        from carnet.documents import read_document
        from carnet.privacy.deidentify import apply_deidentification, key_fingerprint, parse_config, read_key

        parsed = parse_config(read_document(config, "de-identification config"))
        needs_key = any(
            s["method"] in ("pseudonymize", "encrypt_fpe", "shift_dates") for s in parsed.columns.values()
        )
        key = read_key(parsed.key_source, environ) if needs_key else None
        source, frame = self.load_frame(ref)
        target = name or source.name
        check_name(target, "dataset name")
        out = apply_deidentification(frame, parsed, key)
        record_config = {
            **parsed.to_dict(),
            "source": source.ref,
            "key_fingerprint": key_fingerprint(key) if key is not None else None,
        }
        stored = self.ctx.artifacts.put_bytes(json.dumps(record_config, sort_keys=True, indent=2).encode())
        version, created = self.log_dataframe(
            out,
            target,
            project=source.project,
            parent=source.ref,
            description=description or f"de-identified from {source.ref}",
            source=f"deidentify {source.ref} config {stored.digest}",
        )
        return version, created

    def risk(
        self, ref: str | DatasetRef, quasi_identifiers: builtins.list[str], sensitive: str | None = None
    ) -> dict[str, Any]:
        """k-anonymity (and l-diversity of ``sensitive``) of a version over ``quasi_identifiers``
        (see :func:`carnet.privacy.risk.reidentification_risk`); changes nothing."""
        from carnet.privacy.risk import reidentification_risk

        wanted = [*quasi_identifiers, *([sensitive] if sensitive else [])]
        version = readable(self.get(ref))
        names = {f.name for f in version.schema}
        # only the columns the measure reads; a missing one is named by the measure itself
        _, frame = self.load_frame(ref, columns=[c for c in dict.fromkeys(wanted) if c in names])
        return {"dataset": version.ref, **reidentification_risk(frame, quasi_identifiers, sensitive)}

    def load_frame(
        self, ref: str | DatasetRef, *, superseded: bool = False, columns: builtins.list[str] | None = None
    ) -> tuple[DatasetVersion, Any]:
        """A version's rows as a pandas DataFrame (read from a verified copy of its file).

        A version an erasure superseded is refused (its successor is named), unless ``superseded``
        (the erasure's own reads); a purged one always is. ``columns`` reads only those (a
        Parquet version loads nothing else into memory); InvalidInput names one it lacks.
        """
        from carnet.data import read_table  # noqa: PLC0415 - the reader the profile used

        version = readable(self.get(ref), superseded=superseded)
        if columns is not None:
            names = {f.name for f in version.schema}
            missing = [c for c in columns if c not in names]
            if missing:
                raise InvalidInput(f"{version.ref} has no column {missing[0]!r}", field="columns")
            columns = list(dict.fromkeys(columns))
        with tempfile.TemporaryDirectory(prefix="carnet-data-") as tmp:
            path = self.ctx.artifacts.get_file(version.digest, Path(tmp) / f"data{version.read_suffix}")
            frame = read_table(path, version.format, columns=columns).to_pandas()  # type: ignore[arg-type]
        return version, frame

    def histograms(self, ref: str | DatasetRef, bins: int = 20) -> dict[str, Any]:
        """Histograms of a version's numeric columns, read from its verified file: per column the
        ``bars`` (count, share of the tallest, low and high edge) and the ``low``/``high`` of the range."""
        import numpy as np
        import pandas as pd

        version, frame = self.load_frame(ref)
        hidden = {c.name for c in version.profile if c.pii}  # a flagged column's edges are its values
        result: dict[str, Any] = {}
        for column in frame.columns:
            if column in hidden:
                continue
            series = frame[column]
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                continue
            values = series.to_numpy(dtype="float64", na_value=np.nan)
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            counts, edges = np.histogram(values, bins=bins)
            top = int(counts.max()) or 1
            result[str(column)] = {
                "bars": [
                    {"share": c / top, "count": int(c), "low": float(lo), "high": float(hi)}
                    for c, lo, hi in zip(
                        counts.tolist(), edges[:-1].tolist(), edges[1:].tolist(), strict=True
                    )
                ],
                "low": float(edges[0]),
                "high": float(edges[-1]),
            }
        return result

    def download(self, ref: str | DatasetRef, out: str | Path, progress: Progress | None = None) -> Path:
        """Copy a version's file to ``out`` (verified against its digest).

        ``out`` is a file path, or a folder (existing, or written with a trailing slash) that
        receives ``NAME-vN.<ext>`` with the extension of the registered file.
        """
        version = readable(self.get(ref))
        dest = Path(out)
        if dest.is_dir() or str(out).endswith(("/", "\\")):
            dest = dest / version.file_name
        dest.parent.mkdir(parents=True, exist_ok=True)
        return self.ctx.artifacts.get_file(version.digest, dest, progress)


def readable(version: DatasetVersion, *, superseded: bool = False) -> DatasetVersion:
    """``version`` when its content may be read: NotFound once purged; InvalidInput once an
    erasure superseded it (unless ``superseded``), naming the successor to use instead."""
    if version.purged:
        raise NotFound(
            f"the content of {version.ref} was purged after erasure #{version.erasure}; "
            f"use {version.superseded_by}",
            field="dataset",
        )
    if version.superseded_by is not None and not superseded:
        raise InvalidInput(
            f"{version.ref} was superseded by {version.superseded_by} after erasure #{version.erasure} "
            f"(rows removed on request); use {version.superseded_by}",
            field="dataset",
        )
    return version


def protect(summary: Any, tier: int = 1) -> Any:
    """A table summary whose columns holding personal data are flagged and keep no values.

    The columns are classified on the summary's row sample (:func:`carnet.privacy.scan_frame`, at
    ``tier``: the workspace's ``pii_tier``); a flagged column's profile is masked
    (:func:`carnet.privacy.mask_profile`).
    """
    from dataclasses import replace as replaced

    from carnet.privacy import ScanOptions, mask_profile, scan_frame

    if not summary.sample:
        return summary
    findings = {f.column: f for f in scan_frame(summary.sample, ScanOptions(tier=tier))}
    if not findings:
        return summary
    profile = [mask_profile(p, findings[p.name]) if p.name in findings else p for p in summary.profile]
    return replaced(summary, profile=profile)
