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
        return (
            select(
                dv,
                ds.c.name.label("ds_name"),
                p.c.name.label("project_name"),
                parent.c.version.label("parent_version"),
                parent_ds.c.name.label("parent_name"),
            )
            .join(ds, ds.c.id == dv.c.dataset_id)
            .join(p, p.c.id == ds.c.project_id)
            .outerjoin(parent, parent.c.id == dv.c.parent_id)
            .outerjoin(parent_ds, parent_ds.c.id == parent.c.dataset_id)
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
        """The existing version of ``name`` with exactly this content, if any."""
        row = self.conn.execute(
            self._select()
            .where(t.datasets.c.name == name, t.dataset_versions.c.digest == digest)
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
