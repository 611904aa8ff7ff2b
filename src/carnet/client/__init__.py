"""The Python SDK: ``Client`` for queries and changes, fluent ``start_run`` for tracking."""

from carnet.client.fluent import (
    ActiveRun,
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
from carnet.client.local import Client

__all__ = [
    "ActiveRun",
    "Client",
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
