"""Monitors: production windows of a served model compared with a reference, and the alerts they raise.

A monitor is written as a mapping (YAML in a file, or CLI options) and validated completely by
:func:`load_monitor`::

    name: churn-prod
    model: churn@production         # the model to follow; its alias is what a rollback moves
    reference: churn-train@3        # a dataset version: the reference distribution (and labels)
    target: churned                 # optional: the label column of the reference (default: the
                                    # training target of the served version)
    window: 1h                      # or 10000rows; time windows close once the log moved past them
    checks: [drift, prediction_drift, quality, performance]
    drift: {multivariate: false}    # optional drift options (see carnet.monitoring.drift)
    rules:
      - "drift.share_drifted > 0.3 for 2"                        # a metric, a comparison, N windows
      - {when: "performance.estimated.roc_auc < 0.85", actions: [notify, rollback]}
    notify:
      - {type: webhook, url: "https://hooks.example.com/carnet"}

Rules read the flat metrics of a window by name (``rows``, ``drift.share_drifted``,
``quality.missing_share.age``, ``performance.estimated.roc_auc`` ...). A rule *holds* in a window
when its comparison is true there; an alert opens when it has held in ``for`` consecutive
windows, and resolves when it stops holding (or by hand). Actions: ``notify`` (every notifier),
``rollback`` (move the monitored alias back to its previous holder) and ``retrain`` (run the
training spec stored with the monitor).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from carnet.domain.models import ModelRef
from carnet.errors import InvalidInput

__all__ = [
    "ALERT_STATUSES",
    "CHECKS",
    "MONITOR_KEYS",
    "Alert",
    "AlertRule",
    "LabelFile",
    "Monitor",
    "MonitorWindow",
    "WindowSpec",
    "check_monitor_name",
    "load_monitor",
]

#: the checks a monitor can run on every window
CHECKS = ("drift", "prediction_drift", "quality", "performance")
#: the top-level keys of a monitor
MONITOR_KEYS = (
    "name",
    "model",
    "reference",
    "target",
    "window",
    "checks",
    "drift",
    "rules",
    "notify",
    "retrain",
    "since",
)
#: the life of an alert
ALERT_STATUSES = ("open", "acknowledged", "resolved")
ACTIONS = ("notify", "rollback", "retrain")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_WINDOW = re.compile(r"^\s*(\d+)\s*(s|m|h|d|rows)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RULE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][\w.\-]*)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>[-+]?[\d.]+(?:[eE][-+]?\d+)?)"
    r"\s*(?:for\s+(?P<n>\d+)(?:\s+windows?)?)?\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def check_monitor_name(name: Any) -> str:
    """``name`` when it is a valid monitor name (as model names); InvalidInput otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"monitor name {name!r} must be 1-128 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit, e.g. churn-prod",
            field="name",
        )
    return name


@dataclass(frozen=True)
class WindowSpec:
    """How production rows are cut into windows: by time (``seconds``) or by count (``rows``)."""

    kind: str  # "time" | "rows"
    size: int

    @classmethod
    def parse(cls, text: Any, where: str = "window") -> WindowSpec:
        """``1h``, ``30m``, ``90s``, ``1d`` or ``10000rows``; InvalidInput naming ``where`` otherwise."""
        m = _WINDOW.match(str(text)) if isinstance(text, str | int) and not isinstance(text, bool) else None
        if m is None or int(m.group(1)) <= 0:
            raise InvalidInput(
                f"{where}: {text!r} is not a window; write a duration like 1h, 30m, 90s, 1d or a row "
                "count like 10000rows",
                field=where,
            )
        n, unit = int(m.group(1)), m.group(2)
        return cls("rows", n) if unit == "rows" else cls("time", n * _UNITS[unit])

    @property
    def label(self) -> str:
        """The canonical text of the window (``1h``, ``10000rows``)."""
        if self.kind == "rows":
            return f"{self.size}rows"
        for unit, secs in (("d", 86400), ("h", 3600), ("m", 60)):
            if self.size % secs == 0:
                return f"{self.size // secs}{unit}"
        return f"{self.size}s"


