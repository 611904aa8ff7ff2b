"""Audit verification at scale: `carnet audit verify` and `verify --deep` on 1M events, 100k runs.

How the workspace is built (fast, but exactly what carnet writes):

* a few changes go through carnet's service layer (a project, users with roles and tokens, a
  model with two versions, tags and alias moves, a policy): the workspace fold has real work;
* then the runs are bulk-inserted into carnet's own tables (``runs``, ``params``, ``tags``,
  ``metrics``, ``latest_metrics``), with the events that describe them chained after the service
  layer's with carnet's own ``canonical_json`` / ``payload_digest`` / ``chain_hash`` and digests
  (``carnet.domain.audit_digests``), as ``record`` writes them: per run a ``run.create`` with
  params and tags, 9 batches of 3 metric values (each with ``count``, ``values_sha256`` and
  ``values_sum``), the last one in a ``run.end`` with the params, tags and metrics digests: 10
  events a run. 1 run in 100 is still running (its ninth batch is a ``run.log_metrics``), so its
  values are checked by ``values_sum``. Going through ``TrackingService`` (one transaction per
  change) for 100k runs would take about TRACKING_MINUTES minutes on the reference machine.

Each verification then runs in a fresh process, timed, with its peak RSS. No peer keeps a ledger
to compare with (MLflow has none); the target is < 60 s for ``verify --deep``.

    python benchmarks/bench_audit.py --json benchmarks/results/audit.json   # 100k runs, 1M events
    python benchmarks/bench_audit.py --runs 2000                             # a smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BATCHES = 9  # metric batches per run (the last one written with run.end)
KEYS = ("acc", "loss", "lr")  # one value of each per batch
EVENTS_PER_RUN = BATCHES + 1  # run.create, 8 batches, run.end with the ninth (a running run: 9 batches)
RUNNING_EVERY = 100  # one run in 100 is still running

# peak RSS from VmHWM: ru_maxrss survives exec, so a child would report the builder's peak
_VERIFY = """
import json, resource, sys, time
import carnet


def peak_mb():
    try:
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


client = carnet.Client(sys.argv[1])
before = peak_mb()
t0 = time.perf_counter()
v = client.verify_audit(deep=sys.argv[2] == "deep")
seconds = time.perf_counter() - t0
rss = peak_mb()
print(json.dumps({"ok": v.ok, "count": v.count, "seconds": seconds, "peak_rss_mb": rss,
                  "rss_before_mb": before, "mismatches": len(v.state), "runs_checked": v.runs_checked,
                  "runs_not_covered": v.runs_not_covered, "reason": v.reason}))
"""


def _services_part(client: Any) -> None:
    """Changes through the service layer: users, roles, tokens, a model, aliases, a policy."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    client.create_project("bench")
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    model = LogisticRegression().fit(X, np.arange(20) % 2)
    for _ in range(2):
        client.log_model(model, "bench-model", X.head(3), task="binary", project="bench")
    client.set_model_tags("bench-model", {"owner": "bench"})
    for version in (1, 2, 1, 2):
        client.set_model_alias("bench-model", "production", version)
    client.set_policy(
        {"name": "p", "aliases": ["production"], "gates": [{"type": "signature"}]}, project="bench"
    )
    for i in range(20):
        client.add_user(f"user{i}", {"bench": "editor"})
        client.create_token(f"user{i}", "ci")


