"""The ``explainability`` gate: global attributions, forbidden features, stability.

Attributions are mean absolute SHAP values (``shap.TreeExplainer`` on the final estimator
of tree models, over the preprocessed matrix, summed back to the raw input columns) or
permutation importance for other models. The gate fails when a forbidden column (a
sensitive attribute, an identifier) ranks in the top k, or when the ranking is unstable
across bootstrap resamples of the evaluation rows.

    gates:
      - type: explainability
        top_k: 5
        forbidden: [customer_id, sex]
        stability: {n_bootstrap: 5, min_rank_correlation: 0.7}
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from carnet.domain.policies import GateResult
from carnet.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from carnet.gates.context import GateContext

__all__ = [
    "METHODS",
    "Attributions",
    "ExplainabilityGate",
    "explain",
    "global_attributions",
    "input_map",
    "is_tree_model",
    "rank_correlation",
    "split_model",
]

#: how attributions are computed: ``auto`` = SHAP for supported tree models, else permutation
METHODS = ("auto", "shap", "permutation")
DEFAULT_MAX_ROWS = 2000
DEFAULT_TOP_K = 5
DEFAULT_STABILITY = {"n_bootstrap": 5, "min_rank_correlation": 0.7}
#: attributions under this share of the largest one are noise: tied at zero when ranking
NEGLIGIBLE = 0.01

#: estimators SHAP's TreeExplainer handles, by module prefix -> class names (None = any)
_TREE_MODELS: dict[str, frozenset[str] | None] = {
    # LightGBM models loaded back by carnet's native flavor wrap a Booster (``booster_``)
    "carnet.flavors.lightgbm": frozenset({"LightGBMModel", "LightGBMClassifierModel"}),
    "sklearn.ensemble": frozenset(
        {
            "RandomForestClassifier",
            "RandomForestRegressor",
            "ExtraTreesClassifier",
            "ExtraTreesRegressor",
            "GradientBoostingClassifier",
            "GradientBoostingRegressor",
            "HistGradientBoostingClassifier",
            "HistGradientBoostingRegressor",
            "IsolationForest",
        }
    ),
    "sklearn.tree": frozenset(
        {"DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor"}
    ),
    "lightgbm": frozenset({"LGBMClassifier", "LGBMRegressor", "LGBMRanker", "Booster"}),
    "xgboost": frozenset({"XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor", "Booster"}),
    "catboost": None,
}
_SETTINGS = ("method", "top_k", "forbidden", "stability", "max_rows", "n_repeats")
_IGNORED = ("type", "name", "label", "description")
_SENTINEL = re.compile(r"^\x1f(\d+)\x1f")


@dataclass
class Attributions:
    """Global attributions of one model over its raw input columns.

    Attributes:
        features: the raw input columns, in the order of ``X``.
        importance: one number per feature (mean |SHAP|, or mean permutation score drop).
        method: ``shap`` or ``permutation``.
        rows: evaluation rows used (a seeded sample of at most ``max_rows``).
        per_row: |SHAP| per row and feature (SHAP only), for cheap bootstrap resamples.
        note: why ``auto`` did not use SHAP, when it fell back.
    """

    features: list[str]
    importance: np.ndarray
    method: str
    rows: int
    per_row: np.ndarray | None = None
    note: str | None = None

    def table(self) -> list[dict[str, Any]]:
        """``[{"feature", "importance"}]``, most important first (ties keep column order)."""
        import numpy as np

        order = np.argsort(-self.importance, kind="stable")
        return [{"feature": self.features[i], "importance": float(self.importance[i])} for i in order]


# -- model anatomy -------------------------------------------------------------------------------


def _inner(model: Any) -> Any:
    """The fitted model a label-encoding wrapper holds, else ``model``."""
    fitted = getattr(model, "estimator_", None)
    return fitted if fitted is not None and type(model).__name__ == "LabelEncodedClassifier" else model


def split_model(model: Any) -> tuple[Any, Any]:
    """``(preprocessing or None, final estimator)`` of a fitted model or pipeline."""
    inner = _inner(model)
    steps = getattr(inner, "steps", None)
    if not steps:
        return None, inner
    final = _inner(steps[-1][1])
    return (inner[:-1] if len(steps) > 1 else None), final


def is_tree_model(estimator: Any) -> bool:
    """Whether SHAP's TreeExplainer supports ``estimator`` (sklearn trees, LightGBM, XGBoost...)."""
    module, name = type(estimator).__module__, type(estimator).__name__
    for prefix, names in _TREE_MODELS.items():
        if module == prefix or module.startswith(prefix + "."):
            return names is None or name in names
    return False


