"""Stress scenarios for environments: what an agent meets outside its training conditions.

Each scenario turns an environment factory into a perturbed one, seeded:

- ``observation_noise``: Gaussian noise of standard deviation ``scale`` added to every
  observation element (clipped to the observation space);
- ``action_delay``: each action reaches the environment ``steps`` steps late (the first steps
  repeat the first action);
- ``action_dropout``: with ``probability`` an action is lost and the previous one repeats;
- ``env_kwargs``: the environment built with other keyword arguments (``kwargs``);
- ``dynamics``: attributes of the unwrapped environment set after it is built (``attributes``,
  e.g. CartPole's ``length`` or ``masspole``), the physics changed without a new class.

Gymnasium is imported when a scenario is built.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from carnet.errors import InvalidInput

__all__ = ["RL_SCENARIOS", "check_rl_scenario", "stressed_factory"]

#: scenario type -> its settings and their defaults (None: required)
RL_SCENARIOS: dict[str, dict[str, Any]] = {
    "observation_noise": {"scale": 0.05},
    "action_delay": {"steps": 1},
    "action_dropout": {"probability": 0.1},
    "env_kwargs": {"kwargs": None},
    "dynamics": {"attributes": None},
}


def check_rl_scenario(scenario: Mapping[str, Any], where: str) -> None:
    """InvalidInput naming ``scenarios[i].<setting>`` for a bad setting of an RL scenario."""
    kind = scenario.get("type")
    if "scale" in scenario:
        _positive(scenario["scale"], f"{where}.scale")
    if "steps" in scenario:
        steps = scenario["steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 1000:
            raise InvalidInput(f"{where}.steps must be an integer from 1 to 1000", field=f"{where}.steps")
    if "probability" in scenario:
        p = scenario["probability"]
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p < 1:
            raise InvalidInput(f"{where}.probability must be in (0, 1)", field=f"{where}.probability")
    for key in ("kwargs", "attributes"):
        if kind in ("env_kwargs", "dynamics") and RL_SCENARIOS[str(kind)].get(key, 0) is None:
            value = scenario.get(key)
            if not isinstance(value, Mapping) or not value or not all(isinstance(k, str) for k in value):
                raise InvalidInput(
                    f"{where}.{key} is required: a mapping such as {{length: 0.75}}", field=f"{where}.{key}"
                )
    for name in (scenario.get("attributes") or {}) if kind == "dynamics" else ():
        if name.startswith("_") or not name.isidentifier():
            raise InvalidInput(
                f"{where}.attributes.{name} must be a public attribute name", field=f"{where}.attributes"
            )


def _positive(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidInput(f"{where} must be a number > 0, got {value!r}", field=where)


def stressed_factory(
    make: Callable[[Mapping[str, Any]], Any],
    env_kwargs: Mapping[str, Any],
    scenario: Mapping[str, Any],
    seed: int,
) -> Callable[[], Any]:
    """A factory of environments perturbed as ``scenario`` says.

    Args:
        make: builds the environment from keyword arguments.
        env_kwargs: the arguments the policy was trained with.
        scenario: one scenario (``type`` and its settings).
        seed: seeds the noise and the dropouts (each new environment continues the stream).
    """
    import gymnasium

    kind = scenario["type"]
    rng = np.random.default_rng(seed)
    if kind == "env_kwargs":
        merged = {**dict(env_kwargs), **dict(scenario["kwargs"])}
        return lambda: make(merged)
    if kind == "dynamics":
        attributes = dict(scenario["attributes"])

        def perturbed() -> Any:
            env = make(env_kwargs)
            target = env.unwrapped
            for name, value in attributes.items():
                if not hasattr(target, name):
                    raise InvalidInput(
                        f"the environment has no attribute {name!r} to perturb", field="scenarios.attributes"
                    )
                setattr(target, name, value)
            return env

        return perturbed
    if kind == "observation_noise":
        scale = float(scenario.get("scale", RL_SCENARIOS[kind]["scale"]))

        class Noisy(gymnasium.ObservationWrapper):
            def observation(self, observation: Any) -> Any:
                space = self.observation_space
                noisy = np.asarray(observation, dtype=np.float64) + rng.normal(
                    0.0, scale, np.shape(observation)
                )
                low, high = getattr(space, "low", None), getattr(space, "high", None)
                if low is not None and high is not None:
                    noisy = np.clip(noisy, low, high)
                return noisy.astype(getattr(space, "dtype", None) or np.float32)

        return lambda: Noisy(make(env_kwargs))
    if kind == "action_delay":
        steps = int(scenario.get("steps", RL_SCENARIOS[kind]["steps"]))

        class Delayed(gymnasium.Wrapper):
            def reset(self, **kwargs: Any) -> Any:
                self.queue: deque[Any] = deque()
                return self.env.reset(**kwargs)

            def step(self, action: Any) -> Any:
                if not self.queue:
                    self.queue.extend([action] * steps)
                self.queue.append(action)
                return self.env.step(self.queue.popleft())

        return lambda: Delayed(make(env_kwargs))
    if kind == "action_dropout":
        probability = float(scenario.get("probability", RL_SCENARIOS[kind]["probability"]))

        class Dropped(gymnasium.Wrapper):
            def reset(self, **kwargs: Any) -> Any:
                self.last: Any = None
                return self.env.reset(**kwargs)

            def step(self, action: Any) -> Any:
                if self.last is not None and rng.random() < probability:
                    action = self.last
                self.last = action
                return self.env.step(action)

        return lambda: Dropped(make(env_kwargs))
    raise InvalidInput(f"unknown environment scenario {kind!r}; use {', '.join(RL_SCENARIOS)}", field="type")
