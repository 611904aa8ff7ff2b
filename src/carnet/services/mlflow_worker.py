"""The MLflow side of ``carnet import/export mlflow``: a small process that runs MLflow's public
client and answers one JSON request per line on stdin with one JSON line on stdout.

It imports only the standard library and MLflow, never carnet, so it runs in any Python where
MLflow is installed (carnet's own, or a separate environment: ``CARNET_MLFLOW_PYTHON``)::

    python mlflow_worker.py TRACKING_URI

A request is ``{"op": NAME, "args": {...}}``; the answer ``{"ok": RESULT}`` or
``{"error": MESSAGE, "kind": EXCEPTION CLASS}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

_PAGE = 1000


def _pages(call: Callable[..., Any], **kwargs: Any) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = call(page_token=token, **kwargs)
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def _run(r: Any) -> dict[str, Any]:
    i = r.info
    return {
        "info": {
            "run_id": i.run_id,
            "experiment_id": str(i.experiment_id),
            "run_name": i.run_name,
            "status": i.status,
            "start_time": i.start_time,
            "end_time": i.end_time,
            "lifecycle_stage": i.lifecycle_stage,
            "artifact_uri": i.artifact_uri,
        },
        "data": {
            "params": dict(r.data.params),
            "tags": dict(r.data.tags),
            "metrics": dict(r.data.metrics),
        },
    }


def _model(m: Any) -> dict[str, Any]:
    aliases = getattr(m, "aliases", None) or {}
    if not isinstance(aliases, dict):  # older entities: a list of alias objects
        aliases = {a.alias: a.version for a in aliases}
    return {
        "name": m.name,
        "description": m.description or "",
        "tags": dict(m.tags or {}),
        "aliases": {str(k): str(v) for k, v in aliases.items()},
    }


def _version(v: Any) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": str(v.version),
        "description": v.description or "",
        "source": v.source or "",
        "run_id": v.run_id or "",
        "current_stage": v.current_stage or "None",
        "status": v.status,
        "tags": dict(v.tags or {}),
    }


class Worker:
    """The operations carnet asks of MLflow, over one tracking (and registry) URI."""

    def __init__(self, uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    # -- reading ---------------------------------------------------------------------------------
    def ping(self) -> dict[str, Any]:
        import mlflow

        self.client.search_experiments(max_results=1)
        return {"mlflow": mlflow.__version__}

    def experiments(self) -> list[dict[str, Any]]:
        found = _pages(self.client.search_experiments, max_results=_PAGE)
        return [
            {"experiment_id": str(e.experiment_id), "name": e.name, "lifecycle_stage": e.lifecycle_stage}
            for e in found
        ]

    def experiment_by_name(self, name: str) -> dict[str, Any] | None:
        e = self.client.get_experiment_by_name(name)
        if e is None:
            return None
        return {"experiment_id": str(e.experiment_id), "name": e.name, "lifecycle_stage": e.lifecycle_stage}

    def runs(self, experiment_id: str, view: str = "ALL") -> list[dict[str, Any]]:
        from mlflow.entities import ViewType

        kind = ViewType.ALL if view == "ALL" else ViewType.ACTIVE_ONLY
        found = _pages(
            self.client.search_runs, experiment_ids=[experiment_id], run_view_type=kind, max_results=_PAGE
        )
        return [_run(r) for r in found]

    def get_run(self, run_id: str) -> dict[str, Any]:
        return _run(self.client.get_run(run_id))

    def _files(self, run_id: str, path: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for info in self.client.list_artifacts(run_id, path):
            if info.is_dir:
                out.update(self._files(run_id, info.path))
            else:
                out[info.path] = int(info.file_size or 0)
        return out

    def run_bundles(self, runs: list[list[Any]]) -> dict[str, Any]:
        """For each ``[run_id, metric keys]``: every value of its metrics as columns
        ``{key: [values, steps, ms]}``, and its files (sizes). A SQL store is read with one query
        for all the runs (:meth:`_sql_histories`), any other store one metric at a time."""
        histories = self._sql_histories([str(rid) for rid, _ in runs])
        out: dict[str, Any] = {}
        for rid, keys in runs:
            if histories is not None:
                metrics = histories.get(rid, {})
            else:
                metrics = {}
                for key in keys:
                    found = self.client.get_metric_history(rid, key)
                    metrics[key] = [
                        [m.value for m in found],
                        [m.step for m in found],
                        [m.timestamp for m in found],
                    ]
            out[rid] = {"metrics": metrics, "files": self._files(rid)}
        return out

    def _sql_histories(self, run_ids: list[str]) -> dict[str, dict[str, list[list[Any]]]] | None:
        """Every metric value of ``run_ids`` in one query, through the SQLAlchemy models and session
        of the SQL store MLflow's client opened (the rows ``get_metric_history`` reads, NaN as
        NaN); None when the store is not a SQL database."""
        try:
            from mlflow.store.tracking.dbmodels.models import SqlMetric
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        except ImportError:
            return None
        store = getattr(getattr(self.client, "_tracking_client", None), "store", None)
        if not isinstance(store, SqlAlchemyStore) or not run_ids:
            return None
        m = SqlMetric
        with store.ManagedSessionMaker() as session:
            rows = (
                session.query(m.run_uuid, m.key, m.value, m.step, m.timestamp, m.is_nan)
                .filter(m.run_uuid.in_(run_ids))
                .order_by(m.run_uuid, m.key, m.timestamp, m.step, m.value)
                .all()
            )
        nan = float("nan")
        out: dict[str, dict[str, list[list[Any]]]] = {}
        for rid, key, value, step, ms, is_nan in rows:
            columns = out.setdefault(rid, {}).get(key)
            if columns is None:
                columns = out[rid][key] = [[], [], []]
            columns[0].append(nan if is_nan else value)
            columns[1].append(step)
            columns[2].append(ms)
        return out

    def download_run_artifacts(self, run_id: str, dst: str) -> str:
        return str(self.client.download_artifacts(run_id, "", dst))

    def registered_models(self) -> list[dict[str, Any]]:
        return [_model(m) for m in _pages(self.client.search_registered_models, max_results=_PAGE)]

    def registered_model(self, name: str) -> dict[str, Any] | None:
        from mlflow.exceptions import MlflowException

        try:
            return _model(self.client.get_registered_model(name))
        except MlflowException:
            return None

    def model_versions(self, name: str) -> list[dict[str, Any]]:
        quoted = name.replace("'", "\\'")
        found = _pages(self.client.search_model_versions, filter_string=f"name='{quoted}'", max_results=200)
        return sorted((_version(v) for v in found), key=lambda v: int(v["version"]))

    def download_model_version(self, name: str, version: str, dst: str) -> str:
        import mlflow.artifacts

        uri = self.client.get_model_version_download_uri(name, version)
        return str(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst, tracking_uri=self.uri))

    # -- writing ---------------------------------------------------------------------------------
    def restore_experiment(self, experiment_id: str) -> None:
        self.client.restore_experiment(experiment_id)

    def create_experiment(self, name: str, tags: dict[str, str]) -> str:
        return str(self.client.create_experiment(name, tags=tags))

    def create_run(
        self, experiment_id: str, start_time: int | None, tags: dict[str, str], run_name: str
    ) -> dict[str, Any]:
        return _run(
            self.client.create_run(experiment_id, start_time=start_time, tags=tags, run_name=run_name)
        )

    def log_batch(self, run_id: str, metrics: list[list[Any]], params: list[list[str]]) -> None:
        from mlflow.entities import Metric, Param

        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, ts, step) for k, v, ts, step in metrics],
            params=[Param(k, v) for k, v in params],
        )

    def set_terminated(self, run_id: str, status: str, end_time: int | None) -> None:
        self.client.set_terminated(run_id, status, end_time)

    def delete_run(self, run_id: str) -> None:
        self.client.delete_run(run_id)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None) -> None:
        self.client.log_artifacts(run_id, local_dir, artifact_path)

    def create_registered_model(self, name: str, tags: dict[str, str], description: str | None) -> None:
        self.client.create_registered_model(name, tags=tags, description=description)

    def create_model_version(
        self, name: str, source: str, run_id: str, tags: dict[str, str], description: str | None
    ) -> str:
        mv = self.client.create_model_version(name, source, run_id=run_id, tags=tags, description=description)
        return str(mv.version)

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)


def main(argv: list[str]) -> int:
    """Serve requests until stdin closes."""
    out = sys.stdout
    sys.stdout = sys.stderr  # anything MLflow prints goes to stderr, never into the answers
    try:
        worker = Worker(argv[1])
    except Exception as exc:
        out.write(json.dumps({"error": str(exc) or type(exc).__name__, "kind": type(exc).__name__}) + "\n")
        out.flush()
        return 1
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        op = str(request.get("op", ""))
        try:
            method = getattr(worker, op) if not op.startswith("_") else None
            if method is None:
                raise ValueError(f"unknown operation {op!r}")
            answer: dict[str, Any] = {"ok": method(**request.get("args", {}))}
        except Exception as exc:  # every failure goes back as an answer
            answer = {"error": str(exc) or type(exc).__name__, "kind": type(exc).__name__}
        out.write(json.dumps(answer, allow_nan=True) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
