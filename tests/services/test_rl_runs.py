"""A reinforcement-learning policy through the whole loop with the same calls as any model: a
tracked training run from a spec, reproduction, registration with its spaces, gates that play the
policy (threshold, paired non-regression, environment stress), a tampered file refused, a search.
Serving is in tests/server/test_rl_serving.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carnet import Client
from carnet.errors import ArtifactCorrupted, GateFailed, InvalidInput

SPEC = {
    "task": "rl",
    "task_options": {
        "env": "CartPole-v1",
        "total_timesteps": 20_000,
        "eval_episodes": 4,
        "eval_seeds": [0, 1, 2],
        "eval_every": 5_000,
    },
    "model": {"name": "ppo"},
    "seed": 0,
    "project": "agents",
    "name": "cartpole",
}
WEAK = {
    **SPEC,
    "task_options": {**SPEC["task_options"], "total_timesteps": 512, "eval_every": 1024},
    "name": "weak",
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Client:
    return Client(str(tmp_path_factory.mktemp("rl")))


def _artifact(ws: Client, run_id: str, path: str) -> bytes:
    (found,) = [a for a in ws.list_artifacts(run_id) if a.path == path]
    return bytes(ws.services.ctx.artifacts.get_bytes(found.digest))


@pytest.fixture(scope="module")
def trained(ws: Client) -> Any:
    return ws.train(SPEC)


def test_an_agent_is_one_tracked_run_with_its_environment_and_evaluation(ws: Client, trained: Any) -> None:
    assert trained.metrics["mean_return"] >= 475 and trained.metrics["iqm_return"] >= 475
    low, high = trained.intervals["mean_return"]
    assert low <= trained.metrics["mean_return"] <= high
    run = ws.get_run(trained.run_id)
    assert run.tags["task"] == "rl" and run.tags["model"] == "ppo"
    assert run.params["env.id"] == "CartPole-v1" and run.params["env.version"] == "1"
    assert json.loads(run.params["env.action_space"]) == {"kind": "Discrete", "n": 2, "start": 0}
    assert json.loads(run.params["env.observation_space"])["shape"] == [4]
    assert run.params["task_options.total_timesteps"] == "20000"
    for name in ("episode_return", "episode_length", "value_loss", "entropy_loss", "learning_rate", "fps"):
        assert name in run.metrics, name
    history = ws.get_metric_history(trained.run_id, "episode_return")
    steps = [m.step for m in history]
    assert len(history) > 50 and steps == sorted(steps) and steps[-1] <= 20_480
    assert len(ws.get_metric_history(trained.run_id, "eval_return")) == 4  # every 5,000 steps
    paths = {a.path for a in ws.list_artifacts(trained.run_id)}
    assert {"plots/learning_curve.png", "plots/return_distribution.png", "reports/evaluation.html"} <= paths
    assert {"model/meta.json", "logs/training.txt", "spec.yaml"} <= paths
    report = json.loads(_artifact(ws, trained.run_id, "reports/evaluation.json"))
    assert report["family"] == "rl" and sorted(report["details"]["returns"]) == ["0", "1", "2"]
    assert all(len(v) == 4 for v in report["details"]["returns"].values())
    log = _artifact(ws, trained.run_id, "logs/training.txt").decode()
    assert "environment CartPole-v1" in log and "evaluation return" in log


def test_a_bad_agent_spec_is_named_and_leaves_no_run(ws: Client) -> None:
    before = len(ws.search_runs(project="agents"))
    bad = [
        ({"task_options": {**SPEC["task_options"], "env": "NoSuchEnv-v9"}}, "task_options.env"),
        ({"task_options": {**SPEC["task_options"], "total_timesteps": 0}}, "task_options.total_timesteps"),
        ({"task_options": {**SPEC["task_options"], "eval_sedes": [1]}}, "task_options"),
        ({"model": {"name": "sac"}}, "model.name"),
        ({"model": {"name": "ppo", "params": {"no_such": 1}}}, "model.params"),
        ({"dataset": "churn@1"}, "dataset"),
    ]
    for change, field in bad:
        with pytest.raises(InvalidInput) as err:
            ws.train({**SPEC, **change})
        assert str(err.value.field).startswith(field), (change, err.value.field)
    assert len(ws.search_runs(project="agents")) == before


@pytest.fixture(scope="module")
def weak(ws: Client) -> Any:
    return ws.train(WEAK)


def test_an_agent_run_reproduces(ws: Client, weak: Any) -> None:
    result = ws.reproduce(weak.run_id)
    assert result["differing"] == [] and "mean_return" in result["metrics"]
    assert {"episode_return", "eval_return", "value_loss", "timesteps"} <= set(result["metrics"])
    assert "fps" not in result["metrics"] and "fit_seconds" not in result["metrics"]
    assert ws.get_run(result["new_run_id"]).tags["reproduced"] == "identical"


def test_a_policy_registers_with_its_spaces_and_gates_play_it(ws: Client, trained: Any, weak: Any) -> None:
    strong = ws.register_model(trained.run_id, "cartpole")
    assert strong.flavor == "sb3" and strong.task == "rl"
    assert strong.signature.input_names() == ["obs_0", "obs_1", "obs_2", "obs_3"]
    assert strong.signature.spaces["action"] == {"kind": "Discrete", "n": 2, "start": 0}
    assert strong.signature.spaces["observation"]["high"][1] == "inf"
    policy = {
        "name": "agents",
        "aliases": ["production"],
        "seed": 1,
        "gates": [
            {"metric": "mean_return >= 475"},
            {"type": "non_regression", "metric": "mean_return", "margin": 5},
            {
                "type": "stress",
                "scenarios": [{"type": "action_delay", "steps": 1, "max_degradation": 0.5, "relative": True}],
            },
        ],
    }
    ws.set_policy(policy, model="cartpole")
    promoted = ws.promote("cartpole", strong.version, "production")
    assert all(r.passed for r in promoted.results), [r.to_dict() for r in promoted.results]
    threshold = promoted.results[0].details
    assert threshold["ci"][0] <= threshold["value"] <= threshold["ci"][1]
    candidate = ws.register_model(weak.run_id, "cartpole")
    with pytest.raises(GateFailed) as refused:
        ws.promote("cartpole", candidate.version, "production")
    results = {r.type: r for r in refused.value.promotion.results}
    assert not results["metric"].passed and not results["non_regression"].passed
    assert results["non_regression"].details["paired"] and results["non_regression"].details["ci"][1] < 0
    assert ws.get_model_version("cartpole@production").version == strong.version


def test_a_policy_that_fails_under_observation_noise_is_refused(ws: Client, trained: Any) -> None:
    version = ws.register_model(trained.run_id, "noisy")
    ws.set_policy(
        {
            "name": "robust",
            "aliases": ["production"],
            "gates": [
                {
                    "type": "stress",
                    "scenarios": [
                        {"type": "observation_noise", "scale": 2.0, "max_degradation": 0.1, "relative": True},
                        {
                            "type": "dynamics",
                            "attributes": {"length": 0.55},
                            "max_degradation": 0.5,
                            "relative": True,
                        },
                    ],
                }
            ],
        },
        model="noisy",
    )
    with pytest.raises(GateFailed) as refused:
        ws.promote("noisy", version.version, "production")
    (stress,) = refused.value.promotion.results
    noise, dynamics = stress.details["scenarios"]
    assert not noise["passed"] and noise["degradation"] > 0.1 and noise["value"] < stress.details["base"]
    assert dynamics["error"] is None and dynamics["value"] is not None
    alone = ws.stress(
        "noisy/1", "", scenarios=[{"type": "action_dropout", "probability": 0.2, "max_degradation": 500}]
    )
    assert alone["passed"] and alone["scenarios"][0]["type"] == "action_dropout"
    with pytest.raises(InvalidInput, match="scenarios"):
        ws.stress("noisy/1", "", scenarios=[{"type": "observation_noise", "scale": -1, "max_degradation": 1}])


def test_a_tampered_policy_file_is_refused(ws: Client, trained: Any, tmp_path: Path) -> None:
    version = ws.register_model(trained.run_id, "tampered")
    root = Path(ws.services.ctx.settings.artifact_root.removeprefix("file://"))
    hexdigest = version.artifact_digest.split(":", 1)[1]
    (found,) = [p for p in root.rglob(f"*{hexdigest}*") if p.is_file()]
    original = found.read_bytes()
    found.chmod(0o644)
    found.write_bytes(original[:-8] + bytes(8))
    try:
        with pytest.raises(ArtifactCorrupted):
            ws.load_model("tampered/1")
    finally:
        found.write_bytes(original)


def test_an_rl_search_runs_trials_as_child_runs(ws: Client) -> None:
    spec = {
        **WEAK,
        "name": "search",
        "search": {
            "space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}},
            "n_trials": 2,
        },
    }
    result = ws.train(spec)
    assert result["kind"] == "search" and result["trials"] == 2 and len(result["leaderboard"]) == 2
    children = ws.child_runs(result["parent_run_id"])
    assert len(children) == 2 and result["run_id"] in children


def test_a_server_replays_a_policy_only_in_an_allowed_environment(tmp_path: Path) -> None:
    """Gates rebuild the policy's environment from its stored spec: through a server, a path
    outside the server's allowed_model_modules is refused there as at training, never imported."""
    from carnet.bootstrap import open_services
    from carnet.server.api import create_api_app, serve_api_in_thread

    local = Client(str(tmp_path / "ws"))
    spec = {
        "task": "rl",
        "task_options": {"env": "carnet_example_task.inventory:InventoryEnv", "env_kwargs": {"weeks": 10},
                         "total_timesteps": 300, "eval_episodes": 1, "eval_seeds": [0]},
        "model": {"name": "dqn"},
        "seed": 0,
    }  # fmt: skip
    version = local.register_model(local.train(spec).run_id, "stock")
    gates = [{"metric": "mean_return >= -1000000"}]
    local.set_policy({"name": "any", "aliases": ["staging", "production"], "gates": gates}, model="stock")
    assert local.promote("stock", version.version, "staging").passed  # embedded: no allow-list
    local.close()
    services = open_services(str(tmp_path / "ws"))
    server = serve_api_in_thread(create_api_app(services, require_auth=False))
    try:
        remote = Client(server.url)
        with pytest.raises(GateFailed) as refused:
            remote.promote("stock", version.version, "production")
        (result,) = refused.value.promotion.results
        assert "not from an allowed module" in str(result.error)
        remote.close()
    finally:
        server.stop()
        services.close()