def _column_indices(columns: Any, names_in: list[str], n_in: int) -> list[int]:
    """A ColumnTransformer column selection as input positions."""
    import numpy as np

    if isinstance(columns, str | int):
        columns = [columns]
    if isinstance(columns, slice):
        return list(range(n_in))[columns]
    values = list(columns)
    if values and all(isinstance(v, bool | np.bool_) for v in values):
        return [i for i, keep in enumerate(values) if keep]
    return [names_in.index(str(v)) if isinstance(v, str) else int(v) for v in values]


def _match(name: str, names: list[str]) -> int:
    """The input an output column comes from: same name, else the longest ``<input>_`` prefix."""
    if name in names:
        return names.index(name)
    prefixes = [(len(n), i) for i, n in enumerate(names) if name.startswith(n + "_")]
    if not prefixes:
        raise ValueError(f"cannot tell which input column {name!r} comes from")
    return max(prefixes)[1]


def input_map(step: Any, n_in: int) -> list[int]:
    """For each output column of a fitted transformer, the position of the input it derives from.

    Pipelines are followed step by step and ColumnTransformers through their slices; other
    transformers through ``get_feature_names_out`` (one-hot ``col_value``, date ``col_part``).

    Raises:
        ValueError: an output cannot be traced back to an input.
    """
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return list(range(n_in))
    steps = getattr(step, "steps", None)
    if steps is not None:
        mapping = list(range(n_in))
        for _, sub in steps:
            mapping = [mapping[i] for i in input_map(sub, len(mapping))]
        return mapping
    if hasattr(step, "transformers_") and hasattr(step, "output_indices_"):
        names_in = [str(n) for n in getattr(step, "feature_names_in_", [])]
        width = max((s.stop for s in step.output_indices_.values()), default=0)
        out = [-1] * width
        resolved = getattr(step, "_transformer_to_input_indices", {})
        for name, transformer, columns in step.transformers_:
            piece = step.output_indices_.get(name, slice(0, 0))
            if piece.stop == piece.start or (isinstance(transformer, str) and transformer == "drop"):
                continue
            idx = list(resolved[name]) if name in resolved else _column_indices(columns, names_in, n_in)
            for j, i in enumerate(input_map(transformer, len(idx))):
                out[piece.start + j] = idx[i]
        if -1 in out:
            raise ValueError("a column transformer output has no input column")
        return out
    own = getattr(step, "feature_names_in_", None)
    if own is not None:
        names = [str(n) for n in own]
        return [_match(str(n), names) for n in step.get_feature_names_out(names)]
    sentinels = [f"\x1f{i}\x1f" for i in range(n_in)]
    out_map = []
    for name in step.get_feature_names_out(sentinels):
        found = _SENTINEL.match(str(name))
        if found is None:
            raise ValueError(f"cannot tell which input column {name!r} of {type(step).__name__} comes from")
        out_map.append(int(found.group(1)))
    return out_map


# -- attributions --------------------------------------------------------------------------------


