"""Over real HTTP, on SQLite and PostgreSQL: a search filter past its limits and text holding a NUL
character are refused with a 422 problem+json naming the field, never a 500 or a reset connection,
and nothing is written.

Regression tests of filters nested 5,000 parentheses deep (a ``RecursionError`` before), of 3,000
``or`` terms (a database error on SQLite and a reset connection), of a NUL in a filter (a database
error on PostgreSQL) and of a NUL in each text field a caller can send.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from carnet.domain.search import MAX_DEPTH, MAX_FILTER_LENGTH, MAX_ORDER_BY, MAX_TERMS, MAX_VALUES
from conftest import _local_workspace, serve_workspace

PROJECT = "lim"
MODEL = "clf"


class Live:
    """A live server over a fresh workspace of one backend, an admin's HTTP client and fixtures."""

    def __init__(self, http: httpx.Client, services: Any, run_id: str, open_run_id: str) -> None:
        self.http = http
        self.services = services
        self.run_id = run_id
        self.open_run_id = open_run_id

    def events(self) -> int:
        return len(self.services.audit.log(limit=100_000))

    def search(self, filter_: str | None = None, **body: Any) -> httpx.Response:
        return self.http.post("/runs/search", json={"projects": [PROJECT], "filter": filter_, **body})


def _setup(services: Any, tmp: Path) -> tuple[str, str]:
    """Three runs with a param, a dataset ``ref``, a model with a production version and a monitor."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    tracking = services.tracking
    ids = []
    for i in range(3):
        run = tracking.create_run(PROJECT, f"r{i}", params={"i": i}, tags={"t": f"v{i}"})
        tracking.log_batch(run.id, [tracking.make_metric("m", float(i), 0, 1.0)], None)
        tracking.end_run(run.id)
        ids.append(run.id)
    open_run = tracking.create_run(PROJECT, "open")
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    for c in (1.0, 0.5):
        model = LogisticRegression(C=c).fit(frame, [0, 0, 1, 1])
        services.registry.register_object(model, MODEL, frame, project=PROJECT, task="binary")
    services.registry.set_alias(MODEL, "production", 1)
    services.registry.set_alias(MODEL, "production", 2)
    reference = tmp / "ref.csv"
    reference.write_text("x,target\n" + "".join(f"{i % 4}.0,{int(i % 4 > 1)}\n" for i in range(40)))
    services.datasets.add(reference, "ref", project=PROJECT)
    return ids[0], open_run.id


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp(f"limits-{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("CARNET_") and key != "CARNET_TEST_POSTGRES_URL":
                mp.delenv(key, raising=False)
        with _local_workspace(request.param, tmp) as local, serve_workspace(local) as served:
            run_id, open_run_id = _setup(served.services, tmp)
            headers = {"Authorization": f"Bearer {served.token}"}
            with httpx.Client(base_url=f"{served.uri}/api/v1", headers=headers, timeout=60) as http:
                yield Live(http, served.services, run_id, open_run_id)


def _refused(r: httpx.Response, field: str | None = None, *words: str, status: int = 422) -> dict[str, Any]:
    """``r`` is a problem+json refusal (``status``) naming ``field`` and holding ``words``."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    if field is not None:
        assert body["field"] == field, body
    for word in words:
        assert word in body["detail"], body
    return body


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return sorted(run["id"] for run in r.json()["runs"])


# -- probe 5: nesting ---------------------------------------------------------------------------------
def test_5000_nested_parentheses_are_a_422_naming_the_depth_limit(live: Live) -> None:
    deep = "(" * 5000 + "params.i = '1'" + ")" * 5000
    body = _refused(live.search(deep), "filter", f"nested more than {MAX_DEPTH} levels deep")
    assert body["error"] == "FilterSyntaxError" and body["position"] == MAX_DEPTH
    at_limit = "(" * MAX_DEPTH + "params.i = '1'" + ")" * MAX_DEPTH
    assert len(_ids(live.search(at_limit))) == 1


