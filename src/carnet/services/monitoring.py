"""Production monitoring: monitors over the prediction log, their windows, labels and alerts.

A pass (:meth:`MonitoringService.run`) reads the prediction-log files written since the last
pass, plus the rows the last pass left in an unfinished window (kept as one Parquet artifact,
the *carry*), cuts them into windows, judges every closed window against the stored reference
(:func:`carnet.monitoring.window.evaluate_window`), joins ground-truth labels, and applies the
alert rules. Windows, the new cursor, alert changes and the audit event are written in one
transaction, so a pass that fails leaves nothing behind and running it again is harmless: a
pass with no new rows changes nothing. Alert actions (notifiers, rollback, retraining) run
after the commit and their outcomes are recorded on the alert (:mod:`carnet.services.alerts`).

Time windows (``1h``) are aligned to the clock and close once a row beyond their end has been
logged, or :data:`CLOSE_LAG` seconds after their end (the log writes files at least every
minute); a row arriving after its window closed counts in the next one. Row windows
(``10000rows``) close when full. ``run(..., flush=True)`` closes the unfinished window too.
"""

from __future__ import annotations

import builtins
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from carnet.domain import Monitor, MonitorWindow, load_monitor
from carnet.domain.monitors import LabelFile, PassResult, check_monitor_name, since_time
from carnet.errors import AlreadyExists, InvalidInput, NotFound
from carnet.monitoring.window import evaluate_window, realized_window
from carnet.services.alerts import AlertService
from carnet.services.context import ServiceContext, record
from carnet.services.datasets import DatasetService
from carnet.services.deployments import DeploymentService
from carnet.services.hooks import hooks_of
from carnet.services.monitor_reference import ReferenceBuilder, outputs_for_drift
from carnet.services.registry import RegistryService

__all__ = ["CLOSE_LAG", "MonitoringService", "PassResult", "shown_spec"]

#: seconds after its end at which a time window closes even without later rows
CLOSE_LAG = 120.0
#: ``progress(label, done, total)``
ProgressFn = Callable[[str, int, int], None]


