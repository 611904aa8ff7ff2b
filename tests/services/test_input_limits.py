"""Filters and text a caller sends are answered or refused with a clear error on every backend.

Runs on SQLite and PostgreSQL in-process and behind a live server over each (``served``): a
filter past the stated limits, a NUL character in any text, never reach the database as a
``StorageError`` (or a 500 / reset connection over HTTP).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carnet import Client
from carnet.domain.search import MAX_DEPTH, MAX_FILTER_LENGTH, MAX_ORDER_BY, MAX_TERMS, MAX_VALUES
from carnet.errors import FilterSyntaxError, InvalidInput, NotFound

assert issubclass(FilterSyntaxError, InvalidInput)

pytestmark = pytest.mark.served
PROJECT = "limits"


@pytest.fixture
def runs(client: Client) -> list[str]:
    ids = []
    for i in range(3):
        run = client.create_run(PROJECT, name=f"r{i}")
        client.log_params(run.id, {"i": str(i)})
        ids.append(run.id)
    return ids


def test_deep_nesting_is_a_filter_syntax_error_naming_the_limit(client: Client, runs: list[str]) -> None:
    deep = "(" * 5000 + "params.i = '1'" + ")" * 5000
    with pytest.raises(InvalidInput) as info:  # FilterSyntaxError in-process; its field over HTTP
        client.search_runs(PROJECT, filter=deep)
    assert f"{MAX_DEPTH} levels" in str(info.value) and info.value.field == "filter"
    # the deepest nesting allowed is answered
    ok = "(" * MAX_DEPTH + "params.i = '1'" + ")" * MAX_DEPTH
    assert [r.id for r in client.search_runs(PROJECT, filter=ok).runs] == [runs[1]]


def test_many_or_terms_are_refused_with_the_limit_and_the_limit_itself_works(
    client: Client, runs: list[str]
) -> None:
    with pytest.raises(InvalidInput) as info:
        client.search_runs(PROJECT, filter=" or ".join(f"params.i = '{k}'" for k in range(3000)))
    assert f"{MAX_TERMS} comparisons" in str(info.value)
    # exactly MAX_TERMS comparisons of every kind, mixing and/or, run on the backend
    kinds = ["params.i = '{k}'", "tags.t != '{k}'", "metrics.m > {k}", "name = 'r{k}'"]
    terms = [kinds[k % 4].format(k=k) for k in range(MAX_TERMS)]
    text = " or ".join(f"({a} and {b})" for a, b in zip(terms[::2], terms[1::2], strict=True))
    assert {r.id for r in client.search_runs(PROJECT, filter=text).runs} <= set(runs)
    flat = " or ".join(f"params.i = '{k}'" for k in range(MAX_TERMS))
    assert sorted(r.id for r in client.search_runs(PROJECT, filter=flat).runs) == sorted(runs)


def test_in_lists_and_length_and_order_by_have_limits(client: Client, runs: list[str]) -> None:
    many = ", ".join(f"'{k}'" for k in range(MAX_VALUES + 1))
    with pytest.raises(InvalidInput) as info:
        client.search_runs(PROJECT, filter=f"params.i in ({many})")
    assert f"{MAX_VALUES} values" in str(info.value)
    allowed = ", ".join(f"'{k}'" for k in range(MAX_VALUES))
    assert len(client.search_runs(PROJECT, filter=f"params.i in ({allowed})").runs) == 3
    with pytest.raises(InvalidInput) as info:
        client.search_runs(PROJECT, filter="params.i = '" + "x" * MAX_FILTER_LENGTH + "'")
    assert str(MAX_FILTER_LENGTH) in str(info.value)
    with pytest.raises(InvalidInput) as info:
        client.search_runs(PROJECT, order_by=["name"] * (MAX_ORDER_BY + 1))
    assert info.value.field == "order_by"


def test_a_nul_in_a_filter_is_invalid_input_on_every_backend(client: Client, runs: list[str]) -> None:
    for text in ("params.i = 'a\x00b'", "params.`a\x00` = '1'", "\x00", "tags.t in ('x', '\x00')"):
        with pytest.raises(InvalidInput) as info:
            client.search_runs(PROJECT, filter=text)
        assert "NUL" in str(info.value)
    with pytest.raises(InvalidInput):
        client.search_runs(PROJECT, order_by=["params.a\x00"])


@pytest.mark.parametrize(
    "call",
    [
        "create_project",
        "run_name",
        "param_key",
        "param_value",
        "tag_key",
        "tag_value",
        "metric_key",
        "get_run",
        "description",
    ],
)
def test_a_nul_in_any_text_is_invalid_input_and_writes_nothing(
    client: Client, runs: list[str], call: str
) -> None:
    run = runs[0]
    before = len(client.audit_log(limit=1000))
    actions: dict[str, Any] = {
        "create_project": lambda: client.create_project("p\x00"),
        "run_name": lambda: client.create_run(PROJECT, name="n\x00"),
        "param_key": lambda: client.log_params(run, {"k\x00": "1"}),
        "param_value": lambda: client.log_params(run, {"k": "v\x00"}),
        "tag_key": lambda: client.set_tags(run, {"t\x00": "1"}),
        "tag_value": lambda: client.set_tags(run, {"t": "v\x00"}),
        "metric_key": lambda: client.log_metric(run, "m\x00", 1.0),
        "get_run": lambda: client.get_run(run[:10] + "\x00"),
        "description": lambda: client.create_project("described", description="d\x00"),
    }
    with pytest.raises(
        NotFound if call == "get_run" and client.__class__.__name__ == "RemoteClient" else InvalidInput
    ) as info:
        actions[call]()
        client.flush() if hasattr(client, "flush") else None
    assert any(word in str(info.value) for word in ("NUL", "U+0000", "invalid", "no run"))
    assert len(client.audit_log(limit=1000)) == before
    assert client.get_run(run).params == {"i": "0"}


def _registry_and_monitoring_calls(client: Client, services: Any) -> dict[str, Any]:
    """A call per text field of the registry, policies, monitors, deployments and administration,
    each with a NUL in that field (and valid otherwise)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    for c in (1.0, 0.5):
        client.log_model(LogisticRegression(C=c).fit(frame, [0, 0, 1, 1]), "clf", frame, project=PROJECT)
    client.set_model_alias("clf", "production", 1)
    client.set_model_alias("clf", "production", 2)
    client.log_dataframe(frame.assign(target=[0, 0, 1, 1]), "ref", project=PROJECT)
    client.add_user("someone", {PROJECT: "viewer"})
    gates = [{"type": "approval", "required": 1}]
    monitor = {"name": "mon", "model": "clf@production", "reference": "ref@1", "target": "target"}
    monitor["window"] = "50rows"
    running = client.create_run(PROJECT, name="open")
    return {
        "model description": lambda: client.log_model(
            LogisticRegression().fit(frame, [0, 0, 1, 1]), "clf", frame, project=PROJECT, description="\x00"
        ),
        "model tag key": lambda: client.set_model_tags("clf", {"k\x00": "v"}),
        "model tag value": lambda: client.set_model_tags("clf", {"k": "v\x00"}, 1),
        "alias reason": lambda: client.set_model_alias("clf", "staging", 1, reason="r\x00"),
        "approval comment": lambda: client.approve("clf", 2, "production", "c\x00"),
        "rollback reason": lambda: client.rollback("clf", "production", reason="r\x00"),
        "policy name": lambda: client.set_policy({"name": "p\x00", "gates": gates}, model="clf"),
        "policy text": lambda: client.set_policy(
            {"name": "p", "intended_use": "\x00", "gates": gates}, project=PROJECT
        ),
        "monitor target": lambda: client.create_monitor({**monitor, "target": "t\x00"}),
        "logfile path": lambda: client.create_monitor(
            {**monitor, "notify": [{"type": "logfile", "path": "a\x00"}]}
        ),
        "webhook url": lambda: client.create_monitor(
            {**monitor, "notify": [{"type": "webhook", "url": "http://127.0.0.1/\x00"}]}
        ),
        "deployment route": lambda: client.set_deployment(
            {"endpoint": "ep", "routes": [{"model": "clf\x00@production"}]}
        ),
        "dataset description": lambda: client.log_dataframe(
            frame, "other", project=PROJECT, description="\x00"
        ),
        "token label": lambda: client.create_token("someone", "l\x00"),
        "run error": lambda: client.end_run(running.id, "failed", error="e\x00"),
        "run environment": lambda: services.tracking.create_run(PROJECT, environment={"e": "\x00"}),
        "search projects": lambda: client.search_runs([PROJECT, "p\x00"]),
        "audit subject": lambda: client.audit_log(subject_type="run", subject_id="\x00"),
    }