def _sample(n: int, max_rows: int, seed: int) -> np.ndarray:
    """Seeded sorted row positions, all rows when there are at most ``max_rows``."""
    import numpy as np

    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def _shap(model: Any, X: pd.DataFrame) -> np.ndarray:
    """|SHAP| per row and raw column of ``X`` (transformed columns summed back to their source)."""
    import numpy as np

    with warnings.catch_warnings():  # shap's own deprecation notices at import
        warnings.simplefilter("ignore")
        import shap

    pre, final = split_model(model)
    if not is_tree_model(final):
        raise ValueError(
            f"SHAP TreeExplainer supports tree models, not {type(final).__name__}; use method permutation"
        )
    if pre is None:
        matrix, names_in, mapping = X, list(X.columns), list(range(X.shape[1]))
    else:
        matrix = pre.transform(X)
        names_in = [str(n) for n in getattr(pre, "feature_names_in_", X.columns)]
        mapping = input_map(pre, len(names_in))
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    if len(mapping) != matrix.shape[1]:
        raise ValueError(f"{len(mapping)} traced columns for {matrix.shape[1]} preprocessed columns")
    with warnings.catch_warnings():  # shap notes output-format changes of some libraries
        warnings.simplefilter("ignore")
        explained = final.booster_ if type(final).__module__ == "carnet.flavors.lightgbm" else final
        values = shap.TreeExplainer(explained).shap_values(matrix, check_additivity=False)
    if isinstance(values, list):  # older shap: one (n, T) array per class
        values = np.stack(values, axis=-1)
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[:, :, None]
    columns = [str(c) for c in X.columns]
    groups = np.zeros((values.shape[1], len(columns)))
    for out, source in enumerate(mapping):
        name = names_in[source]
        if name in columns:
            groups[out, columns.index(name)] = 1.0
    raw = np.einsum("ntk,tf->nfk", values, groups)  # signed sum of a raw column's parts
    return np.asarray(np.abs(raw).mean(axis=2))


def _permutation(
    model: Any, X: pd.DataFrame, target: np.ndarray, family: str, seed: int, n_repeats: int
) -> np.ndarray:
    """Mean score drop per column of ``X`` when it is shuffled (accuracy or R²)."""
    import numpy as np

    from carnet.evaluation.importance import permutation_importance_table

    scoring = "accuracy" if family == "classification" else "r2"
    table, _ = permutation_importance_table(model, X, target, scoring, seed, n_repeats, max_rows=len(X))
    by_name = {row["feature"]: row["importance_mean"] for row in table}
    return np.asarray([by_name.get(str(c), 0.0) for c in X.columns], dtype=float)


def _family(task: Any) -> str:
    family = str(getattr(task, "family", task))
    if family not in ("classification", "regression"):
        raise InvalidInput(
            f"explanations need a classification or regression task, not {family!r}", field="task"
        )
    return family


def explain(
    model: Any,
    X: pd.DataFrame,
    task: Any,
    method: str = "auto",
    seed: int = 0,
    max_rows: int = DEFAULT_MAX_ROWS,
    *,
    y: Any = None,
    n_repeats: int = 5,
) -> Attributions:
    """Global attributions of ``model`` over the raw columns of ``X`` (see :func:`global_attributions`)."""
    import numpy as np

    if method not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}, got {method!r}", field="method")
    family = _family(task)
    rows = _sample(len(X), max_rows, seed)
    sample = X.iloc[rows]
    features = [str(c) for c in X.columns]
    note = None
    if method in ("auto", "shap"):
        _, final = split_model(model)
        if method == "shap" or is_tree_model(final):
            try:
                per_row = _shap(model, sample)
                return Attributions(features, per_row.mean(axis=0), "shap", len(rows), per_row)
            except Exception as exc:
                if method == "shap":
                    raise
                if isinstance(exc, ImportError):
                    note = 'SHAP is not installed (pip install "carnet[explain]"); used permutation'

                else:
                    note = f"SHAP failed ({type(exc).__name__}: {exc}); used permutation importance"
    target = np.asarray(model.predict(sample) if y is None else np.asarray(y)[rows])
    importance = _permutation(model, sample, target, family, seed, n_repeats)
    return Attributions(features, importance, "permutation", len(rows), None, note)


