"""Training routes: train from a spec, AutoML, evaluate a run, reproduce a run, on the server's data.

The work runs on the server, where the datasets live. A request is checked first (spec, dataset,
run, role): a mistake is a normal 4xx problem+json. Then the answer is 200 and
``application/x-ndjson``, one event per line (:class:`~carnet.schemas.TrainingEventOut`):
``queued`` while every training slot is taken, ``started``, ``progress`` as the work advances,
``heartbeat`` after a quiet interval (so proxies and read timeouts keep the connection), and last
``result`` or ``error`` (the problem+json document the error maps to, through the same handlers as
every other route). The work runs in its own thread; at most ``slots`` trainings run at once. A
client that disconnects cancels its training at the next progress step (the run ends failed).

Roles: ``editor`` on the project the training writes to (the spec's, the run's, AutoML's
``project``, a reproduction's recorded spec's) and ``viewer`` on the project of every dataset it
reads (a reproduction: the recorded spec's and the run's recorded inputs).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from fastapi import Depends, FastAPI, Request
from fastapi.responses import StreamingResponse

from carnet.errors import Conflict, InvalidInput, NotFound
from carnet.evaluation import jsonable
from carnet.schemas import (
    NDJSON_MEDIA_TYPE,
    AutoMLIn,
    DeriveIn,
    EvaluateIn,
    ExplainIn,
    PredictBatchIn,
    ReproduceIn,
    StressIn,
    TrainIn,
    TrainingEventOut,
    TrainOutcomeOut,
)
from carnet.server.api.auth import Caller, caller

__all__ = [
    "DEFAULT_HEARTBEAT",
    "TrainingSlots",
    "automl",
    "configure",
    "derive_model",
    "evaluate_run",
    "explain",
    "reproduce_run",
    "stress",
    "train",
]


#: seconds without news after which a stream sends a heartbeat line
DEFAULT_HEARTBEAT = 10.0

Work = Callable[[Callable[[str, int, int], None]], TrainingEventOut]


class TrainingSlots:
    """How many trainings may run at once on this server, and how often a quiet stream speaks.

    Raises:
        InvalidInput: ``slots`` below 1 or a heartbeat interval that is not positive.
    """

    def __init__(self, slots: int = 1, *, heartbeat: float = DEFAULT_HEARTBEAT) -> None:
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise InvalidInput(
                f"training slots must be an integer >= 1, got {slots!r}", field="training_slots"
            )
        if not heartbeat > 0:
            raise InvalidInput(
                f"the heartbeat interval must be > 0 seconds, got {heartbeat}", field="heartbeat"
            )
        self.slots = slots
        self.heartbeat = float(heartbeat)
        self.semaphore = threading.BoundedSemaphore(slots)


def configure(app: FastAPI, *, slots: int = 1, heartbeat: float = DEFAULT_HEARTBEAT) -> TrainingSlots:
    """Give ``app`` its training slots (``app.state.training``)."""
    app.state.training = TrainingSlots(slots, heartbeat=heartbeat)
    return cast("TrainingSlots", app.state.training)


class _Cancelled(BaseException):  # noqa: N818 - not an error: the client went away
    """Stops a training whose client disconnected (a BaseException: no ``except Exception`` keeps it)."""


# -- checks before anything starts -----------------------------------------------------------------
def _jobs(jobs: int) -> int:
    """Parallel workers, at most the server's CPUs."""
    return max(1, min(jobs, os.cpu_count() or 1))


def _dataset_ref(c: Caller, text: str, field: str) -> str:
    """The ``name@N`` of a dataset version of this server; ``viewer`` on its project is required.

    A file path is refused: no request names a file on the server (clients upload files first).
    """
    try:
        version = c.services.datasets.get(text)
    except InvalidInput as exc:
        raise InvalidInput(
            f"{field} {text[:200]!r} is not a dataset version of this server (name@N or name): "
            "a server never reads a file a request names; upload the file first",
            field=field,
        ) from exc
    except NotFound as exc:
        exc.field = field  # the request's field
        raise
    c.require_read(version.project)
    ref = version.ref
    if Path(ref).suffix and Path(ref).exists():  # the services would read it as a path
        raise InvalidInput(f"{field} {ref!r} is ambiguous on this server; rename the dataset", field=field)
    return ref


def _spec(c: Caller, raw: dict[str, Any]) -> Any:
    """The spec parsed and checked: its project (editor), task and dataset (resolved to ``name@N``)."""
    from carnet.training import load_spec

    spec = load_spec(raw)
    if spec.model is not None and spec.model.parent is not None:  # a derived model: its parent's project
        project = c.model_project(spec.model.parent)
        c.require(spec.project if spec.project != "default" else project)
        c.require_read(project)
    else:
        c.require(spec.project)
        c.services.training.task(spec.task)
    c.services.training.check_on_server(spec)  # a class path is refused before anything imports it
    if spec.task == "rl":  # an agent reads no dataset; its environment path is checked when built
        return spec
    return replace(spec, dataset=_dataset_ref(c, spec.dataset, "dataset"))


