"""What a running ``carnet serve`` holds: endpoints, their routes to loaded model versions, and
the loop that follows deployments and aliases while it runs.

Endpoints come from the references given on the command line (``churn@production`` serves
endpoint ``churn``, all traffic to whatever version the alias names) and from stored
deployments (weights, shadows, sticky routing). Every ``poll_interval`` seconds the runtime
asks the store whether a deployment or an alias moved; if so it resolves the routes again,
loads the new versions (digest verified) while the old ones keep serving, and swaps the whole
table at once. Versions no longer routed to are drained, never cut off.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from carnet.domain import ModelRef, ModelVersion
from carnet.errors import CarnetError, InvalidInput, NotFound
from carnet.inference.batching import MicroBatcher
from carnet.inference.codecs import validate_frame
from carnet.inference.outputs import output_metadata
from carnet.inference.predictor import compile_predictor
from carnet.inference.routing import Route, Router
from carnet.services import Services
from carnet.services.hooks import hooks_of
from carnet.tasks import version_family

__all__ = ["BatchingConfig", "Endpoint", "LoadedModel", "ServingRuntime"]

log = logging.getLogger("carnet.serve")

#: seconds a replaced version keeps draining before its batcher stops
DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class BatchingConfig:
    """Micro-batching settings of one model (rows per predict, wait, queue bound)."""

    max_batch_rows: int = 64
    max_wait_ms: float = 2.0
    max_queue_rows: int = 4096

    def merged(self, overrides: dict[str, Any] | None) -> BatchingConfig:
        if not overrides:
            return self
        values = {**self.__dict__, **{k: v for k, v in overrides.items() if k in self.__dict__}}
        return BatchingConfig(
            int(values["max_batch_rows"]), float(values["max_wait_ms"]), int(values["max_queue_rows"])
        )


@dataclass
class LoadedModel:
    """One model version loaded in memory, with its own micro-batcher."""

    version: ModelVersion
    model: Any
    batcher: MicroBatcher
    loaded_at: float
    predict_path: str = "plain"  # how outputs are computed (see carnet.inference.predictor)
    outputs: list[dict[str, Any]] = field(default_factory=list)  # what infer returns, as v2 metadata

    @property
    def key(self) -> str:
        return self.version.ref


@dataclass
class Endpoint:
    """An endpoint: its routes (weighted), shadows and where each route currently points."""

    name: str
    router: Router
    routes: dict[str, LoadedModel]
    shadows: list[LoadedModel] = field(default_factory=list)
    sticky_header: str | None = None
    source: str = "command line"

    def choose(self, request_key: str | None) -> LoadedModel:
        return self.routes[self.router.choose(request_key)]

    def version(self, number: int) -> LoadedModel:
        for loaded in [*self.routes.values(), *self.shadows]:
            if loaded.version.version == number:
                return loaded
        raise NotFound(
            f"endpoint {self.name!r} does not serve version {number}; it serves "
            + ", ".join(str(m.version.version) for m in self.routes.values()),
            field="version",
        )

    def models(self) -> list[LoadedModel]:
        seen: dict[str, LoadedModel] = {m.key: m for m in self.routes.values()}
        seen.update({m.key: m for m in self.shadows})
        return list(seen.values())


class ServingRuntime:
    """The endpoint table of a server and the background refresh that keeps it current.

    Args:
        services: the workspace's services.
        refs: model references to serve as endpoints named after the model.
        endpoints: names of stored deployments to serve (``None`` = every stored deployment
            when no ``refs`` are given, none otherwise).
        batching: default micro-batching settings (a deployment may override them).
        poll_interval: seconds between checks for moved aliases and changed deployments.
        on_batch: called as ``on_batch(model_ref, rows, requests, seconds)`` after each predict.
        allow_pickle: load versions stored with pickle (the same opt-in loading asks for).
    """

    def __init__(
        self,
        services: Services,
        refs: Sequence[str] = (),
        *,
        endpoints: Sequence[str] | None = None,
        batching: BatchingConfig | None = None,
        poll_interval: float = 1.0,
        on_batch: Callable[[str, int, int, float], None] | None = None,
        allow_pickle: bool = False,
    ) -> None:
        self.services = services
        self.refs = [ModelRef.parse(r) for r in refs]
        names = [r.name for r in self.refs]
        if len(set(names)) != len(names):
            raise InvalidInput(
                "two references name the same endpoint; use a deployment for canaries", field="model"
            )
        self.endpoint_names = list(endpoints) if endpoints is not None else None
        self.batching = batching or BatchingConfig()
        self.poll_interval = poll_interval
        self.on_batch = on_batch
        self.on_monitors: Callable[[list[dict[str, Any]]], None] | None = None
        self._monitor_token: Any = None
        self.allow_pickle = allow_pickle
        self.endpoints: dict[str, Endpoint] = {}
        self.loaded: dict[str, LoadedModel] = {}
        self.ready = False
        self.token: Any = None
        self.refreshes = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._preloaded: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    # -- lifecycle ----------------------------------------------------------------
    def check(self) -> dict[str, list[str]]:
        """Resolve every endpoint and load its models now (before a server starts), so that a
        wrong reference or an unloadable model is a clear error, not a failed start-up.

        Returns:
            Endpoint name -> the version references it routes to.
        """
        plans = self._plans(strict=True)
        for plan in plans:
            for mv, _ in plan["routes"] + plan["shadows"]:
                if mv.ref not in self._preloaded:
                    self._preloaded[mv.ref] = self.services.registry.load(
                        mv.ref, allow_pickle=self.allow_pickle
                    )[0]
        return {p["name"]: sorted({mv.ref for mv, _ in p["routes"]}) for p in plans}

    def announce(self, host: str, port: int) -> None:
        """Tell hook plugins (``after_serve_start``) which versions are about to be served, and where."""
        hooks = hooks_of(self.services.ctx)
        refs = sorted({ref for e in self.endpoints.values() for ref in e.routes})
        hooks.after(self.services.ctx, "after_serve_start", models=refs, host=host, port=port)

    async def start(self) -> None:
        """Load every endpoint's models (raises when one cannot load), then follow changes."""
        await self.refresh(strict=True)
        _freeze_heap()
        self.ready = True
        self._task = asyncio.create_task(self._follow(), name="carnet-serve-refresh")

    async def stop(self) -> None:
        """Stop following changes and drain every batcher."""
        self.ready = False
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        await asyncio.gather(*(m.batcher.stop(drain=True) for m in self.loaded.values()))

    async def _follow(self) -> None:
        while True:
            try:
                await self.refresh_monitors()
            except Exception as exc:  # noqa: BLE001 - monitoring gauges never stop serving
                log.warning("reading monitor results failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.poll_interval)
            try:
                token = await asyncio.to_thread(self._change_token)
                if token != self.token:
                    await self.refresh()
            except Exception as exc:  # noqa: BLE001 - keep serving what is loaded
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("refresh failed, still serving the previous routes: %s", self.last_error)

    async def refresh_monitors(self) -> None:
        """Hand the latest results of the served models' monitors to ``on_monitors`` when they moved."""
        if self.on_monitors is None:
            return
        monitoring = self.services.monitoring
        token = await asyncio.to_thread(monitoring.change_token)
        if token == self._monitor_token:
            return
        names = {m.version.name for m in self.loaded.values()}
        latest = await asyncio.to_thread(monitoring.latest, names)
        self.on_monitors(latest)
        self._monitor_token = token

    def _change_token(self) -> Any:
        return self.services.deployments.change_token()

    # -- the table ------------------------------------------------------------------
    async def refresh(self, *, strict: bool = False) -> None:
        """Resolve every endpoint again; load what is new; swap the table; drain what left."""
        async with self._lock:
            token = await asyncio.to_thread(self._change_token)
            plans = await asyncio.to_thread(self._plans, strict)
            wanted = {
                mv.ref: (mv, plan["batching"]) for plan in plans for mv, _ in plan["routes"] + plan["shadows"]
            }
            fresh: dict[str, LoadedModel] = {}
            for ref, (mv, overrides) in wanted.items():
                if ref in self.loaded:
                    fresh[ref] = self.loaded[ref]
                    continue
                try:
                    fresh[ref] = await self._load(mv, self.batching.merged(overrides))
                except Exception as exc:
                    if strict:
                        raise
                    self.last_error = f"cannot load {ref}: {type(exc).__name__}: {exc}"
                    log.warning("%s; keeping the previous routes", self.last_error)
                    return
            table: dict[str, Endpoint] = {}
            for plan in plans:
                routes = {mv.ref: fresh[mv.ref] for mv, _ in plan["routes"]}
                weights: dict[str, float] = {}
                for mv, weight in plan["routes"]:
                    weights[mv.ref] = weights.get(mv.ref, 0.0) + weight
                table[plan["name"]] = Endpoint(
                    name=plan["name"],
                    router=Router(
                        [Route(k, w) for k, w in weights.items()], sticky=plan["sticky"] is not None
                    ),
                    routes=routes,
                    shadows=[fresh[mv.ref] for mv, _ in plan["shadows"] if mv.ref not in routes],
                    sticky_header=plan["sticky"],
                    source=plan["source"],
                )
            gone = [m for ref, m in self.loaded.items() if ref not in fresh]
            previous = set(self.loaded)
            self.endpoints, self.loaded, self.token = table, fresh, token
            self.refreshes += 1
            self.last_error = None
            for old in gone:
                task = asyncio.create_task(self._retire(old))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            if gone or self.refreshes > 1:
                log.info("routes now: %s", {n: sorted(e.routes) for n, e in table.items()})
            if self.ready and fresh.keys() - previous:
                _freeze_heap()

    def _plans(self, strict: bool) -> list[dict[str, Any]]:
        """The desired endpoints, resolved to versions (runs in a worker thread: it reads the store)."""
        registry = self.services.registry
        plans: list[dict[str, Any]] = []
        for ref in self.refs:
            plans.append(
                {
                    "name": ref.name,
                    "routes": [(registry.resolve(ref), 100.0)],
                    "shadows": [],
                    "sticky": None,
                    "batching": None,
                    "source": f"command line ({ref})",
                }
            )
        names = self.endpoint_names
        if names is None:
            names = [] if self.refs else [d.endpoint for d in self.services.deployments.list()]
        for name in names:
            if name in {p["name"] for p in plans}:
                raise InvalidInput(f"endpoint {name!r} is given twice", field="deployment")
            dep = self.services.deployments.get(name)
            plans.append(
                {
                    "name": dep.endpoint,
                    "routes": [
                        (registry.resolve(r.model), float(r.weight)) for r in dep.routes if r.weight > 0
                    ],
                    "shadows": [(registry.resolve(s), 0.0) for s in dep.shadows],
                    "sticky": dep.sticky_header,
                    "batching": dict(dep.batching or {}),
                    "source": f"deployment {dep.endpoint} revision {dep.revision}",
                }
            )
        if strict and not plans:
            raise InvalidInput(
                "nothing to serve: give model references (carnet serve churn@production) or store a "
                "deployment (carnet deploy set FILE)",
                field="model",
            )
        return plans

    async def _load(self, mv: ModelVersion, config: BatchingConfig) -> LoadedModel:
        model, _ = await asyncio.to_thread(
            self.services.registry.load, mv.ref, allow_pickle=self.allow_pickle
        )
        family = version_family(mv)
        classes = (mv.extra or {}).get("classes")
        on_batch = self.on_batch

        predict, path = compile_predictor(model, family, classes, _input_columns(mv), _example_frame(mv))
        hooks = hooks_of(self.services.ctx)
        if hooks.active:  # hook plugins' predict_batch wrappers see every batch
            compiled = predict

            def predict(frame: Any, _inner: Any = compiled, _ref: str = mv.ref) -> Any:
                return hooks.predict(_ref, frame, _inner)

        def observed(rows: int, requests: int, seconds: float, ref: str = mv.ref) -> None:
            if on_batch is not None:
                on_batch(ref, rows, requests, seconds)

        batcher = MicroBatcher(
            predict,
            max_batch_rows=config.max_batch_rows,
            max_wait_ms=config.max_wait_ms,
            max_queue_rows=config.max_queue_rows,
            name=mv.ref,
            on_batch=observed,
        )
        await batcher.start()
        log.info("loaded %s (%s, %s predict path)", mv.ref, mv.flavor, path)
        prediction = next((c.dtype for c in mv.signature.outputs if c.name == "prediction"), "unknown")
        outputs = output_metadata(model, family, classes, prediction, _example_frame(mv))
        return LoadedModel(mv, model, batcher, time.time(), path, outputs)

    async def _retire(self, old: LoadedModel) -> None:
        await asyncio.sleep(DRAIN_SECONDS)
        if old.key not in self.loaded:
            await old.batcher.stop(drain=True)
            log.info("retired %s", old.key)

    def endpoint(self, name: str) -> Endpoint:
        """The endpoint ``name``; NotFound naming the served ones otherwise."""
        found = self.endpoints.get(name)
        if found is None:
            raise NotFound(
                f"no model {name!r} is served here; served: {', '.join(sorted(self.endpoints)) or 'none'}",
                field="model",
            )
        return found

    def default_endpoint(self) -> Endpoint:
        """The endpoint ``/invocations`` serves: the first one given."""
        if not self.endpoints:
            raise NotFound("no model is served yet", field="model")
        first = self.refs[0].name if self.refs else next(iter(self.endpoints))
        return self.endpoints.get(first) or next(iter(self.endpoints.values()))


def example_frame(mv: ModelVersion) -> Any:
    """The registered input example of ``mv`` as a validated frame (None when it has none)."""
    return _example_frame(mv)


def _freeze_heap() -> None:
    """Move everything allocated so far (libraries, loaded models) out of the garbage collector's reach.

    A full collection otherwise walks those hundreds of thousands of long-lived objects every
    few seconds under load, stalling every request in flight for about a tenth of a second.
    """
    gc.collect()
    gc.freeze()


def _input_columns(mv: ModelVersion) -> list[str]:
    """The signature's input column names, in order (none without a signature)."""
    return [c.name for c in mv.signature.inputs] if mv.signature is not None else []


def _example_frame(mv: ModelVersion) -> Any:
    """The registered input example as a validated frame, or None when there is none or it is invalid."""
    if mv.signature is None or not mv.input_example:
        return None
    import pandas as pd

    try:
        columns = [c.name for c in mv.signature.inputs]  # the stored example's keys may be sorted
        return validate_frame(pd.DataFrame(mv.input_example, columns=columns), mv.signature)
    except CarnetError:
        return None
