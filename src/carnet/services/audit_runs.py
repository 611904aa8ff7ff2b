"""The fold of run events, compared with the run tables one run at a time.

The store streams every per-run source in run id order: the run events (then by sequence), the
``runs`` rows, params, tags, metric rows, ``latest_metrics``, artifacts and inputs. They are
merged on the run id, so memory holds one run's events and rows, never the whole workspace.

For each run the events give its row (project, name, parent, status, error, deleted), its params,
tags, artifacts and inputs, exactly. Metric values are not copied into the ledger:

* an ended run is compared with the ``metrics_digest`` of its ``run.end`` (every value, step and
  timestamp in a canonical order; a later batch of late values records the new digest), and its
  ``params_digest`` / ``tags_digest`` are recomputed from the rows;
* a running run (or an ended one whose digest went stale) is compared with the sum of its
  batches' ``values_sum``: the order-free digest of every row written;
* a run whose events carry neither (an older ledger) is counted as not covered; the number of
  its metric rows is still compared with the batches' ``count``.

``latest_metrics`` must agree with the run's metric rows (the highest step, then timestamp).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from carnet.domain.audit_digests import (
    MetricsDigest,
    metric_row,
    metric_row_hash,
    metric_sum_key,
    pairs_digest,
    sum_hex,
)
from carnet.errors import StorageError
from carnet.services.audit_fold import check_workspace
from carnet.services.audit_state import DeepReport, Mismatches, same
from carnet.store.interfaces import StateReader, Transaction

__all__ = ["check_runs", "deep_check"]

_BATCH_ACTIONS = frozenset({"run.log_metrics", "run.log_batch", "run.end"})


class _Stream:
    """One source of rows ``(run id, ...)`` sorted by run id, taken a run at a time."""

    def __init__(self, name: str, rows: Iterator[tuple[Any, ...]]) -> None:
        self.name = name
        self._rows = rows
        self.head: tuple[Any, ...] | None = next(rows, None)

    @property
    def run(self) -> str | None:
        return None if self.head is None else str(self.head[0])

    def take(self, run: str) -> Iterator[tuple[Any, ...]]:
        """The rows of ``run`` (the stream's head must be at or after it)."""
        while self.head is not None and self.head[0] == run:
            row = self.head
            self.head = next(self._rows, None)
            if self.head is not None and str(self.head[0]) < run:
                raise StorageError(f"deep verification: {self.name} are not read in run id order")
            yield row


@dataclass
class _RunFold:
    """What a run's events say about its rows."""

    row: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    rows: int | None = 0  # metric rows written (None: a batch did not say)
    total: int = 0  # sum of the batches' values_sum
    sums: bool = True  # every batch recorded its values_sum
    ended: bool = False
    digest: str | None = None  # metrics digest at the end (None: not recorded, or stale)
    params_digest: str | None = None
    tags_digest: str | None = None
    events: int = 0

    def batch(self, p: dict[str, Any]) -> None:
        if "count" not in p:
            return
        self.rows = None if self.rows is None else self.rows + int(p["count"])
        if "values_sum" in p:
            self.total += int(str(p["values_sum"]), 16)
        else:
            self.sums = False
        if self.ended:  # late values: the digest at the end no longer covers them
            self.digest = p.get("metrics_digest")

    def apply(self, action: str, p: dict[str, Any]) -> None:
        self.events += 1
        if action == "run.create":
            self.row = {
                "project": p.get("project"), "name": p.get("name"), "parent_id": p.get("parent_id"),
                "status": "running", "deleted": False, "error": None,
            }  # fmt: skip
            self.params = dict(p.get("params") or {})
            self.tags = dict(p.get("tags") or {})
            return
        if "params" in p:
            self.params.update(p["params"] or {})
        if action in _BATCH_ACTIONS:
            self.batch(p)
        if action == "run.end":
            self.ended = True
            if self.row is not None:
                self.row.update(status=p.get("status"), error=p.get("error"))
            self.digest = p.get("metrics_digest")
            self.params_digest, self.tags_digest = p.get("params_digest"), p.get("tags_digest")
        elif action == "run.set_tags":
            self.tags.update(p.get("tags") or {})
            self.tags_digest = None
        elif action == "run.delete_tag":
            self.tags.pop(str(p.get("key")), None)
            self.tags_digest = None
        elif action in ("run.delete", "run.restore") and self.row is not None:
            self.row["deleted"] = action == "run.delete"
        elif action == "run.log_artifacts":
            for path, digest, size in p.get("artifacts") or ():
                self.artifacts[str(path)] = {"digest": digest, "size": size}
        elif action == "run.log_inputs":
            for dataset, version, _digest, context in p.get("inputs") or ():
                self.inputs[(f"{dataset}@{version}", str(context))] = {"dataset": dataset, "version": version}


@dataclass
class _Found:
    """A run's metric rows, reduced as they stream."""

    rows: int = 0
    digest: str = ""
    total: int = 0
    latest: dict[str, tuple[tuple[int, float], list[Any]]] = field(default_factory=dict)


def _metrics(rows: Iterator[tuple[Any, ...]], *, digest: bool, total: bool, key: bytes | None) -> _Found:
    found, ordered = _Found(), MetricsDigest()
    latest = found.latest
    for _run, name, value, step, ts in rows:
        found.rows += 1
        if digest or total:
            row = metric_row(name, value, step, ts)
            if digest:
                ordered.update_row(row)
            if total:
                found.total += metric_row_hash(row, key)
        at = (step, ts)
        best = latest.get(name)
        if best is None or at > best[0]:
            latest[name] = (at, [value])
        elif at == best[0]:
            best[1].append(value)
    found.digest = ordered.hexdigest()
    return found


class _Checker:
    def __init__(self, reader: StateReader, out: Mismatches, audit_key: str | None) -> None:
        self.out = out
        self.key = metric_sum_key(audit_key)
        self.events = _Stream("run events", reader.run_events())
        self.runs = _Stream("runs", iter(reader.runs()))
        self.params = _Stream("params", reader.params())
        self.tags = _Stream("tags", reader.tags())
        self.metrics = _Stream("metrics", reader.metrics())
        self.latest = _Stream("latest_metrics", reader.latest_metrics())
        self.artifacts = _Stream("artifacts", reader.artifacts())
        self.inputs = _Stream("run_inputs", reader.inputs())
        self.all: tuple[_Stream, ...] = (self.events, self.runs, self.params, self.tags)
        self.all += (self.metrics, self.latest, self.artifacts, self.inputs)
        self.checked = self.not_covered = 0

    def run(self) -> None:
        while True:
            heads = [s.run for s in self.all if s.run is not None]
            if not heads:
                return
            rid = min(heads)
            self.check(rid)
            for s in self.all:  # anything a check left unread
                for _ in s.take(rid):
                    pass

    def check(self, rid: str) -> None:
        fold = _RunFold()
        for _run, _seq, action, payload in self.events.take(rid):
            fold.apply(action, json.loads(payload))
        out = self.out
        found_row = {r[0]: r[1] for r in self.runs.take(rid)}
        out.compare("runs", {rid: fold.row} if fold.row is not None else {}, found_row)
        n = len(out.items)
        params = {r[1]: r[2] for r in self.params.take(rid)}
        out.compare("params", _keyed(rid, fold.params), _keyed(rid, params))
        if (
            fold.ended
            and fold.params_digest
            and len(out.items) == n
            and pairs_digest(params.items()) != fold.params_digest
        ):
            out.add("params", f"{rid} (digest at run.end)", fold.params_digest, pairs_digest(params.items()))
        n = len(out.items)
        tags = {r[1]: r[2] for r in self.tags.take(rid)}
        out.compare("tags", _keyed(rid, fold.tags), _keyed(rid, tags))
        if (
            fold.ended
            and fold.tags_digest
            and len(out.items) == n
            and pairs_digest(tags.items()) != fold.tags_digest
        ):
            out.add("tags", f"{rid} (digest at run.end)", fold.tags_digest, pairs_digest(tags.items()))
        artifacts = {(rid, r[1]): {"digest": r[2], "size": r[3]} for r in self.artifacts.take(rid)}
        out.compare("artifacts", {(rid, k): v for k, v in fold.artifacts.items()}, artifacts)
        inputs = {
            (rid, f"{r[1]}@{r[2]}", r[3]): {"dataset": r[1], "version": r[2]} for r in self.inputs.take(rid)
        }
        out.compare("run_inputs", {(rid, *k): v for k, v in fold.inputs.items()}, inputs)
        self.check_metrics(rid, fold)

    def check_metrics(self, rid: str, fold: _RunFold) -> None:
        by_digest = fold.ended and fold.digest is not None
        by_sum = not by_digest and fold.sums and fold.rows is not None and fold.events > 0
        found = _metrics(self.metrics.take(rid), digest=by_digest, total=by_sum, key=self.key)
        counted = {} if fold.rows is None else {"rows": fold.rows}
        n = len(self.out.items)
        if fold.events == 0:
            if found.rows:
                self.out.add("metrics", rid, None, {"rows": found.rows})
        elif by_digest:
            self.checked += 1
            if found.digest != fold.digest or (fold.rows is not None and found.rows != fold.rows):
                want = counted | {"digest": fold.digest}
                self.out.add("metrics", rid, want, {"rows": found.rows, "digest": found.digest})
        elif by_sum:
            self.checked += 1
            want_sum, have_sum = sum_hex(fold.total), sum_hex(found.total)
            if want_sum != have_sum or found.rows != fold.rows:
                self.out.add(
                    "metrics",
                    rid,
                    {"rows": fold.rows, "values_sum": want_sum},
                    {"rows": found.rows, "values_sum": have_sum},
                )
        else:
            self.not_covered += 1
            if fold.rows is not None and found.rows != fold.rows:
                self.out.add("metrics", rid, counted, {"rows": found.rows})
        # latest_metrics is derived from the metric rows: compared with them once they are known
        # good (or at least not found bad); a run without events has none
        if fold.events == 0:
            for _run, key, value, step, ts in self.latest.take(rid):
                self.out.add("latest_metrics", f"{rid}/{key}", None, _latest(value, step, ts))
        elif len(self.out.items) == n:
            self.check_latest(rid, found)

    def check_latest(self, rid: str, found: _Found) -> None:
        """``latest_metrics`` of ``rid`` against its metric rows: the highest (step, timestamp)."""
        stored = {r[1]: (r[2], r[3], r[4]) for r in self.latest.take(rid)}
        for key in sorted(set(found.latest) | set(stored)):
            best, have = found.latest.get(key), stored.get(key)
            want = None if best is None else _latest(best[1][-1], *best[0])
            shown = None if have is None else _latest(*have)
            if (
                best is None
                or have is None
                or (have[1], have[2]) != best[0]
                or not any(same(have[0], v) for v in best[1])
            ):
                self.out.add("latest_metrics", f"{rid}/{key}", want, shown)


def _latest(value: float | None, step: int, timestamp: float) -> dict[str, Any]:
    return {"value": value, "step": step, "timestamp": timestamp}


def _keyed(rid: str, values: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(rid, k): v for k, v in values.items()}


def check_runs(reader: StateReader, out: Mismatches, audit_key: str | None) -> tuple[int, int]:
    """Compare every run's rows with the fold of its events; returns (runs whose metric values
    were checked, runs whose events predate the digests)."""
    checker = _Checker(reader, out, audit_key)
    checker.run()
    return checker.checked, checker.not_covered


def deep_check(tx: Transaction, audit_key: str | None = None) -> DeepReport:
    """Fold every event of ``tx``'s snapshot and compare with the current rows.

    ``audit_key`` is ``CARNET_AUDIT_KEY`` (the row hashes of metric batches are keyed by it).
    """
    out = Mismatches()
    check_workspace(tx.state, out)
    checked, not_covered = check_runs(tx.state, out, audit_key)
    return DeepReport(tuple(out.items), checked, not_covered)