@dataclass(frozen=True)
class AlertRule:
    """``metric op threshold`` held for ``for_windows`` consecutive windows, and what to do then."""

    metric: str
    op: str
    threshold: float
    for_windows: int = 1
    actions: tuple[str, ...] = ("notify",)

    @classmethod
    def parse(cls, raw: Any, where: str = "rules[0]") -> AlertRule:
        """A rule from ``"metric > 0.3 for 2"`` or ``{when: ..., actions: [...]}``."""
        actions: tuple[str, ...] = ("notify",)
        text = raw
        if isinstance(raw, Mapping):
            unknown = sorted(set(map(str, raw)) - {"when", "actions"})
            if unknown:
                raise InvalidInput(
                    f"{where}: unknown key(s) {', '.join(unknown)}; a rule has when and actions",
                    field=f"{where}.{unknown[0]}",
                )
            text = raw.get("when")
            acts = raw.get("actions", ["notify"])
            if isinstance(acts, str):
                acts = [acts]
            if not isinstance(acts, list) or not acts:
                raise InvalidInput(
                    f"{where}.actions must be a list among {', '.join(ACTIONS)}", field=f"{where}.actions"
                )
            for i, a in enumerate(acts):
                if a not in ACTIONS:
                    raise InvalidInput(
                        f"{where}.actions[{i}]: unknown action {a!r}; choose among {', '.join(ACTIONS)}",
                        field=f"{where}.actions[{i}]",
                    )
            actions = tuple(dict.fromkeys(acts))
        m = _RULE.match(text) if isinstance(text, str) else None
        if m is None:
            raise InvalidInput(
                f"{where}: {text!r} is not a rule; write METRIC OP NUMBER [for N], e.g. "
                "'drift.share_drifted > 0.3 for 2'",
                field=where,
            )
        try:
            threshold = float(m.group("value"))
        except ValueError:
            raise InvalidInput(f"{where}: {m.group('value')!r} is not a number", field=where) from None
        n = int(m.group("n") or 1)
        if n < 1:
            raise InvalidInput(f"{where}: 'for N' needs N >= 1", field=where)
        return cls(m.group("metric"), m.group("op"), threshold, n, actions)

    def holds(self, metrics: Mapping[str, Any]) -> bool | None:
        """Whether the rule's comparison is true on a window's metrics (None: metric not there)."""
        value = metrics.get(self.metric)
        if value is None or isinstance(value, str):
            return None
        value = float(value)
        if math.isnan(value):
            return None
        return _OPS[self.op](value, self.threshold)

    @property
    def text(self) -> str:
        """The rule as written canonically (``drift.share_drifted > 0.3 for 2``)."""
        base = f"{self.metric} {self.op} {self.threshold:g}"
        return base if self.for_windows == 1 else f"{base} for {self.for_windows}"

    def to_spec(self) -> Any:
        """The rule as stored: its text, or a mapping when the actions are not just notify."""
        if self.actions == ("notify",):
            return self.text
        return {"when": self.text, "actions": list(self.actions)}


@dataclass(frozen=True)
class Monitor:
    """A stored monitor: its spec, plus the state kept between passes."""

    name: str
    model: str
    reference: str
    window: WindowSpec
    checks: tuple[str, ...] = CHECKS
    rules: tuple[AlertRule, ...] = ()
    notify: tuple[dict[str, Any], ...] = ()
    target: str | None = None
    drift: dict[str, Any] = field(default_factory=dict)
    retrain: dict[str, Any] | None = None
    since: str = "creation"
    id: int | None = None
    state: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    actor: str = ""

    @property
    def model_ref(self) -> ModelRef:
        """The followed model reference."""
        return ModelRef.parse(self.model)

    def to_spec(self) -> dict[str, Any]:
        """The monitor as written (what :func:`load_monitor` reads back)."""
        spec: dict[str, Any] = {
            "name": self.name,
            "model": self.model,
            "reference": self.reference,
            "window": self.window.label,
            "checks": list(self.checks),
            "rules": [r.to_spec() for r in self.rules],
        }
        if self.target is not None:
            spec["target"] = self.target
        if self.drift:
            spec["drift"] = dict(self.drift)
        if self.notify:
            spec["notify"] = [dict(n) for n in self.notify]
        if self.retrain is not None:
            spec["retrain"] = dict(self.retrain)
        if self.since != "creation":
            spec["since"] = self.since
        return spec

    def with_state(self, **changes: Any) -> Monitor:
        """A copy with ``state`` updated by ``changes``."""
        return replace(self, state={**self.state, **changes})