def build(folder: Path, runs: int) -> dict[str, Any]:
    """A workspace with ``runs`` runs and about ``runs * 10`` events, through carnet's store."""
    from sqlalchemy import insert, select, update

    import carnet
    from carnet.domain.audit import AuditEvent, canonical_json, chain_hash, payload_digest
    from carnet.domain.audit_digests import (
        MetricsDigest,
        metric_row,
        metric_row_hash,
        pairs_digest,
        sum_hex,
    )
    from carnet.store.sql import tables as t

    client = carnet.Client(str(folder))
    started = time.perf_counter()
    _services_part(client)
    engine = client.services.ctx.store.engine
    with engine.begin() as conn:
        head = conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash)).one()
        seq, prev = int(head.seq), head.hash
        pid = conn.execute(select(t.projects.c.id).where(t.projects.c.name == "bench")).scalar_one()
        events: list[dict[str, Any]] = []

        def event(now: float, action: str, rid: str, payload: dict[str, Any]) -> None:
            nonlocal seq, prev
            seq += 1
            digest = payload_digest(payload)
            body = AuditEvent(seq, now, "bench", action, "run", rid, payload, digest, prev, "").body()
            h = chain_hash(prev, body, None)
            events.append({"seq": seq, "time": now, "actor": "bench", "action": action, "subject_type": "run",
                           "subject_id": rid, "payload": canonical_json(payload).decode(),
                           "payload_digest": digest, "prev_hash": prev, "hash": h})  # fmt: skip
            prev = h

        run_rows: list[dict[str, Any]] = []
        params: list[dict[str, Any]] = []
        tags: list[dict[str, Any]] = []
        metrics: list[dict[str, Any]] = []
        latest: list[dict[str, Any]] = []
        now = 1_760_000_000.0

        def flush() -> None:
            for table, rows_ in ((t.runs, run_rows), (t.params, params), (t.tags, tags), (t.metrics, metrics),
                                 (t.latest_metrics, latest), (t.audit_events, events)):  # fmt: skip
                if rows_:
                    conn.execute(insert(table), rows_)
                rows_.clear()

        for i in range(runs):
            rid = hashlib.md5(f"run-{i}".encode()).hexdigest()  # noqa: S324 - an id, not security
            running = i % RUNNING_EVERY == RUNNING_EVERY - 1
            p = {"lr": f"{0.001 * (i % 10):.3f}", "depth": str(i % 7), "model": "gbm"}
            tg = {"team": "a" if i % 2 else "b", "stage": "dev"}
            status = "running" if running else "finished"
            run_rows.append({"id": rid, "project_id": pid, "name": f"r{i}", "status": status,
                             "start_time": now, "end_time": None if running else now + 1, "parent_id": None,
                             "error": None, "deleted": False})  # fmt: skip
            params += [{"run_id": rid, "key": k, "value": v} for k, v in p.items()]
            tags += [{"run_id": rid, "key": k, "value": v} for k, v in tg.items()]
            event(now, "run.create", rid, {"project": "bench", "name": f"r{i}", "parent_id": None,
                                           "params": p, "tags": tg})  # fmt: skip
            rows: list[tuple[str, float, int, float]] = []
            for step in range(BATCHES):
                ts = now + step * 0.01
                batch = [(k, 1.0 / (step + 1) + j + i * 1e-6, step, ts) for j, k in enumerate(KEYS)]
                rows += batch
                metrics += [
                    {"run_id": rid, "key": k, "value": v, "step": s, "timestamp": x} for k, v, s, x in batch
                ]
                summed = sum(metric_row_hash(metric_row(*r), None) for r in batch)
                sha = hashlib.sha256(canonical_json([list(r) for r in batch])).hexdigest()
                payload = {
                    "count": len(batch),
                    "keys": sorted(KEYS),
                    "values_sha256": sha,
                    "values_sum": sum_hex(summed),
                }
                if step < BATCHES - 1 or running:
                    event(ts, "run.log_metrics", rid, payload)
                    continue
                ordered = MetricsDigest()  # run.end: its last batch, then the digests of the run's rows
                for r in sorted(rows, key=lambda r: (r[0], r[2], r[3], r[1])):
                    ordered.update(*r)
                payload.update(params_digest=pairs_digest(p.items()), tags_digest=pairs_digest(tg.items()),
                               metrics_digest=ordered.hexdigest())  # fmt: skip
                event(now + 1, "run.end", rid, {"status": "finished", "error": None, **payload})
            last = rows[-len(KEYS) :]
            latest += [
                {"run_id": rid, "key": k, "value": v, "step": s, "timestamp": x} for k, v, s, x in last
            ]
            if len(events) >= 50_000:
                flush()
                print(f"\r  built {i + 1:,}/{runs:,} runs", end="", file=sys.stderr, flush=True)
        flush()
        conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(seq=seq, hash=prev))
    print(file=sys.stderr)
    client.close()
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return {
        "runs": runs,
        "events": seq,
        "metric_rows": runs * BATCHES * len(KEYS),
        "build_seconds": time.perf_counter() - started,
        "bytes": size,
    }


def measure(folder: Path, mode: str) -> dict[str, Any]:
    """One verification in a fresh process: its time and peak RSS."""
    out = subprocess.run([sys.executable, "-c", _VERIFY, str(folder), mode], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100_000, help=f"runs (events: {EVENTS_PER_RUN} per run)")
    ap.add_argument("--tmp", default=None, help="folder for the workspace (default: a temporary one)")
    ap.add_argument("--json", default=None, help="also save the results here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        folder = Path(tmp) / "ws"
        built = build(folder, args.runs)
        print(f"built {built['runs']:,} runs, {built['events']:,} events, {built['metric_rows']:,} metric "
              f"rows in {built['build_seconds']:.0f} s ({built['bytes'] / 1e6:,.0f} MB)")  # fmt: skip
        results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                                   "workspace": built}  # fmt: skip
        for mode in ("chain", "deep"):
            r = measure(folder, mode)
            results[mode] = r
            label = "verify --deep" if mode == "deep" else "verify"
            extra = f", {r['runs_checked']:,} runs' metric values checked" if mode == "deep" else ""
            verdict = (
                f" ({'meets' if r['seconds'] < 60 else 'MISSES'} the 60 s target)" if mode == "deep" else ""
            )
            print(f"{label:13} ok={r['ok']} {r['count']:,} events in {r['seconds']:.1f} s, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB{extra}{verdict}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if not (results["chain"]["ok"] and results["deep"]["ok"]) or results["deep"]["seconds"] >= 60:
        sys.exit(1)


if __name__ == "__main__":
    main()
