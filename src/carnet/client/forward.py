"""SDK calls that are one service method as it stands: declared in one line, typed by the method.

``model_versions = forward("registry", RegistryService.versions)`` makes
``LocalClient.model_versions`` the bound ``services.registry.versions``. The descriptor carries the
method's parameters and result (a ``ParamSpec``), so mypy checks it against the
:class:`~carnet.client.api.ClientAPI` signature it implements, as it would a written method; a test
checks the parameter names, kinds and defaults are the same too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = ["Forward", "forward"]

P = ParamSpec("P")
R = TypeVar("R")


class Forward(Generic[P, R]):
    """A client attribute that is the method ``method`` of the service at ``services.<path>``."""

    def __init__(self, path: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self.path = tuple(path.split("."))
        self.method = method
        self.name = method.__name__
        self.__doc__ = method.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        # the SDK's documentation of the call (the ClientAPI docstring) rather than the service's
        for base in owner.__mro__[1:]:
            doc = getattr(base.__dict__.get(name), "__doc__", None)
            if doc:
                self.__doc__ = doc
                return

    @property
    def __signature__(self) -> inspect.Signature:
        """The service method's signature (``inspect.signature(LocalClient.call)``, as for a method)."""
        return inspect.signature(self.method)

    def __call__(self, client: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        """``LocalClient.call(client, ...)``, as a method called on its class."""
        bound: Callable[P, R] = self.__get__(client, type(client))
        return bound(*args, **kwargs)

    @overload
    def __get__(self, obj: None, owner: type) -> Forward[P, R]: ...

    @overload
    def __get__(self, obj: object, owner: type) -> Callable[P, R]: ...

    def __get__(self, obj: object, owner: type) -> Any:
        if obj is None:
            return self
        target: Any = obj.services  # type: ignore[attr-defined]
        for part in self.path:
            target = getattr(target, part)
        return getattr(target, self.name)


def forward(path: str, method: Callable[Concatenate[Any, P], R]) -> Forward[P, R]:
    """The client call that is ``services.<path>.<method>`` (``path`` like ``"registry"``)."""
    return Forward(path, method)
