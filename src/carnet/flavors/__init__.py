"""Model flavors: saving and safely loading fitted models, discovered as plugins."""

from __future__ import annotations

from typing import Any

from carnet.flavors.base import Flavor
from carnet.flavors.sklearn import TRUSTED_MODULE_PREFIXES, SklearnFlavor
from carnet.plugins.api import ENTRY_POINT_GROUPS
from carnet.plugins.registry import Registry

__all__ = ["TRUSTED_MODULE_PREFIXES", "Flavor", "SklearnFlavor", "flavor_for", "flavor_registry"]

_REGISTRY: Registry[Flavor] | None = None


def _check(obj: object) -> Flavor:
    flavor = obj() if isinstance(obj, type) else obj
    if not isinstance(flavor, Flavor):
        raise TypeError(f"{obj!r} does not implement the Flavor protocol")
    return flavor


def flavor_registry() -> Registry[Flavor]:
    """Flavors registered under the ``carnet.flavors`` entry-point group (built-ins included)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry(ENTRY_POINT_GROUPS["flavor"], "flavor", check=_check)
    return _REGISTRY


def flavor_for(model: Any) -> Flavor:
    """The first registered flavor able to store ``model`` (sklearn first)."""
    reg = flavor_registry()
    names = sorted(reg.names(), key=lambda n: (n != "sklearn", n))
    for name in names:
        flavor = reg.get(name)
        if flavor.can_save(model):
            return flavor
    from carnet.errors import InvalidInput

    raise InvalidInput(f"no model flavor can store a {type(model).__name__}", field="model")
