"""Batch inference: score a dataset version or a file of any size with a registered model.

``carnet predict REF DATA -o out.parquet`` streams the input in parts through the configured
executor (this process, worker processes, Ray or Dask), writes the predictions as Parquet with
one request id per row, in the input's order, and records a ``batch_prediction`` run with the
model version, the input and output digests, the row count and the throughput. Workers load the
model from the artifact store by digest (verified, once per process) and read Parquet parts of
a dataset version themselves; with ``log`` they also store prediction-log files, which the
driver indexes so monitors see batch traffic like served traffic.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from carnet.domain import Metric, RunStatus
from carnet.errors import InvalidInput
from carnet.services.context import ServiceContext
from carnet.services.datasets import DatasetService, readable
from carnet.services.deployments import DeploymentService
from carnet.services.registry import RegistryService
from carnet.services.tables import FileTable, StoreAddress, StoredTable
from carnet.services.tracking import TrackingService
from carnet.tasks import version_family

__all__ = ["DEFAULT_BATCH_ROWS", "BatchJob", "BatchPredictionService", "predict_batch"]

DEFAULT_BATCH_ROWS = 65_536
#: rows of the first batch kept as the background of per-row explanations
BACKGROUND_ROWS = 100
#: the endpoint name batch traffic is logged under
BATCH_ENDPOINT = "batch"
_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


@dataclass(frozen=True)
class BatchJob:
    """Everything a worker needs to score a batch, by reference (the model by its digest)."""

    address: StoreAddress
    digest: str
    flavor: str
    allow_pickle: bool
    family: str | None
    classes: tuple[Any, ...] | None
    signature: Any
    example: Any
    run_id: str
    model: str
    version: int
    id_column: str | None = None
    with_proba: bool = False
    explain: str | None = None
    background: Any = None
    log: bool = False
    features: tuple[str, ...] = field(default_factory=tuple)


def _predictor(job: BatchJob) -> tuple[Any, Any]:
    """The model and its compiled predictor, loaded once per worker process (verified bytes)."""
    with _MODELS_LOCK:
        found = _MODELS.get(job.digest)
        if found is not None:
            return found  # type: ignore[no-any-return]
        import pandas as pd

        from carnet.flavors.trust import require_model
        from carnet.inference.codecs import validate_frame
        from carnet.inference.predictor import compile_predictor
        from carnet.plugins.loader import registry

        data = job.address.open().get_bytes(job.digest)
        model = registry("flavor").get(job.flavor).loads(data, allow_pickle=job.allow_pickle)
        model = require_model(model, job.flavor)
        if job.signature is not None and job.signature.transforms:
            from carnet.privacy.transforms import deidentified

            model = deidentified(model, job.signature.transforms)  # the worker's key, checked
        example = None
        if job.signature is not None and job.example:
            try:
                example = validate_frame(pd.DataFrame(job.example, columns=list(job.features)), job.signature)
            except Exception:  # noqa: BLE001 - the example only picks a faster path
                example = None
        predictor, _ = compile_predictor(model, job.family, job.classes, list(job.features), example)
        _MODELS.clear()
        _MODELS[job.digest] = (model, predictor)
        return model, predictor


def _columns(outputs: dict[str, Any], classes: tuple[Any, ...] | None, with_proba: bool) -> dict[str, Any]:
    """Model outputs as flat columns: ``prediction``, ``proba_<class>`` and other outputs by name."""
    import numpy as np

    out: dict[str, Any] = {}
    for name, values in outputs.items():
        arr = np.asarray(values)
        if name == "predict":
            out["prediction"] = arr if arr.ndim == 1 else list(arr)
        elif name == "predict_proba":
            if not with_proba:
                continue
            labels = list(classes) if classes and len(classes) == arr.shape[1] else list(range(arr.shape[1]))
            for k, label in enumerate(labels):
                out[f"proba_{label}"] = arr[:, k]
        elif arr.ndim == 1:
            out[name.replace("predict", "prediction", 1)] = arr
        else:
            for k in range(arr.shape[1]):
                out[f"{name}_{k}"] = arr[:, k]
    return out


def predict_batch(job: BatchJob, batch: Any, offset: int) -> dict[str, Any]:
    """Run where the work runs: score one record batch; the output table and the log file written.

    Returns ``{"table": pyarrow.Table, "rows": n, "log": {digest, size, rows, first_time,
    last_time} or None}``.
    """
    import numpy as np
    import pyarrow as pa

    from carnet.inference.codecs import validate_frame

    model, predictor = _predictor(job)
    ids = _request_ids(job, batch, offset)
    frame = batch.to_pandas()
    inputs = validate_frame(frame, job.signature, allow_extra=True) if job.signature is not None else frame
    started = time.perf_counter()
    if job.with_proba or job.log or job.explain is not None or job.family == "multitask":
        outputs = predictor(inputs)  # every output, as served
    else:  # labels or values only: one pass of the model, not two
        outputs = {"predict": np.asarray(model.predict(inputs))}
    seconds = time.perf_counter() - started
    columns: dict[str, Any] = {"request_id": ids}
    for name, values in _columns(outputs, job.classes, job.with_proba).items():
        columns[name] = values
    if job.explain is not None:
        columns.update(_contributions(job, model, inputs))
    table = pa.table(columns)
    log = _log_file(job, ids, inputs, outputs, seconds) if job.log else None
    return {"table": table, "rows": len(frame), "log": log}


def _request_ids(job: BatchJob, batch: Any, offset: int) -> Any:
    """The batch's request ids as an Arrow string array: the id column, else ``<run>-<row>``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if job.id_column is not None:
        if job.id_column not in batch.schema.names:
            raise InvalidInput(
                f"the data has no column {job.id_column!r}; name it with --id-column", field="id_column"
            )
        return pc.cast(batch.column(job.id_column), pa.string())
    rows = pa.array(np.arange(offset, offset + batch.num_rows, dtype=np.int64)).cast(pa.string())
    return pc.binary_join_element_wise(f"{job.run_id[:12]}-", rows, "")


