"""Model registry use cases: register versions, resolve references, aliases, tags, safe loading.

Every change (a new version, an alias moved, a tag set, a policy stored, an approval) is an
audit event written in the same transaction as the change. Promotion, rollback, model cards
and dossiers build on this service in :mod:`carnet.services.promotion`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import IO, Any

from carnet.domain import (
    Approval,
    ColumnSpec,
    ModelRef,
    ModelVersion,
    RegisteredModel,
    Signature,
)
from carnet.domain.models import MODEL_META_PATH, MODEL_PATH, check_alias, check_model_name, missing_alias
from carnet.domain.validation import check_document, check_text
from carnet.errors import AlreadyExists, ArtifactCorrupted, InvalidInput, NotFound, PermissionDenied
from carnet.flavors.packaging import ModelObject, model_object
from carnet.services.context import ServiceContext, record
from carnet.services.hooks import hooks_of
from carnet.services.tracking import TrackingService

__all__ = ["ModelObject", "RegistryService", "model_object"]

_REPORT_PREFIXES = ("reports/",)


class RegistryService:
    """Registered models and their versions, aliases and tags; verified model loading."""

    def __init__(self, ctx: ServiceContext, tracking: TrackingService) -> None:
        self.ctx = ctx
        self.tracking = tracking

    # -- registration -------------------------------------------------------------
    def register(
        self,
        run_id: str,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        derived_from: int | None = None,
    ) -> ModelVersion:
        """Register the model a training run stored as a new version of ``name``.

        Records the flavor, the model file's digest (the file itself is not copied: it is
        content-addressed), the signature, an input example, the run's metrics, dataset
        versions and evaluation reports.

        Raises:
            NotFound: unknown run, or ``derived_from`` is not a version of ``name``.
            InvalidInput: the run stored no model; bad name.

        A model the run derived from a registered one (``model.from``) records the parent in
        ``extra["reuse"]``; registered under the parent's name, ``derived_from`` is set to it.
        """
        check_model_name(name)
        check_text(str(description), "description")
        run = self.tracking.get_run(run_id)
        arts = {a.path: a for a in self.tracking.list_artifacts(run.id)}
        if MODEL_META_PATH not in arts:
            raise InvalidInput(
                f"run {run.id} stored no model; train one with: carnet train SPEC", field="run_id"
            )
        meta = json.loads(self.ctx.artifacts.get_bytes(arts[MODEL_META_PATH].digest))
        file_path = str(meta.get("file", MODEL_PATH))
        if file_path not in arts or arts[file_path].digest != meta.get("digest"):
            raise ArtifactCorrupted(
                f"run {run.id}: the model file does not match the digest its metadata recorded",
                digest=str(meta.get("digest")),
            )
        inputs = self.tracking.list_inputs(run.id)
        reuse = meta.get("reuse") if isinstance(meta.get("reuse"), Mapping) else None
        if reuse is not None and derived_from is None and reuse.get("model") == name:
            derived_from = int(reuse["version"])  # a derived model's parent, recorded by its training
        version = ModelVersion(
            name=name,
            version=0,
            flavor=str(meta["flavor"]),
            artifact_digest=arts[file_path].digest,
            file_name=file_path.rsplit("/", 1)[-1],
            run_id=run.id,
            signature=_signature(meta),
            created_at=self.ctx.clock(),
            created_by=self.ctx.actor,
            task=meta.get("task"),
            description=description,
            input_example=list(meta.get("input_example") or []),
            metrics=dict(run.metrics),
            datasets=[f"{i.dataset}@{i.version}" for i in inputs if i.context == "training"]
            or [f"{i.dataset}@{i.version}" for i in inputs],
            reports={p: a.digest for p, a in sorted(arts.items()) if p.startswith(_REPORT_PREFIXES)},
            derived_from=derived_from,
            tags=dict(tags or {}),
            extra={
                "target": meta.get("target"),
                "classes": meta.get("classes"),
                "family": meta.get("family"),
                "model": meta.get("model"),
                "plots": {p: a.digest for p, a in sorted(arts.items()) if p.startswith("plots/")},
                **({"reuse": dict(reuse)} if reuse is not None else {}),
                **({"encoders": list(meta["encoders"])} if meta.get("encoders") else {}),
                **({"targets": list(meta["targets"])} if meta.get("targets") else {}),
                **({"environment": dict(meta["environment"])} if meta.get("environment") else {}),
            },
        )
        return self._insert(version, run.project)

    def register_object(
        self,
        model: Any,
        name: str,
        sample: Any,
        *,
        project: str = "default",
        task: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        derived_from: int | None = None,
        allow_pickle: bool = False,
        flavor: str | None = None,
    ) -> ModelVersion:
        """Register an in-memory fitted model (no run); ``sample`` is a DataFrame of its inputs.

        The model is stored with the flavor that can save it safely; a generic Python
        object goes to the pickle flavor only with ``allow_pickle=True``, an opt-in recorded
        in the audit event and required again to load the version.

        Raises:
            PermissionDenied: only the pickle flavor can store the model and ``allow_pickle``
                is False.
            InvalidInput: bad name, ``sample`` not a DataFrame, no flavor can store it.
        """
        check_model_name(name)
        check_text(str(description), "description")
        if task:
            from carnet.tasks import get_task

            get_task(task)
        obj = model_object(model, sample, task=task, allow_pickle=allow_pickle, flavor=flavor)
        info = self.ctx.artifacts.put_bytes(obj.data)
        return self.register_stored(
            name,
            info.digest,
            obj.flavor,
            obj.signature,
            obj.input_example,
            project=project,
            task=task,
            description=description,
            tags=tags,
            derived_from=derived_from,
            allow_pickle=allow_pickle,
            classes=obj.classes,
        )

    def register_upload(
        self,
        name: str,
        stream: IO[bytes],
        flavor: str,
        signature: Signature,
        example: Sequence[Mapping[str, Any]] = (),
        *,
        digest: str | None = None,
        project: str = "default",
        task: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        derived_from: int | None = None,
        allow_pickle: bool = False,
        classes: Sequence[Any] | None = None,
    ) -> ModelVersion:
        """Register an uploaded model file (serialised by a remote client's flavor, never loaded
        here) as the next version of ``name``. Its description is checked before a byte of it is
        stored, so a refused upload leaves nothing behind.

        Raises:
            ArtifactCorrupted: the bytes received do not have ``digest`` (the one the client sent).
            InvalidInput, NotFound, PermissionDenied: as :meth:`register_stored`.
        """
        self.check_stored(
            name, flavor, allow_pickle, task=task, description=description, example=example, classes=classes
        )
        stored = self.ctx.artifacts.put_stream(stream).digest
        if digest is not None and digest != stored:
            raise ArtifactCorrupted(
                f"the model file received has digest {stored}, not {digest} as sent", digest=stored
            )
        return self.register_stored(
            name,
            stored,
            flavor,
            signature,
            example,
            project=project,
            task=task,
            description=description,
            tags=tags,
            derived_from=derived_from,
            allow_pickle=allow_pickle,
            classes=classes,
        )

    def register_stored(
        self,
        name: str,
        digest: str,
        flavor: str,
        signature: Signature,
        example: Sequence[Mapping[str, Any]] = (),
        *,
        project: str = "default",
        task: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        derived_from: int | None = None,
        allow_pickle: bool = False,
        classes: Sequence[Any] | None = None,
    ) -> ModelVersion:
        """Register model bytes already in the content store (an in-memory model serialised by its
        flavor, here or by a remote client) as the next version of ``name``.

        Raises:
            NotFound: no stored object has ``digest``; unknown flavor.
            PermissionDenied: the flavor stores with pickle and ``allow_pickle`` is False.
            InvalidInput: bad name, task or tags.
        """
        chosen, extra = self.check_stored(
            name, flavor, allow_pickle, task=task, description=description, example=example, classes=classes
        )
        pickled = bool(getattr(chosen, "requires_opt_in", False))
        if not self.ctx.artifacts.exists(digest):
            raise NotFound(f"no stored model file has digest {digest}; upload it first", field="digest")
        inspect = getattr(chosen, "untrusted", None)
        if self.ctx.settings.server is not None and callable(inspect):
            # a server never loads an upload, but reads its type table (plain JSON) to refuse at once
            # a file that names a type no one may load
            refused = inspect(self.ctx.artifacts.get_bytes(digest))
            if refused:
                raise PermissionDenied(
                    f"the model file names types carnet does not trust: {', '.join(refused[:5])}; "
                    "store models with carnet's own flavors",
                    field="file",
                )
        version = ModelVersion(
            name=name,
            version=0,
            flavor=chosen.name,
            artifact_digest=digest,
            file_name=chosen.file_name,
            run_id=None,
            signature=signature,
            created_at=self.ctx.clock(),
            created_by=self.ctx.actor,
            task=task,
            description=description,
            input_example=[dict(row) for row in example],
            derived_from=derived_from,
            allow_pickle=pickled,
            tags=dict(tags or {}),
            extra=extra,
        )
        return self._insert(version, project)

    def check_stored(
        self,
        name: str,
        flavor: str,
        allow_pickle: bool,
        *,
        task: str | None = None,
        description: str = "",
        example: Sequence[Mapping[str, Any]] = (),
        classes: Sequence[Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Every check :meth:`register_stored` makes of a model object's description, done before
        its file is stored (so a refused upload leaves nothing behind); returns the flavor and
        the version's ``extra`` (task family, class labels).

        Raises:
            InvalidInput: bad name, description, input example or task.
            NotFound, PermissionDenied: as :meth:`stored_flavor`.
        """
        check_model_name(name)
        check_text(str(description), "description")
        check_document(list(example), "input_example")
        chosen = self.stored_flavor(flavor, allow_pickle)
        return chosen, _object_extra(task, classes)

    @staticmethod
    def stored_flavor(flavor: str, allow_pickle: bool) -> Any:
        """The flavor a model file was written with, refused when it stores with pickle and
        ``allow_pickle`` is False (PermissionDenied; unknown flavor: NotFound)."""
        from carnet.plugins.loader import registry

        chosen = registry("flavor").get(flavor)
        if getattr(chosen, "requires_opt_in", False) and not allow_pickle:
            raise PermissionDenied(
                f"flavor {chosen.name!r} stores with pickle; pass allow_pickle=True to opt in (audited)"
            )
        return chosen

    def _insert(self, version: ModelVersion, project: str) -> ModelVersion:
        hooks = hooks_of(self.ctx)
        hooks.before(self.ctx, "before_register", run_id=version.run_id, name=version.name)
        mv = self._insert_version(version, project)
        hooks.after(self.ctx, "after_register", version=mv)
        return mv

    def _insert_version(self, version: ModelVersion, project: str) -> ModelVersion:
        from dataclasses import replace

        for _attempt in range(3):
            try:
                with self.ctx.store.transaction() as tx:
                    model_id = tx.models.find_id(version.name)
                    if model_id is None:
                        proj = self.tracking.ensure_project(tx, project)
                        model_id = tx.models.create_model(version.name, proj.id, "", version.created_at)
                        record(self.ctx, tx, "model.create", "model", version.name, {"project": project})
                    if version.derived_from is not None:
                        tx.models.version_id(model_id, version.derived_from, version.name)
                    number = tx.models.next_version(model_id)
                    mv = replace(version, version=number)
                    tx.models.insert_version(model_id, mv)
                    record(
                        self.ctx,
                        tx,
                        "model.register",
                        "model",
                        version.name,
                        {
                            "version": number,
                            "flavor": mv.flavor,
                            "digest": mv.artifact_digest,
                            "run_id": mv.run_id,
                            "derived_from": mv.derived_from,
                            "allow_pickle": mv.allow_pickle,
                            "datasets": mv.datasets,
                            "tags": dict(mv.tags),
                        },
                    )
                    return mv
            except AlreadyExists:  # a concurrent registration took the number: take the next one
                continue
        raise AlreadyExists(
            f"could not allocate a version number for model {version.name!r}; retry", field="name"
        )

    # -- reading ------------------------------------------------------------------
    def resolve(self, ref: str | ModelRef, version: int | str | None = None) -> ModelVersion:
        """The version a reference names: ``NAME/3``, ``NAME@alias`` or ``NAME`` (the latest).

        Raises:
            NotFound: no such model, version or alias (the message says how to list them).
        """
        r = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref, version)
        with self.ctx.store.transaction(write=False) as tx:
            model_id = tx.models.model_id(r.name)
            number = r.version
            if r.alias is not None:
                number = tx.models.get_alias(model_id, r.alias)
                if number is None:
                    raise missing_alias(r.name, r.alias, list(tx.models.get_model(r.name).aliases))
            if number is None:
                number = tx.models.next_version(model_id) - 1
                if number < 1:
                    raise NotFound(f"model {r.name!r} has no versions yet", field="version")
            return tx.models.get_version(r.name, number)

    def get_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version number."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.models.get_model(check_model_name(name))

    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        """Registered models (of one project), by name."""
        with self.ctx.store.transaction(write=False) as tx:
            project_id = tx.projects.get(project).id if project is not None else None
            return tx.models.list_models(project_id)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.models.versions(check_model_name(name))

    def alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Every move of a model's aliases, oldest first."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.models.alias_history(tx.models.model_id(name), alias)

    # -- aliases and tags ---------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> int | None:
        """Point ``alias`` at a version (no gates: see promotion for that); returns the previous one."""
        check_alias(alias)
        hooks = hooks_of(self.ctx)
        if hooks.active:
            try:
                holder: int | None = self.resolve(f"{name}@{alias}").version
            except NotFound:
                holder = None
            hooks.before(
                self.ctx, "before_alias_move", name=name, alias=alias, version=version, previous=holder
            )
        previous = self._move_alias(name, alias, version, reason)
        hooks.after(self.ctx, "after_alias_move", name=name, alias=alias, version=version, previous=previous)
        return previous

    def _move_alias(self, name: str, alias: str, version: int, reason: str) -> int | None:
        with self.ctx.store.transaction() as tx:
            model_id = tx.models.model_id(name)
            tx.models.version_id(model_id, version, name)
            previous = tx.models.set_alias(
                model_id, alias, version, self.ctx.clock(), kind="set", actor=self.ctx.actor, reason=reason
            )
            record(
                self.ctx,
                tx,
                "model.alias.set",
                "model",
                name,
                {"alias": alias, "version": version, "previous": previous, "reason": reason},
            )
            return previous

    def delete_alias(self, name: str, alias: str, *, reason: str = "") -> int:
        """Remove an alias; returns the version it pointed at. NotFound when it was not set."""
        check_alias(alias)
        with self.ctx.store.transaction() as tx:
            model_id = tx.models.model_id(name)
            previous = tx.models.delete_alias(
                model_id, alias, self.ctx.clock(), actor=self.ctx.actor, reason=reason
            )
            if previous is None:
                raise missing_alias(name, alias, list(tx.models.get_model(name).aliases))
            payload = {"alias": alias, "previous": previous, "reason": reason}
            record(self.ctx, tx, "model.alias.delete", "model", name, payload)
            return previous

    def set_tags(self, name: str, tags: Mapping[str, str], version: int | None = None) -> None:
        """Set tags on a model, or on one of its versions."""
        clean = _check_tags(tags)
        with self.ctx.store.transaction() as tx:
            model_id = tx.models.model_id(name)
            if version is None:
                tx.models.set_model_tags(model_id, clean)
            else:
                tx.models.set_version_tags(tx.models.version_id(model_id, version, name), clean)
            record(self.ctx, tx, "model.tag.set", "model", name, {"version": version, "tags": clean})

    def delete_tag(self, name: str, key: str, version: int | None = None) -> None:
        """Remove a tag from a model or a version; NotFound when it was not set."""
        with self.ctx.store.transaction() as tx:
            model_id = tx.models.model_id(name)
            if version is None:
                removed = tx.models.delete_model_tag(model_id, key)
            else:
                removed = tx.models.delete_version_tag(tx.models.version_id(model_id, version, name), key)
            if not removed:
                raise NotFound(f"tag {key!r} is not set", field="key")
            record(self.ctx, tx, "model.tag.delete", "model", name, {"version": version, "key": key})

    # -- approvals ----------------------------------------------------------------
    def approve(self, name: str, version: int, alias: str, comment: str = "") -> Approval:
        """Record the actor's approval of a version for an alias (once per actor); it counts as
        authenticated when the context carries an authenticated principal."""
        check_alias(alias)
        approval = Approval(
            name, version, alias, self.ctx.actor, comment, self.ctx.clock(), self.ctx.authenticated
        )
        with self.ctx.store.transaction() as tx:
            model_id = tx.models.model_id(name)
            tx.models.version_id(model_id, version, name)
            earlier = [a for a in tx.models.approvals(name, version, alias) if a.actor == approval.actor]
            # an approval recorded under a claimed name (no token) is confirmed, not duplicated, when
            # the same person approves authenticated; any other repeat is refused
            confirms = bool(earlier) and approval.authenticated and not earlier[0].authenticated
            if earlier and not confirms:
                raise AlreadyExists(
                    f"{approval.actor} already approved {name}/{version} for {alias!r}", field="actor"
                )
            if confirms:
                tx.models.confirm_approval(model_id, approval)
            else:
                tx.models.add_approval(model_id, approval)
            record(
                self.ctx,
                tx,
                "model.approve",
                "model",
                name,
                {
                    "version": version,
                    "alias": alias,
                    "comment": comment,
                    "authenticated": approval.authenticated,
                    "confirms_unauthenticated": confirms,
                },
            )
        return approval

    def approvals(self, name: str, version: int | None = None, alias: str | None = None) -> list[Approval]:
        """Approvals recorded for a model (a version, an alias)."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.models.approvals(name, version, alias)

    # -- export -------------------------------------------------------------------
    def export_onnx(
        self, ref: str | ModelRef, *, register: bool = False
    ) -> tuple[bytes, ModelVersion | None]:
        """The ONNX form of a scikit-learn version (skl2onnx), optionally registered as a new
        version of the same model (flavor ``onnx``, ``derived_from`` the source).

        Raises:
            InvalidInput: the model has a step skl2onnx cannot convert (the step is named).
        """
        from dataclasses import replace

        from carnet.flavors.onnx import export_onnx
        from carnet.training.onnx_export import onnx_ready

        model, mv = self.load(ref)
        data = export_onnx(onnx_ready(model), _sample(mv))
        if not register:
            return data, None
        info = self.ctx.artifacts.put_bytes(data)
        onnx_version = replace(
            mv,
            version=0,
            flavor="onnx",
            artifact_digest=info.digest,
            file_name="model.onnx",
            created_at=self.ctx.clock(),
            created_by=self.ctx.actor,
            derived_from=mv.version,
            allow_pickle=False,
            tags={"exported_from": mv.ref},
            aliases=[],
        )
        project = self.get_model(mv.name).project
        return data, self._insert(onnx_version, project)

    # -- loading ------------------------------------------------------------------
    def load(
        self,
        ref: str | ModelRef,
        version: int | str | None = None,
        *,
        trusted: Sequence[str] = (),
        allow_pickle: bool = False,
    ) -> tuple[Any, ModelVersion]:
        """The fitted model a reference names, and its record.

        The bytes are read through the content store, which checks them against the digest
        the registry recorded before anything is deserialised (ArtifactCorrupted otherwise).
        A version stored with pickle needs ``allow_pickle=True`` (PermissionDenied otherwise).
        """
        from carnet.flavors.trust import require_model
        from carnet.plugins.loader import registry

        mv = self.resolve(ref, version)
        if mv.allow_pickle and not allow_pickle:
            raise PermissionDenied(
                f"{mv.ref} was stored with pickle (flavor {mv.flavor!r}); loading runs code from the file: "
                "pass allow_pickle=True (--allow-pickle) if you trust its source"
            )
        data = self.ctx.artifacts.get_bytes(mv.artifact_digest)
        model = (
            registry("flavor").get(mv.flavor).loads(data, trusted=tuple(trusted), allow_pickle=allow_pickle)
        )
        from carnet.privacy.transforms import deidentified

        model = require_model(model, mv.flavor)  # whatever the flavor, only a model comes back
        return deidentified(model, mv.signature.transforms), mv  # inputs de-identified as at training


def _sample(mv: ModelVersion) -> Any:
    """A small frame of the version's inputs (its input example, typed by its signature)."""
    import pandas as pd

    rows = mv.input_example or [{}]
    frame = pd.DataFrame([{c.name: row.get(c.name) for c in mv.signature.inputs} for row in rows])
    for col in mv.signature.inputs:
        dtype = col.dtype
        if dtype.startswith(("int", "uint", "float")):
            frame[col.name] = pd.to_numeric(frame[col.name], errors="coerce").astype("float64")
            if dtype.startswith(("int", "uint")) and frame[col.name].notna().all():
                frame[col.name] = frame[col.name].astype(dtype)
        elif dtype == "bool":
            frame[col.name] = frame[col.name].fillna(False).astype(bool)
        else:
            frame[col.name] = frame[col.name].astype(object)
    return frame


