"""ONNX export of scikit-learn models, run back with onnxruntime.

Export is explicit: this flavor is never chosen automatically. :func:`export_onnx` takes
the input schema from a sample DataFrame (its column names and dtypes);
:meth:`OnnxFlavor.dumps` derives it from the fitted model (``feature_names_in_`` or
``n_features_in_``, all numeric). Numeric inputs become one float matrix ``X`` whose
columns are matched by name at predict time; a model that starts with a
``ColumnTransformer``, or takes text columns, gets one graph input per column.
Classifiers are exported with ``zipmap=False`` so probabilities are a plain tensor. Loading gives an
:class:`OnnxModel` with ``predict`` (and ``predict_proba`` for classifiers); inference runs
in float32, so numbers match scikit-learn's within :attr:`OnnxFlavor.tolerance`.

A file whose tensors point to external data files is refused (it could read local files).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from carnet.errors import CarnetError, InvalidInput, PermissionDenied
from carnet.flavors.base import decode_labels, encode_labels, wrap_load_error

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["OnnxFlavor", "OnnxModel", "export_onnx"]

_FEATURES_KEY = "carnet.features"
_CLASSES_KEY = "carnet.classes"
_PROBA = "probabilities"

#: onnxruntime input type -> numpy dtype name ("object" for strings)
_NUMPY_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def _strings(values: Any) -> Any:
    """A string input as carnet's pipelines see categories: missing values (NaN, None, ``pd.NA``) as
    ``"nan"``, integral floats as integers (``1.0`` and ``1`` are one category)."""
    import numpy as np
    import pandas as pd

    out = np.empty(values.shape, dtype=object)
    for index, value in np.ndenumerate(values):
        if value is None or pd.isna(value):
            out[index] = "nan"
        elif isinstance(value, float) and value.is_integer():
            out[index] = str(int(value))
        else:
            out[index] = str(value)
    return out


def _is_onnx_proto(model: Any) -> bool:
    return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")


def _leaves(model: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(step path, estimator) of every leaf estimator of pipelines, column transformers and unions."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    def join(name: str) -> str:
        return f"{path}/{name}" if path else name

    if isinstance(model, Pipeline):
        for name, step in model.steps:
            if step is not None and not isinstance(step, str):
                yield from _leaves(step, join(name))
    elif isinstance(model, ColumnTransformer):
        for name, est, _cols in getattr(model, "transformers_", model.transformers):
            if not isinstance(est, str):
                yield from _leaves(est, join(name))
    elif isinstance(model, FeatureUnion):
        for name, est in model.transformer_list:
            if not isinstance(est, str):
                yield from _leaves(est, join(name))
    else:
        yield path or type(model).__name__, model


def _unsupported(model: Any) -> list[str]:
    """Steps of ``model`` skl2onnx has no converter for, as ``path (module.Class)``."""
    from skl2onnx import get_model_alias

    def known(est: Any) -> bool:
        try:
            get_model_alias(type(est))
        except RuntimeError:
            return False
        return True

    return [
        f"{path} ({type(est).__module__}.{type(est).__qualname__})"
        for path, est in _leaves(model)
        if not known(est)
    ]


def _selects_columns(model: Any) -> bool:
    """True when the model starts with a ColumnTransformer (it needs one graph input per column)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline) and model.steps:
        model = model.steps[0][1]
    return isinstance(model, ColumnTransformer)


def _types_from_sample(model: Any, sample: pd.DataFrame) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    inputs: list[tuple[str, Any]] = []
    for column, dtype in sample.dtypes.items():
        kind = getattr(dtype, "kind", "O")
        if kind in "fb":
            inputs.append((str(column), FloatTensorType([None, 1])))
        elif kind in "iu":
            inputs.append((str(column), Int64TensorType([None, 1])))
        elif kind in "OUS" or str(dtype) in ("category", "string", "str"):
            inputs.append((str(column), StringTensorType([None, 1])))
        else:
            raise InvalidInput(
                f"column {column!r} has dtype {dtype}, which ONNX export does not support; "
                "convert it to numbers or strings first",
                field="sample",
            )
    numeric = all(isinstance(t, FloatTensorType | Int64TensorType) for _, t in inputs)
    if numeric and not _selects_columns(model):
        return [("X", FloatTensorType([None, len(inputs)]))]
    return inputs


def _types_from_model(model: Any) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType

    names = getattr(model, "feature_names_in_", None)
    if names is not None and _selects_columns(model):
        return [(str(n), FloatTensorType([None, 1])) for n in names]
    n = len(names) if names is not None else getattr(model, "n_features_in_", None)
    if isinstance(n, int) and n > 0:
        return [("X", FloatTensorType([None, n]))]
    raise InvalidInput(
        f"cannot tell the inputs of {type(model).__name__}: fit it first, or use export_onnx(model, sample)",
        field="model",
    )


