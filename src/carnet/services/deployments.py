"""Serving control: deployments (an endpoint's routing to model versions) and the prediction log index.

Setting or deleting a deployment stores a new revision and its audit event in one transaction.
Deleting stores a *tombstone* revision (no routes, ``deleted=True``): the history stays, ``get``
and ``list`` no longer show the endpoint, and setting it again continues the numbering. Setting a
spec equal to the endpoint's current one changes nothing (no revision, no event).

A running server polls :meth:`DeploymentService.change_token`, one cheap query, and re-resolves
its routes when the token moves: a new revision, or an alias moved in the registry (promotion,
rollback, ``models alias``).

Prediction log files are data, not governance changes: recording one is not audited.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carnet.documents import read_document
from carnet.domain import (
    DatasetRef,
    Deployment,
    ModelRef,
    ModelVersion,
    PredictionFile,
    ResolvedDeployment,
    ResolvedRoute,
    load_deployment,
)
from carnet.domain.deployments import check_endpoint
from carnet.domain.models import check_model_name
from carnet.errors import AlreadyExists, CarnetError, InvalidInput, NotFound
from carnet.services.context import ServiceContext, record
from carnet.services.registry import RegistryService

if TYPE_CHECKING:
    from carnet.inference.predlog import PredictionLog

__all__ = ["DeploymentService"]

PredictionSink = Callable[[bytes, Mapping[str, Any]], None]
_ATTEMPTS = 10  # concurrent writers of one endpoint race for the next revision number; losers retry


class DeploymentService:
    """Deployments of endpoints, their history and resolution, and the prediction log's files."""

    def __init__(self, ctx: ServiceContext, registry: RegistryService) -> None:
        self.ctx = ctx
        self.registry = registry

    # -- deployments --------------------------------------------------------------
    def set(self, source: str | Path | Mapping[str, Any] | Deployment) -> Deployment:
        """Validate a deployment (YAML text, a file, a mapping) and store it as the endpoint's next
        revision; every model reference must resolve in the registry now.

        Returns:
            The stored revision (the current one, unchanged, when the spec is the same).

        Raises:
            InvalidInput: the spec is invalid (``field`` names the entry, e.g. ``routes[1].weight``).
            NotFound: a reference names no model, version or alias (``field`` names the entry).
        """
        from carnet.domain.validation import check_document

        if isinstance(source, Mapping):
            check_document(source, "")
        spec = load_deployment(
            source.to_spec() if isinstance(source, Deployment) else read_document(source, "deployment")
        )
        check_document(spec.to_spec(), "")
        resolved = {
            where: self._resolve_ref(ref, where).ref
            for where, ref in [
                *((f"routes[{i}].model", r.model) for i, r in enumerate(spec.routes)),
                *((f"shadows[{i}]", s) for i, s in enumerate(spec.shadows)),
            ]
        }
        versions = dict(zip([*(r.model for r in spec.routes), *spec.shadows], resolved.values(), strict=True))
        for _attempt in range(_ATTEMPTS):
            try:
                with self.ctx.store.transaction() as tx:
                    current = tx.deployments.latest(spec.endpoint)
                    if current is not None and not current.deleted and current.to_spec() == spec.to_spec():
                        return current
                    stored = tx.deployments.insert(
                        replace(spec, created_at=self.ctx.clock(), actor=self.ctx.actor)
                    )
                    record(
                        self.ctx,
                        tx,
                        "deployment.set",
                        "deployment",
                        spec.endpoint,
                        {
                            "revision": stored.revision,
                            "previous_revision": None if current is None else current.revision,
                            "spec": stored.to_spec(),
                            "resolved": versions,
                        },
                        now=stored.created_at,
                    )
                    return stored
            except AlreadyExists:  # a concurrent change took the revision number: take the next one
                continue
        raise AlreadyExists(
            f"could not store a revision of endpoint {spec.endpoint!r}; retry", field="endpoint"
        )

    def get(self, endpoint: str) -> Deployment:
        """The current revision of an endpoint.

        Raises:
            NotFound: the endpoint was never deployed, or was deleted.
        """
        with self.ctx.store.transaction(write=False) as tx:
            found = tx.deployments.latest(check_endpoint(endpoint))
        if found is None or found.deleted:
            state = "was deleted" if found is not None else "has no deployment"
            raise NotFound(
                f"endpoint {endpoint!r} {state}; list deployments with: carnet deploy list, "
                "or deploy it with: carnet deploy set FILE",
                field="endpoint",
            )
        return found

    def list(self) -> builtins.list[Deployment]:
        """The current revision of every deployed endpoint (deleted ones left out), by name."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.deployments.list_latest()

    def history(self, endpoint: str) -> builtins.list[Deployment]:
        """Every revision of an endpoint, oldest first, tombstones included.

        Raises:
            NotFound: the endpoint never had a deployment.
        """
        with self.ctx.store.transaction(write=False) as tx:
            revisions = tx.deployments.history(check_endpoint(endpoint))
        if not revisions:
            raise NotFound(
                f"endpoint {endpoint!r} has no deployment; list deployments with: carnet deploy list",
                field="endpoint",
            )
        return revisions

    def delete(self, endpoint: str, *, reason: str = "") -> Deployment:
        """Stop routing an endpoint: stores a tombstone revision (audited); returns it.

        Raises:
            NotFound: the endpoint has no current deployment.
        """
        current = self.get(endpoint)
        for _attempt in range(_ATTEMPTS):
            try:
                with self.ctx.store.transaction() as tx:
                    latest = tx.deployments.latest(endpoint)
                    if latest is None or latest.deleted:
                        raise NotFound(f"endpoint {endpoint!r} was deleted already", field="endpoint")
                    tombstone = Deployment(
                        endpoint, (), created_at=self.ctx.clock(), actor=self.ctx.actor, deleted=True
                    )
                    stored = tx.deployments.insert(tombstone)
                    record(
                        self.ctx,
                        tx,
                        "deployment.delete",
                        "deployment",
                        endpoint,
                        {"revision": stored.revision, "previous_revision": latest.revision, "reason": reason},
                        now=stored.created_at,
                    )
                    return stored
            except AlreadyExists:
                continue
        raise AlreadyExists(f"could not delete endpoint {current.endpoint!r}; retry", field="endpoint")

    def change_token(self) -> tuple[int, int]:
        """A value that changes whenever routing may change: ``(newest deployment revision row id,
        newest alias move id)``. One cheap query, meant to be polled by running servers."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.deployments.change_token()

    def resolve(self, endpoint: str) -> ResolvedDeployment:
        """The current deployment of an endpoint with every reference resolved to a version now.

        The change token is read first, so a change made while resolving moves the token again.

        Raises:
            NotFound: no deployment, or a reference no longer resolves (e.g. its alias was removed).
        """
        token = self.change_token()
        deployment = self.get(endpoint)
        routes = tuple(
            ResolvedRoute(r.model, self._resolve_ref(r.model, f"routes[{i}].model"), r.weight)
            for i, r in enumerate(deployment.routes)
        )
        shadows = tuple(
            ResolvedRoute(s, self._resolve_ref(s, f"shadows[{i}]"), 0.0)
            for i, s in enumerate(deployment.shadows)
        )
        return ResolvedDeployment(deployment, routes, shadows, token)

    def _resolve_ref(self, ref: str, where: str) -> ModelVersion:
        try:
            return self.registry.resolve(ModelRef.parse(ref))
        except NotFound as exc:
            raise NotFound(f"{where}: {exc.message}", field=where) from None

    # -- prediction log -----------------------------------------------------------
    def record_prediction_file(
        self,
        endpoint: str,
        model: str,
        version: int,
        digest: str,
        rows: int,
        size: int,
        first_time: float,
        last_time: float,
        *,
        shadow: bool = False,
    ) -> PredictionFile:
        """Index one Parquet file of the prediction log already stored under ``digest`` (not audited:
        it is data, not a change of governance).

        Raises:
            InvalidInput: a bad name, a negative count, or ``last_time < first_time``.
        """
        check_endpoint(endpoint)
        check_model_name(model)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidInput(f"version must be a positive integer, got {version!r}", field="version")
        if rows < 0 or size < 0:
            raise InvalidInput("rows and size must be >= 0", field="rows")
        if last_time < first_time:
            raise InvalidInput("last_time is before first_time", field="last_time")
        with self.ctx.store.transaction() as tx:
            return tx.deployments.add_prediction_file(
                endpoint=endpoint,
                model=model,
                version=version,
                digest=digest,
                rows=int(rows),
                size=int(size),
                first_time=float(first_time),
                last_time=float(last_time),
                now=self.ctx.clock(),
                shadow=bool(shadow),
            )

    def prediction_files(
        self,
        endpoint: str | None = None,
        model: str | None = None,
        version: int | None = None,
        since: float | None = None,
    ) -> builtins.list[PredictionFile]:
        """Files of the prediction log, oldest first; ``since`` keeps files with rows at or after it."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.deployments.list_prediction_files(endpoint, model, version, since)

    def request_rates(self, endpoint: str, *, hours: int = 24) -> builtins.list[dict[str, Any]]:
        """Requests per hour over the last ``hours`` per model version serving ``endpoint``, from the
        prediction log's files (each file counted in the hour of its last request): ``{"model",
        "version", "shadow", "hours": [count per hour, oldest first], "total", "top"}``."""
        since = self.ctx.clock() - hours * 3600
        buckets: dict[tuple[str, int, bool], builtins.list[int]] = {}
        for f in self.prediction_files(endpoint=endpoint, since=since):
            hour = min(hours - 1, max(0, int((float(f.last_time) - since) // 3600)))
            buckets.setdefault((f.model, int(f.version), bool(f.shadow)), [0] * hours)[hour] += int(f.rows)
        return [
            {"model": m, "version": v, "shadow": s, "hours": c, "total": sum(c), "top": max(c) or 1}
            for (m, v, s), c in sorted(buckets.items())
        ]

    def prediction_sink(self) -> PredictionSink:
        """The sink of a prediction log writer: stores the Parquet bytes in the artifact store and
        indexes the file (``meta``: endpoint, model, version, rows, first_time, last_time, shadow)."""

        def sink(data: bytes, meta: Mapping[str, Any]) -> None:
            info = self.ctx.artifacts.put_bytes(data)
            self.record_prediction_file(
                str(meta["endpoint"]),
                str(meta["model"]),
                int(meta["version"]),
                info.digest,
                int(meta["rows"]),
                info.size,
                float(meta["first_time"]),
                float(meta["last_time"]),
                shadow=bool(meta.get("shadow", False)),
            )

        return sink

    def prediction_log(
        self,
        *,
        max_rows_per_file: int = 50_000,
        max_seconds_per_file: float = 60.0,
        pii: str = "keep",
        key: str | None = None,
    ) -> PredictionLog:
        """A prediction log writer into this workspace (a file per ``max_rows_per_file`` rows or
        ``max_seconds_per_file`` seconds, whichever comes first); the server closes it on exit.

        ``pii`` says what happens to the input columns flagged as personal data in the served
        version's training data: ``keep`` them, ``drop`` them, or ``pseudonymize`` them with the
        keyed HMAC tokens of ``carnet data deidentify`` (``key``: ``env:VARIABLE`` or ``file:PATH``).
        """
        from carnet.inference.predlog import PredictionLog

        return PredictionLog(
            self.prediction_sink(),
            max_rows_per_file=max_rows_per_file,
            max_seconds_per_file=max_seconds_per_file,
            protect=self._pii_protection(pii, key),
        )

    def _pii_inputs(self, model: str, version: int) -> builtins.list[str]:
        """The served version's inputs flagged as personal data in its training dataset's profile."""
        try:
            mv = self.registry.resolve(model, version)
            if not mv.datasets:
                return []
            ref = DatasetRef.parse(mv.datasets[0])
            with self.ctx.store.transaction(write=False) as tx:
                profile = tx.datasets.get(ref.name, ref.version).profile
        except CarnetError:
            return []
        inputs = set(mv.signature.input_names())
        return [c.name for c in profile if c.pii and c.name in inputs]

    def _pii_protection(self, pii: str, key: str | None) -> Callable[[Any], Any] | None:
        """What a prediction log does to the PII inputs of each served version (None: keep them)."""
        from dataclasses import replace

        if pii not in ("keep", "drop", "pseudonymize"):
            raise InvalidInput(f"pii must be keep, drop or pseudonymize, got {pii!r}", field="pii")
        if pii == "keep":
            return None
        pseudonym: Callable[[Any], Any] | None = None
        if pii == "pseudonymize":
            from carnet.privacy.deidentify import pseudonymizer, read_key

            if not key:
                raise InvalidInput(
                    "pseudonymizing the log needs a key: env:VARIABLE or file:PATH", field="key"
                )
            pseudonym = pseudonymizer(read_key(key))
        flagged: dict[tuple[str, int], builtins.list[str]] = {}

        def columns(model: str, version: int) -> builtins.list[str]:
            if (model, version) not in flagged:
                flagged[(model, version)] = self._pii_inputs(model, version)
            return flagged[(model, version)]

        def protect(record: Any) -> Any:
            hidden = [c for c in columns(record.model, record.version) if c in record.inputs.columns]
            if not hidden:
                return record
            if pseudonym is None:
                inputs = record.inputs.drop(columns=hidden)
            else:
                inputs = record.inputs.copy()
                for c in hidden:
                    inputs[c] = inputs[c].map(lambda v: pseudonym(v) if v is not None and v == v else v)
            return replace(record, inputs=inputs, layout=None)

        return protect
