"""Personal data in carnet: how well the tier-1 scan detects it, and what scanning and de-identifying cost.

Measured on this machine, in one run:

1. **Detection quality** on the labelled faker corpus (``carnet.testing.pii.pii_corpus``, 44 columns,
   1,000 rows, seeds 0..4): column-level precision, recall and kind accuracy of ``scan_frame``; per
   detector of ``carnet.privacy.detectors.DETECTORS``, the share of its kind's values ``hinted``
   accepts (recall) and of the values of columns without personal data ``match`` accepts.
2. **Scan cost at ``data add``**: ``Client.add_dataset`` of a 1,000,000-row Parquet table of 10 columns
   (6 drawn from 20,000 corpus rows), in a new workspace each time, and the time spent in its own
   ``carnet.data.scan_table`` (profile and row sample) and ``scan_frame`` (PII classification of the
   sample) calls: seconds, table rows/s, the scan's share of the add. Median of 3.
3. **scan_frame throughput**: ``ScanOptions(sample=N)`` for N = 1,000 / 10,000 / 100,000 on the corpus
   tiled to 100,000 rows: seconds and values (rows x columns) per second.
4. **De-identification**: ``apply_deidentification`` on the 1,000,000-row table, method by method and
   all at once (``encrypt_fpe`` and all at once on 100,000 rows when 1,000,000 would take more than
   2 minutes); ``Client.deidentify_dataset`` end to end on the dataset added in 2.
5. **Re-identification risk**: ``reidentification_risk`` on 1,000,000 rows, 3 quasi-identifiers (raw,
   then generalized) and a sensitive column. Median of 3.
6. **Tier 2** (Presidio, extra ``pii``): the analyzer's first load; ``scan_values`` of a free-text
   column of faker call notes (names and places in most values, no email or phone) at tier 1 and
   tier 2, rows/s on 1,000 and 10,000 values; ``redact_text`` with ``tier: 2`` on 10,000 values;
   the labelled corpus scanned at tier 2 (column precision and recall, seeds 0..4).

    python benchmarks/bench_privacy.py [--rows 1000000] [--repeats 3] [--json PATH] [--markdown PATH]
    python benchmarks/bench_privacy.py --tier2-only     # section 6 alone
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
from collections import Counter
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
    per: dict[str, Any] = {k: {"recall": [], "false": [], "by_column": Counter()} for k in DETECTORS}
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
            per[kind]["by_column"].update(matched)
    detectors = {
        kind: {
            "detector": DETECTORS[kind].name,
            "columns": sum(k == kind for k in labels.values()),
            "value_recall": statistics.mean(p["recall"]),
            "false_match_rate": statistics.mean(p["false"]),
            "false_matches_by_column": {c: n for c, n in p["by_column"].most_common() if n},
        }
        for kind, p in per.items()
    }
    out = {"seeds": list(seeds), "rows": rows, "columns": len(labels), "pii_columns": len(pii)}
    out["column_level"] = {m: {"mean": statistics.mean(v), "per_seed": v} for m, v in columns.items()}
    return {**out, "column_errors": errors, "detectors": detectors}


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


def _spy(module: Any, name: str, seen: dict[str, Any]) -> Callable[[], None]:
    """Time the calls of ``module.name`` into ``seen`` (seconds, last result); returns the undo."""
    inner = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        seconds, seen["result"] = _timed(lambda: inner(*args, **kwargs))
        seen["seconds"] = seen.get("seconds", 0.0) + seconds
        return seen["result"]

    setattr(module, name, timed)
    return lambda: setattr(module, name, inner)


def scan_cost(path: Path, rows: int, repeats: int, tmp: Path) -> tuple[dict[str, Any], Any]:
    """``Client.add_dataset`` of ``path``, and the time of its own ``scan_table`` and ``scan_frame`` calls."""
    import carnet
    import carnet.data
    import carnet.privacy

    runs: dict[str, list[float]] = {"add_dataset": [], "scan_table": [], "scan_frame": []}
    client = None
    for i in range(repeats):
        if client is not None:
            client.close()
        client = carnet.Client(str(tmp / f"ws-{i}"))  # a new workspace: the add is never a duplicate
        table: dict[str, Any] = {}
        frame: dict[str, Any] = {}
        undo = [_spy(carnet.data, "scan_table", table), _spy(carnet.privacy, "scan_frame", frame)]
        try:
            seconds, (added, _) = _timed(lambda c=client: c.add_dataset(path, "big"))
        finally:
            for u in undo:
                u()
        for step, spent in zip(runs, (seconds, table["seconds"], frame["seconds"]), strict=True):
            runs[step].append(spent)
    out: dict[str, Any] = {step: _stats(values, rows) for step, values in runs.items()}
    shares = [(a + b) / t for t, a, b in zip(*runs.values(), strict=True)]
    out.update(
        rows=rows,
        file_mb=path.stat().st_size / 1e6,
        sampled=len(next(iter(table["result"].sample.values()))),
        scan_share_of_add=statistics.median(shares),
        findings={f.column: f.kind for f in frame["result"]},
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
        out[f"{n:,}"] = {"seconds": seconds, "values_per_second": values, "flagged": len(found)}
        print("scan_frame", n, out[f"{n:,}"], flush=True)
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
    out = {"source": ref, "result": made.ref, "rows": rows, "seconds": seconds}
    out["rows_per_second"] = rows / seconds
    return {**out, "flagged_after": {p.name: p.pii["kind"] for p in made.profile if p.pii}}


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


def call_notes(rows: int, seed: int = 0) -> list[str]:
    """Free text as a support desk writes it: most notes name a person or a place."""
    import random

    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    forms = (
        "Called {name} back about the delivery to {city}.",
        "{name} asked for a refund on order {order}.",
        "Spoke with {name}, who is moving to {city}, {state} next month.",
        "Left a voicemail for {first}; parcel {order} is held at the {city} depot.",
        "Delivery was late, customer satisfied with the refund on order {order}.",
    )
    return [
        rng.choice(forms).format(
            name=fake.name(), first=fake.first_name(), city=fake.city(), state=fake.state(),
            order=rng.randint(10_000, 99_999),
        )
        for _ in range(rows)
    ]  # fmt: skip


def tier2_scan(sizes: list[int], seeds: range) -> dict[str, Any]:
    """Tier 2: the analyzer's load, a free-text column's scan at tier 1 and 2, redaction, the corpus."""
    from carnet.privacy import ScanOptions, scan_frame, scan_values, tier2
    from carnet.privacy.deidentify import apply_deidentification, parse_config
    from carnet.testing.pii import pii_corpus

    load, _ = _timed(lambda: tier2.entities(["Ada Lovelace lived in London."]))
    out: dict[str, Any] = {"load_seconds": load, "scan": {}}
    for n in sizes:
        notes = call_notes(n)
        for tier in (1, 2):
            seconds, found = _timed(lambda t=tier, v=notes: scan_values("notes", v, ScanOptions(tier=t)))
            row = {"rows": n, "tier": tier, "seconds": seconds, "rows_per_second": n / seconds}
            row["finding"] = f"{found.kind} {found.share:.2f} {found.detector}" if found else "none"
            out["scan"][f"tier {tier}, {n:,} values"] = row
            print("tier2 scan", row, flush=True)
    frame = pd.DataFrame({"notes": call_notes(max(sizes), seed=1)})
    config = parse_config({"columns": {"notes": {"method": "redact_text", "tier": 2}}})
    seconds, _ = _timed(lambda: apply_deidentification(frame, config, None))
    out["redact"] = {"rows": len(frame), "seconds": seconds, "rows_per_second": len(frame) / seconds}
    quality: dict[str, list[float]] = {"precision": [], "recall": [], "seconds": []}
    changed: list[str] = []
    for seed in seeds:
        corpus, labels = pii_corpus(1000, seed)
        seconds, found = _timed(lambda c=corpus: {f.column: f for f in scan_frame(c, ScanOptions(tier=2))})
        pii = {c for c, k in labels.items() if k is not None}
        quality["precision"].append(len(pii & set(found)) / len(found))
        quality["recall"].append(len(pii & set(found)) / len(pii))
        quality["seconds"].append(seconds)
        changed += [f"seed {seed}: `{c}` {f.kind} ({f.detector})" for c, f in found.items() if c not in pii]
    out["corpus"] = {k: statistics.mean(v) for k, v in quality.items()} | {"false_columns": changed}
    print("tier2", out["redact"], out["corpus"], flush=True)
    return out


def markdown_tier2(r: dict[str, Any]) -> list[str]:
    t = r["tier2"]
    c = t["corpus"]
    return [
        f"### Tier 2: Presidio {r['machine'].get('presidio-analyzer', '')} on spaCy "
        f"{r['machine'].get('spacy', '')} ({tier_model()}), names and places",
        "",
        f"First load of the analyzer (imports and the spaCy pipeline): {t['load_seconds']:.1f} s.",
        "",
        *_table("free-text column (call notes)|seconds~seconds~.2f|rows/s~rows_per_second~,.0f|"
                "finding~finding~", t["scan"]),
        "",
        f"`redact_text` with `tier: 2`: {t['redact']['rows']:,} values in {t['redact']['seconds']:.1f} s "
        f"({t['redact']['rows_per_second']:,.0f} rows/s). The labelled corpus at tier 2 (1,000 rows, "
        f"5 seeds): precision {c['precision']:.3f}, recall {c['recall']:.3f}, {c['seconds']:.1f} s a seed; "
        f"columns flagged without personal data: {'; '.join(c['false_columns']) or 'none'}.",
    ]  # fmt: skip


def tier_model() -> str:
    from carnet.privacy.tier2 import MODEL

    return f"`{MODEL}` {version(MODEL)}"


def _cell(value: Any, form: str) -> str:
    if isinstance(value, dict):
        return ", ".join(f"`{c}` {k}" for c, k in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(format(v, form) for v in value)
    return format(value, form)


def _table(spec: str, items: dict[str, dict[str, Any]]) -> list[str]:
    """A Markdown table of ``items`` (name -> fields); ``spec``: ``title~field~format`` per column after
    the name's title, ``|`` between; a column with a format is right-aligned."""
    cols = [c.split("~") for c in spec.split("|")]
    lines = ["| " + " | ".join(c[0] for c in cols) + " |"]
    lines.append("|---|" + "|".join("---:" if c[2] else "---" for c in cols[1:]) + "|")
    return lines + [
        "| " + " | ".join([n, *(_cell(x[c[1]], c[2]) for c in cols[1:])]) + " |" for n, x in items.items()
    ]


