"""The SDK surface, part two: deployments, monitors, labels, batch prediction and drift (see
:class:`carnet.client.api.ClientAPI`, which includes it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from carnet.domain import (
        Alert,
        Deployment,
        LabelFile,
        Monitor,
        MonitorWindow,
        ResolvedDeployment,
    )
    from carnet.domain.drift import DriftReport
    from carnet.domain.monitors import PassResult

__all__ = ["OpsAPI"]


class OpsAPI(Protocol):
    """Deployments, monitors and their alerts, labels, batch prediction and drift."""

    def set_deployment(self, source: Any) -> Deployment:
        """Store a deployment (YAML text, a file path or a dict) as its endpoint's next revision."""
        ...

    def get_deployment(self, endpoint: str) -> Deployment:
        """The current deployment of an endpoint."""
        ...

    def list_deployments(self) -> list[Deployment]:
        """The current deployment of every endpoint."""
        ...

    def deployment_history(self, endpoint: str) -> list[Deployment]:
        """Every revision of an endpoint's deployment, oldest first (deletions included)."""
        ...

    def delete_deployment(self, endpoint: str, *, reason: str = "") -> Deployment:
        """Stop routing an endpoint (audited); returns the revision that marks it deleted."""
        ...

    def resolve_deployment(self, endpoint: str) -> ResolvedDeployment:
        """An endpoint's current deployment with every reference resolved to the version it names now.

        Raises:
            NotFound: no deployment, or a reference no longer resolves (``field`` names the entry).
        """
        ...

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
        """The A/B analysis of an endpoint that splits traffic between versions (reads only).

        Each route is an arm (the first is the control); labels added with :meth:`add_labels` are
        joined on ``(request_id, row)``. Returns each arm's realized ``metric`` (accuracy, error_rate,
        log_loss, brier; mae, mse) with an interval, the difference ``control - challenger`` with an
        always-valid mSPRT interval and p-value (``alpha`` holds however often it is read), the rows
        still needed to detect ``mde`` at ``power``, and ``decision``: ``promote_challenger``,
        ``keep_control`` or ``continue``. Unlabelled rows get label-free estimates (CBPE/DLE) and the
        arms' prediction distributions are compared; those parts say ``estimated: true``. ``since``:
        ``all``, a duration back from now (``7d``) or a time; default, when the last arm started.

        Raises:
            NotFound: no such endpoint. InvalidInput: one version routed, or a bad ``metric``,
                ``alpha``, ``mde``, ``since`` or ``power`` (named).
        """
        ...

    def create_monitor(self, spec: Mapping[str, Any]) -> Monitor:
        """Create a monitor from its spec (``name``, ``model``, ``reference``, ``window``, ``rules``,
        ``notify`` ...): its reference is built and stored once (audited).

        Through a server, the monitor comes back as the server shows it: notifier secrets are ``***``.
        """
        ...

    def list_monitors(self) -> list[Monitor]:
        """Every monitor, by name.

        Through a server, notifier secrets are shown as ``***``.
        """
        ...

    def get_monitor(self, name: str) -> Monitor:
        """A monitor by name.

        Through a server, notifier secrets are shown as ``***``.
        """
        ...

    def run_monitor(
        self,
        name: str,
        *,
        flush: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
        executor: str | None = None,
        jobs: int | None = None,
    ) -> PassResult:
        """One pass over the prediction-log rows logged since the last one (idempotent); ``flush``
        closes the unfinished window too. Alert actions run after the pass is stored. ``executor``
        (with ``jobs``) evaluates the closed windows there in parallel.

        Through a server the pass runs there, on its own executor, and ``progress`` is not reported.
        """
        ...

    def monitor_windows(self, name: str, last: int | None = None) -> list[MonitorWindow]:
        """The windows of a monitor, oldest first (the ``last`` ones when given)."""
        ...

    def monitor_window_report(self, name: str, seq: int) -> dict[str, Any]:
        """The full JSON report of window ``seq``: per-column drift, data quality, estimates."""
        ...

    def monitor_rollup(self, name: str, period: str = "1d", last: int | None = None) -> list[dict[str, Any]]:
        """Input drift per period (``1d``, ``6h``), from the merged profiles of the windows that ended
        in it (of the ``last`` windows when given)."""
        ...

    def delete_monitor(self, name: str) -> None:
        """Delete a monitor (audited); its windows and alerts stay on record."""
        ...

    def list_alerts(
        self, monitor: str | None = None, status: str | Sequence[str] | None = None
    ) -> list[Alert]:
        """Alerts, newest first: of one monitor, in some statuses (open, acknowledged, resolved)."""
        ...

    def acknowledge_alert(self, alert_id: int, comment: str = "") -> Alert:
        """Mark an open alert as seen (it stays active until resolved); audited."""
        ...

    def resolve_alert(self, alert_id: int, comment: str = "") -> Alert:
        """Close an open or acknowledged alert by hand; audited and notified."""
        ...

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
        ...

    def predict_batch(
        self,
        ref: str,
        data: str,
        out: str | Path,
        *,
        batch_rows: int = 65_536,
        with_proba: bool = False,
        explain: str | None = None,
        id_column: str | None = None,
        log: bool = False,
        executor: str | None = None,
        jobs: int | None = None,
        max_driver_memory: int | None = None,
        allow_pickle: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> dict[str, Any]:
        """Score ``data`` (a dataset version or a CSV/Parquet file) with model version ``ref`` into
        the Parquet file ``out``, streaming in bounded memory; records a ``batch_prediction`` run
        (see ``carnet predict``). Returns the run id, rows, seconds, throughput and digests.

        ``allow_pickle`` loads a model stored with pickle (trust its source). Through a server the
        scoring runs there, on the server's executor (``executor``, ``jobs``, ``max_driver_memory``
        and ``allow_pickle`` are the server's business and must be left out); a local file is
        uploaded first, and the output is downloaded from the run's ``predictions.parquet``.
        """
        ...

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
        """Compare two tables now: each a dataset version (``NAME@V``), a CSV/Parquet file or a
        DataFrame. A dataset version as reference is read through its stored profile.

        With ``executor`` (``local``, ``ray:local``, ``dask:local``, a cluster address) or
        ``batch_rows``, both sides (dataset versions or files) stream in batches counted on the
        executor, in bounded memory; a server decides its executor itself.

        Raises:
            InvalidInput: a bad option, or a reference column missing from the current table.
            NotFound: no such dataset version or file.

        Through a server, two dataset versions are compared there; when a side is a file or a DataFrame the
        comparison runs here, the dataset version downloaded (verified) and profiled as the server does.
        """
        ...
