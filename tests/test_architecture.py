"""The house holds: no import cycle anywhere in carnet (function-local imports included), no module
over 800 lines, one plugin table for every declared group, and one error tree."""

from __future__ import annotations

import ast
import builtins
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "carnet"

#: exceptions carnet raises and catches itself as signals, never shown to a user as errors: the
#: only ones outside the ``carnet.errors`` tree (an ``except CarnetError`` must not take them)
SIGNALS = {
    "cli/serve.py:_Confused": "click's usage error",
    "data/_csv.py:Retype": "a column's type must widen: scan the file again",
    "execution/base.py:DeadlineExceeded": "a call still running at the deadline (a TimeoutError)",
    "server/api/errors.py:PayloadTooLarge": "Starlette's 413",
    "server/api/training.py:_Cancelled": "the client of a training stream went away",
    "server/jobs.py:JobFailed": "ends a background job with its problem document",
    "server/v2.py:PayloadTooLarge": "the inference app answers 413",
    "server/v2.py:Unencodable": "the inference app answers 500 (encode_error)",
    "services/chunks.py:StaleChunks": "garbage collection removed a pack: stage the write again",
    "training/helper.py:HelperUnavailable": "the helper process cannot run a call: run it here",
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("carnet", include_external_packages=False, cache_dir=None)


def _components(edges: dict[str, set[str]]) -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(v: str) -> Iterator[list[str]]:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                yield from visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                yield sorted(comp)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(edges):
            if v not in index:
                yield from visit(v)
    finally:
        sys.setrecursionlimit(limit)


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert list(_components(edges)) == [["a", "b", "c"]]


def test_no_module_of_carnet_is_in_an_import_cycle(graph: grimp.ImportGraph) -> None:
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = list(_components(edges))
    shown = [
        [f"{m} -> {sorted(edges[m] & set(comp))}" for m in comp]
        for comp in cycles  # each module of the cycle with what it imports inside it
    ]
    assert shown == []


def test_no_module_of_carnet_is_over_800_lines() -> None:
    lines = {
        path.relative_to(SRC).as_posix(): len(path.read_text().splitlines()) for path in SRC.rglob("*.py")
    }
    assert {name: n for name, n in lines.items() if n > 800} == {}


def test_every_declared_plugin_group_is_a_kind_whose_protocol_is_in_the_api() -> None:
    from carnet.plugins import api
    from carnet.plugins.loader import PLUGIN_KINDS

    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"])
    assert declared <= {kind.group for kind in PLUGIN_KINDS.values()}
    assert {kind.name: kind.protocol.__module__ for kind in PLUGIN_KINDS.values()} == dict.fromkeys(
        PLUGIN_KINDS, api.__name__
    )


def _classes() -> list[tuple[str, str, set[str]]]:
    """Every class of carnet outside ``errors.py``: ``path:Name``, its name and its bases' names."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else b.attr
                    for b in node.bases
                    if isinstance(b, ast.Name | ast.Attribute)
                }
                found.append((f"{path.relative_to(SRC).as_posix()}:{node.name}", node.name, bases))
    return found


def _exception_classes() -> dict[str, bool]:
    """Every exception class defined outside ``errors.py`` (``path:Name``): is it a ``CarnetError``?"""
    from carnet import errors

    tree = {
        name
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.CarnetError)
    }
    known = tree | {
        name
        for name, obj in vars(builtins).items()
        if isinstance(obj, type) and issubclass(obj, BaseException)
    }
    classes = _classes()
    while True:  # a class deriving from one found here is found too
        grown = {
            name
            for _, name, bases in classes
            if bases & known or any(b.endswith(("Error", "Exception")) for b in bases)
        }
        deeper = {name for _, name, bases in classes if bases & tree}
        if grown <= known and deeper <= tree:
            return {key: name in tree for key, name, _ in classes if name in known}
        known |= grown
        tree |= deeper


def test_every_error_is_in_the_one_tree_but_the_named_signals() -> None:
    outside = sorted(key for key, in_tree in _exception_classes().items() if not in_tree)
    assert outside == sorted(SIGNALS)
