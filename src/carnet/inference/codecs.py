"""Wire codecs of inference: Open Inference Protocol v2 and the MLflow scoring protocol.

A request becomes a pandas DataFrame holding the signature's columns, in its order and
with its dtypes; outputs (``{"predict": array, ...}``) become response bytes. Columns are
built directly from the JSON lists by numpy (no per-row Python work on numeric data), and
frames whose columns share one numeric dtype are made from a single 2-D array.

The response encoders live with the model outputs in :mod:`carnet.inference.outputs`;
they are re-exported here so the whole wire API is importable from one module.

Every user mistake raises :class:`~carnet.errors.InvalidInput` whose ``field`` names the
culprit: ``body`` (not JSON, or not the expected shape), ``content_type``, the protocol
key (``inputs``, ``dataframe_split``, ...), a column, or a v2 input tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, cast

import numpy as np
import orjson
import pandas as pd

from carnet.domain.models import ColumnSpec, Signature
from carnet.errors import InvalidInput
from carnet.inference.binary import V2_DTYPES, input_chunks, read_tensor, requested_outputs, split_body
from carnet.inference.outputs import (
    encode_error,
    encode_mlflow_response,
    encode_v2_binary_response,
    encode_v2_response,
    v2_datatype,
)

__all__ = [
    "V2Request",
    "encode_error",
    "encode_mlflow_response",
    "encode_v2_binary_response",
    "encode_v2_response",
    "parse_v2_request",
    "v2_datatype",
    "validate_frame",
]

# column kinds of a signature dtype
_FLOAT, _INT, _BOOL, _TEXT, _CATEGORY, _OTHER, _ANY = "f", "i", "b", "s", "c", "x", "*"
_MAX_EXAMPLE = 60


@dataclass(frozen=True, slots=True)
class _Col:
    name: str
    dtype: str
    kind: str
    target: Any  # numpy dtype or pandas extension dtype; None for an unknown dtype (taken as given)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A signature compiled once: converters per column, the column index, the fast paths."""

    cols: tuple[_Col, ...]
    names: list[str]
    columns: pd.Index
    uniform: np.dtype | None  # the numpy dtype shared by every column, when numeric or bool
    targets: list[Any]
    kinds: tuple[_Col, ...]  # the first column of each kind


def _col(spec: ColumnSpec) -> _Col:
    try:
        target = pd.api.types.pandas_dtype(spec.dtype)
    except (TypeError, ValueError):
        return _Col(spec.name, spec.dtype, _ANY, None)
    if isinstance(target, np.dtype):
        if target.kind in "US":
            return _Col(spec.name, spec.dtype, _TEXT, np.dtype(object))
        kind = {"f": _FLOAT, "i": _INT, "u": _INT, "b": _BOOL, "O": _TEXT}.get(target.kind, _OTHER)
    else:
        kind = {pd.StringDtype: _TEXT, pd.CategoricalDtype: _CATEGORY}.get(type(target), _OTHER)
    return _Col(spec.name, spec.dtype, kind, target)


def _make_plan(cols: tuple[_Col, ...], columns: pd.Index) -> _Plan:
    targets = [c.target for c in cols]
    first = targets[0] if targets else None
    same = isinstance(first, np.dtype) and first.kind in "fiub" and all(t == first for t in targets)
    kinds: dict[str, _Col] = {}
    for c in cols:
        kinds.setdefault(c.kind, c)
    return _Plan(
        cols, [c.name for c in cols], columns, first if same else None, targets, tuple(kinds.values())
    )


_PLANS: dict[int, tuple[Signature, _Plan]] = {}


def _plan(signature: Signature) -> _Plan:
    """The compiled plan of ``signature`` (cached by identity; the cache holds the signature alive)."""
    hit = _PLANS.get(id(signature))
    if hit is not None and hit[0] is signature:
        return hit[1]
    cols = tuple(_col(c) for c in signature.inputs)
    plan = _make_plan(cols, pd.Index([c.name for c in cols]))
    if len(_PLANS) >= 256:
        _PLANS.clear()
    _PLANS[id(signature)] = (signature, plan)
    return plan


