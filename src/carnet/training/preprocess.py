"""Preprocessing: column kinds from dtypes -> a scikit-learn ColumnTransformer, inside the pipeline.

Preprocessing is always part of the fitted pipeline, so each fold learns imputation
values, scales and encodings from its own training rows only (no leakage), and the
saved model applies exactly the same steps at serving time.

Column kinds: booleans, strings, objects and categoricals are *categorical*; other
numbers are *numeric*; ``datetime64`` columns and those listed in
``task_options.date_columns`` are *dates* (expanded by :class:`DateParts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from carnet.errors import InvalidInput
from carnet.training.estimators import resolve_model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from carnet.domain.training import PreprocessSpec, TrainSpec
    from carnet.plugins.api import Task

__all__ = ["build_pipeline", "build_preprocessor", "column_kinds", "model_choice", "text_columns"]

_TARGET_FAMILIES = ("classification", "regression")


def column_kinds(frame: pd.DataFrame, features: list[str], date_columns: Any = ()) -> dict[str, list[str]]:
    """Split ``features`` into ``numeric``, ``categorical`` and ``datetime`` columns by dtype."""
    import pandas.api.types as pdt

    dates = {date_columns} if isinstance(date_columns, str) else set(date_columns or ())
    kinds: dict[str, list[str]] = {"numeric": [], "categorical": [], "datetime": []}
    for name in features:
        col = frame[name]
        if name in dates or pdt.is_datetime64_any_dtype(col.dtype):
            kinds["datetime"].append(name)
        elif pdt.is_timedelta64_dtype(col.dtype):
            raise InvalidInput(
                f"feature {name!r} holds time durations; convert it to a number (e.g. seconds) first",
                field="features",
            )
        elif (
            pdt.is_bool_dtype(col.dtype)
            or not pdt.is_numeric_dtype(col.dtype)
            or pdt.is_complex_dtype(col.dtype)
        ):
            kinds["categorical"].append(name)
        else:
            kinds["numeric"].append(name)
    return kinds


def _numeric_steps(pre: PreprocessSpec) -> list[tuple[str, Any]]:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    steps: list[tuple[str, Any]] = []
    if pre.impute_numeric == "constant":
        steps.append(("impute", SimpleImputer(strategy="constant", fill_value=0.0)))
    elif pre.impute_numeric != "none":
        steps.append(("impute", SimpleImputer(strategy=pre.impute_numeric)))
    scalers = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
    if pre.scale in scalers:
        steps.append(("scale", scalers[pre.scale]()))
    return steps


def _encoder(pre: PreprocessSpec, task: Task, seed: int) -> Any:
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

    if pre.encode == "onehot":
        return OneHotEncoder(handle_unknown="ignore", max_categories=pre.max_categories, sparse_output=False)
    if pre.encode == "ordinal":
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    regression = task.family == "regression"
    if TargetEncoder().get_params().get("random_state") == "deprecated":  # scikit-learn >= 1.9
        from sklearn.model_selection import KFold, StratifiedKFold

        folds = (KFold if regression else StratifiedKFold)(n_splits=5, shuffle=True, random_state=seed)
        return TargetEncoder(target_type="continuous" if regression else "auto", cv=folds)
    return TargetEncoder(target_type="continuous" if regression else "auto", random_state=seed)


def build_preprocessor(
    pre: PreprocessSpec,
    frame: pd.DataFrame,
    features: list[str],
    task: Task,
    *,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
    text_encoder: Any = None,
) -> Any:
    """An unfitted ``ColumnTransformer`` for ``features`` of ``frame`` (dense float output).

    Numeric: impute, then scale. Categorical: strings, impute, encode (one-hot with
    ``handle_unknown='ignore'``; ordinal with unknown = -1; or target encoding, which
    cross-fits internally). Dates: :class:`~carnet.training.transformers.DateParts`, then
    the numeric steps.

    Args:
        pre: the spec's preprocess section.
        frame: data used only to read column dtypes (nothing is fitted here).
        features: the feature columns (see ``validate_against_data``).
        task: the task; target encoding needs a classification or regression task.
        options: the spec's ``task_options`` (``date_columns``).
        seed: random state of the target encoder's internal folds.
        text_encoder: the transformer for ``pre.text``'s columns when the caller resolved it (an
            encoder registered in a workspace, frozen); default: a new
            :class:`~carnet.training.text.TextEmbedding` of the installed encoder plugin it names.

    Raises:
        InvalidInput: ``preprocess.encode: target`` for another task family; duration columns; an
            unknown text column or encoder.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    from carnet.training.transformers import CategoryStrings, DateParts

    if pre.encode == "target" and (task.family not in _TARGET_FAMILIES or not task.supervised):
        raise InvalidInput(
            f"preprocess.encode target needs a classification or regression task, not {task.name!r}; "
            "use onehot or ordinal",
            field="preprocess.encode",
        )
    kinds = column_kinds(frame, features, (options or {}).get("date_columns", ()))
    texts = text_columns(frame, features, pre, kinds["categorical"]) if pre.text is not None else []
    kinds["categorical"] = [c for c in kinds["categorical"] if c not in texts]

    def chain(steps: list[tuple[str, Any]]) -> Any:
        return Pipeline(steps) if steps else "passthrough"

    transformers: list[tuple[str, Any, list[str]]] = []
    if kinds["numeric"]:
        transformers.append(("num", chain(_numeric_steps(pre)), kinds["numeric"]))
    if kinds["categorical"]:
        steps: list[tuple[str, Any]] = [("strings", CategoryStrings())]
        if pre.impute_categorical == "most_frequent":
            steps.append(("impute", SimpleImputer(strategy="most_frequent")))
        elif pre.impute_categorical == "constant":
            steps.append(("impute", SimpleImputer(strategy="constant", fill_value="missing")))
        steps.append(("encode", _encoder(pre, task, seed)))
        transformers.append(("cat", Pipeline(steps), kinds["categorical"]))
    if kinds["datetime"]:
        parts = ("year", "month", "day", "weekday", "hour") if pre.date_parts else ("epoch",)
        steps = [("parts", DateParts(parts=parts)), *_numeric_steps(pre)]
        transformers.append(("date", Pipeline(steps), kinds["datetime"]))
    for column in texts:
        transformers.append((f"text_{column}", _text_step(pre, text_encoder), [column]))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


