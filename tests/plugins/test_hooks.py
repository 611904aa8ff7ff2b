"""Lifecycle hooks on a real workspace: refusals stop changes, observers never break them, every
call is on the ledger, gates can be contributed, prediction batches can be wrapped."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from carnet import Client
from carnet.errors import HookRefused, InvalidInput
from carnet.services.hooks import HookRunner, reset_hooks

PLUGIN = """
from carnet.domain import GateResult
from carnet.errors import HookRefused
from carnet.plugins.hooks import hookimpl

CALLS = []


class Governance:
    @hookimpl
    def before_dataset_add(self, name):
        if name == "secret":
            raise HookRefused("datasets named secret need a data-protection review")

    @hookimpl
    def before_train(self, spec):
        CALLS.append(("before_train", spec.model.name))
        if spec.model.name == "knn":
            raise HookRefused("knn models are not allowed in this workspace")
        if spec.model.name == "svc":
            raise RuntimeError("the policy service is down")

    @hookimpl
    def after_train(self, run_id, metrics):
        CALLS.append(("after_train", run_id, round(metrics["accuracy"], 3)))

    @hookimpl
    def after_register(self, version):
        CALLS.append(("after_register", version.ref))
        raise RuntimeError("the catalogue is unreachable")

    @hookimpl
    def before_promote(self, version, alias):
        if alias == "frozen":
            raise HookRefused("the frozen alias moves only in the change window")

    @hookimpl
    def promotion_gates(self, version, alias):
        return [GateResult("change ticket", "hook", version.version == 1, measured="CHG-42")]

    @hookimpl
    def after_alias_move(self, name, alias, version, previous):
        CALLS.append(("after_alias_move", name, alias, version, previous))

    @hookimpl
    def after_audit_append(self, event):
        CALLS.append(("audit", event.action))

    @hookimpl(wrapper=True)
    def predict_batch(self, model, inputs):
        result = yield
        CALLS.append(("batch", model, len(inputs)))
        return [value * 10 for value in result]


