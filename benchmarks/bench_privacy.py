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
import shutil
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
FPE_BUDGET = 120.0  # seconds: above it, encrypt_fpe (and all at once) is measured on FPE_ROWS rows
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
FROM_CORPUS = dict(email="email", phone="telephone", card="card_number", birth_date="date_of_birth")
FROM_CORPUS.update(zip="zip_code", notes="notes")


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def _stats(values: list[float], rows: int) -> dict[str, Any]:
    median = statistics.median(values)
    return {"seconds": values, "median_seconds": median, "rows_per_second": rows / median}


def detection_quality(seeds: range, rows: int) -> dict[str, Any]:
    from carnet.privacy import scan_frame
    from carnet.privacy.detectors import DETECTORS
    from carnet.privacy.scan import _texts  # the text the scan's detectors see
    from carnet.testing.pii import pii_corpus

    columns: dict[str, list[float]] = {"precision": [], "recall": [], "kind_accuracy": []}
    errors: list[str] = []
    per: dict[str, Any] = {k: {"recall": [], "false": [], "by_column": {}} for k in DETECTORS}
    for seed in seeds:
        frame, labels = pii_corpus(rows, seed)
        found = {f.column: f.kind for f in scan_frame(frame)}
        pii = {c for c, k in labels.items() if k is not None}
        hits = [c for c in found if c in pii]
        columns["precision"].append(len(hits) / len(found))
        columns["recall"].append(len(hits) / len(pii))
        columns["kind_accuracy"].append(sum(found[c] == labels[c] for c in hits) / len(hits))
        errors += [
            f"seed {seed}: `{c}` {k} -> {found.get(c)}" for c, k in labels.items() if found.get(c) != k
        ]
        texts = {c: _texts(frame[c].tolist()) for c in labels}
        clean = [c for c, k in labels.items() if k is None]
        for kind, det in DETECTORS.items():
            own = [t for c, k in labels.items() if k == kind for t in texts[c]]
            per[kind]["recall"].append(sum(map(det.hinted, own)) / len(own))
            matched = {c: sum(map(det.match, texts[c])) for c in clean}
            per[kind]["false"].append(sum(matched.values()) / sum(len(texts[c]) for c in clean))
            for c, n in matched.items():
                per[kind]["by_column"][c] = per[kind]["by_column"].get(c, 0) + n
    detectors = {
        kind: {
            "detector": DETECTORS[kind].name,
            "columns": sum(k == kind for k in labels.values()),
            "value_recall": statistics.mean(p["recall"]),
            "false_match_rate": statistics.mean(p["false"]),
            "false_matches_by_column": dict(
                sorted(((c, n) for c, n in p["by_column"].items() if n), key=lambda i: -i[1])
            ),
        }
        for kind, p in per.items()
    }
    level = {m: {"mean": statistics.mean(v), "per_seed": v} for m, v in columns.items()}
    return dict(
        seeds=list(seeds),
        rows=rows,
        columns=len(labels),
        pii_columns=len(pii),
        column_level=level,
        column_errors=errors,
        detectors=detectors,
    )


def big_table(corpus: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows of 10 columns: 6 drawn from the corpus' rows, 4 generated."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(corpus), rows)
    frame = pd.DataFrame({"customer_id": rng.integers(1, 200_001, rows)})
    for new, old in FROM_CORPUS.items():
        frame[new] = pd.array(corpus[old].to_numpy()[pick], dtype="string")
    frame["age"] = rng.integers(18, 91, rows)
    frame["gender"] = rng.choice(["F", "M", "X"], rows, p=[0.49, 0.49, 0.02])
    frame["visit"] = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, rows), unit="D")
    return frame


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
        client = carnet.Client(str(tmp / f"ws-{i}"))  # a new workspace: the add is never a duplicate
        seconds, (added, _) = _timed(lambda c=client: c.add_dataset(path, "big"))
        runs["add_dataset"].append(seconds)
    out: dict[str, Any] = {step: _stats(values, rows) for step, values in runs.items()}
    scan = out["scan_table"]["median_seconds"] + out["scan_frame_sample"]["median_seconds"]
    out.update(
        rows=rows,
        file_mb=path.stat().st_size / 1e6,
        sampled=len(next(iter(summary.sample.values()))),
        scan_share_of_add=scan / out["add_dataset"]["median_seconds"],
        findings={f.column: f.kind for f in findings},
        flagged_in_profile={p.name: p.pii["kind"] for p in added.profile if p.pii},
    )
    return out, client


