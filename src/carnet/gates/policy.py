"""Promotion policies: load a policy from YAML or a mapping, validate it completely, store it.

::

    name: production-policy
    aliases: [production]          # optional; default: every alias
    evaluation_data: churn@3       # dataset@version the gates evaluate on
    target: churned                # optional
    seed: 0
    gates:
      - metric: "roc_auc >= 0.85"  # shorthand of {type: metric, condition: ...}
      - type: non_regression
        margin: 0.01
      - type: approval
        required: 2

A gate item is ``{type: NAME, name: LABEL (optional), ...settings}``; ``NAME`` is any gate of
the ``carnet.gates`` entry-point group, built-in or third-party, and its ``validate`` checks
the settings when the policy is loaded.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from carnet.documents import read_document
from carnet.domain.datasets import DatasetRef
from carnet.domain.models import check_alias
from carnet.domain.policies import GateSpec, Policy, policy_to_dict
from carnet.errors import InvalidInput, NotFound
from carnet.plugins.loader import registry

__all__ = ["POLICY_KEYS", "load_policy", "policy_to_dict"]

#: the top-level keys of a policy
POLICY_KEYS = ("name", "aliases", "evaluation_data", "target", "seed", "intended_use", "limitations", "gates")
_EXAMPLE_GATE = '{type: approval, required: 1} or {metric: "roc_auc >= 0.85"}'


def _fail(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, field=field)


def _text(data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if not required and (value is None or value == ""):
        return None
    if not isinstance(value, str) or not value.strip():
        example = {"name": "production-policy", "target": "churned"}.get(key, "some text")
        raise _fail(key, f"{key} must be a non-empty string, e.g. {key}: {example}; got {value!r}")
    return value.strip()


def _aliases(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise _fail("aliases", f"aliases must be a list of alias names, e.g. [production]; got {value!r}")
    for i, alias in enumerate(items):
        try:
            check_alias(alias)
        except InvalidInput as exc:
            raise _fail(f"aliases[{i}]", exc.message) from None
    return tuple(dict.fromkeys(items))


def _evaluation_data(value: Any) -> str | None:
    if value is None:
        return None
    hint = "evaluation_data names a dataset version, e.g. evaluation_data: churn@3"
    if not isinstance(value, str):
        raise _fail("evaluation_data", f"{hint}; got {value!r}")
    try:
        ref = DatasetRef.parse(value.strip())
    except InvalidInput as exc:
        raise _fail("evaluation_data", f"{exc.message} ({hint})") from None
    if ref.version is None:
        raise _fail(
            "evaluation_data",
            f"pin the version of the evaluation data so gate results can be reproduced: {ref.name}@N",
        )
    return str(ref)


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail("seed", f"seed must be a whole number >= 0, got {value!r}")
    return cast("int", value)


def _gate(item: Any, i: int) -> GateSpec:
    """One gate item as a validated GateSpec; InvalidInput fields read ``gates[i].setting``."""
    where = f"gates[{i}]"
    if not isinstance(item, Mapping) or not all(isinstance(k, str) for k in item):
        raise _fail(where, f"{where} must be a mapping such as {_EXAMPLE_GATE}; got {item!r}")
    config = dict(item)
    renamed: dict[str, str] = {}  # config field -> field as written in the policy
    if "type" in config:
        kind = config.pop("type")
    elif "metric" in config:
        kind = "metric"
        if not {"op", "value", "condition"} & set(config):  # {metric: "roc_auc >= 0.85"}
            config["condition"] = config.pop("metric")
            renamed["condition"] = "metric"
    else:
        raise _fail(f"{where}.type", f"{where} needs a type: one of {', '.join(registry('gate').names())}")
    label = config.pop("name", "")
    if not isinstance(label, str):
        raise _fail(f"{where}.name", f"{where}.name must be a string label, got {label!r}")
    if not isinstance(kind, str) or not kind:
        raise _fail(f"{where}.type", f"{where}.type must be a gate type name, got {kind!r}")
    try:
        gate = registry("gate").get(kind)
    except NotFound:
        names = registry("gate").names()
        close = difflib.get_close_matches(kind, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise _fail(
            f"{where}.type",
            f"unknown gate type {kind!r} in {where}; {hint}registered: {', '.join(names) or 'none'} "
            "(a third-party gate must be installed, in the carnet.gates entry-point group)",
        ) from None
    except InvalidInput as exc:
        raise _fail(f"{where}.type", exc.message) from None
    try:
        gate.validate(config)
    except InvalidInput as exc:
        field = renamed.get(exc.field or "", exc.field)
        raise _fail(f"{where}.{field}" if field else where, f"{where} ({kind}): {exc.message}") from None
    except Exception as exc:  # noqa: BLE001 - a third-party validate that crashes is reported, named
        raise _fail(
            where, f"{where} ({kind}): the gate rejected its settings: {type(exc).__name__}: {exc}"
        ) from None
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _fail(
            where, f"{where} ({kind}): settings must be plain numbers, strings, lists, maps: {exc}"
        ) from None
    return GateSpec(type=kind, config=config, name=label.strip())


def load_policy(source: str | Path | Mapping[str, Any] | Policy) -> Policy:
    """Parse and completely validate a promotion policy.

    Args:
        source: YAML text, the path of a YAML (or JSON) file, a mapping, or a Policy
            (validated again, e.g. after a gate plugin changed).

    Raises:
        InvalidInput: ``field`` names the first problem precisely (``seed``, ``gates[2].margin``,
            ``gates[0].type``, ...) and the message says how to fix it.
    """
    data = read_document(policy_to_dict(source) if isinstance(source, Policy) else source, "policy")
    if not isinstance(data, Mapping):
        raise _fail("policy", f"a policy is a mapping with name and gates, got {type(data).__name__}")
    for key in data:
        if key not in POLICY_KEYS:
            raise _fail(str(key), f"unknown policy key {key!r}; known: {', '.join(POLICY_KEYS)}")
    name = _text(data, "name", required=True)
    gates = data.get("gates")
    if not isinstance(gates, list) or not gates:
        raise _fail("gates", f"a policy needs gates: a non-empty list of gates, each like {_EXAMPLE_GATE}")
    return Policy(
        name=str(name),
        gates=tuple(_gate(item, i) for i, item in enumerate(gates)),
        evaluation_data=_evaluation_data(data.get("evaluation_data")),
        target=_text(data, "target"),
        aliases=_aliases(data.get("aliases")),
        intended_use=_text(data, "intended_use") or "",
        limitations=_text(data, "limitations") or "",
        seed=_seed(data.get("seed", 0)),
        source=copy.deepcopy(dict(data)),
    )
