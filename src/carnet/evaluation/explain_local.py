"""Per-prediction explanations of any fitted model on its raw input columns: SHAP (model-agnostic
permutation explainer, exact additivity), LIME (local linear surrogate) or, when neither library is
installed, permutation importance (global only).

The explained quantity is what a user reads off the model: the predicted value of a regressor, the
probability of the positive class of a binary classifier, and for a multiclass classifier the
probability of the class predicted for each row.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from carnet.errors import InvalidInput

__all__ = ["INSTALL_HINT", "METHODS", "LocalExplanation", "available", "choose_method", "explain_rows"]

METHODS = ("shap", "lime", "permutation")
INSTALL_HINT = 'pip install "carnet[explain]"'
_LIBRARY = {"shap": "shap", "lime": "lime"}


def available(method: str) -> bool:
    """Whether the library of ``method`` can be imported (permutation needs none)."""
    library = _LIBRARY.get(method)
    if library is None:
        return True
    if library in sys.modules:
        return sys.modules[library] is not None  # None: marked as not importable
    try:
        return importlib.util.find_spec(library) is not None
    except (ImportError, ValueError):
        return False


def choose_method(requested: str | None) -> tuple[str, str | None]:
    """The method that will run and, when it is not SHAP, why (with the install command).

    With no method requested, SHAP runs when installed, else LIME, else permutation importance
    (the note says which ran and how to install the others). A method named explicitly runs or
    is refused: an explicit choice never silently becomes another.

    Raises:
        InvalidInput: an unknown method, or one named explicitly whose library is not installed.
    """
    if requested is None:
        for method in METHODS:
            if available(method):
                if method == "shap":
                    return method, None
                return method, f"shap is not installed ({INSTALL_HINT}); {method} ran instead"
    if requested not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}, got {requested!r}", field="method")
    if not available(requested):
        raise InvalidInput(
            f"method {requested} needs the {_LIBRARY[requested]} library, which is not installed: "
            f"{INSTALL_HINT}",
            field="method",
        )
    return requested, None


@dataclass
class LocalExplanation:
    """Attributions of each explained row (feature -> contribution), its prediction and the base
    value the contributions start from, and the mean absolute attribution of each feature."""

    method: str
    output: str  # what is explained, e.g. "P(target = 1)" or "prediction"
    features: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    global_importance: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "output": self.output,
            "features": self.features,
            "rows": self.rows,
            "global": self.global_importance,
            "note": self.note,
        }


def _explained(model: Any, family: str) -> tuple[Callable[[pd.DataFrame], np.ndarray], str, Any]:
    """The function of a frame that is explained, its name, and the per-row class (multiclass)."""
    if family != "classification" or not callable(getattr(model, "predict_proba", None)):
        return (lambda X: np.asarray(model.predict(X), dtype=float)), "prediction", None
    classes = list(getattr(model, "classes_", []))
    if len(classes) == 2:
        return (lambda X: np.asarray(model.predict_proba(X))[:, 1]), f"P(class = {classes[1]})", None
    return (lambda X: np.asarray(model.predict_proba(X))), "P(predicted class)", classes


def _frame(values: np.ndarray, like: pd.DataFrame) -> pd.DataFrame:
    """A 2-d array back into a frame with ``like``'s columns and dtypes."""
    frame = pd.DataFrame(values, columns=like.columns)
    for column, dtype in like.dtypes.items():
        try:
            frame[column] = frame[column].astype(dtype)
        except (TypeError, ValueError):
            pass
    return frame


def explain_rows(
    model: Any,
    X: pd.DataFrame,
    background: pd.DataFrame,
    *,
    method: str,
    family: str,
    seed: int = 0,
    y: Any = None,
    max_evals: int | None = None,
) -> LocalExplanation:
    """Explain ``model`` on the rows of ``X`` against ``background`` (rows standing for "typical").

    Args:
        model: a fitted model taking a frame with ``X``'s columns.
        X: the rows to explain.
        background: reference rows (a sample of the training or evaluation data).
        method: ``shap``, ``lime`` or ``permutation`` (see :func:`choose_method`).
        family: the task family (``classification``, ``regression`` ...).
        y: the true values of ``X`` (only permutation importance needs them).

    Raises:
        InvalidInput: no rows, or permutation importance without ``y``.
    """
    if len(X) == 0:
        raise InvalidInput("no rows to explain", field="rows")
    features = [str(c) for c in X.columns]
    f, output, classes = _explained(model, family)
    if method == "permutation":
        return _permutation(model, X, y, family, features, output, seed)
    predicted = None
    if classes is not None:
        labels = np.asarray(model.predict(X))
        predicted = [classes.index(label) if label in classes else 0 for label in labels]
    if method == "shap":
        return _shap(f, X, background, features, output, predicted, seed, max_evals)
    if method == "lime":
        return _lime(f, X, background, features, output, predicted, family, seed)
    raise InvalidInput(f"method must be one of {', '.join(METHODS)}, got {method!r}", field="method")


def _summary(rows: list[dict[str, Any]], features: list[str]) -> list[dict[str, Any]]:
    table = [
        {"feature": name, "mean_abs": float(np.mean([abs(r["attributions"][name]) for r in rows]))}
        for name in features
    ]
    return sorted(table, key=lambda r: -r["mean_abs"])


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    return "nan" if _missing(value) else str(value)


