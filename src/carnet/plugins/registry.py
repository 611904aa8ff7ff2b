"""One generic, lazy plugin registry over Python entry points.

Built-in implementations register through the same entry-point groups as
third-party ones (declared in carnet's own ``pyproject.toml``), so the discovery
path is always exercised. Nothing is discovered or imported until first lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from carnet.errors import InvalidInput, NotFound

__all__ = ["Registry"]

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