def markdown(r: dict[str, Any]) -> list[str]:
    m, d, s, t, e = (r[k] for k in ("machine", "detection", "scan_cost", "throughput", "end_to_end"))
    cl = {k: v["mean"] for k, v in d["column_level"].items()}
    libs = ", ".join(
        f"{n} {m[n]}" for n in ("pandas", "pyarrow", "phonenumbers", "python-stdnum", "faker", "ff3")
    )
    deid = r["deidentify"]["methods"]
    small = [f"{k} on {x['rows']:,} rows" for k, x in deid.items() if x["rows"] < e["rows"]]
    fpe = r["deidentify"]["fpe_probe"]["rows_per_second"]
    steps = {"`Client.add_dataset` end to end": s["add_dataset"],
             "... its `scan_table` (profile + row sample)": s["scan_table"],
             f"... its `scan_frame` of the {s['sampled']:,}-row sample": s["scan_frame"]}  # fmt: skip
    return [
        f"{m['cpus']} CPUs (shared with another job), Python {m['python']}, {libs}.",
        "",
        f"### Detection on the labelled corpus ({d['columns']} columns, {d['pii_columns']} with personal "
        f"data, {d['rows']:,} rows, seeds {d['seeds'][0]}..{d['seeds'][-1]})",
        "",
        f"Column level (`scan_frame`, mean over seeds): precision {cl['precision']:.3f}, recall "
        f"{cl['recall']:.3f}, kind accuracy {cl['kind_accuracy']:.3f}. Columns misclassified: "
        f"{'; '.join(d['column_errors']) or 'none'}.",
        "",
        *_table("kind|detector~detector~|columns~columns~d|value recall (`hinted`)~value_recall~.4f|"
                "false matches on non-PII values (`match`)~false_match_rate~.5f|"
                "false matches by column (all seeds)~false_matches_by_column~", d["detectors"]),
        "",
        f"### Scan cost at `data add` ({s['rows']:,} rows x 10 columns, Parquet {s['file_mb']:.0f} MB, "
        f"median of {len(s['add_dataset']['seconds'])})",
        "",
        *_table("step|median (s)~median_seconds~.3f|rows/s~rows_per_second~,.0f|runs (s)~seconds~.2f", steps),
        "",
        f"Share of the add spent scanning (`scan_table` + `scan_frame`): {s['scan_share_of_add']:.0%}. "
        f"Flagged in the stored profile: {_cell(s['flagged_in_profile'], '')}.",
        "",
        f"### `scan_frame` on whole columns (corpus tiled to {t['table_rows']:,} rows, {t['columns']} cols)",
        "",
        *_table("rows sampled|seconds~seconds~.2f|values/s~values_per_second~,.0f|flagged~flagged~d",
                t["samples"]),
        "",
        f"### De-identification (`apply_deidentification`, {e['rows']:,}-row table)",
        "",
        *_table("method|column~column~|rows~rows~,d|seconds~seconds~.2f|rows/s~rows_per_second~,.0f", deid),
        "",
        (f"{' and '.join(small)}: encrypt_fpe on all {e['rows']:,} would take over 2 minutes "
         f"({fpe:,.0f} rows/s on a first 20,000). " if small else "")
        + f"`Client.deidentify_dataset('{e['source']}', all 9 columns)` end to end (read the version, "
        f"de-identify, write, profile and scan the new version): {e['seconds']:.1f} s for {e['rows']:,} rows "
        f"({e['rows_per_second']:,.0f} rows/s). Flagged in the new version: {_cell(e['flagged_after'], '')}.",
        "",
        "### Re-identification risk (`reidentification_risk`; quasi-identifiers age, zip, gender; "
        "sensitive: diagnosis, 20 values)",
        "",
        *_table("quasi-identifiers|rows~rows~,d|median (s)~median_seconds~.2f|classes~classes~,d|k~k~d|l~l~d|"
                "rows at risk~rows_at_risk~,d", r["risk"]),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus-rows", type=int, default=20_000)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/privacy.json"))
    parser.add_argument("--markdown", type=Path, default=Path("benchmarks/results/privacy.md"))
    parser.add_argument("--tier2-only", action="store_true", help="measure the tier-2 scan alone")
    args = parser.parse_args()
    from carnet.testing.pii import pii_corpus

    libs = ("phonenumbers", "python-stdnum", "faker", "ff3", "pandas", "pyarrow", "numpy")
    libs += ("presidio-analyzer", "spacy")
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    results: dict[str, Any] = {"machine": {**machine, **{name: version(name) for name in libs}}}
    if args.tier2_only:
        results["tier2"] = tier2_scan([1_000, 10_000], range(5))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.with_name(args.json.stem + "-tier2.json").write_text(json.dumps(results, indent=2))
        print("\n".join(markdown_tier2(results)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="carnet-privacy-"))
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
    results["tier2"] = tier2_scan([1_000, 10_000], range(5))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    lines = [*markdown(results), "", *markdown_tier2(results)]
    args.markdown.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