def _recorded_spec(c: Caller, run_id: str) -> Any:
    """The training spec a run recorded (None when it has none), read as YAML text only: a run's
    artifacts are uploaded by its editors, and a spec that names a file is never read here."""
    import yaml  # type: ignore[import-untyped, unused-ignore]

    from carnet.domain.training import SPEC_PATH
    from carnet.training import load_spec

    found = next((a for a in c.services.tracking.list_artifacts(run_id) if a.path == SPEC_PATH), None)
    if found is None:
        return None
    try:
        data = yaml.safe_load(c.services.content.get_bytes(found.digest).decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise InvalidInput(f"run {run_id}'s {SPEC_PATH} is not a training spec", field="run_id")
    return load_spec(data)


def _outcome(outcome: Any) -> TrainingEventOut:
    return TrainingEventOut(
        event="result", kind="outcome", result=TrainOutcomeOut.of(outcome).model_dump(mode="json")
    )


def _result(kind: Any, result: dict[str, Any]) -> TrainingEventOut:
    return TrainingEventOut(event="result", kind=kind, result=jsonable(result))


# -- the stream ------------------------------------------------------------------------------------
def _problem(request: Request, exc: BaseException) -> dict[str, Any]:
    """The problem+json document the app's own exception handlers give ``exc``."""
    handlers = request.app.exception_handlers
    handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers), None)
    if handler is None or not isinstance(exc, Exception):
        handler, exc = handlers[Exception], RuntimeError(f"{type(exc).__name__}: {exc}")
    response = handler(request, exc)
    if inspect.iscoroutine(response):  # an async handler (none of carnet's): the generic answer
        response.close()
        response = handlers[Exception](request, exc)
    return dict(json.loads(bytes(response.body)))


def _stream(request: Request, work: Work) -> StreamingResponse:
    slots: TrainingSlots = request.app.state.training
    return StreamingResponse(
        _events(request, slots, work),
        media_type=NDJSON_MEDIA_TYPE,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(request: Request, slots: TrainingSlots, work: Work) -> AsyncIterator[bytes]:
    """Run ``work`` in a thread once a slot is free; yield its events as NDJSON lines."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[TrainingEventOut | None] = asyncio.Queue()
    cancelled = threading.Event()

    def emit(event: TrainingEventOut | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens any more
            loop.call_soon_threadsafe(queue.put_nowait, event)

    def progress(stage: str, done: int, total: int) -> None:
        if cancelled.is_set():
            raise _Cancelled("the client disconnected")
        emit(TrainingEventOut(event="progress", stage=str(stage), done=int(done), total=int(total)))

    def worker() -> None:
        try:
            if not slots.semaphore.acquire(blocking=False):
                emit(TrainingEventOut(event="queued"))
                while not slots.semaphore.acquire(timeout=slots.heartbeat):
                    if cancelled.is_set():
                        return
            try:
                if cancelled.is_set():
                    return
                emit(TrainingEventOut(event="started"))
                emit(work(progress))
            finally:
                slots.semaphore.release()
        except _Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - every failure becomes the stream's error event
            emit(TrainingEventOut(event="error", problem=_problem(request, exc)))
        finally:
            emit(None)

    threading.Thread(target=worker, name="carnet-training", daemon=True).start()
    queued = False
    try:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=slots.heartbeat)
            except TimeoutError:
                yield TrainingEventOut(event="queued" if queued else "heartbeat").line()
                continue
            if event is None:
                return
            queued = event.event == "queued" or (queued and event.event != "started")
            yield event.line()
    finally:
        cancelled.set()


# -- routes ----------------------------------------------------------------------------------------
def train(body: TrainIn, request: Request, c: Caller = Depends(caller)) -> StreamingResponse:
    """Train from a spec on a dataset version of the server: one tracked run, or a search (a parent
    run, one child per trial, the best refitted) when the spec has a ``search`` section."""
    from carnet.domain.training import TrainOutcome

    spec = _spec(c, body.spec)
    jobs, env, services = _jobs(body.jobs), dict(body.environment), c.services

    def work(progress: Callable[[str, int, int], None]) -> TrainingEventOut:
        out = services.search.run_spec(spec, jobs=jobs, progress=progress, environment=env)
        return _outcome(out) if isinstance(out, TrainOutcome) else _result("search", out)

    return _stream(request, work)


def automl(body: AutoMLIn, request: Request, c: Caller = Depends(caller)) -> StreamingResponse:
    """Try model families and preprocessing within a time budget; the best is refitted and stored."""
    c.require(body.project)
    if body.task is not None:
        c.services.training.task(body.task)
    ref = _dataset_ref(c, body.data, "data")
    services, env = c.services, dict(body.environment)

    def work(progress: Callable[[str, int, int], None]) -> TrainingEventOut:
        result = services.search.automl(
            ref,
            target=body.target,
            task=body.task,
            time_budget=body.time_budget,
            project=body.project,
            seed=body.seed,
            jobs=_jobs(body.jobs),
            max_trials=body.max_trials,
            progress=progress,
            environment=env,
        )
        return _result("automl", result)

    return _stream(request, work)


def evaluate_run(
    run_id: str, body: EvaluateIn, request: Request, c: Caller = Depends(caller)
) -> StreamingResponse:
    """Score a training run's model on a dataset version: a new evaluation run in the run's project."""
    source = c.services.tracking.get_run(run_id)
    c.require(source.project)
    _recorded_spec(c, source.id)  # its task options are used: a spec, never a file name
    ref = _dataset_ref(c, body.data, "data")
    services = c.services

    def work(progress: Callable[[str, int, int], None]) -> TrainingEventOut:
        return _outcome(services.training.evaluate(source.id, ref, progress=progress))

    return _stream(request, work)


def explain(body: ExplainIn, c: Caller = Depends(caller)) -> dict[str, Any]:
    """Explain a version's (or a run's) predictions on rows of a dataset version: per-row attributions,
    a global summary, and a run in the model's project holding the report (editor there)."""
    services = c.services
    project = _explain_project(c, body.ref)
    c.require(project)
    ref = _dataset_ref(c, body.data, "data")
    return services.explain.explain(body.ref, ref, rows=body.rows, method=body.method, seed=body.seed)


