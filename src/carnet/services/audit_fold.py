"""The fold of every event that is not about a run: the registry, datasets, users, operations.

Replaying these events in sequence order gives the rows their tables must hold: projects,
models and their versions (recorded digests, flavors, pickle opt-in), tags, aliases and their
history, promotions, approvals, policies, datasets and their versions, users, roles, API tokens
(their hashes through :func:`~carnet.domain.audit_digests.token_check`, their revocation),
deployment revisions, monitors (their spec as audited, their state, their windows), alerts and
label files. A field that an older ledger's events do not state is not compared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from carnet.domain.audit_digests import token_check
from carnet.errors import CarnetError
from carnet.services.audit_state import Mismatches, shown_key
from carnet.store.interfaces import StateReader

__all__ = ["WorkspaceFold", "check_workspace"]

_FIELDS = ("digest", "flavor", "run_id", "derived_from", "allow_pickle", "datasets")
_DATASET_FIELDS = {"digest": "digest", "format": "format", "rows": "rows", "columns": "columns"}


@dataclass
class _Monitor:
    """One monitor (a name can be reused after a deletion): what its events say."""

    spec: Any
    deleted: bool = False
    state: Any = None
    state_known: bool = True
    windows: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class WorkspaceFold:
    """The expected rows of every table outside runs, keyed as :class:`SqlStateReader` keys them."""

    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    model_tags: dict[tuple[str, str], str] = field(default_factory=dict)
    version_tags: dict[tuple[str, int, str], str] = field(default_factory=dict)
    #: versions registered by an event without ``tags`` (older ledgers): their tags are not compared
    untracked_tags: set[tuple[str, int]] = field(default_factory=set)
    aliases: dict[tuple[str, str], int] = field(default_factory=dict)
    alias_history: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    promotions: dict[int, dict[str, Any]] = field(default_factory=dict)
    approvals: dict[tuple[str, int, str, str], dict[str, Any]] = field(default_factory=dict)
    policies: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    dataset_versions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[tuple[str, str], str] = field(default_factory=dict)
    tokens: dict[int, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    monitors: dict[str, list[_Monitor]] = field(default_factory=dict)
    alerts: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[int, dict[str, Any]] = field(default_factory=dict)

    # -- one event ------------------------------------------------------------------------------
    def apply(self, actor: str, action: str, subject_type: str, subject: str, p: dict[str, Any]) -> None:
        """Fold one event (unknown actions change nothing here)."""
        handler = _HANDLERS.get(action)
        if handler is not None:
            handler(self, actor, subject_type, subject, p)

    def _project(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        self.projects[name] = {"description": p.get("description", "")}

    def _model(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        self.models[name] = {"project": p.get("project")}

    def _register(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        version = int(p["version"])
        self.versions[(name, version)] = {f: p[f] for f in _FIELDS if f in p}
        if "tags" in p:
            for k, v in (p["tags"] or {}).items():
                self.version_tags[(name, version, str(k))] = v
        else:
            self.untracked_tags.add((name, version))

    def _tag_set(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        version = p.get("version")
        for k, v in (p.get("tags") or {}).items():
            if version is None:
                self.model_tags[(name, str(k))] = v
            else:
                self.version_tags[(name, int(version), str(k))] = v

    def _tag_delete(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        version, key = p.get("version"), str(p.get("key"))
        if version is None:
            self.model_tags.pop((name, key), None)
        else:
            self.version_tags.pop((name, int(version), key), None)

    def _move(self, name: str, alias: str, entry: dict[str, Any]) -> None:
        if entry["version"] is None:
            self.aliases.pop((name, alias), None)
        else:
            self.aliases[(name, alias)] = int(entry["version"])
        self.alias_history.setdefault((name, alias), []).append(entry)

    def _alias_set(self, actor: str, _t: str, name: str, p: dict[str, Any]) -> None:
        entry = {"kind": "set", "version": p["version"], "previous": p.get("previous"), "actor": actor}
        self._move(name, str(p["alias"]), entry | ({"reason": p["reason"]} if "reason" in p else {}))

    def _alias_delete(self, actor: str, _t: str, name: str, p: dict[str, Any]) -> None:
        entry = {"kind": "delete", "version": None, "previous": p.get("previous"), "actor": actor}
        self._move(name, str(p["alias"]), entry | ({"reason": p["reason"]} if "reason" in p else {}))

    def _promote(self, actor: str, _t: str, name: str, p: dict[str, Any], passed: bool = True) -> None:
        alias, version, previous = str(p["alias"]), int(p["version"]), p.get("previous")
        if passed:
            entry = {"kind": "promote", "version": version, "previous": previous, "reason": ""}
            self._move(name, alias, entry | {"actor": actor})
        if "promotion" in p:
            self.promotions[int(p["promotion"])] = {
                "model": name, "version": version, "alias": alias, "previous": previous,
                "passed": passed, "applied": passed, "kind": "promote", "actor": actor,
            }  # fmt: skip

    def _refused(self, actor: str, _t: str, name: str, p: dict[str, Any]) -> None:
        self._promote(actor, _t, name, p, passed=False)

    def _rollback(self, actor: str, _t: str, name: str, p: dict[str, Any]) -> None:
        alias, to, reason = str(p["alias"]), int(p["to"]), p.get("reason", "")
        self._move(
            name,
            alias,
            {"kind": "rollback", "version": to, "previous": p.get("from"), "reason": reason, "actor": actor},
        )
        if "promotion" in p:
            self.promotions[int(p["promotion"])] = {
                "model": name, "version": to, "alias": alias, "previous": p.get("from"), "passed": True,
                "applied": True, "kind": "rollback", "actor": actor, "reason": reason,
            }  # fmt: skip

    def _approve(self, actor: str, _t: str, name: str, p: dict[str, Any]) -> None:
        key = (name, int(p["version"]), str(p["alias"]), actor)
        self.approvals[key] = {"comment": p.get("comment", ""), "authenticated": bool(p.get("authenticated"))}

    def _policy(self, _a: str, subject_type: str, name: str, p: dict[str, Any]) -> None:
        self.policies.setdefault((subject_type, name), []).append(p.get("policy"))

    def _dataset(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        dataset = self.datasets.setdefault(name, {})
        if "project" in p and "project" not in dataset:  # a dataset stays in its first version's project
            dataset["project"] = p["project"]
        row = {f: p[k] for k, f in _DATASET_FIELDS.items() if k in p}
        row.update({k: p[k] for k in ("source", "parent") if k in p})
        row.update(superseded_by=None, purged=False)
        self.dataset_versions[(name, int(p["version"]))] = row

    def _erase(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        for v in p.get("versions") or []:
            row = self.dataset_versions.setdefault((name, int(v["version"])), {})
            row["superseded_by"] = f"{name}@{int(v['superseded_by'])}"

    def _purge(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        for v in p.get("versions") or []:
            self.dataset_versions.setdefault((name, int(v["version"])), {})["purged"] = True

    def _user(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        self.users[name] = {"disabled": False}
        for project, role in (p.get("roles") or {}).items():
            self.roles[(name, str(project))] = role

    def _disable(self, _a: str, _t: str, name: str, _p: dict[str, Any]) -> None:
        self.users.setdefault(name, {})["disabled"] = True

    def _enable(self, _a: str, _t: str, name: str, _p: dict[str, Any]) -> None:
        self.users.setdefault(name, {})["disabled"] = False

    def _grant(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        self.roles[(name, str(p["project"]))] = str(p["role"])

    def _revoke_role(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        self.roles.pop((name, str(p["project"])), None)

    def _token(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        row = {"user": name, "label": p.get("label", ""), "revoked": False}
        self.tokens[int(p["token_id"])] = row | ({"hash_check": p["hash_check"]} if "hash_check" in p else {})

    def _revoke_token(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        self.tokens.setdefault(int(p["token_id"]), {"user": name})["revoked"] = True

    def _deploy(self, actor: str, _t: str, name: str, p: dict[str, Any]) -> None:
        self.deployments[(name, int(p["revision"]))] = {
            "spec": p.get("spec"),
            "deleted": False,
            "actor": actor,
        }

    def _undeploy(self, actor: str, _t: str, name: str, p: dict[str, Any]) -> None:
        self.deployments[(name, int(p["revision"]))] = {
            "spec": {"endpoint": name},
            "deleted": True,
            "actor": actor,
        }

    def _monitor(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        self.monitors.setdefault(name, []).append(
            _Monitor(p.get("spec"), state=p.get("state"), state_known="state" in p)
        )

    def _monitor_deleted(self, _a: str, _t: str, name: str, _p: dict[str, Any]) -> None:
        if self.monitors.get(name):
            self.monitors[name][-1].deleted = True

    def _monitor_run(self, _a: str, _t: str, name: str, p: dict[str, Any]) -> None:
        if not self.monitors.get(name):
            self.monitors.setdefault(name, []).append(_Monitor(None, state_known=False))
        m = self.monitors[name][-1]
        m.state, m.state_known = p.get("state"), "state" in p
        for w in p.get("windows") or ():
            row = {"rows": w.get("rows"), "versions": w.get("versions")}
            m.windows[int(w["seq"])] = row | ({"report": w["report"]} if "report" in w else {})

    def _alert_opened(self, _a: str, _t: str, subject: str, p: dict[str, Any]) -> None:
        self.alerts[int(subject)] = {
            "monitor": p.get("monitor"), "rule": p.get("rule"), "status": "open", "window": p.get("window"),
            "value": p.get("value"), "actions": [],
        }  # fmt: skip

    def _alert_actions(self, _a: str, _t: str, subject: str, p: dict[str, Any]) -> None:
        alert = self.alerts.setdefault(int(subject), {"actions": []})
        alert["actions"] = [*alert.get("actions", []), *(p.get("actions") or [])]

    def _labels(self, _a: str, _t: str, subject: str, p: dict[str, Any]) -> None:
        self.labels[int(subject)] = {k: p.get(k) for k in ("digest", "rows", "model", "source")}


def _alert_status(status: str) -> Callable[[WorkspaceFold, str, str, str, dict[str, Any]], None]:
    def handler(fold: WorkspaceFold, _a: str, _t: str, subject: str, _p: dict[str, Any]) -> None:
        fold.alerts.setdefault(int(subject), {})["status"] = status

    return handler


_HANDLERS: dict[str, Callable[..., None]] = {
    "project.create": WorkspaceFold._project,
    "model.create": WorkspaceFold._model,
    "model.register": WorkspaceFold._register,
    "model.tag.set": WorkspaceFold._tag_set,
    "model.tag.delete": WorkspaceFold._tag_delete,
    "model.alias.set": WorkspaceFold._alias_set,
    "model.alias.delete": WorkspaceFold._alias_delete,
    "model.promote": WorkspaceFold._promote,
    "model.promote.refused": WorkspaceFold._refused,
    "model.rollback": WorkspaceFold._rollback,
    "model.approve": WorkspaceFold._approve,
    "policy.set": WorkspaceFold._policy,
    "dataset.add_version": WorkspaceFold._dataset,
    "dataset.erase": WorkspaceFold._erase,
    "dataset.purge": WorkspaceFold._purge,
    "user.create": WorkspaceFold._user,
    "user.disable": WorkspaceFold._disable,
    "user.enable": WorkspaceFold._enable,
    "user.role.grant": WorkspaceFold._grant,
    "user.role.revoke": WorkspaceFold._revoke_role,
    "token.create": WorkspaceFold._token,
    "token.revoke": WorkspaceFold._revoke_token,
    "deployment.set": WorkspaceFold._deploy,
    "deployment.delete": WorkspaceFold._undeploy,
    "monitor.created": WorkspaceFold._monitor,
    "monitor.deleted": WorkspaceFold._monitor_deleted,
    "monitor.run": WorkspaceFold._monitor_run,
    "alert.opened": WorkspaceFold._alert_opened,
    "alert.acknowledged": _alert_status("acknowledged"),
    "alert.resolved": _alert_status("resolved"),
    "alert.actions": WorkspaceFold._alert_actions,
    "labels.added": WorkspaceFold._labels,
}


def fold_workspace(events: Iterator[tuple[str, str, str, str, str]]) -> WorkspaceFold:
    """Replay ``(actor, action, subject_type, subject_id, payload)`` events in sequence order."""
    fold = WorkspaceFold()
    for actor, action, subject_type, subject, payload in events:
        if action in _HANDLERS:
            fold.apply(actor, action, subject_type, subject, json.loads(payload))
    return fold


def _shown_monitor_spec(spec: Any) -> Any:
    """A monitor row's spec as the ledger records it (notifier secrets hidden)."""
    from carnet.domain import load_monitor
    from carnet.services.monitoring import shown_spec

    try:
        return shown_spec(load_monitor(spec))
    except (CarnetError, TypeError, ValueError, KeyError, AttributeError):
        return spec  # not a valid monitor spec any more: shown as stored


