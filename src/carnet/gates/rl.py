"""Gates for reinforcement-learning policies: they judge a policy by playing it.

The ``metric``, ``non_regression`` and ``stress`` gates hand a policy (task family ``rl``) to
these functions. A policy plays deterministic episodes in the environment it was trained in
(``task_options.env`` and ``env_kwargs``), on the evaluation seeds of its spec unless the gate
names ``seeds`` and ``episodes``:

- ``metric``: ``mean_return``, ``iqm_return``, ``success_rate`` or ``mean_episode_length``
  against a threshold, with a stratified bootstrap interval over the episodes of each seed;
- ``non_regression``: candidate and incumbent play the same seeded episodes; the paired
  differences are resampled within each seed, and the lower bound of the interval of the
  difference must stay above ``-margin``;
- ``stress``: each scenario of :mod:`carnet.training.rl_stress` (observation noise, action
  delay or dropout, other env kwargs, perturbed dynamics) is played and the metric may not drop
  by more than the scenario's ``max_degradation`` (relative with ``relative: true``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from carnet.domain.policies import GateResult
from carnet.errors import InvalidInput
from carnet.gates.context import GateContext
from carnet.gates.scenarios import scenario_result

__all__ = ["RL_METRICS", "is_rl", "rl_metric", "rl_non_regression", "rl_stress"]

RL_METRICS = ("mean_return", "iqm_return", "success_rate", "mean_episode_length")
_RESAMPLES = 2000
#: default scenarios of the stress gate for a policy: 20% relative drop allowed for each
DEFAULT_RL_SCENARIOS = (
    {"type": "observation_noise", "scale": 0.05, "max_degradation": 0.2, "relative": True},
    {"type": "action_dropout", "probability": 0.1, "max_degradation": 0.2, "relative": True},
    {"type": "action_delay", "steps": 1, "max_degradation": 0.2, "relative": True},
)


def is_rl(ctx: GateContext) -> bool:
    """Whether the candidate is a reinforcement-learning policy."""
    return getattr(ctx.task, "family", None) == "rl"


def _settings(ctx: GateContext, config: Mapping[str, Any]) -> tuple[int, tuple[int, ...]]:
    """(episodes per seed, seeds) of the gate, defaulting to the spec's evaluation."""
    from carnet.training.rl import rl_options

    options = rl_options(ctx.options)
    episodes = config.get("episodes", options.eval_episodes)
    seeds = config.get("seeds", list(options.eval_seeds))
    if isinstance(episodes, bool) or not isinstance(episodes, int) or not 1 <= episodes <= 10_000:
        raise InvalidInput("episodes must be an integer from 1 to 10000", field="episodes")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise InvalidInput("seeds must be a non-empty list of integers >= 0", field="seeds")
    return episodes, tuple(seeds)


def _factory(ctx: GateContext, scenario: Mapping[str, Any] | None = None) -> Callable[[], Any]:
    from carnet.training.rl import make_env, rl_options

    options = rl_options(ctx.options)

    def make(kwargs: Mapping[str, Any]) -> Any:
        return make_env(options.env, kwargs, allow=ctx.allowed_modules)  # a server's allow-list

    if scenario is None:
        return lambda: make(options.env_kwargs)
    from carnet.training.rl_stress import stressed_factory

    return stressed_factory(make, options.env_kwargs, scenario, ctx.seed)


def _play(
    ctx: GateContext, which: str, config: Mapping[str, Any], scenario: Mapping[str, Any] | None = None
) -> Any:
    """The evaluation of the candidate (or incumbent) on the gate's seeds (clean plays cached)."""
    from carnet.training.rl import evaluate, rl_options

    episodes, seeds = _settings(ctx, config)
    key = ("rl", which, episodes, seeds)
    if scenario is None and key in ctx._cache:
        return ctx._cache[key]
    model = ctx.candidate if which == "candidate" else ctx.incumbent
    result = evaluate(
        model,
        _factory(ctx, scenario),
        episodes=episodes,
        seeds=seeds,
        success=rl_options(ctx.options).success(),
    )
    if scenario is None:
        ctx._cache[key] = result
    return result


def _statistic(name: str, ctx: GateContext) -> Callable[[np.ndarray], np.ndarray]:
    """The metric over the last axis of a table of returns (resamples x episodes)."""
    from scipy.stats import trim_mean

    from carnet.training.rl import rl_options

    if name == "mean_return":
        return lambda t: t.mean(axis=-1)
    if name == "iqm_return":
        return lambda t: trim_mean(t, 0.25, axis=-1)
    if name == "success_rate":
        limit = rl_options(ctx.options).success_threshold
        if limit is None:
            raise InvalidInput(
                "success_rate needs task_options.success_threshold in the policy's spec", field="metric"
            )
        return lambda t: (t >= limit).mean(axis=-1)
    raise InvalidInput(f"unknown rl metric {name!r}; use {', '.join(RL_METRICS)}", field="metric")


def _table(result: Any) -> np.ndarray:
    return np.asarray([result.returns[s] for s in sorted(result.returns)], dtype=np.float64)