def stress(body: StressIn, c: Caller = Depends(caller)) -> dict[str, Any]:
    """Stress scenarios of a model version on a dataset version: the metric without and under each
    perturbation, judged against its limit; changes nothing (viewer on both projects)."""
    c.require(c.model_project(body.ref))
    ref = _dataset_ref(c, body.data, "data") if body.data else ""  # none: a policy plays its environment
    return c.services.promotion.stress(
        body.ref, ref, scenarios=body.scenarios, metric=body.metric, seed=body.seed
    )


def predict_batch(body: PredictBatchIn, c: Caller = Depends(caller)) -> dict[str, Any]:
    """Score a dataset version with a model version on the server's executor: a batch prediction
    run whose artifact ``predictions.parquet`` holds the output (editor on the model's project)."""
    import tempfile

    project = c.model_project(body.ref)
    c.require(project, "editor")
    ref = _dataset_ref(c, body.data, "data")
    with tempfile.TemporaryDirectory(prefix="carnet-predict-") as tmp:
        result = c.services.batch.predict(
            body.ref,
            ref,
            Path(tmp) / "predictions.parquet",
            batch_rows=body.batch_rows,
            with_proba=body.with_proba,
            explain=body.explain,
            id_column=body.id_column,
            log=body.log,
            keep_output=True,
            datasets_only=True,
            project=project,
        )
    result["output"] = "predictions.parquet"
    return dict(jsonable(result))


def _explain_project(c: Caller, ref: str) -> str:
    """The project of the model version or run ``ref`` names (where the explanation run goes)."""
    if "/" in ref or "@" in ref:
        return c.model_project(ref)
    try:
        return c.services.registry.get_model(ref).project
    except NotFound:
        return c.services.tracking.get_run(c.services.tracking.resolve_run_id(ref)).project


def derive_model(body: DeriveIn, request: Request, c: Caller = Depends(caller)) -> StreamingResponse:
    """Continue a registered model on a dataset version (warm start, fine-tuning) and register the
    result as the model's next version (editor on the model's project)."""
    c.require(c.model_project(body.ref))
    ref = _dataset_ref(c, body.data, "data")
    services, env = c.services, dict(body.environment)

    def work(progress: Callable[[str, int, int], None]) -> TrainingEventOut:
        result = services.reuse.derive(
            body.ref,
            ref,
            reuse=body.reuse,
            params=body.params,
            refit_preprocessing=body.refit_preprocessing,
            register=body.register_version,
            progress=progress,
            environment=env,
        )
        return _result("derive", result)

    return _stream(request, work)


def reproduce_run(
    run_id: str, body: ReproduceIn, request: Request, c: Caller = Depends(caller)
) -> StreamingResponse:
    """Re-run a training from its recorded spec, dataset version and seed; compare the metrics."""
    source = c.services.tracking.get_run(run_id)
    c.require(source.project)
    if not source.status.terminal:  # its artifacts could still change after the checks below
        raise Conflict(
            f"run {source.id} is {source.status.value}; a run is reproduced once it has ended", field="run_id"
        )
    spec = _recorded_spec(c, source.id)
    if spec is not None:  # it trains in the spec's project, on its dataset: the roles there
        c.require(spec.project)
        if spec.task != "rl":
            _dataset_ref(c, spec.dataset, "dataset")
    inputs = c.services.tracking.list_inputs(source.id)  # compared with the versions as stored now
    c.require_refs(datasets=[f"{i.dataset}@{i.version}" for i in inputs])
    services, env = c.services, dict(body.environment)

    def work(progress: Callable[[str, int, int], None]) -> TrainingEventOut:
        return _result(
            "reproduce", services.training.reproduce(source.id, progress=progress, environment=env)
        )

    return _stream(request, work)
