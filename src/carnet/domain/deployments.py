"""Deployments: how an endpoint's traffic is routed to registered model versions.

A deployment is written as YAML (or a mapping) and validated completely by
:func:`load_deployment`::

    endpoint: churn
    routes:                                  # at least one; weights are relative (95/5 = 95 %/5 %)
      - {model: churn@production, weight: 95}
      - {model: churn/4, weight: 5}
    shadows: [churn@staging]                 # optional: get a copy of the traffic, never answer
    sticky_header: X-User-Id                 # optional: same header value -> same route
    batching: {max_batch_rows: 64, max_wait_ms: 2}   # optional

Model references are ``NAME@alias`` or ``NAME/VERSION``: a bare ``NAME`` (the latest version)
is refused, since registering a version would then silently change what serves. A route may be
written as just its reference (weight 1). Every stored change is a new revision; deleting an
endpoint stores a *tombstone* revision (``deleted=True``, no routes), so history is kept and the
numbering goes on if the endpoint is set again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from carnet.domain.models import ModelRef, ModelVersion
from carnet.errors import InvalidInput

__all__ = [
    "BATCHING_KEYS",
    "DEPLOYMENT_KEYS",
    "Deployment",
    "DeploymentRoute",
    "PredictionFile",
    "ResolvedDeployment",
    "ResolvedRoute",
    "check_endpoint",
    "load_deployment",
]

#: the top-level keys of a deployment
DEPLOYMENT_KEYS = ("endpoint", "routes", "shadows", "sticky_header", "batching")
#: the keys of ``batching``: whole numbers >= 1, except ``max_wait_ms`` (a number >= 0)
BATCHING_KEYS = ("max_batch_rows", "max_wait_ms", "max_queue_rows")
_ROUTE_KEYS = ("model", "weight")
_ENDPOINT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~\-]{1,128}$")  # an HTTP header name (RFC 9110 token)
_EXAMPLE_ROUTE = "{model: churn@production, weight: 95}"


def check_endpoint(name: str) -> str:
    """``name`` when it is a valid endpoint name (as model names); InvalidInput otherwise."""
    if not isinstance(name, str) or not _ENDPOINT.match(name):
        raise InvalidInput(
            f"endpoint name {name!r} must be 1-128 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit, e.g. endpoint: churn",
            field="endpoint",
        )
    return name


@dataclass(frozen=True)
class DeploymentRoute:
    """One route: a model reference (``NAME@alias`` or ``NAME/3``) and its relative weight."""

    model: str
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "weight": self.weight}


@dataclass(frozen=True)
class Deployment:
    """One revision of an endpoint's routing.

    ``routes`` share the traffic in proportion to their weights; ``shadows`` receive a copy of
    every request (their answers are logged, never returned); ``sticky_header`` names a request
    header whose value pins a caller to one route; ``batching`` holds the optional
    ``max_batch_rows``, ``max_wait_ms`` and ``max_queue_rows``. ``revision``, ``created_at`` and
    ``actor`` are set when the revision is stored; ``deleted`` marks a tombstone revision.
    """

    endpoint: str
    routes: tuple[DeploymentRoute, ...]
    shadows: tuple[str, ...] = ()
    sticky_header: str | None = None
    batching: dict[str, Any] = field(default_factory=dict)
    revision: int = 0
    created_at: float = 0.0
    actor: str = ""
    deleted: bool = False

    @property
    def total_weight(self) -> float:
        """The sum of the route weights (route ``i`` gets ``weight / total_weight`` of the traffic)."""
        return float(sum(r.weight for r in self.routes))

    def to_spec(self) -> dict[str, Any]:
        """The deployment as written (what :func:`load_deployment` reads back to an equal spec)."""
        spec: dict[str, Any] = {"endpoint": self.endpoint, "routes": [r.to_dict() for r in self.routes]}
        if self.shadows:
            spec["shadows"] = list(self.shadows)
        if self.sticky_header is not None:
            spec["sticky_header"] = self.sticky_header
        if self.batching:
            spec["batching"] = dict(self.batching)
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The spec with the revision's record (revision, time, actor, deleted)."""
        return {
            **self.to_spec(),
            "shadows": list(self.shadows),
            "sticky_header": self.sticky_header,
            "batching": dict(self.batching),
            "revision": self.revision,
            "created_at": self.created_at,
            "actor": self.actor,
            "deleted": self.deleted,
        }

    @classmethod
    def from_spec(
        cls,
        spec: Mapping[str, Any],
        *,
        revision: int = 0,
        created_at: float = 0.0,
        actor: str = "",
        deleted: bool = False,
    ) -> Deployment:
        """Rebuild a stored deployment (already validated when it was stored)."""
        return cls(
            endpoint=str(spec["endpoint"]),
            routes=tuple(
                DeploymentRoute(str(r["model"]), float(r["weight"])) for r in spec.get("routes", [])
            ),
            shadows=tuple(str(s) for s in spec.get("shadows", [])),
            sticky_header=spec.get("sticky_header"),
            batching=dict(spec.get("batching") or {}),
            revision=revision,
            created_at=created_at,
            actor=actor,
            deleted=deleted,
        )


class ResolvedRoute(NamedTuple):
    """A route's reference, the version it names now, and its weight (0 for a shadow)."""

    ref: str
    version: ModelVersion
    weight: float


@dataclass(frozen=True)
class ResolvedDeployment:
    """A deployment with every reference resolved to a version, and the change token read before.

    ``token`` is the store's change token (see ``DeploymentService.change_token``) taken before
    resolving: when a later token differs, something that can change the routing has changed.
    """

    deployment: Deployment
    routes: tuple[ResolvedRoute, ...]
    shadows: tuple[ResolvedRoute, ...]
    token: tuple[int, int]