def _contributions(job: BatchJob, model: Any, inputs: Any) -> dict[str, Any]:
    """Per-row attributions (``contrib.<feature>``) and the base value they start from."""
    from carnet.evaluation.explain_local import explain_rows

    explained = explain_rows(
        model, inputs, job.background, method=str(job.explain), family=str(job.family or "regression")
    )
    out: dict[str, Any] = {
        f"contrib.{feature}": [row["attributions"][feature] for row in explained.rows]
        for feature in explained.features
    }
    out["contrib_base"] = [row["base_value"] for row in explained.rows]
    return out


def _log_file(
    job: BatchJob, ids: Any, inputs: Any, outputs: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """Store one prediction-log file for the batch (one request per row) and describe it."""
    import numpy as np
    import pyarrow as pa

    from carnet.inference.predlog import PredictionRecord, parquet_bytes, to_table

    now = time.time()
    rows = len(ids)
    record = PredictionRecord(
        request_id="",
        time=now,
        endpoint=BATCH_ENDPOINT,
        model=job.model,
        version=job.version,
        latency_ms=1000.0 * seconds / max(rows, 1),
        inputs=inputs,
        outputs=outputs,
    )
    table = to_table([record])  # the served layout; then one request per row
    table = table.set_column(table.schema.get_field_index("request_id"), "request_id", ids)
    table = table.set_column(table.schema.get_field_index("row"), "row", pa.array(np.zeros(rows, np.int32)))
    info = job.address.open().put_bytes(parquet_bytes(table))
    return {"digest": info.digest, "size": info.size, "rows": rows, "first_time": now, "last_time": now}


class BatchPredictionService:
    """``carnet predict``: batch inference recorded as a run, on any executor."""

    def __init__(
        self,
        ctx: ServiceContext,
        tracking: TrackingService,
        registry: RegistryService,
        datasets: DatasetService,
        deployments: DeploymentService,
    ) -> None:
        self.ctx = ctx
        self.tracking = tracking
        self.registry = registry
        self.datasets = datasets
        self.deployments = deployments

    def predict(
        self,
        model: str,
        data: str | Path,
        out: str | Path,
        *,
        executor: str | None = None,
        jobs: int | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        with_proba: bool = False,
        explain: str | None = None,
        id_column: str | None = None,
        log: bool = False,
        max_driver_memory: int | None = None,
        keep_output: bool = False,
        datasets_only: bool = False,
        project: str | None = None,
        allow_pickle: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> dict[str, Any]:
        """Score ``data`` (a dataset version ``NAME@V`` or a CSV/Parquet file) with ``model``.

        Args:
            model: ``NAME/VERSION`` or ``NAME@ALIAS``.
            out: the Parquet file written (replaced only once complete).
            executor: ``local``, ``ray:local``, ``ray://HOST:PORT``, ``dask:local`` or
                ``dask://HOST:PORT`` (default: the workspace's setting); ``jobs`` caps its workers.
            batch_rows: rows per batch a worker scores at once.
            with_proba: add ``proba_<class>`` columns for a classifier.
            explain: add per-row attributions (``shap`` or ``lime``; slow: for modest tables).
            id_column: an input column whose values become the request ids (else
                ``<run>-<row number>``); the model sees it only when its signature takes it.
            log: also append the predictions to the prediction log (endpoint ``batch``).
            keep_output: also store the output as the run's artifact ``predictions.parquet``.
            datasets_only: ``data`` is only ever a dataset version, never a file (a server).
            max_driver_memory: bytes the driver may hold of the stream at once: batches and
                parts in flight are cut down to fit (the figure reached is in the result).
            progress: ``progress(rows done, total rows or None)``.

        Returns:
            ``run_id``, ``model``, ``rows``, ``seconds``, ``rows_per_second``, ``input_digest``,
            ``output``, ``output_digest``, ``executor``, ``batch_rows``, ``peak_driver_bytes``,
            ``log_files``.

        Raises:
            InvalidInput: bad options, an unreadable input, input columns the model's signature
                does not accept (named), an unreachable executor.
            NotFound: no such model version or dataset.
        """
        from carnet.execution import HeldBytes, check_batch_rows, open_executor, parse_executor

        check_batch_rows(batch_rows)
        if max_driver_memory is not None and max_driver_memory < 1024:
            raise InvalidInput(
                f"max_driver_memory must be at least 1 KiB, got {max_driver_memory}",
                field="max_driver_memory",
            )
        method = _explain_method(explain)
        setting = parse_executor(executor if executor is not None else self.ctx.settings.executor)
        target = Path(out)
        if target.is_dir() or str(out).endswith(os.sep):
            raise InvalidInput(f"-o {out}: name a .parquet file, not a folder", field="out")
        mv = self.registry.resolve(model)
        if mv.allow_pickle and not allow_pickle:
            from carnet.errors import PermissionDenied

            raise PermissionDenied(
                f"{mv.ref} was stored with pickle; pass --allow-pickle if you trust its source"
            )
        address = StoreAddress(self.ctx.settings.artifact_root, dict(self.ctx.settings.storage_options))
        with (
            tempfile.TemporaryDirectory(prefix="carnet-predict-") as tmp,
            open_executor(setting, jobs) as runner,
        ):
            source, input_ref, input_digest, total = self._source(
                data, address, Path(tmp), runner.in_process, datasets_only
            )
            batch_rows, in_flight = _fit_memory(source, batch_rows, max_driver_memory, runner)
            run = self.tracking.create_run(
                project or self._project(mv),
                f"batch-predict-{mv.name}-v{mv.version}",
                params={
                    "model": mv.ref,
                    "model_digest": mv.artifact_digest,
                    "input": input_ref,
                    "input_digest": input_digest,
                    "batch_rows": batch_rows,
                    "executor": str(setting),
                    "with_proba": with_proba,
                    "explain": method or "",
                    "log": log,
                },
                tags={"kind": "batch_prediction", "model": mv.ref, "executor": setting.backend},
            )
            try:
                if isinstance(source, StoredTable):
                    self.tracking.log_inputs(run.id, [input_ref], "prediction")
                job = self._job(mv, address, run.id, id_column, with_proba, method, log, source, allow_pickle)
                held = HeldBytes()
                result = self._run(job, source, runner, batch_rows, in_flight, target, held, total, progress)
                result.update(
                    run_id=run.id,
                    model=mv.ref,
                    input=input_ref,
                    input_digest=input_digest,
                    executor=str(setting),
                    batch_rows=batch_rows,
                    peak_driver_bytes=held.peak,
                )
                self.tracking.log_params(run.id, {"output_digest": result["output_digest"]})
                if keep_output:
                    self.tracking.log_artifact(run.id, target, "predictions.parquet")
                self.tracking.set_tags(run.id, {"output": str(target)})
                now = time.time()
                self.tracking.log_metrics(
                    run.id,
                    [
                        Metric("rows", float(result["rows"]), 0, now),
                        Metric("seconds", float(result["seconds"]), 0, now),
                        Metric("rows_per_second", float(result["rows_per_second"]), 0, now),
                        Metric("peak_driver_bytes", float(held.peak), 0, now),
                    ],
                )
                self.tracking.end_run(run.id, RunStatus.FINISHED)
            except BaseException as exc:
                self.tracking.end_run(run.id, RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
                raise
        return result

    def _project(self, mv: Any) -> str:
        with self.ctx.store.transaction(write=False) as tx:
            try:
                return str(tx.runs.get(mv.run_id).project) if mv.run_id else "default"
            except Exception:  # noqa: BLE001 - a version registered without a run
                return "default"

    def _source(
        self, data: str | Path, address: StoreAddress, tmp: Path, in_process: bool, datasets_only: bool
    ) -> tuple[Any, str, str, int | None]:
        """The input as a streamed source, its reference, digest and row count (None: unknown)."""
        from carnet.data import detect_format, parquet_row_groups
        from carnet.digests import hash_file

        path = Path(str(data))
        if not datasets_only and path.suffix and path.is_file():
            fmt = detect_format(path)
            rows = sum(parquet_row_groups(path)) if fmt == "parquet" else None
            digest = hash_file(path).digest
            return FileTable(path.resolve(), fmt, rows, remote=not in_process), str(path), digest, rows
        if (
            not datasets_only
            and path.suffix
            and ("/" in str(data) or os.sep in str(data) or "@" not in str(data))
        ):
            raise InvalidInput(
                f"no file {data}; pass a CSV/Parquet file or a dataset NAME@VERSION", field="data"
            )
        version = readable(self.datasets.get(str(data)))
        copy = self.ctx.artifacts.get_file(version.digest, tmp / f"input{version.read_suffix}")
        source = StoredTable(
            address,
            version.digest,
            version.format,
            version.read_suffix,
            copy,
            version.num_rows,
            remote=not in_process,
        )
        return source, version.ref, version.digest, version.num_rows

    def _job(
        self,
        mv: Any,
        address: StoreAddress,
        run_id: str,
        id_column: str | None,
        with_proba: bool,
        method: str | None,
        log: bool,
        source: Any,
        allow_pickle: bool,
    ) -> BatchJob:
        extra = mv.extra or {}
        features = tuple(c.name for c in mv.signature.inputs) if mv.signature is not None else ()
        background = _background(source, features) if method is not None else None
        classes = extra.get("classes")
        return BatchJob(
            address=address,
            digest=mv.artifact_digest,
            flavor=mv.flavor,
            allow_pickle=allow_pickle,
            family=version_family(mv),
            classes=tuple(classes) if classes else None,
            signature=mv.signature,
            example=mv.input_example,
            run_id=run_id,
            model=mv.name,
            version=int(mv.version),
            id_column=id_column,
            with_proba=with_proba,
            explain=method,
            background=background,
            log=log,
            features=features,
        )

    def _run(
        self,
        job: BatchJob,
        source: Any,
        runner: Any,
        batch_rows: int,
        in_flight: int | None,
        target: Path,
        held: Any,
        total: int | None,
        progress: Callable[[int, int | None], None] | None,
    ) -> dict[str, Any]:
        import pyarrow.parquet as pq

        from carnet.digests import hash_file

        target.parent.mkdir(parents=True, exist_ok=True)
        partial_file = target.with_name(f".{target.name}.part")
        done = [0]

        def advance(rows: int) -> None:
            done[0] += rows
            if progress is not None:
                progress(done[0], total)

        writer: Any = None
        rows = 0
        log_files = 0
        started = time.perf_counter()
        try:
            results: Iterator[dict[str, Any]] = runner.map_batches(
                partial(predict_batch, job),
                source,
                batch_rows,
                max_in_flight=in_flight,
                progress=advance,
                held=held,
            )
            for result in results:
                table = result["table"]
                if writer is None:
                    writer = pq.ParquetWriter(partial_file, table.schema, compression="zstd")
                elif table.schema != writer.schema:
                    table = table.cast(writer.schema)
                writer.write_table(table)
                rows += int(result["rows"])
                if result["log"] is not None:
                    meta = result["log"]
                    self.deployments.record_prediction_file(
                        BATCH_ENDPOINT, job.model, job.version, meta["digest"], meta["rows"], meta["size"],
                        meta["first_time"], meta["last_time"],
                    )  # fmt: skip
                    log_files += 1
            if writer is None:
                raise InvalidInput("the data has no rows to predict", field="data")
            writer.close()
            writer = None
            os.replace(partial_file, target)
        finally:
            if writer is not None:
                writer.close()
            partial_file.unlink(missing_ok=True)
        seconds = time.perf_counter() - started
        return {
            "rows": rows,
            "seconds": seconds,
            "rows_per_second": rows / seconds if seconds > 0 else 0.0,
            "output": str(target),
            "output_digest": hash_file(target).digest,
            "log_files": log_files,
        }


def _explain_method(explain: str | None) -> str | None:
    """The attribution method of ``explain`` (per-row methods only), or None."""
    if not explain:
        return None
    if explain not in ("shap", "lime"):
        raise InvalidInput(
            f"explain must be shap or lime (per-row attributions), got {explain!r}", field="explain"
        )
    from carnet.evaluation.explain_local import choose_method

    method, _ = choose_method(str(explain))
    return method


def _background(source: Any, features: tuple[str, ...]) -> Any:
    """The first rows of the input, the reference rows of per-row explanations."""
    for part in source.parts(BACKGROUND_ROWS):
        for batch in part.record_batches():
            frame = batch.to_pandas()
            return frame[list(features)] if features else frame
    return None


def _fit_memory(source: Any, batch_rows: int, limit: int | None, runner: Any) -> tuple[int, int | None]:
    """``batch_rows`` and the parts in flight cut down so the driver's share stays under ``limit``.

    The estimate is the bytes per row of the input's first batch (what a shipped part holds)
    plus the output columns; parts read by workers cost the driver their output only.
    """
    if limit is None:
        return batch_rows, None
    per_row = 64
    for part in source.parts(min(batch_rows, 1024)):
        if part.read is None or getattr(runner, "in_process", False):  # input rows pass the driver
            batches = list(part.record_batches())
            per_row += sum(b.nbytes for b in batches) // (sum(b.num_rows for b in batches) or 1)
        break
    fitting = max(1, limit // (2 * per_row))
    batch_rows = max(1, min(batch_rows, fitting))
    in_flight = max(1, min(2 * runner.max_workers, limit // max(1, per_row * batch_rows) - 1))
    return batch_rows, in_flight
