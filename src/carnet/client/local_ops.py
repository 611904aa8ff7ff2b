"""Deployments, monitors, alerts, labels and drift on a local workspace: part of
:class:`carnet.client.local.LocalClient` (the remote client has the same calls in ``remote_ops``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carnet.client.api import ClientAPI
from carnet.client.wire_ops import check_count, statuses
from carnet.domain import Deployment, Monitor, MonitorWindow, ResolvedDeployment
from carnet.domain.lineage import LineageGraph
from carnet.domain.monitors import Alert, LabelFile
from carnet.errors import NotFound
from carnet.services import Services

if TYPE_CHECKING:
    from carnet.domain.monitors import PassResult
    from carnet.monitoring.drift import DriftReport

__all__ = ["LocalOps"]


class LocalOps(ClientAPI):
    """The operations calls of the local client, over the in-process services."""

    services: Services

    # -- lineage -------------------------------------------------------------------------------------
    def lineage(self, ref: str, *, depth: int = 6) -> LineageGraph:
        return self.services.lineage.lineage(ref, depth=depth)

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
        return self.services.ci_report.report(
            run, pipeline=pipeline, model=model, policy=policy, alias=alias, base_url=base_url
        )

    # -- deployments ---------------------------------------------------------------------------------
    def set_deployment(self, source: Any) -> Deployment:
        return self.services.deployments.set(source)

    def get_deployment(self, endpoint: str) -> Deployment:
        return self.services.deployments.get(endpoint)

    def list_deployments(self) -> list[Deployment]:
        return self.services.deployments.list()

    def deployment_history(self, endpoint: str) -> list[Deployment]:
        return self.services.deployments.history(endpoint)

    def delete_deployment(self, endpoint: str, *, reason: str = "") -> Deployment:
        return self.services.deployments.delete(endpoint, reason=reason)

    def resolve_deployment(self, endpoint: str) -> ResolvedDeployment:
        return self.services.deployments.resolve(endpoint)

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
        return self.services.ab_analysis.analyse(
            endpoint, metric=metric, alpha=alpha, mde=mde, since=since, power=power
        )

    # -- monitors ------------------------------------------------------------------------------------
    def create_monitor(self, spec: Mapping[str, Any]) -> Monitor:
        return self.services.monitoring.create(spec)

    def list_monitors(self) -> list[Monitor]:
        return self.services.monitoring.list()

    def get_monitor(self, name: str) -> Monitor:
        return self.services.monitoring.get(name)

    def run_monitor(
        self,
        name: str,
        *,
        flush: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
        executor: str | None = None,
        jobs: int | None = None,
    ) -> PassResult:
        return self.services.monitoring.run(
            name, flush=flush, progress=progress, executor=executor, jobs=jobs
        )

    def monitor_windows(self, name: str, last: int | None = None) -> list[MonitorWindow]:
        if last is not None:
            check_count(last, "last")
        return self.services.monitoring.windows(name, last=last)

    def monitor_window_report(self, name: str, seq: int) -> dict[str, Any]:
        check_count(seq, "seq")
        return self.services.monitoring.window_report(self.services.monitoring.window(name, seq))

    def monitor_rollup(self, name: str, period: str = "1d", last: int | None = None) -> list[dict[str, Any]]:
        if last is not None:
            check_count(last, "last")
        return self.services.monitoring.rollup(name, period, last=last)

    def delete_monitor(self, name: str) -> None:
        self.services.monitoring.delete(name)

    # -- alerts --------------------------------------------------------------------------------------
    def list_alerts(
        self, monitor: str | None = None, status: str | Sequence[str] | None = None
    ) -> list[Alert]:
        found = self.services.monitoring.get(monitor) if monitor is not None else None
        return self.services.alerts.list(found, statuses(status))

    def acknowledge_alert(self, alert_id: int, comment: str = "") -> Alert:
        return self.services.alerts.acknowledge(alert_id, comment, self._alert_monitor(alert_id))

    def resolve_alert(self, alert_id: int, comment: str = "") -> Alert:
        return self.services.alerts.resolve(alert_id, comment, self._alert_monitor(alert_id))

    def _alert_monitor(self, alert_id: int) -> Monitor | None:
        """The monitor of an alert, for its notifiers (None once deleted)."""
        alert = self.services.alerts.get(check_count(alert_id, "alert_id"))
        try:
            return self.services.monitoring.get(alert.monitor)
        except NotFound:
            return None

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
        return self.services.monitoring.add_labels(
            source, id_column=id_column, label_column=label_column, row_column=row_column, model=model
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
        result: DriftReport = self.services.monitoring.drift(
            reference, current, options, executor=executor, jobs=jobs, batch_rows=batch_rows
        )
        return result
