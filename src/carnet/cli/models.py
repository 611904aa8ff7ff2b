"""``carnet models``: the model registry — register, aliases, tags, policies, promote, approve,
rollback, model cards and dossiers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from carnet.cli.render import (
    console,
    emit_json,
    fmt_time,
    get_client,
    json_verb,
    out_option,
    spinner,
)
from carnet.errors import GateFailed

__all__ = ["models"]


def _version_dict(v: Any) -> dict[str, Any]:
    """A model version as the JSON of ``carnet models``."""
    return {
        "name": v.name,
        "version": v.version,
        "ref": v.ref,
        "flavor": v.flavor,
        "artifact_digest": v.artifact_digest,
        "run_id": v.run_id,
        "task": v.task,
        "aliases": v.aliases,
        "tags": v.tags,
        "signature": v.signature.to_dict(),
        "input_example": v.input_example,
        "metrics": v.metrics,
        "datasets": v.datasets,
        "reports": v.reports,
        "derived_from": v.derived_from,
        "allow_pickle": v.allow_pickle,
        "description": v.description,
        "created_at": v.created_at,
        "created_by": v.created_by,
    }


def _version_of(
    client: Any, ref: str, version: str | None, *, required: bool = True
) -> tuple[str, int | None]:
    """``(name, version)`` of ``NAME/3``, ``NAME@alias`` (resolved now) or the older ``NAME VERSION``;
    ``NAME`` alone is the latest version (None) where ``required`` is False."""
    from carnet.domain.models import ModelRef
    from carnet.errors import InvalidInput

    r = ModelRef.parse(ref, version)
    if r.alias is not None:
        return r.name, client.get_model_version(str(r)).version
    if r.version is None and required:
        raise InvalidInput(
            f"name the version: {r.name}/VERSION or {r.name}@ALIAS (list them with: carnet models versions "
            f"{r.name})",
            field="ref",
        )
    return r.name, r.version


def _parse_tags(pairs: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` arguments as tags (a usage error names a bad one)."""
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="TAGS")
        tags[key] = value
    return tags


def _gate_table(promotion: Any, title: str) -> Any:
    """A promotion's gates: type, measured value, threshold and verdict."""
    from rich.table import Table

    table = Table("gate", "type", "measured", "threshold", "verdict", title=title)
    for r in promotion.results:
        verdict = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
        measured = r.measured if not r.error else f"{r.measured} ({r.error})".strip()
        table.add_row(r.gate, r.type, measured, r.threshold, verdict)
    return table


def _fairness_tables(promotion: Any) -> list[Any]:
    """Each fairness evaluation's groups: size, rates, and whether it counted (groups under
    ``min_group_size`` are listed, marked excluded)."""
    from rich.table import Table

    tables = []
    for r in promotion.results:
        if r.type != "fairness" or not r.details:
            continue
        minimum = r.details.get("min_group_size")
        for ev in r.details.get("evaluations") or []:
            title = f"fairness: {ev['column']} (class {ev['class']})"
            table = Table("group", "rows", "selection rate", "TPR", "FPR", "accuracy", "counted", title=title)
            for g in ev.get("groups") or []:
                counted = "yes" if g["included"] else f"[yellow]excluded[/yellow]: under {minimum} rows"

                def num(value: Any) -> str:
                    return "-" if value is None else f"{value:.3f}"

                table.add_row(
                    str(g["group"]), str(g["n"]), num(g.get("selection_rate")), num(g.get("tpr")),
                    num(g.get("fpr")), num(g.get("accuracy")), counted,
                )  # fmt: skip
            tables.append(table)
    return tables


@click.group()
def models() -> None:
    """The model registry: versions, aliases, gated promotion, rollback, model cards.

    \b
    Example:
      carnet models register 3f2a9c0d --name churn
      carnet models promote churn 1 --to production --dry-run
    """


