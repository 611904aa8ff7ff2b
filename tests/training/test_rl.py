"""Reinforcement learning engine: PPO solves CartPole within a CI budget, the tracking callback
reports as the agent learns, evaluation over seeds with bootstrap intervals, a custom environment
from a package, and policies stored without pickle that refuse out-of-bounds observations."""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np
import pytest

from carnet.errors import InvalidInput
from carnet.flavors.base import pack_envelope, unpack_envelope
from carnet.flavors.sb3 import Policy, SB3Flavor
from carnet.spaces import space_from_dict, space_to_dict
from carnet.training.rl import evaluate, make_env, train

INVENTORY = "carnet_example_task.inventory:InventoryEnv"


@pytest.fixture(scope="module")
def cartpole() -> dict[str, Any]:
    history: list[tuple[int, dict[str, float]]] = []
    model = train(
        "CartPole-v1", "ppo", total_timesteps=20_000, seed=0, log=lambda m, s: history.append((s, dict(m)))
    )
    return {"model": model, "history": history}


def test_ppo_solves_cartpole_and_the_evaluation_spans_seeds(cartpole: dict[str, Any]) -> None:
    result = evaluate(cartpole["model"], lambda: make_env("CartPole-v1"), episodes=5, seeds=(0, 1, 2))
    assert sorted(result.returns) == [0, 1, 2] and all(len(r) == 5 for r in result.returns.values())
    assert result.mean >= 475 and result.iqm >= 475
    assert result.mean_interval[0] <= result.mean <= result.mean_interval[1]
    assert set(result.metrics()) == {"mean_return", "iqm_return", "mean_episode_length"}


def test_the_callback_reports_episodes_losses_and_speed(cartpole: dict[str, Any]) -> None:
    history = cartpole["history"]
    episodes = [m["episode_return"] for _, m in history if "episode_return" in m]
    assert len(episodes) > 50 and max(episodes) > np.mean(episodes[:10])  # it learned
    keys = set().union(*(m for _, m in history))
    assert {"episode_length", "value_loss", "entropy_loss", "learning_rate", "fps"} <= keys
    steps = [s for s, _ in history]
    assert steps == sorted(steps) and steps[-1] >= 20_000


def test_a_custom_environment_from_a_package_with_kwargs() -> None:
    env = make_env(INVENTORY, {"mean_demand": 6, "weeks": 10})
    assert env.action_space.n == 21
    logged: list[str] = []
    model = train(
        INVENTORY, "dqn", total_timesteps=600, env_kwargs={"weeks": 10}, log=lambda m, s: logged.extend(m)
    )
    result = evaluate(model, lambda: make_env(INVENTORY, {"weeks": 10}), episodes=2, seeds=(0, 1))
    assert len(result.returns[0]) == 2 and "episode_return" in logged
    with pytest.raises(InvalidInput, match="allowed"):
        make_env(INVENTORY, allow=["my_company.envs"])
    registered = make_env("carnet_example_task.inventory:Inventory-v0", {"weeks": 3})  # Gymnasium's form
    assert registered.spec.id == "Inventory-v0" and registered.unwrapped.weeks == 3
    with pytest.raises(InvalidInput, match="allowed"):
        make_env("carnet_example_task.inventory:Inventory-v0", allow=["my_company"])
    with pytest.raises(InvalidInput, match="failed to build: ValueError"):
        make_env(INVENTORY, {"weeks": -1})
    with pytest.raises(InvalidInput, match="env_kwargs"):
        make_env(INVENTORY, {"no_such_option": 1})
    with pytest.raises(InvalidInput, match="unknown environment"):
        make_env("NoSuchEnv-v0")
    with pytest.raises(InvalidInput, match="does not support"):
        train("CartPole-v1", "sac", total_timesteps=10)


@pytest.mark.parametrize(
    ("algorithm", "env"), [("ppo", "CartPole-v1"), ("dqn", "CartPole-v1"), ("sac", "Pendulum-v1")]
)
def test_a_policy_round_trips_without_pickle_and_checks_its_observations(algorithm: str, env: str) -> None:
    model = train(env, algorithm, total_timesteps=300, seed=1)
    flavor = SB3Flavor()
    data = flavor.dumps(model)
    policy = flavor.loads(data)
    assert isinstance(policy, Policy) and flavor.can_save(model) and flavor.can_save(policy)
    assert flavor.dumps(policy) == data  # the same bytes: content-addressed storage dedupes it
    e = make_env(env)
    observations = np.stack([e.reset(seed=s)[0] for s in range(4)])
    expected, _ = model.predict(observations, deterministic=True)
    np.testing.assert_array_equal(policy.predict(observations), expected)
    meta = unpack_envelope(data, "carnet.sb3", ["policy.pt"])["meta"]
    assert meta["observation_space"] == space_to_dict(e.observation_space)
    assert space_to_dict(space_from_dict(meta["action_space"])) == meta["action_space"]
    high = np.asarray(e.observation_space.high, dtype=np.float64)
    if np.isfinite(high).any():
        bad = observations.copy()
        column = int(np.flatnonzero(np.isfinite(high))[0])
        bad[0, column] = high[column] + 1
        with pytest.raises(InvalidInput, match="high bound"):
            policy.predict(bad)
    with pytest.raises(InvalidInput, match="shape"):
        policy.predict(np.zeros((2, 99)))


def test_a_policy_file_naming_anything_else_is_refused() -> None:
    model = train("CartPole-v1", "ppo", total_timesteps=200)
    found = unpack_envelope(SB3Flavor().dumps(model), "carnet.sb3", ["policy.pt"])
    meta = dict(found["meta"])
    for key, value in (("algorithm", "os.system"), ("policy", "builtins.eval")):
        forged = pack_envelope({**meta, key: value}, {"policy.pt": found["policy.pt"]})
        with pytest.raises(InvalidInput):
            SB3Flavor().loads(forged)
    forged = pack_envelope(
        {**meta, "policy_kwargs": {"activation_fn": "os.system"}}, {"policy.pt": found["policy.pt"]}
    )
    with pytest.raises(InvalidInput, match="activation"):
        SB3Flavor().loads(forged)
    buf = io.BytesIO()
    pickle.dump({"x": _Evil()}, buf)  # a pickle that would run code: weights_only refuses it
    with pytest.raises(InvalidInput, match="not a plain state dict"):
        SB3Flavor().loads(pack_envelope(meta, {"policy.pt": buf.getvalue()}))


class _Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("this must never run",))
