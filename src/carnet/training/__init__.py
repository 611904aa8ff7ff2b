"""The training engine: spec -> validated features -> pipeline -> fitted, evaluated model.

Pure computation, no storage: specs are parsed (:func:`load_spec`), checked against a
frame (:func:`validate_against_data`), turned into a scikit-learn pipeline
(:func:`build_pipeline`) and fitted per fold (:func:`fit_and_evaluate`). Tasks are
resolved by the caller and passed in. scikit-learn, pandas and model libraries are
imported only when a function runs.
"""

from __future__ import annotations

from typing import Any

from carnet.training.automl import AutoMLResult, LeaderboardEntry, run_automl
from carnet.training.estimators import MODELS, check_model_path, invalid_params, known_models, resolve_model
from carnet.training.fit import FitResult, FoldResult, ProgressFn, Scorer, fit_and_evaluate
from carnet.training.hpo import (
    SearchResult,
    TrialRecord,
    metric_direction,
    run_search,
    suggest,
    validate_space,
)
from carnet.training.preprocess import build_pipeline, build_preprocessor, column_kinds, model_choice
from carnet.training.spec import (
    DIRECTIONS,
    ENCODERS,
    IMPUTE_CATEGORICAL,
    IMPUTE_NUMERIC,
    PRUNERS,
    SAMPLERS,
    SCALERS,
    SPACE_TYPES,
    SPLIT_KINDS,
    close_matches,
    load_spec,
    parse_space,
    spec_to_dict,
    validate_against_data,
)

__all__ = [
    "DIRECTIONS",
    "ENCODERS",
    "IMPUTE_CATEGORICAL",
    "IMPUTE_NUMERIC",
    "MODELS",
    "PRUNERS",
    "SAMPLERS",
    "SCALERS",
    "SKOPS_TYPES",
    "SPACE_TYPES",
    "SPLIT_KINDS",
    "AutoMLResult",
    "CategoryStrings",
    "DateParts",
    "FitResult",
    "FoldResult",
    "LeaderboardEntry",
    "ProgressFn",
    "Scorer",
    "SearchResult",
    "TrialRecord",
    "build_pipeline",
    "build_preprocessor",
    "check_model_path",
    "close_matches",
    "column_kinds",
    "fit_and_evaluate",
    "invalid_params",
    "known_models",
    "load_spec",
    "metric_direction",
    "model_choice",
    "parse_space",
    "resolve_model",
    "run_automl",
    "run_search",
    "spec_to_dict",
    "suggest",
    "validate_against_data",
    "validate_space",
]

_TRANSFORMERS = ("CategoryStrings", "DateParts", "SKOPS_TYPES")


def __getattr__(name: str) -> Any:
    """The scikit-learn transformers, imported on first use (they need scikit-learn)."""
    if name in _TRANSFORMERS:
        from carnet.training import transformers

        return getattr(transformers, name)
    raise AttributeError(f"module 'carnet.training' has no attribute {name!r}")
