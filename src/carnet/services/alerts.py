"""Alerts of monitors: opened and resolved by rules, acknowledged or resolved by people, acted upon.

A rule (``drift.share_drifted > 0.3 for 2``) *holds* in a window when its comparison is true on
the window's metrics. An alert opens when the rule has held in its last ``for`` windows and no
alert of that rule is open or acknowledged; it resolves when the rule stops holding, or by hand.
Opening and resolving happen in the monitoring pass's transaction, each with its audit event.

After the pass commits, :meth:`AlertService.act` runs the rule's actions on the alerts it opened:
``notify`` sends the event to every notifier of the monitor (resolutions are notified too),
``rollback`` moves the monitored alias back to its previous holder (audited by the promotion
service; a running server picks it up within seconds), ``retrain`` runs the monitor's training
spec. Each outcome, failed or not, is appended to the alert's ``actions`` with its own event.
"""

from __future__ import annotations

import builtins
from dataclasses import replace
from typing import Any

from carnet.domain.monitors import ALERT_STATUSES, Alert, AlertRule, Monitor, MonitorWindow, Transition
from carnet.errors import CarnetError, Conflict, InvalidInput, NotFound
from carnet.services.context import ServiceContext, record
from carnet.services.hooks import hooks_of
from carnet.services.promotion import PromotionService
from carnet.services.training import TrainingService
from carnet.store.interfaces import Transaction

__all__ = ["AlertService", "Transition"]


