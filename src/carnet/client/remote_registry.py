"""Model registry, policies, promotions and deployments over HTTP: part of
:class:`~carnet.client.remote.RemoteClient`."""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from carnet.client.api import ClientAPI
from carnet.client.remote_http import HttpTransport, remote
from carnet.client.remote_http import text_values as _text
from carnet.client.wire import decode
from carnet.documents import read_document
from carnet.domain import Approval, Artifact, ModelVersion, Policy, Promotion, RegisteredModel
from carnet.domain.models import MODEL_META_PATH, MODEL_PATH, check_model_name
from carnet.domain.policies import policy_from_dict, policy_to_dict
from carnet.errors import ArtifactCorrupted, InvalidInput, NotFound, PermissionDenied
from carnet.operations import Call, call

__all__ = ["RemoteRegistry"]


class RemoteRegistry(HttpTransport):
    """The registry calls of the remote client."""

    # -- model registry ------------------------------------------------------------------------------
    def register_model(
        self,
        run_id: str,
        name: str,
        *,
        description: str = "",
        tags: dict[str, str] | None = None,
        derived_from: int | None = None,
    ) -> ModelVersion:
        return self._op(
            "register_model_version",
            ModelVersion,
            name=name,
            run_id=self.resolve_run_id(run_id),
            description=description,
            tags=_text(tags or {}),
            derived_from=derived_from,
        )

    def log_model(
        self,
        model: Any,
        name: str,
        sample: Any,
        *,
        project: str = "default",
        task: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        derived_from: int | None = None,
        allow_pickle: bool = False,
        flavor: str | None = None,
    ) -> ModelVersion:
        from carnet.digests import hash_bytes
        from carnet.flavors.packaging import model_object

        check_model_name(name)
        obj = model_object(model, sample, task=task, allow_pickle=allow_pickle, flavor=flavor)
        meta = {
            "flavor": obj.flavor,
            "signature": [{"name": c.name, "dtype": c.dtype} for c in obj.signature.inputs],
            "input_example": obj.input_example,
            "project": project,
            "task": task,
            "description": description,
            "tags": _text(tags or {}),
            "derived_from": derived_from,
            "allow_pickle": allow_pickle,
            "classes": obj.classes,
            "digest": hash_bytes(obj.data),
        }
        files = {"file": ("model", obj.data, "application/octet-stream")}
        data = {"meta": json.dumps(meta, default=_json_scalar)}
        return decode(ModelVersion, self._json(call("log_model_object", name=name), data=data, files=files))

    def load_model(self, ref: str, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        from carnet.plugins.loader import registry

        if "@" in ref or "/" in ref or self._is_model(ref):
            mv = self.get_model_version(ref)
            if mv.allow_pickle and not allow_pickle:
                raise PermissionDenied(
                    f"{mv.ref} was stored with pickle (flavor {mv.flavor!r}); loading runs code from the "
                    "file: pass allow_pickle=True (--allow-pickle) if you trust its source"
                )
            at = call("download_model_file", name=mv.name, version=mv.version)
            data = self._fetch(at, mv.artifact_digest)
            flavor = registry("flavor").get(mv.flavor)
            return flavor.loads(data, trusted=tuple(trusted), allow_pickle=allow_pickle)
        return self._load_run_model(self.resolve_run_id(ref), trusted)

    def _is_model(self, name: str) -> bool:
        try:
            self.get_model(name)
        except (NotFound, InvalidInput):
            return False
        return True

    def _fetch(self, at: Call, digest: str) -> bytes:
        """The bytes ``at`` answers, verified against ``digest`` (the one the registry recorded)."""
        with tempfile.TemporaryDirectory(prefix="carnet-model-") as folder:
            return self._download(at, Path(folder) / "model", digest=digest).read_bytes()

    def _load_run_model(self, run_id: str, trusted: tuple[str, ...]) -> Any:
        """The model a training run stored (``model/meta.json`` names its flavor and digest)."""
        from carnet.plugins.loader import registry

        arts = {a.path: a for a in self._op("list_artifacts", list[Artifact], run_id=run_id)}
        if MODEL_PATH not in arts or MODEL_META_PATH not in arts:
            raise InvalidInput(
                f"run {run_id} has no stored model; train one with: carnet train SPEC", field="run_id"
            )
        at = call("download_artifact", run_id=run_id, path=MODEL_META_PATH)
        meta = json.loads(self._fetch(at, arts[MODEL_META_PATH].digest))
        digest = arts[MODEL_PATH].digest
        if meta.get("digest") != digest:
            raise ArtifactCorrupted(
                f"model of run {run_id}: recorded digest {meta.get('digest')} does not match {digest}",
                digest=digest,
            )
        data = self._fetch(call("download_artifact", run_id=run_id, path=MODEL_PATH), digest)
        return registry("flavor").get(meta["flavor"]).loads(data, trusted=trusted)

    def export_model(self, ref: str, out: str | Path, *, register: bool = False) -> ModelVersion | None:
        mv = self.get_model_version(ref)
        if not register:
            self._download(call("export_model_onnx", name=mv.name, version=mv.version), Path(out))
            return None
        registered = self._op("register_model_onnx", ModelVersion, name=mv.name, version=mv.version)
        at = call("download_model_file", name=registered.name, version=registered.version)
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self._fetch(at, registered.artifact_digest))
        return registered

    def get_model(self, name: str) -> RegisteredModel:
        if "@" in name or "/" in name:
            raise InvalidInput(f"{name!r} is a version reference; use get_model_version", field="name")
        return self._op("get_model", RegisteredModel, ref=name)

    list_models = remote("list_models", ClientAPI.list_models, list[RegisteredModel])
    model_versions = remote("model_versions", ClientAPI.model_versions, list[ModelVersion])

    def get_model_version(self, ref: str, version: int | None = None) -> ModelVersion:
        if version is not None:
            return self._op("get_model_version", ModelVersion, name=ref, version=int(version))
        if "@" in ref or "/" in ref:
            return self._op("get_model", ModelVersion, ref=ref)
        return self._op("get_model_version", ModelVersion, name=ref, version="latest")

    def set_model_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> int | None:
        moved = self._op(
            "set_model_alias", dict[str, Any], name=name, alias=alias, version=version, reason=reason
        )
        return None if moved["previous"] is None else int(moved["previous"])

    def delete_model_alias(self, name: str, alias: str) -> int:
        return int(self._op("delete_model_alias", dict[str, Any], name=name, alias=alias)["previous"])

    def set_model_tags(self, name: str, tags: dict[str, str], version: int | None = None) -> None:
        if not isinstance(tags, dict) or not tags:
            raise InvalidInput("tags must be a non-empty mapping of key to value", field="tags")
        self._op("set_model_tags", name=name, tags=_text(tags), version=version)

    delete_model_tag = remote("delete_model_tag", ClientAPI.delete_model_tag)

    def set_policy(self, source: Any, *, model: str | None = None, project: str | None = None) -> Policy:
        if (model is None) == (project is None):
            raise InvalidInput("give exactly one of model or project for a policy", field="model")
        data = _policy_dict(source)
        if model is not None:
            answer = self._op("set_model_policy", dict[str, Any], name=model, body=data)
        else:
            answer = self._op("set_project_policy", dict[str, Any], project=project, body=data)
        return policy_from_dict(answer["policy"])

    def get_policy(self, name: str) -> Policy | None:
        return self._policy(call("get_model_policy", name=name))

    def get_project_policy(self, project: str) -> Policy | None:
        return self._policy(call("get_project_policy", project=project))

    def _policy(self, at: Call) -> Policy | None:
        try:
            return policy_from_dict(self._json(at)["policy"])
        except NotFound as exc:
            if exc.field == "policy":  # the model or project exists and has no policy
                return None
            raise

    def promote(
        self,
        name: str,
        version: int,
        alias: str = "production",
        *,
        dry_run: bool = False,
        policy: Any = None,
        allow_pickle: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> Promotion:
        if allow_pickle:
            raise InvalidInput("the carnet server never loads pickled models", field="allow_pickle")
        gates = _policy_dict(policy)
        if dry_run:  # a dry run changes nothing: the editor role is enough
            return self._op(
                "check_promotion", Promotion, name=name, version=version, alias=alias, policy=gates
            )
        return self._op(
            "promote_model", Promotion, name=name, version=version, alias=alias, dry_run=False, policy=gates
        )

    def request_promotion(
        self, name: str, version: int, alias: str = "production", *, policy: Any = None
    ) -> Promotion:
        gates = _policy_dict(policy)
        return self._op("request_promotion", Promotion, name=name, version=version, alias=alias, policy=gates)

    approve = remote("approve_model_version", ClientAPI.approve, Approval, version=int)
    rollback = remote("rollback_model", ClientAPI.rollback, Promotion)
    promotions = remote("model_promotions", ClientAPI.promotions, list[Promotion])

    def model_card(self, name: str, version: int | None = None, fmt: str = "markdown") -> str:
        if fmt not in ("markdown", "html"):
            raise InvalidInput(f"card format must be markdown or html, got {fmt!r}", field="format")
        return self._send(self._card(name, version), params={"format": fmt}).text

    def model_card_data(self, name: str, version: int | None = None) -> dict[str, Any]:
        return decode(dict[str, Any], self._json(self._card(name, version), params={"format": "json"}))

    @staticmethod
    def _card(name: str, version: int | None) -> Call:
        return call("model_card", name=name, version="latest" if version is None else int(version))

    def model_dossier(
        self, name: str, version: int | None, out: str | Path, *, mappings: Sequence[Any] = ()
    ) -> dict[str, Any]:
        label = "latest" if version is None else str(int(version))
        docs = _mapping_docs(mappings)
        if docs:
            at = call("model_dossier_with_mappings", name=name, version=label)
            target = self._download(at, Path(out), json={"mappings": docs})
        else:
            target = self._download(call("model_dossier", name=name, version=label), Path(out))
        with zipfile.ZipFile(target) as zf:
            entry = next((n for n in zf.namelist() if n.endswith("/manifest.json")), None)
            if entry is None:
                raise ArtifactCorrupted(f"the dossier received for {name} has no manifest.json", digest="")
            manifest: dict[str, Any] = json.loads(zf.read(entry))
        return manifest

    def model_compliance(
        self, name: str, version: int | None = None, *, mappings: Sequence[Any] = ()
    ) -> dict[str, Any]:
        label = "latest" if version is None else str(int(version))
        docs = _mapping_docs(mappings)
        return self._op("model_compliance", dict[str, Any], name=name, version=label, mappings=docs)


def _mapping_docs(mappings: Sequence[Any]) -> list[dict[str, Any]]:
    """Compliance mappings (files of this machine, YAML texts or mappings) as the JSON documents the
    server validates."""
    if isinstance(mappings, str | bytes | Mapping | Path) or not isinstance(mappings, Sequence):
        raise InvalidInput(
            "mappings must be a list of mapping files, YAML texts or mappings", field="mappings"
        )
    docs = []
    for i, source in enumerate(mappings):
        data = read_document(source, "mapping")
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"mapping {i + 1}: a compliance mapping is a YAML mapping with name, title, framework, "
                "description, items",
                field="mapping",
            )
        docs.append(dict(data))
    return docs


def _policy_dict(policy: Any) -> Any:
    """A policy (a Policy, a mapping, YAML text or a YAML file of this machine) as the JSON document
    the server takes and validates."""
    if policy is None:
        return None
    data = policy_to_dict(policy) if isinstance(policy, Policy) else read_document(policy, "policy")
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"a policy is a mapping with name and gates, got {type(data).__name__}", field="policy"
        )
    return dict(data)


def _json_scalar(value: Any) -> Any:
    """numpy scalars and timestamps in an input example, as JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)
