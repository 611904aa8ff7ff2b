"""Training, AutoML, evaluation, reproduction, encoders and embeddings over HTTP: part of
:class:`~carnet.client.remote.RemoteClient`.

The work runs on the server, on its datasets. A spec whose ``dataset`` (or a ``data`` argument) is a
local CSV/Parquet file is uploaded first, as the local client registers it, and the server gets the
``name@N`` reference. A training's answer is a stream of events: ``progress`` gets them as it would
locally, and the result is rebuilt into the types the local client returns. An embedding comes back
as the Parquet file the server wrote, checked against its digest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import httpx

from carnet.client.api import ClientAPI
from carnet.client.remote_http import HttpTransport, remote, server_decides
from carnet.client.wire_training import read_events, result_from_wire, spec_seed
from carnet.documents import read_document
from carnet.domain import DatasetVersion, ModelVersion
from carnet.domain.training import TrainSpec, spec_as_dict
from carnet.errors import InvalidInput, NotFound, StorageError
from carnet.operations import Call, call

__all__ = ["RemoteTraining"]

ProgressFn = Callable[[str, int, int], None]
#: the shortest read timeout of a training stream (the server sends a heartbeat every 10 seconds)
_MIN_STREAM_READ = 60.0
_AUTOML_ARGS = frozenset({"target", "task", "time_budget", "project", "seed", "jobs", "max_trials"})


class _Datasets(Protocol):
    """The dataset upload of :class:`~carnet.client.remote.RemoteClient` (a sibling mixin's)."""

    def add_dataset(self, path: str | Path, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]: ...


class RemoteTraining(HttpTransport):
    """The training calls of the remote client."""

    def train(
        self, spec: Any, *, jobs: int = 1, progress: ProgressFn | None = None, executor: str | None = None
    ) -> Any:
        from carnet.client.environment import capture_environment

        server_decides(executor=executor)
        data = spec_as_dict(spec) if isinstance(spec, TrainSpec) else read_document(spec, "spec")
        if not isinstance(data, Mapping):
            raise InvalidInput("a training spec is a mapping with dataset and task", field="spec")
        data = dict(data)
        if isinstance(data.get("dataset"), str):  # a local file is uploaded; the server checks the rest
            data["dataset"] = self._server_data(data["dataset"], str(data.get("project") or "default"))
        body = {
            "spec": data,
            "jobs": jobs,
            "environment": capture_environment(spec_seed(spec)),
        }
        return self._training(call("train"), body, progress)

    def automl(self, data: str, **kwargs: Any) -> dict[str, Any]:
        from carnet.client.environment import capture_environment

        progress = kwargs.pop("progress", None)
        server_decides(executor=kwargs.pop("executor", None))
        unknown = sorted(set(kwargs) - _AUTOML_ARGS)
        if unknown:
            raise InvalidInput(f"automl got unknown arguments {unknown}", field=unknown[0])
        args = {k: v for k, v in kwargs.items() if v is not None}
        ref = self._server_data(data, str(args.get("project", "default")))
        body = {"data": ref, **args, "environment": capture_environment(kwargs.get("seed"))}
        return cast("dict[str, Any]", self._training(call("automl"), body, progress))

    def evaluate(self, run_id: str, data: str, *, progress: ProgressFn | None = None) -> Any:
        ref = self._server_data(
            data, lambda: str(self._op("get_run", dict[str, Any], run_id=run_id)["project"])
        )
        return self._training(call("evaluate_run", run_id=run_id), {"data": ref}, progress)

    def derive(
        self,
        ref: str,
        data: str,
        *,
        reuse: str | None = None,
        params: dict[str, Any] | None = None,
        refit_preprocessing: bool = False,
        register: bool = True,
        progress: ProgressFn | None = None,
    ) -> dict[str, Any]:
        from carnet.client.environment import capture_environment

        def project() -> str:  # a local file becomes a dataset of the parent model's project
            client: Any = self
            return str(client.get_model(ref.replace("@", "/").split("/")[0]).project)

        body = {
            "ref": ref,
            "data": self._server_data(data, project),
            "reuse": reuse,
            "params": dict(params or {}),
            "refit_preprocessing": refit_preprocessing,
            "register_version": register,
            "environment": capture_environment(),
        }
        return cast("dict[str, Any]", self._training(call("derive_model"), body, progress))

    def reproduce(self, run_id: str, *, progress: ProgressFn | None = None) -> dict[str, Any]:
        from carnet.client.environment import capture_environment

        body = {"environment": capture_environment()}
        return cast("dict[str, Any]", self._training(call("reproduce_run", run_id=run_id), body, progress))

    def explain(
        self, ref: str, data: str, *, rows: str | None = None, method: str | None = None, seed: int = 0
    ) -> dict[str, Any]:

        def project() -> str:  # the model's (or the run's) project, as the server files the run
            client: Any = self
            if "/" in ref or "@" in ref:
                return str(client.get_model(ref.replace("@", "/").split("/")[0]).project)
            try:
                return str(client.get_model(ref).project)
            except NotFound:
                return str(client.get_run(client.resolve_run_id(ref)).project)

        return self._op(
            "explain",
            dict[str, Any],
            ref=ref,
            data=self._server_data(data, project),
            rows=rows,
            method=method,
            seed=seed,
        )

    def stress(
        self,
        ref: str,
        data: str,
        *,
        scenarios: list[dict[str, Any]] | None = None,
        metric: str | None = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        client: Any = self

        def project() -> str:
            return str(client.get_model(ref.replace("@", "/").split("/")[0]).project)

        return self._op(
            "stress",
            dict[str, Any],
            ref=ref,
            data=self._server_data(data, project),
            scenarios=scenarios,
            metric=metric,
            seed=seed,
        )

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
        server_decides(
            executor=executor,
            jobs=jobs,
            max_driver_memory=max_driver_memory,
            allow_pickle=allow_pickle or None,
        )
        client: Any = self

        def project() -> str:
            return str(client.get_model(ref.replace("@", "/").split("/")[0]).project)

        result = self._op(
            "predict_batch",
            dict[str, Any],
            ref=ref,
            data=self._server_data(data, project),
            batch_rows=batch_rows,
            with_proba=with_proba,
            explain=explain,
            id_column=id_column,
            log=log,
        )
        client.download_artifact(result["run_id"], "predictions.parquet", out)
        result["output"] = str(out)
        if progress is not None:
            progress(int(result["rows"]), int(result["rows"]))
        return result

    # -- encoders and embeddings ----------------------------------------------------------------------
    def add_encoder(
        self,
        name: str,
        encoder: str,
        *,
        params: dict[str, Any] | None = None,
        data: str | None = None,
        column: str | None = None,
        project: str = "default",
        description: str = "",
    ) -> ModelVersion:
        return self._op(
            "add_encoder",
            ModelVersion,
            name=name,
            encoder=encoder,
            params=dict(params or {}),
            data=None if data is None else self._server_data(data, project),
            column=column,
            project=project,
            description=description,
        )

    list_encoders = remote("list_encoders", ClientAPI.list_encoders, list[ModelVersion])
    get_encoder = remote("get_encoder", ClientAPI.get_encoder, ModelVersion)

    def embed(
        self,
        encoder: str,
        data: str,
        column: str,
        out: str | Path,
        *,
        keep: Sequence[str] = (),
        batch_rows: int = 1024,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        body = {
            "encoder": encoder,
            "data": self._server_data(data, "default"),
            "column": column,
            "keep": list(keep),
            "batch_rows": batch_rows,
        }
        headers: dict[str, str] = {}
        if progress is not None:
            progress("embed", 0, 1)
        target = self._download(call("embed"), Path(out), json=body, headers_out=headers)
        summary = dict(json.loads(headers.get("x-carnet-embed") or "{}"))
        if progress is not None:
            progress("embed", 1, 1)
        return {**summary, "out": str(target)}

    # -- plumbing --------------------------------------------------------------------------------------
    def _server_data(self, text: str, project: str | Callable[[], str]) -> str:
        """``text`` itself, or for a local CSV/Parquet file the ``name@N`` it was uploaded as (named
        after the file, in ``project``), as a local workspace registers it."""
        path = Path(text)
        try:
            is_file = bool(path.suffix) and path.exists()
        except (OSError, ValueError):
            is_file = False
        if not is_file:
            return text
        name = path.name.split(".")[0].replace(" ", "-") or "data"
        owner = project if isinstance(project, str) else project()
        version, _ = cast(_Datasets, self).add_dataset(path, name, project=owner)
        return str(version.ref)

    def _training(self, at: Call, body: dict[str, Any], progress: ProgressFn | None) -> Any:
        """POST a training request and follow its event stream to the result."""
        base = self._http.timeout
        read = None if base.read is None else max(base.read, _MIN_STREAM_READ)
        timeout = httpx.Timeout(connect=base.connect, read=read, write=base.write, pool=base.pool)
        try:
            with self._http.stream(at.method, at.path, json=body, timeout=timeout) as r:
                if r.is_error:
                    r.read()
                    self._raise(r)
                kind, result = read_events(r.iter_lines(), progress)
        except httpx.TransportError as exc:
            raise StorageError(
                f"the connection to the carnet server at {self._url} broke during the training: {exc}; "
                "the run may be on record: see carnet runs list"
            ) from exc
        return result_from_wire(kind, result)
