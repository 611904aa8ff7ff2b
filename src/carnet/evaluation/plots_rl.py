"""Charts of a reinforcement-learning run: the learning curve and the evaluation returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from carnet.domain.evaluation import Plot
from carnet.evaluation.plots import COLORS, figure, render, thin

__all__ = ["learning_curve_plot", "return_distribution_plot"]


def learning_curve_plot(
    episodes: Sequence[tuple[int, float]], evaluations: Sequence[tuple[int, float]], window: int = 20
) -> Plot:
    """Episode returns during training (and their moving mean) with the periodic evaluation returns."""
    fig, (ax,) = figure(width=6.4, height=3.6)
    steps = np.asarray([s for s, _ in episodes], dtype=float)
    returns = np.asarray([r for _, r in episodes], dtype=float)
    data: dict[str, object] = {"window": window}
    if len(returns):
        k = max(1, min(window, len(returns)))
        smooth = np.convolve(returns, np.ones(k) / k, mode="valid")
        xs, ys = thin(steps, returns)
        ax.plot(xs, ys, color=COLORS[0], alpha=0.25, linewidth=0.8, label="episode return")
        ms, mv = thin(steps[k - 1 :], smooth)
        ax.plot(ms, mv, color=COLORS[0], linewidth=1.6, label=f"mean of {k} episodes")
        data.update(steps=xs, returns=ys, mean_steps=ms, mean_returns=mv)
    if evaluations:
        es = [float(s) for s, _ in evaluations]
        ev = [float(v) for _, v in evaluations]
        ax.plot(es, ev, "o-", color=COLORS[1], linewidth=1.2, markersize=3.5, label="evaluation return")
        data.update(eval_steps=es, eval_returns=ev)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title("Learning curve")
    ax.grid(alpha=0.3)
    if len(returns) or evaluations:
        ax.legend(fontsize=7, loc="lower right")
    return Plot("learning_curve", "Learning curve", render(fig), data)


def return_distribution_plot(returns: Mapping[int, Sequence[float]], iqm: float, mean: float) -> Plot:
    """Evaluation returns per seed (box and points), with the overall mean and IQM."""
    fig, (ax,) = figure(width=max(4.0, 0.6 * len(returns) + 2.4), height=3.6)
    seeds = sorted(returns)
    values = [np.asarray(returns[s], dtype=float) for s in seeds]
    ax.boxplot(values, widths=0.5, showfliers=False)
    rng = np.random.default_rng(0)
    for i, v in enumerate(values, start=1):
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(v)), v, s=9, color=COLORS[0], alpha=0.7, zorder=3)
    ax.axhline(mean, color=COLORS[1], linewidth=1.0, linestyle="--", label=f"mean {mean:.4g}")
    ax.axhline(iqm, color=COLORS[2], linewidth=1.0, linestyle=":", label=f"IQM {iqm:.4g}")
    ax.set_xticks(range(1, len(seeds) + 1), [str(s) for s in seeds])
    ax.set_xlabel("evaluation seed")
    ax.set_ylabel("episode return")
    ax.set_title("Return distribution")
    ax.legend(fontsize=7)
    data = {"seeds": seeds, "returns": [list(map(float, v)) for v in values], "mean": mean, "iqm": iqm}
    return Plot("return_distribution", "Return distribution", render(fig), data)
