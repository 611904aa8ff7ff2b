"""SQL repository of deployments (revisions of endpoint routing) and the prediction log's files."""

from __future__ import annotations

import builtins
import json
from typing import Any

from sqlalchemy import Connection, and_, func, select

from carnet.domain import Deployment, PredictionFile
from carnet.store.sql import tables as t

__all__ = ["SqlDeploymentRepo"]


def _deployment(row: Any) -> Deployment:
    return Deployment.from_spec(
        json.loads(row.spec),
        revision=int(row.revision),
        created_at=row.created_at,
        actor=row.actor,
        deleted=bool(row.deleted),
    )


class SqlDeploymentRepo:
    """Deployments and prediction files on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- deployments --------------------------------------------------------------
    def insert(self, deployment: Deployment) -> Deployment:
        """Store ``deployment`` as the endpoint's next revision (AlreadyExists from the store when a
        concurrent writer took the number); returns it with its revision."""
        d = t.deployments
        current = self.conn.execute(
            select(func.max(d.c.revision)).where(d.c.endpoint == deployment.endpoint)
        ).scalar()
        revision = int(current or 0) + 1
        spec = {"endpoint": deployment.endpoint} if deployment.deleted else deployment.to_spec()
        self.conn.execute(
            d.insert().values(
                endpoint=deployment.endpoint,
                revision=revision,
                spec=json.dumps(spec, sort_keys=True),
                deleted=deployment.deleted,
                actor=deployment.actor,
                created_at=deployment.created_at,
            )
        )
        return Deployment.from_spec(
            spec,
            revision=revision,
            created_at=deployment.created_at,
            actor=deployment.actor,
            deleted=deployment.deleted,
        )

    def latest(self, endpoint: str) -> Deployment | None:
        """The newest revision of an endpoint (a tombstone when it was deleted), or None."""
        d = t.deployments
        row = self.conn.execute(
            select(d).where(d.c.endpoint == endpoint).order_by(d.c.revision.desc()).limit(1)
        ).first()
        return None if row is None else _deployment(row)

    def list_latest(self, include_deleted: bool = False) -> builtins.list[Deployment]:
        """The newest revision of every endpoint, by endpoint name (without tombstones by default)."""
        d = t.deployments
        newest = (
            select(d.c.endpoint, func.max(d.c.revision).label("revision")).group_by(d.c.endpoint).subquery()
        )
        query = (
            select(d)
            .join(newest, and_(newest.c.endpoint == d.c.endpoint, newest.c.revision == d.c.revision))
            .order_by(d.c.endpoint)
        )
        if not include_deleted:
            query = query.where(d.c.deleted.is_(False))
        return [_deployment(r) for r in self.conn.execute(query)]

    def history(self, endpoint: str) -> builtins.list[Deployment]:
        """Every revision of an endpoint, oldest first (tombstones included)."""
        d = t.deployments
        rows = self.conn.execute(select(d).where(d.c.endpoint == endpoint).order_by(d.c.revision))
        return [_deployment(r) for r in rows]

    def change_token(self) -> tuple[int, int]:
        """``(newest deployment row id, newest alias move id)``: changes whenever routing may change."""
        deployment = self.conn.execute(select(func.max(t.deployments.c.id))).scalar()
        alias = self.conn.execute(select(func.max(t.alias_history.c.id))).scalar()
        return int(deployment or 0), int(alias or 0)

    # -- prediction files ---------------------------------------------------------
    def add_prediction_file(
        self,
        *,
        endpoint: str,
        model: str,
        version: int,
        digest: str,
        rows: int,
        size: int,
        first_time: float,
        last_time: float,
        now: float,
        shadow: bool = False,
    ) -> PredictionFile:
        """Record one Parquet file of the prediction log; returns it with its id."""
        inserted = self.conn.execute(
            t.prediction_files.insert().values(
                endpoint=endpoint,
                model=model,
                version=version,
                shadow=shadow,
                digest=digest,
                rows=rows,
                bytes=size,
                first_time=first_time,
                last_time=last_time,
                created_at=now,
            )
        ).inserted_primary_key
        assert inserted is not None
        return PredictionFile(
            int(inserted[0]), endpoint, model, version, digest, rows, size, first_time, last_time, now, shadow
        )

    def list_prediction_files(
        self,
        endpoint: str | None = None,
        model: str | None = None,
        version: int | None = None,
        since: float | None = None,
    ) -> builtins.list[PredictionFile]:
        """Prediction files, oldest first; ``since`` keeps the files holding rows at or after it."""
        p = t.prediction_files
        query = select(p).order_by(p.c.first_time, p.c.id)
        if endpoint is not None:
            query = query.where(p.c.endpoint == endpoint)
        if model is not None:
            query = query.where(p.c.model == model)
        if version is not None:
            query = query.where(p.c.version == version)
        if since is not None:
            query = query.where(p.c.last_time >= since)
        return [
            PredictionFile(
                id=int(r.id),
                endpoint=r.endpoint,
                model=r.model,
                version=int(r.version),
                digest=r.digest,
                rows=int(r.rows),
                bytes=int(r.bytes),
                first_time=r.first_time,
                last_time=r.last_time,
                created_at=r.created_at,
                shadow=bool(r.shadow),
            )
            for r in self.conn.execute(query)
        ]
