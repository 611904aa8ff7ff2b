"""The MLflow scoring protocol (``POST /invocations``): JSON forms and CSV into a checked DataFrame.

Split from :mod:`carnet.inference.codecs`, whose column plans and converters it shares.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from carnet.domain.models import Signature
from carnet.errors import InvalidInput
from carnet.inference.codecs import (
    _CATEGORY,
    _TEXT,
    _column,
    _frame,
    _from_columns,
    _from_records,
    _from_rows,
    _json,
    _no_rows,
    _Plan,
    _plan,
    _reason,
    validate_frame,
)

__all__ = ["parse_mlflow_request"]


_MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_MLFLOW_FORMS = (
    'a JSON object with exactly one of "dataframe_split" ({"columns": [...], "data": [[...], ...]}), '
    '"dataframe_records" ([{"column": value, ...}, ...]), "instances" or "inputs" (a list of records '
    'or rows, or an object of column: [values]), optionally with "params"; or text/csv with a header row'
)


def parse_mlflow_request(
    body: bytes, content_type: str | None, signature: Signature, *, allow_extra: bool = False
) -> pd.DataFrame:
    """Decode an MLflow scoring request (``POST /invocations``) into a validated frame.

    Accepts ``application/json`` with ``dataframe_split``, ``dataframe_records``,
    ``instances`` or ``inputs`` (records, positional rows, a column mapping, or one record),
    and ``text/csv`` with a header row. ``params`` is tolerated and ignored.

    Raises:
        InvalidInput: an unsupported content type (``field="content_type"``), a body that is
            not one of the accepted forms (``body`` or the key used), a missing, extra or
            mistyped column (the column name).
    """
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    plan = _plan(signature)
    if media == "text/csv":
        return _from_csv(plan, signature, body, allow_extra)
    if media != "application/json" and not media.endswith("+json"):
        raise InvalidInput(
            f"content type {media!r} is not supported; send application/json or text/csv",
            field="content_type",
        )
    doc = _json(body)
    keys = [k for k in _MLFLOW_KEYS if k in doc] if type(doc) is dict else []
    if len(keys) != 1 or any(k not in _MLFLOW_KEYS and k != "params" for k in doc):
        got = f"; got keys {sorted(doc)}" if type(doc) is dict else ""
        raise InvalidInput(f"the request must be {_MLFLOW_FORMS}{got}", field="body")
    key = keys[0]
    value = doc[key]
    if key == "dataframe_split":
        columns = value.get("columns") if type(value) is dict else None
        if (
            type(value) is not dict
            or type(value.get("data")) is not list
            or not (columns is None or (type(columns) is list and all(isinstance(c, str) for c in columns)))
        ):
            raise InvalidInput('dataframe_split needs {"columns": [names], "data": [[...], ...]}', field=key)
        return _from_rows(plan, value["data"], columns, key, allow_extra)
    if key == "dataframe_records":
        if type(value) is not list:
            raise InvalidInput("dataframe_records must be a list of {column: value} objects", field=key)
        return _from_records(plan, value, key, allow_extra)
    return _from_any(plan, value, key, allow_extra)


def _from_any(plan: _Plan, value: Any, key: str, allow_extra: bool) -> pd.DataFrame:
    """Records, rows, one record, columns, or the scalars of a one-column model."""
    if type(value) is dict:
        lists = [type(v) is list for v in value.values()]
        if value and all(lists):
            return _from_columns(plan, value, key, allow_extra)
        if any(lists):
            raise InvalidInput(
                f"{key}: give either one record or lists of values for every column", field=key
            )
        return _from_records(plan, [value], key, allow_extra)
    if type(value) is not list:
        raise InvalidInput(f"{key} must be a list of records or rows, or an object of columns", field=key)
    if not value:
        raise _no_rows(key)
    if type(value[0]) is dict:
        return _from_records(plan, value, key, allow_extra)
    if type(value[0]) is list:
        return _from_rows(plan, value, None, key, allow_extra)
    if len(plan.cols) == 1:
        return _frame(plan, [_column(plan.cols[0], value)], len(value))
    raise InvalidInput(
        f"{key}: a list of single values fits a one-column model; this one takes {len(plan.cols)} columns "
        f"({', '.join(plan.names)}): send rows or records",
        field=key,
    )


def _from_csv(plan: _Plan, signature: Signature, body: bytes, allow_extra: bool) -> pd.DataFrame:
    text = {c.name: object for c in plan.cols if c.kind in (_TEXT, _CATEGORY)}
    try:
        frame = pd.read_csv(io.BytesIO(bytes(body)), dtype=text or None)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the CSV body does not parse: {_reason(exc)}", field="body") from exc
    if frame.empty:
        raise _no_rows("body")
    return validate_frame(frame, signature, allow_extra=allow_extra)
