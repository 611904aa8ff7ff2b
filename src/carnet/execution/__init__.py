"""Where carnet's heavy work runs: this machine's processes, a Ray cluster or a Dask cluster.

One setting picks the backend for search and AutoML trials, batch prediction and drift over
large data; the same spec and command work on each (see ``docs/distributed.md``):

===================== ===========================================================
``local`` (default)   the calling process, or a pool of ``--jobs`` worker processes
``ray:local``         a Ray instance started on this machine (extra ``ray``)
``ray://HOST:PORT``   a running Ray cluster, through the Ray Client
``dask:local``        a Dask ``LocalCluster`` of worker processes (extra ``dask``)
``dask://HOST:PORT``  a running Dask scheduler (``tcp://HOST:PORT`` also works)
===================== ===========================================================

The setting comes from ``--executor``, else ``CARNET_EXECUTOR``, else ``executor`` in
``carnet.toml``. Nothing here imports Ray or Dask until such an executor is opened.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from carnet.errors import InvalidInput
from carnet.execution.base import (
    BatchSource,
    DeadlineExceeded,
    Executor,
    ExecutorBase,
    FuturesExecutor,
    HeldBytes,
    Part,
    apply_part,
    check_batch_rows,
    nbytes,
)
from carnet.execution.local import InlineExecutor, LocalProcessExecutor, cpu_count, executor_for

__all__ = [
    "BACKENDS",
    "BatchSource",
    "DeadlineExceeded",
    "Executor",
    "ExecutorBase",
    "ExecutorSetting",
    "FuturesExecutor",
    "HeldBytes",
    "InlineExecutor",
    "LocalProcessExecutor",
    "Part",
    "apply_part",
    "check_batch_rows",
    "cpu_count",
    "executor_for",
    "nbytes",
    "open_executor",
    "parse_executor",
]

BACKENDS = ("local", "ray", "dask")
_FORMS = "local, ray:local, ray://HOST:PORT, dask:local or dask://HOST:PORT"
_CONNECT_SECONDS = 3.0


@dataclass(frozen=True)
class ExecutorSetting:
    """A parsed executor setting: the backend and the cluster address (None: start one here)."""

    backend: str
    address: str | None = None

    def __str__(self) -> str:
        if self.backend == "local":
            return "local"
        if self.address is None:
            return f"{self.backend}:local"
        return self.address if self.backend == "ray" else f"dask://{self.address.removeprefix('tcp://')}"


def parse_executor(text: str | None) -> ExecutorSetting:
    """The setting ``text`` names (None or empty: ``local``).

    Raises:
        InvalidInput: an unknown form, or an address without a port (``field="executor"``).
    """
    value = (text or "local").strip()
    if value in ("local", ""):
        return ExecutorSetting("local")
    if value in ("ray:local", "ray"):
        return ExecutorSetting("ray")
    if value in ("dask:local", "dask"):
        return ExecutorSetting("dask")
    for prefix, backend in (("ray://", "ray"), ("dask://", "dask"), ("tcp://", "dask")):
        if value.startswith(prefix):
            host, sep, port = value[len(prefix) :].rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise InvalidInput(
                    f"executor {value!r}: write {prefix}HOST:PORT with a port number", field="executor"
                )
            address = f"ray://{host}:{port}" if backend == "ray" else f"tcp://{host}:{port}"
            return ExecutorSetting(backend, address)
    raise InvalidInput(f"unknown executor {value!r}: use {_FORMS}", field="executor")


def _reachable(address: str) -> None:
    host, _, port = address.split("://", 1)[1].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_SECONDS):
            return
    except OSError as exc:
        raise InvalidInput(
            f"executor {address}: cannot reach the cluster ({exc.strerror or exc}); check that it runs "
            "and the address, or use --executor local",
            field="executor",
        ) from None


def open_executor(setting: str | ExecutorSetting | None, jobs: int | None = None) -> Executor:
    """An executor for ``setting`` (see the module doc); ``jobs`` caps the calls run at once.

    With ``local``, ``jobs`` None or 1 runs in this process and more uses worker processes.

    Raises:
        InvalidInput: a bad setting, a missing extra (naming the ``pip install``), or a cluster
            that cannot be reached (one line naming the address).
    """
    parsed = setting if isinstance(setting, ExecutorSetting) else parse_executor(setting)
    if jobs is not None and jobs != -1 and jobs < 1:
        raise InvalidInput(f"jobs must be a positive number or -1, got {jobs}", field="jobs")
    workers = None if jobs in (None, -1) else jobs
    if parsed.backend == "local":
        return executor_for(jobs)
    if parsed.address is not None:
        _reachable(parsed.address)
    try:
        if parsed.backend == "ray":
            from carnet.execution.ray import RayExecutor

            return RayExecutor(parsed.address, workers)
        from carnet.execution.dask import DaskExecutor

        return DaskExecutor(parsed.address, workers)
    except ImportError as exc:
        extra = parsed.backend
        raise InvalidInput(
            f"the {extra} executor needs the {extra} extra ({exc.name or exc} is missing): "
            f"pip install 'carnet[{extra}]'",
            field="executor",
        ) from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(
            f"executor {parsed}: cannot connect ({reason})",
            field="executor",
        ) from None