# -- probe 6: many terms, values, characters, order_by clauses ------------------------------------------
def test_3000_or_terms_are_a_422_and_the_server_goes_on(live: Live) -> None:
    text = " or ".join(f"params.i = '{k}'" for k in range(3000))
    body = _refused(live.search(text), "filter", f"more than {MAX_TERMS} comparisons")
    assert body["error"] == "FilterSyntaxError"
    flat = " or ".join(f"params.i = '{k}'" for k in range(MAX_TERMS))
    assert len(_ids(live.search(flat))) == 3


def test_a_filter_at_every_limit_at_once_is_answered_on_the_backend(live: Live) -> None:
    """The worst shape allowed (deepest nesting, most comparisons and in-list values) runs on both
    backends: the limits keep a filter within SQLite's expression depth and both parameter limits."""
    per_list = MAX_VALUES // 4
    in_lists = [
        "params.i in (" + ", ".join(f"'{k}'" for k in range(n * per_list, (n + 1) * per_list)) + ")"
        for n in range(4)
    ]
    plain = [
        ["metrics.m >= {k}", "tags.t != 'v{k}'", "name = 'r{k}'", "status = 'finished'"][k % 4].format(k=k)
        for k in range(MAX_TERMS - len(in_lists))
    ]
    terms = in_lists + plain
    nested = terms[MAX_DEPTH - 1]
    for k in range(MAX_DEPTH - 2, -1, -1):  # term_0 and (term_1 or (term_2 and (...)))
        nested = f"{terms[k]} {'and' if k % 2 == 0 else 'or'} ({nested})"
    text = "(" + nested + ") or " + " or ".join(terms[MAX_DEPTH:])
    assert text.count("(") - sum(t.count("(") for t in terms) == MAX_DEPTH
    assert len(_ids(live.search(text))) == 3


def test_in_lists_length_and_order_by_have_limits_over_http(live: Live) -> None:
    too_many = ", ".join(f"'{k}'" for k in range(MAX_VALUES + 1))
    _refused(live.search(f"params.i in ({too_many})"), "filter", f"more than {MAX_VALUES} values")
    long = "params.i = '" + "x" * MAX_FILTER_LENGTH + "'"
    _refused(live.search(long), "filter", f"the limit is {MAX_FILTER_LENGTH}")
    clauses = ["name"] * (MAX_ORDER_BY + 1)
    _refused(live.search(None, order_by=clauses), "order_by", f"the limit is {MAX_ORDER_BY}")
    kinds = ["metrics.m{n} desc", "params.p{n}", "tags.t{n} asc", "name"]
    at_limit = [kinds[n % 4].format(n=n) for n in range(MAX_ORDER_BY)]
    assert _ids(live.search(None, order_by=at_limit)) == _ids(live.search(None))


# -- probe 7: NUL characters ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["params.i = 'a\x00b'", "params.`i\x00` = '1'", "\x00", "tags.t in ('v1', '\x00')"]
)
def test_a_nul_in_a_filter_is_a_422_on_every_backend(live: Live, text: str) -> None:
    _refused(live.search(text), "filter", "NUL")
    _refused(live.search(None, order_by=["params.i\x00"]), "order_by")


def _monitor(**changes: Any) -> dict[str, Any]:
    spec = {"name": "mon", "model": f"{MODEL}@production", "reference": "ref@1", "target": "target"}
    return {**spec, "window": "50rows", **changes}


def _policy(**changes: Any) -> dict[str, Any]:
    return {"name": "p", "gates": [{"type": "approval", "required": 1}], **changes}


def _j(**body: Any) -> dict[str, Any]:
    """The request arguments of a JSON body."""
    return {"json": body}


def _notify(**notifier: Any) -> dict[str, Any]:
    """A monitor creation with one notifier."""
    return _j(**_monitor(notify=[notifier]))


CSV = b"x,target\n1.0,0\n"
CSV_NUL_DESCRIPTION = {"format": "csv", "description": "d\x00"}


