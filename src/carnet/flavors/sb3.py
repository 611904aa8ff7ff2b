"""The ``sb3`` flavor: a Stable-Baselines3 policy stored without pickle.

The envelope (see :mod:`carnet.flavors.base`) holds ``policy.pt``, the policy network's
``state_dict`` written by ``torch.save`` and read back with ``weights_only=True``, and JSON
metadata: the algorithm, the policy class's alias (``MlpPolicy``...), the network's keyword
arguments (activation functions by name, from ``torch.nn`` only) and the observation and action
spaces (:func:`carnet.spaces.space_to_dict`), which are the policy's signature. Loading
rebuilds the policy class named by the algorithm's own alias table; nothing in the file names
code to run.

The loaded object is a :class:`Policy`: ``predict(observations)`` returns the deterministic
actions of a batch of observations, after checking them against the observation space.
"""

from __future__ import annotations

import inspect
import io
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from carnet.errors import InvalidInput
from carnet.flavors.base import pack_envelope, unpack_envelope

__all__ = ["Policy", "SB3Flavor", "observation_columns"]

FORMAT = "carnet.sb3"
_WEIGHTS = "policy.pt"
_ACTIVATIONS = ("ReLU", "Tanh", "ELU", "LeakyReLU", "GELU", "SiLU", "Sigmoid")


