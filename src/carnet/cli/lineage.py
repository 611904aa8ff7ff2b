"""``carnet lineage``: upstream and downstream of a dataset version, run, model version or endpoint."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import click

from carnet.cli.render import console, emit_json, get_client, json_verb, out_option
from carnet.errors import InvalidInput

__all__ = ["lineage"]

_STYLE = {"dataset": "cyan", "run": "white", "model": "green", "deployment": "magenta", "monitor": "yellow"}


@click.command()
@click.argument("ref")
@click.option("--depth", type=click.IntRange(1, 20), default=6, show_default=True, help="Steps each way.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "dot", "svg"]),
    default="tree",
    show_default=True,
    help="A tree in the terminal, Graphviz DOT text, or an SVG drawn by Graphviz's dot.",
)
@out_option("Write the DOT or SVG to this file (default: print DOT; SVG needs -o).")
@json_verb
def lineage(ctx: click.Context, ref: str, depth: int, fmt: str, out: Path | None, as_json: bool) -> None:
    """Where a dataset, run, model or endpoint came from, and what came of it.

    REF is a dataset version (name@3), a run id or unique prefix, a model version (name/3 or
    name@alias), an endpoint or a monitor; prefix it with dataset:, run:, model:, endpoint: or
    monitor: when a name could be several. Upstream: the data, runs and versions it came from;
    downstream: the runs that read it, the versions registered from them, the endpoints serving
    them and the monitors watching them.

    \b
    Example:
      carnet lineage penguins@1
      carnet lineage churn@production --format svg -o lineage.svg
      carnet lineage 3f2a9c0d --json
    """
    graph = get_client(ctx).lineage(ref, depth=depth)
    if as_json:
        emit_json(graph.to_dict())
        return
    if fmt == "dot":
        text = graph.to_dot()
        if out is None:
            click.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
            click.echo(f"wrote {out}")
        return
    if fmt == "svg":
        if out is None:
            raise InvalidInput("--format svg needs a file: -o lineage.svg", field="out")
        dot = shutil.which("dot")
        if dot is None:
            raise InvalidInput(
                "--format svg needs Graphviz's dot program (apt install graphviz, brew install graphviz); "
                "or write DOT with --format dot -o lineage.dot",
                field="format",
            )
        done = subprocess.run([dot, "-Tsvg"], input=graph.to_dot().encode(), capture_output=True, check=False)
        if done.returncode != 0:
            raise InvalidInput(
                f"dot failed: {done.stderr.decode(errors='replace').strip()[:300]}", field="format"
            )
        out.write_bytes(done.stdout)
        click.echo(f"wrote {out}")
        return
    _print_tree(graph)


def _print_tree(graph: Any) -> None:
    """The root, then what it came from (upstream) and what came of it (downstream), as trees."""
    from rich.markup import escape
    from rich.tree import Tree

    def label(key: str, relation: str = "") -> str:
        node = graph.nodes[key]
        via = f"[dim]{escape(relation)}[/dim] " if relation else ""
        return f"{via}[{_STYLE.get(node.kind, 'white')}]{node.kind}[/] {escape(node.label)}"

    def grow(tree: Any, key: str, way: str, seen: set[str]) -> None:
        edges = graph.upstream(key) if way == "up" else graph.downstream(key)
        for edge in edges:
            other = edge.source if way == "up" else edge.target
            if other in seen:
                tree.add(label(other, edge.relation) + " [dim](above)[/dim]")
                continue
            grow(tree.add(label(other, edge.relation)), other, way, seen | {other})

    out = console()
    root = Tree(label(graph.root) + " [bold](this)[/bold]")
    up = root.add("[bold]came from[/bold]")
    grow(up, graph.root, "up", {graph.root})
    down = root.add("[bold]came of it[/bold]")
    grow(down, graph.root, "down", {graph.root})
    if not graph.upstream(graph.root):
        up.add("[dim]nothing recorded[/dim]")
    if not graph.downstream(graph.root):
        down.add("[dim]nothing yet[/dim]")
    out.print(root)
    if graph.truncated:
        out.print(
            f"[yellow]cut at {len(graph.nodes)} objects: trace a nearer object or lower --depth[/yellow]"
        )
