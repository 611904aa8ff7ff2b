"""Registry routes over real HTTP: registration from a run, references (NAME, NAME/3, NAME@alias),
aliases, approvals, gated promotion (422 with the gate table on refusal) and rollback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from carnet.bootstrap import open_services
from carnet.config import resolve_settings
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.services import Services

SPEC = """
dataset: {ref}
task: binary
target: target
split: {{kind: holdout, test_size: 0.25}}
model: {model}
preprocess: {{scale: standard}}
seed: 3
project: demo
"""
GOOD = "{name: logistic_regression, params: {C: 1.0}}"
WEAK = "{name: decision_tree, params: {max_depth: 1}}"
POLICY = """
name: prod
aliases: [production]
evaluation_data: {ref}
seed: 1
gates:
  - metric: "roc_auc >= 0.9"
  - type: signature
  - type: approval
    required: 1
"""


@dataclass
class Api:
    http: httpx.Client
    services: Services
    data: str
    good: str
    weak: str
    bare: str


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from sklearn.datasets import load_breast_cancer

    tmp = tmp_path_factory.mktemp("registry")
    settings = resolve_settings(str(tmp / "ws"), env={"CARNET_ACTOR": "tester"}, cwd=tmp)
    services = open_services(settings)
    csv = tmp / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(csv, index=False)
    data = services.datasets.add(csv, "cancer", project="demo")[0].ref
    good = services.search.run_spec(SPEC.format(ref=data, model=GOOD)).run_id
    weak = services.search.run_spec(SPEC.format(ref=data, model=WEAK)).run_id
    bare = services.tracking.create_run("demo").id
    server = serve_api_in_thread(create_api_app(services, require_auth=False, max_body_bytes=1 << 20))
    try:
        with httpx.Client(base_url=f"{server.url}/api/v1", timeout=120) as client:
            yield Api(client, services, data, good, weak, bare)
    finally:
        server.stop()
        services.close()


def problem(r: httpx.Response, status: int, error: str, field: str | None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert (body["status"], body["error"], body["field"]) == (status, error, field), body
    return body


def register(api: Api, name: str, run_id: str) -> dict:
    r = api.http.post(f"/models/{name}/versions", json={"run_id": run_id, "description": "d"})
    assert r.status_code == 201, r.text
    return r.json()


def test_versions_are_registered_from_runs_and_resolved_by_reference(api: Api) -> None:
    v1 = register(api, "reg", api.good)
    v2 = register(api, "reg", api.weak)
    assert (v1["version"], v2["version"], v1["ref"]) == (1, 2, "reg/1")
    assert v1["run_id"] == api.good and v1["flavor"] == "sklearn" and v1["datasets"] == [api.data]
    assert v1["signature"]["inputs"] and v1["created_by"] == "tester"
    model = api.http.get("/models/reg").json()
    assert (model["name"], model["project"], model["latest_version"]) == ("reg", "demo", 2)
    assert "reg" in [m["name"] for m in api.http.get("/models").json()]
    assert [m["name"] for m in api.http.get("/models", params={"project": "demo"}).json()].count("reg") == 1
    assert [v["version"] for v in api.http.get("/models/reg/versions").json()] == [1, 2]
    assert api.http.get("/models/reg/versions/latest").json()["version"] == 2
    assert api.http.get("/models/reg/versions/1").json()["artifact_digest"] == v1["artifact_digest"]
    assert api.http.get("/models/reg/1").json()["version"] == 1  # NAME/3 in the path
    problem(api.http.get("/models/reg/versions/0"), 422, "InvalidInput", "version")
    problem(api.http.get("/models/reg/versions/9"), 404, "NotFound", "version")
    problem(api.http.get("/models/reg@production"), 404, "NotFound", "alias")
    problem(api.http.get("/models/unknown"), 404, "NotFound", "name")
    problem(api.http.post("/models/reg/versions", json={"run_id": api.bare}), 422, "InvalidInput", "run_id")
    problem(api.http.post("/models/reg/versions", json={"run_id": "9" * 32}), 404, "NotFound", "run_id")
    problem(
        api.http.post("/models/bad name/versions", json={"run_id": api.good}), 422, "InvalidInput", "name"
    )
    problem(api.http.post("/models/reg/versions", json={}), 422, "InvalidInput", "run_id")


def test_aliases_move_without_gates_and_are_audited(api: Api) -> None:
    register(api, "ali", api.good)
    register(api, "ali", api.weak)
    r = api.http.put("/models/ali/aliases/staging", json={"version": 1, "reason": "first"})
    assert r.status_code == 200 and r.json() == {
        "name": "ali",
        "alias": "staging",
        "version": 1,
        "previous": None,
    }
    assert api.http.get("/models/ali@staging").json()["version"] == 1
    assert api.http.put("/models/ali/aliases/staging", json={"version": 2}).json()["previous"] == 1
    assert api.http.get("/models/ali").json()["aliases"] == {"staging": 2}
    gone = api.http.delete("/models/ali/aliases/staging", params={"reason": "retired"})
    assert gone.status_code == 200 and gone.json()["previous"] == 2 and gone.json()["version"] is None
    problem(api.http.delete("/models/ali/aliases/staging"), 404, "NotFound", "alias")
    problem(api.http.put("/models/ali/aliases/1bad", json={"version": 1}), 422, "InvalidInput", "alias")
    problem(api.http.put("/models/ali/aliases/x", json={"version": 7}), 404, "NotFound", "version")
    problem(api.http.put("/models/ali/aliases/x", json={"version": "one"}), 422, "InvalidInput", "version")
    moves = [e.payload for e in api.services.audit.log("model", "ali", action="model.alias.set")]
    assert [(m["version"], m["previous"]) for m in moves] == [(2, 1), (1, None)]


def test_promotion_is_refused_with_the_gate_table_then_approved_then_rolled_back(api: Api) -> None:
    register(api, "gated", api.good)
    register(api, "gated", api.weak)
    api.services.promotion.set_policy(POLICY.format(ref=api.data), model="gated")
    refused = problem(api.http.post("/models/gated/promote", json={"version": 1}), 422, "GateFailed", "gates")
    assert refused["title"] == "Promotion refused" and "approval" in refused["detail"]
    verdicts = {g["type"]: g["passed"] for g in refused["gates"]}
    assert verdicts == {"metric": True, "signature": True, "approval": False}
    assert refused["promotion"]["applied"] is False and refused["promotion"]["id"] > 0
    problem(api.http.get("/models/gated@production"), 404, "NotFound", "alias")

    dry = api.http.post("/models/gated/promote", json={"version": 1, "dry_run": True})
    assert dry.status_code == 200 and dry.json()["passed"] is False and dry.json()["id"] == 0
    before = len(api.services.promotion.promotions("gated"))
    check = api.http.post("/models/gated/promotion-checks", json={"version": 1, "alias": "production"})
    assert check.status_code == 200 and check.json()["passed"] is False and check.json()["id"] == 0
    assert [g["type"] for g in check.json()["results"]] == ["metric", "signature", "approval"]
    assert len(api.services.promotion.promotions("gated")) == before  # a check stores nothing
    problem(api.http.post("/models/gated/promotion-checks", json={"version": 9}), 404, "NotFound", "version")

    approval = api.http.post("/models/gated/versions/1/approvals", json={"comment": "reviewed"})
    assert approval.status_code == 201, approval.text
    assert (approval.json()["actor"], approval.json()["authenticated"]) == ("tester", False)
    problem(api.http.post("/models/gated/versions/1/approvals", json={}), 409, "AlreadyExists", "actor")
    problem(api.http.post("/models/gated/versions/5/approvals", json={}), 404, "NotFound", "version")

    done = api.http.post("/models/gated/promote", json={"version": 1, "alias": "production"})
    assert done.status_code == 200, done.text
    assert done.json()["applied"] is True and all(g["passed"] for g in done.json()["results"])
    assert api.http.get("/models/gated@production").json()["version"] == 1
    problem(
        api.http.post("/models/gated/promote", json={"version": 1, "alias": "staging"}),
        422,
        "InvalidInput",
        "alias",
    )

    api.http.put("/models/gated/aliases/production", json={"version": 2, "reason": "hotfix"})
    problem(api.http.post("/models/gated/rollback", json={"reason": " "}), 422, "InvalidInput", "reason")
    problem(api.http.post("/models/gated/rollback", json={}), 422, "InvalidInput", "reason")
    back = api.http.post("/models/gated/rollback", json={"alias": "production", "reason": "worse"})
    assert back.status_code == 200, back.text
    assert (back.json()["kind"], back.json()["version"], back.json()["previous_version"]) == (
        "rollback",
        1,
        2,
    )
    assert api.http.get("/models/gated@production").json()["version"] == 1
    actions = [e.action for e in api.services.audit.log("model", "gated")]
    assert {"model.promote.refused", "model.approve", "model.promote", "model.rollback"} <= set(actions)


def test_without_a_policy_promotion_names_the_policy(api: Api) -> None:
    register(api, "nopolicy", api.good)
    problem(api.http.post("/models/nopolicy/promote", json={"version": 1}), 422, "InvalidInput", "policy")
    problem(api.http.post("/models/nobody/promote", json={"version": 1}), 404, "NotFound", "name")


def test_an_alias_bomb_policy_is_refused_without_expanding_it(api: Api) -> None:
    register(api, "bombed", api.good)
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)
    ]
    text = "\n".join([*levels, "name: bomb", "gates:", "  - metric: 'roc_auc >= 0.5'", "intended_use: *i"])
    r = api.http.put("/models/bombed/policy", content=text, headers={"content-type": "application/yaml"})
    body = problem(r, 422, "InvalidInput", "body")
    assert "aliases" in body["detail"]
    assert api.services.promotion.policy_for("bombed") is None
