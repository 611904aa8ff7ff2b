"""The plugin table and its one loader: every kind of plugin, its entry-point group and Protocol,
and ``registry(kind)``, a lazy registry over that group.

Built-in implementations register through the same entry-point groups as third-party ones
(declared in carnet's own ``pyproject.toml``), so the discovery path is always exercised. Nothing is
discovered or imported until first lookup. Model: Kedro's ``ENTRY_POINT_GROUPS`` + ``load_entry_points``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, Literal, TypeVar, overload

from carnet.errors import InvalidInput, NotFound
from carnet.plugins.api import EVALUATION_FAMILIES, Encoder, Flavor, Gate, HookPlugin, Notifier, Task, Witness

__all__ = ["PLUGIN_KINDS", "PluginKind", "Registry", "installed", "protocol_members", "registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Named implementations of one extension point (entry-point group ``group``).

    Args:
        group: entry-point group, e.g. ``carnet.tasks``.
        kind: human name used in error messages, e.g. ``task``.
        check: optional validation of a loaded object (raise to reject it).
    """

    def __init__(self, group: str, kind: str, check: Callable[[object], T] | None = None) -> None:
        self.group = group
        self.kind = kind
        self._check = check
        self._entry_points: dict[str, EntryPoint] | None = None
        self._loaded: dict[str, T] = {}
        self._lock = threading.Lock()

    def _discover(self) -> dict[str, EntryPoint]:
        with self._lock:
            if self._entry_points is None:
                self._entry_points = {ep.name: ep for ep in entry_points(group=self.group)}
            return self._entry_points

    def register(self, name: str, obj: T) -> None:
        """Register an implementation in-process (tests, notebooks); overrides an entry point."""
        self._loaded[name] = self._check(obj) if self._check else obj

    def reset(self) -> None:
        """Forget in-process registrations and loaded plugins (entry points are rediscovered)."""
        with self._lock:
            self._entry_points = None
            self._loaded.clear()

    def names(self) -> list[str]:
        """Every registered name, sorted (does not import the implementations)."""
        return sorted(set(self._discover()) | set(self._loaded))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> T:
        """The implementation registered as ``name``, imported on first use.

        Raises:
            NotFound: no such name (the message lists the known ones).
            InvalidInput: the plugin failed to import or to validate.
        """
        if name in self._loaded:
            return self._loaded[name]
        ep = self._discover().get(name)
        if ep is None:
            known = ", ".join(self.names()) or "none"
            raise NotFound(f"unknown {self.kind} {name!r}; known: {known}", field=self.kind)
        try:
            obj = ep.load()
            value = self._check(obj) if self._check else obj
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never crashes discovery
            raise InvalidInput(
                f"{self.kind} plugin {name!r} ({ep.value}) failed to load: {exc}", field=self.kind
            ) from exc
        self._loaded[name] = value
        return value

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, implementation) for every plugin, loading each."""
        for name in self.names():
            yield name, self.get(name)


# -- the one table of plugin kinds ----------------------------------------------------------------


def protocol_members(protocol: type) -> list[str]:
    """The public attributes and methods a :mod:`carnet.plugins.api` Protocol asks for, in order."""
    names = list(getattr(protocol, "__annotations__", {}))
    names += [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]
    return [n for n in dict.fromkeys(names) if not n.startswith("_")]


def _task_family(task: Any) -> None:
    if task.family not in EVALUATION_FAMILIES:
        raise ValueError(
            f"task {task.name!r} has family {task.family!r}; expected one of {', '.join(EVALUATION_FAMILIES)}"
        )


def _hook_names(plugin: Any) -> None:
    """A hook plugin implements at least one of carnet's hooks, and no hook carnet does not have."""
    from carnet.plugins.hooks import check_hook_plugin

    check_hook_plugin(plugin)


