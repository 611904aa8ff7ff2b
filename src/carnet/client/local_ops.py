"""Deployments, monitors, alerts, labels and drift on a local workspace: part of
:class:`carnet.client.local.Client` (the remote client has the same calls in ``remote_ops``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carnet.client.wire_ops import check_count, statuses
from carnet.domain import Deployment, Monitor, MonitorWindow, ResolvedDeployment
from carnet.domain.lineage import LineageGraph
from carnet.domain.monitors import Alert, LabelFile
from carnet.errors import NotFound
from carnet.services import Services

if TYPE_CHECKING:
    from carnet.checks.drift import DriftReport
    from carnet.services.monitoring import PassResult

__all__ = ["LocalOps"]


class LocalOps:
    """The operations calls of the local client, over the in-process services."""

    services: Services

    # -- lineage -------------------------------------------------------------------------------------
    def lineage(self, ref: str, *, depth: int = 6) -> LineageGraph:
        """What ``ref`` (``data@3``, a run id, ``model/2``, ``model@alias``, an endpoint, a monitor)
        came from and what came of it, ``depth`` steps each way."""
        return self.services.lineage.lineage(ref, depth=depth)

    # -- deployments ---------------------------------------------------------------------------------
    def set_deployment(self, source: Any) -> Deployment:
        """Store a deployment (YAML text, a file path or a dict) as its endpoint's next revision."""
        return self.services.deployments.set(source)

    def get_deployment(self, endpoint: str) -> Deployment:
        """The current deployment of an endpoint."""
        return self.services.deployments.get(endpoint)

    def list_deployments(self) -> list[Deployment]:
        """The current deployment of every endpoint."""
        return self.services.deployments.list()

    def deployment_history(self, endpoint: str) -> list[Deployment]:
        """Every revision of an endpoint's deployment, oldest first (deletions included)."""
        return self.services.deployments.history(endpoint)

    def delete_deployment(self, endpoint: str, *, reason: str = "") -> Deployment:
        """Stop routing an endpoint (audited); returns the revision that marks it deleted."""
        return self.services.deployments.delete(endpoint, reason=reason)

    def resolve_deployment(self, endpoint: str) -> ResolvedDeployment:
        """An endpoint's current deployment with every reference resolved to the version it names now.

        Raises:
            NotFound: no deployment, or a reference no longer resolves (``field`` names the entry).
        """
        return self.services.deployments.resolve(endpoint)

    # -- monitors ------------------------------------------------------------------------------------
    def create_monitor(self, spec: Mapping[str, Any]) -> Monitor:
        """Create a monitor from its spec (``name``, ``model``, ``reference``, ``window``, ``rules``,
        ``notify`` ...): its reference is built and stored once (audited)."""
        return self.services.monitoring.create(spec)

    def list_monitors(self) -> list[Monitor]:
        """Every monitor, by name."""
        return self.services.monitoring.list()

    def get_monitor(self, name: str) -> Monitor:
        """A monitor by name."""
        return self.services.monitoring.get(name)

    def run_monitor(
        self, name: str, *, flush: bool = False, progress: Callable[[str, int, int], None] | None = None
    ) -> PassResult:
        """One pass over the prediction-log rows logged since the last one (idempotent); ``flush``
        closes the unfinished window too. Alert actions run after the pass is stored."""
        return self.services.monitoring.run(name, flush=flush, progress=progress)

    def monitor_windows(self, name: str, last: int | None = None) -> list[MonitorWindow]:
        """The windows of a monitor, oldest first (the ``last`` ones when given)."""
        if last is not None:
            check_count(last, "last")
        return self.services.monitoring.windows(name, last=last)

    def monitor_window_report(self, name: str, seq: int) -> dict[str, Any]:
        """The full JSON report of window ``seq``: per-column drift, data quality, estimates."""
        check_count(seq, "seq")
        return self.services.monitoring.window_report(self.services.monitoring.window(name, seq))

    def monitor_rollup(self, name: str, period: str = "1d", last: int | None = None) -> list[dict[str, Any]]:
        """Input drift per period (``1d``, ``6h``), from the merged profiles of the windows that ended
        in it (of the ``last`` windows when given)."""
        if last is not None:
            check_count(last, "last")
        return self.services.monitoring.rollup(name, period, last=last)

    def delete_monitor(self, name: str) -> None:
        """Delete a monitor (audited); its windows and alerts stay on record."""
        self.services.monitoring.delete(name)

    # -- alerts --------------------------------------------------------------------------------------
    def list_alerts(
        self, monitor: str | None = None, status: str | Sequence[str] | None = None
    ) -> list[Alert]:
        """Alerts, newest first: of one monitor, in some statuses (open, acknowledged, resolved)."""
        found = self.services.monitoring.get(monitor) if monitor is not None else None
        return self.services.alerts.list(found, statuses(status))

    def acknowledge_alert(self, alert_id: int, comment: str = "") -> Alert:
        """Mark an open alert as seen (it stays active until resolved); audited."""
        return self.services.alerts.acknowledge(alert_id, comment, self._alert_monitor(alert_id))

    def resolve_alert(self, alert_id: int, comment: str = "") -> Alert:
        """Close an open or acknowledged alert by hand; audited and notified."""
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
        """Store ground-truth labels (a CSV or Parquet file, or a DataFrame); the next monitoring
        pass joins them to the prediction log on ``(request id, row)``."""
        return self.services.monitoring.add_labels(
            source, id_column=id_column, label_column=label_column, row_column=row_column, model=model
        )

    def drift(self, reference: Any, current: Any, options: Mapping[str, Any] | None = None) -> DriftReport:
        """Compare two tables now: each a dataset version (``NAME@V``), a CSV/Parquet file or a
        DataFrame. A dataset version as reference is read through its stored profile.

        Raises:
            InvalidInput: a bad option, or a reference column missing from the current table.
            NotFound: no such dataset version or file.
        """
        result: DriftReport = self.services.monitoring.drift(reference, current, options)
        return result