def _loose(plan: _Plan, names: Iterable[Any]) -> _Plan:
    """``plan``, or for a signature without inputs one taking the columns ``names`` as given."""
    if plan.cols:
        return plan
    names = list(names)
    return _make_plan(tuple(_Col(str(n), "any", _ANY, None) for n in names), pd.Index(names))


# ----------------------------------------------------------------------------- column conversion


def _show(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= _MAX_EXAMPLE else text[: _MAX_EXAMPLE - 3] + "..."


def _bad(col: _Col, value: Any, row: int, why: str = "") -> InvalidInput:
    hint = {_TEXT: " (a JSON string)", _BOOL: " (true or false)"}.get(col.kind, "")
    return InvalidInput(
        f"column {col.name!r} expects {col.dtype}{hint}; row {row} holds {_show(value)}{why}", field=col.name
    )


def _reject(col: _Col, arr: np.ndarray, mask: np.ndarray, why: str = "") -> None:
    """InvalidInput naming the first value of ``arr`` where ``mask`` is set, if any."""
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        raise _bad(col, arr[i], i, why)


def _scan(col: _Col, arr: Iterable[Any], ok: Callable[[Any], bool], why: str = "") -> None:
    """InvalidInput naming the first value ``ok`` refuses (object arrays only: a Python loop)."""
    for i, v in enumerate(arr):
        if not ok(v):
            raise _bad(col, v, i, why)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _objects(values: Any) -> np.ndarray:
    """A 1-D object array of ``values`` (nested lists stay elements)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _scalars(col: _Col, values: Any) -> np.ndarray:
    """``values`` as a 1-D numpy array with inferred type; InvalidInput when rows are not scalars."""
    arr = values
    if not isinstance(values, np.ndarray):
        try:
            arr = np.array(values)
        except (ValueError, TypeError, OverflowError):  # ragged nesting
            arr = _objects(values)
    if arr.ndim != 1:
        raise _bad(col, list(values[0]), 0, ": one scalar per row, not a list")
    if arr.dtype.kind == "O":
        _scan(col, arr, lambda v: not isinstance(v, list | dict | tuple), ": one scalar per row, not a list")
    return cast("np.ndarray", arr)


def _floats(col: _Col, values: Any) -> np.ndarray:
    arr = _scalars(col, values)
    kind = arr.dtype.kind
    if kind == "O":
        _scan(col, arr, lambda v: _is_number(v) or _missing(v))
        return np.array([np.nan if _missing(v) else v for v in arr], dtype=col.target)
    if kind not in "fiu":
        raise _bad(col, arr[0], 0)
    return arr.astype(col.target, copy=False)


def _ints(col: _Col, values: Any) -> np.ndarray:
    arr = _scalars(col, values)
    if arr.dtype.kind == "O":
        _scan(col, arr, lambda v: not _missing(v), ": missing values need a float column")
        _scan(col, arr, _is_number)
        arr = np.array(arr.tolist())
        if arr.dtype.kind == "O":  # integers beyond 64 bits
            raise _bad(col, arr[0], 0, ": out of range")
    kind = arr.dtype.kind
    if kind == "f":
        _reject(col, arr, np.isnan(arr), ": missing values need a float column")
        _reject(col, arr, ~np.isfinite(arr) | (arr != np.trunc(arr)), ": not a whole number")
    elif kind not in "iu":
        raise _bad(col, arr[0], 0)
    if arr.size and not np.can_cast(arr.dtype, col.target, "safe"):
        info = np.iinfo(col.target)
        _reject(col, arr, (arr < info.min) | (arr > info.max), f": out of range [{info.min}, {info.max}]")
    return arr.astype(col.target, copy=False)


def _bools(col: _Col, values: Any) -> np.ndarray:
    arr = _scalars(col, values)
    kind = arr.dtype.kind
    if kind in "iu":
        _reject(col, arr, (arr != 0) & (arr != 1))
    elif kind == "O":
        _scan(col, arr, lambda v: isinstance(v, bool | np.bool_))
    elif kind != "b":
        raise _bad(col, arr[0], 0)
    return arr.astype(bool, copy=False)


def _texts(col: _Col, values: Any) -> Any:
    if not isinstance(values, np.ndarray):
        arr = _objects(values)
    elif values.dtype.kind in "OUS":
        arr = values.astype(object, copy=False)
    else:
        raise _bad(col, values[0], 0)
    if not all(type(v) is str for v in arr):
        _scan(col, arr, lambda v: isinstance(v, str) or _missing(v))
    return arr if isinstance(col.target, np.dtype) else _extension(col, arr)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _extension(col: _Col, values: Any) -> Any:
    try:  # the ExtensionArray constructor itself: pd.array would dispatch on the dtype again
        return col.target.construct_array_type()._from_sequence(values, dtype=col.target)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"column {col.name!r} expects {col.dtype}: {_reason(exc)}", field=col.name
        ) from exc


def _others(col: _Col, values: Any) -> Any:
    """Columns of other dtypes (datetime, nullable integers, ...), converted by pandas."""
    arr = _scalars(col, values)
    try:
        series = pd.Series(arr, dtype=col.target, copy=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"column {col.name!r} expects {col.dtype}; {_show(arr[0])}... do not convert: {_reason(exc)}",
            field=col.name,
        ) from exc
    return series.array if isinstance(series.dtype, pd.api.extensions.ExtensionDtype) else series.to_numpy()


def _categories(col: _Col, values: Any) -> Any:
    return _extension(col, _scalars(col, values))


def _given(col: _Col, values: Any) -> np.ndarray:
    """A column of a signature that does not say its dtype: types inferred, text as objects."""
    arr = _scalars(col, values)
    return arr.astype(object) if arr.dtype.kind in "US" else arr


_CONVERTERS: dict[str, Callable[[_Col, Any], Any]] = {
    _FLOAT: _floats,
    _INT: _ints,
    _BOOL: _bools,
    _TEXT: _texts,
    _CATEGORY: _categories,
    _OTHER: _others,
    _ANY: _given,
}


def _column(col: _Col, values: Any) -> Any:
    """``values`` (a JSON list or a 1-D array) as an array of the column's dtype."""
    return _CONVERTERS[col.kind](col, values)


def _frame(plan: _Plan, arrays: Sequence[Any], n: int) -> pd.DataFrame:
    """A DataFrame of converted column ``arrays`` (one 2-D block when the plan is uniform)."""
    if plan.uniform is not None:
        block = np.empty((len(arrays), n), dtype=plan.uniform)
        for j, arr in enumerate(arrays):
            block[j] = arr
        return pd.DataFrame(block.T, columns=plan.columns, copy=False)  # pandas keeps (columns, rows) blocks
    if hasattr(pd.DataFrame, "_from_arrays"):
        try:  # pandas' own constructor, without re-inference (object text stays object): arrays are typed
            return pd.DataFrame._from_arrays(
                list(arrays), columns=plan.columns, index=pd.RangeIndex(n), verify_integrity=False
            )
        except (TypeError, ValueError):
            pass
    series = [pd.Series(arr, dtype=arr.dtype, copy=False) for arr in arrays]
    return pd.DataFrame(dict(zip(plan.columns, series, strict=True)), columns=plan.columns, copy=False)


def _block(plan: _Plan, rows: Any) -> np.ndarray | None:
    """Rows as one 2-D array of a uniform plan's dtype, when the values need no per-column check."""
    target = plan.uniform
    if target is None:
        return None
    try:
        block = np.array(rows)
    except (ValueError, TypeError, OverflowError):
        return None
    kind = block.dtype.kind
    if target.kind == "f":
        fits = kind in "fiu"
    elif target.kind == "b":
        fits = kind == "b"
    else:
        fits = kind in "iu" and np.can_cast(block.dtype, target, "safe")
    return block.astype(target, copy=False) if fits and block.ndim == 2 else None


def _no_rows(where: str) -> InvalidInput:
    return InvalidInput("the request holds no rows; send at least one", field=where)


def _match(plan: _Plan, given: Sequence[Any], allow_extra: bool, what: str = "column") -> list[int]:
    """For each signature column, its position in ``given``; InvalidInput on missing or extra names."""
    index: dict[Any, int] = {}
    for i, name in enumerate(given):
        if name in index:
            raise InvalidInput(f"{what} {name!r} is given twice", field=str(name))
        index[name] = i
    missing = [c for c in plan.names if c not in index]
    if missing:
        raise InvalidInput(
            f"missing {what}(s) {', '.join(map(repr, missing))}; the model takes {len(plan.names)}: "
            f"{', '.join(plan.names)}",
            field=missing[0],
        )
    if not allow_extra and len(index) > len(plan.names):
        extra = [str(n) for n in given if n not in plan.names]
        raise InvalidInput(
            f"unknown {what}(s) {', '.join(map(repr, extra))}; the model takes {', '.join(plan.names)}",
            field=extra[0],
        )
    return [index[c] for c in plan.names]


# ----------------------------------------------------------------------------- frames


def _dtypes(frame: pd.DataFrame) -> list[Any]:
    """The column dtypes of ``frame`` (from its block manager when pandas offers it: no Series built)."""
    getter = getattr(getattr(frame, "_mgr", None), "get_dtypes", None)
    return list(getter()) if callable(getter) else frame.dtypes.tolist()


def _same(actual: Any, target: Any) -> bool:
    """True when a column of dtype ``actual`` needs no conversion to ``target``."""
    if isinstance(target, pd.CategoricalDtype) and target.categories is None:
        return isinstance(actual, pd.CategoricalDtype)
    return bool(actual == target) if target is not None else True


def validate_frame(frame: pd.DataFrame, signature: Signature, *, allow_extra: bool = False) -> pd.DataFrame:
    """``frame`` with the signature's columns, in its order and with its dtypes.

    Ints are accepted for float columns, whole floats for int columns, null/NaN for float
    and text columns. A frame that already conforms is returned as is; otherwise a new frame
    (with a fresh RangeIndex) is built. A signature without inputs accepts any frame.

    Raises:
        InvalidInput: a missing column, an extra one (unless ``allow_extra``), or a value that
            does not convert; ``field`` names the column, the message the dtype and the value.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"expected a pandas DataFrame, got {type(frame).__name__}", field="frame")
    plan = _plan(signature)
    if not plan.cols:
        return frame
    if frame.columns is plan.columns or frame.columns.equals(plan.columns):
        dtypes = _dtypes(frame)
        if dtypes == plan.targets or all(_same(d, t) for d, t in zip(dtypes, plan.targets, strict=True)):
            return frame
    arrays = []
    for col, j in zip(plan.cols, _match(plan, list(frame.columns), allow_extra), strict=True):
        series = frame.iloc[:, j]
        if _same(series.dtype, col.target):
            arrays.append(series.to_numpy() if isinstance(col.target, np.dtype) else series.array)
        else:
            arrays.append(_column(col, series.to_numpy()))
    return _frame(plan, arrays, len(frame))


def _from_rows(
    plan: _Plan, rows: list[Any], columns: list[Any] | None, where: str, allow_extra: bool
) -> pd.DataFrame:
    """A frame from rows (lists); ``columns`` names their positions (None: the signature order)."""
    if not rows:
        raise _no_rows(where)
    if any(type(r) is not list for r in rows):
        raise InvalidInput(f"{where}: every row must be a list of values", field=where)
    plan = _loose(plan, columns if columns is not None else range(len(rows[0])))
    width = len(columns) if columns is not None else len(plan.cols)
    if any(len(r) != width for r in rows):
        bad = next(i for i, r in enumerate(rows) if len(r) != width)
        raise InvalidInput(
            f"{where}: every row must hold {width} values ({', '.join(map(str, columns or plan.names))}); "
            f"row {bad} holds {len(rows[bad])}",
            field=where,
        )
    order = list(range(width)) if columns is None else _match(plan, columns, allow_extra)
    block = _block(plan, rows)
    if block is not None:
        block = block if order == list(range(width)) else block[:, order]
        return pd.DataFrame(block, columns=plan.columns, copy=False)
    values = list(zip(*rows, strict=True))
    return _frame(plan, [_column(col, values[j]) for col, j in zip(plan.cols, order, strict=True)], len(rows))


def _from_records(plan: _Plan, records: list[Any], where: str, allow_extra: bool) -> pd.DataFrame:
    """A frame from ``[{column: value}, ...]``; a key absent from a record is a null."""
    if not records:
        raise _no_rows(where)
    if any(type(r) is not dict for r in records):
        raise InvalidInput(f"{where}: every record must be an object of column: value", field=where)
    plan = _loose(plan, dict.fromkeys(key for r in records for key in r) if not plan.cols else ())
    k = len(plan.cols)
    if not k:
        raise InvalidInput(f"{where}: the records hold no columns", field=where)
    try:
        rows = list(map(itemgetter(*plan.names), records))
    except KeyError:
        rows = None
    if rows is None or (not allow_extra and any(len(r) > k for r in records)):
        _match(plan, list(dict.fromkeys(key for r in records for key in r)), allow_extra)
        rows = rows or [tuple(r.get(c) for c in plan.names) for r in records]
    if k == 1:
        return _frame(plan, [_column(plan.cols[0], rows)], len(rows))
    block = _block(plan, rows)
    if block is not None:
        return pd.DataFrame(block, columns=plan.columns, copy=False)
    values = list(zip(*rows, strict=True))
    return _frame(plan, [_column(col, values[j]) for j, col in enumerate(plan.cols)], len(rows))


def _from_columns(plan: _Plan, data: Mapping[str, Any], where: str, allow_extra: bool) -> pd.DataFrame:
    """A frame from ``{column: [values]}``."""
    lengths = {len(v) for v in data.values()}
    if len(lengths) != 1:
        raise InvalidInput(f"{where}: every column must hold the same number of values", field=where)
    n = lengths.pop()
    if n == 0:
        raise _no_rows(where)
    plan = _loose(plan, data)
    _match(plan, list(data), allow_extra)
    return _frame(plan, [_column(col, data[col.name]) for col in plan.cols], n)


# ----------------------------------------------------------------------------- JSON


def _json(body: bytes | bytearray | memoryview | str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}", field="body") from exc


# ----------------------------------------------------------------------------- Open Inference Protocol v2

_NUMERIC = frozenset(k for k in V2_DTYPES if k not in ("BOOL", "BYTES"))
#: v2 datatypes each column kind takes, and the one to suggest
_ACCEPTS: dict[str, tuple[frozenset[str], str]] = {
    _FLOAT: (_NUMERIC, "FP64"),
    _INT: (_NUMERIC, "INT64"),
    _BOOL: (frozenset({"BOOL"}), "BOOL"),
    _TEXT: (frozenset({"BYTES"}), "BYTES"),
}


@dataclass(frozen=True, slots=True)
class V2Request:
    """A decoded v2 inference request: its id, the input frame, parameters and requested outputs."""

    id: str | None
    frame: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] | None = None
    binary: bool | frozenset[str] = False  # the outputs to answer as binary data: True for all, or names


@dataclass(frozen=True, slots=True)
class _Tensor:
    name: str
    datatype: str
    data: np.ndarray  # shaped as declared


def _tensor(raw: Any, i: int, chunk: memoryview | None = None) -> _Tensor:
    if type(raw) is not dict or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise InvalidInput(
            f"inputs[{i}] must be an object with name, shape, datatype and data", field="inputs"
        )
    name, datatype, shape, data = raw["name"], raw.get("datatype"), raw.get("shape"), raw.get("data")
    if datatype not in V2_DTYPES:
        raise InvalidInput(
            f"input {name!r} has datatype {datatype!r}; use one of {', '.join(V2_DTYPES)}", field=name
        )
    if type(shape) is not list or not 0 < len(shape) <= 2 or any(type(d) is not int or d < 0 for d in shape):
        raise InvalidInput(f"input {name!r} has shape {shape!r}; give [rows] or [rows, columns]", field=name)
    if chunk is not None:  # binary tensor data, its size checked against the shape
        return _Tensor(name, datatype, read_tensor(name, datatype, shape, chunk).reshape(shape))
    if type(data) is not list:
        raise InvalidInput(f'input {name!r} needs "data": a list of values (flat or nested)', field=name)
    arr = _tensor_data(name, datatype, data)
    if arr.size != math.prod(shape):
        raise InvalidInput(
            f"input {name!r} has shape {shape}, which holds {math.prod(shape)} values, but its data holds "
            f"{arr.size}",
            field=name,
        )
    return _Tensor(name, datatype, arr.reshape(shape))


def _tensor_data(name: str, datatype: str, data: list[Any]) -> np.ndarray:
    """The flat values of a tensor in its declared datatype; InvalidInput when they do not fit it."""
    target = V2_DTYPES[datatype]
    nested = bool(data) and type(data[0]) is list
    if nested and (any(type(r) is not list for r in data) or len(set(map(len, data))) != 1):
        raise InvalidInput(f"input {name!r}: nested data must be rectangular", field=name)
    if target is None:
        arr = _objects([v for row in data for v in row] if nested else data)
        if not all(type(v) is str for v in arr):
            bad = next((v for v in arr if not isinstance(v, str) and v is not None), None)
            if bad is not None:
                raise InvalidInput(
                    f"input {name!r} is BYTES but holds {_show(bad)}: send strings", field=name
                )
        return arr
    try:
        arr = np.array(data).reshape(-1)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput(f"input {name!r}: nested data must be rectangular", field=name) from None
    if arr.dtype.kind == "O" and target.kind == "f":
        try:  # nulls among numbers: NaN
            arr = np.array([np.nan if v is None else v for v in arr.tolist()], dtype=np.float64)
        except (TypeError, ValueError):
            pass
    kind = arr.dtype.kind
    if target.kind == "b":
        ok = kind == "b" or arr.size == 0
    elif target.kind == "f":
        ok = kind in "fiu"
    else:
        ok = kind in "iu" or (kind == "f" and bool(np.isfinite(arr).all() and (arr == np.trunc(arr)).all()))
    if not ok:
        bad = next((v for v in arr.tolist() if not _fits(v, target.kind)), arr[0])
        raise InvalidInput(f"input {name!r} is {datatype} but holds {_show(bad)}", field=name)
    if target.kind in "iu" and arr.size and not np.can_cast(arr.dtype, target, "safe"):
        info = np.iinfo(target)
        if arr.min() < info.min or arr.max() > info.max:
            raise InvalidInput(f"input {name!r} holds values outside the range of {datatype}", field=name)
    return arr.astype(target, copy=False)


def _fits(value: Any, kind: str) -> bool:
    if kind == "b":
        return isinstance(value, bool)
    return _is_number(value) and (kind == "f" or float(value).is_integer())


def _v2_frame(plan: _Plan, tensors: list[_Tensor], allow_extra: bool) -> pd.DataFrame:
    """The frame of decoded tensors: one per column, or a single [rows, k] matrix."""
    only = tensors[0]
    if (
        len(tensors) == 1
        and only.data.ndim == 2
        and not (only.name in plan.names and only.data.shape[1] == 1)
    ):
        return _v2_matrix(plan, only)
    n = len(only.data)
    for t in tensors:
        if t.data.ndim == 2 and t.data.shape[1] != 1:
            raise InvalidInput(
                f"input {t.name!r} has shape {list(t.data.shape)}; send one tensor per column with shape "
                f"[rows] or [rows, 1], or a single [rows, {len(plan.cols) or 'columns'}] tensor",
                field=t.name,
            )
        if len(t.data) != n:
            raise InvalidInput(
                f"input {t.name!r} has {len(t.data)} rows, {only.name!r} has {n}", field=t.name
            )
    if not n:
        raise _no_rows("inputs")
    plan = _loose(plan, [t.name for t in tensors])
    _match(plan, [t.name for t in tensors], allow_extra, "input")
    by_name = {t.name: t for t in tensors}
    arrays = []
    for col in plan.cols:
        tensor = by_name[col.name]
        _check_datatype(col, tensor)
        arrays.append(_column(col, tensor.data.reshape(n)))
    return _frame(plan, arrays, n)


def _v2_fast(plan: _Plan, inputs: list[Any]) -> pd.DataFrame | None:
    """The frame of flat per-column tensors of a uniform plan, decoded in one numpy call.

    Takes FP64 for float columns (else INT64 or BOOL); None when anything is unusual, and the
    general path then decodes the request and names the error.
    """
    if plan.uniform is None or len(inputs) != len(plan.cols):
        return None
    datatype = {"f": "FP64", "b": "BOOL"}.get(plan.uniform.kind, "INT64")
    try:
        by_name = {raw["name"]: raw for raw in inputs}
        ordered = [by_name[name] for name in plan.names]
        n = ordered[0]["shape"][0]
        if type(n) is not int or any(r["datatype"] != datatype or r["shape"] != [n] for r in ordered):
            return None
    except (KeyError, TypeError, IndexError):
        return None
    block = _block(plan, [raw["data"] for raw in ordered])
    if block is None or n < 1 or block.shape != (len(ordered), n):
        return None
    return pd.DataFrame(block.T, columns=plan.columns, copy=False)


def _v2_matrix(plan: _Plan, tensor: _Tensor) -> pd.DataFrame:
    """The columns of one [rows, k] tensor, mapped to the signature in order."""
    data = tensor.data
    n, k = data.shape
    if n == 0:
        raise _no_rows(tensor.name)
    plan = _loose(plan, range(k))
    if k != len(plan.cols):
        raise InvalidInput(
            f"input {tensor.name!r} has {k} columns; the model takes {len(plan.cols)}: "
            f"{', '.join(plan.names)}",
            field=tensor.name,
        )
    for col in plan.kinds:
        _check_datatype(col, tensor)
    uniform = plan.uniform
    if uniform is not None and (data.dtype == uniform or (uniform.kind == "f" and data.dtype.kind in "fiu")):
        return pd.DataFrame(data.astype(uniform, copy=False), columns=plan.columns, copy=False)
    return _frame(plan, [_column(col, data[:, j]) for j, col in enumerate(plan.cols)], n)


def _check_datatype(col: _Col, tensor: _Tensor) -> None:
    accepted, hint = _ACCEPTS.get(col.kind, (None, ""))
    if accepted is not None and tensor.datatype not in accepted:
        one = tensor.name == col.name
        where = f"input {tensor.name!r}" + ("" if one else f" (column {col.name!r})")
        hint = hint if one else f"{hint}, or one tensor per column when the columns' types differ"
        raise InvalidInput(
            f"{where} is {tensor.datatype} but column {col.name!r} is {col.dtype}; send {hint}",
            field=col.name,
        )


def parse_v2_request(
    body: bytes, signature: Signature, *, allow_extra: bool = False, header_length: str | int | None = None
) -> V2Request:
    """Decode an Open Inference Protocol v2 request into a validated frame.

    Inputs are either one tensor per column (name = column, shape [rows] or [rows, 1]) or a
    single [rows, k] tensor whose columns follow the signature's order. ``data`` may be flat
    (row-major) or nested. Numeric datatypes fill numeric columns (whole values only for int
    columns), BOOL fills bool columns, BYTES (strings) fills text columns. With ``header_length``
    (``Inference-Header-Content-Length``) the body is JSON then binary tensor data.

    Raises:
        InvalidInput: not JSON (``field="body"``); a malformed request (``inputs``, ``id``,
            ``parameters``, ``outputs``); an unknown datatype, a shape that does not match
            the data or binary data, a missing, extra or mistyped column (the input or column).
    """
    header, section = split_body(body, header_length)
    doc = _json(header)
    if type(doc) is not dict:
        raise InvalidInput('an inference request is a JSON object with an "inputs" list', field="body")
    inputs, request_id = doc.get("inputs"), doc.get("id")
    parameters = {} if doc.get("parameters") is None else doc["parameters"]
    if type(inputs) is not list or not inputs:
        raise InvalidInput(
            '"inputs" must be a non-empty list of {"name", "shape", "datatype", "data"}', field="inputs"
        )
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput('"id" must be a string', field="id")
    if type(parameters) is not dict:
        raise InvalidInput('"parameters" must be an object', field="parameters")
    outputs, binary = requested_outputs(doc.get("outputs"), parameters)
    chunks = input_chunks(inputs, section)
    plan = _plan(signature)
    frame = None if any(c is not None for c in chunks) else _v2_fast(plan, inputs)
    if frame is None:
        frame = _v2_frame(plan, list(map(_tensor, inputs, range(len(inputs)), chunks)), allow_extra)
    return V2Request(request_id, frame, parameters, outputs, binary)


# ----------------------------------------------------------------------------- MLflow scoring protocol
