"""Experiment tracking use cases: projects, runs, params, metrics, tags, artifacts, search."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from carnet.domain import (
    Artifact,
    DatasetRef,
    Metric,
    Project,
    Run,
    RunInput,
    RunStatus,
    canonical_json,
    decode_page_after,
    decode_page_token,
    parse_filter,
    parse_order_by,
)
from carnet.domain.audit_digests import metric_row, metric_row_hash, metric_sum_key, sum_hex
from carnet.domain.datasets import check_name
from carnet.domain.runs import MAX_RESULTS_LIMIT, RunPage, select_artifacts
from carnet.domain.validation import (
    artifact_path,
    check_document,
    check_key,
    check_text,
    make_metric,
    param_value,
)
from carnet.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from carnet.services.context import ServiceContext, record
from carnet.store.interfaces import Transaction

__all__ = ["DEFAULT_PROJECT", "MAX_RESULTS_LIMIT", "TrackingService", "artifact_path"]

DEFAULT_PROJECT = "default"


#: a percent-escape such as ``%2F``: refused in artifact paths (the server refuses them in URLs)


_HEX = frozenset("0123456789abcdef")
#: how many runs an ambiguous id prefix in a filter is counted up to
_PREFIX_COUNT = 100


class TrackingService:
    """Projects and runs. Every change appends its audit event in the same transaction."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._projects: dict[str, Project] = {}

    # -- projects ---------------------------------------------------------
    def ensure_project(self, tx: Transaction, name: str) -> Project:
        """The project named ``name``, created (and audited) when missing."""
        cached = self._projects.get(name)
        if cached is not None:
            return cached
        check_name(name, "project")
        project = tx.projects.find(name)
        if project is None:
            project, created = tx.projects.ensure(name, self.ctx.clock())
            if created:
                record(self.ctx, tx, "project.create", "project", name, {"name": name})
        else:  # committed by someone: projects are never deleted, so it can be remembered
            self._projects[name] = project
        return project

    def _project_id(self, tx: Transaction, name: str) -> int:
        """Id of an existing project (remembered: projects are never deleted); NotFound otherwise."""
        cached = self._projects.get(name)
        if cached is None:
            cached = self._projects[name] = tx.projects.get(name)
        return cached.id

    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project; AlreadyExists when the name is taken."""
        check_name(name, "project")
        with self.ctx.store.transaction() as tx:
            if tx.projects.find(name) is not None:
                raise AlreadyExists(f"project {name!r} already exists", field="project")
            project = tx.projects.create(name, description, self.ctx.clock())
            record(
                self.ctx, tx, "project.create", "project", name, {"name": name, "description": description}
            )
            return project

    def list_projects(self) -> list[tuple[Project, int]]:
        """Every project with its number of (non-deleted) runs."""
        with self.ctx.store.transaction(write=False) as tx:
            return [(p, tx.runs.count(p.id)) for p in tx.projects.list()]

    # -- runs -------------------------------------------------------------
    def create_run(
        self,
        project: str = DEFAULT_PROJECT,
        name: str | None = None,
        *,
        parent_id: str | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Start a run in ``project`` (created when missing)."""
        rid = run_id or uuid.uuid4().hex
        clean_params = {check_key(k, "param"): param_value(v, k) for k, v in (params or {}).items()}
        clean_tags = {check_key(k, "tag"): param_value(v, k, "tag") for k, v in (tags or {}).items()}
        if name is not None and (not isinstance(name, str) or len(name) > 256):
            raise InvalidInput("run name must be a string of at most 256 characters", field="name")
        check_document({"name": name, "environment": environment}, "")
        now = self.ctx.clock()
        with self.ctx.store.transaction() as tx:
            proj = self.ensure_project(tx, project)
            if parent_id is not None:
                parent = tx.runs.get(parent_id)
                if parent.project != project:
                    raise InvalidInput(
                        f"parent run {parent_id} belongs to project {parent.project!r}, not {project!r}",
                        field="parent_id",
                    )
            run = Run(
                id=rid,
                project=project,
                name=name or f"run-{rid[:8]}",
                status=RunStatus.RUNNING,
                start_time=now,
                parent_id=parent_id,
                params=clean_params,
                tags=clean_tags,
                environment=dict(environment or {}),
            )
            tx.runs.insert(run, proj.id)
            record(
                self.ctx,
                tx,
                "run.create",
                "run",
                rid,
                {
                    "project": project,
                    "name": run.name,
                    "parent_id": parent_id,
                    "params": clean_params,
                    "tags": clean_tags,
                },
                now=now,
            )
            return run

    def resolve_run_id(self, text: str) -> str:
        """A full run id from a unique prefix of at least 4 characters (as printed by ``runs list``)."""
        if not isinstance(text, str):
            raise InvalidInput(f"a run id is a string, got {type(text).__name__}", field="run_id")
        text = text.strip().lower()
        if len(text) == 32:
            return text
        if len(text) < 4 or any(c not in "0123456789abcdef" for c in text):
            raise NotFound(f"no run with id {text!r}; list runs with: carnet runs list", field="run_id")
        with self.ctx.store.transaction(write=False) as tx:
            ids = tx.runs.ids_with_prefix(text)
        if not ids:
            raise NotFound(f"no run with id {text!r}; list runs with: carnet runs list", field="run_id")
        if len(ids) > 1:
            raise InvalidInput(f"run id prefix {text!r} is ambiguous; give more characters", field="run_id")
        return ids[0]

    def get_run(self, run_id: str) -> Run:
        """A run with params, tags and latest metrics; NotFound when unknown."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.runs.get(run_id)

    def _running(self, tx: Transaction, run_id: str) -> None:
        status = tx.runs.status(run_id)
        if status.terminal:
            raise Conflict(
                f"run {run_id} is {status.value}; a finished run cannot be changed, start a new run",
                field="run_id",
            )

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Record params (immutable: a different value for a logged key is a Conflict)."""
        clean = {check_key(k, "param"): param_value(v, k) for k, v in params.items()}
        if not clean:
            return
        with self.ctx.store.transaction() as tx:
            self._running(tx, run_id)
            tx.runs.add_params(run_id, clean)
            record(self.ctx, tx, "run.log_params", "run", run_id, {"params": clean})

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        """Set tags (may change after the run ended, like notes)."""
        clean = {check_key(k, "tag"): param_value(v, k, "tag") for k, v in tags.items()}
        if not clean:
            return
        with self.ctx.store.transaction() as tx:
            tx.runs.status(run_id)
            tx.runs.set_tags(run_id, clean)
            record(self.ctx, tx, "run.set_tags", "run", run_id, {"tags": clean})

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove one tag."""
        with self.ctx.store.transaction() as tx:
            tx.runs.delete_tag(run_id, key)
            record(self.ctx, tx, "run.delete_tag", "run", run_id, {"key": key})

    @staticmethod
    def make_metric(key: str, value: Any, step: int, timestamp: float) -> Metric:
        """A validated metric value."""
        return make_metric(key, value, step, timestamp)

    def log_metrics(self, run_id: str, metrics: Sequence[Metric], *, allow_ended: bool = False) -> int:
        """Append a batch of metric values in one transaction; returns how many were written."""
        return self.log_batch(run_id, metrics, None, allow_ended=allow_ended)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, Any] | None = None,
        *,
        allow_ended: bool = False,
    ) -> int:
        """Write metric values and params in one transaction (one audit event); returns the metric count.

        ``allow_ended`` lets late metric values (queued before the run ended) reach an ended run;
        params are refused on an ended run.
        """
        clean = {check_key(k, "param"): param_value(v, k) for k, v in (params or {}).items()}
        if not metrics and not clean:
            return 0
        with self.ctx.store.transaction() as tx:
            ended = False
            if allow_ended and not clean:
                ended = tx.runs.status(run_id).terminal
            else:
                self._running(tx, run_id)
            payload = self._write_batch(tx, run_id, metrics, clean)
            if ended:  # late values: the run's metric digest at its end, renewed (audit verify --deep)
                payload["metrics_digest"] = tx.state.metric_digest(run_id)
            action = (
                "run.log_batch" if metrics and clean else ("run.log_params" if clean else "run.log_metrics")
            )
            record(self.ctx, tx, action, "run", run_id, payload)
        return len(metrics)

    def _write_batch(
        self, tx: Transaction, run_id: str, metrics: Sequence[Metric], params: dict[str, str]
    ) -> dict[str, Any]:
        """Write params and metrics; returns the audit payload describing them (``values_sum``:
        the order-free digest of the rows, which batches add up to, see carnet.domain.audit_digests)."""
        payload: dict[str, Any] = {}
        if params:
            tx.runs.add_params(run_id, params)
            payload["params"] = params
        if metrics:
            tx.runs.add_metrics(run_id, metrics)
            rows = [[m.key, None if m.value != m.value else m.value, m.step, m.timestamp] for m in metrics]
            key = metric_sum_key(self.ctx.settings.audit_key)
            hashes = (metric_row_hash(metric_row(m.key, m.value, m.step, m.timestamp), key) for m in metrics)
            total = sum(hashes)
            payload.update(
                count=len(metrics),
                keys=sorted({m.key for m in metrics}),
                values_sha256=hashlib.sha256(canonical_json(rows)).hexdigest(),
                values_sum=sum_hex(total),
            )
        return payload

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """All values of one metric of a run."""
        with self.ctx.store.transaction(write=False) as tx:
            tx.runs.status(run_id)
            return tx.runs.metric_history(run_id, key)

    def metric_series(
        self,
        run_id: str,
        key: str,
        *,
        points: int = 1500,
        start: float | None = None,
        end: float | None = None,
    ) -> dict[str, Any]:
        """One metric of a run made small enough to draw: at most ``points`` buckets of steps (between
        ``start`` and ``end``), each with its mean step, mean, minimum and maximum, so a spike in one
        step survives; the values as they are when there are ``points`` or fewer. Bucketed by the
        database, so 100,000 steps never leave it one by one."""
        if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= 10_000:
            raise InvalidInput("points must be between 2 and 10000", field="points")
        for name, bound in (("start", start), ("end", end)):
            if bound is not None and not math.isfinite(bound):
                raise InvalidInput(f"{name} must be a finite step", field=name)
        with self.ctx.store.transaction(write=False) as tx:
            tx.runs.status(run_id)
            return tx.runs.metric_buckets(run_id, key, points, start, end)

    def end_run(
        self,
        run_id: str,
        status: RunStatus = RunStatus.FINISHED,
        error: str | None = None,
        *,
        metrics: Sequence[Metric] = (),
        params: dict[str, Any] | None = None,
    ) -> None:
        """End a running run, writing its last metric values and params in the same transaction.

        Ending an ended run with the same status is a no-op; with another status, a Conflict.
        The values written here are described in the ``run.end`` audit event.
        """
        status = RunStatus(status)
        if not status.terminal:
            raise InvalidInput("end status must be finished, failed or killed", field="status")
        clean = {check_key(k, "param"): param_value(v, k) for k, v in (params or {}).items()}
        if error is not None:
            check_text(str(error), "error")
        now = self.ctx.clock()
        with self.ctx.store.transaction() as tx:
            if tx.runs.finish(run_id, status, now, error):  # it was running: the common case
                payload = self._write_batch(tx, run_id, metrics, clean)
                # the run's params, tags and every metric value at its end, so an edited row is found
                # (audit verify --deep): one query a table
                payload.update(tx.state.run_digests(run_id))
                record(
                    self.ctx,
                    tx,
                    "run.end",
                    "run",
                    run_id,
                    {"status": status.value, "error": error, **payload},
                    now=now,
                )
                return
            current = tx.runs.status(run_id)  # NotFound when there is no such run
            if metrics:
                late = self._write_batch(tx, run_id, metrics, {})
                late["metrics_digest"] = tx.state.metric_digest(run_id)
                record(self.ctx, tx, "run.log_metrics", "run", run_id, late)
            if current is status and not clean:
                return
            raise Conflict(f"run {run_id} already ended as {current.value}", field="status")

    def log_metrics_in(self, tx: Transaction, run_id: str, metrics: Sequence[Metric]) -> None:
        """Write metric values with their own audit event inside an open transaction."""
        record(self.ctx, tx, "run.log_metrics", "run", run_id, self._write_batch(tx, run_id, metrics, {}))

    def delete_run(self, run_id: str, *, restore: bool = False) -> None:
        """Soft-delete a run (hidden from search; kept for the audit trail), or restore it."""
        with self.ctx.store.transaction() as tx:
            run = tx.runs.get(run_id)
            if run.deleted != (not restore):
                tx.runs.set_deleted(run_id, not restore)
                record(self.ctx, tx, "run.restore" if restore else "run.delete", "run", run_id, {})

    # -- artifacts --------------------------------------------------------
    def log_artifact(
        self,
        run_id: str,
        local_path: str | Path,
        artifact_path_: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Artifact]:
        """Store a file or every file of a folder under the run; returns what was recorded."""
        src = Path(local_path)
        if not src.exists():
            raise InvalidInput(f"artifact {str(src)!r} does not exist", field="local_path")
        prefix = artifact_path(artifact_path_) if artifact_path_ else None
        with self.ctx.store.transaction(write=False) as tx:
            self._running(tx, run_id)
        items: list[Artifact] = []
        if src.is_dir():
            base = prefix or src.name
            for rel, info in self.ctx.artifacts.put_tree(src):
                items.append(Artifact(artifact_path(f"{base}/{rel}"), info.digest, info.size))
            if not items:
                raise InvalidInput(f"artifact folder {str(src)!r} is empty", field="local_path")
        else:
            info = self.ctx.artifacts.put_file(src, progress)
            into_folder = prefix is None or str(artifact_path_).endswith("/")
            path = artifact_path(f"{prefix or ''}/{src.name}") if into_folder or prefix is None else prefix
            items.append(Artifact(path, info.digest, info.size))
        return self.record_artifacts(run_id, items)

    def log_artifact_streams(self, run_id: str, files: Sequence[tuple[str, IO[bytes]]]) -> list[Artifact]:
        """Store several readable streams (a folder's files sent over HTTP) under artifact paths of a
        running run, recorded as one change: one transaction, one audit event.

        Raises:
            InvalidInput: a bad or repeated path, or no file. Conflict: the run has ended.
        """
        paths = [artifact_path(p) for p, _ in files]
        if not paths:
            raise InvalidInput("no file to store", field="files")
        if len(set(paths)) != len(paths):
            raise InvalidInput("an artifact path appears twice", field="paths")
        with self.ctx.store.transaction(write=False) as tx:
            self._running(tx, run_id)
        items = []
        for path, (_, stream) in zip(paths, files, strict=True):
            info = self.ctx.artifacts.put_stream(stream)
            items.append(Artifact(path, info.digest, info.size))
        return self.record_artifacts(run_id, items)

    def log_artifact_bytes(self, run_id: str, data: bytes, path: str) -> Artifact:
        """Store in-memory content (a report, a log) as a run artifact."""
        info = self.ctx.artifacts.put_bytes(data)
        return self.record_artifacts(run_id, [Artifact(artifact_path(path), info.digest, info.size)])[0]

    def record_artifacts(
        self, run_id: str, items: list[Artifact], *, allow_ended: bool = False
    ) -> list[Artifact]:
        """Record already-stored content under run artifact paths."""
        with self.ctx.store.transaction() as tx:
            if allow_ended:
                tx.runs.status(run_id)
            else:
                self._running(tx, run_id)
            tx.runs.add_artifacts(run_id, items)
            record(
                self.ctx,
                tx,
                "run.log_artifacts",
                "run",
                run_id,
                {"artifacts": [[a.path, a.digest, a.size] for a in items]},
            )
        return items

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        """Artifacts of a run."""
        with self.ctx.store.transaction(write=False) as tx:
            tx.runs.status(run_id)
            return tx.runs.list_artifacts(run_id)

    def download_artifact(self, run_id: str, path: str, dest: str | Path) -> list[Path]:
        """Copy one artifact (or every artifact under a folder path) to ``dest``, verified."""
        want = artifact_path(path)
        dest = Path(dest)
        out = []
        for a, under in select_artifacts(self.list_artifacts(run_id), want, run_id):
            if under is None:
                target = dest / a.path.rsplit("/", 1)[-1] if dest.is_dir() else dest
            else:
                target = dest.joinpath(*under)
            target.parent.mkdir(parents=True, exist_ok=True)
            out.append(self.ctx.artifacts.get_file(a.digest, target))
        return out

    # -- inputs -----------------------------------------------------------
    def log_inputs(
        self, run_id: str, refs: Iterable[DatasetRef | str], context: str = "training"
    ) -> list[RunInput]:
        """Record dataset versions read by the run (``name@version``; no version = latest)."""
        out = []
        with self.ctx.store.transaction() as tx:
            self._running(tx, run_id)
            pairs = []
            for ref in refs:
                r = DatasetRef.parse(ref) if isinstance(ref, str) else ref
                dv = tx.datasets.get(r.name, r.version)
                pairs.append((tx.datasets.version_id(dv.name, dv.version), context))
                out.append(RunInput(dv.name, dv.version, dv.digest, context))
            if not out:  # nothing to record: no change, no audit event
                return out
            tx.runs.add_inputs(run_id, pairs)
            record(
                self.ctx,
                tx,
                "run.log_inputs",
                "run",
                run_id,
                {"inputs": [[i.dataset, i.version, i.digest, i.context] for i in out]},
            )
        return out

    def list_inputs(self, run_id: str) -> list[RunInput]:
        """Dataset versions read by a run."""
        with self.ctx.store.transaction(write=False) as tx:
            tx.runs.status(run_id)
            return tx.runs.list_inputs(run_id)

    def children(self, run_id: str) -> list[str]:
        """Child run ids."""
        with self.ctx.store.transaction(write=False) as tx:
            tx.runs.status(run_id)
            return tx.runs.children(run_id)

    # -- search -----------------------------------------------------------
    def _full_run_ids(self, expr: Any) -> Any:
        """``run_id`` / ``parent_id`` compared (``=``, ``!=``, ``in``, ``not in``) with a unique prefix
        of a run id (4 hex digits or more), as every other place that takes a run id accepts, compared
        with the full id; a prefix no run has, or several runs have, is refused."""
        from dataclasses import replace as swap

        from carnet.domain.search import Comparison, Logical

        if isinstance(expr, Logical):
            return swap(expr, items=tuple(self._full_run_ids(e) for e in expr.items))
        if not (
            isinstance(expr, Comparison)
            and expr.kind == "attribute"
            and expr.key in ("run_id", "parent_id")
            and expr.op in ("=", "!=", "in", "not in")
        ):
            return expr

        def full(value: Any) -> Any:
            if isinstance(value, str) and 4 <= len(value) < 32 and all(c in _HEX for c in value.lower()):
                with self.ctx.store.transaction(write=False) as tx:
                    ids = tx.runs.ids_with_prefix(value.lower(), limit=_PREFIX_COUNT + 1)
                if not ids:
                    raise NotFound(
                        f"no run id starts with {value!r} (in the filter); list runs with: carnet runs list",
                        field="filter",
                    )
                if len(ids) > 1:
                    many = f"more than {_PREFIX_COUNT}" if len(ids) > _PREFIX_COUNT else str(len(ids))
                    raise InvalidInput(
                        f"run id prefix {value!r} in the filter matches {many} runs; give more characters",
                        field="filter",
                    )
                return ids[0]
            return value

        if isinstance(expr.value, tuple):
            return swap(expr, value=tuple(full(v) for v in expr.value))
        return swap(expr, value=full(expr.value))

    def search_runs(
        self,
        project: str | Sequence[str] | None = None,
        filter: str | None = None,  # noqa: A002 - the public name of the argument
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """Runs matching a filter (grammar in ``carnet.domain.search``), ordered and paged."""
        where = self._full_run_ids(parse_filter(filter))
        order = parse_order_by(list(order_by or []))
        if (
            isinstance(max_results, bool)
            or not isinstance(max_results, int)
            or not 1 <= max_results <= MAX_RESULTS_LIMIT
        ):
            raise InvalidInput(f"max_results must be between 1 and {MAX_RESULTS_LIMIT}", field="max_results")
        offset, after = decode_page_token(page_token), decode_page_after(page_token)
        with self.ctx.store.transaction(write=False) as tx:
            if project is None:
                ids = [p.id for p in tx.projects.list()]
            else:
                names = [project] if isinstance(project, str) else list(project)
                ids = [self._project_id(tx, check_text(str(n), "projects")) for n in names]
            if not ids:
                return RunPage([], None)
            return tx.runs.search(ids, where, order, max_results, offset, include_deleted, after=after)


def flat_params(spec_dict: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A spec as flat ``a.b`` params (lists and None as JSON)."""
    out: dict[str, str] = {}
    for key, value in spec_dict.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat_params(value, name + "."))
        elif value is not None and value != {} and value != []:
            out[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return out


def store_evaluation(
    tracking: TrackingService, run_id: str, evaluation: Any, context: dict[str, Any], prefix: str = ""
) -> None:
    """An evaluation's plots (PNG and JSON) and its JSON and HTML reports, as run artifacts."""
    from carnet.evaluation import jsonable
    from carnet.reports.evaluation import render_html, to_json

    for plot in evaluation.plots:
        tracking.log_artifact_bytes(run_id, plot.png, f"{prefix}plots/{plot.name}.png")
        tracking.log_artifact_bytes(
            run_id, json.dumps(jsonable(plot.data)).encode(), f"{prefix}plots/{plot.name}.json"
        )
    report = to_json(evaluation, context)
    tracking.log_artifact_bytes(
        run_id, json.dumps(jsonable(report), indent=2).encode(), f"{prefix}reports/evaluation.json"
    )
    tracking.log_artifact_bytes(
        run_id, render_html(evaluation, context).encode(), f"{prefix}reports/evaluation.html"
    )