#: (what, method, path, JSON body or query) with a NUL in one text field each; ``{run}`` is a running
#: run, ``{done}`` an ended one
NUL_CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("project name", "POST", "/projects", _j(name="p\x00")),
    ("project description", "POST", "/projects", _j(name="described", description="d\x00")),
    ("run name", "POST", "/runs", _j(project=PROJECT, name="n\x00")),
    ("run project", "POST", "/runs", _j(project="p\x00")),
    ("run param key", "POST", "/runs", _j(project=PROJECT, params={"k\x00": 1})),
    ("run tag value", "POST", "/runs", _j(project=PROJECT, tags={"t": "v\x00"})),
    ("run environment", "POST", "/runs", _j(project=PROJECT, environment={"e": "\x00"})),
    ("param key", "POST", "/runs/{run}/params", _j(params={"k\x00": "1"})),
    ("param value", "POST", "/runs/{run}/params", _j(params={"k": "v\x00"})),
    ("tag key", "POST", "/runs/{run}/tags", _j(tags={"k\x00": "v"})),
    ("tag value", "POST", "/runs/{run}/tags", _j(tags={"k": "v\x00"})),
    ("metric key", "POST", "/runs/{run}/metrics", _j(metrics=[{"key": "m\x00", "value": 1}])),
    ("batch param", "POST", "/runs/{run}/metrics", _j(metrics=[], params={"k": "\x00"})),
    ("run error", "PATCH", "/runs/{run}", _j(status="failed", error="e\x00")),
    ("input dataset", "POST", "/runs/{run}/inputs", _j(datasets=["ref\x00@1"])),
    ("input context", "POST", "/runs/{run}/inputs", _j(datasets=["ref@1"], context="\x00")),
    ("artifact path", "PUT", "/runs/{run}/artifacts/a%00b.txt", {"content": b"x"}),
    ("dataset name", "POST", "/datasets/d%00", {"content": b"a\n1\n", "params": {"format": "csv"}}),
    ("dataset description", "POST", "/datasets/ref", {"content": CSV, "params": CSV_NUL_DESCRIPTION}),
    ("version description", "POST", f"/models/{MODEL}/versions", _j(run_id="{done}", description="\x00")),
    ("model tag key", "PUT", f"/models/{MODEL}/tags", _j(tags={"k\x00": "v"})),
    ("model tag value", "PUT", f"/models/{MODEL}/tags", _j(tags={"k": "v\x00"}, version=1)),
    ("alias", "PUT", f"/models/{MODEL}/aliases/a%00", _j(version=1)),
    ("alias reason", "PUT", f"/models/{MODEL}/aliases/staging", _j(version=1, reason="\x00")),
    ("approval comment", "POST", f"/models/{MODEL}/versions/1/approvals", _j(comment="c\x00")),
    ("rollback reason", "POST", f"/models/{MODEL}/rollback", _j(reason="r\x00")),
    ("policy name", "PUT", f"/models/{MODEL}/policy", _j(**_policy(name="p\x00"))),
    ("policy text", "PUT", f"/projects/{PROJECT}/policy", _j(**_policy(intended_use="\x00"))),
    ("monitor name", "POST", "/monitors", _j(**_monitor(name="m\x00"))),
    ("monitor target", "POST", "/monitors", _j(**_monitor(target="t\x00"))),
    ("logfile path", "POST", "/monitors", _notify(type="logfile", path="a\x00")),
    ("webhook url", "POST", "/monitors", _notify(type="webhook", url="http://127.0.0.1/\x00")),
    (
        "slack channel",
        "POST",
        "/monitors",
        _notify(type="slack", url="https://hooks.example.com/x", channel="#\x00"),
    ),
    ("deployment endpoint", "PUT", "/deployments/e%00", _j(routes=[{"model": f"{MODEL}@production"}])),
    ("deployment route", "PUT", "/deployments/ep", _j(routes=[{"model": f"{MODEL}\x00@production"}])),
    ("user name", "POST", "/users", _j(name="u\x00")),
    ("user role project", "POST", "/users", _j(name="someone", roles={"p\x00": "viewer"})),
    ("token label", "POST", "/users/tester/tokens", _j(label="l\x00")),
    ("role", "PUT", "/users/tester/roles/p%00", _j(role="viewer")),
    ("audit action", "GET", "/audit/events", {"params": {"action": "a\x00"}}),
    ("audit subject", "GET", "/audit/events", {"params": {"subject_type": "run", "subject_id": "\x00"}}),
    ("run id", "GET", "/runs/%00", {}),
    ("dataset lookup", "GET", "/datasets/ref%00", {}),
    ("model lookup", "GET", "/models/clf%00", {}),
    ("monitor lookup", "GET", "/monitors/m%00", {}),
    ("search project", "POST", "/runs/search", _j(projects=["p\x00"])),
    ("page token", "POST", "/runs/search", _j(projects=[PROJECT], page_token="\x00")),
]


