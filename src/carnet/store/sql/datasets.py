"""SQL repository of datasets and their versions."""

from __future__ import annotations

import builtins
import json
from typing import Any

from sqlalchemy import Connection, func, select

from carnet.domain import ColumnProfile, DatasetRef, DatasetVersion, SchemaField
from carnet.errors import NotFound
from carnet.store.sql import tables as t

__all__ = ["SqlDatasetRepo"]


class SqlDatasetRepo:
    """Datasets on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _select(self) -> Any:
        dv, ds, p = t.dataset_versions, t.datasets, t.projects
        parent = dv.alias("parent")
        parent_ds = ds.alias("parent_ds")
        after = dv.alias("after")
        after_ds = ds.alias("after_ds")
        return (
            select(
                dv,
                ds.c.name.label("ds_name"),
                p.c.name.label("project_name"),
                parent.c.version.label("parent_version"),
                parent_ds.c.name.label("parent_name"),
                after.c.version.label("after_version"),
                after_ds.c.name.label("after_name"),
            )
            .join(ds, ds.c.id == dv.c.dataset_id)
            .join(p, p.c.id == ds.c.project_id)
            .outerjoin(parent, parent.c.id == dv.c.parent_id)
            .outerjoin(parent_ds, parent_ds.c.id == parent.c.dataset_id)
            .outerjoin(after, after.c.id == dv.c.superseded_by)
            .outerjoin(after_ds, after_ds.c.id == after.c.dataset_id)
        )

    @staticmethod
    def _to_domain(row: Any) -> DatasetVersion:
        return DatasetVersion(
            name=row.ds_name,
            version=int(row.version),
            digest=row.digest,
            format=row.format,
            size=int(row.size),
            num_rows=int(row.num_rows),
            num_columns=int(row.num_columns),
            schema=[SchemaField(**f) for f in json.loads(row.schema)],
            profile=[ColumnProfile.from_dict(c) for c in json.loads(row.profile)],
            source=row.source,
            parent=DatasetRef(row.parent_name, int(row.parent_version)) if row.parent_name else None,
            created_at=row.created_at,
            project=row.project_name,
            description=row.description,
            superseded_by=DatasetRef(row.after_name, int(row.after_version)) if row.after_name else None,
            erasure=None if row.erasure_id is None else int(row.erasure_id),
            purged_at=row.purged_at,
        )

    def dataset_id(self, name: str) -> int | None:
        """Row id of a dataset, or None when it does not exist."""
        return self.conn.execute(select(t.datasets.c.id).where(t.datasets.c.name == name)).scalar()

    def version_id(self, name: str, version: int) -> int:
        """Row id of a dataset version; NotFound when missing."""
        dv, ds = t.dataset_versions, t.datasets
        vid = self.conn.execute(
            select(dv.c.id)
            .join(ds, ds.c.id == dv.c.dataset_id)
            .where(ds.c.name == name, dv.c.version == version)
        ).scalar()
        if vid is None:
            raise NotFound(
                f"no dataset version {name}@{version}; list versions with: carnet data show {name}"
            )
        return int(vid)

    def find_by_digest(self, name: str, digest: str) -> DatasetVersion | None:
        """The current version of ``name`` with exactly this content, if any (a version an erasure
        superseded is not: adding its content again makes a new version)."""
        dv = t.dataset_versions
        row = self.conn.execute(
            self._select()
            .where(t.datasets.c.name == name, dv.c.digest == digest)
            .where(dv.c.superseded_by.is_(None), dv.c.purged_at.is_(None))
            .order_by(t.dataset_versions.c.version)
            .limit(1)
        ).first()
        return None if row is None else self._to_domain(row)

    def get(self, name: str, version: int | None) -> DatasetVersion:
        """A version (the latest when ``version`` is None); NotFound naming what is missing."""
        q = self._select().where(t.datasets.c.name == name)
        if version is None:
            q = q.order_by(t.dataset_versions.c.version.desc()).limit(1)
        else:
            q = q.where(t.dataset_versions.c.version == version)
        row = self.conn.execute(q).first()
        if row is None:
            if self.dataset_id(name) is None:
                raise NotFound(
                    f"no dataset named {name!r}; list datasets with: carnet data list", field="dataset"
                )
            raise NotFound(
                f"dataset {name!r} has no version {version}; see its versions with: carnet data show {name}",
                field="dataset",
            )
        return self._to_domain(row)

    def latest_version(self, name: str) -> int:
        """Highest version number of a dataset (0 when it has none)."""
        dv, ds = t.dataset_versions, t.datasets
        v = self.conn.execute(
            select(func.max(dv.c.version)).join(ds, ds.c.id == dv.c.dataset_id).where(ds.c.name == name)
        ).scalar()
        return int(v or 0)

    def insert(self, version: DatasetVersion, project_id: int) -> DatasetVersion:
        """Insert a new version (creating the dataset on its first version)."""
        ds_id = self.dataset_id(version.name)
        if ds_id is None:
            inserted = self.conn.execute(
                t.datasets.insert().values(
                    name=version.name, project_id=project_id, created_at=version.created_at
                )
            ).inserted_primary_key
            assert inserted is not None
            ds_id = int(inserted[0])
        parent_id = None
        if version.parent is not None and version.parent.version is not None:
            parent_id = self.version_id(version.parent.name, version.parent.version)
        self.conn.execute(
            t.dataset_versions.insert().values(
                dataset_id=ds_id,
                version=version.version,
                digest=version.digest,
                format=version.format,
                size=version.size,
                num_rows=version.num_rows,
                num_columns=version.num_columns,
                schema=json.dumps([{"name": f.name, "type": f.type} for f in version.schema]),
                profile=json.dumps([c.to_dict() for c in version.profile], default=str),
                source=version.source,
                parent_id=parent_id,
                description=version.description,
                created_at=version.created_at,
            )
        )
        return version

    def set_profile(self, name: str, version: int, profile: builtins.list[ColumnProfile]) -> None:
        """Replace a version's column profile (its content, digest and schema never change)."""
        self.conn.execute(
            t.dataset_versions.update()
            .where(t.dataset_versions.c.id == self.version_id(name, version))
            .values(profile=json.dumps([c.to_dict() for c in profile], default=str))
        )

    def list(self) -> builtins.list[DatasetVersion]:
        """The latest version of every dataset, by name."""
        dv = t.dataset_versions
        latest = (
            select(dv.c.dataset_id, func.max(dv.c.version).label("v")).group_by(dv.c.dataset_id).subquery()
        )
        q = self._select().join(
            latest, (latest.c.dataset_id == dv.c.dataset_id) & (latest.c.v == dv.c.version)
        )
        return [self._to_domain(r) for r in self.conn.execute(q.order_by(t.datasets.c.name))]

    def versions(self, name: str) -> builtins.list[DatasetVersion]:
        """Every version of one dataset, oldest first; NotFound when the dataset does not exist."""
        rows = self.conn.execute(
            self._select().where(t.datasets.c.name == name).order_by(t.dataset_versions.c.version)
        ).all()
        if not rows:
            raise NotFound(
                f"no dataset named {name!r}; list datasets with: carnet data list", field="dataset"
            )
        return [self._to_domain(r) for r in rows]

    def derived(self, name: str, version: int) -> builtins.list[tuple[str, int]]:
        """``(name, version)`` of the versions whose parent is ``name@version``."""
        dv, ds = t.dataset_versions, t.datasets
        parent = (
            select(dv.c.id)
            .join(ds, ds.c.id == dv.c.dataset_id)
            .where(ds.c.name == name, dv.c.version == version)
            .scalar_subquery()
        )
        rows: Any = self.conn.execute(
            select(ds.c.name, dv.c.version)
            .join(ds, ds.c.id == dv.c.dataset_id)
            .where(dv.c.parent_id == parent)
            .order_by(ds.c.name, dv.c.version)
        ).all()
        return [(str(n), int(v)) for n, v in rows]

    # -- erasure --------------------------------------------------------------------------------
    def insert_erasure(
        self,
        name: str,
        *,
        reason: str,
        where_digest: str,
        columns: builtins.list[str],
        actor: str,
        now: float,
    ) -> int:
        """A new erasure record of dataset ``name`` (its rows count is set by :meth:`finish_erasure`)."""
        ds_id = self.dataset_id(name)
        if ds_id is None:
            raise NotFound(
                f"no dataset named {name!r}; list datasets with: carnet data list", field="dataset"
            )
        inserted = self.conn.execute(
            t.erasures.insert().values(
                dataset_id=ds_id,
                reason=reason,
                where_digest=where_digest,
                columns=json.dumps(columns),
                rows_removed=0,
                actor=actor,
                created_at=now,
            )
        ).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    def finish_erasure(self, erasure_id: int, rows_removed: int) -> None:
        """Record how many rows an erasure removed, over all versions."""
        self.conn.execute(
            t.erasures.update().where(t.erasures.c.id == erasure_id).values(rows_removed=rows_removed)
        )

    def supersede(self, name: str, version: int, by: tuple[str, int], erasure_id: int) -> None:
        """Mark ``name@version`` superseded by ``by`` after erasure ``erasure_id``."""
        self.conn.execute(
            t.dataset_versions.update()
            .where(t.dataset_versions.c.id == self.version_id(name, version))
            .values(superseded_by=self.version_id(*by), erasure_id=erasure_id)
        )

    def mark_purged(self, name: str, version: int, now: float) -> None:
        """Record that a version's content left the artifact store."""
        self.conn.execute(
            t.dataset_versions.update()
            .where(t.dataset_versions.c.id == self.version_id(name, version))
            .values(purged_at=now)
        )

    def digest_kept(self, digest: str, excluding: builtins.list[tuple[str, int]]) -> bool:
        """Whether content ``digest`` is still referenced by a dataset version not in ``excluding``
        and not purged, or by a run artifact."""
        dv, ds = t.dataset_versions, t.datasets
        rows: Any = self.conn.execute(
            select(ds.c.name, dv.c.version)
            .join(ds, ds.c.id == dv.c.dataset_id)
            .where(dv.c.digest == digest, dv.c.purged_at.is_(None))
        ).all()
        if any((str(n), int(v)) not in set(excluding) for n, v in rows):
            return True
        used = self.conn.execute(select(t.artifacts.c.run_id).where(t.artifacts.c.digest == digest).limit(1))
        return used.first() is not None

    def all_versions(self) -> builtins.list[DatasetVersion]:
        """Every version of every dataset, by name then version."""
        dv, ds = t.dataset_versions, t.datasets
        rows = self.conn.execute(self._select().order_by(ds.c.name, dv.c.version))
        return [self._to_domain(r) for r in rows]

    def artifact_uses(self, digest: str) -> bool:
        """Whether a run artifact names content ``digest``."""
        used = self.conn.execute(select(t.artifacts.c.run_id).where(t.artifacts.c.digest == digest).limit(1))
        return used.first() is not None

    def erasures(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        """Erasure records (of one dataset, or all), oldest first, with the versions each superseded."""
        e, ds, dv = t.erasures, t.datasets, t.dataset_versions
        q = select(e, ds.c.name.label("ds_name")).join(ds, ds.c.id == e.c.dataset_id).order_by(e.c.id)
        if name is not None:
            q = q.where(ds.c.name == name)
        out = []
        for row in self.conn.execute(q).all():
            after = dv.alias("after")
            versions = self.conn.execute(
                select(dv.c.version, dv.c.digest, dv.c.purged_at, after.c.version.label("new_version"))
                .outerjoin(after, after.c.id == dv.c.superseded_by)
                .where(dv.c.erasure_id == row.id)
                .order_by(dv.c.version)
            ).all()
            out.append(
                {
                    "id": int(row.id),
                    "dataset": row.ds_name,
                    "reason": row.reason,
                    "where_digest": row.where_digest,
                    "columns": json.loads(row.columns),
                    "rows_removed": int(row.rows_removed),
                    "actor": row.actor,
                    "created_at": float(row.created_at),
                    "versions": [
                        {
                            "version": int(v.version),
                            "digest": v.digest,
                            "superseded_by": None if v.new_version is None else int(v.new_version),
                            "purged": v.purged_at is not None,
                        }
                        for v in versions
                    ],
                }
            )
        return out
