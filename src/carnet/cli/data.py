"""``carnet data``: versioned datasets (add, list, show, scan, deidentify, diff, get)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from carnet.cli.render import (
    console,
    emit_json,
    fmt_time,
    fmt_value,
    get_client,
    json_verb,
    progress_bar,
)

__all__ = ["data"]


def _version_dict(v: Any, *, profile: bool = True) -> dict[str, Any]:
    """A dataset version as the JSON of ``carnet data`` (its column profile unless ``profile`` is False)."""
    d = {
        "name": v.name,
        "version": v.version,
        "ref": v.ref,
        "project": v.project,
        "digest": v.digest,
        "format": v.format,
        "size": v.size,
        "rows": v.num_rows,
        "columns": v.num_columns,
        "schema": [{"name": f.name, "type": f.type} for f in v.schema],
        "source": v.source,
        "parent": str(v.parent) if v.parent else None,
        "created_at": v.created_at,
        "description": v.description,
    }
    if profile:
        d["profile"] = [c.to_dict() for c in v.profile]
    return d


def _show_added(version: Any, created: bool, as_json: bool, detail: str, pii: str) -> None:
    """The version ``data add`` or ``data deidentify`` made (or found unchanged): JSON, or one line
    ending with ``detail``, then its columns flagged as personal data (after ``pii``)."""
    if as_json:
        emit_json({**_version_dict(version, profile=False), "created": created})
        return
    what = "added" if created else "unchanged: identical content is already"
    click.echo(f"{what} {version.ref}  {version.num_rows} rows x {version.num_columns} columns  {detail}")
    flagged = [f"{c.name} ({c.pii['kind']})" for c in version.profile if c.pii]
    if flagged:
        click.echo(f"{pii}: {', '.join(flagged)}")


@click.group()
def data() -> None:
    """Versioned datasets: content stored once by digest, each version profiled.

    \b
    Example:
      carnet data add train.csv --name churn
      carnet data diff churn@1 churn@2
    """


@data.command("add")
@click.argument("file", type=click.Path(dir_okay=True, path_type=Path))
@click.option("--name", "-n", required=True, help="Dataset name (letters, digits, _ . -).")
@click.option("--project", "-p", default="default", show_default=True, help="Project that owns the dataset.")
@click.option("--parent", help="Version this one derives from, e.g. churn@1.")
@click.option("--description", "-d", default="", help="Free text.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    help="File format (default: from name and content).",
)
@json_verb
def data_add(
    ctx: click.Context,
    file: Path,
    name: str,
    project: str,
    parent: str | None,
    description: str,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Register a CSV or Parquet file as the next version of a dataset.

    Identical content returns the existing version instead of a new one.

    \b
    Example:
      carnet data add data/train.parquet --name churn --parent churn@1
    """
    client = get_client(ctx, create=True)
    size = file.stat().st_size if file.is_file() else 0
    with progress_bar(f"adding {file.name}", 2 * size, threshold=size) as advance:
        version, created = client.add_dataset(
            file, name, project=project, parent=parent, description=description, progress=advance, format=fmt
        )
    detail = f"{version.format}  {version.digest[:23]}"
    _show_added(version, created, as_json, detail, "personal data")


@data.command("list")
@json_verb
def data_list(ctx: click.Context, as_json: bool) -> None:
    """List datasets with their latest version.

    \b
    Example:
      carnet data list --json
    """
    items = get_client(ctx).list_datasets()
    if as_json:
        emit_json([_version_dict(v, profile=False) for v in items])
        return
    from rich.table import Table

    table = Table("dataset", "latest", "rows", "columns", "format", "project", "added", title="Datasets")
    for v in items:
        table.add_row(
            v.name,
            f"v{v.version}",
            str(v.num_rows),
            str(v.num_columns),
            v.format,
            v.project,
            fmt_time(v.created_at),
        )
    console().print(table)