plugin = Governance()
"""


@pytest.fixture
def hooked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, Any]]:
    (tmp_path / "carnet_test_governance.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CARNET_HOOKS", "carnet_test_governance:plugin")
    reset_hooks()
    client = Client(str(tmp_path / "ws"))
    module = importlib.import_module("carnet_test_governance")
    try:
        yield client, module
    finally:
        client.close()
        reset_hooks()
        sys.modules.pop("carnet_test_governance", None)


def _data(client: Client, tmp_path: Path) -> str:
    path = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return client.add_dataset(path, "cancer")[0].ref


def _spec(ref: str, model: str) -> dict[str, Any]:
    return {"dataset": ref, "task": "binary", "target": "target", "model": model, "seed": 1}


def _hook_events(client: Client) -> list[dict[str, Any]]:
    return [e.payload for e in client.audit_log(limit=None) if e.action == "hook.call"]


def test_a_before_hook_refuses_with_its_reason_and_nothing_is_stored(
    hooked: tuple[Client, Any], tmp_path: Path
) -> None:
    client, _ = hooked
    ref = _data(client, tmp_path)
    with pytest.raises(
        HookRefused, match="refused by hook before_train of carnet_test_governance:plugin: knn"
    ) as info:
        client.train(_spec(ref, "knn"))
    assert info.value.hook == "before_train" and info.value.plugin == "carnet_test_governance:plugin"
    assert client.search_runs().runs == []  # no run
    refused = [e for e in _hook_events(client) if e["outcome"] == "refused"]
    assert refused == [
        {
            "hook": "before_train",
            "plugin": "carnet_test_governance:plugin",
            "package": "carnet_test_governance:plugin",
            "version": "unknown",
            "outcome": "refused",
            "detail": "knn models are not allowed in this workspace",
        }
    ]
    with pytest.raises(HookRefused, match="data-protection review"):
        client.add_dataset(tmp_path / "cancer.csv", "secret")
    assert [d.name for d in client.list_datasets()] == ["cancer"]


def test_a_before_hook_that_fails_refuses_the_change(hooked: tuple[Client, Any], tmp_path: Path) -> None:
    client, _ = hooked
    ref = _data(client, tmp_path)
    with pytest.raises(
        HookRefused, match="failed, so the change was refused: RuntimeError: the policy service is down"
    ):
        client.train(_spec(ref, "svc"))
    assert [e["outcome"] for e in _hook_events(client) if e["hook"] == "before_train"] == ["failed"]


def test_observers_see_every_step_and_their_errors_never_reach_the_user(
    hooked: tuple[Client, Any], tmp_path: Path
) -> None:
    client, module = hooked
    ref = _data(client, tmp_path)
    outcome = client.train(_spec(ref, "logistic_regression"))
    mv = client.register_model(outcome.run_id, "cancer")  # after_register raises: registration stands
    assert mv.version == 1 and client.get_model_version("cancer/1").run_id == outcome.run_id
    client.set_model_alias("cancer", "staging", 1)
    calls = [c for c in module.CALLS if c[0] != "audit"]
    assert calls == [
        ("before_train", "logistic_regression"),
        ("after_train", outcome.run_id, round(outcome.metrics["accuracy"], 3)),
        ("after_register", "cancer/1"),
        ("after_alias_move", "cancer", "staging", 1, None),
    ]
    failed = [e for e in _hook_events(client) if e["outcome"] == "failed"]
    assert [(e["hook"], e["detail"]) for e in failed] == [
        ("after_register", "RuntimeError: the catalogue is unreachable")
    ]
    # after_audit_append saw each committed event once (hook.call events included), in order
    seen = [c[1] for c in module.CALLS if c[0] == "audit"]
    assert seen == [e.action for e in sorted(client.audit_log(limit=None), key=lambda e: e.seq)]


def test_hooks_contribute_gates_and_veto_promotions(hooked: tuple[Client, Any], tmp_path: Path) -> None:
    client, _ = hooked
    ref = _data(client, tmp_path)
    for _ in range(2):
        client.register_model(client.train(_spec(ref, "logistic_regression")).run_id, "cancer")
    policy = {"name": "p", "evaluation_data": ref, "gates": [{"metric": "roc_auc >= 0.5"}]}
    ok = client.promote("cancer", 1, "production", policy=policy)
    assert [(r.gate, r.passed, r.measured) for r in ok.results][-1] == ("change ticket", True, "CHG-42")
    dry = client.promote("cancer", 2, "production", policy=policy, dry_run=True)
    assert not dry.passed and dry.results[-1].gate == "change ticket"
    with pytest.raises(HookRefused, match="change window"):
        client.promote("cancer", 1, "frozen", policy={**policy, "aliases": ["frozen"]})


def test_a_prediction_batch_wrapper_wraps_the_model_call(hooked: tuple[Client, Any]) -> None:
    _, module = hooked
    runner = HookRunner(("carnet_test_governance:plugin",))
    assert runner.predict("cancer/1", [1, 2, 3], lambda rows: [r + 1 for r in rows]) == [20, 30, 40]
    assert module.CALLS[-1] == ("batch", "cancer/1", 3)
    assert [p["name"] for p in runner.describe()] == ["carnet_test_governance:plugin"]
    assert "predict_batch" in runner.describe()[0]["hooks"]


def test_a_hook_path_that_does_not_load_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_HOOKS", "no_such_module_anywhere:plugin")
    reset_hooks()
    client = Client(str(tmp_path / "ws"))
    try:
        with pytest.raises(InvalidInput, match="cannot import 'no_such_module_anywhere'") as info:
            client.create_project("p")
        assert info.value.field == "hooks"
    finally:
        client.close()
        reset_hooks()


def test_a_refusal_over_http_is_a_409_problem_the_sdk_raises_again(
    hooked: tuple[Client, Any], tmp_path: Path
) -> None:
    from carnet.bootstrap import open_services
    from carnet.server.api import create_api_app, serve_api_in_thread

    client, _ = hooked
    ref = _data(client, tmp_path)
    services = open_services(str(tmp_path / "ws"))
    server = serve_api_in_thread(create_api_app(services, require_auth=False))
    try:
        remote = Client(server.url)
        try:
            with pytest.raises(HookRefused, match="knn models are not allowed"):
                remote.train(_spec(ref, "knn"))
        finally:
            remote.close()
        raw = httpx.post(f"{server.url}/api/v1/train", json={"spec": _spec(ref, "knn")})
        lines = [line for line in raw.text.splitlines() if '"error"' in line]
        assert lines and '"status":409' in lines[-1].replace(" ", "") and "HookRefused" in lines[-1]
    finally:
        server.stop()
        services.close()
    assert pd.DataFrame(_hook_events(client))["outcome"].tolist().count("refused") == 2


def test_plugins_list_shows_every_kind_with_package_and_version(
    hooked: tuple[Client, Any], tmp_path: Path
) -> None:
    import json

    from click.testing import CliRunner

    from carnet.cli.main import cli

    result = CliRunner().invoke(cli, ["--uri", str(tmp_path / "ws"), "plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    kinds = {r["kind"] for r in rows}
    assert kinds == {"task", "flavor", "gate", "notifier", "witness", "encoder", "hook"}
    example = next(r for r in rows if r["name"] == "quantile_regression")
    assert (example["package"], example["version"]) == ("carnet-example-task", "0.1.0")
    assert next(r for r in rows if r["name"] == "lightgbm" and r["kind"] == "flavor")["package"] == "carnet"
    hook = next(r for r in rows if r["kind"] == "hook")
    assert hook["name"] == "carnet_test_governance:plugin" and "before_train" in hook["hooks"]
    table = CliRunner().invoke(cli, ["--uri", str(tmp_path / "ws"), "plugins", "list", "--kind", "gate"])
    assert table.exit_code == 0 and "non_regression" in table.output and "task" not in table.output