class MonitoringService:
    """Monitors: create, run passes, read their windows, add ground-truth labels."""

    def __init__(
        self,
        ctx: ServiceContext,
        registry: RegistryService,
        datasets: DatasetService,
        deployments: DeploymentService,
        alerts: AlertService,
    ) -> None:
        self.ctx = ctx
        self.registry = registry
        self.datasets = datasets
        self.deployments = deployments
        self.alerts = alerts
        self.references = ReferenceBuilder(ctx, registry, datasets)

    # -- monitors -------------------------------------------------------------------------------
    def create(self, spec: Mapping[str, Any]) -> Monitor:
        """Validate a monitor, build and store its reference, and store it (audited).

        Raises:
            InvalidInput: a bad field (named). NotFound: the model alias or dataset does not exist.
            AlreadyExists: a monitor of that name exists.
        """
        from carnet.domain.validation import check_document
        from carnet.services.delivery import validate_notifiers

        monitor = load_monitor(check_document(spec, "") if isinstance(spec, Mapping) else spec)
        checked = validate_notifiers(list(monitor.notify), server=self.ctx.settings.server)
        monitor = replace(monitor, notify=tuple(checked))
        if monitor.retrain is not None:
            from carnet.tasks import get_task
            from carnet.training import load_spec

            try:
                retrain = load_spec(dict(monitor.retrain))
                server = self.ctx.settings.server
                if server is not None and retrain.model is not None:
                    from carnet.training import check_model_path

                    check_model_path(retrain.model.name, server.allowed_model_modules)
                get_task(retrain.task)
            except (InvalidInput, NotFound) as exc:
                raise InvalidInput(
                    f"retrain: {exc.message}", field=f"retrain.{exc.field or 'spec'}"
                ) from None
        with self.ctx.store.transaction(write=False) as tx:
            if tx.monitors.get(monitor.name) is not None:
                raise AlreadyExists(
                    f"monitor {monitor.name!r} exists; delete it first: carnet monitor delete {monitor.name}",
                    field="name",
                )
        state, mv = self.references.build(monitor)
        state.update({"last_file": 0, "carry": None, "carry_rows": 0, "closed_until": None, "labels_seen": 0})
        now = self.ctx.clock()
        # rows logged from ``since`` on (default: from now), each of the version the alias held when
        # it was logged (monitors made before this existed have neither key and read everything)
        state.update(since=since_time(monitor.since, now), follow_alias=True)
        with self.ctx.store.transaction() as tx:
            stored = tx.monitors.insert(
                replace(monitor, state=state, created_at=now, updated_at=now, actor=self.ctx.actor)
            )
            record(
                self.ctx,
                tx,
                "monitor.created",
                "monitor",
                monitor.name,
                {"spec": shown_spec(monitor), "reference_version": mv.ref, "state": _public_state(state)},
                now=now,
            )
        return stored

    def get(self, name: str) -> Monitor:
        """A monitor by name (NotFound with the way to list them)."""
        with self.ctx.store.transaction(write=False) as tx:
            found = tx.monitors.get(check_monitor_name(name))
        if found is None:
            raise NotFound(f"no monitor {name!r}; list them with: carnet monitor list", field="name")
        return found

    def list(self) -> builtins.list[Monitor]:
        """Every monitor, by name."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.monitors.list()

    def delete(self, name: str) -> None:
        """Delete a monitor (its windows and alerts stay on record), audited."""
        monitor = self.get(name)
        assert monitor.id is not None
        with self.ctx.store.transaction() as tx:
            tx.monitors.delete(monitor.id, self.ctx.clock())
            record(self.ctx, tx, "monitor.deleted", "monitor", name, {})

    def windows(self, name: str, last: int | None = None) -> builtins.list[MonitorWindow]:
        """The windows of a monitor, oldest first (the ``last`` ones when given)."""
        monitor = self.get(name)
        assert monitor.id is not None
        with self.ctx.store.transaction(write=False) as tx:
            return tx.monitors.windows(monitor.id, monitor.name, last=last)

    def rollup(self, name: str, period: str = "1d", last: int | None = None) -> builtins.list[dict[str, Any]]:
        """Input drift per period (``1d``, ``6h``...), from the merged profiles of the windows that
        ended in it; the reference and the windows' rows are not read again."""
        from carnet.domain.monitors import WindowSpec
        from carnet.monitoring.window import rollup

        spec = WindowSpec.parse(period, "period")
        if spec.kind != "time":
            raise InvalidInput(f"period {period!r} must be a duration such as 1d or 6h", field="period")
        monitor = self.get(name)
        ref = self.references.load(monitor)
        groups: dict[float, list[tuple[MonitorWindow, dict[str, Any]]]] = {}
        for w in self.windows(name, last=last):
            profile = self.window_report(w).get("profile")
            if profile:
                bucket = float(math.floor(w.end / spec.size) * spec.size)
                groups.setdefault(bucket, []).append((w, profile))
        out = []
        for start, items in sorted(groups.items()):
            report = rollup(ref.input_profile, [p for _, p in items], monitor.drift)
            out.append(
                {
                    "start": start,
                    "end": start + spec.size,
                    "windows": [w.seq for w, _ in items],
                    "rows": sum(w.rows for w, _ in items),
                    "share_drifted": report.share_drifted,
                    "dataset_drift": report.dataset_drift,
                    "drifted_columns": list(report.drifted_columns),
                }
            )
        return out

    def window(self, name: str, seq: int) -> MonitorWindow:
        """Window ``seq`` of a monitor (NotFound naming ``seq`` when it has none)."""
        found = next((w for w in self.windows(name) if w.seq == seq), None)
        if found is None:
            raise NotFound(
                f"monitor {name!r} has no window {seq}; see: carnet monitor show {name}", field="seq"
            )
        return found

    def window_report(self, window: MonitorWindow) -> dict[str, Any]:
        """The full JSON report of a window (per-column drift, quality, estimates)."""
        if window.report is None:
            return {}
        return dict(json.loads(self.ctx.artifacts.get_bytes(window.report)))

    # -- for dashboards ---------------------------------------------------------------------------
    def change_token(self) -> tuple[int, int, float]:
        """A value that moves whenever a window is recorded or an alert changes (cheap to poll)."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.monitors.change_token()

    def latest(self, models: Iterable[str] | None = None) -> builtins.list[dict[str, Any]]:
        """Per monitor (of ``models`` when given): its newest window's metrics and active alerts."""
        wanted = None if models is None else set(models)
        out = []
        with self.ctx.store.transaction(write=False) as tx:
            for m in tx.monitors.list():
                if wanted is not None and m.model_ref.name not in wanted:
                    continue
                assert m.id is not None
                last = tx.monitors.windows(m.id, m.name, last=1)
                active = tx.monitors.alerts(m.id, ["open", "acknowledged"])
                out.append(
                    {
                        "monitor": m.name,
                        "model": m.model,
                        "window": last[0].to_dict() if last else None,
                        "active_alerts": len(active),
                    }
                )
        return out

    # -- ad hoc drift ----------------------------------------------------------------------------
    def drift(
        self,
        reference: Any,
        current: Any,
        options: Mapping[str, Any] | None = None,
        *,
        datasets_only: bool = False,
        executor: str | None = None,
        jobs: int | None = None,
        batch_rows: int | None = None,
    ) -> Any:
        """Compare two tables now: each a dataset version (``NAME@V``), a CSV/Parquet file or a DataFrame.

        With ``executor`` or ``batch_rows`` both sides stream in batches of ``batch_rows`` rows
        (default 262,144) counted on the executor (see :mod:`carnet.services.drift_stream`): memory
        stays bounded whatever the size.

        A dataset version as reference is read through its stored profile (built once, then never
        rescanned). With ``datasets_only`` a text is only ever a dataset version, never a file path
        (what a server does with a request). Returns a :class:`carnet.monitoring.drift.DriftReport`.

        Raises:
            InvalidInput: a bad option or a reference column missing from the current table (named).
            NotFound: no such dataset or file.
        """
        from carnet.monitoring.drift import DriftOptions, build_profile, detect_drift

        try:  # a bad option is named before any data is read
            opts = DriftOptions.from_dict(dict(options)) if options else None
        except (TypeError, ValueError) as exc:  # e.g. a number where a list belongs
            raise InvalidInput(f"drift options are not valid: {exc}", field="options") from None
        if executor is not None or batch_rows is not None:
            from carnet.execution import check_batch_rows
            from carnet.services.drift_stream import streamed_drift

            return streamed_drift(
                self.ctx,
                self.datasets,
                reference,
                current,
                opts,
                executor=executor if executor is not None else self.ctx.settings.executor,
                jobs=jobs,
                batch_rows=262_144 if batch_rows is None else check_batch_rows(batch_rows),
                datasets_only=datasets_only,
            )
        if isinstance(reference, str) and (datasets_only or not Path(reference).is_file()):
            ref_profile = self.references.dataset_profile(reference)
        else:
            ref_profile = build_profile(self._table(reference, "reference", datasets_only))
        return detect_drift(ref_profile, self._table(current, "current", datasets_only), opts)

    def _table(self, source: Any, what: str, datasets_only: bool = False) -> Any:
        """A DataFrame from a file path, a dataset version or a DataFrame."""
        if isinstance(source, str) and datasets_only:
            return self.datasets.load_frame(source)[1]
        if isinstance(source, str | Path):
            if Path(source).is_file():
                return _read_frame(source)
            if isinstance(source, Path) or ("@" not in source and "/" in source):
                raise NotFound(f"{what}: no file {source}", field=what)
            return self.datasets.load_frame(str(source))[1]
        return source

    # -- ground truth ---------------------------------------------------------------------------
    def add_labels(
        self,
        source: str | Path | Any,
        *,
        id_column: str = "request_id",
        label_column: str = "label",
        row_column: str | None = None,
        model: str | None = None,
        source_name: str | None = None,
    ) -> LabelFile:
        """Store ground-truth labels joined to the prediction log on ``(request_id, row)``, audited.

        ``source`` is a CSV or Parquet file, or a DataFrame. Without ``row_column`` every label is
        for row 0 of its request (single-row requests). The next monitoring pass joins them,
        including to windows already evaluated. ``source_name`` is what the record names as the
        source (default: the file's path, or ``DataFrame``).

        Raises:
            InvalidInput: a missing column (named), no rows, or duplicate ``(request_id, row)``.
        """
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        where = source_name or (str(source) if isinstance(source, str | Path) else "DataFrame")
        frame = _read_frame(source) if isinstance(source, str | Path) else source
        for col, opt in (
            (id_column, "--id-column"),
            (label_column, "--label-column"),
            (row_column, "--row-column"),
        ):
            if col is not None and col not in frame.columns:
                raise InvalidInput(
                    f"{where} has no column {col!r} (columns: {', '.join(map(str, frame.columns))}); "
                    f"name it with {opt}",
                    field=opt.lstrip("-").replace("-", "_"),
                )
        if len(frame) == 0:
            raise InvalidInput(f"{where} has no rows", field="labels")
        out = pd.DataFrame(
            {
                "request_id": frame[id_column].astype(str).to_numpy(),
                "row": frame[row_column].astype("int64").to_numpy() if row_column else 0,
                "label": frame[label_column].to_numpy(),
            }
        )
        if out.duplicated(["request_id", "row"]).any():
            raise InvalidInput(
                f"{where} has the same ({id_column}, row) more than once; keep one label per predicted row",
                field="labels",
            )
        if model is not None:
            self.registry.get_model(model)
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(out, preserve_index=False), buf, compression="zstd")
        info = self.ctx.artifacts.put_bytes(buf.getvalue())
        now = self.ctx.clock()
        with self.ctx.store.transaction() as tx:
            stored = tx.monitors.add_label_file(
                digest=info.digest, rows=len(out), model=model, source=where, actor=self.ctx.actor, now=now
            )
            record(
                self.ctx,
                tx,
                "labels.added",
                "labels",
                str(stored.id),
                {"digest": info.digest, "rows": len(out), "model": model, "source": where},
                now=now,
            )
        return stored

    # -- a pass ---------------------------------------------------------------------------------
    def run(
        self,
        name: str,
        *,
        flush: bool = False,
        now: float | None = None,
        progress: ProgressFn | None = None,
        executor: str | None = None,
        jobs: int | None = None,
    ) -> PassResult:
        """One pass over the prediction-log rows logged since the last one (see the module doc).

        With ``executor`` (``local`` with ``jobs``, ``ray:local``, ``dask:local``, a cluster) the
        closed windows are evaluated there in parallel, each worker receiving one window's rows.
        """
        import numpy as np

        monitor = self.get(name)
        assert monitor.id is not None
        now = self.ctx.clock() if now is None else now
        ref = self.references.load(monitor)
        state = dict(monitor.state)
        model_name = monitor.model_ref.name
        files = [
            f
            for f in self.deployments.prediction_files(model=model_name)
            if f.id > int(state.get("last_file") or 0) and not f.shadow
        ]
        result = PassResult(monitor.name, files=len(files))
        rows = self._scope(monitor, state, self._read_rows(state.get("carry"), files, progress))
        labels, labels_seen = self._labels(model_name, int(state.get("labels_seen") or 0))
        windows, rest = _cut(rows, monitor.window, state.get("closed_until"), now, flush)
        with self.ctx.store.transaction(write=False) as tx:
            seq = tx.monitors.window_count(monitor.id)
            previous = tx.monitors.windows(monitor.id, monitor.name)
        new: list[MonitorWindow] = []
        reports: list[tuple[MonitorWindow, Any]] = []
        evaluated = _evaluate_windows(windows, ref, monitor.checks, executor, jobs)
        for i, (start, end, frame) in enumerate(windows):
            if progress is not None:
                progress(f"window {seq + i + 1}", i, len(windows))
            metrics, report = next(evaluated)
            if "performance" in monitor.checks and labels:
                metrics.update(realized_window(frame, labels, ref))
            keys = self._store_predictions(frame)
            report["predictions"] = keys
            digest = self.ctx.artifacts.put_bytes(_json(report)).digest
            versions = tuple(sorted({int(v) for v in np.unique(frame["version"].to_numpy())}))
            window = MonitorWindow(
                monitor.name, seq + i + 1, start, end, len(frame), versions, metrics, digest, now
            )
            new.append(window)
            reports.append((window, report))
        relabeled = (
            self._relabel(previous, labels, ref) if labels_seen > int(state.get("labels_seen") or 0) else []
        )
        carry = None
        if len(rest):
            carry = self._store_rows(rest)
        state.update(
            last_file=max([int(state.get("last_file") or 0), *(f.id for f in files)]),
            carry=carry,
            carry_rows=len(rest),
            labels_seen=labels_seen,
        )
        if windows:
            state["closed_until"] = (
                windows[-1][1] if monitor.window.kind == "time" else state.get("closed_until")
            )
        result.windows, result.relabeled, result.pending_rows = new, [w.seq for w, _ in relabeled], len(rest)
        if state == monitor.state and not new and not relabeled:
            return result  # nothing new: no write, no event
        with self.ctx.store.transaction() as tx:
            for w in new:
                tx.monitors.add_window(monitor.id, w)
            for w, metrics in relabeled:
                tx.monitors.update_window_metrics(monitor.id, w.seq, metrics)
            tx.monitors.update_state(monitor.id, state, now)
            transitions = self.alerts.apply_rules(tx, monitor, previous, new, now)
            record(
                self.ctx,
                tx,
                "monitor.run",
                "monitor",
                monitor.name,
                {
                    "windows": [
                        {"seq": w.seq, "rows": w.rows, "versions": list(w.versions), "report": w.report}
                        for w in new
                    ],
                    "relabeled": result.relabeled,
                    "files": [f.id for f in files],
                    "pending_rows": len(rest),
                    "alerts": [t.to_dict() for t in transitions],
                    "state": _public_state(state),
                },
                now=now,
            )
        result.transitions = transitions
        hooks = hooks_of(self.ctx)
        for window in new:
            hooks.after(self.ctx, "after_monitor_window", monitor=monitor.name, window=window)
        self.alerts.act(monitor, transitions)
        return result

    # -- helpers ----------------------------------------------------------------------------------
    def _scope(self, monitor: Monitor, state: Mapping[str, Any], rows: Any) -> Any:
        """The rows this monitor watches: logged at or after its ``since``, each answered by the
        version its alias pointed to when the row was logged (another version's traffic, a canary's
        say, is not this model's; after a promotion or a rollback the monitor follows the alias)."""
        import numpy as np

        if rows.empty:
            return rows
        since = state.get("since")
        if since is not None and "time" in rows.columns:
            rows = rows[rows["time"].to_numpy(dtype=np.float64) >= float(since)]
        ref = monitor.model_ref
        if state.get("follow_alias") and ref.alias and "version" in rows.columns and len(rows):
            held = self._alias_versions_at(ref.name, ref.alias, rows["time"].to_numpy(dtype=np.float64))
            rows = rows[rows["version"].to_numpy(dtype=np.int64) == held]
        return rows.reset_index(drop=True)

    def _alias_versions_at(self, name: str, alias: str, times: Any) -> Any:
        """The version ``name@alias`` pointed to at each of ``times`` (-1 where it pointed nowhere:
        before it was first set, or after it was deleted)."""
        import numpy as np

        moves = sorted(self.registry.alias_history(name, alias), key=lambda m: float(m["time"]))
        if not moves:
            return np.full(len(times), -1, dtype=np.int64)
        at = np.array([float(m["time"]) for m in moves], dtype=np.float64)
        held = np.array([-1 if m["version"] is None else int(m["version"]) for m in moves], dtype=np.int64)
        i = np.searchsorted(at, times, side="right") - 1  # the last move at or before each time
        return np.where(i >= 0, held[np.clip(i, 0, None)], -1)

    def _read_rows(self, carry: str | None, files: builtins.list[Any], progress: ProgressFn | None) -> Any:
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        if carry:
            tables.append(pq.read_table(io.BytesIO(self.ctx.artifacts.get_bytes(carry))))
        for i, f in enumerate(files):
            if progress is not None:
                progress(f"reading prediction file {i + 1} of {len(files)}", i, len(files))
            tables.append(pq.read_table(io.BytesIO(self.ctx.artifacts.get_bytes(f.digest))))
        if not tables:
            return pd.DataFrame()
        table = pa.concat_tables(tables, promote_options="permissive")
        return table.to_pandas()

    def _store_rows(self, frame: Any) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf, compression="zstd")
        return self.ctx.artifacts.put_bytes(buf.getvalue()).digest

    def _store_predictions(self, frame: Any) -> str:
        """The window's request ids, rows and outputs (what a later label join needs)."""
        cols = ["request_id", "row", "version", *[c for c in frame.columns if str(c).startswith("output.")]]
        return self._store_rows(frame[cols].reset_index(drop=True))

    def _labels(self, model: str, seen: int) -> tuple[dict[tuple[str, int], Any], int]:
        """Every label for ``model`` by ``(request_id, row)`` (later files win), and the newest file id."""
        import pyarrow.parquet as pq

        with self.ctx.store.transaction(write=False) as tx:
            files = tx.monitors.label_files(model)
        labels: dict[tuple[str, int], Any] = {}
        for f in files:
            t = pq.read_table(io.BytesIO(self.ctx.artifacts.get_bytes(f.digest))).to_pydict()
            labels.update(zip(zip(t["request_id"], t["row"], strict=True), t["label"], strict=True))
        return labels, max([seen, *(f.id for f in files)])

    def _relabel(
        self, windows: builtins.list[MonitorWindow], labels: Mapping[tuple[str, int], Any], ref: Any
    ) -> builtins.list[tuple[MonitorWindow, dict[str, float]]]:
        """Earlier windows whose realized performance changes with the labels now known."""
        import pyarrow.parquet as pq

        out = []
        for w in windows:
            if w.metrics.get("performance.labeled_rows", 0) >= w.rows:
                continue
            keys = self.window_report(w).get("predictions")
            if not keys:
                continue
            frame = pq.read_table(io.BytesIO(self.ctx.artifacts.get_bytes(keys))).to_pandas()
            realized = realized_window(frame, labels, ref)
            if realized and realized.get("performance.labeled_rows") != w.metrics.get(
                "performance.labeled_rows"
            ):
                kept = {k: v for k, v in w.metrics.items() if not k.startswith("performance.realized.")}
                out.append((w, {**kept, **realized}))
        return out


