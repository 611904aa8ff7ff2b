"""Personal data in carnet: how well the tier-1 scan detects it, and what scanning and de-identifying cost.

Measured on this machine, in one run:

1. **Detection quality** on the labelled faker corpus (``carnet.testing.pii.pii_corpus``, 44 columns,
   1,000 rows, seeds 0..4): column-level precision, recall and kind accuracy of
   ``carnet.privacy.scan_frame``; per detector of ``carnet.privacy.detectors.DETECTORS``, the share
   of the values of its kind's columns that ``detector.hinted`` accepts (recall) and the share of the
   values of the columns without personal data that ``detector.match`` accepts (false matches).
2. **Scan cost at ``data add``**: a 1,000,000-row Parquet table of 10 columns (6 drawn from 20,000
   corpus rows, 4 numeric, categorical and date); ``carnet.data.scan_table`` (the profiling pass that
   collects the row sample), the PII classification of that sample (``scan_frame``) and
   ``Client.add_dataset`` end to end, in a new workspace each time. Median of 3.
3. **scan_frame throughput** on the corpus tiled to 100,000 rows, with ``ScanOptions(sample=N)``
   for N = 1,000 / 10,000 / 100,000: seconds and values (rows x columns) per second.
4. **De-identification**: ``apply_deidentification`` on the 1,000,000-row table, one method at a time
   and all at once (``encrypt_fpe``, and then all at once, on 100,000 rows when 1,000,000 would take
   more than 2 minutes); and ``Client.deidentify_dataset`` end to end on the dataset added in 2.
5. **Re-identification risk**: ``reidentification_risk`` (k-anonymity, l-diversity) on 1,000,000
   rows, 3 quasi-identifiers (raw, then generalized) and a sensitive column. Median of 3.

    python benchmarks/bench_privacy.py [--rows 1000000] [--repeats 3] [--json PATH] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

KEY = b"0123456789abcdef-bench-key"
KEY_VAR = "CARNET_BENCH_DEID_KEY"
FPE_BUDGET = 120.0  # seconds: above it, encrypt_fpe is measured on FPE_ROWS rows
FPE_ROWS = 100_000
METHODS: dict[str, tuple[str, Any]] = {  # label -> (column, setting)
    "drop": ("customer_id", "drop"),
    "mask": ("phone", {"method": "mask", "keep_last": 2}),
    "pseudonymize": ("email", "pseudonymize"),
    "encrypt_fpe": ("card", "encrypt_fpe"),
    "generalize bins": ("age", {"method": "generalize", "bins": [0, 18, 30, 50, 70, 120]}),
    "generalize truncate": ("birth_date", {"method": "generalize", "truncate": "year"}),
    "generalize prefix": ("zip", {"method": "generalize", "prefix": 2}),
    "shift_dates": ("visit", {"method": "shift_dates", "entity": "customer_id", "max_days": 30}),
    "redact_text": ("notes", "redact_text"),
}
ALL = {column: setting for column, setting in METHODS.values()}


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def detection_quality(seeds: range, rows: int) -> dict[str, Any]:
    from carnet.privacy import scan_frame
    from carnet.privacy.detectors import DETECTORS
    from carnet.privacy.scan import _texts  # the text the scan's detectors see
    from carnet.testing.pii import pii_corpus

    columns: dict[str, list[float]] = {"precision": [], "recall": [], "kind_accuracy": []}
    errors: list[str] = []
    per: dict[str, dict[str, Any]] = {
        k: {"recall": [], "false_match": [], "by_column": {}} for k in DETECTORS
    }
    for seed in seeds:
        frame, labels = pii_corpus(rows, seed)
        found = {f.column: f.kind for f in scan_frame(frame)}
        pii = {c for c, k in labels.items() if k is not None}
        hits = [c for c in found if c in pii]
        columns["precision"].append(len(hits) / len(found))
        columns["recall"].append(len(hits) / len(pii))
        columns["kind_accuracy"].append(sum(found[c] == labels[c] for c in hits) / len(hits))
        errors += [
            f"seed {seed}: `{c}` {labels[c]} -> {found.get(c)}" for c in labels if found.get(c) != labels[c]
        ]
        texts = {c: _texts(frame[c].tolist()) for c in labels}
        clean = [c for c, k in labels.items() if k is None]
        for kind, det in DETECTORS.items():
            own = [t for c, k in labels.items() if k == kind for t in texts[c]]
            per[kind]["recall"].append(sum(map(det.hinted, own)) / len(own))
            matched = {c: sum(map(det.match, texts[c])) for c in clean}
            per[kind]["false_match"].append(sum(matched.values()) / sum(len(texts[c]) for c in clean))
            for c, n in matched.items():
                per[kind]["by_column"][c] = per[kind]["by_column"].get(c, 0) + n
    detectors = {
        kind: {
            "detector": DETECTORS[kind].name,
            "columns": sum(1 for k in labels.values() if k == kind),
            "value_recall": statistics.mean(p["recall"]),
            "false_match_rate": statistics.mean(p["false_match"]),
            "false_matches_by_column": {c: n for c, n in p["by_column"].items() if n},
        }
        for kind, p in per.items()
    }
    return {
        "seeds": list(seeds),
        "rows": rows,
        "columns": len(labels),
        "pii_columns": len(pii),
        "column_level": {m: {"mean": statistics.mean(v), "per_seed": v} for m, v in columns.items()},
        "column_errors": errors,
        "detectors": detectors,
    }


def big_table(corpus: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows of 10 columns: 6 drawn from the corpus' rows, 4 generated."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(corpus), rows)
    picked = {new: corpus[old].to_numpy()[pick] for new, old in (
        ("email", "email"), ("phone", "telephone"), ("card", "card_number"),
        ("birth_date", "date_of_birth"), ("zip", "zip_code"), ("notes", "notes"))}  # fmt: skip
    visit = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, rows), unit="D")
    return pd.DataFrame(
        {
            "customer_id": rng.integers(1, 200_001, rows),
            **{c: pd.array(v, dtype="string") for c, v in picked.items()},
            "age": rng.integers(18, 91, rows),
            "gender": rng.choice(["F", "M", "X"], rows, p=[0.49, 0.49, 0.02]),
            "visit": visit,
        }
    )


def scan_cost(path: Path, rows: int, repeats: int, tmp: Path) -> tuple[dict[str, Any], Any]:
    import carnet
    from carnet.data import scan_table
    from carnet.privacy import scan_frame

    runs: dict[str, list[float]] = {"scan_table": [], "scan_frame_sample": [], "add_dataset": []}
    client = None
    for i in range(repeats):
        seconds, summary = _timed(lambda: scan_table(path))
        runs["scan_table"].append(seconds)
        seconds, findings = _timed(lambda s=summary: scan_frame(s.sample))
        runs["scan_frame_sample"].append(seconds)
        if client is not None:
            client.close()
        client = carnet.Client(str(tmp / f"ws-{i}"))
        seconds, (added, _) = _timed(lambda c=client: c.add_dataset(path, "big"))
        runs["add_dataset"].append(seconds)
    out: dict[str, Any] = {"rows": rows, "file_mb": path.stat().st_size / 1e6, "sampled": len(summary.sample)}
    for step, values in runs.items():
        median = statistics.median(values)
        out[step] = {"seconds": values, "median_seconds": median, "rows_per_second": rows / median}
    share = statistics.median(runs["scan_table"]) + statistics.median(runs["scan_frame_sample"])
    out["scan_share_of_add"] = share / statistics.median(runs["add_dataset"])
    out["findings"] = {f.column: f.kind for f in findings}
    out["flagged_in_profile"] = {p.name: p.pii["kind"] for p in added.profile if p.pii}
    return out, client


def scan_throughput(corpus: pd.DataFrame, sizes: list[int]) -> dict[str, Any]:
    from carnet.privacy import ScanOptions, scan_frame

    frame = pd.concat([corpus] * -(-max(sizes) // len(corpus)), ignore_index=True).iloc[: max(sizes)]
    out = {}
    for n in sizes:
        seconds, found = _timed(lambda n=n: scan_frame(frame, ScanOptions(sample=n)))
        out[str(n)] = {
            "seconds": seconds,
            "values_per_second": n * frame.shape[1] / seconds,
            "flagged": len(found),
        }
        print("scan_frame", n, out[str(n)], flush=True)
    return {"table_rows": len(frame), "columns": frame.shape[1], "samples": out}


def deidentification(frame: pd.DataFrame) -> dict[str, Any]:
    from carnet.privacy.deidentify import apply_deidentification, parse_config

    def run(columns: dict[str, Any], part: pd.DataFrame) -> dict[str, Any]:
        config = parse_config({"key": f"env:{KEY_VAR}", "columns": columns})
        seconds, _ = _timed(lambda: apply_deidentification(part, config, KEY))
        return {"rows": len(part), "seconds": seconds, "rows_per_second": len(part) / seconds}

    probe = run({"card": "encrypt_fpe"}, frame.iloc[:20_000])
    fpe_rows = len(frame) if len(frame) / probe["rows_per_second"] <= FPE_BUDGET else FPE_ROWS
    out: dict[str, Any] = {"fpe_probe": probe, "methods": {}}
    for label, (column, setting) in METHODS.items():
        part = frame.iloc[:fpe_rows] if label == "encrypt_fpe" else frame
        out["methods"][label] = {"column": column, **run({column: setting}, part)}
        print("deidentify", label, out["methods"][label], flush=True)
    out["methods"]["all at once"] = {"column": "all 9", **run(ALL, frame.iloc[:fpe_rows])}
    return out


def end_to_end(client: Any, ref: str, rows: int) -> dict[str, Any]:
    os.environ[KEY_VAR] = KEY.decode()
    seconds, (made, _) = _timed(
        lambda: client.deidentify_dataset(ref, {"key": f"env:{KEY_VAR}", "columns": ALL})
    )
    flagged = {p.name: p.pii["kind"] for p in made.profile if p.pii}
    return {"source": ref, "result": made.ref, "rows": rows, "seconds": seconds,
            "rows_per_second": rows / seconds, "flagged_after": flagged}  # fmt: skip


def risk(frame: pd.DataFrame, repeats: int) -> dict[str, Any]:
    from carnet.privacy.deidentify import apply_deidentification, parse_config
    from carnet.privacy.risk import reidentification_risk

    table = frame[["age", "zip", "gender"]].copy()
    table["diagnosis"] = np.random.default_rng(1).choice([f"D{i:02d}" for i in range(20)], len(table))
    general = apply_deidentification(
        table, parse_config({"columns": {c: ALL[c] for c in ("age", "zip")}}), None
    )
    out = {}
    for name, data in (("raw", table), ("generalized (age bins, zip prefix 2)", general)):
        times, result = [], None
        for _ in range(repeats):
            seconds, result = _timed(
                lambda d=data: reidentification_risk(d, ["age", "zip", "gender"], "diagnosis")
            )
            times.append(seconds)
        out[name] = {"seconds": times, "median_seconds": statistics.median(times), "rows": len(data),
                     **{k: result[k] for k in ("classes", "k", "l", "rows_at_risk")}}  # fmt: skip
    return out


def markdown(r: dict[str, Any]) -> list[str]:
    m, d = r["machine"], r["detection"]
    cl = d["column_level"]
    lines = [
        f"{m['cpus']} CPUs, Python {m['python']}, pandas {m['pandas']}, pyarrow {m['pyarrow']}, "
        f"phonenumbers {m['phonenumbers']}, python-stdnum {m['python-stdnum']}, faker {m['faker']}, ff3 {m['ff3']}.",
        "",
        f"### Detection on the labelled corpus ({d['columns']} columns, {d['pii_columns']} with personal data, "
        f"{d['rows']:,} rows, seeds {d['seeds'][0]}..{d['seeds'][-1]})",
        "",
        f"Column level (`scan_frame`, mean over seeds): precision {cl['precision']['mean']:.3f}, "
        f"recall {cl['recall']['mean']:.3f}, kind accuracy {cl['kind_accuracy']['mean']:.3f}.",
        "Columns misclassified: " + ("; ".join(d["column_errors"]) or "none") + ".",
        "",
        "| kind | detector | columns | value recall (`hinted`) | false matches on non-PII values (`match`) "
        "| where the false matches were |",
        "|---|---|---:|---:|---:|---|",
    ]
    for kind, x in d["detectors"].items():
        where = ", ".join(
            f"`{c}` {n}" for c, n in sorted(x["false_matches_by_column"].items(), key=lambda i: -i[1])
        )
        lines.append(
            f"| {kind} | {x['detector']} | {x['columns']} | {x['value_recall']:.4f} | "
            f"{x['false_match_rate']:.5f} | {where or '-'} |"
        )
    s = r["scan_cost"]
    lines += [
        "",
        f"### Scan cost at `data add` ({s['rows']:,} rows x 10 columns, Parquet {s['file_mb']:.0f} MB, "
        f"median of {len(s['add_dataset']['seconds'])})",
        "",
        "| step | median (s) | rows/s | runs (s) |",
        "|---|---:|---:|---|",
    ]
    for step, label in (("scan_table", "`scan_table` (profile + row sample)"),
                        ("scan_frame_sample", f"`scan_frame` of its {s['sampled']:,}-row sample"),
                        ("add_dataset", "`Client.add_dataset` end to end")):  # fmt: skip
        x = s[step]
        runs = ", ".join(f"{v:.2f}" for v in x["seconds"])
        lines.append(f"| {label} | {x['median_seconds']:.3f} | {x['rows_per_second']:,.0f} | {runs} |")
    flagged = ", ".join(f"`{c}` {k}" for c, k in s["flagged_in_profile"].items())
    lines += [
        "",
        f"Scan (profile + classification) share of the add: {100 * s['scan_share_of_add']:.0f}%. "
        f"Flagged in the stored profile: {flagged}.",
        "",
        f"### `scan_frame` on whole columns (corpus tiled to {r['throughput']['table_rows']:,} rows x "
        f"{r['throughput']['columns']} columns)",
        "",
        "| sample rows | seconds | values/s | columns flagged |",
        "|---:|---:|---:|---:|",
    ]
    for n, x in r["throughput"]["samples"].items():
        lines.append(f"| {int(n):,} | {x['seconds']:.2f} | {x['values_per_second']:,.0f} | {x['flagged']} |")
    lines += ["", "### De-identification (`apply_deidentification`)", "",
              "| method | column | rows | seconds | rows/s |", "|---|---|---:|---:|---:|"]  # fmt: skip
    for label, x in r["deidentify"]["methods"].items():
        lines.append(
            f"| {label} | `{x['column']}` | {x['rows']:,} | {x['seconds']:.2f} | {x['rows_per_second']:,.0f} |"
        )
    e = r["end_to_end"]
    lines += [
        "",
        f"`Client.deidentify_dataset('{e['source']}', all 9 columns)` end to end (read, de-identify, write, "
        f"profile and scan the new version): {e['seconds']:.1f} s for {e['rows']:,} rows "
        f"({e['rows_per_second']:,.0f} rows/s); flagged in the new version: "
        + (", ".join(f"`{c}` {k}" for c, k in e["flagged_after"].items()) or "none")
        + ".",
        "",
        "### Re-identification risk (`reidentification_risk`, quasi-identifiers age, zip, gender; "
        "sensitive: diagnosis, 20 values)",
        "",
        "| quasi-identifiers | rows | median (s) | classes | k | l | rows at risk |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, x in r["risk"].items():
        lines.append(
            f"| {name} | {x['rows']:,} | {x['median_seconds']:.2f} | {x['classes']:,} | {x['k']} | {x['l']} | "
            f"{x['rows_at_risk']:,} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus-rows", type=int, default=20_000)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/privacy.json"))
    parser.add_argument("--markdown", type=Path, default=Path("benchmarks/results/privacy.md"))
    args = parser.parse_args()
    from carnet.testing.pii import pii_corpus

    tmp = Path(tempfile.mkdtemp(prefix="carnet-privacy-"))
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            **{name: version(name) for name in ("phonenumbers", "python-stdnum", "faker", "ff3")},
            "pandas": pd.__version__,
            "pyarrow": version("pyarrow"),
            "numpy": np.__version__,
        },
    }
    results["detection"] = detection_quality(range(5), 1000)
    print("detection", results["detection"]["column_level"], flush=True)
    results["corpus_seconds"], (corpus, _) = _timed(lambda: pii_corpus(args.corpus_rows, 0))
    frame = big_table(corpus, args.rows)
    path = tmp / "big.parquet"
    frame.to_parquet(path, row_group_size=100_000)
    results["scan_cost"], client = scan_cost(path, args.rows, args.repeats, tmp)
    print("scan_cost", results["scan_cost"], flush=True)
    results["throughput"] = scan_throughput(corpus, [1_000, 10_000, 100_000])
    results["deidentify"] = deidentification(frame)
    results["end_to_end"] = end_to_end(client, "big@1", args.rows)
    client.close()
    print("end_to_end", results["end_to_end"], flush=True)
    results["risk"] = risk(frame, args.repeats)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    lines = markdown(results)
    args.markdown.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