def _convert(model: Any, inputs: list[tuple[str, Any]], features: list[str] | None) -> bytes:
    """ONNX bytes of a fitted scikit-learn model, with carnet's metadata (features, class labels)."""
    try:
        from skl2onnx import convert_sklearn
    except ImportError as exc:
        raise InvalidInput("ONNX export needs skl2onnx: pip install 'carnet[onnx]'", field="model") from exc
    from sklearn.base import is_classifier

    options = {id(est): {"zipmap": False} for _, est in _leaves(model) if is_classifier(est)}
    try:
        proto = convert_sklearn(model, initial_types=inputs, options=options or None)
    except Exception as exc:  # noqa: BLE001 - every converter failure becomes one InvalidInput
        bad = _unsupported(model)
        if bad:
            raise InvalidInput(
                f"cannot export {type(model).__name__} to ONNX: no converter for step {', '.join(bad)}",
                field="model",
            ) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InvalidInput(
            f"cannot export {type(model).__name__} to ONNX: {type(exc).__name__}: {first}", field="model"
        ) from exc
    proto.graph.name = type(model).__name__  # skl2onnx picks a random one: keep equal models byte-identical
    props = {_FEATURES_KEY: json.dumps(features)} if features is not None else {}
    classes = getattr(model, "classes_", None)
    if classes is not None and is_classifier(model):
        props[_CLASSES_KEY] = json.dumps(encode_labels(classes))
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return bytes(proto.SerializeToString())


def export_onnx(model: Any, sample: pd.DataFrame) -> bytes:
    """ONNX bytes of a fitted scikit-learn model, its inputs typed from the columns of ``sample``.

    All-numeric columns become one float matrix ``X`` (columns matched by name at predict
    time); with text columns, or a model starting with a ColumnTransformer, each column
    is its own graph input.

    Args:
        model: a fitted estimator or pipeline whose steps skl2onnx can convert.
        sample: a DataFrame with the model's input columns; only names and dtypes are used
            (floats and booleans -> float, integers -> int64, text and categories -> string).

    Raises:
        InvalidInput: ``sample`` is not a DataFrame, a column type is unsupported, or a step of
            the model has no ONNX converter (named in the message).
    """
    if not hasattr(sample, "columns") or not hasattr(sample, "dtypes"):
        raise InvalidInput("sample must be a pandas DataFrame of the model's inputs", field="sample")
    features = [str(c) for c in sample.columns]
    return _convert(model, _types_from_sample(model, sample), features)


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of a graph, its nodes' attributes and subgraphs included."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _attribute_tensors(node.attribute)


def _attribute_tensors(attributes: Any) -> Iterator[Any]:
    for attr in attributes:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("g"):
            yield from _tensors(attr.g)
        for sub in attr.graphs:
            yield from _tensors(sub)


def _check_model_bytes(data: bytes) -> None:
    """Parse ``data`` as an ONNX model and refuse references to external data files."""
    try:
        import onnx
    except ImportError as exc:
        raise InvalidInput(
            "loading ONNX models needs onnx: pip install 'carnet[onnx]'", field="data"
        ) from exc
    try:
        proto = onnx.load_model_from_string(bytes(data))
    except Exception as exc:  # noqa: BLE001 - protobuf decoding errors of foreign bytes
        raise InvalidInput(f"not an ONNX model file ({type(exc).__name__}: {exc})", field="data") from exc
    if not proto.HasField("graph") or not proto.graph.output:
        raise InvalidInput("not an ONNX model file (no graph outputs)", field="data")
    tensors = list(_tensors(proto.graph))
    for function in proto.functions:
        for node in function.node:
            tensors.extend(_attribute_tensors(node.attribute))
    if any(t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data) for t in tensors):
        raise PermissionDenied(
            "ONNX model refers to external data files; carnet loads self-contained models only"
        )