@dataclass(frozen=True)
class PredictionFile:
    """One Parquet file of the prediction log, stored in the artifact store under ``digest``.

    ``first_time`` and ``last_time`` bound the request times of its rows; ``shadow`` is True when
    its rows are a shadow version's answers.
    """

    id: int
    endpoint: str
    model: str
    version: int
    digest: str
    rows: int
    bytes: int
    first_time: float
    last_time: float
    created_at: float
    shadow: bool = False


# -- loading and validation ---------------------------------------------------------------------------


def _fail(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"{where}: {message}", field=where)


def _unknown(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            import difflib

            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
            name = f"{where}.{key}" if where else str(key)
            raise _fail(name, f"unknown key {key!r}; {hint}")


def _ref(value: Any, where: str) -> str:
    """A model reference naming a version or an alias, in its canonical text form."""
    if not isinstance(value, str):
        raise _fail(
            where, f"a model reference is NAME@alias or NAME/VERSION, e.g. churn@production; got {value!r}"
        )
    try:
        ref = ModelRef.parse(value)
    except InvalidInput as exc:
        raise _fail(where, exc.message) from None
    if ref.alias is None and ref.version is None:
        raise _fail(
            where,
            f"pin the model to an alias or a version ({ref.name}@production, {ref.name}/3): a bare name "
            "would change what serves whenever a version is registered",
        )
    return str(ref)


def _weight(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _fail(where, f"a weight is a finite number >= 0, e.g. weight: 95; got {value!r}")
    return float(value)


def _routes(value: Any) -> tuple[DeploymentRoute, ...]:
    if not isinstance(value, list) or not value:
        raise _fail("routes", f"give at least one route, e.g. routes: [{_EXAMPLE_ROUTE}]; got {value!r}")
    routes: list[DeploymentRoute] = []
    for i, item in enumerate(value):
        where = f"routes[{i}]"
        if isinstance(item, str):
            item = {"model": item}
        if not isinstance(item, Mapping):
            raise _fail(where, f"a route is a mapping such as {_EXAMPLE_ROUTE}; got {item!r}")
        _unknown(item, _ROUTE_KEYS, where)
        if "model" not in item:
            raise _fail(f"{where}.model", f"a route needs a model, e.g. {_EXAMPLE_ROUTE}")
        ref = _ref(item["model"], f"{where}.model")
        if any(r.model == ref for r in routes):
            raise _fail(f"{where}.model", f"{ref} is routed twice; give it one route with the summed weight")
        routes.append(DeploymentRoute(ref, _weight(item.get("weight", 1), f"{where}.weight")))
    if not any(r.weight > 0 for r in routes):
        raise _fail("routes", "every weight is 0: at least one route must get traffic")
    return tuple(routes)


def _shadows(value: Any, routes: tuple[DeploymentRoute, ...]) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise _fail("shadows", f"shadows is a list of model references, e.g. [churn@staging]; got {value!r}")
    out: list[str] = []
    for i, item in enumerate(items):
        ref = _ref(item, f"shadows[{i}]")
        if ref in out:
            raise _fail(f"shadows[{i}]", f"{ref} is listed twice")
        if any(r.model == ref for r in routes):
            raise _fail(f"shadows[{i}]", f"{ref} is already a route; a version is either routed or shadowed")
        out.append(ref)
    return tuple(out)


def _sticky(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEADER.match(value):
        raise _fail("sticky_header", f"sticky_header is an HTTP header name, e.g. X-User-Id; got {value!r}")
    return value


def _batching(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(
            "batching", f"batching is a mapping, e.g. {{max_batch_rows: 64, max_wait_ms: 2}}; got {value!r}"
        )
    _unknown(value, BATCHING_KEYS, "batching")
    out: dict[str, Any] = {}
    for key in BATCHING_KEYS:
        if key not in value or value[key] is None:
            continue
        raw, where = value[key], f"batching.{key}"
        if key == "max_wait_ms":
            ok = (
                not isinstance(raw, bool) and isinstance(raw, int | float) and math.isfinite(raw) and raw >= 0
            )
            if not ok:
                raise _fail(where, f"{key} is a number of milliseconds >= 0, e.g. 2; got {raw!r}")
            out[key] = float(raw)
        else:
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                raise _fail(where, f"{key} is a whole number >= 1, e.g. 64; got {raw!r}")
            out[key] = raw
    return out


def load_deployment(data: Mapping[str, Any]) -> Deployment:
    """Validate a deployment given as a mapping (the edges read YAML text and files with
    :func:`carnet.documents.read_document`).

    Returns:
        The deployment (revision 0: not stored yet).

    Raises:
        InvalidInput: the first problem found; ``field`` names it precisely, e.g.
            ``routes[1].weight`` or ``batching.max_wait_ms``.
    """
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise InvalidInput(
            f"a deployment is a mapping with endpoint and routes, e.g. endpoint: churn; got {data!r}",
            field="deployment",
        )
    _unknown(data, DEPLOYMENT_KEYS, "")
    if "endpoint" not in data:
        raise _fail("endpoint", "a deployment needs an endpoint name, e.g. endpoint: churn")
    try:
        endpoint = check_endpoint(data["endpoint"])
    except InvalidInput as exc:
        raise _fail("endpoint", exc.message) from None
    if "routes" not in data:
        raise _fail("routes", f"a deployment needs routes, e.g. routes: [{_EXAMPLE_ROUTE}]")
    routes = _routes(data["routes"])
    return Deployment(
        endpoint=endpoint,
        routes=routes,
        shadows=_shadows(data.get("shadows"), routes),
        sticky_header=_sticky(data.get("sticky_header")),
        batching=_batching(data.get("batching")),
    )
