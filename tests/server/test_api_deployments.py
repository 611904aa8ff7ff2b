"""Deployment and policy routes over real HTTP with authentication: revisions, history, deletion,
endpoint/path agreement, references that must resolve, YAML or JSON policies, and the roles."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from api_testkit import Api, problem, running_api  # noqa: E402
from monitoring_fixtures import MODEL, setup_workspace  # noqa: E402

from carnet import Client  # noqa: E402

USERS = {
    "root": {"*": "admin"},
    "everyone": {"*": "viewer"},
    "vic": {"monitoring": "viewer"},
    "ed": {"monitoring": "editor"},
    "boss": {"monitoring": "admin"},
    "out": {"other": "admin"},
}
POLICY = """
name: prod
aliases: [production]
evaluation_data: cancer-ref@1
seed: 1
gates:
  - metric: "roc_auc >= 0.9"
  - type: signature
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    client = Client(str(tmp_path_factory.mktemp("deployments") / "ws"))
    setup_workspace(client)
    try:
        with running_api(client.services, USERS) as api:
            yield api
    finally:
        client.close()


def test_deployment_revisions_history_and_deletion(api: Api) -> None:
    root = api.as_("root")
    first = {"routes": [{"model": f"{MODEL}@production", "weight": 1}]}
    r = api.http.put("/deployments/churn", json=first, headers=root)
    assert r.status_code == 200, r.text
    assert (r.json()["endpoint"], r.json()["revision"], r.json()["actor"]) == ("churn", 1, "root")
    assert api.http.put("/deployments/churn", json=first, headers=root).json()["revision"] == 1
    second = {
        "endpoint": "churn",
        "routes": [{"model": f"{MODEL}/1", "weight": 95}, {"model": f"{MODEL}/2", "weight": 5}],
        "shadows": [f"{MODEL}@production"],
    }
    r = api.http.put("/deployments/churn", json=second, headers=root)
    assert r.json()["revision"] == 2 and [x["weight"] for x in r.json()["routes"]] == [95, 5]
    assert [d["endpoint"] for d in api.http.get("/deployments", headers=api.as_("everyone")).json()] == [
        "churn"
    ]
    got = api.http.get("/deployments/churn", headers=api.as_("everyone")).json()
    assert got["revision"] == 2 and got["shadows"] == [f"{MODEL}@production"]
    gone = api.http.delete("/deployments/churn", params={"reason": "retired"}, headers=root)
    assert gone.status_code == 200 and gone.json()["deleted"] is True and gone.json()["revision"] == 3
    problem(api.http.get("/deployments/churn", headers=root), 404, "NotFound", "endpoint")
    problem(api.http.delete("/deployments/churn", headers=root), 404, "NotFound", "endpoint")
    history = api.http.get("/deployments/churn/history", headers=root).json()
    assert [(h["revision"], h["deleted"]) for h in history] == [(1, False), (2, False), (3, True)]
    (event,) = api.services.audit.log("deployment", "churn", action="deployment.delete")
    assert event.actor == "root" and event.payload["reason"] == "retired"


def test_deployment_errors_name_the_field(api: Api) -> None:
    root = api.as_("root")
    route = [{"model": f"{MODEL}@production", "weight": 1}]
    problem(
        api.http.put("/deployments/a", json={"endpoint": "b", "routes": route}, headers=root),
        422,
        "InvalidInput",
        "endpoint",
    )
    problem(
        api.http.put(
            "/deployments/a", json={"routes": [{"model": f"{MODEL}@nope", "weight": 1}]}, headers=root
        ),
        404,
        "NotFound",
        "routes[0].model",
    )
    bad_weight = api.http.put(
        "/deployments/a", json={"routes": [{"model": f"{MODEL}@production", "weight": -1}]}, headers=root
    )
    assert bad_weight.status_code == 422 and bad_weight.json()["field"].startswith("routes[0]"), (
        bad_weight.text
    )
    problem(api.http.put("/deployments/a", json={"routes": []}, headers=root), 422, "InvalidInput", "routes")
    problem(api.http.put("/deployments/a", json=["x"], headers=root), 422, "InvalidInput", "body")
    problem(api.http.put("/deployments/a", content=b"{oops", headers=root), 422, "InvalidInput", "body")
    problem(
        api.http.put("/deployments/bad name", json={"routes": route}, headers=root),
        422,
        "InvalidInput",
        "endpoint",
    )
    problem(api.http.get("/deployments/never/history", headers=root), 404, "NotFound", "endpoint")


