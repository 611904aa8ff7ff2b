"""carnet: an ML platform that keeps every step on record.

``import carnet`` is cheap: the SDK is loaded on first use of one of its names.

    import carnet
    with carnet.start_run(project="demo") as run:
        run.log_param("model", "lgbm")
        run.log_metric("auc", 0.91)
    carnet.Client().search_runs("demo", filter="metrics.auc > 0.9")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SDK = {
    "ActiveRun": "carnet.client",
    "Client": "carnet.client",
    "active_run": "carnet.client",
    "end_run": "carnet.client",
    "flush": "carnet.client",
    "log_artifact": "carnet.client",
    "log_dataset": "carnet.client",
    "log_metric": "carnet.client",
    "log_metrics": "carnet.client",
    "log_param": "carnet.client",
    "log_params": "carnet.client",
    "set_seed": "carnet.client",
    "set_tag": "carnet.client",
    "start_run": "carnet.client",
    "RunStatus": "carnet.domain",
    "Metric": "carnet.domain",
    "errors": "carnet.errors",
}

__all__ = [
    "ActiveRun",
    "Client",
    "Metric",
    "RunStatus",
    "__version__",
    "active_run",
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

if TYPE_CHECKING:
    from carnet import errors
    from carnet.client import (
        ActiveRun,
        Client,
        active_run,
        end_run,
        flush,
        log_artifact,
        log_dataset,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_seed,
        set_tag,
        start_run,
    )
    from carnet.domain import Metric, RunStatus


def __getattr__(name: str) -> Any:
    module = _SDK.get(name)
    if module is None:
        raise AttributeError(f"module 'carnet' has no attribute {name!r}")
    import importlib

    mod = importlib.import_module(module)
    value = mod if name == "errors" else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