def global_attributions(
    model: Any,
    X: pd.DataFrame,
    task: Any,
    method: str = "auto",
    seed: int = 0,
    max_rows: int = DEFAULT_MAX_ROWS,
    *,
    y: Any = None,
    n_repeats: int = 5,
) -> list[dict[str, Any]]:
    """``[{"feature", "importance"}]`` over the raw columns of ``X``, most important first.

    Args:
        model: a fitted model or pipeline (``preprocess`` + estimator).
        X: rows to explain; a seeded sample of ``max_rows`` is used.
        task: the task (or its family): classification or regression.
        method: ``shap`` = mean |SHAP| of a tree model, the attributions of one-hot and
            date parts summed back to their raw column; ``permutation`` = mean drop of
            accuracy / R² when a column is shuffled; ``auto`` = SHAP when the final estimator
            is a tree model SHAP supports, else permutation.
        seed: seeds the sample and the shuffles.
        max_rows: rows used at most.
        y: true targets for permutation importance (default: the model's own predictions,
            which measures how much its output depends on each column).
        n_repeats: shuffles per column for permutation importance.

    Raises:
        InvalidInput: unknown method, or a task that is neither classification nor regression.
        ValueError: ``method: shap`` on a model SHAP cannot explain.
    """
    return explain(model, X, task, method, seed, max_rows, y=y, n_repeats=n_repeats).table()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two attribution vectors.

    Values under 1% of a vector's largest one (noise-level, or negative permutation drops)
    count as tied at zero, so reshuffling features that do not matter is not instability.
    Two constant vectors correlate 1.0 when equal, else 0.0.
    """
    import numpy as np
    from scipy.stats import spearmanr

    def floor(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        top = float(values.max()) if len(values) else 0.0
        return np.where(values < NEGLIGIBLE * top, 0.0, values) if top > 0 else np.zeros_like(values)

    a, b = floor(a), floor(b)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.allclose(a, b) else 0.0
    return float(spearmanr(a, b).statistic)


def _stability(
    att: Attributions,
    model: Any,
    sample: pd.DataFrame,
    target: np.ndarray,
    family: str,
    seed: int,
    n_bootstrap: int,
    n_repeats: int,
) -> list[float]:
    """Rank correlation of each bootstrap resample's attributions with the full sample's."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = att.rows
    out = []
    for b in range(n_bootstrap):
        idx = rng.integers(0, n, size=n)
        if att.per_row is not None:
            again = att.per_row[idx].mean(axis=0)
        else:
            resample = sample.iloc[idx].reset_index(drop=True)
            again = _permutation(model, resample, target[idx], family, seed + b + 1, n_repeats)
        out.append(rank_correlation(again, att.importance))
    return out


# -- the gate ------------------------------------------------------------------------------------


def _fail(message: str, **details: Any) -> GateResult:
    return GateResult(
        gate="explainability", type="explainability", passed=False, error=message, details=details
    )


def _whole(config: dict[str, Any], key: str, default: int, low: int, field: str | None = None) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInput(
            f"{field or key} must be a whole number >= {low}, got {value!r}", field=field or key
        )
    return cast("int", value)


def _stability_settings(config: dict[str, Any]) -> dict[str, Any] | None:
    """The stability settings with defaults, None when disabled (``stability: false``)."""
    value = config.get("stability", DEFAULT_STABILITY)
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise InvalidInput(
            "stability must be a mapping like {n_bootstrap: 5, min_rank_correlation: 0.7}, or false",
            field="stability",
        )
    for key in value:
        if key not in DEFAULT_STABILITY:
            raise InvalidInput(
                f"unknown stability setting {key!r}; known: n_bootstrap, min_rank_correlation",
                field=f"stability.{key}",
            )
    settings = {**DEFAULT_STABILITY, **value}
    _whole(settings, "n_bootstrap", 5, 1, "stability.n_bootstrap")
    corr = settings["min_rank_correlation"]
    if isinstance(corr, bool) or not isinstance(corr, int | float) or not -1 <= corr <= 1:
        raise InvalidInput(
            f"stability.min_rank_correlation must be between -1 and 1, got {corr!r}",
            field="stability.min_rank_correlation",
        )
    return settings