class AlertService:
    """Alert rules applied to windows, the alerts' life cycle, and their actions."""

    def __init__(self, ctx: ServiceContext, promotion: PromotionService, training: TrainingService) -> None:
        self.ctx = ctx
        self.promotion = promotion
        self.training = training

    # -- reading ----------------------------------------------------------------------------------
    def list(
        self, monitor: Monitor | None = None, status: builtins.list[str] | None = None
    ) -> builtins.list[Alert]:
        """Alerts, newest first (of one monitor, in some statuses)."""
        for s in status or []:
            if s not in ALERT_STATUSES:
                raise InvalidInput(
                    f"unknown alert status {s!r}; choose among {', '.join(ALERT_STATUSES)}", field="status"
                )
        with self.ctx.store.transaction(write=False) as tx:
            return tx.monitors.alerts(None if monitor is None else monitor.id, status)

    def get(self, alert_id: int) -> Alert:
        """One alert (NotFound with the way to list them)."""
        with self.ctx.store.transaction(write=False) as tx:
            found = tx.monitors.get_alert(int(alert_id))
        if found is None:
            raise NotFound(f"no alert #{alert_id}; list them with: carnet monitor alerts", field="alert")
        return found

    # -- by hand ----------------------------------------------------------------------------------
    def acknowledge(self, alert_id: int, comment: str = "", monitor: Monitor | None = None) -> Alert:
        """Mark an open alert as seen (it stays active until resolved), audited."""
        return self._set(alert_id, "acknowledged", comment, monitor, allowed=("open",))

    def resolve(self, alert_id: int, comment: str = "", monitor: Monitor | None = None) -> Alert:
        """Close an alert by hand, audited and notified."""
        return self._set(alert_id, "resolved", comment, monitor, allowed=("open", "acknowledged"))

    def _set(
        self, alert_id: int, status: str, comment: str, monitor: Monitor | None, allowed: tuple[str, ...]
    ) -> Alert:
        now = self.ctx.clock()
        with self.ctx.store.transaction() as tx:
            alert = tx.monitors.get_alert(int(alert_id))
            if alert is None:
                raise NotFound(f"no alert #{alert_id}; list them with: carnet monitor alerts", field="alert")
            if alert.status not in allowed:
                raise Conflict(
                    f"alert #{alert_id} is {alert.status}; it cannot become {status}", field="alert"
                )
            entry = {"status": status, "time": now, "actor": self.ctx.actor, "comment": comment}
            alert = replace(alert, status=status, updated_at=now, history=(*alert.history, entry))
            tx.monitors.update_alert(alert)
            record(
                self.ctx, tx, f"alert.{status}", "alert", str(alert.id), {"monitor": alert.monitor, **entry}
            )
        if monitor is not None and monitor.notify:
            self._notify(monitor, Transition(status, alert))
        if status == "resolved":
            hooks_of(self.ctx).after(self.ctx, "after_alert_resolve", alert=alert)
        return alert

    # -- rules, inside a monitoring pass ----------------------------------------------------------
    def apply_rules(
        self,
        tx: Transaction,
        monitor: Monitor,
        previous: builtins.list[MonitorWindow],
        new: builtins.list[MonitorWindow],
        now: float,
    ) -> builtins.list[Transition]:
        """Open and resolve the alerts of ``monitor``'s rules over its ``new`` windows, in order."""
        assert monitor.id is not None
        active = {a.rule: a for a in tx.monitors.alerts(monitor.id, ["open", "acknowledged"])}
        history = list(previous)
        out: list[Transition] = []
        for window in new:
            history.append(window)
            for rule in monitor.rules:
                holds = rule.holds(window.metrics)
                current = active.get(rule.text)
                if holds and current is None and _held(rule, history):
                    alert = tx.monitors.add_alert(monitor.id, _opened(monitor, rule, window, now))
                    active[rule.text] = alert
                    out.append(Transition("opened", alert, rule))
                    payload = {"monitor": monitor.name, "rule": rule.text, "window": window.seq}
                    payload["value"] = alert.value
                    record(self.ctx, tx, "alert.opened", "alert", str(alert.id), payload, now=now)
                elif holds is False and current is not None:
                    entry = {"status": "resolved", "time": now, "actor": "rule", "window": window.seq}
                    alert = replace(
                        current, status="resolved", updated_at=now, history=(*current.history, entry)
                    )
                    tx.monitors.update_alert(alert)
                    del active[rule.text]
                    out.append(Transition("resolved", alert, rule))
                    record(
                        self.ctx, tx, "alert.resolved", "alert", str(alert.id),
                        {"monitor": monitor.name, "rule": rule.text, "window": window.seq},
                        now=now,
                    )  # fmt: skip
        return out

    # -- actions, after the pass committed --------------------------------------------------------
    def act(self, monitor: Monitor, transitions: builtins.list[Transition]) -> None:
        """Run the actions of the rules behind ``transitions``; record every outcome on its alert."""
        hooks = hooks_of(self.ctx)
        for t in transitions:
            if t.kind in ("opened", "resolved"):
                hook = "after_alert_open" if t.kind == "opened" else "after_alert_resolve"
                hooks.after(self.ctx, hook, alert=t.alert)
            rule = t.rule
            actions = rule.actions if rule is not None else ("notify",)
            outcomes: list[dict[str, Any]] = []
            if "notify" in actions and monitor.notify:
                outcomes += self._notify(monitor, t)
            if t.kind == "opened" and "rollback" in actions:
                outcomes.append(self._rollback(monitor, t.alert))
            if t.kind == "opened" and "retrain" in actions and monitor.retrain is not None:
                outcomes.append(self._retrain(monitor, t.alert))
            if outcomes:
                self._record(t.alert.id, outcomes)

    def _notify(self, monitor: Monitor, t: Transition) -> builtins.list[dict[str, Any]]:
        from carnet.services.delivery import notify

        event = {
            "event": f"alert.{t.kind}",
            "alert": t.alert.to_dict(),
            "monitor": monitor.name,
            "model": monitor.model,
            "message": t.alert.message if t.kind == "opened" else f"{t.kind}: {t.alert.message}",
        }
        return [
            {"action": "notify", "event": event["event"], "target": d.target, "ok": d.ok, "error": d.error,
             "attempts": d.attempts, "time": self.ctx.clock()}
            for d in notify(list(monitor.notify), event, server=self.ctx.settings.server)
        ]  # fmt: skip

    def _rollback(self, monitor: Monitor, alert: Alert) -> dict[str, Any]:
        ref = monitor.model_ref
        assert ref.alias is not None
        try:
            p = self.promotion.rollback(ref.name, ref.alias, reason=f"alert #{alert.id}: {alert.rule}")
        except CarnetError as exc:
            return {"action": "rollback", "ok": False, "error": f"{type(exc).__name__}: {exc.message}"}
        return {
            "action": "rollback", "ok": True, "alias": ref.alias, "from": p.previous_version, "to": p.version,
            "time": self.ctx.clock(),
        }  # fmt: skip

    def _retrain(self, monitor: Monitor, alert: Alert) -> dict[str, Any]:
        assert monitor.retrain is not None
        try:
            outcome = self.training.train(dict(monitor.retrain), tags={"carnet.alert": str(alert.id)})
        except CarnetError as exc:
            return {"action": "retrain", "ok": False, "error": f"{type(exc).__name__}: {exc.message}"}
        return {"action": "retrain", "ok": True, "run": outcome.run_id, "metrics": outcome.metrics}

    def _record(self, alert_id: int, outcomes: builtins.list[dict[str, Any]]) -> None:
        with self.ctx.store.transaction() as tx:
            alert = tx.monitors.get_alert(alert_id)
            assert alert is not None
            tx.monitors.update_alert(replace(alert, actions=(*alert.actions, *outcomes)))
            record(self.ctx, tx, "alert.actions", "alert", str(alert_id), {"actions": outcomes})


def _held(rule: AlertRule, history: builtins.list[MonitorWindow]) -> bool:
    """Whether ``rule`` held in each of the last ``for`` windows."""
    last = history[-rule.for_windows :]
    return len(last) == rule.for_windows and all(rule.holds(w.metrics) for w in last)


def _opened(monitor: Monitor, rule: AlertRule, window: MonitorWindow, now: float) -> Alert:
    value = window.metrics.get(rule.metric)
    span = "" if rule.for_windows == 1 else f" for {rule.for_windows} windows"
    message = (
        f"{monitor.name} ({monitor.model}): {rule.metric} = {value:.4g}{span} in window {window.seq} "
        f"(rule {rule.text})"
    )
    entry = {"status": "open", "time": now, "actor": "rule", "window": window.seq}
    return Alert(
        0, monitor.name, rule.text, "open", value, rule.threshold, window.seq, now, now, message, (), (entry,)
    )