def text_columns(
    frame: pd.DataFrame, features: list[str], pre: PreprocessSpec, candidates: list[str]
) -> list[str]:
    """The columns ``pre.text`` embeds: the ones it names, else every free-text column among the
    string ``candidates`` (three words or more on average, in a sample of up to 1,000 values).

    Raises:
        InvalidInput: a named column that is not a feature.
    """
    assert pre.text is not None
    if pre.text.columns is not None:
        missing = [c for c in pre.text.columns if c not in features]
        if missing:
            raise InvalidInput(
                f"preprocess.text.columns names {', '.join(missing)}, not feature columns",
                field="preprocess.text.columns",
            )
        return list(pre.text.columns)
    found = []
    for column in candidates:
        values = frame[column].dropna().astype(str).head(1000)
        if len(values) and values.str.split().str.len().mean() >= 3:
            found.append(column)
    if not found:
        raise InvalidInput(
            "preprocess.text found no free-text column (three words or more on average); name them in "
            "preprocess.text.columns",
            field="preprocess.text.columns",
        )
    return found


def _raw_text(spec: TrainSpec, frame: pd.DataFrame, features: list[str], model: str) -> Any:
    """The one text column a text network reads, passed through unchanged."""
    from sklearn.compose import ColumnTransformer

    chosen = list(features)
    if len(chosen) != 1 or column_kinds(frame, chosen)["categorical"] != chosen:
        raise InvalidInput(
            f"model {model} reads one text column and nothing else; the features are "
            f"{', '.join(map(str, chosen[:10]))}: select the text column with features: [COLUMN]",
            field="features",
        )
    return ColumnTransformer([("text", "passthrough", chosen)], remainder="drop", sparse_threshold=0.0)


def _text_step(pre: PreprocessSpec, resolved: Any) -> Any:
    """The transformer of one text column: the caller's resolved encoder, or an installed plugin's."""
    if resolved is not None:
        return resolved
    from carnet.errors import NotFound
    from carnet.plugins.loader import registry
    from carnet.training.text import TextEmbedding

    assert pre.text is not None
    try:
        plugin = registry("encoder").get(pre.text.encoder)
    except NotFound as exc:
        raise InvalidInput(
            f"preprocess.text.encoder {pre.text.encoder!r} is neither an installed encoder "
            f"({', '.join(registry('encoder').names())}) nor one registered in this workspace "
            "(carnet encoders list)",
            field="preprocess.text.encoder",
        ) from exc
    plugin.validate(dict(pre.text.params))
    return TextEmbedding(pre.text.encoder, dict(pre.text.params) or None)


def model_choice(spec: TrainSpec, task: Task) -> tuple[str, dict[str, Any]]:
    """The model name and params a spec asks for (the task's default model when it names none)."""
    if spec.model is None:
        return task.default_model(), {}
    return spec.model.name, dict(spec.model.params)


def build_pipeline(
    spec: TrainSpec, task: Task, frame: pd.DataFrame, features: list[str], *, text_encoder: Any = None
) -> Any:
    """An unfitted ``Pipeline([("preprocess", ...), ("model", ...)])``; the bare model for non-tabular tasks.

    The result works with ``sklearn.base.clone``; the model gets ``spec.seed``.
    """
    name, params = model_choice(spec, task)
    model = resolve_model(name, task, params, seed=spec.seed)
    if not task.tabular:
        return model
    from sklearn.pipeline import Pipeline

    if getattr(model, "carnet_raw_text", False):  # a text network reads its one text column as is
        return Pipeline([("preprocess", _raw_text(spec, frame, features, name)), ("model", model)])

    pre = build_preprocessor(
        spec.preprocess,
        frame,
        features,
        task,
        options=spec.task_options,
        seed=spec.seed,
        text_encoder=text_encoder,
    )
    return Pipeline([("preprocess", pre), ("model", model)])
