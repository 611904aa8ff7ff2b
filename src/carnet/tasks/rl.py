"""The ``rl`` task: an agent learns a policy by acting in a Gymnasium environment.

Unlike the tabular tasks it reads no dataset: ``task_options`` name the environment and the
budget, and the training service hands the spec to the reinforcement-learning engine
(:mod:`carnet.training.rl`). What this plugin gives the rest of carnet is what a registered
policy shares with any model: its metrics (``mean_return``, ``iqm_return``, ``success_rate``),
its default algorithm, and ``predict`` on rows of observation columns, used by serving, batch
prediction and the gates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from carnet.domain.training import Predictions, SplitSpec
from carnet.errors import InvalidInput
from carnet.spaces import ALGORITHMS, RL_TASK_NAMES

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = ["RL_TASK_NAMES", "ReinforcementLearning"]


class ReinforcementLearning:
    """Reinforcement learning with Stable-Baselines3 on a Gymnasium environment (extra ``rl``)."""

    name = "rl"
    description = (
        "reinforcement learning: an agent (ppo, a2c, dqn, sac, td3) learns a policy in a Gymnasium "
        "environment named by task_options.env"
    )
    supervised = False
    tabular = False
    family = "rl"
    option_help: ClassVar[dict[str, str]] = {
        "env": "a Gymnasium id (CartPole-v1) or pkg.module:factory returning a gymnasium.Env (required)",
        "env_kwargs": "keyword arguments of the environment",
        "total_timesteps": "environment steps to learn for (default 100000)",
        "n_envs": "environments stepped side by side (default 1)",
        "eval_episodes": "deterministic episodes per evaluation seed (default 10)",
        "eval_seeds": "seeds of the evaluation (default [0, 1, 2, 3, 4])",
        "eval_every": "steps between evaluations during training (default: 10 over the run; 0 = none)",
        "success_threshold": "an episode whose return reaches this is a success (success_rate)",
    }

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        """An agent learns from rewards: a target column is refused."""
        if target is not None:
            raise InvalidInput(
                "an rl task learns from its environment's rewards; remove target", field="target"
            )

    def default_metrics(self) -> list[str]:
        """The mean and the interquartile mean of the evaluation returns."""
        return ["mean_return", "iqm_return"]

    def primary_metric(self) -> tuple[str, str]:
        """The mean episodic return, higher is better."""
        return "mean_return", "maximize"

    def default_model(self) -> str:
        """PPO: it acts in every kind of action space."""
        return "ppo"

    def candidate_models(self) -> list[str]:
        """Every algorithm carnet trains."""
        return list(ALGORITHMS)

    def models(self) -> dict[str, Any]:
        """The algorithms by short name (built by the RL engine, not as estimators)."""
        return {name: _algorithm(cls) for name, (cls, _) in ALGORITHMS.items()}

    def default_split(self) -> SplitSpec:
        """An agent is not split: it is evaluated on fresh episodes."""
        return SplitSpec(kind="none")

    def split(
        self, frame: pd.DataFrame, target: str | None, split: SplitSpec, seed: int, options: dict[str, Any]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Refused: rows are not how an agent learns."""
        raise InvalidInput("an rl task has no rows to split; it is evaluated over seeds", field="split")

    def fit(self, estimator: Any, X: pd.DataFrame, y: pd.Series | None, options: dict[str, Any]) -> Any:
        """Refused: the training service runs the RL engine for this task."""
        raise InvalidInput("an rl task is trained with carnet train on its spec", field="task")

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        """The policy's deterministic action for each row of observation columns."""
        return Predictions(task=self.name, y_pred=fitted.predict(X))

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        """None: returns come from the environment."""
        return None


def _algorithm(cls_name: str) -> Any:
    """A factory of the Stable-Baselines3 class ``cls_name`` (imported when called)."""

    def make(*args: Any, **kwargs: Any) -> Any:
        import stable_baselines3

        return getattr(stable_baselines3, cls_name)(*args, **kwargs)

    make.__name__ = cls_name
    return make
