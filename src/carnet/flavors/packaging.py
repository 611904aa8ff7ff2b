"""A fitted model packed for the registry: its bytes by the flavor that stores it safely, its input
signature and example, its classes. Runs where the model is (in a workspace's process, or on the
machine of an SDK talking to a server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carnet.domain import ColumnSpec, Signature
from carnet.domain.evaluation import jsonable
from carnet.errors import InvalidInput, PermissionDenied

__all__ = ["ModelObject", "input_example", "model_object"]


def input_example(frame: Any, features: list[str], rows: int = 3) -> list[dict[str, Any]]:
    """The first rows of the features as JSON-ready records (missing values as None)."""
    head = frame[features].head(rows).astype(object)
    records = head.where(head.notna(), None).to_dict("records")
    return [{k: jsonable(v) for k, v in rec.items()} for rec in records]


@dataclass(frozen=True)
class ModelObject:
    """An in-memory model as the registry stores it: its flavor's bytes and what describes them."""

    flavor: str
    data: bytes
    signature: Signature
    input_example: list[dict[str, Any]]
    classes: list[Any] | None


def model_object(
    model: Any, sample: Any, *, task: str | None = None, allow_pickle: bool = False, flavor: str | None = None
) -> ModelObject:
    """Serialise a fitted model with the flavor that can save it safely (pickle only with the
    opt-in) and describe its inputs from ``sample`` (a DataFrame).

    ``task`` is recorded by the caller, which checks it names a task.

    Raises:
        PermissionDenied: only the pickle flavor can store the model and ``allow_pickle`` is False.
        InvalidInput: ``sample`` is not a DataFrame; no flavor can store the model.
    """
    from carnet.flavors import flavor_for  # the flavor catalogue loads on first use
    from carnet.plugins.loader import registry

    if not hasattr(sample, "columns") or not hasattr(sample, "dtypes"):
        raise InvalidInput("sample must be a pandas DataFrame of the model's inputs", field="sample")
    if flavor is not None:
        chosen = registry("flavor").get(flavor)
    else:
        try:
            chosen = flavor_for(model)
        except InvalidInput:
            if not allow_pickle:
                raise PermissionDenied(
                    f"no safe flavor can store a {type(model).__name__}; pass allow_pickle=True "
                    "(--allow-pickle) to store it with pickle (audited, and needed again to load it)"
                ) from None
            chosen = registry("flavor").get("pickle")
    if getattr(chosen, "requires_opt_in", False) and not allow_pickle:
        raise PermissionDenied(
            f"flavor {chosen.name!r} stores with pickle; pass allow_pickle=True to opt in (audited)"
        )
    classes = getattr(model, "classes_", None)
    labels: list[Any] | None = None
    if classes is not None:
        try:
            labels = [c.item() if hasattr(c, "item") else c for c in list(classes)]
        except TypeError:
            labels = None
    return ModelObject(
        flavor=chosen.name,
        data=chosen.dumps(model),
        signature=Signature(tuple(ColumnSpec(str(c), str(d)) for c, d in sample.dtypes.items())),
        input_example=input_example(sample, [str(c) for c in sample.columns]),
        classes=labels,
    )
