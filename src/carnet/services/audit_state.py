"""Deep verification: the state of the workspace must be the fold of its ledger.

The chain proves what carnet recorded; this proves the tables still say the same. Replaying the
events in order gives the expected model aliases, users (and whether disabled), roles, API token
revocations, every run's params and tags, and the digest of every ended run's metric values
(recorded by ``run.end``). The current rows are compared with it; each difference is a
:class:`StateMismatch` naming the table, the key and both values. A run whose end event predates
the metric digest is counted as not covered, not reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from carnet.domain.audit import AuditEvent
from carnet.store.interfaces import Transaction

__all__ = ["DeepReport", "StateMismatch", "deep_check"]


@dataclass(frozen=True)
class StateMismatch:
    """One difference between the ledger's fold and the database: table, key, both values."""

    table: str
    key: str
    expected: Any
    found: Any

    @property
    def message(self) -> str:
        """One line: ``table key: ledger says X, database has Y``."""
        said, has = _shown(self.expected), _shown(self.found)
        return f"{self.table} {self.key}: the ledger says {said}, the database has {has}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"table": self.table, "key": self.key, "expected": self.expected, "found": self.found}


@dataclass(frozen=True)
class DeepReport:
    """What deep verification found, and how many ended runs it could not cover (older ledgers)."""

    mismatches: tuple[StateMismatch, ...]
    runs_checked: int
    runs_not_covered: int


def _shown(value: Any) -> str:
    return "(nothing)" if value is None else json.dumps(value, default=str)


@dataclass
class _Fold:
    aliases: dict[tuple[str, str], int]
    users: dict[str, bool]
    roles: dict[tuple[str, str], str]
    tokens: dict[int, tuple[str, bool]]
    params: dict[str, dict[str, str]]
    tags: dict[str, dict[str, str]]
    metrics: dict[str, str | None]  # ended runs: digest at the end (None: not recorded)


def _fold(events: Iterator[AuditEvent]) -> _Fold:
    f = _Fold({}, {}, {}, {}, {}, {}, {})
    for e in events:
        p, subject, action = e.payload, e.subject_id, e.action
        if e.subject_type == "run":
            if action == "run.create":
                f.params[subject] = dict(p.get("params") or {})
                f.tags[subject] = dict(p.get("tags") or {})
            elif action in ("run.log_params", "run.log_batch", "run.end", "run.log_metrics"):
                f.params.setdefault(subject, {}).update(p.get("params") or {})
                if action == "run.end":
                    f.metrics[subject] = p.get("metrics_digest")
                elif "metrics_digest" in p:
                    f.metrics[subject] = p["metrics_digest"]
            elif action == "run.set_tags":
                f.tags.setdefault(subject, {}).update(p.get("tags") or {})
            elif action == "run.delete_tag":
                f.tags.setdefault(subject, {}).pop(str(p.get("key")), None)
        elif e.subject_type == "model":
            if action in ("model.alias.set", "model.promote"):
                f.aliases[(subject, str(p["alias"]))] = int(p["version"])
            elif action == "model.rollback":
                f.aliases[(subject, str(p["alias"]))] = int(p["to"])
            elif action == "model.alias.delete":
                f.aliases.pop((subject, str(p["alias"])), None)
        elif e.subject_type == "user":
            if action == "user.create":
                f.users[subject] = False
                for project, role in (p.get("roles") or {}).items():
                    f.roles[(subject, project)] = role
            elif action in ("user.disable", "user.enable"):
                f.users[subject] = action == "user.disable"
            elif action == "user.role.grant":
                f.roles[(subject, str(p["project"]))] = str(p["role"])
            elif action == "user.role.revoke":
                f.roles.pop((subject, str(p["project"])), None)
            elif action == "token.create":
                f.tokens[int(p["token_id"])] = (subject, False)
            elif action == "token.revoke":
                f.tokens[int(p["token_id"])] = (subject, True)
    return f


def _compare(table: str, expected: dict[Any, Any], found: dict[Any, Any], out: list[StateMismatch]) -> None:
    for key in sorted(set(expected) | set(found), key=str):
        if expected.get(key) != found.get(key):
            shown = "/".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
            out.append(StateMismatch(table, shown, expected.get(key), found.get(key)))


def _compare_pairs(
    table: str,
    expected: dict[str, dict[str, str]],
    rows: Iterator[tuple[str, str, str]],
    out: list[StateMismatch],
) -> None:
    found: dict[str, dict[str, str]] = {}
    for run, key, value in rows:
        found.setdefault(run, {})[key] = value
    for run in sorted(set(expected) | set(found)):
        want, have = expected.get(run, {}), found.get(run, {})
        for key in sorted(set(want) | set(have)):
            if want.get(key) != have.get(key):
                out.append(StateMismatch(table, f"{run}/{key}", want.get(key), have.get(key)))


def deep_check(tx: Transaction) -> DeepReport:
    """Fold every event of ``tx``'s snapshot and compare with the current rows."""
    fold = _fold(tx.audit.iter_all())
    state = tx.state
    out: list[StateMismatch] = []
    _compare("model_aliases", fold.aliases, state.aliases(), out)
    _compare("users", fold.users, state.users(), out)
    _compare("project_roles", fold.roles, state.roles(), out)
    _compare(
        "api_tokens",
        {k: list(v) for k, v in fold.tokens.items()},
        {k: list(v) for k, v in state.tokens().items()},
        out,
    )
    _compare_pairs("params", fold.params, state.params(), out)
    _compare_pairs("tags", fold.tags, state.tags(), out)
    digests = dict(state.metric_digests())
    checked = not_covered = 0
    for run, want in sorted(fold.metrics.items()):
        if want is None:
            not_covered += 1
            continue
        checked += 1
        have = digests.get(run, _EMPTY_DIGEST)
        if have != want:
            out.append(StateMismatch("metrics", run, want, have))
    return DeepReport(tuple(out), checked, not_covered)


_EMPTY_DIGEST = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # SHA-256 of nothing