def test_a_nul_in_registry_monitoring_and_admin_text_is_invalid_input(client: Client, services: Any) -> None:
    calls = _registry_and_monitoring_calls(client, services)
    before = len(client.audit_log(limit=10_000))
    for what, call in calls.items():
        with pytest.raises(InvalidInput) as info:
            call()
        assert info.value.field, what
        assert "NUL" in str(info.value) or "\\x00" in str(info.value), f"{what}: {info.value}"
    assert len(client.audit_log(limit=10_000)) == before
    assert client.get_model("clf").aliases == {"production": 2}
    assert [m.name for m in client.list_monitors()] == []


@pytest.mark.local_only("tens of thousands of keys: the store's statements are what is tested")
def test_caller_sized_lists_are_bound_in_chunks_within_every_backend_limit(
    client: Client, services: Any, tmp_path: Path
) -> None:
    """PostgreSQL binds at most 65,535 parameters in one statement: 70,000 tags set (and replaced)
    at once, and thousands of artifacts re-logged at once, are stored, not a StorageError."""
    import io

    run = client.create_run(PROJECT)
    for value in ("a", "b"):
        client.set_tags(run.id, {f"k{i}": value for i in range(70_000)})
    tags = client.get_run(run.id).tags
    assert len(tags) == 70_000 and set(tags.values()) == {"b"}
    for content in (b"1", b"2"):
        files = [(f"d/f{i}.txt", io.BytesIO(content)) for i in range(2_500)]
        services.tracking.log_artifact_streams(run.id, files)
    artifacts = client.list_artifacts(run.id)
    assert len(artifacts) == 2_500 and len({a.digest for a in artifacts}) == 1
    [dest] = client.download_artifact(run.id, "d/f7.txt", tmp_path / "out")
    assert dest.read_bytes() == b"2"
