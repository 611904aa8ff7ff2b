"""What a served model returns, and how it is written on the wire.

:func:`model_outputs` runs the model once per output (predictions, and probabilities for
classifiers); the encoders turn those arrays into Open Inference Protocol v2 and MLflow
scoring responses with orjson (numeric arrays are serialised by orjson straight from numpy),
and v2 outputs asked for as binary data into raw little-endian bytes after the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np
import orjson
import pandas as pd

from carnet.errors import InvalidInput
from carnet.inference.binary import join_body, tensor_bytes
from carnet.plugins.api import final_step

__all__ = [
    "encode_error",
    "encode_mlflow_response",
    "encode_v2_binary_response",
    "encode_v2_response",
    "model_outputs",
    "output_metadata",
    "v2_datatype",
]


def model_outputs(
    model: Any, frame: pd.DataFrame, family: str | None, classes: Sequence[Any] | None = None
) -> dict[str, np.ndarray]:
    """The outputs of ``model`` on ``frame``: one vectorised call per output.

    Args:
        model: a loaded model with ``predict`` (and ``predict_proba`` for classifiers).
        frame: the validated input rows.
        family: the task family of the model version (``classification``, ``regression``...);
            ``None`` counts as classification when ``classes`` are known.
        classes: the class labels recorded at registration; when given, ``predict_proba``
            must have one column per class.

    Returns:
        ``{"predict": labels or values}``, plus ``{"predict_proba": rows x classes float64}``
        for a classifier that has ``predict_proba``.

    Raises:
        ValueError: the model returned a number of rows (or probability columns) that does
            not match the frame (or the classes).
    """
    rows = frame.shape[0]
    if family == "multitask":
        return _multitask_outputs(model, frame)
    predictions = np.asarray(model.predict(frame))
    if predictions.shape[:1] != (rows,):
        raise ValueError(f"the model returned {predictions.shape[:1] or 'no'} predictions for {rows} rows")
    out = {"predict": predictions}
    classifier = family == "classification" or (family is None and bool(classes))
    if classifier and callable(getattr(model, "predict_proba", None)):
        proba = np.asarray(model.predict_proba(frame), dtype=np.float64)
        if proba.ndim != 2 or len(proba) != rows or (classes and proba.shape[1] != len(classes)):
            raise ValueError(
                f"predict_proba returned shape {proba.shape}; expected ({rows}, "
                f"{len(classes) if classes else 'classes'})"
            )
        out["predict_proba"] = proba
    return out


def _multitask_outputs(model: Any, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A multitask model's outputs: each target's labels or values by the target's name, and a
    classification target's probabilities as ``<target>_proba``."""
    head, last = final_step(model)
    inputs = head.transform(frame) if head is not None else frame
    out: dict[str, np.ndarray] = {}
    for target in last.targets_:
        out[str(target)] = np.asarray(last.predict_target(inputs, target))
        proba = last.predict_proba_target(inputs, target)
        if proba is not None:
            out[f"{target}_proba"] = np.asarray(proba, dtype=np.float64)
    return out


def output_metadata(
    model: Any,
    family: str | None,
    classes: Sequence[Any] | None,
    prediction_dtype: str,
    example: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """The v2 metadata of the outputs :func:`model_outputs` returns for this model, by the same names:
    ``predict`` (one value per row) and, for a classifier with ``predict_proba``, ``predict_proba``
    (rows x classes, FP64, its ``parameters.classes`` naming the columns).

    The datatypes are those of the model's answer to ``example`` (the registered input example)
    when it answers; else the labels' (``classes_``) for a classifier, or ``prediction_dtype``.
    """
    if family == "multitask":
        return _multitask_metadata(model, example)
    classifier = family == "classification" or (family is None and bool(classes))
    labels = getattr(model, "classes_", None)
    probe: dict[str, np.ndarray] = {}
    if example is not None and len(example):
        try:
            probe = model_outputs(model, example, family, classes)
        except Exception:  # noqa: BLE001 - a model that fails on its example: the declared types
            probe = {}
    if "predict" in probe:
        predict_type = v2_datatype(probe["predict"].dtype)
    elif classifier and labels is not None:
        predict_type = v2_datatype(np.asarray(labels).dtype)
    else:
        predict_type = v2_datatype(prediction_dtype)
    out: list[dict[str, Any]] = [{"name": "predict", "datatype": predict_type, "shape": [-1]}]
    if classifier and callable(getattr(model, "predict_proba", None)):
        names = list(classes) if classes else ([] if labels is None else np.asarray(labels).tolist())
        proba: dict[str, Any] = {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(names) or -1]}
        if names:
            proba["parameters"] = {
                "classes": [c if isinstance(c, int | float | str | bool) else str(c) for c in names]
            }
        out.append(proba)
    return out