class OnnxModel:
    """A loaded ONNX model behind a scikit-learn-like API (``predict``, ``predict_proba``, ``classes_``).

    Args:
        data: the ONNX bytes (checked: no external data; then run by onnxruntime on CPU).
    """

    def __init__(self, data: bytes) -> None:
        _check_model_bytes(data)
        import onnxruntime

        self.onnx_bytes = bytes(data)
        try:
            self._session = onnxruntime.InferenceSession(self.onnx_bytes, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime failures on foreign bytes
            raise wrap_load_error(exc, "the ONNX model") from exc
        meta = self._session.get_modelmeta().custom_metadata_map
        self._inputs = list(self._session.get_inputs())
        self.output_names = [o.name for o in self._session.get_outputs()]
        self.input_names = [i.name for i in self._inputs]
        features = json.loads(meta[_FEATURES_KEY]) if _FEATURES_KEY in meta else None
        self.feature_names_in_ = [str(f) for f in features] if isinstance(features, list) else None
        if _CLASSES_KEY in meta:
            self.classes_ = decode_labels(json.loads(meta[_CLASSES_KEY]))

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (type(self), (self.onnx_bytes,))

    def __repr__(self) -> str:
        return f"OnnxModel(inputs={self.input_names}, outputs={self.output_names})"

    def _feed(self, X: Any) -> dict[str, Any]:
        import numpy as np

        def cast(values: Any, onnx_type: str, name: str) -> Any:
            dtype = _NUMPY_TYPES.get(onnx_type)
            if dtype is None:
                raise InvalidInput(f"ONNX input {name!r} has unsupported type {onnx_type}", field="X")
            if dtype == "object":
                return _strings(np.asarray(values, dtype=object))
            return np.asarray(values).astype(dtype)

        frame = hasattr(X, "columns")
        first = self._inputs[0]
        if len(self._inputs) == 1 and (len(first.shape) != 2 or first.shape[1] != 1):
            if frame and self.feature_names_in_:
                missing = [c for c in self.feature_names_in_ if c not in X.columns]
                if missing:
                    raise InvalidInput(f"input is missing column(s) {', '.join(missing)}", field="X")
                X = X[self.feature_names_in_]
            values = X.to_numpy() if frame else np.asarray(X)
            return {first.name: cast(values, first.type, first.name)}
        if frame:
            # ONNX input names are sanitised ("mean radius" -> "mean_radius"): the recorded
            # feature names give each input its original column, in the same order
            names = self.feature_names_in_
            columns = names if names and len(names) == len(self._inputs) else self.input_names
            missing = [c for c in columns if c not in X.columns]
            if missing:
                raise InvalidInput(f"input is missing column(s) {', '.join(missing)}", field="X")
            return {
                i.name: cast(X[c].to_numpy().reshape(-1, 1), i.type, i.name)
                for i, c in zip(self._inputs, columns, strict=True)
            }
        arr = np.asarray(X)
        if arr.ndim != 2 or arr.shape[1] != len(self._inputs):
            raise InvalidInput(
                f"expected a 2-d input with {len(self._inputs)} columns ({', '.join(self.input_names)})",
                field="X",
            )
        return {i.name: cast(arr[:, [k]], i.type, i.name) for k, i in enumerate(self._inputs)}

    def run(self, X: Any) -> dict[str, Any]:
        """Every graph output for ``X`` (a DataFrame or a 2-d array), by output name."""
        return dict(zip(self.output_names, self._session.run(None, self._feed(X)), strict=True))

    def predict(self, X: Any) -> Any:
        """The first graph output (a classifier's labels, a regressor's values), 1-d for one column."""
        out = self._session.run([self.output_names[0]], self._feed(X))[0]
        return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out

    @property
    def predict_proba(self) -> Callable[[Any], Any]:
        """Class probabilities (only when the graph has a ``probabilities`` output)."""
        if _PROBA not in self.output_names:
            raise AttributeError("this ONNX model has no probabilities output")
        return self._predict_proba

    def _predict_proba(self, X: Any) -> Any:
        return self._session.run([_PROBA], self._feed(X))[0]


class OnnxFlavor:
    """scikit-learn models exported to ONNX and served by onnxruntime (explicit export only)."""

    name = "onnx"
    file_name = "model.onnx"
    requires_opt_in = False
    #: float32 inference: predictions match the original within this absolute/relative tolerance
    tolerance = 1e-5

    def can_save(self, model: Any) -> bool:
        """True for an OnnxModel, an ONNX ModelProto, or a fitted estimator skl2onnx can convert."""
        if isinstance(model, OnnxModel) or _is_onnx_proto(model):
            return True
        if not hasattr(model, "get_params"):
            return False
        try:
            self.dumps(model)
        except CarnetError:
            return False
        return True

    def dumps(self, model: Any) -> bytes:
        """ONNX bytes; the input schema comes from the fitted model (see :func:`export_onnx` for a sample).

        Raises:
            InvalidInput: the inputs cannot be derived, or a step has no ONNX converter.
        """
        if isinstance(model, OnnxModel):
            return model.onnx_bytes
        if _is_onnx_proto(model):
            return bytes(model.SerializeToString())
        if not hasattr(model, "get_params"):
            raise InvalidInput(f"{type(model).__name__} is not a scikit-learn model", field="model")
        inputs = _types_from_model(model)
        names = getattr(model, "feature_names_in_", None)
        features = [str(n) for n in names] if names is not None else None
        return _convert(model, inputs, features)

    def loads(self, data: bytes, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> OnnxModel:
        """An :class:`OnnxModel` over the bytes.

        ``trusted`` and ``allow_pickle`` are accepted for a uniform call and ignored: nothing is unpickled.

        Raises:
            InvalidInput: not an ONNX model onnxruntime can run.
            PermissionDenied: the model refers to external data files.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"an ONNX model file must be bytes, got {type(data).__name__}", field="data")
        return OnnxModel(bytes(data))