@dataclass(frozen=True)
class MonitorWindow:
    """The results of one closed window: its bounds, rows, the versions seen and flat metrics.

    ``report`` is the digest of the window's full JSON report (per-column drift, quality,
    estimates) in the artifact store.
    """

    monitor: str
    seq: int
    start: float
    end: float
    rows: int
    versions: tuple[int, ...]
    metrics: dict[str, float]
    report: str | None = None
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "monitor": self.monitor,
            "seq": self.seq,
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "versions": list(self.versions),
            "metrics": dict(self.metrics),
            "report": self.report,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Alert:
    """An alert: opened by a rule, acknowledged and resolved by people or by the rule clearing."""

    id: int
    monitor: str
    rule: str
    status: str
    value: float | None
    threshold: float
    window_seq: int
    opened_at: float
    updated_at: float
    message: str
    actions: tuple[dict[str, Any], ...] = ()
    history: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "monitor": self.monitor,
            "rule": self.rule,
            "status": self.status,
            "value": self.value,
            "threshold": self.threshold,
            "window_seq": self.window_seq,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "message": self.message,
            "actions": [dict(a) for a in self.actions],
            "history": [dict(h) for h in self.history],
        }


@dataclass(frozen=True)
class LabelFile:
    """A Parquet file of ground-truth labels (``request_id``, ``row``, ``label``) in the artifact store."""

    id: int
    digest: str
    rows: int
    model: str | None
    source: str
    created_at: float


# -- loading and validation ---------------------------------------------------------------------


def _reference(raw: Any) -> str:
    if not isinstance(raw, str) or "@" not in raw:
        raise InvalidInput(
            f"reference {raw!r} must be a dataset version NAME@VERSION, e.g. churn-train@3", field="reference"
        )
    return raw


def _checks(raw: Any) -> tuple[str, ...]:
    checks = [c.strip() for c in raw.split(",") if c.strip()] if isinstance(raw, str) else raw
    if not isinstance(checks, list) or not checks:
        raise InvalidInput(f"checks must be a non-empty list among {', '.join(CHECKS)}", field="checks")
    for i, c in enumerate(checks):
        if c not in CHECKS:
            raise InvalidInput(
                f"checks[{i}]: unknown check {c!r}; choose among {', '.join(CHECKS)}", field=f"checks[{i}]"
            )
    return tuple(dict.fromkeys(checks))


def _rules(raw: Any) -> tuple[AlertRule, ...]:
    if not isinstance(raw or [], list):
        raise InvalidInput("rules must be a list of rules like 'drift.share_drifted > 0.3'", field="rules")
    return tuple(AlertRule.parse(r, f"rules[{i}]") for i, r in enumerate(raw or []))


def _notify(raw: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw or [], list) or not all(isinstance(n, Mapping) for n in raw or []):
        raise InvalidInput("notify must be a list of notifier mappings with a type", field="notify")
    return tuple(dict(n) for n in raw or [])


def _retrain(raw: Any) -> dict[str, Any] | None:
    if raw is not None and not isinstance(raw, Mapping):
        raise InvalidInput("retrain must be a training spec mapping", field="retrain")
    return None if raw is None else dict(raw)


def _drift(raw: Any) -> dict[str, Any]:
    if not isinstance(raw or {}, Mapping):
        raise InvalidInput("drift must be a mapping of drift options", field="drift")
    return dict(raw or {})


def _target(raw: Any) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise InvalidInput("target must be a column name", field="target")
    return raw


def _since(raw: Any) -> str:
    since_time(raw, 0.0)  # checked now, computed at creation
    return str(raw)