@dataclass(frozen=True)
class PluginKind:
    """One extension point: its entry-point group, the Protocol a plugin implements, and any check
    beyond the Protocol's members."""

    name: str
    group: str
    protocol: type
    extra_check: Callable[[Any], None] | None = None
    description: str = ""
    #: a class found under the group is instantiated without arguments (hook plugins are used as they are)
    instantiate: bool = True

    def check(self, obj: object) -> Any:
        """A plugin instance from a loaded object (a class is instantiated without arguments).

        Raises:
            TypeError: the object lacks members of the Protocol (the message lists them).
            ValueError: the extra check refused it.
        """
        plugin = obj() if isinstance(obj, type) and self.instantiate else obj
        missing = [m for m in protocol_members(self.protocol) if not hasattr(plugin, m)]
        if missing:
            raise TypeError(f"{obj!r} is not a carnet {self.name}: missing {', '.join(missing)}")
        if self.extra_check is not None:
            self.extra_check(plugin)
        return plugin


#: every kind of plugin carnet discovers, by name: the one place an extension point is declared
PLUGIN_KINDS: dict[str, PluginKind] = {
    kind.name: kind
    for kind in (
        PluginKind(
            "task", "carnet.tasks", Task, _task_family, "a learning problem: split, fit, predict, truth"
        ),
        PluginKind(
            "flavor", "carnet.flavors", Flavor, None, "how a fitted model becomes bytes and back, safely"
        ),
        PluginKind("gate", "carnet.gates", Gate, None, "one check of a promotion policy"),
        PluginKind("notifier", "carnet.notifiers", Notifier, None, "where an alert or audit event is sent"),
        PluginKind(
            "witness", "carnet.witnesses", Witness, None, "an append-only place for audit checkpoints"
        ),
        PluginKind("encoder", "carnet.encoders", Encoder, None, "turns a text column into vectors"),
        PluginKind(
            "hook",
            "carnet.hooks",
            HookPlugin,
            _hook_names,
            "lifecycle hooks: refuse or observe a change, contribute gates, wrap predictions",
            instantiate=False,
        ),
    )
}

PluginName = Literal["task", "flavor", "gate", "notifier", "witness", "encoder", "hook"]


@overload
def registry(kind: Literal["task"]) -> Registry[Task]: ...
@overload
def registry(kind: Literal["flavor"]) -> Registry[Flavor]: ...
@overload
def registry(kind: Literal["gate"]) -> Registry[Gate]: ...
@overload
def registry(kind: Literal["notifier"]) -> Registry[Notifier]: ...
@overload
def registry(kind: Literal["witness"]) -> Registry[Witness]: ...
@overload
def registry(kind: Literal["encoder"]) -> Registry[Encoder]: ...
@overload
def registry(kind: str) -> Registry[Any]: ...


def registry(kind: str) -> Registry[Any]:
    """The registry of one plugin kind (created once, discovered lazily on first lookup).

    Raises:
        NotFound: no such kind (the message lists the known ones).
    """
    spec = PLUGIN_KINDS.get(kind)
    if spec is None:
        raise NotFound(f"unknown plugin kind {kind!r}; known: {', '.join(PLUGIN_KINDS)}", field="kind")
    return _registry(spec.name)


@functools.cache
def _registry(kind: str) -> Registry[Any]:
    spec = PLUGIN_KINDS[kind]
    return Registry(spec.group, spec.name, check=spec.check)


def installed(kind: str | None = None) -> list[dict[str, str]]:
    """Every plugin found through the entry points (and registered in-process), without loading
    any: kind, name, package, version and the object it points at."""
    kinds = [registry(kind).kind] if kind is not None else list(PLUGIN_KINDS)
    out: list[dict[str, str]] = []
    for name in kinds:
        reg = registry(name)
        points = {ep.name: ep for ep in entry_points(group=reg.group)}
        for plugin in reg.names():
            ep = points.get(plugin)
            dist = ep.dist if ep is not None else None
            out.append(
                {
                    "kind": name,
                    "name": plugin,
                    "package": dist.name if dist is not None else "in-process",
                    "version": dist.version if dist is not None else "",
                    "value": ep.value if ep is not None else "",
                }
            )
    return out
