"""Deployments, monitors, alerts, labels and drift on a local workspace: part of
:class:`carnet.client.local.LocalClient` (the remote client has the same calls in ``remote_ops``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carnet.client.api import ClientAPI
from carnet.client.forward import forward
from carnet.client.wire_ops import check_count, statuses
from carnet.domain import Monitor, MonitorWindow
from carnet.domain.monitors import Alert, LabelFile
from carnet.errors import NotFound
from carnet.services import Services
from carnet.services.ci_report import CIReportService
from carnet.services.deployments import DeploymentService
from carnet.services.lineage import LineageService
from carnet.services.monitoring import MonitoringService

if TYPE_CHECKING:
    from carnet.domain.monitors import PassResult
    from carnet.monitoring.drift import DriftReport

__all__ = ["LocalOps"]


class LocalOps(ClientAPI):
    """The operations calls of the local client, over the in-process services."""

    services: Services

    # -- lineage -------------------------------------------------------------------------------------
    lineage = forward("lineage", LineageService.lineage)

    # -- CI --------------------------------------------------------------------------------------------
    ci_report = forward("ci_report", CIReportService.report)

    # -- deployments ---------------------------------------------------------------------------------
    set_deployment = forward("deployments", DeploymentService.set)
    get_deployment = forward("deployments", DeploymentService.get)
    list_deployments = forward("deployments", DeploymentService.list)
    deployment_history = forward("deployments", DeploymentService.history)
    delete_deployment = forward("deployments", DeploymentService.delete)
    resolve_deployment = forward("deployments", DeploymentService.resolve)

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
    create_monitor = forward("monitoring", MonitoringService.create)
    list_monitors = forward("monitoring", MonitoringService.list)
    get_monitor = forward("monitoring", MonitoringService.get)

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

    delete_monitor = forward("monitoring", MonitoringService.delete)

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
