"""Reinforcement learning: train a Stable-Baselines3 agent on a Gymnasium environment, tracked, and
evaluate it over several seeds.

This is the engine of the ``rl`` task (extra ``rl``: ``gymnasium``, ``stable-baselines3`` on the
CPU build of PyTorch). It is pure computation: the caller hands in a ``log(metrics, step)``
function and gets back the trained model, the metric history and the evaluation.

- :func:`make_env` builds an environment from a registered Gymnasium id (``CartPole-v1``) or from
  a ``pkg.module:make_env`` path (a function or class returning a ``gymnasium.Env``), with keyword
  arguments; a caller serving others passes ``allow`` to restrict the modules.
- :class:`TrackingCallback` reports, as the agent learns: episode return and length, SB3's losses,
  entropy and learning rate, frames per second, and periodic evaluation returns on fixed seeds.
- :func:`evaluate` plays ``episodes`` deterministic episodes for each evaluation seed and summarises
  the returns as the rliable recommendation has it: the mean and the interquartile mean (IQM), each
  with a stratified bootstrap interval over seeds, not one seed's figure.

Libraries are imported inside the functions, so importing carnet does not import torch.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from carnet.errors import InvalidInput
from carnet.spaces import ALGORITHMS

__all__ = [
    "RLEvaluation",
    "RLOptions",
    "TrackingCallback",
    "act",
    "describe_env",
    "evaluate",
    "make_env",
    "make_model",
    "rl_options",
    "train",
]

LogFn = Callable[[Mapping[str, float], int], None]


_OPTION_KEYS = (
    "env",
    "env_kwargs",
    "total_timesteps",
    "n_envs",
    "eval_episodes",
    "eval_seeds",
    "eval_every",
    "success_threshold",
)


@dataclass(frozen=True)
class RLOptions:
    """The ``task_options`` of an ``rl`` spec, checked (see :func:`rl_options`)."""

    env: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    total_timesteps: int = 100_000
    n_envs: int = 1
    eval_episodes: int = 10
    eval_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    eval_every: int = 0
    success_threshold: float | None = None

    def success(self) -> Callable[[float], bool] | None:
        """An episode's success from its return (None without a threshold)."""
        limit = self.success_threshold
        return None if limit is None else (lambda r: r >= limit)