def _multitask_metadata(model: Any, example: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One output per target (and ``<target>_proba`` for a classification target)."""
    last = final_step(model)[1]
    probe: dict[str, np.ndarray] = {}
    if example is not None and len(example):
        try:
            probe = _multitask_outputs(model, example)
        except Exception:  # noqa: BLE001 - a model that fails on its example: the declared types
            probe = {}
    out: list[dict[str, Any]] = []
    for target in last.targets_:
        name = str(target)
        kind = last.target_types_[target]
        fallback = "BYTES" if kind == "classification" else "FP64"
        out.append(
            {
                "name": name,
                "datatype": v2_datatype(probe[name].dtype) if name in probe else fallback,
                "shape": [-1],
            }
        )
        if kind == "classification":
            classes = [
                c if isinstance(c, int | float | str | bool) else str(c)
                for c in np.asarray(last.classes_[target]).tolist()
            ]
            out.append(
                {
                    "name": f"{name}_proba",
                    "datatype": "FP64",
                    "shape": [-1, len(classes)],
                    "parameters": {"classes": classes},
                }
            )
    return out


def v2_datatype(dtype: Any) -> str:
    """The v2 datatype of a numpy or pandas dtype (text, objects and dates are ``BYTES``)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return "BYTES"
    if dt.kind == "b":
        return "BOOL"
    if dt.kind in "iu" and dt.itemsize <= 8:
        return f"{'UINT' if dt.kind == 'u' else 'INT'}{dt.itemsize * 8}"
    return f"FP{min(dt.itemsize, 8) * 8}" if dt.kind == "f" else "BYTES"


def _plain(arr: np.ndarray) -> Any:
    """An array as orjson serialises it: numeric arrays natively, anything else as lists."""
    kind = arr.dtype.kind
    if kind == "f" and arr.dtype.itemsize > 8:
        arr = arr.astype(np.float64)
    if kind in "biuf":
        return np.ascontiguousarray(arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("=")))
    if kind in "Mmc":
        return arr.astype(str).tolist()
    return arr.tolist()


def encode_error(message: str) -> bytes:
    """The protocols' error body: ``{"error": message}``."""
    return orjson.dumps({"error": message})


def encode_v2_response(
    model_name: str,
    model_version: str | int | None,
    request_id: str | None,
    outputs: Mapping[str, np.ndarray],
    requested: Sequence[str] | None = None,
) -> bytes:
    """A v2 inference response: every output (or those ``requested``, in that order) as a tensor.

    Raises:
        InvalidInput: a requested output the model does not produce (``field="outputs"``).
    """
    return encode_v2_binary_response(model_name, model_version, request_id, outputs, requested, False)[0]


def encode_v2_binary_response(
    model_name: str,
    model_version: str | int | None,
    request_id: str | None,
    outputs: Mapping[str, np.ndarray],
    requested: Sequence[str] | None = None,
    binary: bool | AbstractSet[str] = True,
) -> tuple[bytes, int | None]:
    """A v2 inference response with the outputs in ``binary`` (True: all) sent as binary data.

    Returns:
        The body (the JSON header, then the binary data of those outputs in order) and the
        length of the JSON header, for ``Inference-Header-Content-Length``; None when no
        output is binary, the body then being plain JSON.

    Raises:
        InvalidInput: a requested output the model does not produce (``field="outputs"``).
    """
    names = list(outputs) if requested is None else list(requested)
    unknown = [n for n in names if n not in outputs]
    if unknown:
        raise InvalidInput(
            f"unknown output(s) {', '.join(map(repr, unknown))}; this model returns {', '.join(outputs)}",
            field="outputs",
        )
    doc: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        doc["model_version"] = str(model_version)
    if request_id is not None:
        doc["id"] = request_id
    tensors, chunks = [], []
    for name in names:
        arr = np.asarray(outputs[name])
        datatype = v2_datatype(arr.dtype)
        tensor: dict[str, Any] = {"name": name, "shape": list(arr.shape), "datatype": datatype}
        if binary if isinstance(binary, bool) else name in binary:
            chunks.append(tensor_bytes(arr, datatype))
            tensor["parameters"] = {"binary_data_size": len(chunks[-1])}
        else:
            flat = arr.reshape(-1)
            tensor["data"] = [_text(v) for v in flat.tolist()] if datatype == "BYTES" else _plain(flat)
        tensors.append(tensor)
    doc["outputs"] = tensors
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    return join_body(header, chunks) if chunks else (header, None)


def _text(value: Any) -> Any:
    if isinstance(value, str) or value is None:
        return value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def encode_mlflow_response(outputs: Mapping[str, np.ndarray]) -> bytes:
    """``{"predictions": [...]}``: the ``predict`` output (labels or values), like MLflow's pyfunc; a
    model with several targets (no ``predict``) answers one record per row, ``{target: value}``, as
    MLflow does for a pyfunc returning a DataFrame."""
    if not outputs:
        raise ValueError("no outputs to encode")
    if "predict" not in outputs:
        columns = {k: np.asarray(v) for k, v in outputs.items() if np.asarray(v).ndim == 1}
        if len(columns) > 1:
            frame = pd.DataFrame(columns)
            return orjson.dumps(
                {"predictions": frame.to_dict(orient="records")}, option=orjson.OPT_SERIALIZE_NUMPY
            )
    predictions = outputs["predict"] if "predict" in outputs else next(iter(outputs.values()))
    return orjson.dumps({"predictions": _plain(np.asarray(predictions))}, option=orjson.OPT_SERIALIZE_NUMPY)