@data.command("show")
@click.argument("ref")
@json_verb
def data_show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show a version's schema and column profile (NAME alone: the versions, then the latest).

    \b
    Example:
      carnet data show churn@2
    """
    client = get_client(ctx)
    version = client.get_dataset(ref)
    versions = client.dataset_versions(version.name) if "@" not in ref else []
    if as_json:
        d = _version_dict(version)
        if versions:
            d["versions"] = [_version_dict(v, profile=False) for v in versions]
        emit_json(d)
        return
    from rich.table import Table

    out = console()
    if versions:
        vt = Table(
            "version", "rows", "columns", "digest", "parent", "added", title=f"{version.name} versions"
        )
        for v in versions:
            vt.add_row(
                f"v{v.version}",
                str(v.num_rows),
                str(v.num_columns),
                v.digest[:23],
                str(v.parent or "-"),
                fmt_time(v.created_at),
            )
        out.print(vt)
    out.print(
        f"[bold]{version.ref}[/bold]  {version.num_rows} rows x {version.num_columns} columns  "
        f"{version.format}, {version.size} bytes  source={version.source}"
    )
    from rich.markup import escape

    table = Table(
        "column", "type", "missing", "min", "mean", "max", "std", "distinct", "top", "PII", title="profile"
    )
    for c in version.profile:
        top = ", ".join(f"{k} ({n})" for k, n in c.top[:3])
        pii = f"[red]{c.pii['kind']}[/red] {c.pii['share']:.0%}" if c.pii else ""
        table.add_row(
            c.name,
            c.type,
            f"{c.missing_share:.1%}",
            fmt_value(c.min),
            fmt_value(c.mean),
            fmt_value(c.max),
            fmt_value(c.std),
            fmt_value(c.distinct),
            escape(top),
            pii,
        )
    out.print(table)
    flagged = [c.name for c in version.profile if c.pii]
    if flagged:
        out.print(
            f"personal data in {len(flagged)} column(s): {', '.join(flagged)}; their values are kept out "
            f"of the profile (see: carnet data scan {version.ref})"
        )


@data.command("scan")
@click.argument("ref")
@click.option(
    "--sample", type=int, default=1000, show_default=True, help="Rows of the uniform, seeded sample."
)
@click.option(
    "--threshold", type=float, default=0.5, show_default=True, help="Share of values a detector must match."
)
@click.option(
    "--hinted-threshold",
    type=float,
    default=0.2,
    show_default=True,
    help="The share when the column's name hints at the kind (email, tel, nir...).",
)
@click.option(
    "--text-threshold",
    type=float,
    default=0.05,
    show_default=True,
    help="Share of free-text values holding PII.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the sample.")
@click.option("--apply", is_flag=True, help="Mask the profiles of newly flagged columns (audited).")
@click.option(
    "--tier",
    type=click.IntRange(1, 2),
    default=1,
    show_default=True,
    help="1: patterns and check digits; 2: also names and places in text (Presidio, extra pii).",
)
@json_verb
def data_scan(
    ctx: click.Context,
    ref: str,
    sample: int,
    threshold: float,
    hinted_threshold: float,
    text_threshold: float,
    seed: int,
    apply: bool,
    tier: int,
    as_json: bool,
) -> None:
    """Scan a version's rows for personal data: emails, phones, cards, IBANs, national IDs...

    Each column is classified on a uniform sample of rows; a finding gives the kind, the share of
    sampled values that matched and the detector. Nothing changes without --apply.

    \b
    Example:
      carnet data scan customers@3
      carnet data scan customers@3 --sample 20000 --threshold 0.3 --apply
      carnet data scan customers@3 --tier 2
    """
    result = get_client(ctx).scan_dataset(
        ref,
        sample=sample,
        threshold=threshold,
        hinted_threshold=hinted_threshold,
        text_threshold=text_threshold,
        seed=seed,
        apply=apply,
        tier=tier,
    )
    if as_json:
        emit_json(result)
        return
    from rich.markup import escape
    from rich.table import Table

    out = console()
    table = Table(
        "column", "kind", "share", "detector", "name hint", title=f"personal data in {result['dataset']}"
    )
    for f in result["findings"]:
        table.add_row(
            escape(f["column"]), f["kind"], f"{f['share']:.0%}", f["detector"], "yes" if f["hint"] else ""
        )
    if result["findings"]:
        out.print(table)
    else:
        out.print(f"no personal data found in {result['dataset']} ({result['sampled']} rows sampled)")
    if result["applied"]:
        out.print(f"masked the profile of: {', '.join(escape(c) for c in result['applied'])}")


@data.command("risk")
@click.argument("ref")
@click.option(
    "--qi", "quasi", required=True, help="Quasi-identifier columns, comma-separated (age,zip,gender)."
)
@click.option("--sensitive", help="The sensitive column, for l-diversity.")
@json_verb
def data_risk(ctx: click.Context, ref: str, quasi: str, sensitive: str | None, as_json: bool) -> None:
    """Re-identification risk of a version: k-anonymity and l-diversity over quasi-identifiers.

    \b
    Example:
      carnet data risk patients@2 --qi age_band,zip,gender --sensitive diagnosis
    """
    columns = [c.strip() for c in quasi.split(",") if c.strip()]
    result = get_client(ctx).dataset_risk(ref, columns, sensitive)
    if as_json:
        emit_json(result)
        return
    line = f"{result['dataset']}: k={result['k']}"
    if result.get("l") is not None:
        line += f", l={result['l']} ({result['sensitive']})"
    click.echo(
        f"{line} over {', '.join(result['quasi_identifiers'])}; {result['classes']} classes, "
        f"{result['rows_at_risk']} of {result['rows']} rows in classes under 5"
    )


@data.command("deidentify")
@click.argument("ref")
@click.option(
    "--config",
    "config",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A YAML file: key (env:VARIABLE or file:PATH) and columns: {column: method}.",
)
@click.option("--name", "-n", help="The dataset of the new version (default: the source's).")
@click.option("--description", "-d", default="", help="Free text.")
@json_verb
def data_deidentify(
    ctx: click.Context, ref: str, config: Path, name: str | None, description: str, as_json: bool
) -> None:
    """De-identify a version into a new version derived from it: drop, mask, pseudonymize...

    Methods per column: drop, mask, pseudonymize (keyed HMAC tokens), encrypt_fpe (FF3-1),
    generalize (bins, date truncation, prefix), shift_dates (per-person offsets), redact_text.
    The key is read from the environment or a file and never stored.

    \b
    Example:
      export CARNET_DEID_KEY=...            # 16 bytes or more, kept outside the workspace
      carnet data deidentify customers@3 --config deid.yaml
      # deid.yaml:
      #   key: env:CARNET_DEID_KEY
      #   columns:
      #     nir: drop
      #     email: pseudonymize
      #     phone: {method: mask, keep_last: 2}
      #     birth_date: {method: generalize, truncate: year}
    """
    version, created = get_client(ctx).deidentify_dataset(
        ref, config.read_text(encoding="utf-8"), name=name, description=description
    )
    _show_added(version, created, as_json, f"from {ref}", "personal data still found")


@data.command("diff")
@click.argument("a")
@click.argument("b")
@json_verb
def data_diff(ctx: click.Context, a: str, b: str, as_json: bool) -> None:
    """Schema and profile differences between two versions.

    \b
    Example:
      carnet data diff churn@1 churn@2
    """
    diff = get_client(ctx).diff_datasets(a, b)
    d = diff.to_dict()
    if as_json:
        emit_json({"a": a, "b": b, **d})
        return
    out = console()
    out.print(f"[bold]{a} -> {b}[/bold]")
    rows = d.get("rows")
    if rows and rows["old"] != rows["new"]:
        out.print(f"rows: {rows['old']} -> {rows['new']} ({rows['delta']:+.0f})")
    for key, label in (("added", "added columns"), ("removed", "removed columns")):
        if d[key]:
            out.print(f"{label}: " + ", ".join(f"{c['name']} ({c['type']})" for c in d[key]))
    for change in d["type_changed"]:
        out.print(f"type changed: {change['name']}: {change['old']} -> {change['new']}")
    if d["columns"]:
        from rich.table import Table

        table = Table("column", "statistic", a, b, "delta", title="profile changes")
        for col in d["columns"]:
            for stat, ch in col["changes"].items():
                table.add_row(
                    col["name"], stat, fmt_value(ch["old"]), fmt_value(ch["new"]), fmt_value(ch["delta"])
                )
            if col["top_added"] or col["top_removed"]:
                table.add_row(
                    col["name"],
                    "top values",
                    "-" + ", ".join(map(str, col["top_removed"])),
                    "+" + ", ".join(map(str, col["top_added"])),
                    "",
                )
        out.print(table)
    if not diff.has_changes:
        out.print("no schema or profile differences")


@data.command("get")
@click.argument("ref")
@click.option(
    "--out", "-o", "out", required=True, type=click.Path(path_type=Path), help="File or folder to write."
)
@json_verb
def data_get(ctx: click.Context, ref: str, out: Path, as_json: bool) -> None:
    """Write a version's file to disk (verified against its digest).

    \b
    Example:
      carnet data get churn@2 --out churn-v2.csv
    """
    client = get_client(ctx)
    version = client.get_dataset(ref)
    with progress_bar(f"fetching {version.ref}", version.size) as advance:
        path = client.download_dataset(version.ref, out, advance)
    if as_json:
        emit_json({"ref": version.ref, "path": str(path), "digest": version.digest, "size": version.size})
    else:
        click.echo(f"wrote {version.ref} to {path} ({version.size} bytes, digest verified)")


from carnet.cli.erase import data_erase, data_erasures, data_purge  # noqa: E402 - defined in their own module

data.add_command(data_erase)
data.add_command(data_purge)
data.add_command(data_erasures)

from carnet.cli.storage import data_chunk, data_du, data_gc  # noqa: E402 - defined in their own module

data.add_command(data_du)
data.add_command(data_gc)
data.add_command(data_chunk)