def _public_state(state: Any) -> Any:
    if not isinstance(state, dict):
        return state
    return {k: v for k, v in state.items() if not str(k).startswith("carry")}


def _check_monitors(fold: WorkspaceFold, reader: StateReader, out: Mismatches) -> None:
    rows_by_name: dict[str, list[dict[str, Any]]] = {}
    for stored in reader.monitors():
        rows_by_name.setdefault(stored["name"], []).append(stored)
    expected: dict[str, dict[str, Any]] = {}
    found: dict[str, dict[str, Any]] = {}
    want_windows: dict[tuple[str, int], dict[str, Any]] = {}
    have_windows: dict[tuple[str, int], dict[str, Any]] = {}
    ids: dict[int, str] = {}
    for name in set(fold.monitors) | set(rows_by_name):
        for i, m in enumerate(fold.monitors.get(name, [])):
            label = name if i == 0 else f"{name}#{i + 1}"
            row: dict[str, Any] = {"spec": m.spec, "deleted": m.deleted}
            if m.state_known:
                row["state"] = m.state
            if isinstance(m.spec, dict) and "model" in m.spec:
                row["model"] = m.spec["model"]
            expected[label] = row
            want_windows.update({(label, seq): w for seq, w in m.windows.items()})
        for i, r in enumerate(rows_by_name.get(name, [])):
            label = name if i == 0 else f"{name}#{i + 1}"
            ids[r["id"]] = label
            found[label] = {
                "spec": _shown_monitor_spec(r["spec"]),
                "deleted": r["deleted"],
                "state": _public_state(r["state"]),
                "model": r["model"],
            }
    for (monitor_id, seq), w in reader.monitor_windows().items():
        have_windows[(ids.get(monitor_id, f"#{monitor_id}"), seq)] = w
    out.compare("monitors", expected, found)
    out.compare("monitor_windows", want_windows, have_windows)