def _kwargs_to_json(kwargs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key == "activation_fn":
            name = getattr(value, "__name__", str(value))
            if name not in _ACTIVATIONS:
                raise InvalidInput(
                    f"activation {name!r} cannot be stored; use one of {_ACTIVATIONS}", field="model"
                )
            out[key] = name
        elif key == "net_arch" or isinstance(value, bool | int | float | str) or value is None:
            out[key] = value
        else:
            raise InvalidInput(
                f"policy_kwargs[{key!r}] ({type(value).__name__}) cannot be stored as JSON", field="model"
            )
    return out


def _kwargs_from_json(data: dict[str, Any]) -> dict[str, Any]:
    import torch

    out = dict(data)
    if "activation_fn" in out:
        name = str(out["activation_fn"])
        if name not in _ACTIVATIONS:
            raise InvalidInput(f"unknown activation {name!r} in the policy file", field="model")
        out["activation_fn"] = getattr(torch.nn, name)
    return out


class Policy:
    """A trained policy: deterministic actions for observations, checked against its space.

    ``predict`` takes one observation or a batch (an array, nested lists, or a frame whose
    columns are the flattened observation, as :func:`observation_columns` names them) and
    answers one action per observation.
    """

    def __init__(self, policy: Any, algorithm: str, observation_space: Any, action_space: Any) -> None:
        self.policy = policy
        self.algorithm = algorithm
        self.observation_space = observation_space
        self.action_space = action_space

    def check(self, observations: Any) -> tuple[np.ndarray, bool]:
        """``observations`` as a batch of the space's dtype and shape, and whether it was one.

        Raises:
            InvalidInput: a wrong shape, a value that is not a number, or a value outside the
                space (naming the observation, the element and the bound).
        """
        space = self.observation_space
        shape = tuple(int(x) for x in (space.shape or ()))
        dtype = np.dtype(getattr(space, "dtype", None) or np.float32)
        raw = observations.to_numpy() if hasattr(observations, "to_numpy") else observations
        try:
            arr = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidInput(
                "observations must be numbers (a list, an array, or rows of the observation columns)",
                field="observation",
            ) from None
        size = int(np.prod(shape)) if shape else 1
        single = False
        if arr.shape == shape:
            arr, single = arr[None, ...], True
        elif arr.ndim == 2 and arr.shape[1] == size and shape != arr.shape[1:]:
            arr = arr.reshape((len(arr), *shape))  # rows of flattened observation columns
        elif not shape and arr.ndim == 1:
            pass  # a batch of scalar observations (a Discrete observation space)
        if arr.shape[1:] != shape:
            raise InvalidInput(
                f"observations have shape {list(arr.shape[1:])}, the policy takes {list(shape)}",
                field="observation",
            )
        if not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise InvalidInput(
                f"observation {int(bad[0])} element {[int(i) for i in bad[1:]]} is not a finite number",
                field="observation",
            )
        low, high = _limits(space)
        if low is not None and high is not None:
            below, above = arr < low, arr > high
            if below.any() or above.any():
                bad = np.argwhere(below | above)[0]
                index = tuple(int(i) for i in bad[1:])
                bound = "low" if below[tuple(bad)] else "high"
                limit = np.broadcast_to(low if bound == "low" else high, shape)[index]
                raise InvalidInput(
                    f"observation {int(bad[0])} element {list(index)} = {arr[tuple(bad)]:.6g} is outside "
                    f"the space (its {bound} bound is {float(limit):.6g})",
                    field="observation",
                )
        if dtype.kind in "iu" and not np.array_equal(arr, np.round(arr)):
            raise InvalidInput("observations of this space are whole numbers", field="observation")
        return arr.astype(dtype, copy=False), single

    def predict(self, observations: Any, deterministic: bool = True) -> np.ndarray:
        """The action of each observation (the policy's mode unless ``deterministic=False``)."""
        batch, single = self.check(observations)
        actions, _ = self.policy.predict(batch, deterministic=deterministic)
        actions = np.asarray(actions)
        return actions[0] if single else actions


def _limits(space: Any) -> tuple[Any, Any]:
    """Inclusive bounds of a space's values (None, None when unbounded or not numeric)."""
    kind = type(space).__name__
    if kind == "Box":
        return space.low, space.high
    if kind == "Discrete":
        return int(space.start), int(space.start + space.n - 1)
    if kind == "MultiDiscrete":
        return np.zeros_like(space.nvec), np.asarray(space.nvec) - 1
    if kind == "MultiBinary":
        return 0, 1
    return None, None


def observation_columns(space: Mapping[str, Any]) -> list[str]:
    """Names of the flattened observation's columns: ``obs_0``... (``obs`` for a scalar)."""
    kind = space.get("kind")
    if kind == "Discrete":
        return ["obs"]
    if kind == "Box":
        shape = [int(x) for x in space.get("shape") or []]
    elif kind == "MultiDiscrete":
        shape = list(np.shape(space.get("nvec") or []))
    else:
        shape = list(np.shape(space.get("n") or 1)) or [int(space.get("n") or 1)]
    size = int(np.prod(shape)) if shape else 1
    return [f"obs_{i}" for i in range(size)] if shape else ["obs"]


class SB3Flavor:
    """Stable-Baselines3 policies: weights as a state dict, everything else as JSON."""

    name = "sb3"
    file_name = "model.sb3.zip"
    requires_opt_in = False

    def can_save(self, model: Any) -> bool:
        """Whether ``model`` is an SB3 algorithm or a :class:`Policy`."""
        if isinstance(model, Policy):
            return True
        return any(
            c.__module__.startswith("stable_baselines3") for c in type(model).__mro__[:-1]
        ) and hasattr(model, "policy")

    def dumps(self, model: Any) -> bytes:
        """The envelope of a trained SB3 model (or a loaded :class:`Policy`)."""
        import torch

        from carnet.spaces import ALGORITHMS, space_to_dict

        found: str | None
        if isinstance(model, Policy):
            policy, found = model.policy, model.algorithm
        else:
            policy = model.policy
            found = next((k for k, (cls, _) in ALGORITHMS.items() if cls == type(model).__name__), None)
        if found is None:
            raise InvalidInput(f"{type(model).__name__} is not a supported SB3 algorithm", field="model")
        algorithm: str = found
        cls_name = ALGORITHMS[algorithm][0]
        import stable_baselines3 as sb3

        aliases = getattr(sb3, cls_name).policy_aliases
        alias = next((a for a, c in aliases.items() if c is type(policy)), None)
        if alias is None:
            raise InvalidInput(
                f"the policy class {type(policy).__name__} is not one of {cls_name}'s", field="model"
            )
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in policy.state_dict().items()}, buf)
        meta = {
            "format": FORMAT,
            "format_version": 1,
            "algorithm": algorithm,
            "policy": alias,
            "policy_kwargs": _kwargs_to_json(_policy_kwargs(policy)),
            "observation_space": space_to_dict(policy.observation_space),
            "action_space": space_to_dict(policy.action_space),
        }
        return pack_envelope(meta, {_WEIGHTS: buf.getvalue()})

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Policy:
        """The :class:`Policy` of an envelope; the weights are read with ``weights_only=True``."""
        import stable_baselines3 as sb3
        import torch

        from carnet.spaces import ALGORITHMS, space_from_dict

        found = unpack_envelope(data, FORMAT, [_WEIGHTS])
        meta = found["meta"]
        algorithm = str(meta.get("algorithm"))
        if algorithm not in ALGORITHMS:
            raise InvalidInput(f"unknown algorithm {algorithm!r} in the policy file", field="model")
        aliases = getattr(sb3, ALGORITHMS[algorithm][0]).policy_aliases
        policy_class = aliases.get(str(meta.get("policy")))
        if policy_class is None:
            raise InvalidInput(f"unknown policy {meta.get('policy')!r} for {algorithm}", field="model")
        obs_space = space_from_dict(meta["observation_space"])
        act_space = space_from_dict(meta["action_space"])
        accepted = inspect.signature(policy_class.__init__).parameters
        kwargs = {
            k: v for k, v in _kwargs_from_json(meta.get("policy_kwargs") or {}).items() if k in accepted
        }
        policy = policy_class(obs_space, act_space, lambda _progress: 0.0, **kwargs)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's notes on the file's pickle protocol
                state = torch.load(io.BytesIO(found[_WEIGHTS]), weights_only=True, map_location="cpu")
            policy.load_state_dict(state)
        except Exception as exc:  # noqa: BLE001 - any refusal of the weights is the file's fault
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidInput(
                f"the policy weights are not a plain state dict of this network (refused: {first[:200]})",
                field="model",
            ) from None
        policy.set_training_mode(False)
        return Policy(policy, algorithm, obs_space, act_space)


def _policy_kwargs(policy: Any) -> dict[str, Any]:
    """The constructor arguments that shape the network (what rebuilding it needs)."""
    accepted = inspect.signature(type(policy).__init__).parameters
    keys = ("net_arch", "activation_fn", "ortho_init", "normalize_images", "share_features_extractor")
    return {key: getattr(policy, key) for key in keys if key in accepted and hasattr(policy, key)}
