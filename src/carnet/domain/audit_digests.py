"""Digests that let the ledger describe a run's rows without copying them (``verify --deep``).

* :func:`pairs_digest`: params or tags of a run, ``SHA-256(canonical_json(sorted [key, value]))``.
* :class:`MetricsDigest`: every metric row of a run, in the order ``key, step, timestamp, value``.
* :func:`metric_row_hash` / :func:`sum_hex`: an order-free digest of metric rows, the sum modulo
  2^256 of each row's BLAKE2b-256 (keyed when the ledger is), so batches written one at a time
  add up to the digest of every row of a running run.
* :func:`token_check`: what the ledger records of a stored API token hash (not the hash itself).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from carnet.domain.audit import canonical_json

__all__ = [
    "SUM_MODULUS",
    "MetricsDigest",
    "metric_row",
    "metric_row_hash",
    "metric_sum_key",
    "pairs_digest",
    "sum_hex",
    "token_check",
]

#: metric row hashes are added modulo this
SUM_MODULUS = 1 << 256


def _num(x: float | int | None) -> str:
    """A float as written in digests: NaN (and NULL, which stands for it) as ``nan``, -0.0 as 0.0."""
    if x is None:
        return "nan"
    v = float(x)
    if v != v:
        return "nan"
    return "0.0" if v == 0.0 else repr(v)


def metric_row(key: str, value: float | None, step: int, timestamp: float) -> bytes:
    """One metric row as digested: ``len(key):key|value|step|timestamp`` and a newline."""
    return f"{len(key)}:{key}|{_num(value)}|{int(step)}|{_num(timestamp)}\n".encode()


class MetricsDigest:
    """SHA-256 over a run's metric rows fed in ``key, step, timestamp, value`` order (streamed)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def update(self, key: str, value: float | None, step: int, timestamp: float) -> None:
        """Add one row."""
        self._h.update(metric_row(key, value, step, timestamp))

    def update_row(self, row: bytes) -> None:
        """Add one row already written by :func:`metric_row`."""
        self._h.update(row)

    def hexdigest(self) -> str:
        """The digest so far."""
        return self._h.hexdigest()


def metric_sum_key(audit_key: str | None) -> bytes | None:
    """The BLAKE2b key of row hashes: derived from ``CARNET_AUDIT_KEY`` (None without one)."""
    if not audit_key:
        return None
    return hmac.new(audit_key.encode(), b"carnet-metric-rows", hashlib.sha256).digest()


def metric_row_hash(row: bytes, key: bytes | None) -> int:
    """BLAKE2b-256 of one :func:`metric_row` as an integer (keyed by :func:`metric_sum_key`)."""
    return int.from_bytes(hashlib.blake2b(row, digest_size=32, key=key or b"").digest(), "big")


def sum_hex(total: int) -> str:
    """A sum of row hashes as 64 hex digits (modulo 2^256)."""
    return format(total % SUM_MODULUS, "064x")


def pairs_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 of the canonical JSON of ``[key, value]`` pairs sorted by key (params or tags)."""
    return hashlib.sha256(canonical_json(sorted([k, v] for k, v in pairs))).hexdigest()


def token_check(token_hash: str) -> str:
    """What the ledger records of an API token: SHA-256 of its stored hash under a fixed label.

    The stored hash is the SHA-256 of a 256-bit secret; this is one more one-way step, so the
    ledger names the token row without holding what authenticates.
    """
    return hashlib.sha256(b"carnet-token-check|" + token_hash.encode()).hexdigest()
