"""Datasets and their immutable versions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["ColumnProfile", "DatasetRef", "DatasetVersion", "SchemaField"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def check_name(name: str, what: str = "name") -> str:
    """Validate a user-chosen name (project, dataset): letters, digits, ``_.-``, max 128."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInput(
            f"invalid {what} {name!r}: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            field=what,
        )
    return name


@dataclass(frozen=True)
class SchemaField:
    """One column of a dataset: name and logical type (an Arrow type string)."""

    name: str
    type: str


@dataclass(frozen=True)
class ColumnProfile:
    """Summary statistics of one column.

    Numbers get min/max/mean/std/quantiles; strings and categories get the
    distinct count and top values. ``missing_share`` is in [0, 1].
    """

    name: str
    type: str
    kind: str  # "numeric" | "categorical" | "boolean" | "temporal" | "other"
    count: int
    missing: int
    missing_share: float
    min: float | str | None = None
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    distinct: int | None = None
    distinct_exact: bool = True
    top: list[tuple[str, int]] = field(default_factory=list)
    #: personal data found in the column (kind, share, detector, sampled, hint); its values are
    #: then kept out of the profile (see :func:`carnet.privacy.mask_profile`)
    pii: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``pii`` only for a flagged column)."""
        out = {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "count": self.count,
            "missing": self.missing,
            "missing_share": self.missing_share,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "quantiles": dict(self.quantiles),
            "distinct": self.distinct,
            "distinct_exact": self.distinct_exact,
            "top": [list(t) for t in self.top],
        }
        if self.pii is not None:
            out["pii"] = dict(self.pii)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=d["name"],
            type=d["type"],
            kind=d["kind"],
            count=d["count"],
            missing=d["missing"],
            missing_share=d["missing_share"],
            min=d.get("min"),
            max=d.get("max"),
            mean=d.get("mean"),
            std=d.get("std"),
            quantiles=dict(d.get("quantiles") or {}),
            distinct=d.get("distinct"),
            distinct_exact=d.get("distinct_exact", True),
            top=[(str(a), int(b)) for a, b in d.get("top") or []],
            pii=dict(d["pii"]) if isinstance(d.get("pii"), dict) else None,
        )


@dataclass(frozen=True)
class DatasetRef:
    """A reference ``NAME`` or ``NAME@VERSION`` (version ``None`` means latest)."""

    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        """Parse ``name`` or ``name@3``; raise InvalidInput naming the problem."""
        name, sep, ver = text.partition("@")
        check_name(name, "dataset name")
        if not sep:
            return cls(name)
        if ver == "latest":
            return cls(name)
        if not ver.isdigit() or int(ver) < 1:
            raise InvalidInput(
                f"invalid dataset version {ver!r} in {text!r}: use NAME@N with N >= 1, or NAME@latest",
                field="dataset",
            )
        return cls(name, int(ver))

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


@dataclass(frozen=True)
class DatasetVersion:
    """An immutable version of a dataset: content digest, schema and profile."""

    name: str
    version: int
    digest: str
    format: str  # "csv" | "parquet"
    size: int
    num_rows: int
    num_columns: int
    schema: list[SchemaField]
    profile: list[ColumnProfile]
    source: str
    parent: DatasetRef | None
    created_at: float
    project: str = "default"
    description: str = ""
    superseded_by: DatasetRef | None = None  # the version an erasure replaced this one with
    erasure: int | None = None  # the erasure that superseded it
    purged_at: float | None = None  # when its content left the artifact store

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def purged(self) -> bool:
        """Whether the version's content was removed (only its metadata and digest remain)."""
        return self.purged_at is not None

    @property
    def source_suffix(self) -> str:
        """The last two suffixes of the registered file's name (``.csv.gz``, ``.parquet``; "" if none)."""
        base = self.source.replace("\\", "/").rsplit("/", 1)[-1].lstrip(".")
        return "".join(f".{part}" for part in base.split(".")[1:][-2:])

    @property
    def read_suffix(self) -> str:
        """The suffix a reader recognises the stored table by: the source's (lower case) for CSV/TSV,
        else ``.<format>``."""
        suffix = self.source_suffix.lower()
        if self.format == "parquet" or suffix not in (".csv", ".tsv", ".csv.gz", ".tsv.gz"):
            return f".{self.format}"
        return suffix

    @property
    def file_name(self) -> str:
        """The name a download into a folder takes: ``NAME-vN`` and the registered file's extension
        (``.<format>`` when it has none carnet reads)."""
        suffix = self.source_suffix
        if not suffix or suffix.lstrip(".").split(".")[0] not in ("csv", "tsv", "parquet", "pq"):
            suffix = f".{self.format}"
        return f"{self.name}-v{self.version}{suffix}"
