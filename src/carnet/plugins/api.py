"""Protocols of carnet's extension points.

Every extension point is a Protocol here; :data:`carnet.plugins.loader.PLUGIN_KINDS` names its
entry-point group and ``registry(kind)`` loads its plugins. carnet's own implementations register
through the same entry points (``[project.entry-points."carnet.tasks"]`` in ``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover - typing only; nothing heavy at import time
    import numpy as np
    import pandas as pd

    from carnet.domain.training import Predictions, SplitSpec

__all__ = [
    "EVALUATION_FAMILIES",
    "Encoder",
    "Flavor",
    "Gate",
    "HookPlugin",
    "ModelFactory",
    "Notifier",
    "Task",
    "Witness",
    "default_split",
    "final_step",
    "required_columns",
    "task_targets",
]

#: metric families of ``carnet.evaluation``; a task evaluates as one of them
EVALUATION_FAMILIES = (
    "classification",
    "regression",
    "clustering",
    "anomaly",
    "dim_reduction",
    "forecasting",
    "recommendation",
    "multitask",
    "rl",
)

#: builds an unfitted estimator from keyword params (e.g. a class)
ModelFactory = Callable[..., Any]


@runtime_checkable
class Task(Protocol):
    """A kind of learning problem: what targets it accepts, how it splits, fits, predicts, scores.

    ``tabular`` tasks get carnet's preprocessing pipeline in front of their model and
    are fitted with ``estimator.fit(X, y)``; other tasks (forecasting, recommendation)
    receive the raw feature frame in :meth:`fit` and do their own preparation.
    """

    name: str
    description: str
    supervised: bool
    tabular: bool
    family: str  # one of EVALUATION_FAMILIES

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        """Raise ``InvalidInput`` (field ``target``) when the data cannot be used for this task."""
        ...

    def default_metrics(self) -> list[str]:
        """Metric names (as computed by ``carnet.evaluation`` for :attr:`family`) reported by default."""
        ...

    def primary_metric(self) -> tuple[str, str]:
        """The metric model selection uses, and ``maximize`` or ``minimize``."""
        ...

    def default_model(self) -> str:
        """Model name used when a spec names none."""
        ...

    def candidate_models(self) -> list[str]:
        """Model families AutoML tries, best-known first."""
        ...

    def models(self) -> dict[str, ModelFactory]:
        """Models specific to this task, by short name (checked before general model names)."""
        ...

    def split(
        self,
        frame: pd.DataFrame,
        target: str | None,
        split: SplitSpec,
        seed: int,
        options: dict[str, Any],
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(train positions, test positions) pairs: one for holdout, several for k-fold."""
        ...

    def fit(self, estimator: Any, X: pd.DataFrame, y: pd.Series | None, options: dict[str, Any]) -> Any:
        """Fit ``estimator`` (a pipeline for tabular tasks) and return the fitted object."""
        ...

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        """Predictions for rows ``X`` in the form the task's metric family needs."""
        ...

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        """The ground truth for ``frame`` as the metric family expects it (None when unsupervised)."""
        ...


@runtime_checkable
class Flavor(Protocol):
    """Saves and loads one family of models.

    ``loads`` must never execute code from the bytes beyond constructing objects of
    trusted types; the caller has already checked the bytes against the registry digest.
    A flavor whose format can run code (pickle) sets ``requires_opt_in = True`` and
    refuses to load unless the caller passes ``allow_pickle=True``; it is never chosen
    automatically. A flavor may declare ``tolerance: float`` when a round trip changes
    numeric predictions slightly (e.g. float32 inference).
    """

    name: str
    file_name: str
    requires_opt_in: bool

    def can_save(self, model: Any) -> bool:
        """True when this flavor knows how to store ``model``."""
        ...

    def dumps(self, model: Any) -> bytes:
        """Serialise a fitted model.

        Raises:
            InvalidInput: the model cannot be stored by this flavor.
        """
        ...

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        """Rebuild a model; types outside the flavor's allowlist and ``trusted`` are refused.

        Raises:
            InvalidInput: ``data`` is not a model file of this flavor.
            PermissionDenied: the file holds untrusted types, or needs ``allow_pickle=True``.
        """
        ...


@runtime_checkable
class Gate(Protocol):
    """One kind of promotion check (entry-point group ``carnet.gates``).

    ``validate`` runs when a policy is loaded, before anything is evaluated: it raises
    ``InvalidInput`` naming the field for a bad setting. ``check`` judges a candidate
    model version with the :class:`carnet.gates.GateContext` the registry service
    builds (models, evaluation data, the task, the incumbent, approvals) and returns a
    :class:`carnet.domain.GateResult`; it must not raise for a failing model (a crash of
    the model is a failed gate with ``error`` set).
    """

    name: str
    description: str

    def validate(self, config: dict[str, Any]) -> None:
        """Check the gate's settings from a policy; InvalidInput names the bad field."""
        ...

    def check(self, config: dict[str, Any], ctx: Any) -> Any:
        """Evaluate the gate; returns a ``GateResult``."""
        ...


