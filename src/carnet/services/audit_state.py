"""Deep verification: the state of the workspace must be the fold of its ledger.

The chain proves what carnet recorded; this proves the tables still say the same. The events
are replayed in order (see :mod:`carnet.services.audit_fold` for the registry, users and
operations, :mod:`carnet.services.audit_runs` for runs) and the result is compared with the
current rows, read in the same snapshot. Each difference is a :class:`StateMismatch` naming the
table, the key and both values; rows without any event and rows the ledger says exist but are
missing are differences too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from carnet.domain.audit import StateMismatch, canonical_json, plain_json

__all__ = ["DeepReport", "Mismatches", "StateMismatch", "same", "shown_key"]


@dataclass(frozen=True)
class DeepReport:
    """What deep verification found; ``runs_checked`` runs had every metric value compared,
    ``runs_not_covered`` could not be (their events predate the digests)."""

    mismatches: tuple[StateMismatch, ...]
    runs_checked: int
    runs_not_covered: int


def same(a: Any, b: Any) -> bool:
    """Whether two values are the same data (canonical JSON, NaN equal to NULL)."""
    return a == b or canonical_json(plain_json(a)) == canonical_json(plain_json(b))


def _order(key: Any) -> Any:
    parts = key if isinstance(key, tuple) else (key,)
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in parts)


def shown_key(key: Any) -> str:
    """A key as printed: tuple parts joined by ``/``."""
    return "/".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


_MISSING = object()


class Mismatches:
    """Collects the differences, table by table."""

    def __init__(self) -> None:
        self.items: list[StateMismatch] = []

    def add(self, table: str, key: str, expected: Any, found: Any) -> None:
        """One difference."""
        self.items.append(StateMismatch(table, key, plain_json(expected), plain_json(found)))

    def compare(
        self,
        table: str,
        expected: Mapping[Any, Any],
        found: Mapping[Any, Any],
        *,
        key: Callable[[Any], str] = shown_key,
    ) -> None:
        """Rows by key: a row on one side only is a difference; for dict rows, each field the
        ledger states (the ledger may state fewer fields than the table holds) is compared."""
        for k in sorted(set(expected) | set(found), key=_order):
            want, have = expected.get(k, _MISSING), found.get(k, _MISSING)
            if want is _MISSING:
                self.add(table, key(k), None, have)
            elif have is _MISSING:
                self.add(table, key(k), want, None)
            elif isinstance(want, Mapping) and isinstance(have, Mapping):
                for field, value in want.items():
                    if not same(value, have.get(field)):
                        self.add(table, f"{key(k)}/{field}", value, have.get(field))
            elif not same(want, have):
                self.add(table, key(k), want, have)

    def compare_lists(
        self, table: str, expected: Mapping[Any, list[Any]], found: Mapping[Any, list[Any]]
    ) -> None:
        """Sequences by key (history tables), entry by entry: ``key#n`` names the n-th entry."""
        for k in sorted(set(expected) | set(found), key=_order):
            want, have = expected.get(k, []), found.get(k, [])
            prefix = shown_key(k)
            for i in range(max(len(want), len(have))):
                self.compare(
                    table,
                    {i + 1: want[i]} if i < len(want) else {},
                    {i + 1: have[i]} if i < len(have) else {},
                    key=lambda n: f"{prefix}#{n}",  # noqa: B023 - used before the loop moves on
                )
