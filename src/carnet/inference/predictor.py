"""Compiled predictors: the cheapest exact way to get a loaded model's outputs for a validated frame.

A served request has already been checked against the model's signature, so its columns are
the signature's, in order, with the signature's dtypes. :func:`compile_predictor` uses that to
skip work the model would otherwise repeat on every call, and keeps a shortcut only when it
gives the same outputs as the plain path on the model's registered input example:

* **shared preprocessing**: for a scikit-learn ``Pipeline`` classifier the preprocessing steps
  run once and feed both ``predict`` and ``predict_proba`` of the final step (the plain path
  runs them twice, once per output);
* **arrays instead of frames**: when every input column is numeric and the model was fitted on
  exactly the signature's columns, the frame goes in as one float64 array, sparing pandas'
  per-call column checks (the same values, in the order the model was fitted on).

Anything else (other frameworks, text columns, a pipeline that selects columns by name) uses
:func:`carnet.inference.outputs.model_outputs` unchanged.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from carnet.errors import InvalidInput
from carnet.inference.outputs import model_outputs

__all__ = ["Predictor", "compile_predictor"]

Predictor = Callable[[pd.DataFrame], dict[str, np.ndarray]]
_log = logging.getLogger(__name__)
# scikit-learn warns on every call when an estimator fitted on a DataFrame gets an array; the
# array path only runs after the signature check fixed the columns and their order.
_FEATURE_NAMES_WARNING = re.escape("X does not have valid feature names")


def compile_predictor(
    model: Any,
    family: str | None,
    classes: Sequence[Any] | None,
    columns: Sequence[str],
    example: pd.DataFrame | None,
) -> tuple[Predictor, str]:
    """The fastest predictor for ``model`` that matches the plain path on ``example``.

    Args:
        model: the loaded model.
        family: the task family of the version (see :func:`model_outputs`).
        classes: the class labels recorded at registration, if any.
        columns: the signature's input column names, in order.
        example: a validated frame of the registered input example; without one (or when it
            cannot be predicted) the plain path is used.

    Returns:
        The predictor and the name of the path taken (``plain``, ``shared``, ``array`` or
        ``shared+array``), for logs and tests.

    Raises:
        InvalidInput: ``model`` has no ``predict``: it is not a model that can be served, so the
            version is never reported ready.
    """
    if not callable(getattr(model, "predict", None)):
        cls = type(model)
        raise InvalidInput(
            f"the loaded object is a {cls.__module__}.{cls.__qualname__}, not a model with predict; "
            "it cannot be served",
            field="model",
        )

    def plain(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return model_outputs(model, frame, family, classes)

    if example is None or len(example) == 0:
        return plain, "plain"
    try:
        expected = plain(example)
    except Exception:  # noqa: BLE001 - the example is only a probe; serving reports real errors
        return plain, "plain"
    candidates: list[tuple[str, Predictor]] = []
    array_ok = _array_ready(model, example, columns)
    shared = _shared(model, family, classes)
    if shared is not None and array_ok:
        candidates.append(("shared+array", _as_array(shared)))
    if shared is not None:
        candidates.append(("shared", shared))
    if array_ok:
        candidates.append(("array", _as_array(plain)))
    if array_ok:
        warnings.filterwarnings("ignore", message=_FEATURE_NAMES_WARNING, category=UserWarning)
    for name, predictor in candidates:
        if _same_outputs(predictor, example, expected):
            return predictor, name
    return plain, "plain"


def _same_outputs(predictor: Predictor, example: pd.DataFrame, expected: dict[str, np.ndarray]) -> bool:
    """Whether ``predictor`` gives exactly ``expected`` on ``example``."""
    try:
        got = predictor(example)
    except Exception:  # noqa: BLE001 - a shortcut that fails is simply not taken
        return False
    if set(got) != set(expected):
        return False
    return all(
        np.asarray(got[k]).dtype == np.asarray(expected[k]).dtype and np.array_equal(got[k], expected[k])
        for k in expected
    )


def _array_ready(model: Any, example: pd.DataFrame, columns: Sequence[str]) -> bool:
    """Whether the model may take the frame as a float64 array: numeric inputs, fitted on them."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or [str(n) for n in names] != [str(c) for c in columns]:
        return False
    if list(map(str, example.columns)) != [str(c) for c in columns]:
        return False
    return all(isinstance(d, np.dtype) and d.kind in "iuf" for d in example.dtypes)


def _as_array(predictor: Predictor) -> Predictor:
    """``predictor`` fed the frame's values as one float64 array.

    The array is the one scikit-learn would make of the frame itself (same memory order), so
    the arithmetic, and with it every last bit of the outputs, stays the same.
    """

    def run(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return predictor(frame.to_numpy(dtype=np.float64))

    return run


def _shared(model: Any, family: str | None, classes: Sequence[Any] | None) -> Predictor | None:
    """For a scikit-learn Pipeline classifier: preprocess once, then predict and predict_proba."""
    steps = getattr(model, "steps", None)
    classifier = family == "classification" or (family is None and bool(classes))
    if not classifier or not isinstance(steps, list) or len(steps) < 2:
        return None
    final = steps[-1][1]
    if not (callable(getattr(final, "predict", None)) and callable(getattr(final, "predict_proba", None))):
        return None
    try:
        head = model[:-1]
    except Exception:  # noqa: BLE001 - not a slicable pipeline
        return None
    if not callable(getattr(head, "transform", None)):
        return None

    def run(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return model_outputs(final, head.transform(frame), family, classes)

    return run
