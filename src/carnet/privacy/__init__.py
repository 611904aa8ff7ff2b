"""Personal data in tables: detection (tier 1: patterns and check digits, always on).

    from carnet.privacy import scan_frame
    for finding in scan_frame(df):
        print(finding.column, finding.kind, f"{finding.share:.0%}", finding.detector)

:mod:`carnet.privacy.detectors` recognises values; :mod:`carnet.privacy.scan` classifies
columns from a seeded sample and column-name hints; :func:`mask_profile` keeps the values of a
flagged column out of its profile.
"""

from __future__ import annotations

from carnet.privacy.masking import mask_profile
from carnet.privacy.scan import Finding, ScanOptions, hinted_kinds, scan_columns, scan_frame, scan_values

__all__ = [
    "Finding",
    "ScanOptions",
    "hinted_kinds",
    "mask_profile",
    "scan_columns",
    "scan_frame",
    "scan_values",
]