@models.command("register")
@click.argument("run_id")
@click.option("--name", "-n", required=True, help="Registered model name (letters, digits, _ . -).")
@click.option("--description", "-d", default="", help="Free text (intended use, notes).")
@click.option(
    "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag of the new version (repeatable)."
)
@click.option("--derived-from", type=int, help="Version of the same model this one was fine-tuned from.")
@json_verb
def register(
    ctx: click.Context,
    run_id: str,
    name: str,
    description: str,
    tags: tuple[str, ...],
    derived_from: int | None,
    as_json: bool,
) -> None:
    """Register the model a training run stored as the next version of NAME.

    \b
    Example:
      carnet models register 3f2a9c0d --name churn --tag team=risk
    """
    client = get_client(ctx)
    mv = client.register_model(
        client.resolve_run_id(run_id),
        name,
        description=description,
        tags=_parse_tags(tags),
        derived_from=derived_from,
    )
    if as_json:
        emit_json(_version_dict(mv))
        return
    click.echo(f"registered {mv.ref}  flavor {mv.flavor}  {mv.artifact_digest[:23]}  from run {mv.run_id}")


@models.command("list")
@click.option("--project", "-p", help="Only this project's models.")
@json_verb
def list_models(ctx: click.Context, project: str | None, as_json: bool) -> None:
    """List registered models with their latest version and aliases.

    \b
    Example:
      carnet models list --project churn
    """
    items = get_client(ctx).list_models(project)
    if as_json:
        emit_json(items)
        return
    from rich.table import Table

    table = Table("name", "project", "latest", "aliases", "tags")
    for m in items:
        aliases = ", ".join(f"{a}->{v}" for a, v in m.aliases.items())
        tags = ", ".join(f"{k}={v}" for k, v in m.tags.items())
        table.add_row(m.name, m.project, str(m.latest_version), aliases or "-", tags or "-")
    console().print(table)


@models.command("versions")
@click.argument("name")
@json_verb
def versions(ctx: click.Context, name: str, as_json: bool) -> None:
    """List the versions of a model.

    \b
    Example:
      carnet models versions churn --json
    """
    items = get_client(ctx).model_versions(name)
    if as_json:
        emit_json([_version_dict(v) for v in items])
        return
    from rich.table import Table

    table = Table("version", "aliases", "flavor", "run", "created", "by", "datasets")
    for v in items:
        table.add_row(
            str(v.version),
            ", ".join(v.aliases) or "-",
            v.flavor,
            (v.run_id or "-")[:12],
            fmt_time(v.created_at),
            v.created_by,
            ", ".join(v.datasets) or "-",
        )
    console().print(table)