def _fill(value: Any, live: Live) -> Any:
    if isinstance(value, str):
        return value.replace("{run}", live.open_run_id).replace("{done}", live.run_id)
    if isinstance(value, dict):
        return {k: _fill(v, live) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, live) for v in value]
    return value


@pytest.mark.parametrize(("what", "method", "path", "kwargs"), NUL_CASES, ids=[c[0] for c in NUL_CASES])
def test_a_nul_in_any_text_field_is_refused_and_writes_nothing(
    live: Live, what: str, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    before = live.events()
    r = live.http.request(method, _fill(path, live), **_fill(kwargs, live))
    assert r.status_code in (404, 422), f"{what}: {r.status_code} {r.text}"
    body = _refused(r, status=r.status_code)
    assert body["error"] in ("InvalidInput", "FilterSyntaxError", "NotFound"), body
    assert body["field"], body
    # refused for the NUL (named, or shown in the refused name), not for another reason
    assert "NUL" in body["detail"] or "\\x00" in body["detail"] or what == "page token", body
    assert live.events() == before, f"{what}: an audit event was written"
    # the running run is still running, with no param or tag added
    run = live.http.get(f"/runs/{live.open_run_id}").json()
    assert (run["status"], run["params"], run["tags"]) == ("running", {}, {})


# -- nesting in JSON and YAML bodies --------------------------------------------------------------------
@pytest.mark.parametrize("depth", [100, 900, 5000])
def test_deeply_nested_bodies_are_refused_and_write_nothing(live: Live, depth: int) -> None:
    """A run environment, deployment or policy nested past the limit is a 4xx (before: the run was
    stored and its answer failed with a 500; a policy thousands of levels deep crashed its parser)."""
    nested = "[" * depth + "]" * depth
    before = live.events()
    for method, path, body in [
        ("POST", "/runs", '{"project": "lim", "environment": {"a": %s}}'),
        ("PUT", "/deployments/ep", '{"routes": [{"model": "clf@production", "batching": {"a": %s}}]}'),
        ("PUT", f"/projects/{PROJECT}/policy", '{"name": "p", "gates": [{"type": "approval", "x": %s}]}'),
    ]:
        headers = {"Content-Type": "application/json"}
        r = live.http.request(method, path, content=body % nested, headers=headers)
        assert r.status_code in (400, 422), f"{path}: {r.status_code} {r.text[:300]}"
        assert r.headers["content-type"].startswith("application/problem+json")
    model = '{"name": "sklearn.linear_model.LogisticRegression", "params": {"a": ' + nested + "}}"
    spec = '{"project": "lim", "task": "binary", "dataset": "ref@1", "target": "target", "model": '
    r = live.http.post("/train", content='{"spec": ' + spec + model + "}}", headers=headers)
    assert r.status_code in (200, 400, 422), r.text[:300]  # 200: a stream ending with the problem
    assert depth > 1000 or "nested more than 64 levels deep" in r.text, r.text[:300]
    yaml_policy = "name: p\ngates: " + nested + "\n"
    yaml_type = {"Content-Type": "text/yaml"}
    _refused(live.http.put(f"/projects/{PROJECT}/policy", content=yaml_policy, headers=yaml_type))
    assert live.events() == before