def since_time(since: Any, now: float) -> float | None:
    """When a monitor created at ``now`` starts reading the prediction log: ``creation`` (the
    default: ``now``), ``all`` (None: every row logged so far), a duration before ``now`` (``7d``,
    ``12h``), or a time (ISO 8601 such as ``2026-11-30T08:00:00Z``, or seconds since the epoch)."""
    import datetime as dt

    if since in (None, "creation"):
        return now
    if since == "all":
        return None
    if isinstance(since, int | float) and not isinstance(since, bool):
        return float(since)
    if isinstance(since, str):
        m = _WINDOW.match(since)
        if m is not None and m.group(2) != "rows":
            return now - int(m.group(1)) * _UNITS[m.group(2)]
        try:
            stamp = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp()
    raise InvalidInput(
        f"since: {since!r}; write creation (the default), all, a duration back from now (7d, 12h) or a "
        "time (2026-11-30T08:00:00Z)",
        field="since",
    )


_EXAMPLES = {
    "name": "name: churn-prod",
    "model": "model: churn@production",
    "reference": "reference: churn-train@3",
    "window": "window: 1h (or 10000rows)",
}


def _model(raw: Any) -> str:
    """The followed model: ``NAME@alias`` (a version number would never move)."""
    if not isinstance(raw, str):
        raise InvalidInput("model must be NAME@alias, e.g. churn@production", field="model")
    try:
        ref = ModelRef.parse(raw)
    except InvalidInput as exc:
        raise InvalidInput(f"model: {exc.message}", field="model") from None
    if ref.alias is None:
        raise InvalidInput(
            f"model {raw!r} must name an alias (NAME@alias, e.g. churn@production): the monitor follows "
            "what the alias serves and rolls the alias back",
            field="model",
        )
    return str(ref)


#: marks a key that has no default
_REQUIRED = object()

#: every key of a monitor spec: how it is read, and its value when absent (required keys have none)
_MONITOR_FIELDS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "name": (check_monitor_name, _REQUIRED),
    "model": (_model, _REQUIRED),
    "reference": (_reference, _REQUIRED),
    "window": (WindowSpec.parse, _REQUIRED),
    "checks": (_checks, list(CHECKS)),
    "rules": (_rules, []),
    "notify": (_notify, []),
    "retrain": (_retrain, None),
    "drift": (_drift, {}),
    "target": (_target, None),
    "since": (_since, "creation"),
}


def load_monitor(spec: Mapping[str, Any]) -> Monitor:
    """A validated :class:`Monitor` from its mapping; InvalidInput names the bad field and the fix."""
    if not isinstance(spec, Mapping):
        raise InvalidInput("a monitor must be a mapping with name, model, reference, window", field="monitor")
    unknown = sorted(set(map(str, spec)) - set(MONITOR_KEYS))
    if unknown:
        raise InvalidInput(
            f"unknown monitor key(s) {', '.join(unknown)}; known keys: {', '.join(MONITOR_KEYS)}",
            field=unknown[0],
        )
    for key, (_, default) in _MONITOR_FIELDS.items():
        if default is _REQUIRED and spec.get(key) in (None, ""):
            raise InvalidInput(f"a monitor needs {key}, e.g. {_EXAMPLES[key]}", field=key)
    values = {key: read(spec.get(key, default)) for key, (read, default) in _MONITOR_FIELDS.items()}
    if any("retrain" in r.actions for r in values["rules"]) and values["retrain"] is None:
        raise InvalidInput(
            "a rule has the retrain action but the monitor has no retrain spec; add retrain: {...} "
            "(a training spec) or use --retrain FILE",
            field="retrain",
        )
    return Monitor(**values)


@dataclass(frozen=True)
class Transition:
    """An alert that changed state: ``opened``, ``resolved`` or ``acknowledged``."""

    kind: str
    alert: Alert
    rule: AlertRule | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kind": self.kind, "alert": self.alert.id, "rule": self.alert.rule, "value": self.alert.value}


@dataclass
class PassResult:
    """What one monitoring pass did."""

    monitor: str
    windows: list[MonitorWindow] = field(default_factory=list)
    relabeled: list[int] = field(default_factory=list)
    pending_rows: int = 0
    files: int = 0
    transitions: list[Transition] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "monitor": self.monitor,
            "windows": [w.to_dict() for w in self.windows],
            "relabeled_windows": self.relabeled,
            "pending_rows": self.pending_rows,
            "files": self.files,
            "alerts": [t.to_dict() for t in self.transitions],
        }
