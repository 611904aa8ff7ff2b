"""Deployments, monitors, alerts, labels and drift over HTTP: part of
:class:`~carnet.client.remote.RemoteClient` (the same calls as ``local_ops`` on a workspace)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from carnet.client.api import ClientAPI
from carnet.client.remote_http import HttpTransport, remote, server_decides
from carnet.client.wire import RollupPeriod, decode
from carnet.client.wire_ops import check_count, statuses
from carnet.documents import read_document
from carnet.domain import Deployment, Monitor, MonitorWindow, ResolvedDeployment, load_deployment
from carnet.domain.drift import DriftReport
from carnet.domain.lineage import LineageGraph
from carnet.domain.monitors import Alert, LabelFile, PassResult
from carnet.errors import InvalidInput, NotFound
from carnet.operations import call

__all__ = ["RemoteOps"]


def _parquet(frame: Any, what: str) -> bytes:
    """A DataFrame as Parquet bytes (how it travels to the server)."""
    if not hasattr(frame, "to_parquet"):
        raise InvalidInput(
            f"{what} must be a dataset version NAME@V, a CSV/Parquet file or a DataFrame, "
            f"got {type(frame).__name__}",
            field=what,
        )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _local_file(source: Any, what: str) -> Path | None:
    """``source`` as a file of this machine; None when it names a dataset version (or is a frame).

    The rule of the local workspace: an existing file wins; a path-like text that is no file
    (a ``/`` and no ``@``) is NotFound naming ``what``.
    """
    if not isinstance(source, str | Path):
        return None
    if Path(source).is_file():
        return Path(source)
    if isinstance(source, Path) or ("@" not in source and "/" in source):
        raise NotFound(f"{what}: no file {source}", field=what)
    return None


class RemoteOps(HttpTransport):
    """The operations calls of the remote client: deployments, monitors, alerts, labels, drift."""

    # -- lineage -------------------------------------------------------------------------------------
    def lineage(self, ref: str, *, depth: int = 6) -> LineageGraph:
        return LineageGraph.from_dict(self._op("lineage", dict[str, Any], ref=ref, depth=depth))

    # -- CI --------------------------------------------------------------------------------------------
    def ci_report(
        self,
        run: str | None = None,
        *,
        pipeline: str | None = None,
        model: str | None = None,
        policy: str | Path | Mapping[str, Any] | None = None,
        alias: str = "production",
        base_url: str | None = None,
    ) -> dict[str, Any]:
        if (run is None) == (pipeline is None):
            raise InvalidInput("give a RUN id or --pipeline NAME (one of them)", field="run")
        params: dict[str, Any] = {"alias": alias, "base_url": base_url or self.uri}
        params |= {k: v for k, v in (("pipeline", pipeline), ("model", model)) if v is not None}
        if policy is not None:  # a file of this machine is read here
            params["policy"] = json.dumps(read_document(policy, "policy"))
        return self._op("ci_report", dict[str, Any], run_id=run or "latest", query=params)

    # -- deployments ---------------------------------------------------------------------------------
    def set_deployment(self, source: Any) -> Deployment:
        spec = load_deployment(
            source.to_spec() if isinstance(source, Deployment) else read_document(source, "deployment")
        )
        return self._op("set_deployment", Deployment, endpoint=spec.endpoint, body=spec.to_spec())

    get_deployment = remote("get_deployment", ClientAPI.get_deployment, Deployment)
    list_deployments = remote("list_deployments", ClientAPI.list_deployments, list[Deployment])
    deployment_history = remote("deployment_history", ClientAPI.deployment_history, list[Deployment])
    delete_deployment = remote("delete_deployment", ClientAPI.delete_deployment, Deployment)
    resolve_deployment = remote("resolve_deployment", ClientAPI.resolve_deployment, ResolvedDeployment)
    ab_analysis = remote("ab_analysis", ClientAPI.ab_analysis, dict[str, Any])

    # -- monitors ------------------------------------------------------------------------------------
    def create_monitor(self, spec: Mapping[str, Any]) -> Monitor:
        if not isinstance(spec, Mapping):
            raise InvalidInput(
                "a monitor must be a mapping with name, model, reference, window", field="monitor"
            )
        return self._op("create_monitor", Monitor, body=dict(spec))

    list_monitors = remote("list_monitors", ClientAPI.list_monitors, list[Monitor])
    get_monitor = remote("get_monitor", ClientAPI.get_monitor, Monitor)

    def run_monitor(
        self,
        name: str,
        *,
        flush: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
        executor: str | None = None,
        jobs: int | None = None,
    ) -> PassResult:
        server_decides(executor=executor, jobs=jobs)
        return self._op("run_monitor", PassResult, name=name, flush=bool(flush))

    def monitor_windows(self, name: str, last: int | None = None) -> list[MonitorWindow]:
        count = None if last is None else check_count(last, "last")
        return self._op("monitor_windows", list[MonitorWindow], name=name, last=count)

    def monitor_window_report(self, name: str, seq: int) -> dict[str, Any]:
        return self._op("monitor_window_report", dict[str, Any], name=name, seq=check_count(seq, "seq"))

    def monitor_rollup(self, name: str, period: str = "1d", last: int | None = None) -> list[dict[str, Any]]:
        count = None if last is None else check_count(last, "last")
        return [
            dict(p)
            for p in self._op("monitor_rollup", list[RollupPeriod], name=name, period=period, last=count)
        ]

    delete_monitor = remote("delete_monitor", ClientAPI.delete_monitor)

    # -- alerts --------------------------------------------------------------------------------------
    list_alerts = remote("list_alerts", ClientAPI.list_alerts, list[Alert], status=statuses)

    def acknowledge_alert(self, alert_id: int, comment: str = "") -> Alert:
        return self._op(
            "acknowledge_alert", Alert, alert_id=check_count(alert_id, "alert_id"), comment=comment
        )

    def resolve_alert(self, alert_id: int, comment: str = "") -> Alert:
        return self._op("resolve_alert", Alert, alert_id=check_count(alert_id, "alert_id"), comment=comment)

    # -- ground truth and drift ----------------------------------------------------------------------
    def add_labels(
        self,
        source: str | Path | Any,
        *,
        id_column: str = "request_id",
        label_column: str = "label",
        row_column: str | None = None,
        model: str | None = None,
    ) -> LabelFile:
        params: dict[str, Any] = {"id_column": id_column, "label_column": label_column}
        if row_column is not None:
            params["row_column"] = row_column
        if model is not None:
            params["model"] = model
        if isinstance(source, str | Path):
            path = Path(source)
            if not path.is_file():
                raise InvalidInput(f"{path} is not a file", field="file")
            params["filename"] = str(source)  # names the file in messages, as on a workspace
            return decode(LabelFile, self._upload(call("upload_labels"), path, None, params=params))
        buf = io.BytesIO()
        source.to_parquet(buf, index=False)
        params.update(format="parquet", filename="DataFrame")
        headers = {"Content-Type": "application/octet-stream"}
        found = self._json(call("upload_labels"), content=buf.getvalue(), headers=headers, params=params)
        return decode(LabelFile, found)

    def drift(
        self,
        reference: Any,
        current: Any,
        options: Mapping[str, Any] | None = None,
        *,
        executor: str | None = None,
        jobs: int | None = None,
        batch_rows: int | None = None,
    ) -> DriftReport:
        server_decides(executor=executor, jobs=jobs, batch_rows=batch_rows)
        ref_file, cur_file = _local_file(reference, "reference"), _local_file(current, "current")
        if options is not None and not isinstance(options, Mapping):
            raise InvalidInput("options must be a mapping of drift options", field="options")
        if isinstance(reference, str) and isinstance(current, str) and ref_file is None and cur_file is None:
            chosen = dict(options) if options else None
            return self._op("detect_drift", DriftReport, reference=reference, current=current, options=chosen)
        # a file or a DataFrame of this machine goes up with the request; the server compares
        data = {"options": json.dumps(dict(options))} if options else {}
        files: dict[str, Any] = {}
        with contextlib.ExitStack() as stack:
            for what, source, file in (("reference", reference, ref_file), ("current", current, cur_file)):
                if file is not None:
                    files[f"{what}_file"] = (file.name, stack.enter_context(open(file, "rb")))
                elif isinstance(source, str):
                    data[what] = source
                else:
                    files[f"{what}_file"] = (f"{what}.parquet", _parquet(source, what))
            return decode(DriftReport, self._json(call("detect_drift_files"), data=data, files=files))
