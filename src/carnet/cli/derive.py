"""``carnet models derive``: continue a registered model on new data and register the next version."""

from __future__ import annotations

from typing import Any

import click

from carnet.cli.render import console, emit_json, fmt_num, get_client, json_verb, stage_progress
from carnet.domain.training import REUSE_MODES

__all__ = ["derive"]


def _params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as model params; values read as YAML scalars (``10``, ``0.05``, ``true``)."""
    import yaml  # type: ignore[import-untyped, unused-ignore]

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(
                f"{pair!r} is not KEY=VALUE (e.g. n_estimators=50)", param_hint="--param"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, dict | list):
            raise click.BadParameter(
                f"{pair!r}: a param value is a number, a word or true/false", param_hint="--param"
            )
        out[key.strip()] = value
    return out


@click.command("derive")
@click.argument("ref", metavar="REF")
@click.argument("data", metavar="DATA")
@click.option(
    "--reuse",
    type=click.Choice(REUSE_MODES),
    help="How to continue the parent (default: what its model supports, e.g. warm_start).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A model param of the derivation (repeatable), e.g. n_estimators=50 (trees or rounds to add).",
)
@click.option("--refit-preprocessing", is_flag=True, help="Refit the parent's preprocessing on the new rows.")
@click.option("--no-register", is_flag=True, help="Train and compare only; register nothing.")
@json_verb
def derive(
    ctx: click.Context,
    ref: str,
    data: str,
    reuse: str | None,
    params: tuple[str, ...],
    refit_preprocessing: bool,
    no_register: bool,
    as_json: bool,
) -> None:
    """Continue the registered model REF on DATA and register the result as its next version.

    The parent's preprocessing, features, target and task are kept; its model continues by its
    library's own mechanism (LightGBM init_model, XGBoost xgb_model, scikit-learn warm_start or
    partial_fit). The table compares parent and derived model on the same held-out rows.

    \b
    Example:
      carnet models derive churn@production churn@3
      carnet models derive churn/2 new_rows.csv --param n_estimators=50 --json
    """
    client = get_client(ctx)
    with stage_progress(not as_json) as progress:
        result = client.derive(
            ref,
            data,
            reuse=reuse,
            params=_params(params),
            refit_preprocessing=refit_preprocessing,
            register=not no_register,
            progress=progress,
        )
    if as_json:
        emit_json(result)
        return
    from rich.table import Table

    made = f"{result['model']}/{result['version']}" if result.get("version") else f"run {result['run_id']}"
    table = Table("metric", f"parent {result['derived_from']}", f"derived {made}", title="same held-out rows")
    for name, pair in result["metrics"].items():
        table.add_row(name, fmt_num(pair["parent"]), fmt_num(pair["derived"]))
    out = console()
    out.print(table)
    out.print(
        f"{result['reuse']} from {result['derived_from']} on {result['dataset']}: "
        f"fit {fmt_num(result['fit_seconds'])} s "
        f"(the parent's training: {fmt_num(result['parent_fit_seconds'])} s)"
    )
    if result.get("version"):
        out.print(f"registered {made}; next: carnet models promote {made} --to production --dry-run")
    else:
        out.print(
            "nothing registered; register it with: "
            f"carnet models register {result['run_id']} --name {result['model']}"
        )