@models.command("show")
@click.argument("ref")
@json_verb
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show a version (NAME/3, NAME@alias, or NAME for the latest).

    \b
    Example:
      carnet models show churn@production
    """
    client = get_client(ctx)
    mv = client.get_model_version(ref)
    promotions = client.promotions(mv.name, mv.version)
    if as_json:
        emit_json({**_version_dict(mv), "promotions": promotions})
        return
    out = console()
    out.print(f"[bold]{mv.ref}[/bold]  aliases: {', '.join(mv.aliases) or '-'}  task: {mv.task or '-'}")
    out.print(f"flavor {mv.flavor}  digest {mv.artifact_digest}")
    out.print(
        f"run {mv.run_id or '-'}  datasets {', '.join(mv.datasets) or '-'}  "
        f"derived from {mv.derived_from or '-'}"
    )
    out.print(
        f"created {fmt_time(mv.created_at)} by {mv.created_by}"
        + ("  [red]pickle[/red]" if mv.allow_pickle else "")
    )
    out.print("inputs: " + ", ".join(f"{c.name}:{c.dtype}" for c in mv.signature.inputs))
    from rich.markup import escape

    spaces = mv.signature.spaces or {}
    for role, space in sorted(spaces.items(), key=lambda kv: kv[0] != "observation"):  # a policy
        out.print(f"{role} space: {escape(_space_text(space))}")
    if mv.metrics:
        shown = {k: v for k, v in mv.metrics.items() if not k.endswith(("_ci_low", "_ci_high"))}
        out.print("metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(shown.items())))
    for p in promotions:
        verdict = "applied" if p.applied else ("passed" if p.passed else "refused")
        out.print(f"{p.kind} to {p.alias}: {verdict} by {p.actor} at {fmt_time(p.created_at)} {p.reason}")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int, required=False)
@click.option("--delete", is_flag=True, help="Remove the alias instead.")
@click.option("--reason", default="", help="Why (recorded in the audit log).")
@json_verb
def alias(
    ctx: click.Context, name: str, alias: str, version: int | None, delete: bool, reason: str, as_json: bool
) -> None:
    """Point ALIAS at VERSION directly (no gates), or remove it with --delete.

    Use `carnet models promote` to move a guarded alias through its policy's gates.

    \b
    Example:
      carnet models alias churn staging 4
      carnet models alias churn staging --delete
    """
    client = get_client(ctx)
    if delete:
        previous = client.delete_model_alias(name, alias)
        result = {"name": name, "alias": alias, "deleted": True, "previous": previous}
    else:
        if version is None:
            raise click.UsageError("give the VERSION the alias points to, or --delete")
        previous = client.set_model_alias(name, alias, version, reason=reason)
        result = {"name": name, "alias": alias, "version": version, "previous": previous}
    if as_json:
        emit_json(result)
        return
    if delete:
        click.echo(f"removed {name}@{alias} (was version {previous})")
    else:
        click.echo(f"{name}@{alias} -> {version}" + (f" (was {previous})" if previous else ""))


@models.command("tag")
@click.argument("name")
@click.argument("tags", nargs=-1)
@click.option("--version", "version", type=int, help="Tag this version instead of the model.")
@click.option("--delete", "delete_key", metavar="KEY", help="Remove the tag KEY.")
@json_verb
def tag(
    ctx: click.Context,
    name: str,
    tags: tuple[str, ...],
    version: int | None,
    delete_key: str | None,
    as_json: bool,
) -> None:
    """Set tags (KEY=VALUE ...) on a model (NAME) or one of its versions (NAME/3, NAME@alias, or
    --version 3), or remove one.

    \b
    Example:
      carnet models tag churn team=risk
      carnet models tag churn/3 validated=yes
      carnet models tag churn --delete team
    """
    client = get_client(ctx)
    if "/" in name or "@" in name:
        if version is not None:
            raise click.UsageError("give the version once: NAME/3 or --version 3")
        name, version = _version_of(client, name, None)
    if delete_key:
        client.delete_model_tag(name, delete_key, version)
        result: dict[str, Any] = {"name": name, "version": version, "deleted": delete_key}
    else:
        parsed = _parse_tags(tags)
        if not parsed:
            raise click.UsageError("give at least one KEY=VALUE, or --delete KEY")
        client.set_model_tags(name, parsed, version)
        result = {"name": name, "version": version, "tags": parsed}
    if as_json:
        emit_json(result)
        return
    target = f"{name}/{version}" if version else name
    click.echo(
        f"{target}: "
        + (
            f"removed {delete_key}"
            if delete_key
            else ", ".join(f"{k}={v}" for k, v in result["tags"].items())
        )
    )


@models.command("promote")
@click.argument("ref", metavar="REF")
@click.argument("version", required=False, metavar="[VERSION]")
@click.option("--to", "alias", default="production", show_default=True, help="The alias to move.")
@click.option("--dry-run", is_flag=True, help="Run the gates and show the table; change nothing.")
@click.option(
    "--request",
    is_flag=True,
    help="Ask for the promotion (editors): the verdict is stored, the alias does not move.",
)
@click.option(
    "--policy",
    "policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use this policy file instead of the stored one.",
)
@click.option("--allow-pickle", is_flag=True, help="Allow loading pickle-stored models for the gates.")
@json_verb
def promote(
    ctx: click.Context,
    ref: str,
    version: str | None,
    alias: str,
    dry_run: bool,
    request: bool,
    policy: Path | None,
    allow_pickle: bool,
    as_json: bool,
) -> None:
    """Run the policy's gates on a version and move the alias when all pass (exit 1 if refused).

    With --request (the editor role is enough) the verdict is stored and audited but the alias
    does not move: a request refused only for want of approvals joins the approvals queue.

    REF is NAME/VERSION or NAME@ALIAS (NAME VERSION also works).

    \b
    Example:
      carnet models promote churn/4 --to production
      carnet models promote churn@staging --to production --dry-run --policy policy.yaml
      carnet models promote churn/4 --to production --request
    """
    client = get_client(ctx)
    name, number = _version_of(client, ref, version)
    assert number is not None
    with spinner("running gates", not as_json) as status:

        def progress(label: str, i: int, n: int) -> None:
            if status is not None:
                status.update(f"gate {i}/{n}: {label}")

        try:
            if request:
                if dry_run or allow_pickle:
                    raise click.UsageError("--request cannot be combined with --dry-run or --allow-pickle")
                result = client.request_promotion(name, number, alias, policy=policy)
            else:
                result = client.promote(
                    name,
                    number,
                    alias,
                    dry_run=dry_run,
                    policy=policy,
                    allow_pickle=allow_pickle,
                    progress=progress,
                )
        except GateFailed as exc:
            result = getattr(exc, "promotion", None)
            if result is None:
                raise
    if as_json:
        emit_json(result)
    else:
        title = f"{name}/{number} -> {alias}" + (" (dry run)" if dry_run else " (request)" if request else "")
        console().print(_gate_table(result, title))
        for table in _fairness_tables(result):
            console().print(table)
        if request:
            waiting = [r.gate for r in result.results if not r.passed]
            click.echo(
                f"requested {name}/{number} -> {alias}: "
                + (
                    f"waiting for {', '.join(waiting)}"
                    if waiting
                    else "every gate passed; an admin can promote"
                )
            )
        elif result.passed:
            click.echo(f"{'would move' if dry_run else 'moved'} {name}@{alias} to version {number}")
        else:
            click.echo(
                f"promotion refused: {sum(not r.passed for r in result.results)} gate(s) failed", err=True
            )
    blocking = [r for r in result.results if not r.passed and not (request and r.type == "approval")]
    if blocking:
        sys.exit(1)


@models.command("approve")
@click.argument("ref", metavar="REF")
@click.argument("version", required=False, metavar="[VERSION]")
@click.option("--alias", default="production", show_default=True, help="The alias the approval is for.")
@click.option("--comment", "-m", default="", help="Why you approve (recorded).")
@json_verb
def approve(
    ctx: click.Context, ref: str, version: str | None, alias: str, comment: str, as_json: bool
) -> None:
    """Approve a version (REF: NAME/VERSION or NAME@ALIAS) for an alias as the signed-in user (on a
    local workspace: CARNET_USER, else the OS user; such approvals are marked unauthenticated).

    \b
    Example:
      carnet models approve churn/4 --comment "reviewed the fairness table"
    """
    client = get_client(ctx)
    name, number = _version_of(client, ref, version)
    assert number is not None
    approval = client.approve(name, number, alias, comment)
    if as_json:
        emit_json(approval)
        return
    line = f"{approval.actor} approved {name}/{number} for {alias}"
    if not approval.authenticated:
        line += (
            " (unauthenticated: no signed-in user, the name comes from CARNET_USER or the operating "
            "system; where the workspace has users, policies count only authenticated approvals)"
        )
    click.echo(line)


@models.command("rollback")
@click.argument("name")
@click.option("--alias", default="production", show_default=True, help="The alias to move back.")
@click.option("--reason", required=True, help="Why (recorded in the audit log).")
@json_verb
def rollback(ctx: click.Context, name: str, alias: str, reason: str, as_json: bool) -> None:
    """Move an alias back to the version that held it before the current one.

    \b
    Example:
      carnet models rollback churn --reason "error rate doubled after release"
    """
    result = get_client(ctx).rollback(name, alias, reason=reason)
    if as_json:
        emit_json(result)
        return
    click.echo(f"{name}@{alias}: {result.previous_version} -> {result.version} ({reason})")


@models.command("card")
@click.argument("ref", metavar="REF")
@click.argument("version", required=False, metavar="[VERSION]")
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "html"]), default="markdown", show_default=True
)
@out_option("Write to this file.", legacy=())
@json_verb
def card(
    ctx: click.Context, ref: str, version: str | None, fmt: str, out: Path | None, as_json: bool
) -> None:
    """Render the model card of a version (REF: NAME/VERSION, NAME@ALIAS, or NAME for the latest).

    \b
    Example:
      carnet models card churn/4 --format html -o card.html
    """
    client = get_client(ctx)
    name, number = _version_of(client, ref, version, required=False)
    if as_json:
        emit_json(client.model_card_data(name, number))
        return
    text = client.model_card(name, number, fmt)
    if out is None:
        click.echo(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")


_MAPPING_OPTION = click.option(
    "--mapping",
    "mappings",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A compliance mapping file of your own (YAML; repeat for several), added to the built-in maps.",
)


@models.command("dossier")
@click.argument("ref", metavar="REF")
@click.argument("version", required=False, metavar="[VERSION]")
@out_option("The zip to write.", required=True)
@_MAPPING_OPTION
@json_verb
def dossier(
    ctx: click.Context,
    ref: str,
    version: str | None,
    out: Path,
    mappings: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Write the auditor's dossier: card, reports, gate results, audit events and their verification,
    monitors, and the compliance checklist (EU AI Act Annex IV, NIST AI RMF, your --mapping files).

    REF is NAME/VERSION, NAME@ALIAS, or NAME for the latest version.

    \b
    Example:
      carnet models dossier churn/4 -o churn-v4.zip
      carnet models dossier churn@production -o churn.zip --mapping internal-policy.yaml
    """
    client = get_client(ctx)
    name, number = _version_of(client, ref, version, required=False)
    manifest = client.model_dossier(name, number, out, mappings=list(mappings))
    if as_json:
        emit_json({"path": str(out), **manifest})
        return
    import zipfile

    with zipfile.ZipFile(out) as zf:
        entries = len(zf.namelist())
    listed = len(manifest["files"])
    summary = manifest.get("compliance", {}).get("summary")
    click.echo(
        f"wrote {out}: {entries} files for {manifest['model']} ({listed} listed with their SHA-256 in "
        "manifest.json, and the manifest)"
        + (
            f"; compliance: {summary['evidenced']} of {summary['items']} items evidenced, "
            f"{summary['partly_evidenced']} partly, {summary['to_be_provided']} to be provided by the "
            "organisation (compliance/checklist.md)"
            if summary
            else ""
        )
    )


