"""Re-identification risk of a table: k-anonymity and l-diversity over declared quasi-identifiers.

Rows that share their values of the quasi-identifiers (``age``, ``zip``, ``gender``...) form an
equivalence class. The table is k-anonymous for the size of its smallest class: every row looks
like at least k - 1 others. It is l-diverse for the fewest distinct sensitive values in a class:
knowing someone's class still leaves l possible values of the sensitive attribute. Missing values
form their own value. Computed exactly with pandas' group-by.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["reidentification_risk"]


def reidentification_risk(
    frame: Any, quasi_identifiers: Sequence[str], sensitive: str | None = None, *, smallest: int = 5
) -> dict[str, Any]:
    """k (and l, with ``sensitive``) of a pandas DataFrame, and a summary of its classes.

    Returns:
        ``k``, ``l`` (None without ``sensitive``), ``rows``, ``classes`` (how many),
        ``rows_at_risk`` (rows in classes smaller than 5: those that stand out), ``quasi_identifiers``,
        ``sensitive``, and ``smallest_classes``: the sizes (and, with ``sensitive``, the distinct
        sensitive values) of the ``smallest`` smallest classes, never the values themselves.

    Raises:
        InvalidInput: no quasi-identifier, or a column that is not in the table (named).
    """
    qi = [str(c) for c in quasi_identifiers]
    if not qi:
        raise InvalidInput("name at least one quasi-identifier column", field="quasi_identifiers")
    for column in [*qi, *([sensitive] if sensitive else [])]:
        if column not in frame.columns:
            raise InvalidInput(f"the table has no column {column!r}", field="quasi_identifiers")
    if sensitive in qi:
        raise InvalidInput("the sensitive column cannot also be a quasi-identifier", field="sensitive")
    rows = len(frame)
    if rows == 0:
        raise InvalidInput("the table has no rows", field="data")
    table = frame[qi].astype(object).where(frame[qi].notna(), "<missing>")
    if sensitive:
        table["__sensitive__"] = frame[sensitive].astype(object).where(frame[sensitive].notna(), "<missing>")
    groups = table.groupby(qi, sort=False, dropna=False)
    sizes = groups.size()
    out: dict[str, Any] = {
        "quasi_identifiers": qi,
        "sensitive": sensitive,
        "rows": rows,
        "classes": len(sizes),
        "k": int(sizes.min()),
        "l": None,
        "rows_at_risk": int(sizes[sizes < 5].sum()),
    }
    diversity = None
    if sensitive:
        diversity = groups["__sensitive__"].nunique()
        out["l"] = int(diversity.min())
    order = sizes.sort_values(kind="stable").index[:smallest]
    out["smallest_classes"] = [
        {
            "rows": int(sizes[key]),
            **({"distinct_sensitive": int(diversity[key])} if diversity is not None else {}),
        }
        for key in order
    ]
    return out