def _signature(meta: Mapping[str, Any]) -> Signature:
    inputs = tuple(ColumnSpec(str(f["name"]), str(f["dtype"])) for f in meta.get("features", []))
    family = meta.get("family")
    classes = meta.get("classes") or []
    outputs: list[ColumnSpec] = []
    if family == "multitask":
        for entry in meta.get("targets") or []:
            target_classes = entry.get("classes") or []
            if entry.get("family") == "classification":
                outputs.append(ColumnSpec(str(entry["name"]), _label_dtype(target_classes)))
                outputs += [ColumnSpec(f"{entry['name']}_proba_{c}", "float64") for c in target_classes]
            else:
                outputs.append(ColumnSpec(str(entry["name"]), "float64"))
        return Signature(inputs, tuple(outputs))
    if family == "classification":
        kinds = {type(c).__name__ for c in classes}
        dtype = "int64" if kinds <= {"int", "bool"} and classes else ("object" if classes else "unknown")
        outputs.append(ColumnSpec("prediction", dtype))
        outputs += [ColumnSpec(f"proba_{c}", "float64") for c in classes]
    elif family in ("regression", "forecasting"):
        outputs.append(ColumnSpec("prediction", "float64"))
    elif family == "rl":  # a policy: observation columns -> the action, with both spaces
        env = meta.get("environment") or {}
        space = env.get("action_space") or {}
        outputs.append(ColumnSpec("action", str(space.get("dtype") or "int64")))
        spaces = {"observation": env.get("observation_space"), "action": space}
        return Signature(inputs, tuple(outputs), spaces)
    elif family is not None:
        outputs.append(ColumnSpec("prediction", "object"))
    transforms = meta.get("deidentify")
    return Signature(
        inputs, tuple(outputs), transforms=dict(transforms) if isinstance(transforms, dict) else None
    )


def _label_dtype(classes: Sequence[Any]) -> str:
    kinds = {type(c).__name__ for c in classes}
    return "int64" if kinds <= {"int", "bool"} and classes else ("object" if classes else "unknown")


def _check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(tags, Mapping) or not tags:
        raise InvalidInput("tags must be a non-empty mapping of key to value", field="tags")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 256:
            raise InvalidInput(f"tag key {key!r} must be 1-256 characters", field="tags")
        out[check_text(key, "tags")] = check_text(str(value), f"tags.{key}")
    return out


def _object_extra(task: str | None, classes: Sequence[Any] | None) -> dict[str, Any]:
    """What serving and monitoring need of an in-memory model: its task family and class labels."""
    extra: dict[str, Any] = {}
    if task:
        from carnet.tasks import get_task

        extra["family"] = str(get_task(task).family)
    if classes is not None:
        extra["classes"] = list(classes)
    return extra
