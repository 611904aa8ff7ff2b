"""SQL repository of the model registry: models, versions, tags, aliases, promotions, approvals, policies."""

from __future__ import annotations

import builtins
import json
from typing import Any

from sqlalchemy import Connection, and_, func, select

from carnet.domain import (
    Approval,
    GateResult,
    ModelVersion,
    Promotion,
    RegisteredModel,
    Signature,
)
from carnet.errors import NotFound
from carnet.store.sql import tables as t

__all__ = ["SqlModelRepo"]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class SqlModelRepo:
    """The model registry on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- models -------------------------------------------------------------------
    def find_id(self, name: str) -> int | None:
        """The id of the registered model ``name``, or None."""
        row = self.conn.execute(
            select(t.registered_models.c.id).where(t.registered_models.c.name == name)
        ).first()
        return None if row is None else int(row.id)

    def model_id(self, name: str) -> int:
        """The id of the registered model ``name``; NotFound otherwise."""
        found = self.find_id(name)
        if found is None:
            raise NotFound(
                f"no registered model named {name!r}; list them with: carnet models list", field="name"
            )
        return found

    def create_model(self, name: str, project_id: int, description: str, now: float) -> int:
        """Insert a registered model; returns its id."""
        inserted = self.conn.execute(
            t.registered_models.insert().values(
                name=name, project_id=project_id, description=description, created_at=now
            )
        ).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    def get_model(self, name: str) -> RegisteredModel:
        """The registered model ``name`` with its tags, aliases and latest version number."""
        models = self._models(t.registered_models.c.name == name)
        if not models:
            self.model_id(name)  # raises NotFound
        return models[0]

    def list_models(self, project_id: int | None = None) -> builtins.list[RegisteredModel]:
        """Every registered model (of one project), by name."""
        cond = None if project_id is None else t.registered_models.c.project_id == project_id
        return self._models(cond)

    def _models(self, cond: Any) -> builtins.list[RegisteredModel]:
        m, p, v = t.registered_models, t.projects, t.model_versions
        latest = select(v.c.model_id, func.max(v.c.version).label("latest")).group_by(v.c.model_id).subquery()
        query = (
            select(m, p.c.name.label("project_name"), latest.c.latest)
            .join(p, p.c.id == m.c.project_id)
            .outerjoin(latest, latest.c.model_id == m.c.id)
            .order_by(m.c.name)
        )
        if cond is not None:
            query = query.where(cond)
        rows = self.conn.execute(query).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        for r in self.conn.execute(select(t.model_tags).where(t.model_tags.c.model_id.in_(ids))):
            tags[r.model_id][r.key] = r.value
        aliases: dict[int, dict[str, int]] = {i: {} for i in ids}
        for r in self.conn.execute(select(t.model_aliases).where(t.model_aliases.c.model_id.in_(ids))):
            aliases[r.model_id][r.alias] = int(r.version)
        return [
            RegisteredModel(
                name=r.name,
                project=r.project_name,
                description=r.description,
                created_at=r.created_at,
                tags=tags[r.id],
                aliases=dict(sorted(aliases[r.id].items())),
                latest_version=int(r.latest or 0),
            )
            for r in rows
        ]

    def project_of(self, model_id: int) -> int:
        """The project id of a registered model."""
        row = self.conn.execute(
            select(t.registered_models.c.project_id).where(t.registered_models.c.id == model_id)
        ).one()
        return int(row.project_id)

    def set_model_tags(self, model_id: int, tags: dict[str, str]) -> None:
        """Set (insert or replace) tags of a registered model."""
        for key, value in tags.items():
            self.conn.execute(
                t.model_tags.delete().where(
                    and_(t.model_tags.c.model_id == model_id, t.model_tags.c.key == key)
                )
            )
            self.conn.execute(t.model_tags.insert().values(model_id=model_id, key=key, value=value))

    def delete_model_tag(self, model_id: int, key: str) -> bool:
        """Remove one tag; False when it was not set."""
        res = self.conn.execute(
            t.model_tags.delete().where(and_(t.model_tags.c.model_id == model_id, t.model_tags.c.key == key))
        )
        return bool(res.rowcount)

    # -- versions -----------------------------------------------------------------
    def next_version(self, model_id: int) -> int:
        """One more than the highest version number of the model (1 for the first)."""
        v = t.model_versions
        value = self.conn.execute(select(func.max(v.c.version)).where(v.c.model_id == model_id)).scalar()
        return int(value or 0) + 1

    def insert_version(self, model_id: int, mv: ModelVersion) -> int:
        """Insert a version (the number must be free: AlreadyExists from the store otherwise)."""
        inserted = self.conn.execute(
            t.model_versions.insert().values(
                model_id=model_id,
                version=mv.version,
                flavor=mv.flavor,
                artifact_digest=mv.artifact_digest,
                file_name=mv.file_name,
                run_id=mv.run_id,
                task=mv.task,
                signature=_dumps(mv.signature.to_dict()),
                input_example=_dumps(mv.input_example),
                metrics=_dumps(mv.metrics),
                datasets=_dumps(mv.datasets),
                reports=_dumps(mv.reports),
                extra=_dumps(mv.extra),
                derived_from=mv.derived_from,
                allow_pickle=mv.allow_pickle,
                description=mv.description,
                created_at=mv.created_at,
                created_by=mv.created_by,
            )
        ).inserted_primary_key
        assert inserted is not None
        version_id = int(inserted[0])
        for key, value in mv.tags.items():
            self.conn.execute(
                t.model_version_tags.insert().values(version_id=version_id, key=key, value=value)
            )
        return version_id

    def version_id(self, model_id: int, version: int, name: str = "") -> int:
        """The row id of a version; NotFound naming it otherwise."""
        v = t.model_versions
        row = self.conn.execute(
            select(v.c.id).where(and_(v.c.model_id == model_id, v.c.version == version))
        ).first()
        if row is None:
            raise NotFound(
                f"model {name or model_id} has no version {version}; list them with: "
                f"carnet models versions {name or 'NAME'}",
                field="version",
            )
        return int(row.id)

    def get_version(self, name: str, version: int) -> ModelVersion:
        """One version of a registered model with its tags and aliases."""
        model_id = self.model_id(name)
        self.version_id(model_id, version, name)
        return self._versions(name, model_id, version)[0]

    def versions(self, name: str) -> builtins.list[ModelVersion]:
        """Every version of a registered model, oldest first."""
        return self._versions(name, self.model_id(name), None)

    def _versions(self, name: str, model_id: int, version: int | None) -> builtins.list[ModelVersion]:
        v = t.model_versions
        query = select(v).where(v.c.model_id == model_id).order_by(v.c.version)
        if version is not None:
            query = query.where(v.c.version == version)
        rows = self.conn.execute(query).all()
        ids = [r.id for r in rows]
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        if ids:
            vt = t.model_version_tags
            for r in self.conn.execute(select(vt).where(vt.c.version_id.in_(ids))):
                tags[r.version_id][r.key] = r.value
        aliases: dict[int, list[str]] = {}
        for r in self.conn.execute(select(t.model_aliases).where(t.model_aliases.c.model_id == model_id)):
            aliases.setdefault(int(r.version), []).append(r.alias)
        return [
            ModelVersion(
                name=name,
                version=int(r.version),
                flavor=r.flavor,
                artifact_digest=r.artifact_digest,
                file_name=r.file_name,
                run_id=r.run_id,
                signature=Signature.from_dict(json.loads(r.signature)),
                created_at=r.created_at,
                created_by=r.created_by,
                task=r.task,
                description=r.description,
                input_example=json.loads(r.input_example),
                metrics=json.loads(r.metrics),
                datasets=json.loads(r.datasets),
                reports=json.loads(r.reports),
                derived_from=r.derived_from,
                allow_pickle=bool(r.allow_pickle),
                tags=tags[r.id],
                aliases=sorted(aliases.get(int(r.version), [])),
                extra=json.loads(r.extra),
            )
            for r in rows
        ]

    def versions_of_run(self, run_id: str) -> builtins.list[tuple[str, int]]:
        """``(name, version)`` of every version registered from a run."""
        v, m = t.model_versions, t.registered_models
        rows = self.conn.execute(
            select(m.c.name, v.c.version).join(m, m.c.id == v.c.model_id).where(v.c.run_id == run_id)
        )
        return [(r.name, int(r.version)) for r in rows]

    def set_version_tags(self, version_id: int, tags: dict[str, str]) -> None:
        """Set (insert or replace) tags of a version."""
        vt = t.model_version_tags
        for key, value in tags.items():
            self.conn.execute(vt.delete().where(and_(vt.c.version_id == version_id, vt.c.key == key)))
            self.conn.execute(vt.insert().values(version_id=version_id, key=key, value=value))

    def delete_version_tag(self, version_id: int, key: str) -> bool:
        """Remove one version tag; False when it was not set."""
        vt = t.model_version_tags
        res = self.conn.execute(vt.delete().where(and_(vt.c.version_id == version_id, vt.c.key == key)))
        return bool(res.rowcount)

    # -- aliases ------------------------------------------------------------------
    def get_alias(self, model_id: int, alias: str) -> int | None:
        """The version ``alias`` points at, or None."""
        a = t.model_aliases
        row = self.conn.execute(
            select(a.c.version).where(and_(a.c.model_id == model_id, a.c.alias == alias))
        ).first()
        return None if row is None else int(row.version)

    def set_alias(
        self, model_id: int, alias: str, version: int, now: float, *, kind: str, actor: str, reason: str = ""
    ) -> int | None:
        """Point ``alias`` at ``version`` and record the move; returns the previous holder."""
        previous = self.get_alias(model_id, alias)
        a = t.model_aliases
        self.conn.execute(a.delete().where(and_(a.c.model_id == model_id, a.c.alias == alias)))
        self.conn.execute(a.insert().values(model_id=model_id, alias=alias, version=version, updated_at=now))
        self._history(model_id, alias, version, previous, kind, actor, reason, now)
        return previous

    def delete_alias(
        self, model_id: int, alias: str, now: float, *, actor: str, reason: str = ""
    ) -> int | None:
        """Remove ``alias``; returns the version it pointed at (None when it was not set)."""
        previous = self.get_alias(model_id, alias)
        if previous is None:
            return None
        a = t.model_aliases
        self.conn.execute(a.delete().where(and_(a.c.model_id == model_id, a.c.alias == alias)))
        self._history(model_id, alias, None, previous, "delete", actor, reason, now)
        return previous

    def _history(
        self,
        model_id: int,
        alias: str,
        version: int | None,
        previous: int | None,
        kind: str,
        actor: str,
        reason: str,
        now: float,
    ) -> None:
        self.conn.execute(
            t.alias_history.insert().values(
                model_id=model_id,
                alias=alias,
                version=version,
                previous_version=previous,
                kind=kind,
                actor=actor,
                reason=reason,
                created_at=now,
            )
        )

    def alias_history(self, model_id: int, alias: str | None = None) -> builtins.list[dict[str, Any]]:
        """Every move of the model's aliases (of one alias), oldest first."""
        h = t.alias_history
        query = select(h).where(h.c.model_id == model_id).order_by(h.c.id)
        if alias is not None:
            query = query.where(h.c.alias == alias)
        return [
            {
                "alias": r.alias,
                "version": r.version,
                "previous_version": r.previous_version,
                "kind": r.kind,
                "actor": r.actor,
                "reason": r.reason,
                "time": r.created_at,
            }
            for r in self.conn.execute(query)
        ]

    # -- promotions and approvals -------------------------------------------------
    def insert_promotion(self, model_id: int, p: Promotion) -> int:
        """Record a promotion attempt (or a rollback) with its gate results; returns its id."""
        inserted = self.conn.execute(
            t.promotions.insert().values(
                model_id=model_id,
                version=p.version,
                alias=p.alias,
                previous_version=p.previous_version,
                passed=p.passed,
                applied=p.applied,
                kind=p.kind,
                results=_dumps([r.to_dict() for r in p.results]),
                policy=_dumps(p.policy),
                actor=p.actor,
                reason=p.reason,
                created_at=p.created_at,
            )
        ).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    def promotions(self, name: str, version: int | None = None) -> builtins.list[Promotion]:
        """Promotions of a model (of one version), oldest first."""
        model_id = self.model_id(name)
        pr = t.promotions
        query = select(pr).where(pr.c.model_id == model_id).order_by(pr.c.id)
        if version is not None:
            query = query.where(pr.c.version == version)
        return [
            Promotion(
                id=int(r.id),
                name=name,
                version=int(r.version),
                alias=r.alias,
                previous_version=r.previous_version,
                passed=bool(r.passed),
                applied=bool(r.applied),
                results=tuple(GateResult.from_dict(d) for d in json.loads(r.results)),
                policy=json.loads(r.policy),
                actor=r.actor,
                created_at=r.created_at,
                kind=r.kind,
                reason=r.reason,
            )
            for r in self.conn.execute(query)
        ]

    def add_approval(self, model_id: int, approval: Approval) -> None:
        """Record an approval (AlreadyExists from the store when this actor already approved)."""
        self.conn.execute(
            t.approvals.insert().values(
                model_id=model_id,
                version=approval.version,
                alias=approval.alias,
                actor=approval.actor,
                comment=approval.comment,
                authenticated=approval.authenticated,
                created_at=approval.created_at,
            )
        )

    def confirm_approval(self, model_id: int, approval: Approval) -> None:
        """Mark this actor's earlier unauthenticated approval as authenticated (new comment and time)."""
        ap = t.approvals
        self.conn.execute(
            ap.update()
            .where(
                ap.c.model_id == model_id,
                ap.c.version == approval.version,
                ap.c.alias == approval.alias,
                ap.c.actor == approval.actor,
            )
            .values(authenticated=True, comment=approval.comment, created_at=approval.created_at)
        )

    def approvals(
        self, name: str, version: int | None = None, alias: str | None = None
    ) -> builtins.list[Approval]:
        """Approvals of a model (of one version, for one alias), oldest first."""
        model_id = self.model_id(name)
        ap = t.approvals
        query = select(ap).where(ap.c.model_id == model_id).order_by(ap.c.id)
        if version is not None:
            query = query.where(ap.c.version == version)
        if alias is not None:
            query = query.where(ap.c.alias == alias)
        return [
            Approval(name, int(r.version), r.alias, r.actor, r.comment, r.created_at, bool(r.authenticated))
            for r in self.conn.execute(query)
        ]

    # -- policies -----------------------------------------------------------------
    def set_policy(self, project_id: int, model_id: int | None, source: str, actor: str, now: float) -> None:
        """Store a policy (the newest one of a model, or of a project, is in force)."""
        self.conn.execute(
            t.policies.insert().values(
                project_id=project_id, model_id=model_id, source=source, actor=actor, created_at=now
            )
        )

    def get_policy(self, project_id: int, model_id: int | None) -> dict[str, Any] | None:
        """The newest policy of a model (``model_id``) or the project default (None)."""
        po = t.policies
        cond = po.c.model_id.is_(None) if model_id is None else po.c.model_id == model_id
        row = self.conn.execute(
            select(po).where(and_(po.c.project_id == project_id, cond)).order_by(po.c.id.desc()).limit(1)
        ).first()
        if row is None:
            return None
        return {"source": row.source, "actor": row.actor, "time": row.created_at}
