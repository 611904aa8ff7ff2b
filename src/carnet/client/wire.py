"""Domain objects rebuilt from the REST API's JSON (the ``*Out`` wire models), for the remote client.

:func:`decode` follows the type hints of the domain dataclass asked for: nested dataclasses, lists,
tuples and dicts of them, ``X | None`` and enums. A float the server sent as ``null`` (NaN) or
``"Infinity"`` / ``"-Infinity"`` is that float again, a field the wire leaves out takes its default,
and a wire key the dataclass does not have (``ref``, ``duration`` ...) is ignored. The few types the
hints cannot tell how to rebuild are in :data:`_OVERRIDES`.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import math
import types
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypedDict, TypeVar, Union, cast, get_args, get_origin, get_type_hints, is_typeddict

from carnet.domain import (
    ColumnProfile,
    DatasetRef,
    Monitor,
    Project,
    ResolvedRoute,
    Signature,
    load_monitor,
)
from carnet.domain.drift import ColumnDrift, DriftOptions
from carnet.domain.evaluation import EvaluationResult
from carnet.domain.monitors import AlertRule, PassResult
from carnet.domain.training import TrainOutcome, TrainSpec, spec_from_dict

__all__ = ["RollupPeriod", "decode"]

T = TypeVar("T")


class RollupPeriod(TypedDict):
    """One period of a monitor's rollup, as the SDK returns it (``RollupOut``; a null share drifted
    is NaN)."""

    start: float
    end: float
    windows: list[int]
    rows: int
    share_drifted: float
    dataset_drift: bool | None
    drifted_columns: list[str]


def decode(cls: type[T], data: Any) -> T:
    """``data``, JSON the server sent, rebuilt as a ``cls`` (a domain dataclass, or a list, tuple or
    dict of them)."""
    return cast(T, _value(cls, data))


def _num(value: float | str | None) -> float:
    """A number from the wire: null is NaN, ``Infinity`` / ``-Infinity`` are the infinities."""
    return math.nan if value is None else float(value)


#: the fields of each type decoded so far: name -> (resolved type hint, whether it has a default)
_SCHEMAS: dict[type, dict[str, tuple[Any, bool]]] = {}


def _schema(cls: type) -> dict[str, tuple[Any, bool]]:
    """The fields a dataclass, named tuple or typed dict is built from, with their type hints and
    whether they have a default."""
    if cls not in _SCHEMAS:
        hints = get_type_hints(cls)
        if dataclasses.is_dataclass(cls):
            missing = dataclasses.MISSING
            _SCHEMAS[cls] = {
                f.name: (hints[f.name], f.default is not missing or f.default_factory is not missing)
                for f in dataclasses.fields(cls)
                if f.init
            }
        else:  # a named tuple's defaults; a typed dict has none
            defaults = getattr(cls, "_field_defaults", {})
            _SCHEMAS[cls] = {name: (hint, name in defaults) for name, hint in hints.items()}
    return _SCHEMAS[cls]


def _fields(cls: type[T], data: Mapping[str, Any], /, **wire: Any) -> T:
    """A ``cls`` from the wire object ``data`` (``wire`` adds or replaces wire values), each field
    decoded by its type hint; a field missing from the wire takes its default (null without one)."""
    given = {**data, **wire}
    values = {
        name: _value(hint, given.get(name))
        for name, (hint, has_default) in _schema(cls).items()
        if name in given or not has_default
    }
    return cls(**values)


def _value(tp: Any, value: Any) -> Any:
    """``value`` from the wire as the type ``tp``."""
    override = _OVERRIDES.get(tp)
    if override is not None:
        return override(value)
    origin, args = get_origin(tp), get_args(tp)
    if origin is Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        kinds = [a for a in args if a is not type(None)]
        return _value(kinds[0], value) if len(kinds) == 1 else value
    if tp is float:
        return _num(value)
    if origin in (list, tuple, dict) or tp in (list, tuple, dict):
        return _container(origin or tp, args, value)
    if value is None or tp is Any:
        return value
    if tp is int:
        return int(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or is_typeddict(tp) or hasattr(tp, "_fields")):
        return _fields(tp, value)
    return value


def _container(kind: type, args: tuple[Any, ...], value: Any) -> Any:
    """A list, tuple or dict from the wire (null is an empty one), its items decoded by ``args``."""
    if kind is dict:
        key, item = args or (Any, Any)
        return {_value(key, k): _value(item, v) for k, v in (value or {}).items()}
    items = list(value or ())
    if kind is tuple and args and args[-1] is not Ellipsis:
        return tuple(_value(a, v) for a, v in zip(args, items, strict=True))
    decoded = [_value(args[0] if args else Any, v) for v in items]
    return tuple(decoded) if kind is tuple else decoded


def _monitor(d: Mapping[str, Any]) -> Monitor:
    """A :class:`Monitor` from ``MonitorStateOut``: its shown spec (notifier secrets are ``***``),
    state and record; the server's row id is not sent (None)."""
    return replace(
        load_monitor(d["spec"]),
        state=dict(d.get("state") or {}),
        created_at=float(d["created_at"]),
        updated_at=float(d["updated_at"]),
        actor=d.get("actor", ""),
    )


def _outcome(d: Mapping[str, Any]) -> TrainOutcome:
    """A :class:`TrainOutcome` from ``TrainOutcomeOut``; ``fitted`` is None: the model stays on the
    server, stored with the run (``model/``)."""
    evaluation = d.get("evaluation")
    if isinstance(evaluation, Mapping):
        return _fields(TrainOutcome, d, evaluation=decode(EvaluationResult, evaluation))
    return _fields(TrainOutcome, d, evaluation=None)


def _column_drift(c: Mapping[str, Any]) -> ColumnDrift:
    """A :class:`ColumnDrift` from ``ColumnDriftOut``: a distance's significance level travels as
    its ``p_threshold`` (a test's level is its threshold)."""
    significance = c.get("p_threshold") if c["method"] not in ("chi2", "ks") else None
    return _fields(ColumnDrift, c, significance=significance)


#: the types :func:`decode` cannot rebuild from their hints alone: type -> wire value -> object
_OVERRIDES: dict[Any, Callable[[Any], Any]] = {
    bytes: lambda text: base64.b64decode(text or ""),  # a plot's PNG travels in base64
    Project: lambda d: _fields(Project, d, id=0),  # the server does not send a project's id
    ColumnProfile: ColumnProfile.from_dict,
    DatasetRef: DatasetRef.parse,  # as its text, NAME@N
    Signature: Signature.from_dict,
    ResolvedRoute: lambda d: _fields(ResolvedRoute, d, ref=d["model"]),
    Monitor: _monitor,
    AlertRule: AlertRule.parse,  # as stored: its text, or {when, actions}
    PassResult: lambda d: _fields(PassResult, d, relabeled=d.get("relabeled_windows")),
    ColumnDrift: _column_drift,
    DriftOptions: DriftOptions.from_dict,
    EvaluationResult: lambda d: _fields(  # no confidence level sent: the default one
        EvaluationResult, d, confidence=0.95 if d.get("confidence") is None else d["confidence"]
    ),
    TrainSpec: spec_from_dict,
    TrainOutcome: _outcome,
}
