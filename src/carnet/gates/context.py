"""What a gate judges: the candidate, the incumbent, the evaluation data, the task, approvals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from carnet.domain import Approval, ColumnProfile, ModelVersion

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from carnet.domain.training import Predictions
    from carnet.plugins.api import Task

__all__ = ["GateContext"]


@dataclass
class GateContext:
    """Everything the registry service hands to the gates of one promotion.

    Attributes:
        task: the candidate's task plugin (``predict``, ``truth``, ``family``, metrics).
        candidate: the candidate's fitted model (loaded after its digest was verified).
        candidate_version: the candidate's registry record (signature, metrics, ...).
        alias: the alias the candidate is being promoted to.
        frame: the evaluation rows (features, target, sensitive columns), or None when
            the policy names no evaluation data.
        features: the model's input columns, in order.
        target: the target column in ``frame`` (None for unsupervised tasks).
        options: the task options the model was trained with.
        incumbent: the fitted model now holding ``alias`` (None when no version holds it).
        incumbent_version: its registry record.
        parent: the fitted model the candidate was derived from (``model.from``), when it has one.
        parent_version: the parent's registry record.
        approvals: approvals recorded for this version and alias.
        training_profile: per-column profile of the candidate's training data (ranges,
            categories), when the registry knows it.
        seed: seeds every resampling and perturbation.
        training_loader: reads the candidate's training dataset version (see :meth:`training_data`).
        workspace_has_users: the workspace has users (approvals are then authenticated by default).
        allowed_modules: module prefixes a stored environment or class path may be imported from
            when the gates rebuild it (a server's ``allowed_model_modules``; None: any, embedded).
    """

    task: Task
    candidate: Any
    candidate_version: ModelVersion
    alias: str
    frame: pd.DataFrame | None = None
    features: list[str] = field(default_factory=list)
    target: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    incumbent: Any = None
    incumbent_version: ModelVersion | None = None
    parent: Any = None
    parent_version: ModelVersion | None = None
    approvals: list[Approval] = field(default_factory=list)
    training_profile: dict[str, ColumnProfile] = field(default_factory=dict)
    seed: int = 0
    workspace_has_users: bool = False
    training_loader: Any = None
    allowed_modules: tuple[str, ...] | None = None
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def training_data(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The rows of the candidate's training dataset version (only ``columns``, when given),
        read once per column set; ValueError without one."""
        key = ("training_data", None if columns is None else tuple(columns))
        if key not in self._cache:
            if self.training_loader is None:
                raise ValueError("the candidate has no training dataset on record")
            self._cache[key] = self.training_loader(columns)
        return cast("pd.DataFrame", self._cache[key])

    def require_data(self) -> pd.DataFrame:
        """The evaluation frame; ValueError (reported as a failed gate) when there is none."""
        if self.frame is None:
            raise ValueError("the policy names no evaluation data (evaluation_data: NAME@VERSION)")
        return self.frame

    def X(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The feature columns of ``frame`` (default: the evaluation frame)."""
        data = self.require_data() if frame is None else frame
        return data[self.features]

    def truth(self, frame: pd.DataFrame | None = None) -> Any:
        """What the task's metrics compare against, for ``frame`` (default: the evaluation frame)."""
        data = self.require_data() if frame is None else frame
        return self.task.truth(data, self.target, self.options)

    def columns(self, which: str = "candidate") -> list[str]:
        """The input columns of the candidate, or of the incumbent (its own signature)."""
        if which != "candidate" and self.incumbent_version is not None:
            names = self.incumbent_version.signature.input_names()
            if names:
                return names
        return self.features

    def predictions(self, which: str = "candidate") -> Predictions:
        """The candidate's (or incumbent's) predictions on the evaluation frame, computed once."""
        key = ("predictions", which)
        if key not in self._cache:
            self._cache[key] = self.predict(self.require_data(), which)
        return cast("Predictions", self._cache[key])

    def predict(self, frame: pd.DataFrame, which: str = "candidate") -> Predictions:
        """Predictions of the candidate (or incumbent) on other rows (not cached); each model
        gets its own input columns."""
        model = self.candidate if which == "candidate" else self.incumbent
        if model is None:
            raise ValueError(f"no {which} model")
        return self.task.predict(model, frame[self.columns(which)], self.options)

    def primary_metric(self) -> tuple[str, str]:
        """The task's primary metric and its direction (``maximize`` / ``minimize``)."""
        return self.task.primary_metric()