@models.command("compliance")
@click.argument("ref", metavar="REF")
@click.argument("version", required=False, metavar="[VERSION]")
@_MAPPING_OPTION
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True
)
@json_verb
def compliance(
    ctx: click.Context,
    ref: str,
    version: str | None,
    mappings: tuple[Path, ...],
    fmt: str,
    as_json: bool,
) -> None:
    """Print the compliance checklist a version's dossier holds: each item of the EU AI Act Annex IV,
    the NIST AI RMF and your --mapping files, with the dossier files that evidence it. Evidence for
    an assessment, not a conformity assessment.

    \b
    Example:
      carnet models compliance churn@production --mapping internal-policy.yaml
    """
    client = get_client(ctx)
    name, number = _version_of(client, ref, version, required=False)
    checklist = client.model_compliance(name, number, mappings=list(mappings))
    if as_json or fmt == "json":
        emit_json(checklist)
        return
    from carnet.reports.compliance import render_checklist_markdown

    click.echo(render_checklist_markdown(checklist, base=""), nl=False)


@models.command("export")
@click.argument("ref")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@out_option("The file to write.", required=True)
@click.option("--register", is_flag=True, help="Also register the export as a new version of the model.")
@json_verb
def export(ctx: click.Context, ref: str, fmt: str, out: Path, register: bool, as_json: bool) -> None:
    """Export a scikit-learn version to ONNX (skl2onnx); a step it cannot convert is named.

    \b
    Example:
      carnet models export churn@production -o churn.onnx --register
    """
    registered = get_client(ctx).export_model(ref, out, register=register)
    if as_json:
        emit_json(
            {"path": str(out), "format": fmt, "registered": _version_dict(registered) if registered else None}
        )
        return
    click.echo(f"wrote {out}" + (f"; registered {registered.ref}" if registered else ""))


