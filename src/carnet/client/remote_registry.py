"""Model registry, policies, promotions and deployments over HTTP: part of
:class:`~carnet.client.remote.RemoteClient`."""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from carnet.client.remote_http import HttpTransport
from carnet.client.remote_http import seg as _seg
from carnet.client.remote_http import text_values as _text
from carnet.client.wire import (
    approval_from_dict,
    model_from_dict,
    model_version_from_dict,
    promotion_from_dict,
)
from carnet.documents import read_document
from carnet.domain import Approval, ModelVersion, Policy, Promotion, RegisteredModel
from carnet.domain.models import MODEL_META_PATH, MODEL_PATH, check_model_name
from carnet.domain.policies import policy_from_dict, policy_to_dict
from carnet.errors import ArtifactCorrupted, InvalidInput, NotFound, PermissionDenied

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
        body = {
            "run_id": self.resolve_run_id(run_id),
            "description": description,
            "tags": _text(tags or {}),
            "derived_from": derived_from,
        }
        return model_version_from_dict(self._json("POST", f"/models/{_seg(name)}/versions", json=body))

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
        return model_version_from_dict(
            self._json("POST", f"/models/{_seg(name)}/objects", data=data, files=files)
        )

    def load_model(self, ref: str, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        from carnet.plugins.loader import registry

        if "@" in ref or "/" in ref or self._is_model(ref):
            mv = self.get_model_version(ref)
            if mv.allow_pickle and not allow_pickle:
                raise PermissionDenied(
                    f"{mv.ref} was stored with pickle (flavor {mv.flavor!r}); loading runs code from the "
                    "file: pass allow_pickle=True (--allow-pickle) if you trust its source"
                )
            url = f"/models/{_seg(mv.name)}/versions/{mv.version}/file"
            data = self._fetch(url, mv.artifact_digest)
            flavor = registry("flavor").get(mv.flavor)
            return flavor.loads(data, trusted=tuple(trusted), allow_pickle=allow_pickle)
        return self._load_run_model(self.resolve_run_id(ref), trusted)

    def _is_model(self, name: str) -> bool:
        try:
            self.get_model(name)
        except (NotFound, InvalidInput):
            return False
        return True

    def _fetch(self, url: str, digest: str) -> bytes:
        """The bytes at ``url``, verified against ``digest`` (the one the registry recorded)."""
        with tempfile.TemporaryDirectory(prefix="carnet-model-") as folder:
            return self._download(url, Path(folder) / "model", digest=digest).read_bytes()

    def _load_run_model(self, run_id: str, trusted: tuple[str, ...]) -> Any:
        """The model a training run stored (``model/meta.json`` names its flavor and digest)."""
        from carnet.plugins.loader import registry

        arts = {a["path"]: a for a in self._json("GET", f"/runs/{_seg(run_id)}/artifacts")}
        if MODEL_PATH not in arts or MODEL_META_PATH not in arts:
            raise InvalidInput(
                f"run {run_id} has no stored model; train one with: carnet train SPEC", field="run_id"
            )
        base = f"/runs/{_seg(run_id)}/artifacts/"
        meta = json.loads(self._fetch(base + MODEL_META_PATH, arts[MODEL_META_PATH]["digest"]))
        digest = arts[MODEL_PATH]["digest"]
        if meta.get("digest") != digest:
            raise ArtifactCorrupted(
                f"model of run {run_id}: recorded digest {meta.get('digest')} does not match {digest}",
                digest=digest,
            )
        data = self._fetch(base + MODEL_PATH, digest)
        return registry("flavor").get(meta["flavor"]).loads(data, trusted=trusted)

    def export_model(self, ref: str, out: str | Path, *, register: bool = False) -> ModelVersion | None:
        mv = self.get_model_version(ref)
        base = f"/models/{_seg(mv.name)}/versions/{mv.version}"
        if not register:
            self._download(base + "/onnx", Path(out))
            return None
        registered = model_version_from_dict(self._json("POST", base + "/onnx"))
        url = f"/models/{_seg(registered.name)}/versions/{registered.version}/file"
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self._fetch(url, registered.artifact_digest))
        return registered

    def get_model(self, name: str) -> RegisteredModel:
        if "@" in name or "/" in name:
            raise InvalidInput(f"{name!r} is a version reference; use get_model_version", field="name")
        return model_from_dict(self._json("GET", f"/models/{_seg(name)}"))

    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        params = {"project": project} if project is not None else None
        return [model_from_dict(m) for m in self._json("GET", "/models", params=params)]

    def model_versions(self, name: str) -> list[ModelVersion]:
        return [model_version_from_dict(v) for v in self._json("GET", f"/models/{_seg(name)}/versions")]

    def get_model_version(self, ref: str, version: int | None = None) -> ModelVersion:
        if version is not None:
            path = f"/models/{_seg(ref)}/versions/{int(version)}"
        elif "@" in ref or "/" in ref:
            path = f"/models/{quote(ref, safe='/@')}"
        else:
            path = f"/models/{_seg(ref)}/versions/latest"
        return model_version_from_dict(self._json("GET", path))

    def set_model_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> int | None:
        body = {"version": version, "reason": reason}
        previous = self._json("PUT", f"/models/{_seg(name)}/aliases/{_seg(alias)}", json=body)["previous"]
        return None if previous is None else int(previous)

    def delete_model_alias(self, name: str, alias: str) -> int:
        return int(self._json("DELETE", f"/models/{_seg(name)}/aliases/{_seg(alias)}")["previous"])

    def set_model_tags(self, name: str, tags: dict[str, str], version: int | None = None) -> None:
        if not isinstance(tags, dict) or not tags:
            raise InvalidInput("tags must be a non-empty mapping of key to value", field="tags")
        body = {"tags": _text(tags), "version": version}
        self._send("PUT", f"/models/{_seg(name)}/tags", json=body)

    def delete_model_tag(self, name: str, key: str, version: int | None = None) -> None:
        params = {"version": version} if version is not None else None
        self._send("DELETE", f"/models/{_seg(name)}/tags/{_seg(key)}", params=params)

    def set_policy(self, source: Any, *, model: str | None = None, project: str | None = None) -> Policy:
        if (model is None) == (project is None):
            raise InvalidInput("give exactly one of model or project for a policy", field="model")
        data = _policy_dict(source)
        where = f"models/{_seg(model)}" if model is not None else f"projects/{_seg(str(project))}"
        url = f"/{where}/policy"
        return policy_from_dict(self._json("PUT", url, json=data)["policy"])

    def get_policy(self, name: str) -> Policy | None:
        return self._policy(f"/models/{_seg(name)}/policy")

    def get_project_policy(self, project: str) -> Policy | None:
        return self._policy(f"/projects/{_seg(project)}/policy")

    def _policy(self, url: str) -> Policy | None:
        try:
            return policy_from_dict(self._json("GET", url)["policy"])
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
        body = {"version": version, "alias": alias, "dry_run": dry_run, "policy": _policy_dict(policy)}
        return promotion_from_dict(self._json("POST", f"/models/{_seg(name)}/promote", json=body))

    def approve(self, name: str, version: int, alias: str = "production", comment: str = "") -> Approval:
        body = {"alias": alias, "comment": comment}
        url = f"/models/{_seg(name)}/versions/{int(version)}/approvals"
        return approval_from_dict(self._json("POST", url, json=body))

    def rollback(self, name: str, alias: str = "production", *, reason: str) -> Promotion:
        body = {"alias": alias, "reason": reason}
        return promotion_from_dict(self._json("POST", f"/models/{_seg(name)}/rollback", json=body))

    def promotions(self, name: str, version: int | None = None) -> list[Promotion]:
        params = {"version": version} if version is not None else None
        found = self._json("GET", f"/models/{_seg(name)}/promotions", params=params)
        return [promotion_from_dict(p) for p in found]

    def model_card(self, name: str, version: int | None = None, fmt: str = "markdown") -> str:
        if fmt not in ("markdown", "html"):
            raise InvalidInput(f"card format must be markdown or html, got {fmt!r}", field="format")
        return self._send("GET", self._card_url(name, version), params={"format": fmt}).text

    def model_card_data(self, name: str, version: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = self._json("GET", self._card_url(name, version), params={"format": "json"})
        return data

    @staticmethod
    def _card_url(name: str, version: int | None) -> str:
        return f"/models/{_seg(name)}/versions/{'latest' if version is None else int(version)}/card"

    def model_dossier(self, name: str, version: int | None, out: str | Path) -> dict[str, Any]:
        label = "latest" if version is None else str(int(version))
        target = self._download(f"/models/{_seg(name)}/versions/{label}/dossier", Path(out))
        with zipfile.ZipFile(target) as zf:
            entry = next((n for n in zf.namelist() if n.endswith("/manifest.json")), None)
            if entry is None:
                raise ArtifactCorrupted(f"the dossier received for {name} has no manifest.json", digest="")
            manifest: dict[str, Any] = json.loads(zf.read(entry))
        return manifest


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
