"""Deployments: validation, revisions, audit, resolution, the change token, tombstones, prediction files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from carnet import Client
from carnet.documents import read_document
from carnet.domain import Deployment, DeploymentRoute, load_deployment
from carnet.errors import InvalidInput, NotFound

YAML = """
endpoint: churn
routes:
  - {model: churn@production, weight: 95}
  - {model: churn/2, weight: 5}
shadows: [churn@staging]
sticky_header: X-User-Id      # optional
batching: {max_batch_rows: 64, max_wait_ms: 2}
"""


def _model(client: Client, versions: int = 3) -> None:
    """A registered model ``churn`` with ``versions`` versions; production -> 1, staging -> 3."""
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(x, [0, 1, 0, 1])
    for _ in range(versions):
        client.log_model(model, "churn", x)
    client.set_model_alias("churn", "production", 1)
    client.set_model_alias("churn", "staging", versions)


def _events(client: Client, action: str) -> list[Any]:
    return [e for e in client.audit_log("deployment", limit=None) if e.action == action]


# -- validation (pure) ------------------------------------------------------------------------------


def test_load_deployment_reads_yaml_text_files_and_mappings(tmp_path: Path) -> None:
    dep = load_deployment(read_document(YAML, "deployment"))
    assert dep == Deployment(
        endpoint="churn",
        routes=(DeploymentRoute("churn@production", 95.0), DeploymentRoute("churn/2", 5.0)),
        shadows=("churn@staging",),
        sticky_header="X-User-Id",
        batching={"max_batch_rows": 64, "max_wait_ms": 2.0},
    )
    assert dep.total_weight == 100.0
    path = tmp_path / "churn.yaml"
    path.write_text(YAML)
    assert load_deployment(read_document(path, "deployment")) == dep
    assert load_deployment(read_document(str(path), "deployment")) == dep
    assert load_deployment(dep.to_spec()) == dep
    short = load_deployment({"endpoint": "e", "routes": ["churn/1"], "shadows": "churn@staging"})
    assert short.routes == (DeploymentRoute("churn/1", 1.0),) and short.shadows == ("churn@staging",)
    assert (short.sticky_header, short.batching) == (None, {})


BAD = [
    ({"routes": ["m/1"]}, "endpoint"),
    ({"endpoint": "bad name", "routes": ["m/1"]}, "endpoint"),
    ({"endpoint": "e"}, "routes"),
    ({"endpoint": "e", "routes": []}, "routes"),
    ({"endpoint": "e", "routes": "m/1"}, "routes"),
    ({"endpoint": "e", "routes": ["m/1"], "colour": 1}, "colour"),
    ({"endpoint": "e", "routes": [{"model": "m/1", "wieght": 1}]}, "routes[0].wieght"),
    ({"endpoint": "e", "routes": [{"weight": 1}]}, "routes[0].model"),
    ({"endpoint": "e", "routes": [7]}, "routes[0]"),
    ({"endpoint": "e", "routes": [{"model": "m"}]}, "routes[0].model"),
    ({"endpoint": "e", "routes": [{"model": "m/x"}]}, "routes[0].model"),
    ({"endpoint": "e", "routes": [{"model": "m@1a"}]}, "routes[0].model"),
    ({"endpoint": "e", "routes": [{"model": "m/1"}, {"model": "m/2", "weight": -1}]}, "routes[1].weight"),
    ({"endpoint": "e", "routes": [{"model": "m/1"}, {"model": "m/2", "weight": True}]}, "routes[1].weight"),
    ({"endpoint": "e", "routes": [{"model": "m/1"}, {"model": "m/2", "weight": "5"}]}, "routes[1].weight"),
    (
        {"endpoint": "e", "routes": [{"model": "m/1"}, {"model": "m/2", "weight": float("inf")}]},
        "routes[1].weight",
    ),
    ({"endpoint": "e", "routes": [{"model": "m/1", "weight": 0}]}, "routes"),
    ({"endpoint": "e", "routes": ["m/1", " m/1 "]}, "routes[1].model"),
    ({"endpoint": "e", "routes": ["m/1"], "shadows": ["m/1"]}, "shadows[0]"),
    ({"endpoint": "e", "routes": ["m/1"], "shadows": ["m/2", "m/2"]}, "shadows[1]"),
    ({"endpoint": "e", "routes": ["m/1"], "shadows": {"m": 2}}, "shadows"),
    ({"endpoint": "e", "routes": ["m/1"], "sticky_header": "X User"}, "sticky_header"),
    ({"endpoint": "e", "routes": ["m/1"], "batching": {"max_batch_rows": 0}}, "batching.max_batch_rows"),
    ({"endpoint": "e", "routes": ["m/1"], "batching": {"max_wait_ms": -1}}, "batching.max_wait_ms"),
    ({"endpoint": "e", "routes": ["m/1"], "batching": {"max_rows": 5}}, "batching.max_rows"),
    ({"endpoint": "e", "routes": ["m/1"], "batching": 5}, "batching"),
    ("endpoint: [unclosed", "deployment"),
    ("- just a list", "deployment"),
]


@pytest.mark.parametrize(("spec", "field"), BAD)
def test_load_deployment_names_the_offending_field(spec: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        load_deployment(read_document(spec, "deployment"))
    assert info.value.field == field
    assert "\n" not in info.value.message


def test_unknown_keys_suggest_the_close_one() -> None:
    with pytest.raises(InvalidInput, match="did you mean 'shadows'"):
        load_deployment({"endpoint": "e", "routes": ["m/1"], "shadow": ["m/2"]})


# -- the service on SQLite and PostgreSQL -----------------------------------------------------------


def test_set_stores_revisions_with_audit_events(client: Client) -> None:
    _model(client)
    dep = client.set_deployment(YAML)
    assert (dep.endpoint, dep.revision, dep.actor, dep.deleted) == ("churn", 1, "tester", False)
    assert client.get_deployment("churn") == dep
    assert client.set_deployment(YAML) == dep  # the same spec again changes nothing
    assert len(_events(client, "deployment.set")) == 1

    second = client.set_deployment(
        YAML.replace("weight: 95", "weight: 90").replace("weight: 5", "weight: 10")
    )
    assert second.revision == 2 and second.routes[0].weight == 90.0
    assert client.get_deployment("churn") == second
    assert [d.revision for d in client.deployment_history("churn")] == [1, 2]
    assert client.list_deployments() == [second]

    events = _events(client, "deployment.set")
    assert [e.payload["revision"] for e in reversed(events)] == [1, 2]
    latest = events[0]
    assert latest.subject_id == "churn" and latest.payload["previous_revision"] == 1
    assert latest.payload["spec"] == second.to_spec()
    assert latest.payload["resolved"] == {
        "churn@production": "churn/1",
        "churn/2": "churn/2",
        "churn@staging": "churn/3",
    }
    assert client.verify_audit().ok


def test_set_refuses_references_the_registry_cannot_resolve(client: Client) -> None:
    _model(client, versions=2)
    cases = [
        (YAML.replace("churn/2", "churn/9"), "routes[1].model"),
        (YAML.replace("churn@staging", "churn@canary"), "shadows[0]"),
        (YAML.replace("churn@production", "nope@production"), "routes[0].model"),
    ]
    for spec, field in cases:
        with pytest.raises(NotFound) as info:
            client.set_deployment(spec)
        assert info.value.field == field and info.value.message.startswith(field)
    with pytest.raises(InvalidInput):
        client.set_deployment({"endpoint": "churn", "routes": ["churn"]})  # a bare name is refused
    assert client.list_deployments() == [] and _events(client, "deployment.set") == []
    with pytest.raises(NotFound, match="carnet deploy set"):
        client.get_deployment("churn")
    with pytest.raises(NotFound):
        client.deployment_history("churn")


def test_resolve_follows_aliases_and_the_change_token_moves(client: Client) -> None:
    _model(client)
    service = client.services.deployments
    before = service.change_token()
    client.set_deployment(YAML)
    after_set = service.change_token()
    assert after_set[0] > before[0] and after_set[1] == before[1]

    resolved = service.resolve("churn")
    assert resolved.token == after_set
    assert [(r.ref, r.version.ref, r.weight) for r in resolved.routes] == [
        ("churn@production", "churn/1", 95.0),
        ("churn/2", "churn/2", 5.0),
    ]
    assert [(r.ref, r.version.ref, r.weight) for r in resolved.shadows] == [("churn@staging", "churn/3", 0.0)]
    assert service.change_token() == after_set  # reading changes nothing

    client.set_model_alias("churn", "production", 2)  # a promotion moves an alias
    moved = service.change_token()
    assert moved[1] > after_set[1] and moved[0] == after_set[0]
    assert service.resolve("churn").routes[0].version.ref == "churn/2"

    client.rollback("churn", "production", reason="latency")
    assert service.change_token()[1] > moved[1]
    assert service.resolve("churn").routes[0].version.ref == "churn/1"

    client.delete_model_alias("churn", "staging")
    with pytest.raises(NotFound) as info:
        service.resolve("churn")
    assert info.value.field == "shadows[0]"


def test_delete_stores_a_tombstone_and_setting_again_continues(client: Client) -> None:
    _model(client)
    client.set_deployment(YAML)
    client.set_deployment({"endpoint": "other", "routes": ["churn/3"]})
    token = client.services.deployments.change_token()
    gone = client.delete_deployment("churn", reason="retired")
    assert (gone.revision, gone.deleted, gone.routes) == (2, True, ())
    assert client.services.deployments.change_token()[0] > token[0]
    with pytest.raises(NotFound, match="was deleted"):
        client.get_deployment("churn")
    with pytest.raises(NotFound):
        client.delete_deployment("churn")
    with pytest.raises(NotFound):
        client.services.deployments.resolve("churn")
    assert [d.endpoint for d in client.list_deployments()] == ["other"]
    history = client.deployment_history("churn")
    assert [(d.revision, d.deleted) for d in history] == [(1, False), (2, True)]
    event = _events(client, "deployment.delete")[0]
    assert event.payload == {"revision": 2, "previous_revision": 1, "reason": "retired"}

    again = client.set_deployment(YAML)
    assert again.revision == 3 and client.get_deployment("churn") == again
    assert [d.endpoint for d in client.list_deployments()] == ["churn", "other"]
    assert client.verify_audit().ok


def test_concurrent_changes_get_distinct_revisions(workspace: Any) -> None:
    with workspace.client() as c:
        _model(c)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with workspace.client() as c:
                for j in range(3):
                    c.set_deployment(
                        {"endpoint": "churn", "routes": [{"model": "churn/1", "weight": 10 * i + j + 1}]}
                    )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with workspace.client() as c:
        assert [d.revision for d in c.deployment_history("churn")] == list(range(1, 13))
        assert len(_events(c, "deployment.set")) == 12
        assert c.verify_audit().ok


def test_prediction_files_are_indexed_not_audited(client: Client) -> None:
    service = client.services.deployments
    events = len(client.audit_log(limit=None))
    a = service.record_prediction_file("churn", "churn", 1, "blake3:" + "a" * 64, 10, 500, 100.0, 160.0)
    b = service.record_prediction_file(
        "churn", "churn", 2, "blake3:" + "b" * 64, 5, 300, 150.0, 170.0, shadow=True
    )
    c = service.record_prediction_file("fraud", "fraud", 1, "blake3:" + "c" * 64, 7, 400, 200.0, 230.0)
    assert (a.id, a.rows, a.bytes, a.shadow, b.shadow) == (a.id, 10, 500, False, True)
    assert len(client.audit_log(limit=None)) == events
    assert service.prediction_files() == [a, b, c]
    assert service.prediction_files(endpoint="churn") == [a, b]
    assert service.prediction_files(model="churn", version=2) == [b]
    assert service.prediction_files(since=165.0) == [b, c]
    assert service.prediction_files(endpoint="churn", since=171.0) == []
    for args, field in (
        (("bad name", "churn", 1), "endpoint"),
        (("churn", "churn", 0), "version"),
    ):
        with pytest.raises(InvalidInput) as info:
            service.record_prediction_file(*args, "d", 1, 1, 1.0, 2.0)
        assert info.value.field == field
    with pytest.raises(InvalidInput):
        service.record_prediction_file("churn", "churn", 1, "d", 1, 1, 5.0, 2.0)
