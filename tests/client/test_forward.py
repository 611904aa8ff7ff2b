"""The clients' one-line calls (local ``forward``, remote ``remote``): each is the SDK call it stands
for, parameter for parameter, documented by the SDK surface, bound to a service or an operation."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from carnet.client.api import ClientAPI
from carnet.client.forward import Forward, forward
from carnet.client.local import LocalClient
from carnet.services.registry import RegistryService


def _forwards() -> dict[str, Forward[Any, Any]]:
    found: dict[str, Forward[Any, Any]] = {}
    for klass in reversed(LocalClient.__mro__):
        found.update({k: v for k, v in vars(klass).items() if isinstance(v, Forward)})
    return found


def _shape(fn: Any) -> list[tuple[str, Any, Any]]:
    params = list(inspect.signature(fn).parameters.values())[1:]  # without self
    return [(p.name, p.kind, p.default) for p in params]


def test_most_local_calls_are_forwards_and_the_rest_are_written() -> None:
    forwards = _forwards()
    assert len(forwards) >= 50
    assert "create_run" not in forwards  # a call with its own logic stays a method
    assert callable(vars(LocalClient)["end_run"])


@pytest.mark.parametrize("name", sorted(_forwards()))
def test_a_forward_takes_the_sdk_calls_parameters_and_keeps_its_docs(name: str) -> None:
    fw = _forwards()[name]
    surface = getattr(ClientAPI, name)
    assert _shape(fw.method) == _shape(surface), f"{name}: the service method's parameters differ"
    assert fw.__doc__ == surface.__doc__


def test_a_forward_is_the_bound_service_method_of_the_workspace(tmp_path: Path) -> None:
    with LocalClient(str(tmp_path / "ws")) as client:
        bound = client.model_versions
        assert bound.__self__ is client.services.registry
        assert bound.__func__ is RegistryService.versions
        project = client.create_project("forwarded", "through the service")
        assert project.description == "through the service"
        assert "forwarded" in [p.name for p, _ in client.list_projects()]
        assert LocalClient.model_versions is _forwards()["model_versions"]


def test_a_forward_follows_a_dotted_path(tmp_path: Path) -> None:
    class Holder:
        def __init__(self, services: Any) -> None:
            self.services = services

        versions = forward("registry", RegistryService.versions)

    with LocalClient(str(tmp_path / "ws")) as client:
        holder = Holder(client.services)
        assert holder.versions.__self__ is client.services.registry
        dotted = Forward("ctx.artifacts", type(client.services.ctx.artifacts).connect)
        assert dotted.__get__(holder, Holder).__self__ is client.services.ctx.artifacts


def _remote_calls() -> dict[str, Any]:
    from carnet.client.remote import RemoteClient
    from carnet.client.remote_http import RemoteCall

    found: dict[str, Any] = {}
    for klass in reversed(RemoteClient.__mro__):
        found.update({k: v for k, v in vars(klass).items() if isinstance(v, RemoteCall)})
    return found


def test_remote_one_operation_calls_are_declared_from_the_sdk_and_the_table() -> None:
    from carnet.operations import operation

    calls = _remote_calls()
    assert len(calls) >= 25
    for name, rc in calls.items():
        assert rc.declared is getattr(ClientAPI, name), name  # the SDK call it implements
        params = set(inspect.signature(rc.declared).parameters) - {"self"}
        assert set(rc.convert) <= params, name
        placeholders = set(re.findall(r"\{(\w+)", operation(rc.op).path))
        assert placeholders <= params, f"{name}: {rc.op} needs {placeholders - params}"
        assert inspect.getdoc(rc) == inspect.getdoc(getattr(ClientAPI, name))
