"""Traffic routing of an endpoint: weighted random or sticky choice among routes, plus shadows."""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from carnet.errors import InvalidInput

__all__ = ["Route", "Router"]

_SCALE = float(1 << 53)  # 53 bits of the hash give an exact float in [0, 1)


@dataclass(frozen=True, slots=True)
class Route:
    """One route of an endpoint: a target ``key`` (e.g. a model version) and its traffic weight."""

    key: str
    weight: float


class Router:
    """Chooses the route of each request of an endpoint.

    Weights are relative (they need not sum to 100); a zero-weight route is never chosen.
    With ``sticky=True`` a request key (user, session...) always maps to the same route: the
    key's blake2b hash picks a point in [0, 1) that falls in one route's slice of the weight
    intervals, laid out in route order, so changing a weight only moves the keys of the slices
    that shrink (a 95/5 -> 90/10 ramp moves 5% of the keys). ``shadows`` receive a copy of the
    traffic; the caller asks for them with :meth:`shadow_targets`.

    Raises:
        InvalidInput: no routes, an empty or duplicate key (``field="routes"``), a negative
            or non-finite weight, or only zero weights (``field="weight"``), a duplicate or
            empty shadow (``field="shadows"``).
    """

    def __init__(
        self,
        routes: Sequence[Route],
        shadows: Sequence[str] = (),
        sticky: bool = False,
        seed: int | None = None,
    ) -> None:
        routes = tuple(routes)
        if not routes:
            raise InvalidInput("an endpoint needs at least one route", field="routes")
        seen: set[str] = set()
        for route in routes:
            if not isinstance(route.key, str) or not route.key:
                raise InvalidInput(f"route key {route.key!r} must be a non-empty string", field="routes")
            if route.key in seen:
                raise InvalidInput(f"route {route.key!r} is listed twice", field="routes")
            seen.add(route.key)
            weight = route.weight
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
                raise InvalidInput(f"route {route.key!r} has weight {weight!r}; use a number", field="weight")
            if weight < 0:
                raise InvalidInput(f"route {route.key!r} has negative weight {weight}", field="weight")
        live = [r for r in routes if r.weight > 0]
        if not live:
            raise InvalidInput(
                "every route has weight 0; give at least one a positive weight", field="weight"
            )
        shadows = tuple(shadows)
        for shadow in shadows:
            if not isinstance(shadow, str) or not shadow:
                raise InvalidInput(f"shadow {shadow!r} must be a non-empty string", field="shadows")
        if len(set(shadows)) != len(shadows):
            raise InvalidInput("a shadow is listed twice", field="shadows")
        self._routes = routes
        self._shadows = shadows
        self._sticky = sticky
        self._keys = [r.key for r in live]
        total = math.fsum(r.weight for r in live)
        self._total = total
        bounds, acc = [], 0.0
        for r in live:
            acc += r.weight
            bounds.append(acc / total)
        bounds[-1] = 1.0
        self._bounds = bounds
        self._rng = random.Random(seed)

    @property
    def routes(self) -> tuple[Route, ...]:
        return self._routes

    @property
    def sticky(self) -> bool:
        return self._sticky

    def share(self, key: str) -> float:
        """The fraction of traffic route ``key`` receives (0 for an unknown or zero-weight route)."""
        return sum(r.weight for r in self._routes if r.key == key and r.weight > 0) / self._total

    def choose(self, request_key: str | None = None) -> str:
        """The route key for one request (sticky when the router is and ``request_key`` is given)."""
        if len(self._keys) == 1:
            return self._keys[0]
        if self._sticky and request_key is not None:
            digest = hashlib.blake2b(
                request_key.encode("utf-8"), digest_size=8, person=b"carnet.route"
            ).digest()
            point = (int.from_bytes(digest, "big") >> 11) / _SCALE
        else:
            point = self._rng.random()
        return self._keys[bisect.bisect_right(self._bounds, point)]

    def shadow_targets(self) -> tuple[str, ...]:
        """The keys that receive a copy of every request (their answers are not returned)."""
        return self._shadows