@models.group("policy")
def policy() -> None:
    """Promotion policies: the gates a model must pass, per model or as a project default.

    \b
    Example:
      carnet models policy set policy.yaml --model churn
      carnet models policy show churn
    """


@policy.command("set")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", help="The model the policy is for.")
@click.option("--project", help="The project whose default policy this is.")
@json_verb
def policy_set(ctx: click.Context, file: Path, model: str | None, project: str | None, as_json: bool) -> None:
    """Validate and store a policy (YAML) for a model or a project.

    \b
    Example:
      carnet models policy set policy.yaml --project churn
    """
    from carnet.domain.policies import policy_to_dict

    stored = get_client(ctx).set_policy(file, model=model, project=project)
    if as_json:
        emit_json(policy_to_dict(stored))
        return
    click.echo(
        f"policy {stored.name!r} stored for {'model ' + model if model else 'project ' + str(project)}: "
        f"{len(stored.gates)} gates"
    )


@policy.command("show")
@click.argument("name", required=False)
@click.option("--project", help="Show a project's default policy instead.")
@json_verb
def policy_show(ctx: click.Context, name: str | None, project: str | None, as_json: bool) -> None:
    """Show the policy in force for a model (or a project's default).

    \b
    Example:
      carnet models policy show churn --json
    """
    from carnet.domain.policies import policy_to_dict

    client = get_client(ctx)
    if (name is None) == (project is None):
        raise click.UsageError("give a model NAME or --project")
    found = client.get_policy(name) if name else client.get_project_policy(str(project))
    data = policy_to_dict(found) if found else None
    if as_json:
        emit_json(data)
        return
    if data is None:
        click.echo("no policy")
        return
    import yaml  # type: ignore[import-untyped, unused-ignore]

    click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())


def _attach() -> None:
    """``models derive`` is defined in its own module."""
    from carnet.cli.derive import derive

    models.add_command(derive)


_attach()


def _space_text(space: Any) -> str:
    """A Gymnasium space as one line: ``Box(4,) float32 [low..high]`` or ``Discrete(2)``."""
    if not isinstance(space, dict):
        return str(space)
    kind = space.get("kind")
    if kind == "Discrete":
        start = int(space.get("start", 0))
        return f"Discrete({space.get('n')})" + (f" from {start}" if start else "")
    if kind == "Box":
        shape = ",".join(str(x) for x in space.get("shape") or []) + ","
        low, high = _bounds(space.get("low")), _bounds(space.get("high"))
        return f"Box({shape}) {space.get('dtype')} low={low} high={high}"
    return f"{kind} {', '.join(f'{k}={v}' for k, v in space.items() if k != 'kind')}"


def _bounds(values: Any) -> str:
    """Bounds as a short list: numbers to 4 significant digits, infinities as inf."""
    if not isinstance(values, list):
        return str(values)
    return (
        "["
        + ", ".join(
            _bounds(v) if isinstance(v, list) else (f"{v:.4g}" if isinstance(v, float | int) else str(v))
            for v in values
        )
        + "]"
    )