def check_workspace(reader: StateReader, out: Mismatches) -> None:
    """Fold the events outside runs and compare every table they describe with its rows."""
    fold = fold_workspace(reader.workspace_events())
    out.compare("projects", fold.projects, reader.projects())
    out.compare("registered_models", fold.models, reader.models())
    out.compare("model_versions", fold.versions, reader.model_versions())
    out.compare("model_tags", fold.model_tags, reader.model_tags())
    have_tags = {k: v for k, v in reader.version_tags().items() if (k[0], k[1]) not in fold.untracked_tags}
    want_tags = {k: v for k, v in fold.version_tags.items() if (k[0], k[1]) not in fold.untracked_tags}
    out.compare("model_version_tags", want_tags, have_tags)
    out.compare("model_aliases", fold.aliases, reader.aliases())
    out.compare_lists("alias_history", fold.alias_history, reader.alias_history())
    out.compare("promotions", fold.promotions, reader.promotions())
    out.compare("approvals", fold.approvals, reader.approvals())
    out.compare_lists("policies", fold.policies, reader.policies())
    out.compare("datasets", fold.datasets, reader.datasets())
    out.compare("dataset_versions", fold.dataset_versions, reader.dataset_versions())
    out.compare("users", fold.users, reader.users())
    out.compare("project_roles", fold.roles, reader.roles())
    tokens = {
        k: {
            **{f: v for f, v in row.items() if f != "token_hash"},
            "hash_check": token_check(str(row["token_hash"])),
        }
        for k, row in reader.tokens().items()
    }
    out.compare("api_tokens", fold.tokens, tokens, key=lambda k: f"#{shown_key(k)}")
    out.compare("deployments", fold.deployments, reader.deployments())
    _check_monitors(fold, reader, out)
    out.compare("alerts", fold.alerts, reader.alerts(), key=lambda k: f"#{k}")
    out.compare("label_files", fold.labels, reader.label_files(), key=lambda k: f"#{k}")
