"""The dataset engine: pure computation over tabular files (no database, no artifact store).

Detect a file's format, scan its schema, row count and column profiles in one streaming
pass, compare two versions, and write DataFrames to Parquet deterministically. pyarrow and
pandas are imported only when a function runs.
"""

from __future__ import annotations

from carnet.data.profiling import TableProfiler, column_kind
from carnet.data.tabular import (
    FORMATS,
    Format,
    TableSummary,
    detect_format,
    iter_batches,
    parquet_row_groups,
    read_table,
    scan_table,
    table_from_dataframe,
)
from carnet.domain.dataset_diff import Change, ColumnDiff, TypeChange, VersionDiff, diff_versions

__all__ = [
    "FORMATS",
    "Change",
    "ColumnDiff",
    "Format",
    "TableProfiler",
    "TableSummary",
    "TypeChange",
    "VersionDiff",
    "column_kind",
    "detect_format",
    "diff_versions",
    "iter_batches",
    "parquet_row_groups",
    "read_table",
    "scan_table",
    "table_from_dataframe",
]