def _resample(table: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Stratified bootstrap: episodes drawn within each seed; (resamples, seeds * episodes) positions."""
    rng = np.random.default_rng(seed)
    seeds, episodes = table.shape
    picks = rng.integers(0, episodes, size=(resamples, seeds, episodes))
    rows = np.arange(seeds)[None, :, None]
    return np.asarray((rows * episodes + picks).reshape(resamples, -1))


def _value(name: str, ctx: GateContext, result: Any) -> float:
    if name == "mean_episode_length":
        return float(result.extra.get("mean_episode_length", math.nan))
    return float(_statistic(name, ctx)(_table(result).ravel()))


def rl_metric(
    ctx: GateContext,
    config: Mapping[str, Any],
    name: str,
    ok: Callable[[float], bool],
    label: str,
    threshold: str,
) -> GateResult:
    """The threshold of the ``metric`` gate on a policy's evaluation returns."""
    details: dict[str, Any] = {"metric": name}
    try:
        if name not in RL_METRICS:
            raise InvalidInput(f"unknown rl metric {name!r}; use {', '.join(RL_METRICS)}", field="metric")
        result = _play(ctx, "candidate", config)
        value = _value(name, ctx, result)
        details.update(
            value=value, episodes=int(result.extra.get("episodes", 0)), seeds=sorted(result.returns)
        )
        if name != "mean_episode_length":
            flat = _table(result).ravel()
            stats = _statistic(name, ctx)(flat[_resample(_table(result), _RESAMPLES, ctx.seed)])
            details.update(
                ci=[float(np.quantile(stats, 0.025)), float(np.quantile(stats, 0.975))], confidence=0.95
            )
    except Exception as exc:  # noqa: BLE001 - a policy or environment problem fails the gate
        return GateResult(label, "metric", False, threshold=threshold, details=details, error=f"{exc}")
    return GateResult(label, "metric", ok(value), f"{value:.4g}", threshold, value, details)


def rl_non_regression(
    ctx: GateContext, metric: str, margin: float, confidence: float, resamples: int, details: dict[str, Any]
) -> GateResult:
    """Candidate vs incumbent on the same seeded episodes: a paired, stratified bootstrap."""
    label, floor = f"non_regression {metric}", f"{-margin:g}" if margin else "0"
    threshold = f"lower bound >= {floor}"
    try:
        stat = _statistic(metric, ctx)
        cand, inc = _play(ctx, "candidate", {}), _play(ctx, "incumbent", {})
        a, b = _table(cand), _table(inc)
        diff = float(stat(a.ravel()) - stat(b.ravel()))
        picks = _resample(a, resamples, ctx.seed)
        diffs = stat(a.ravel()[picks]) - stat(b.ravel()[picks])
        tail = (1 - confidence) / 2
        low, high = float(np.quantile(diffs, tail)), float(np.quantile(diffs, 1 - tail))
    except Exception as exc:  # noqa: BLE001 - a policy or environment problem fails the gate
        return GateResult(
            label, "non_regression", False, threshold=threshold, details=details, error=f"{exc}"
        )
    details.update(
        candidate=float(stat(a.ravel())),
        incumbent=float(stat(b.ravel())),
        difference=diff,
        difference_is="candidate - incumbent",
        ci=[low, high],
        lower_bound=low,
        n_bootstrap=resamples,
        episodes=int(a.size),
        paired="the same seeded episodes for both policies",
    )
    measured = f"{diff:+.4g} ({confidence * 100:g}% CI {low:+.4g} to {high:+.4g})"
    return GateResult(label, "non_regression", low >= -margin, measured, threshold, diff, details)


def rl_stress(
    ctx: GateContext, config: Mapping[str, Any], names: Callable[[list[dict[str, Any]]], list[str]]
) -> GateResult:
    """Every environment scenario played; the metric's drop from the clean play within its limit."""

    metric = str(config.get("metric") or "mean_return")
    scenarios = [dict(s) for s in (config.get("scenarios") or DEFAULT_RL_SCENARIOS)]
    try:
        from carnet.training.rl_stress import RL_SCENARIOS

        wrong = [s["type"] for s in scenarios if s.get("type") not in RL_SCENARIOS]
        if wrong:
            raise InvalidInput(
                f"scenario {wrong[0]!r} perturbs data; a policy takes {', '.join(RL_SCENARIOS)}",
                field="scenarios",
            )
        base = _value(metric, ctx, _play(ctx, "candidate", config))
    except Exception as exc:  # noqa: BLE001 - a policy or environment problem fails the gate
        return GateResult("stress", "stress", False, error=f"{exc}", details={"metric": metric})
    records = []
    for label, scenario in zip(names(scenarios), scenarios, strict=True):
        limit, relative = float(scenario["max_degradation"]), bool(scenario.get("relative", False))
        settings = {
            k: v for k, v in scenario.items() if k not in ("type", "name", "max_degradation", "relative")
        }
        record: dict[str, Any] = {
            "name": label,
            "type": scenario["type"],
            "max_degradation": limit,
            "relative": relative,
            "value": None,
            "degradation": None,
            "error": None,
            "passed": False,
            "settings": settings,
        }
        try:
            value = _value(metric, ctx, _play(ctx, "candidate", config, scenario))
        except Exception as exc:  # noqa: BLE001 - the policy must not crash: a failed scenario
            record["error"] = f"{type(exc).__name__}: {exc}"
        else:
            drop = base - value
            degradation = drop / abs(base) if relative and base else drop
            record.update(value=value, degradation=degradation, passed=degradation <= limit)
        records.append(record)
    details = {"metric": metric, "greater_is_better": True, "base": base, "seed": ctx.seed,
               "environment": ctx.options.get("env")}  # fmt: skip
    return scenario_result("stress", records, details)