@runtime_checkable
class Notifier(Protocol):
    """One way of telling people about monitoring alerts (entry-point group ``carnet.notifiers``).

    ``validate`` runs when a monitor is created: it raises ``InvalidInput`` naming the field for
    a bad setting. ``send`` delivers one alert event (a JSON-ready dict: ``event`` is
    ``alert.opened``, ``alert.acknowledged`` or ``alert.resolved``, ``alert`` the alert, plus
    ``monitor``, ``model`` and ``message``) and raises on failure; the caller records failures
    and never lets them stop a monitoring pass.
    """

    name: str
    description: str

    def validate(self, config: dict[str, Any]) -> None:
        """Check the notifier's settings; InvalidInput names the bad field."""
        ...

    def send(self, config: dict[str, Any], event: dict[str, Any]) -> None:
        """Deliver ``event``; raises on failure."""
        ...


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into vectors (entry-point group ``carnet.encoders``).

    ``transformer(params)`` returns an unfitted scikit-learn transformer over a sequence of texts
    (``fit(texts)``, ``transform(texts) -> (n, d)`` floats); a ``trainable`` encoder learns from
    the texts it is fitted on (TF-IDF), a pretrained one only reads its weights. Its weights come
    from an installed package, never from the network. ``identity(params)`` names what the vectors
    are built on (``package``, ``version``, ``digest`` of the weights), so a model that uses the
    encoder is reproducible and its card says what it was built on. ``validate(params)`` raises
    ``InvalidInput`` naming the field for a bad setting.
    """

    name: str
    description: str
    trainable: bool

    def validate(self, params: dict[str, Any]) -> None:
        """Check the encoder's settings; InvalidInput names the bad one."""
        ...

    def transformer(self, params: dict[str, Any]) -> Any:
        """An unfitted transformer over texts."""
        ...

    def identity(self, params: dict[str, Any]) -> dict[str, str]:
        """``package``, ``version`` and ``digest`` of what the vectors are built on."""
        ...


@runtime_checkable
class HookPlugin(Protocol):
    """A lifecycle hook plugin (entry-point group ``carnet.hooks``): any module or object whose
    ``@hookimpl`` functions are named after the hooks of :class:`carnet.plugins.hooks.HookSpecs`."""


@runtime_checkable
class Witness(Protocol):
    """An append-only place outside the metadata database that keeps signed audit checkpoints
    (entry-point group ``carnet.witnesses``; the entry point's name is the URL scheme it serves).

    ``validate`` checks a URL (InvalidInput for a bad one). ``publish`` stores one checkpoint
    record (a JSON-ready dict) without ever replacing a stored one and returns where it went;
    ``read`` yields the stored records newest first, each as parsed JSON (a value that is not a
    JSON object, or the text of an unparseable entry, is yielded as it is: the verifier reports
    it). Both raise on failure. ``options`` are the workspace's storage options (S3 endpoint ...).
    """

    name: str
    description: str

    def validate(self, url: str) -> None:
        """Check a witness URL; InvalidInput says what is wrong."""
        ...

    def publish(self, url: str, record: dict[str, Any], options: Mapping[str, Any]) -> str:
        """Store ``record``; returns its location. Raises on failure."""
        ...

    def read(self, url: str, options: Mapping[str, Any]) -> Iterator[Any]:
        """The stored records, newest first. Raises when the witness cannot be read."""
        ...


# -- optional members of Task, with their fallbacks (third-party tasks may omit them) --------


def default_split(task: Task) -> SplitSpec:
    """The split ``task`` recommends (``task.default_split()``), else a plain 80/20 holdout."""
    from carnet.domain.training import SplitSpec

    method = getattr(task, "default_split", None)
    split = method() if callable(method) else None
    return split if isinstance(split, SplitSpec) else SplitSpec()


def final_step(fitted: Any) -> tuple[Any, Any]:
    """(the pipeline without its last step or None, the last step) of a fitted estimator.

    A plain estimator (not a scikit-learn ``Pipeline``) is its own last step.
    """
    steps = getattr(fitted, "steps", None)
    if isinstance(steps, list) and steps and hasattr(fitted, "__getitem__"):
        head = fitted[:-1] if len(steps) > 1 else None
        return head, steps[-1][1]
    return None, fitted


def task_targets(task: Task, options: dict[str, Any]) -> list[str]:
    """The target columns of a task with several (``task.targets(options)``, multitask), else none."""
    method = getattr(task, "targets", None)
    return list(method(options) or ()) if callable(method) else []


def required_columns(task: Task, options: dict[str, Any]) -> list[str]:
    """Columns ``task`` needs kept as features (``task.required_columns(options)``), else none."""
    method = getattr(task, "required_columns", None)
    return list(method(options) or ()) if callable(method) else []