class ExplainabilityGate:
    """Global attributions; no forbidden feature in the top k; a ranking stable under resampling."""

    name = "explainability"
    description = (
        "global attributions (SHAP for tree models, permutation importance otherwise); "
        "no forbidden feature in the top k; stable ranking across bootstrap samples"
    )

    def validate(self, config: dict[str, Any]) -> None:
        """Check the settings; InvalidInput names the bad one."""
        for key in config:
            if key not in _SETTINGS and key not in _IGNORED:
                raise InvalidInput(
                    f"unknown explainability setting {key!r}; known: {', '.join(_SETTINGS)}", field=key
                )
        if config.get("method", "auto") not in METHODS:
            raise InvalidInput(
                f"method must be one of {', '.join(METHODS)}, got {config.get('method')!r}", field="method"
            )
        _whole(config, "top_k", DEFAULT_TOP_K, 1)
        _whole(config, "max_rows", DEFAULT_MAX_ROWS, 10)
        _whole(config, "n_repeats", 5, 1)
        forbidden = config.get("forbidden", [])
        if not isinstance(forbidden, list) or not all(isinstance(f, str) for f in forbidden):
            raise InvalidInput(
                "forbidden must be a list of column names, e.g. [customer_id, sex]", field="forbidden"
            )
        _stability_settings(config)

    def check(self, config: dict[str, Any], ctx: GateContext) -> GateResult:
        """Compute the candidate's attributions on the evaluation data and judge them."""
        import numpy as np

        try:
            self.validate(config)
        except InvalidInput as exc:
            return _fail(str(exc))

        method = str(config.get("method", "auto"))
        top_k = int(config.get("top_k", DEFAULT_TOP_K))
        max_rows = int(config.get("max_rows", DEFAULT_MAX_ROWS))
        n_repeats = int(config.get("n_repeats", 5))
        forbidden = [str(f) for f in config.get("forbidden", [])]
        try:
            stability = _stability_settings(config)
            X = ctx.X()
            truth = np.asarray(ctx.truth()) if ctx.target is not None else None
            att = explain(
                ctx.candidate, X, ctx.task, method, ctx.seed, max_rows, y=truth, n_repeats=n_repeats
            )
            correlations: list[float] = []
            if stability is not None:
                rows = _sample(len(X), max_rows, ctx.seed)
                sample = X.iloc[rows].reset_index(drop=True)
                target = np.asarray(ctx.candidate.predict(sample) if truth is None else truth[rows])
                correlations = _stability(
                    att, ctx.candidate, sample, target, _family(ctx.task), ctx.seed,
                    int(stability["n_bootstrap"]), n_repeats,
                )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a model that cannot be explained fails the gate
            return _fail(f"{type(exc).__name__}: {exc}", method=method)
        return self._verdict(att, top_k, forbidden, stability, correlations)

    def _verdict(
        self,
        att: Attributions,
        top_k: int,
        forbidden: list[str],
        stability: dict[str, Any] | None,
        correlations: list[float],
    ) -> GateResult:
        from carnet.evaluation import jsonable

        table = att.table()
        top = [row["feature"] for row in table if row["importance"] > 0][:top_k]
        found = [f for f in forbidden if f in top]
        measured = [f"top {top_k}: {', '.join(top) or 'none'}"]
        threshold = [
            f"no forbidden feature in top {top_k}" + (f" ({', '.join(forbidden)})" if forbidden else "")
        ]
        passed = not found
        stats: dict[str, Any] | None = None
        value = None
        if stability is not None:
            low, mean = min(correlations), sum(correlations) / len(correlations)
            value = low
            stats = {**stability, "min": low, "mean": mean, "correlations": correlations}
            stats["passed"] = low >= float(stability["min_rank_correlation"])
            passed = passed and stats["passed"]
            measured.append(f"min rank corr {low:.2f}")
            threshold.append(f"rank corr >= {float(stability['min_rank_correlation']):g}")
        if found:
            measured.insert(0, f"forbidden in top {top_k}: {', '.join(found)}")
        measured.append(f"by {att.method}" + (f" ({att.note})" if att.note else ""))
        details = {
            "method": att.method,
            "rows": att.rows,
            "attributions": table,
            "top_k": top,
            "k": top_k,
            "forbidden": forbidden,
            "forbidden_in_top_k": found,
            "forbidden_not_features": [f for f in forbidden if f not in att.features],
            "stability": stats,
            "note": att.note,
        }
        return GateResult(
            gate=self.name,
            type=self.name,
            passed=passed,
            measured="; ".join(measured),
            threshold=", ".join(threshold),
            value=value,
            details=jsonable(details),
        )
