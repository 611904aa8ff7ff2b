"""The public surface is pinned: a name added to or dropped from ``carnet`` or ``carnet.client`` must
be a deliberate change of this file (as httpx's ``test_exported_members``)."""

from __future__ import annotations

import json
import subprocess
import sys

import carnet
import carnet.client

CARNET = [
    "ActiveRun",
    "Client",
    "ClientAPI",
    "Metric",
    "RunStatus",
    "__version__",
    "active_run",
    "connect",
    "end_run",
    "errors",
    "flush",
    "log_artifact",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_seed",
    "set_tag",
    "start_run",
]
FLUENT = [
    "ActiveRun",
    "active_run",
    "end_run",
    "flush",
    "log_artifact",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_seed",
    "set_tag",
    "start_run",
]


def test_carnet_exports_exactly_the_pinned_names() -> None:
    assert carnet.__all__ == CARNET
    assert sorted(dir(carnet)) == CARNET
    for name in CARNET:
        assert getattr(carnet, name) is not None, name


def test_the_top_level_names_are_the_sdk_objects_themselves() -> None:
    for name in CARNET:
        if name not in ("__version__", "errors", "Metric", "RunStatus"):
            assert getattr(carnet, name) is getattr(carnet.client, name), name
    assert carnet.Metric is __import__("carnet.domain", fromlist=["Metric"]).Metric


def test_carnet_client_exports_the_fluent_api_once_and_the_clients() -> None:
    assert sorted(carnet.client.__all__) == sorted(
        ["Client", "ClientAPI", "LocalClient", "RemoteClient", "connect", *FLUENT]
    )
    assert carnet.client.fluent.__all__ == FLUENT


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        carnet.Clinet  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "Clinet" in str(exc)
    else:
        raise AssertionError("carnet.Clinet resolved")


def test_importing_the_sdk_loads_no_web_framework_or_validation_library() -> None:
    code = (
        "import sys, json, carnet.client; "
        "print(json.dumps([m for m in ('pydantic', 'fastapi', 'starlette', 'uvicorn') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
