"""Drift between tables of any size: both sides streamed in batches through an executor.

``carnet drift REF CUR --executor ray:local --batch-rows 500000`` counts every batch where the
work runs (workers read Parquet parts of dataset versions through the workspace's store) and
merges the small profiles here. The reference's bins come from a seeded uniform sample of
:data:`~carnet.monitoring.drift.stream.DEFAULT_SAMPLE` rows and its counts from every row (see
:mod:`carnet.monitoring.drift.stream`); a dataset version's streamed reference is stored once,
like its in-memory one. The driver holds the sample and the profiles, never a whole side.
"""

from __future__ import annotations

import json
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from carnet.errors import InvalidInput, NotFound
from carnet.services.context import ServiceContext
from carnet.services.datasets import DatasetService, readable
from carnet.services.tables import FileTable, StoreAddress, StoredTable

__all__ = ["streamed_drift"]

_KEY = "streamed"


def _sample_batch(k: int, seed: int, batch: Any, offset: int) -> tuple[Any, Any]:
    from carnet.monitoring.drift.stream import bottom_k

    return bottom_k(batch, offset, k, seed)


def _count_batch(reference: Any, sample_rows: int, seed: int, batch: Any, offset: int) -> Any:
    from carnet.monitoring.drift import profile_like

    return profile_like(reference, batch, sample_rows=sample_rows, seed=seed)


def _fold(profiles: Any, seed: int = 0) -> Any:
    """The merge of a stream of window profiles, two at a time (None for an empty stream)."""
    from carnet.monitoring.drift import merge_profiles

    merged = None
    for profile in profiles:
        merged = profile if merged is None else merge_profiles([merged, profile], seed=seed)
    return merged


class _Sides:
    """Streamed sources of the two sides, with the files they need kept until the end."""

    def __init__(self, ctx: ServiceContext, datasets: DatasetService, folder: Path, remote: bool) -> None:
        self.ctx = ctx
        self.datasets = datasets
        self.folder = folder
        self.remote = remote
        self.address = StoreAddress(ctx.settings.artifact_root, dict(ctx.settings.storage_options))

    def source(self, side: Any, what: str, datasets_only: bool) -> tuple[Any, str | None]:
        """The source of ``side`` and, for a dataset version, its digest."""
        from carnet.data import detect_format

        if not isinstance(side, str | Path):
            raise InvalidInput(
                f"{what}: streaming drift reads a dataset version or a file, not a {type(side).__name__}; "
                "leave out --executor and --batch-rows for in-memory tables",
                field=what,
            )
        path = Path(side)
        if not datasets_only and path.is_file():
            return FileTable(path.resolve(), detect_format(path), remote=self.remote), None
        if isinstance(side, Path) or (not datasets_only and "@" not in str(side) and "/" in str(side)):
            raise NotFound(f"{what}: no file {side}", field=what)
        version = readable(self.datasets.get(str(side)))
        copy = self.ctx.artifacts.get_file(version.digest, self.folder / f"{what}{version.read_suffix}")
        table = StoredTable(
            self.address,
            version.digest,
            version.format,
            version.read_suffix,
            copy,
            version.num_rows,
            remote=self.remote,
        )
        return table, version.digest


def _key(sample: int, outputs: Any) -> str:
    """The stored-profile key of a streamed reference (short: the column is 80 characters)."""
    import hashlib

    text = json.dumps({"outputs": list(outputs or ()), _KEY: sample}, sort_keys=True)
    return f"{_KEY}:{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def _stored(ctx: ServiceContext, digest: str, key: str) -> Any:
    from carnet.monitoring.drift import DatasetProfile

    with ctx.store.transaction(write=False) as tx:
        found = tx.monitors.get_reference_profile(digest, key)
    return None if found is None else DatasetProfile.from_dict(json.loads(ctx.artifacts.get_bytes(found)))


def _store(ctx: ServiceContext, digest: str, key: str, profile: Any) -> None:
    info = ctx.artifacts.put_bytes(json.dumps(profile.to_dict(), sort_keys=True).encode())
    with ctx.store.transaction() as tx:
        tx.monitors.set_reference_profile(digest, key, info.digest, ctx.clock())


def streamed_drift(
    ctx: ServiceContext,
    datasets: DatasetService,
    reference: Any,
    current: Any,
    options: Any,
    *,
    executor: str | None,
    jobs: int | None,
    batch_rows: int,
    datasets_only: bool,
    sample: int | None = None,
) -> Any:
    """Compare ``current`` with ``reference`` (dataset versions or CSV/Parquet files), streamed.

    Returns a :class:`carnet.monitoring.drift.DriftReport`.

    Raises:
        InvalidInput: a bad option, a DataFrame side, an unreachable executor, a reference column
            missing from the current data (named).
        NotFound: no such dataset version or file.
    """
    from carnet.execution import open_executor
    from carnet.monitoring.drift import DriftOptions, build_profile, detect_drift
    from carnet.monitoring.drift.stream import DEFAULT_SAMPLE, merge_bottom_k, reference_from_counts

    opts = options if options is not None else DriftOptions()
    k = int(sample or DEFAULT_SAMPLE)
    ks = any(m == "ks" for m in opts.column_methods.values()) or "ks" in dict(opts.methods).values()
    rows_kept = opts.multivariate_rows if (opts.multivariate or ks) else 0
    with tempfile.TemporaryDirectory(prefix="carnet-drift-") as tmp, open_executor(executor, jobs) as runner:
        sides = _Sides(ctx, datasets, Path(tmp), remote=not runner.in_process)
        ref_source, ref_digest = sides.source(reference, "reference", datasets_only)
        cur_source, _ = sides.source(current, "current", datasets_only)
        key = _key(k, opts.outputs)
        ref_profile = _stored(ctx, ref_digest, key) if ref_digest is not None else None
        if ref_profile is None:
            kept: tuple[Any, Any] | None = None
            for part in runner.map_batches(partial(_sample_batch, k, opts.seed), ref_source, batch_rows):
                kept = part if kept is None else merge_bottom_k([kept, part], k)  # at most 2k rows held
            if kept is None:
                raise InvalidInput("the reference has no rows", field="reference")
            base = build_profile(kept[1], outputs=opts.outputs or (), seed=opts.seed)
            del kept
            count_ref = partial(_count_batch, base, 0, opts.seed)
            counted = _fold(runner.map_batches(count_ref, ref_source, batch_rows))
            ref_profile = reference_from_counts(base, counted)
            if ref_digest is not None:
                _store(ctx, ref_digest, key, ref_profile)
        count = partial(_count_batch, ref_profile, rows_kept, opts.seed)
        window = _fold(runner.map_batches(count, cur_source, batch_rows), opts.seed)
        if window is None:
            raise InvalidInput("the current data has no rows", field="current")
        return detect_drift(ref_profile, window, opts)