def rl_options(options: Mapping[str, Any]) -> RLOptions:
    """Strictly parse an ``rl`` spec's ``task_options`` (InvalidInput naming ``task_options.KEY``)."""
    from carnet.training._checks import as_int, as_number, fail, free_mapping, section

    m = section(options, "task_options", _OPTION_KEYS)
    if not isinstance(m.get("env"), str) or not m["env"].strip():
        fail("task_options.env", "an rl spec needs task_options.env: a Gymnasium id such as CartPole-v1 "
             "or pkg.module:make_env")  # fmt: skip
    total = as_int(m.get("total_timesteps", 100_000), "task_options.total_timesteps", minimum=1)
    seeds_raw = m.get("eval_seeds", [0, 1, 2, 3, 4])
    if not isinstance(seeds_raw, list | tuple) or not seeds_raw or len(seeds_raw) > 1000:
        fail("task_options.eval_seeds", "task_options.eval_seeds must be a list of 1 to 1000 integers")
    seeds = tuple(
        as_int(v, f"task_options.eval_seeds[{i}]", minimum=0, maximum=2**31 - 1)
        for i, v in enumerate(seeds_raw)
    )
    if len(set(seeds)) != len(seeds):
        fail("task_options.eval_seeds", "task_options.eval_seeds has a seed twice")
    every = m.get("eval_every")
    threshold = m.get("success_threshold")
    return RLOptions(
        env=m["env"].strip(),
        env_kwargs=free_mapping(m.get("env_kwargs"), "task_options.env_kwargs"),
        total_timesteps=total,
        n_envs=as_int(m.get("n_envs", 1), "task_options.n_envs", minimum=1, maximum=256),
        eval_episodes=as_int(
            m.get("eval_episodes", 10), "task_options.eval_episodes", minimum=1, maximum=10_000
        ),
        eval_seeds=seeds,
        eval_every=(
            max(1, total // 10) if every is None else as_int(every, "task_options.eval_every", minimum=0)
        ),
        success_threshold=None
        if threshold is None
        else as_number(threshold, "task_options.success_threshold"),
    )


def describe_env(env: Any, name: str) -> dict[str, Any]:
    """What a run records of an environment: its id, version, spaces and episode limit."""
    from carnet.spaces import space_to_dict

    spec = getattr(env, "spec", None)
    module = type(getattr(env, "unwrapped", env)).__module__.split(".")[0]
    version = getattr(spec, "version", None)
    if version is None:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as package_version

        try:
            version = package_version(module.replace("_", "-"))
        except (PackageNotFoundError, ValueError):
            version = None
    return {
        "id": name,
        "version": None if version is None else str(version),
        "package": module,
        "max_episode_steps": getattr(spec, "max_episode_steps", None),
        "observation_space": space_to_dict(env.observation_space),
        "action_space": space_to_dict(env.action_space),
    }


def act(model: Any, observation: Any) -> Any:
    """The deterministic action of one observation, from an SB3 model or a loaded policy."""
    out = model.predict(observation, deterministic=True)
    return out[0] if isinstance(out, tuple) else out


def _import_rl() -> tuple[Any, Any]:
    try:
        import gymnasium
        import stable_baselines3
    except ImportError as exc:
        raise InvalidInput(
            f"reinforcement learning needs the rl extra ({exc.name} is missing): pip install 'carnet[rl]'",
            field="task",
        ) from None
    return gymnasium, stable_baselines3


def make_env(
    env: str, env_kwargs: Mapping[str, Any] | None = None, *, allow: Sequence[str] | None = None
) -> Any:
    """A Gymnasium environment from an id or a ``pkg.module:factory`` path.

    Args:
        env: a registered id (``CartPole-v1``) or ``pkg.module:name`` of a function or class that
            returns a ``gymnasium.Env`` when called with ``env_kwargs``.
        allow: module prefixes a path may come from (None: any importable module).

    Raises:
        InvalidInput: unknown id, a path outside ``allow``, a factory that fails or returns
            something that is not an environment (naming ``task_options.env``).
    """
    gymnasium, _ = _import_rl()
    kwargs = dict(env_kwargs or {})
    if not isinstance(env, str) or not env.strip():
        raise InvalidInput(
            "task_options.env must name an environment, e.g. CartPole-v1", field="task_options.env"
        )
    if ":" in env:
        module, _, name = env.partition(":")
        if allow is not None and not any(module == a or module.startswith(f"{a}.") for a in allow):
            raise InvalidInput(
                f"environment {env!r} is not from an allowed module ({', '.join(allow) or 'none'})",
                field="task_options.env",
            )
        try:
            imported = importlib.import_module(module)
            if not name.isidentifier():  # Gymnasium's "module:Env-v0": the module registers the id
                return _checked(gymnasium, env, _registered(gymnasium, env, kwargs))
            factory = getattr(imported, name)
            made = factory(**kwargs)
        except (ImportError, AttributeError) as exc:
            raise InvalidInput(
                f"cannot import environment {env!r}: {exc}", field="task_options.env"
            ) from None
        except TypeError as exc:
            raise InvalidInput(
                f"environment {env!r} refused its env_kwargs: {exc}", field="task_options.env_kwargs"
            ) from None
        except InvalidInput:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's environment code failed: name it
            raise InvalidInput(
                f"environment {env!r} failed to build: {type(exc).__name__}: {exc}", field="task_options.env"
            ) from None
    else:
        made = _registered(gymnasium, env, kwargs)
    return _checked(gymnasium, env, made)


def _registered(gymnasium: Any, env: str, kwargs: Mapping[str, Any]) -> Any:
    """An environment from Gymnasium's registry (``CartPole-v1``, ``module:Env-v0``)."""
    try:
        return gymnasium.make(env, **kwargs)
    except gymnasium.error.Error as exc:
        raise InvalidInput(f"unknown environment {env!r}: {exc}", field="task_options.env") from None
    except TypeError as exc:
        raise InvalidInput(
            f"environment {env!r} refused its env_kwargs: {exc}", field="task_options.env_kwargs"
        ) from None
    except Exception as exc:  # noqa: BLE001 - the environment's own code failed: name it
        raise InvalidInput(
            f"environment {env!r} failed to build: {type(exc).__name__}: {exc}", field="task_options.env"
        ) from None


def _checked(gymnasium: Any, env: str, made: Any) -> Any:
    if not isinstance(made, gymnasium.Env):
        raise InvalidInput(
            f"{env!r} returned a {type(made).__name__}, not a gymnasium.Env", field="task_options.env"
        )
    return made


def make_model(algorithm: str, env: Any, params: Mapping[str, Any] | None, seed: int) -> Any:
    """An untrained SB3 model of ``algorithm`` on ``env`` (on the CPU), seeded."""
    _, sb3 = _import_rl()
    key = str(algorithm).lower()
    if key not in ALGORITHMS:
        raise InvalidInput(
            f"unknown RL algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}", field="model.name"
        )
    cls_name, spaces = ALGORITHMS[key]
    action = type(env.action_space).__name__
    if action not in spaces:
        raise InvalidInput(
            f"{key} does not support a {action} action space; use one of: "
            + ", ".join(k for k, (_, s) in ALGORITHMS.items() if action in s),
            field="model.name",
        )
    options = dict(params or {})
    policy = options.pop("policy", "MlpPolicy")
    try:
        return getattr(sb3, cls_name)(policy, env, seed=seed, device="cpu", verbose=0, **options)
    except TypeError as exc:
        raise InvalidInput(f"bad {key} params: {exc}", field="model.params") from None


class TrackingCallback:
    """Reports what the agent does as it learns, through ``log(metrics, step)``.

    Per finished episode: ``episode_return`` and ``episode_length``; after each update (every
    rollout on-policy, at most every ``every`` steps off-policy) and at the end: SB3's
    ``train/*`` values of that update (losses, entropy, learning rate, ``n_updates``) and
    ``fps``; every ``eval_every`` steps, when an evaluation environment is given, the mean
    ``eval_return`` over ``eval_seeds``. Built lazily on SB3's ``BaseCallback``.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

        class _Callback(BaseCallback):
            def __init__(
                self,
                log: LogFn,
                every: int = 1000,
                eval_env: Any = None,
                eval_every: int = 0,
                eval_seeds: Sequence[int] = (0,),
                progress: Callable[[int], None] | None = None,
            ) -> None:
                super().__init__(verbose=0)
                self.progress = progress
                self.next_report = 0
                self.next_eval = int(eval_every)
                self.log = log
                self.every = max(1, int(every))
                self.eval_env = eval_env
                self.eval_every = int(eval_every)
                self.eval_seeds = tuple(int(s) for s in eval_seeds)
                self.started = time.perf_counter()
                self.episodes = 0
                self.eval_history: list[tuple[int, float]] = []

            @property
            def on_policy(self) -> bool:
                return isinstance(self.model, OnPolicyAlgorithm)

            def _on_step(self) -> bool:
                step = int(self.num_timesteps)
                for info in self.locals.get("infos") or ():
                    episode = info.get("episode") if isinstance(info, dict) else None
                    if episode is not None:
                        self.episodes += 1
                        self.log(
                            {"episode_return": float(episode["r"]), "episode_length": float(episode["l"])},
                            step,
                        )
                if self.eval_env is not None and self.eval_every and step >= self.next_eval:
                    self.next_eval = step + self.eval_every
                    returns = [r for s in self.eval_seeds for r in _episodes(self.model, self.eval_env, 1, s)]
                    value = float(np.mean(returns))
                    self.eval_history.append((step, value))
                    self.log({"eval_return": value}, step)
                return True

            def _on_rollout_start(self) -> None:
                # SB3 updates the networks between two rollouts: the values of that update are
                # read here, fresh, at the step it happened (every rollout on-policy, every
                # ``every`` steps off-policy, where a rollout is a few steps)
                step = int(self.num_timesteps)
                if step and (self.on_policy or step >= self.next_report):
                    self.next_report = step + self.every
                    self._report(step)
                    if self.progress is not None:
                        self.progress(step)

            def _on_training_end(self) -> None:
                self._report(int(self.num_timesteps))  # the last update, and the final speed
                if self.progress is not None:
                    self.progress(int(self.num_timesteps))

            def _report(self, step: int) -> None:
                values = {
                    k.replace("train/", ""): float(v)
                    for k, v in self.logger.name_to_value.items()
                    if k.startswith("train/") and np.isfinite(v)
                }
                seconds = time.perf_counter() - self.started
                values["fps"] = step / seconds if seconds > 0 else 0.0
                self.log(values, step)

        return _Callback(*args, **kwargs)


#: the longest episode an evaluation plays when the environment sets no time limit
MAX_EPISODE_STEPS = 100_000


def _episodes(model: Any, env: Any, episodes: int, seed: int) -> list[float]:
    """Returns of ``episodes`` deterministic episodes, the first reset seeded with ``seed``."""
    return [r for r, _ in _play(model, env, episodes, seed)]


def _play(model: Any, env: Any, episodes: int, seed: int) -> list[tuple[float, int]]:
    """(return, length) of ``episodes`` deterministic episodes, reset ``i`` seeded ``seed + i``.

    An episode stops when the environment ends it, or after :data:`MAX_EPISODE_STEPS` steps
    when it sets no time limit of its own.
    """
    limit = getattr(getattr(env, "spec", None), "max_episode_steps", None) or MAX_EPISODE_STEPS
    out = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, steps, done = 0.0, 0, False
        while not done and steps < limit:
            obs, reward, terminated, truncated, _ = env.step(act(model, obs))
            total += float(reward)
            steps += 1
            done = bool(terminated or truncated)
        out.append((total, steps))
    return out


def _iqm(values: np.ndarray, axis: int = -1) -> Any:
    from scipy.stats import trim_mean

    return trim_mean(values, 0.25, axis=axis)


@dataclass
class RLEvaluation:
    """Returns per evaluation seed and their summary (mean and IQM with 95% bootstrap intervals)."""

    returns: dict[int, list[float]]
    mean: float
    mean_interval: tuple[float, float]
    iqm: float
    iqm_interval: tuple[float, float]
    success_rate: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def intervals(self) -> dict[str, tuple[float, float]]:
        """The 95% bootstrap intervals of ``mean_return`` and ``iqm_return``."""
        return {"mean_return": self.mean_interval, "iqm_return": self.iqm_interval}

    def metrics(self) -> dict[str, float]:
        """Flat metrics for a run: ``mean_return``, ``iqm_return``, ``mean_episode_length`` (and
        ``success_rate``)."""
        out = {"mean_return": self.mean, "iqm_return": self.iqm}
        if "mean_episode_length" in self.extra:
            out["mean_episode_length"] = float(self.extra["mean_episode_length"])
        if self.success_rate is not None:
            out["success_rate"] = self.success_rate
        return out


def evaluate(
    model: Any,
    env_factory: Callable[[], Any],
    *,
    episodes: int = 10,
    seeds: Sequence[int] = (0, 1, 2),
    resamples: int = 2000,
    success: Callable[[float], bool] | None = None,
) -> RLEvaluation:
    """Play ``episodes`` deterministic episodes per seed; summarise with bootstrap intervals.

    The interval resamples episodes within each seed (stratified), so no seed is left out of a
    resample. ``success`` marks an episode a success from its return (the env's own definition).
    """
    if episodes < 1 or not seeds:
        raise InvalidInput(
            "evaluation needs at least one episode and one seed", field="task_options.eval_episodes"
        )
    played = {}
    for s in seeds:
        env = env_factory()
        try:
            played[int(s)] = _play(model, env, episodes, int(s) * 1000)
        finally:
            env.close()
    returns = {s: [r for r, _ in p] for s, p in played.items()}
    lengths = [n for p in played.values() for _, n in p]
    table = np.asarray([returns[int(s)] for s in seeds], dtype=np.float64)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, episodes, size=(resamples, table.shape[0], episodes))
    resampled = table[np.arange(table.shape[0])[None, :, None], picks].reshape(resamples, -1)
    means = resampled.mean(axis=1)
    iqms = _iqm(resampled, axis=1)
    flat = table.ravel()
    return RLEvaluation(
        returns=returns,
        mean=float(flat.mean()),
        mean_interval=(float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))),
        iqm=float(_iqm(flat)),
        iqm_interval=(float(np.quantile(iqms, 0.025)), float(np.quantile(iqms, 0.975))),
        success_rate=float(np.mean([success(r) for r in flat])) if success is not None else None,
        extra={"mean_episode_length": float(np.mean(lengths)), "episodes": int(flat.size)},
    )


def prepare(
    env: str,
    algorithm: str,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    n_envs: int = 1,
    allow: Sequence[str] | None = None,
) -> tuple[Any, Any]:
    """The seeded, vectorised environments and the untrained model (torch on one thread).

    Everything a spec can get wrong (environment, kwargs, algorithm, params) fails here, with
    the field named, before any run is recorded.
    """
    import torch

    _import_rl()
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    make_env(env, env_kwargs, allow=allow).close()  # a bad env is named before anything runs
    vec = make_vec_env(lambda: make_env(env, env_kwargs, allow=allow), n_envs=max(1, int(n_envs)), seed=seed)
    try:
        return vec, make_model(algorithm, vec, params, seed)
    except BaseException:
        vec.close()
        raise


def learn(
    model: Any,
    total_timesteps: int,
    *,
    log: LogFn | None = None,
    eval_env: Any = None,
    eval_every: int = 0,
    eval_seeds: Sequence[int] = (0,),
    progress: Callable[[int], None] | None = None,
) -> Any:
    """Train a prepared model for ``total_timesteps``, reporting through the tracking callback."""
    callback = TrackingCallback(
        log or (lambda _m, _s: None),
        eval_env=eval_env,
        eval_every=eval_every if eval_env is not None else 0,
        eval_seeds=eval_seeds,
        progress=progress,
    )
    model.learn(total_timesteps=total_timesteps, callback=callback)
    return model


def train(
    env: str,
    algorithm: str,
    *,
    total_timesteps: int,
    env_kwargs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    n_envs: int = 1,
    log: LogFn | None = None,
    eval_every: int = 0,
    eval_seeds: Sequence[int] = (0,),
    allow: Sequence[str] | None = None,
) -> Any:
    """Train ``algorithm`` on ``env`` for ``total_timesteps`` (torch on one thread), tracked.

    Returns the trained SB3 model; ``log`` receives the callback's metrics as they come.
    """
    if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, int) or total_timesteps < 1:
        raise InvalidInput(
            f"task_options.total_timesteps must be a positive integer, got {total_timesteps!r}",
            field="task_options.total_timesteps",
        )
    vec, model = prepare(
        env, algorithm, env_kwargs=env_kwargs, params=params, seed=seed, n_envs=n_envs, allow=allow
    )
    eval_env = make_env(env, env_kwargs, allow=allow) if eval_every else None
    try:
        return learn(
            model, total_timesteps, log=log, eval_env=eval_env, eval_every=eval_every, eval_seeds=eval_seeds
        )
    finally:
        vec.close()
        if eval_env is not None:
            eval_env.close()
