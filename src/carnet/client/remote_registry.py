"""Model registry, policies, promotions and deployments over HTTP: part of
:class:`~carnet.client.remote.RemoteClient`."""

from __future__ import annotations

from collections.abc import Callable
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
from carnet.domain import Approval, ModelVersion, Promotion, RegisteredModel
from carnet.errors import InvalidInput

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
        """Register the model a training run stored as the next version of ``name``."""
        body = {
            "run_id": self.resolve_run_id(run_id),
            "description": description,
            "tags": _text(tags or {}),
            "derived_from": derived_from,
        }
        return model_version_from_dict(self._json("POST", f"/models/{_seg(name)}/versions", json=body))

    def log_model(self, model: Any, name: str, sample: Any, **kwargs: Any) -> ModelVersion:
        """Register an in-memory model (needs a local workspace)."""
        self._local_only("log_model")

    def export_model(self, ref: str, out: str | Path, *, register: bool = False) -> ModelVersion | None:
        """Export to ONNX (needs a local workspace)."""
        self._local_only("export_model")

    def get_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version number."""
        if "@" in name or "/" in name:
            raise InvalidInput(f"{name!r} is a version reference; use get_model_version", field="name")
        return model_from_dict(self._json("GET", f"/models/{_seg(name)}"))

    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        """Registered models (of one project)."""
        params = {"project": project} if project is not None else None
        return [model_from_dict(m) for m in self._json("GET", "/models", params=params)]

    def model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a registered model, oldest first."""
        return [model_version_from_dict(v) for v in self._json("GET", f"/models/{_seg(name)}/versions")]

    def get_model_version(self, ref: str, version: int | None = None) -> ModelVersion:
        """The version ``NAME/3``, ``NAME@alias`` or ``NAME`` (latest) names."""
        if version is not None:
            path = f"/models/{_seg(ref)}/versions/{int(version)}"
        elif "@" in ref or "/" in ref:
            path = f"/models/{quote(ref, safe='/@')}"
        else:
            path = f"/models/{_seg(ref)}/versions/latest"
        return model_version_from_dict(self._json("GET", path))

    def set_model_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> int | None:
        """Point an alias at a version without gates; returns the previous holder."""
        body = {"version": version, "reason": reason}
        previous = self._json("PUT", f"/models/{_seg(name)}/aliases/{_seg(alias)}", json=body)["previous"]
        return None if previous is None else int(previous)

    def delete_model_alias(self, name: str, alias: str) -> int:
        """Remove an alias; returns the version it pointed at."""
        return int(self._json("DELETE", f"/models/{_seg(name)}/aliases/{_seg(alias)}")["previous"])

    def set_model_tags(self, name: str, tags: dict[str, str], version: int | None = None) -> None:
        """Set model tags (needs a local workspace)."""
        self._local_only("set_model_tags")

    def delete_model_tag(self, name: str, key: str, version: int | None = None) -> None:
        """Remove a model tag (needs a local workspace)."""
        self._local_only("delete_model_tag")

    def set_policy(self, source: Any, *, model: str | None = None, project: str | None = None) -> Any:
        """Store a promotion policy (needs a local workspace)."""
        self._local_only("set_policy")

    def get_policy(self, name: str) -> Any:
        """The policy in force for a model (needs a local workspace)."""
        self._local_only("get_policy")

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
        """Run the policy's gates on the server and move the alias when every gate passes.

        ``policy`` may be a dict, YAML text or a YAML file path. ``allow_pickle`` is refused: the server
        never loads pickled versions.

        Raises:
            GateFailed: a gate failed (not on a dry run); ``exc.promotion`` holds the results.
        """
        if allow_pickle:
            raise InvalidInput("the carnet server never loads pickled models", field="allow_pickle")
        body = {"version": version, "alias": alias, "dry_run": dry_run, "policy": _policy_dict(policy)}
        return promotion_from_dict(self._json("POST", f"/models/{_seg(name)}/promote", json=body))

    def approve(self, name: str, version: int, alias: str = "production", comment: str = "") -> Approval:
        """Record the caller's approval of a version for an alias."""
        body = {"alias": alias, "comment": comment}
        url = f"/models/{_seg(name)}/versions/{int(version)}/approvals"
        return approval_from_dict(self._json("POST", url, json=body))

    def rollback(self, name: str, alias: str = "production", *, reason: str) -> Promotion:
        """Move an alias back to its previous holder (audited, with the reason)."""
        body = {"alias": alias, "reason": reason}
        return promotion_from_dict(self._json("POST", f"/models/{_seg(name)}/rollback", json=body))

    def promotions(self, name: str, version: int | None = None) -> list[Promotion]:
        """Promotions of a model (needs a local workspace)."""
        self._local_only("promotions")

    def model_card(self, name: str, version: int | None = None, fmt: str = "markdown") -> str:
        """A model card (needs a local workspace)."""
        self._local_only("model_card")

    def model_dossier(self, name: str, version: int | None, out: str | Path) -> dict[str, Any]:
        """The auditor's dossier (needs a local workspace)."""
        self._local_only("model_dossier")


def _policy_dict(policy: Any) -> dict[str, Any] | None:
    """A policy override as the JSON object the server takes (dict, YAML text or YAML file)."""
    if policy is None or isinstance(policy, dict):
        return policy
    if isinstance(policy, str | Path):
        import yaml  # type: ignore[import-untyped, unused-ignore]

        text = str(policy)
        path = Path(text)
        if "\n" not in text and path.is_file():
            text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        if isinstance(data, dict):
            return data
    raise InvalidInput(
        "a policy sent to the server must be a mapping, YAML text or a YAML file", field="policy"
    )
