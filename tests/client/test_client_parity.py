"""Both SDK clients implement :class:`ClientAPI`, the surface written once: every call is their own
(none falls through to the protocol's stub), with the protocol's parameters and return type, and
its documentation. mypy proves the same statically (both subclass the protocol)."""

from __future__ import annotations

import inspect

import pytest

from carnet.client import Client, ClientAPI, LocalClient, RemoteClient, connect

#: the one public name beyond the protocol: the workspace's services (in-process; remotely it raises
#: InvalidInput naming the local workspace it needs)
BEYOND = {"services"}


def _calls() -> list[str]:
    """The calls the protocol declares, its own and those of the protocols it extends (DatasetAPI)."""
    parts = [c for c in ClientAPI.__mro__ if c.__module__.startswith("carnet.client.api")]
    assert len(parts) >= 2
    return sorted(
        n
        for part in parts
        for n, v in vars(part).items()
        if (not n.startswith("_") and callable(v)) or isinstance(v, property)
    )


def _shape(fn: object) -> tuple[list[tuple[str, object, object]], object]:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    params = [(p.name, p.kind, p.default) for p in sig.parameters.values()]
    # a service module that defines a method named ``list`` writes the type ``builtins.list``
    return params, str(sig.return_annotation).replace("builtins.", "")


def test_the_protocol_declares_the_whole_surface() -> None:
    calls = set(_calls())
    assert len(calls) > 90
    public = {n for n in dir(LocalClient) if not n.startswith("_")}
    assert public - calls == set()  # services and settings are attributes of the instance
    assert {n for n in dir(RemoteClient) if not n.startswith("_")} - calls == BEYOND


@pytest.mark.parametrize("impl", [LocalClient, RemoteClient])
def test_every_call_is_implemented_with_the_protocols_signature_and_docs(impl: type) -> None:
    assert ClientAPI in impl.__mro__
    stubs, differ = [], {}
    for name in _calls():
        declared, found = inspect.getattr_static(ClientAPI, name), inspect.getattr_static(impl, name)
        if found is declared:
            stubs.append(name)
            continue
        if isinstance(declared, property):
            assert isinstance(found, property), name
        elif _shape(declared) != _shape(found):
            differ[name] = (str(inspect.signature(declared)), str(inspect.signature(found)))
        assert inspect.getdoc(getattr(impl, name)), name
    assert stubs == [] and differ == {}
    assert inspect.getdoc(impl.create_run) == inspect.getdoc(ClientAPI.create_run)


def test_connect_and_client_return_an_implementation_for_each_uri(tmp_path) -> None:
    local = connect(tmp_path / "ws")
    try:
        assert isinstance(local, LocalClient) and isinstance(local, ClientAPI)
    finally:
        local.close()
    remote = connect("http://127.0.0.1:9")  # no request is made until a call
    assert isinstance(remote, RemoteClient) and isinstance(remote, ClientAPI)
    assert isinstance(Client("http://127.0.0.1:9"), RemoteClient)
    remote.close()
