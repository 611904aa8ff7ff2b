"""Profiles without personal data: a flagged column keeps its counts, never its values."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from carnet.domain.datasets import ColumnProfile

__all__ = ["mask_profile"]


def mask_profile(profile: ColumnProfile, finding: Any) -> ColumnProfile:
    """``profile`` with the finding recorded and nothing of the values left.

    Top values become ``<kind 1>``, ``<kind 2>``... with their counts (how skewed the column
    is stays visible, not who is in it); min, max, mean, std and quantiles are dropped, since a
    numeric identifier's extremes are identifiers too. Counts, missing values and the distinct
    count stay.
    """
    kind = str(finding.kind)
    return replace(
        profile,
        min=None,
        max=None,
        mean=None,
        std=None,
        quantiles={},
        top=[(f"<{kind} {i}>", int(count)) for i, (_, count) in enumerate(profile.top, start=1)],
        pii={
            "kind": kind,
            "share": float(finding.share),
            "detector": str(finding.detector),
            "sampled": int(finding.sampled),
            "hint": bool(getattr(finding, "hint", False)),
        },
    )
