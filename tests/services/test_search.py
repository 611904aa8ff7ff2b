"""Run search on SQLite and PostgreSQL, checked exactly against a Python evaluation of the same predicates.

Python-side semantics: a comparison on a metric, param or tag the run does not
have is false; a NaN metric is stored as "no value" (never matches, sorts last);
results are ordered by the order_by keys (missing values last in both
directions), then by start time (newest first), then by run id.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from carnet import Client, Metric, RunStatus
from carnet.errors import FilterSyntaxError, InvalidInput, NotFound

PROJECT = "search"
MODELS = ["lgbm", "xgb", "rf", "LGBM"]
TEAMS = ["Alpha", "alpha", "beta", "gamma-1", None]
STATUSES = [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED, RunStatus.RUNNING]


@dataclass
class Spec:
    """What the test logged for one run (plus times read back from the store)."""

    i: int
    id: str = ""
    name: str = ""
    status: str = ""
    parent_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # latest values
    start_time: float = 0.0
    end_time: float | None = None
    deleted: bool = False


def _build(client: Client) -> list[Spec]:
    """60 runs in PROJECT (2 of them deleted) and 5 decoys in another project."""
    specs: list[Spec] = []
    for i in range(60):
        s = Spec(i, name=f"Exp-{i}" if i % 2 == 0 else f"exp-{i}", status=STATUSES[(i // 3) % 4].value)
        s.params = {"model": MODELS[i % 4], "depth": str(i % 7)}
        if i % 3:
            s.params["lr"] = ["0.1", "0.01", "0.001"][i % 5 % 3]
        team = TEAMS[i % 5]
        if team is not None:
            s.tags["team"] = team
        if i % 2:
            s.tags["odd"] = "yes"
        if i % 6 != 5:
            s.metrics["auc"] = ((i * 37) % 60) / 60
        if i == 7:
            s.metrics["auc"] = math.nan
        if i % 10 != 9:
            s.metrics["loss"] = (i % 13) * 0.5  # ties on purpose
        if i % 4 == 1:
            s.metrics["val loss"] = i / 100
        s.metrics["acc"] = i / 60  # logged last at the highest step, after a larger value at step 0
        if i >= 55:
            s.parent_id = specs[0].id
        run = client.create_run(PROJECT, s.name, parent_id=s.parent_id, params=s.params, tags=s.tags)
        s.id = run.id
        batch = [Metric(k, v, 3, 1000.0) for k, v in s.metrics.items() if k != "acc"]
        batch += [Metric("acc", 1.0, 0, 2000.0), Metric("acc", s.metrics["acc"], 1, 1000.0)]
        client.log_batch(run.id, batch)
        if s.status != "running":
            client.end_run(run.id, s.status)
        specs.append(s)
    for s in (specs[11], specs[40]):
        client.delete_run(s.id)
        s.deleted = True
    for j in range(5):
        decoy = client.create_run("other", f"Exp-{j}", params={"model": "lgbm"}, tags={"team": "Alpha"})
        client.log_metrics(decoy.id, {"auc": 0.99, "loss": 0.0})
    for s in specs:
        stored = client.get_run(s.id)
        s.start_time, s.end_time = stored.start_time, stored.end_time
    return specs


def _m(s: Spec, key: str) -> float | None:
    v = s.metrics.get(key)
    return None if v is None or math.isnan(v) else v


def _num(key: str, pred: Callable[[float], bool]) -> Callable[[Spec], bool]:
    return lambda s: _m(s, key) is not None and pred(_m(s, key))  # type: ignore[arg-type]


def _param(key: str, pred: Callable[[str], bool]) -> Callable[[Spec], bool]:
    return lambda s: key in s.params and pred(s.params[key])


def _tag(key: str, pred: Callable[[str], bool]) -> Callable[[Spec], bool]:
    return lambda s: key in s.tags and pred(s.tags[key])


def _filters(specs: list[Spec]) -> list[tuple[str, Callable[[Spec], bool]]]:
    ids = [s.id for s in specs]
    t30 = specs[30].start_time
    return [
        ("metrics.auc > 0.5", _num("auc", lambda v: v > 0.5)),
        ("metrics.auc >= 0.5", _num("auc", lambda v: v >= 0.5)),
        ("metrics.auc < 0.25", _num("auc", lambda v: v < 0.25)),
        ("metrics.auc <= 0.25", _num("auc", lambda v: v <= 0.25)),
        ("metrics.loss = 2.5", _num("loss", lambda v: v == 2.5)),
        ("metrics.loss == 2.5", _num("loss", lambda v: v == 2.5)),
        ("metrics.loss != 2.5", _num("loss", lambda v: v != 2.5)),
        ("metrics.loss <> 2.5", _num("loss", lambda v: v != 2.5)),
        ("metrics.loss in (0, 1.5, 3)", _num("loss", lambda v: v in (0, 1.5, 3))),
        ("metrics.loss not in (0, 1.5, 3)", _num("loss", lambda v: v not in (0, 1.5, 3))),
        ("metrics.loss > 2.5e0", _num("loss", lambda v: v > 2.5)),
        ("metrics.loss >= 5E+0", _num("loss", lambda v: v >= 5)),
        ("metrics.`val loss` < 0.3", _num("val loss", lambda v: v < 0.3)),
        ('metric."val loss" >= 0.3', _num("val loss", lambda v: v >= 0.3)),
        ("metrics.acc >= 0.99", _num("acc", lambda v: v >= 0.99)),  # latest value, not the max
        ("metrics.acc > 0.5", _num("acc", lambda v: v > 0.5)),
        ("metrics.nothing > -1", lambda s: False),
        ("metrics.auc > 0.5 and metrics.auc < 0.5", lambda s: False),
        ("params.model = 'lgbm'", _param("model", lambda v: v == "lgbm")),
        ("params.model != 'lgbm'", _param("model", lambda v: v != "lgbm")),
        ("params.model like 'lg%'", _param("model", lambda v: v.startswith("lg"))),
        ("params.model like 'LG%'", _param("model", lambda v: v.startswith("LG"))),
        ("params.model ilike 'lg%'", _param("model", lambda v: v.lower().startswith("lg"))),
        ("params.model like '_gb%'", _param("model", lambda v: v[1:3] == "gb")),
        ("params.model like '%B%'", _param("model", lambda v: "B" in v)),
        ("params.model in ('rf', 'xgb')", _param("model", lambda v: v in ("rf", "xgb"))),
        ("params.model not in ('rf', 'xgb')", _param("model", lambda v: v not in ("rf", "xgb"))),
        ("params.depth = 3", _param("depth", lambda v: v == "3")),
        ("param.depth in (1, '2')", _param("depth", lambda v: v in ("1", "2"))),
        ("params.lr = '0.01'", _param("lr", lambda v: v == "0.01")),
        ("params.lr != '0.01'", _param("lr", lambda v: v != "0.01")),
        ("params.lr not in ('0.1')", _param("lr", lambda v: v != "0.1")),
        ("tags.team = 'alpha'", _tag("team", lambda v: v == "alpha")),
        ("tags.team like 'A%'", _tag("team", lambda v: v.startswith("A"))),
        ("tags.team like 'a%'", _tag("team", lambda v: v.startswith("a"))),
        ("tags.team ilike 'A%'", _tag("team", lambda v: v.lower().startswith("a"))),
        ("tags.team like '%-_'", _tag("team", lambda v: len(v) >= 2 and v[-2] == "-")),
        ("tags.team != 'beta'", _tag("team", lambda v: v != "beta")),
        ("tags.team not in ('beta', 'Alpha')", _tag("team", lambda v: v not in ("beta", "Alpha"))),
        ("tags.odd = 'yes'", _tag("odd", lambda v: v == "yes")),
        ("status = 'failed'", lambda s: s.status == "failed"),
        ("status = 'FAILED'", lambda s: s.status == "failed"),
        ("attributes.status != 'running'", lambda s: s.status != "running"),
        ("status in ('killed', 'failed')", lambda s: s.status in ("killed", "failed")),
        ("status not in ('finished')", lambda s: s.status != "finished"),
        ("attr.status like 'fin%'", lambda s: s.status.startswith("fin")),
        ("name like 'Exp-%'", lambda s: s.name.startswith("Exp-")),
        ("name like 'exp-1%'", lambda s: s.name.startswith("exp-1")),
        ("name ilike 'exp-1%'", lambda s: s.name.lower().startswith("exp-1")),
        ("name = 'exp-7'", lambda s: s.name == "exp-7"),
        ("run_name != 'exp-7'", lambda s: s.name != "exp-7"),
        (f"start_time >= {t30!r}", lambda s: s.start_time >= t30),
        (f"attributes.start_time < {t30!r}", lambda s: s.start_time < t30),
        ("end_time > 0", lambda s: s.end_time is not None and s.end_time > 0),
        (f"id = '{ids[5]}'", lambda s: s.id == ids[5]),
        (f"run_id in ('{ids[1]}', '{ids[2]}', 'nope')", lambda s: s.id in ids[1:3]),
        (f"attributes.id not in ('{ids[1]}', '{ids[2]}')", lambda s: s.id not in ids[1:3]),
        (f"parent_id = '{ids[0]}'", lambda s: s.parent_id == ids[0]),
        (f"parent_id != '{ids[0]}'", lambda s: s.parent_id != ids[0]),
        (
            "metrics.auc > 0.5 and params.model = 'xgb'",
            lambda s: _num("auc", lambda v: v > 0.5)(s) and s.params["model"] == "xgb",
        ),
        (
            "params.model = 'rf' or metrics.loss < 1",
            lambda s: s.params["model"] == "rf" or _num("loss", lambda v: v < 1)(s),
        ),
        (
            "params.model = 'rf' or metrics.loss < 1 and status = 'finished'",
            lambda s: (
                s.params["model"] == "rf" or (_num("loss", lambda v: v < 1)(s) and s.status == "finished")
            ),
        ),
        (
            "(params.model = 'rf' or metrics.loss < 1) and status = 'finished'",
            lambda s: (
                (s.params["model"] == "rf" or _num("loss", lambda v: v < 1)(s)) and s.status == "finished"
            ),
        ),
        (
            "(tags.team ilike 'ALPHA' or tags.odd = 'yes') and metrics.auc < 0.5",
            lambda s: (
                (s.tags.get("team", "").lower() == "alpha" or s.tags.get("odd") == "yes")
                and _num("auc", lambda v: v < 0.5)(s)
            ),
        ),
    ]


def _ids(page: Any) -> list[str]:
    return [r.id for r in page.runs]


def test_filters_match_python_evaluation(client: Client) -> None:
    specs = _build(client)
    live = [s for s in specs if not s.deleted]
    mismatches = []
    for text, pred in _filters(specs):
        got = _ids(client.search_runs(PROJECT, filter=text, max_results=1000))
        want = {s.id for s in live if pred(s)}
        if len(got) != len(set(got)) or set(got) != want:
            names = {s.id: s.name for s in specs}
            extra = sorted(names.get(i, i) for i in set(got) - want)
            missing = sorted(names[i] for i in want - set(got))
            mismatches.append(f"{text!r}: unexpected {extra}, missing {missing}")
    assert not mismatches, "\n".join(mismatches)
    # guard: the table selects varied subsets, mostly neither empty nor everything
    sizes = [sum(1 for s in live if pred(s)) for _, pred in _filters(specs)]
    assert sum(0 < n < len(live) for n in sizes) >= len(sizes) - 4
    assert len(set(sizes)) > 15


def test_scope_deleted_and_projects(client: Client) -> None:
    specs = _build(client)
    live = {s.id for s in specs if not s.deleted}
    assert set(_ids(client.search_runs(PROJECT))) == live
    assert set(_ids(client.search_runs(PROJECT, include_deleted=True))) == {s.id for s in specs}
    deleted = client.search_runs(PROJECT, filter=f"id = '{specs[11].id}'", include_deleted=True).runs
    assert [r.deleted for r in deleted] == [True]
    both = set(_ids(client.search_runs([PROJECT, "other"])))
    everything = set(_ids(client.search_runs()))
    assert both == everything
    assert len(everything - live) == 5
    decoys = set(_ids(client.search_runs("other", filter="params.model = 'lgbm'")))
    assert decoys == everything - live
    assert _ids(client.search_runs(PROJECT, filter="metrics.auc >= 0.99")) == []


def _expected_order(specs: list[Spec], order_by: list[str]) -> list[str]:
    def value(s: Spec, clause: str) -> Any:
        fld = clause.rsplit(" ", 1)[0] if clause.lower().endswith((" asc", " desc")) else clause
        kind, _, key = fld.partition(".")
        key = key.strip("`")
        if kind == "metrics":
            return _m(s, key)
        if kind == "params":
            return s.params.get(key)
        if kind == "tags":
            return s.tags.get(key)
        return getattr(s, {"id": "id", "run_name": "name"}.get(fld, fld))

    rows = sorted(specs, key=lambda s: s.id)
    rows.sort(key=lambda s: s.start_time, reverse=True)
    for clause in reversed(order_by):
        desc = clause.lower().endswith(" desc")
        present = [s for s in rows if value(s, clause) is not None]
        missing = [s for s in rows if value(s, clause) is None]
        present.sort(key=lambda s, c=clause: value(s, c), reverse=desc)
        rows = present + missing
    return [s.id for s in rows]


ORDERS = [
    [],
    ["metrics.auc desc"],
    ["metrics.auc"],
    ["metrics.auc ASC"],
    ["metrics.loss desc"],
    ["metrics.`val loss` desc"],
    ["params.model"],
    ["params.lr desc"],
    ["tags.team asc"],
    ["tags.team desc", "metrics.auc desc"],
    ["name"],
    ["run_name desc"],
    ["start_time"],
    ["id"],
    ["status desc", "metrics.loss asc"],
    ["params.model", "params.depth desc", "metrics.auc desc"],
    ["parent_id", "metrics.acc"],
]


def test_order_by_matches_python_sort(client: Client) -> None:
    specs = _build(client)
    live = [s for s in specs if not s.deleted]
    wrong = []
    for order in ORDERS:
        got = _ids(client.search_runs(PROJECT, order_by=order, max_results=1000))
        want = _expected_order(live, order)
        if got != want:
            names = {s.id: s.name for s in specs}
            wrong.append(f"{order}: got {[names[i] for i in got]}\n  want {[names[i] for i in want]}")
        filtered = _ids(client.search_runs(PROJECT, filter="status = 'finished'", order_by=order))
        if filtered != [i for i in want if i in {s.id for s in live if s.status == "finished"}]:
            wrong.append(f"{order} with filter: got a different order")
    assert not wrong, "\n".join(wrong)
    # missing values go last in both directions
    for order in (["metrics.auc desc"], ["metrics.auc asc"]):
        runs = client.search_runs(PROJECT, order_by=order).runs
        flags = [("auc" in r.metrics and not math.isnan(r.metrics["auc"])) for r in runs]
        assert flags == sorted(flags, reverse=True)
        assert not flags[-1]


PAGED = [
    (None, []),
    ("status != 'running'", ["metrics.loss desc"]),
    ("metrics.auc >= 0", ["params.model", "name"]),
]


def test_pagination_walks_every_page(client: Client) -> None:
    _build(client)
    for flt, order in PAGED:
        full_page = client.search_runs(PROJECT, filter=flt, order_by=order, max_results=1000)
        full = _ids(full_page)
        assert full_page.next_page_token is None
        seen: list[str] = []
        token: str | None = None
        pages = 0
        while True:
            page = client.search_runs(PROJECT, filter=flt, order_by=order, max_results=7, page_token=token)
            pages += 1
            assert 1 <= len(page.runs) <= 7
            seen += _ids(page)
            token = page.next_page_token
            if token is None:
                break
            assert len(page.runs) == 7
            assert pages < 100
        assert seen == full, (flt, order)
        assert len(seen) == len(set(seen))
        assert pages == math.ceil(len(full) / 7)


def test_exact_page_boundary_and_max_results_limits(client: Client) -> None:
    for i in range(14):
        client.create_run(PROJECT, f"r{i}")
    first = client.search_runs(PROJECT, max_results=7)
    second = client.search_runs(PROJECT, max_results=7, page_token=first.next_page_token)
    assert len(first.runs) == len(second.runs) == 7
    assert second.next_page_token is None
    assert set(_ids(first)).isdisjoint(_ids(second))
    assert len(client.search_runs(PROJECT, max_results=50_000).runs) == 14
    assert len(client.search_runs(PROJECT, max_results=1).runs) == 1


@pytest.mark.parametrize("max_results", [0, -1, 50_001, 10**9, 2.5, "7", None])
def test_max_results_out_of_range(client: Client, max_results: Any) -> None:
    client.create_run(PROJECT)
    with pytest.raises(InvalidInput) as info:
        client.search_runs(PROJECT, max_results=max_results)
    assert info.value.field == "max_results"


def test_search_errors(client: Client) -> None:
    client.create_run(PROJECT)
    with pytest.raises(NotFound):
        client.search_runs("no-such-project")
    with pytest.raises(NotFound):
        client.search_runs([PROJECT, "no-such-project"])
    with pytest.raises(FilterSyntaxError) as info:
        client.search_runs(PROJECT, filter="metrics.auc > 'high'")
    assert info.value.position == len("metrics.auc > ")
    with pytest.raises(FilterSyntaxError):
        client.search_runs(PROJECT, filter="params.a > 'x'")
    with pytest.raises(FilterSyntaxError):
        client.search_runs(PROJECT, filter="(metrics.auc > 1")
    with pytest.raises(InvalidInput):
        client.search_runs(PROJECT, order_by=["metrics.auc upward"])
    with pytest.raises(InvalidInput):
        client.search_runs(PROJECT, page_token="definitely-not-a-token")


def test_empty_workspace_search(client: Client) -> None:
    page = client.search_runs()
    assert page.runs == []
    assert page.next_page_token is None
    client.create_project("empty")
    assert client.search_runs("empty").runs == []