def test_deployment_roles(api: Api) -> None:
    spec = {"routes": [{"model": f"{MODEL}@production", "weight": 1}]}
    problem(api.http.get("/deployments"), 401, "Unauthenticated", "authorization")
    problem(api.http.get("/deployments", headers=api.as_("vic")), 403, "PermissionDenied", "project")
    problem(
        api.http.put("/deployments/roles", json=spec, headers=api.as_("everyone")),
        403,
        "PermissionDenied",
        "project",
    )
    problem(
        api.http.put("/deployments/roles", json=spec, headers=api.as_("boss")),
        403,
        "PermissionDenied",
        "project",
    )
    assert api.http.put("/deployments/roles", json=spec, headers=api.as_("root")).status_code == 200
    assert api.http.get("/deployments/roles/history", headers=api.as_("everyone")).status_code == 200
    problem(
        api.http.delete("/deployments/roles", headers=api.as_("everyone")), 403, "PermissionDenied", "project"
    )
    assert api.http.delete("/deployments/roles", headers=api.as_("root")).status_code == 200


def test_policies_as_yaml_or_json_with_the_project_default(api: Api) -> None:
    problem(api.http.get(f"/models/{MODEL}/policy", headers=api.as_("vic")), 404, "NotFound", "policy")
    problem(api.http.get("/projects/monitoring/policy", headers=api.as_("vic")), 404, "NotFound", "policy")
    yaml_body = {"content-type": "application/yaml"}
    r = api.http.put("/projects/monitoring/policy", content=POLICY, headers={**api.as_("boss"), **yaml_body})
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == "project" and r.json()["policy"]["name"] == "prod"
    inherited = api.http.get(f"/models/{MODEL}/policy", headers=api.as_("vic")).json()
    assert inherited["policy"]["name"] == "prod"
    own = {**inherited["policy"], "name": "strict"}
    r = api.http.put(f"/models/{MODEL}/policy", json=own, headers=api.as_("boss"))
    assert r.status_code == 200 and r.json()["policy"]["name"] == "strict", r.text
    assert (
        api.http.get(f"/models/{MODEL}/policy", headers=api.as_("vic")).json()["policy"]["name"] == "strict"
    )
    assert (
        api.http.get("/projects/monitoring/policy", headers=api.as_("vic")).json()["policy"]["name"] == "prod"
    )
    events = api.services.audit.log("model", MODEL, action="policy.set")
    assert [e.actor for e in events] == ["boss"]
    # the registry's GET /models/{ref} still answers
    assert api.http.get(f"/models/{MODEL}", headers=api.as_("vic")).json()["name"] == MODEL


def test_policy_errors_and_roles(api: Api) -> None:
    boss = api.as_("boss")
    url = f"/models/{MODEL}/policy"
    problem(api.http.put(url, content="/etc/passwd", headers=boss), 422, "InvalidInput", "body")
    problem(api.http.put(url, content="a: [", headers=boss), 422, "InvalidInput", "body")
    problem(api.http.put(url, json=["x"], headers=boss), 422, "InvalidInput", "body")
    problem(
        api.http.put(url, content=b"{x", headers={**boss, "content-type": "application/json"}),
        422,
        "InvalidInput",
        "body",
    )
    problem(api.http.put(url, content=b"\xff\xfe", headers=boss), 422, "InvalidInput", "body")
    bad_gate = {"name": "x", "gates": [{"type": "no-such-gate"}]}
    r = api.http.put(url, json=bad_gate, headers=boss)
    assert r.status_code == 422 and r.json()["field"].startswith("gates[0]"), r.text
    problem(
        api.http.put("/models/nope/policy", content=POLICY, headers=api.as_("root")), 404, "NotFound", "name"
    )
    problem(
        api.http.put("/projects/nope/policy", content=POLICY, headers=api.as_("root")),
        404,
        "NotFound",
        "project",
    )
    problem(api.http.put(url, content=POLICY, headers=api.as_("ed")), 403, "PermissionDenied", "project")
    problem(
        api.http.put("/projects/monitoring/policy", content=POLICY, headers=api.as_("ed")),
        403,
        "PermissionDenied",
        "project",
    )
    problem(api.http.get(url, headers=api.as_("out")), 403, "PermissionDenied", "project")
    problem(
        api.http.get("/projects/monitoring/policy", headers=api.as_("out")),
        403,
        "PermissionDenied",
        "project",
    )
    problem(api.http.get(url), 401, "Unauthenticated", "authorization")