def scan_throughput(corpus: pd.DataFrame, sizes: list[int]) -> dict[str, Any]:
    from carnet.privacy import ScanOptions, scan_frame

    frame = pd.concat([corpus] * -(-max(sizes) // len(corpus)), ignore_index=True).iloc[: max(sizes)]
    out = {}
    for n in sizes:
        seconds, found = _timed(lambda n=n: scan_frame(frame, ScanOptions(sample=n)))
        values = n * frame.shape[1] / seconds
        out[str(n)] = {"seconds": seconds, "values_per_second": values, "flagged": len(found)}
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
    config = {"key": f"env:{KEY_VAR}", "columns": ALL}
    seconds, (made, _) = _timed(lambda: client.deidentify_dataset(ref, config))
    flagged = {p.name: p.pii["kind"] for p in made.profile if p.pii}
    return dict(
        source=ref,
        result=made.ref,
        rows=rows,
        seconds=seconds,
        rows_per_second=rows / seconds,
        flagged_after=flagged,
    )


def risk(frame: pd.DataFrame, repeats: int) -> dict[str, Any]:
    from carnet.privacy.deidentify import apply_deidentification, parse_config
    from carnet.privacy.risk import reidentification_risk

    raw = frame[["age", "zip", "gender"]].copy()
    raw["diagnosis"] = np.random.default_rng(1).choice([f"D{i:02d}" for i in range(20)], len(raw))
    general = apply_deidentification(
        raw, parse_config({"columns": {c: ALL[c] for c in ("age", "zip")}}), None
    )
    out = {}
    for name, data in (("raw", raw), ("generalized (age bins, zip prefix 2)", general)):
        runs = [
            _timed(lambda d=data: reidentification_risk(d, ["age", "zip", "gender"], "diagnosis"))
            for _ in range(repeats)
        ]
        found = runs[-1][1]
        out[name] = {**_stats([s for s, _ in runs], len(data)), "rows": len(data)}
        out[name].update({k: found[k] for k in ("classes", "k", "l", "rows_at_risk")})
    return out


def _table(head: str, align: str, rows: list[list[Any]]) -> list[str]:
    """A Markdown table: ``head`` split on ``|``, ``align`` one l or r per column."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return [
        "| " + head.replace("|", " | ") + " |",
        rule,
        *("| " + " | ".join(map(str, r)) + " |" for r in rows),
    ]


def _kinds(found: dict[str, str]) -> str:
    return ", ".join(f"`{c}` {k}" for c, k in found.items()) or "none"


def markdown(r: dict[str, Any]) -> list[str]:
    m, d, s, t, e = (r[k] for k in ("machine", "detection", "scan_cost", "throughput", "end_to_end"))
    cl = {k: v["mean"] for k, v in d["column_level"].items()}
    libs = ", ".join(
        f"{n} {m[n]}" for n in ("pandas", "pyarrow", "phonenumbers", "python-stdnum", "faker", "ff3")
    )
    lines = [
        f"{m['cpus']} CPUs (shared with another job), Python {m['python']}, {libs}.",
        "",
        f"### Detection on the labelled corpus ({d['columns']} columns, {d['pii_columns']} with personal "
        f"data, {d['rows']:,} rows, seeds {d['seeds'][0]}..{d['seeds'][-1]})",
        "",
        f"Column level (`scan_frame`, mean over seeds): precision {cl['precision']:.3f}, recall "
        f"{cl['recall']:.3f}, kind accuracy {cl['kind_accuracy']:.3f}. Columns misclassified: "
        + ("; ".join(d["column_errors"]) or "none")
        + ".",
        "",
    ]
    lines += _table(
        "kind|detector|columns|value recall (`hinted`)|false matches on non-PII values (`match`)|"
        "false matches by column (all seeds)",
        "llrrrl",
        [
            [
                k,
                x["detector"],
                x["columns"],
                f"{x['value_recall']:.4f}",
                f"{x['false_match_rate']:.5f}",
                ", ".join(f"`{c}` {n}" for c, n in x["false_matches_by_column"].items()) or "-",
            ]
            for k, x in d["detectors"].items()
        ],
    )
    steps = {
        "scan_table": "`scan_table` (profile + row sample)",
        "scan_frame_sample": f"`scan_frame` of its {s['sampled']:,}-row sample",
        "add_dataset": "`Client.add_dataset` end to end",
    }
    lines += [
        "",
        f"### Scan cost at `data add` ({s['rows']:,} rows x 10 columns, Parquet {s['file_mb']:.0f} MB, "
        f"median of {len(s['add_dataset']['seconds'])})",
        "",
    ]
    lines += _table(
        "step|median (s)|rows/s|runs (s)",
        "lrrl",
        [
            [
                label,
                f"{s[k]['median_seconds']:.3f}",
                f"{s[k]['rows_per_second']:,.0f}",
                ", ".join(f"{v:.2f}" for v in s[k]["seconds"]),
            ]
            for k, label in steps.items()
        ],
    )
    lines += [
        "",
        f"Scan share of the add (profile + classification): {100 * s['scan_share_of_add']:.0f}%. "
        f"Flagged in the stored profile: {_kinds(s['flagged_in_profile'])}.",
        "",
        f"### `scan_frame` on whole columns (corpus tiled to {t['table_rows']:,} rows, {t['columns']} columns)",
        "",
    ]
    lines += _table(
        "sample rows|seconds|values/s|columns flagged",
        "rrrr",
        [
            [f"{int(n):,}", f"{x['seconds']:.2f}", f"{x['values_per_second']:,.0f}", x["flagged"]]
            for n, x in t["samples"].items()
        ],
    )
    lines += ["", f"### De-identification (`apply_deidentification`, {e['rows']:,}-row table)", ""]
    lines += _table(
        "method|column|rows|seconds|rows/s",
        "llrrr",
        [
            [
                label,
                f"`{x['column']}`",
                f"{x['rows']:,}" + (" (all would take > 2 min)" if x["rows"] < e["rows"] else ""),
                f"{x['seconds']:.2f}",
                f"{x['rows_per_second']:,.0f}",
            ]
            for label, x in r["deidentify"]["methods"].items()
        ],
    )
    lines += [
        "",
        f"`Client.deidentify_dataset('{e['source']}', all 9 columns)` end to end (read the version, "
        f"de-identify, write, profile and scan the new version): {e['seconds']:.1f} s for {e['rows']:,} "
        f"rows ({e['rows_per_second']:,.0f} rows/s). Flagged in the new version: {_kinds(e['flagged_after'])}.",
        "",
        "### Re-identification risk (`reidentification_risk`; quasi-identifiers age, zip, gender; "
        "sensitive: diagnosis, 20 values)",
        "",
    ]
    return lines + _table(
        "quasi-identifiers|rows|median (s)|classes|k|l|rows at risk",
        "lrrrrrr",
        [
            [
                name,
                f"{x['rows']:,}",
                f"{x['median_seconds']:.2f}",
                f"{x['classes']:,}",
                x["k"],
                x["l"],
                f"{x['rows_at_risk']:,}",
            ]
            for name, x in r["risk"].items()
        ],
    )


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
    libs = ("phonenumbers", "python-stdnum", "faker", "ff3", "pandas", "pyarrow", "numpy")
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    results: dict[str, Any] = {"machine": {**machine, **{name: version(name) for name in libs}}}
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
    shutil.rmtree(tmp, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    lines = markdown(results)
    args.markdown.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