def _evaluate_windows(
    windows: builtins.list[tuple[float, float, Any]],
    ref: Any,
    checks: Any,
    executor: str | None,
    jobs: int | None,
) -> Iterator[tuple[dict[str, float], dict[str, Any]]]:
    """The metrics and report of each window, in order: here, or on ``executor`` in parallel."""
    if executor is None or not windows:
        for _, _, frame in windows:
            yield evaluate_window(_for_drift(frame, ref.family), ref, checks)
        return
    from functools import partial

    from carnet.execution import open_executor

    with open_executor(executor, jobs) as runner:
        frames = (_for_drift(frame, ref.family) for _, _, frame in windows)
        yield from runner.map(partial(evaluate_window, ref=ref, checks=checks), frames)


def _for_drift(frame: Any, family: str | None) -> Any:
    """Prediction-log rows with a classifier's predicted labels as text (compared as categories)."""
    outputs = [c for c in frame.columns if str(c).startswith("output.")]
    if not outputs:
        return frame
    converted = outputs_for_drift(frame[outputs], family)
    rest = frame.drop(columns=outputs).reset_index(drop=True)
    return rest.join(converted)


def _cut(
    rows: Any, window: Any, closed_until: float | None, now: float, flush: bool
) -> tuple[builtins.list[tuple[float, float, Any]], Any]:
    """Closed windows ``(start, end, rows)`` and the rows left for later."""
    import numpy as np

    if len(rows) == 0:
        return [], rows
    if window.kind == "rows":
        n = window.size
        full = len(rows) // n
        cut = [rows.iloc[i * n : (i + 1) * n].reset_index(drop=True) for i in range(full)]
        rest = rows.iloc[full * n :].reset_index(drop=True)
        if flush and len(rest):
            cut.append(rest)
            rest = rows.iloc[:0]
        return [(float(f["time"].min()), float(f["time"].max()), f) for f in cut], rest
    size = float(window.size)
    rows = rows.sort_values("time", kind="stable").reset_index(drop=True)
    times = rows["time"].to_numpy(dtype=np.float64)
    starts = np.floor(times / size) * size
    if closed_until is not None:  # late rows count in the first open window
        starts = np.maximum(starts, float(closed_until))
    latest = float(times.max())
    out = []
    keep = np.ones(len(rows), dtype=bool)
    for start in np.unique(starts):
        end = float(start) + size
        if flush or end <= latest or end + CLOSE_LAG <= now:
            mask = starts == start
            out.append((float(start), end, rows[mask].reset_index(drop=True)))
            keep &= ~mask
    return out, rows[keep].reset_index(drop=True)


def _read_frame(path: str | Path) -> Any:
    from carnet.data import read_table

    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{p} is not a file", field="file")
    return read_table(p).to_pandas()


def shown_spec(monitor: Monitor) -> dict[str, Any]:
    """The monitor's spec with notifier secrets hidden (for the audit ledger and displays)."""
    from carnet.services.delivery import redacted

    spec = monitor.to_spec()
    if "notify" in spec:
        spec["notify"] = redacted(spec["notify"])
    return spec


def _public_state(state: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if not k.startswith("carry")}


def _json(value: Any) -> bytes:
    def default(o: Any) -> Any:
        if hasattr(o, "item"):
            return o.item()
        if hasattr(o, "tolist"):
            return o.tolist()
        return str(o)

    def clean(o: Any) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        return o

    return json.dumps(clean(value), sort_keys=True, default=default).encode()
