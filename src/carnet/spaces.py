"""Gymnasium spaces as JSON, and the Stable-Baselines3 algorithms carnet knows: shared by the RL
engine (:mod:`carnet.training.rl`) and the ``sb3`` flavor (:mod:`carnet.flavors.sb3`).

A space's JSON is a policy's signature: the observation space it takes and the action space it
answers in, with shape, dtype, bounds (infinite ones as ``"inf"``/``"-inf"``) or ``n``.
Gymnasium is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["ALGORITHMS", "RL_TASK_NAMES", "space_from_dict", "space_to_dict"]

#: the names a training spec may give the reinforcement-learning task (``rl`` is the plugin's)
RL_TASK_NAMES = frozenset({"rl", "reinforcement_learning"})

#: short names of the Stable-Baselines3 algorithms and the action spaces each accepts
ALGORITHMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ppo": ("PPO", ("Box", "Discrete", "MultiDiscrete", "MultiBinary")),
    "a2c": ("A2C", ("Box", "Discrete", "MultiDiscrete", "MultiBinary")),
    "dqn": ("DQN", ("Discrete",)),
    "sac": ("SAC", ("Box",)),
    "td3": ("TD3", ("Box",)),
}


def _gymnasium() -> Any:
    try:
        import gymnasium
    except ImportError:
        raise InvalidInput(
            "reinforcement learning needs the rl extra (gymnasium is missing): pip install 'carnet[rl]'",
            field="task",
        ) from None
    return gymnasium


def space_to_dict(space: Any) -> dict[str, Any]:
    """A Gymnasium space as JSON: kind, shape, dtype, bounds or ``n`` (the policy's signature)."""
    import numpy as np

    kind = type(space).__name__
    if kind == "Discrete":
        return {"kind": kind, "n": int(space.n), "start": int(space.start)}
    if kind == "Box":
        return {
            "kind": kind,
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": _bounds(space.low),
            "high": _bounds(space.high),
        }
    if kind == "MultiDiscrete":
        return {"kind": kind, "nvec": np.asarray(space.nvec).tolist()}
    if kind == "MultiBinary":
        return {"kind": kind, "n": np.asarray(space.n).tolist()}
    raise InvalidInput(
        f"the {kind} space is not supported; use Box, Discrete, MultiDiscrete or MultiBinary", field="space"
    )


def _bounds(values: Any) -> Any:
    """Bounds as JSON: infinite ones as the strings ``"inf"`` / ``"-inf"`` (JSON has no infinity)."""
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    out = arr.astype(object)
    out[np.isposinf(arr)] = "inf"
    out[np.isneginf(arr)] = "-inf"
    return out.tolist()


def space_from_dict(data: Mapping[str, Any]) -> Any:
    """The space :func:`space_to_dict` described (InvalidInput on anything else)."""
    import numpy as np

    spaces = _gymnasium().spaces
    try:
        kind = data["kind"]
        if kind == "Discrete":
            return spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
        if kind == "Box":
            dtype = np.dtype(str(data["dtype"]))
            low = np.asarray(data["low"], dtype=np.float64).astype(dtype)
            high = np.asarray(data["high"], dtype=np.float64).astype(dtype)
            return spaces.Box(low=low, high=high, shape=tuple(int(x) for x in data["shape"]), dtype=dtype)
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(np.asarray(data["nvec"], dtype=np.int64))
        if kind == "MultiBinary":
            return spaces.MultiBinary(data["n"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"malformed space description: {exc}", field="space") from None
    raise InvalidInput(f"unknown space kind {data.get('kind')!r}", field="space")