class _Codec:
    """Rows as numbers for the explainers (categorical columns as integer codes), and back."""

    def __init__(self, X: pd.DataFrame, background: pd.DataFrame) -> None:
        self.X = X
        self.categorical = [j for j, c in enumerate(X.columns) if not pd.api.types.is_numeric_dtype(X[c])]
        self.codes: dict[int, list[Any]] = {}  # the values of each categorical column, by their text
        for j in self.categorical:
            seen: dict[str, Any] = {}
            for value in pd.concat([background.iloc[:, j], X.iloc[:, j]]).tolist():
                seen.setdefault(_text(value), np.nan if _missing(value) else value)
            self.codes[j] = [seen[k] for k in sorted(seen)]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.zeros(frame.shape, dtype=float)
        for j in range(frame.shape[1]):
            column = frame.iloc[:, j]
            if j in self.codes:
                index = {_text(v): k for k, v in enumerate(self.codes[j])}
                out[:, j] = [index.get(_text(v), 0) for v in column]
            else:
                numbers = pd.to_numeric(column, errors="coerce")
                out[:, j] = numbers.fillna(numbers.median() if numbers.notna().any() else 0.0)
        return out

    def decode(self, values: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(values, columns=self.X.columns).astype(object)
        for j, labels in self.codes.items():
            frame.iloc[:, j] = [labels[round(k) % len(labels)] for k in values[:, j]]
        return _frame(frame.to_numpy(dtype=object), self.X)


def _shap(
    f: Callable[[pd.DataFrame], np.ndarray],
    X: pd.DataFrame,
    background: pd.DataFrame,
    features: list[str],
    output: str,
    predicted: Sequence[int] | None,
    seed: int,
    max_evals: int | None,
) -> LocalExplanation:
    with warnings.catch_warnings():  # shap's own notices at import
        warnings.simplefilter("ignore")
        import shap

    codec = _Codec(X, background)

    def fn(values: np.ndarray) -> np.ndarray:
        return f(codec.decode(values))

    masker = shap.maskers.Independent(codec.encode(background), max_samples=len(background))
    explainer = shap.explainers.Permutation(fn, masker, seed=seed)
    evals = max_evals or max(500, 2 * len(features) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = explainer(codec.encode(X), max_evals=evals, silent=True)
    values, base = np.asarray(result.values), np.asarray(result.base_values)
    prediction = f(X)
    rows = []
    for i in range(len(X)):
        v, b, p = values[i], base[i], prediction[i]
        if predicted is not None:  # multiclass: the row's predicted class
            k = predicted[i]
            v, b, p = v[:, k], b[k], p[k]
        rows.append(
            {
                "row": int(X.index[i]) if isinstance(X.index[i], int | np.integer) else str(X.index[i]),
                "prediction": float(p),
                "base_value": float(b),
                "attributions": {name: float(v[j]) for j, name in enumerate(features)},
            }
        )
    return LocalExplanation("shap", output, features, rows, _summary(rows, features))


def _lime(
    f: Callable[[pd.DataFrame], np.ndarray],
    X: pd.DataFrame,
    background: pd.DataFrame,
    features: list[str],
    output: str,
    predicted: Sequence[int] | None,
    family: str,
    seed: int,
) -> LocalExplanation:
    from lime.lime_tabular import LimeTabularExplainer

    codec = _Codec(X, background)
    encode, decode, categorical, codes = codec.encode, codec.decode, codec.categorical, codec.codes

    classification = family == "classification" and output != "prediction"
    binary = classification and predicted is None

    def fn(values: np.ndarray) -> np.ndarray:
        out = f(decode(values))
        if binary:
            return np.column_stack([1 - out, out])
        return out

    explainer = LimeTabularExplainer(
        encode(background),
        mode="classification" if classification else "regression",
        feature_names=features,
        categorical_features=categorical,
        categorical_names={j: [str(v) for v in codes[j]] for j in codes},
        discretize_continuous=False,
        random_state=seed,
    )
    encoded = encode(X)
    prediction = f(X)
    rows = []
    for i in range(len(X)):
        label = 1 if binary else (predicted[i] if predicted is not None else 0)
        kwargs: dict[str, Any] = {"num_features": len(features), "num_samples": 1000}
        if classification:
            kwargs["labels"] = (label,)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = explainer.explain_instance(encoded[i], fn, **kwargs)
        key = label if classification else 1  # lime files a regression under key 1
        weights = dict(ex.as_map()[key])
        intercept = ex.intercept[key] if isinstance(ex.intercept, dict) else ex.intercept
        p = prediction[i][label] if predicted is not None else prediction[i]
        rows.append(
            {
                "row": int(X.index[i]) if isinstance(X.index[i], int | np.integer) else str(X.index[i]),
                "prediction": float(p),
                "base_value": float(intercept),
                "attributions": {name: float(weights.get(j, 0.0)) for j, name in enumerate(features)},
                "local_fit": float(ex.score),
            }
        )
    return LocalExplanation("lime", output, features, rows, _summary(rows, features))


def _permutation(
    model: Any, X: pd.DataFrame, y: Any, family: str, features: list[str], output: str, seed: int
) -> LocalExplanation:
    if y is None:
        raise InvalidInput(
            f"permutation importance needs the true values: include the target column, or install "
            f"SHAP or LIME ({INSTALL_HINT}) for per-row explanations",
            field="data",
        )
    from sklearn.inspection import permutation_importance

    scoring = "accuracy" if family == "classification" else "r2"
    result = permutation_importance(model, X, y, scoring=scoring, n_repeats=5, random_state=seed)
    drops = [float(result.importances_mean[j]) for j in range(len(features))]
    order = sorted(range(len(features)), key=lambda j: -drops[j])
    table: list[dict[str, Any]] = [{"feature": features[j], "mean_abs": drops[j]} for j in order]
    note = f"permutation importance ({scoring} drop): global only, no per-row attributions"
    return LocalExplanation("permutation", output, features, [], table, note)
