"""Drift profiles of tables too large for memory, built from batches that may be counted anywhere.

A window profile is counted on the reference's bins and merges exactly
(:func:`~carnet.monitoring.drift.profile.merge_profiles`), so the current side of a comparison
is simply counted batch by batch. A reference owns its bins, which are quantiles of the whole
table; for a table streamed in batches they come from a uniform sample instead:

1. every batch keeps the rows with the ``k`` smallest keys of a seeded uniform draw
   (:func:`bottom_k`; the key of a row depends only on the seed and the row's number, so every
   backend and every partitioning draws the same sample); merging keeps the ``k`` smallest;
2. the reference's bins, categories, statistics and chunk statistics are built on that sample
   (:func:`~carnet.monitoring.drift.build.build_profile`);
3. every batch is counted on those bins and the merged counts replace the sample's
   (:func:`reference_from_counts`), so counts, missing values, minimum and maximum are exact.

The driver holds at most the sample (``k`` rows) and a few profiles, whatever the table's size.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from carnet.monitoring.drift.profile import DatasetProfile

__all__ = ["DEFAULT_SAMPLE", "bottom_k", "merge_bottom_k", "reference_from_counts"]

#: rows of the uniform sample a streamed reference's bins come from
DEFAULT_SAMPLE = 200_000


def bottom_k(batch: Any, offset: int, k: int, seed: int) -> tuple[np.ndarray, Any]:
    """The rows of ``batch`` (a pyarrow RecordBatch or Table) with the ``k`` smallest keys and their keys.

    Row ``offset + i`` gets the key of draw ``i`` from a generator seeded with ``(seed, offset)``,
    so the same rows win whatever process counts the batch.
    """
    import pyarrow as pa

    keys = np.random.default_rng([seed, offset]).random(batch.num_rows)
    if batch.num_rows > k:
        keep = np.sort(np.argpartition(keys, k - 1)[:k])
        keys = keys[keep]
        batch = batch.take(pa.array(keep))
    return keys, batch


def merge_bottom_k(parts: list[tuple[np.ndarray, Any]], k: int) -> tuple[np.ndarray, Any]:
    """The ``k`` rows with the smallest keys among ``parts`` (each from :func:`bottom_k`)."""
    import pyarrow as pa

    keys = np.concatenate([p[0] for p in parts]) if parts else np.empty(0)
    table = pa.concat_tables(
        [pa.Table.from_batches([p[1]]) if isinstance(p[1], pa.RecordBatch) else p[1] for p in parts],
        promote_options="permissive",
    )
    if len(keys) > k:
        keep = np.sort(np.argpartition(keys, k - 1)[:k])
        keys, table = keys[keep], table.take(pa.array(keep))
    return keys, table


def reference_from_counts(sample_reference: DatasetProfile, counted: DatasetProfile) -> DatasetProfile:
    """The reference of a whole table: ``sample_reference``'s bins and statistics with the exact
    counts of ``counted`` (the merged window profile of every row, counted on those bins)."""
    counted.check_like(sample_reference, what="counted")
    columns = []
    for ref in sample_reference.columns:
        full = counted.column(ref.name)
        changes: dict[str, Any] = {"count": full.count, "missing": full.missing, "counts": full.counts}
        if ref.kind == "numeric":
            changes |= {
                "positions": full.positions,  # type: ignore[union-attr]
                "min": full.min,  # type: ignore[union-attr]
                "max": full.max,  # type: ignore[union-attr]
                "tail_low": full.tail_low,  # type: ignore[union-attr]
                "tail_high": full.tail_high,  # type: ignore[union-attr]
            }
        columns.append(replace(ref, **changes))
    return replace(sample_reference, rows=counted.rows, columns=tuple(columns))
