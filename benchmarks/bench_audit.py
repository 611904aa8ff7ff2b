"""Audit verification at scale: `carnet audit verify` and `verify --deep` on 1M events, 100k runs.

The workspace is built fast but faithfully: runs, params, tags and metric rows are bulk-inserted
into carnet's own tables, and the ledger that describes them is chained with carnet's own
``canonical_json`` / ``payload_digest`` / ``chain_hash`` (exactly what ``record`` writes: a
``run.create`` with params and tags, ``run.log_metrics`` batches, and a ``run.end`` carrying the
digest of every metric value). Each verification then runs in a fresh process, timed, with its
peak RSS. No peer has a ledger to compare with (MLflow keeps none); the target is < 60 s.

    python benchmarks/bench_audit.py                       # 100k runs, 1M events
    python benchmarks/bench_audit.py --runs 2000 --json benchmarks/results/audit.json  # smoke
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

EVENTS_PER_RUN = 10  # run.create, 8 x run.log_metrics, run.end
METRIC_BATCHES = EVENTS_PER_RUN - 2

_VERIFY = """
import json, resource, sys, time
import carnet
client = carnet.Client(sys.argv[1])
t0 = time.perf_counter()
v = client.verify_audit(deep=sys.argv[2] == "deep")
seconds = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ok": v.ok, "count": v.count, "seconds": seconds, "peak_rss_mb": rss,
                  "mismatches": len(v.state), "runs_checked": v.runs_checked, "reason": v.reason}))
"""


def build(folder: Path, runs: int) -> dict[str, Any]:
    """A workspace with ``runs`` ended runs and ``runs * 10`` events, through carnet's store."""
    from sqlalchemy import insert, select, update

    import carnet
    from carnet.domain.audit import GENESIS_HASH, AuditEvent, canonical_json, chain_hash, payload_digest
    from carnet.store.sql import tables as t
    from carnet.store.sql.audit_state import metrics_digest_of_rows

    client = carnet.Client(str(folder))
    project = client.create_project("bench")
    engine = client.services.ctx.store.engine
    started = time.perf_counter()
    with engine.begin() as conn:
        head = conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash)).one()
        seq, prev = int(head.seq), head.hash or GENESIS_HASH
        pid = conn.execute(select(t.projects.c.id).where(t.projects.c.name == project.name)).scalar_one()
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

        run_rows, params, tags, metrics = [], [], [], []
        now = 1_760_000_000.0
        for i in range(runs):
            rid = hashlib.md5(f"run-{i}".encode()).hexdigest()  # noqa: S324 - an id, not security
            p = {"lr": f"{0.001 * (i % 10):.3f}", "depth": str(i % 7)}
            tg = {"team": "a" if i % 2 else "b"}
            run_rows.append({"id": rid, "project_id": pid, "name": f"r{i}", "status": "finished",
                             "start_time": now, "end_time": now + 1, "parent_id": None, "error": None,
                             "deleted": False})  # fmt: skip
            params += [{"run_id": rid, "key": k, "value": v} for k, v in p.items()]
            tags += [{"run_id": rid, "key": k, "value": v} for k, v in tg.items()]
            event(now, "run.create", rid, {"project": "bench", "name": f"r{i}", "parent_id": None,
                                           "params": p, "tags": tg})  # fmt: skip
            rows = []
            for step in range(METRIC_BATCHES):
                value, ts = 1.0 / (step + 1) + i * 1e-6, now + step * 0.01
                metrics.append({"run_id": rid, "key": "loss", "value": value, "step": step, "timestamp": ts})
                rows.append(("loss", value, step, ts))
                batch = [["loss", value, step, ts]]
                event(ts, "run.log_metrics", rid, {"count": 1, "keys": ["loss"],
                      "values_sha256": hashlib.sha256(canonical_json(batch)).hexdigest()})  # fmt: skip
            event(now + 1, "run.end", rid, {"status": "finished", "error": None,
                  "metrics_digest": metrics_digest_of_rows(iter(rows))})  # fmt: skip
            if len(events) >= 50_000:
                conn.execute(insert(t.runs), run_rows)
                conn.execute(insert(t.params), params)
                conn.execute(insert(t.tags), tags)
                conn.execute(insert(t.metrics), metrics)
                conn.execute(insert(t.audit_events), events)
                run_rows, params, tags, metrics, events = [], [], [], [], []
                print(f"\r  built {i + 1:,}/{runs:,} runs", end="", file=sys.stderr, flush=True)
        for table, rows_ in ((t.runs, run_rows), (t.params, params), (t.tags, tags), (t.metrics, metrics),
                             (t.audit_events, events)):  # fmt: skip
            if rows_:
                conn.execute(insert(table), rows_)
        conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(seq=seq, hash=prev))
    print(file=sys.stderr)
    client.close()
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return {"runs": runs, "events": seq, "build_seconds": time.perf_counter() - started, "bytes": size}


def measure(folder: Path, mode: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _VERIFY, str(folder), mode], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100_000, help="runs (events: 10 per run)")
    ap.add_argument("--tmp", default=None, help="folder for the workspace (default: a temporary one)")
    ap.add_argument("--json", default=None, help="also save the results here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        folder = Path(tmp) / "ws"
        built = build(folder, args.runs)
        print(f"built {built['runs']:,} runs, {built['events']:,} events in {built['build_seconds']:.0f} s "
              f"({built['bytes'] / 1e6:,.0f} MB)")  # fmt: skip
        results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                                   "workspace": built}  # fmt: skip
        for mode in ("chain", "deep"):
            r = measure(folder, mode)
            results[mode] = r
            verdict = "meets" if r["seconds"] < 60 else "MISSES"
            label = "verify --deep" if mode == "deep" else "verify"
            print(f"{label:13} ok={r['ok']} {r['count']:,} events in {r['seconds']:.1f} s, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB ({verdict} the 60 s target)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if not (results["chain"]["ok"] and results["deep"]["ok"]) or results["deep"]["seconds"] >= 60:
        sys.exit(1)


if __name__ == "__main__":
    main()
