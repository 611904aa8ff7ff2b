"""The local and the remote SDK client offer the same calls: every public method of one exists on
the other with the same parameters (names, kinds, defaults) and the same return annotation."""

from __future__ import annotations

import inspect

from carnet.client import LocalClient, RemoteClient

#: what only one side has, and why
ONLY_LOCAL = {"settings"}  # the local workspace's resolved settings (an instance attribute)
ONLY_REMOTE = {"services"}  # present remotely only to raise InvalidInput naming the local workspace


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def _shape(fn: object) -> tuple[list[tuple[str, object, object]], object]:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    params = [(p.name, p.kind, p.default) for p in sig.parameters.values()]
    return params, sig.return_annotation


def test_both_clients_have_the_same_public_calls() -> None:
    local, remote = _public(LocalClient), _public(RemoteClient)
    assert sorted(local - remote - ONLY_LOCAL) == []
    assert sorted(remote - local - ONLY_REMOTE) == []
    assert len(local & remote) > 60


def test_the_same_call_takes_the_same_arguments_and_returns_the_same_type() -> None:
    differ = {}
    for name in sorted(_public(LocalClient) & _public(RemoteClient)):
        a, b = getattr(LocalClient, name), getattr(RemoteClient, name)
        if isinstance(a, property) or isinstance(b, property):
            assert isinstance(a, property) and isinstance(b, property), name
            continue
        if _shape(a) != _shape(b):
            differ[name] = (str(inspect.signature(a)), str(inspect.signature(b)))
    assert differ == {}
