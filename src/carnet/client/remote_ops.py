"""Deployments, monitors, alerts, labels and drift over HTTP: part of
:class:`~carnet.client.remote.RemoteClient` (the same calls as ``local_ops`` on a workspace)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from carnet.client.remote_http import HttpTransport, server_decides
from carnet.client.wire_ops import (
    alert_from_dict,
    check_count,
    deployment_from_dict,
    drift_report_from_dict,
    label_file_from_dict,
    monitor_from_dict,
    pass_from_dict,
    resolved_deployment_from_dict,
    rollup_from_dict,
    statuses,
    window_from_dict,
)
from carnet.documents import read_document
from carnet.domain import Deployment, Monitor, MonitorWindow, ResolvedDeployment, load_deployment
from carnet.domain.lineage import LineageGraph
from carnet.domain.monitors import Alert, LabelFile
from carnet.errors import InvalidInput, NotFound
from carnet.operations import call

if TYPE_CHECKING:
    from carnet.domain.drift import DriftReport
    from carnet.domain.monitors import PassResult

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
        return LineageGraph.from_dict(self._json(call("lineage"), params={"ref": ref, "depth": depth}))

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
        report: dict[str, Any] = self._json(call("ci_report", run_id=run or "latest"), params=params)
        return report

    # -- deployments ---------------------------------------------------------------------------------
    def set_deployment(self, source: Any) -> Deployment:
        spec = load_deployment(
            source.to_spec() if isinstance(source, Deployment) else read_document(source, "deployment")
        )
        body = spec.to_spec()
        return deployment_from_dict(self._json(call("set_deployment", endpoint=spec.endpoint), json=body))

    def get_deployment(self, endpoint: str) -> Deployment:
        return deployment_from_dict(self._json(call("get_deployment", endpoint=endpoint)))

    def list_deployments(self) -> list[Deployment]:
        return [deployment_from_dict(d) for d in self._json(call("list_deployments"))]

    def deployment_history(self, endpoint: str) -> list[Deployment]:
        return [deployment_from_dict(d) for d in self._json(call("deployment_history", endpoint=endpoint))]

    def delete_deployment(self, endpoint: str, *, reason: str = "") -> Deployment:
        r = self._json(call("delete_deployment", endpoint=endpoint), params={"reason": reason})
        return deployment_from_dict(r)

    def resolve_deployment(self, endpoint: str) -> ResolvedDeployment:
        return resolved_deployment_from_dict(self._json(call("resolve_deployment", endpoint=endpoint)))

    def ab_analysis(
        self,
        endpoint: str,
        *,
        metric: str | None = None,
        alpha: float = 0.05,
        mde: float | None = None,
        since: str | None = None,
        power: float = 0.8,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"alpha": alpha, "power": power}
        params.update(
            {k: v for k, v in (("metric", metric), ("mde", mde), ("since", since)) if v is not None}
        )
        return cast("dict[str, Any]", self._json(call("ab_analysis", endpoint=endpoint), params=params))

    # -- monitors ------------------------------------------------------------------------------------
    def create_monitor(self, spec: Mapping[str, Any]) -> Monitor:
        if not isinstance(spec, Mapping):
            raise InvalidInput(
                "a monitor must be a mapping with name, model, reference, window", field="monitor"
            )
        return monitor_from_dict(self._json(call("create_monitor"), json=dict(spec)))

    def list_monitors(self) -> list[Monitor]:
        return [monitor_from_dict(m) for m in self._json(call("list_monitors"))]

    def get_monitor(self, name: str) -> Monitor:
        return monitor_from_dict(self._json(call("get_monitor", name=name)))

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
        return cast(
            "PassResult",
            pass_from_dict(self._json(call("run_monitor", name=name), json={"flush": bool(flush)})),
        )

    def monitor_windows(self, name: str, last: int | None = None) -> list[MonitorWindow]:
        params = {} if last is None else {"last": check_count(last, "last")}
        rows = self._json(call("monitor_windows", name=name), params=params)
        return [window_from_dict(w) for w in rows]

    def monitor_window_report(self, name: str, seq: int) -> dict[str, Any]:
        report: dict[str, Any] = self._json(
            call("monitor_window_report", name=name, seq=check_count(seq, "seq"))
        )
        return report

    def monitor_rollup(self, name: str, period: str = "1d", last: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"period": period}
        if last is not None:
            params["last"] = check_count(last, "last")
        periods = self._json(call("monitor_rollup", name=name), params=params)
        return [rollup_from_dict(p) for p in periods]

    def delete_monitor(self, name: str) -> None:
        self._send(call("delete_monitor", name=name))

    # -- alerts --------------------------------------------------------------------------------------
    def list_alerts(
        self, monitor: str | None = None, status: str | Sequence[str] | None = None
    ) -> list[Alert]:
        params: dict[str, Any] = {}
        if monitor is not None:
            params["monitor"] = monitor
        wanted = statuses(status)
        if wanted:
            params["status"] = wanted
        return [alert_from_dict(a) for a in self._json(call("list_alerts"), params=params)]

    def acknowledge_alert(self, alert_id: int, comment: str = "") -> Alert:
        at = call("acknowledge_alert", alert_id=check_count(alert_id, "alert_id"))
        return alert_from_dict(self._json(at, json={"comment": comment}))

    def resolve_alert(self, alert_id: int, comment: str = "") -> Alert:
        at = call("resolve_alert", alert_id=check_count(alert_id, "alert_id"))
        return alert_from_dict(self._json(at, json={"comment": comment}))

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
            return label_file_from_dict(self._upload(call("upload_labels"), path, None, params=params))
        buf = io.BytesIO()
        source.to_parquet(buf, index=False)
        params.update(format="parquet", filename="DataFrame")
        headers = {"Content-Type": "application/octet-stream"}
        return label_file_from_dict(
            self._json(call("upload_labels"), content=buf.getvalue(), headers=headers, params=params)
        )

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
            body = {"reference": reference, "current": current, "options": dict(options) if options else None}
            return cast("DriftReport", drift_report_from_dict(self._json(call("detect_drift"), json=body)))
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
            return cast(
                "DriftReport",
                drift_report_from_dict(self._json(call("detect_drift_files"), data=data, files=files)),
            )
