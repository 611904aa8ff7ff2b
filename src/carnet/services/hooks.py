"""Calling lifecycle hooks from the services: refusals, observers, wrappers, each call on the ledger.

:class:`HookRunner` is what a service calls at a lifecycle point (see :mod:`carnet.plugins.hooks`
for the hooks and how plugins are found). Every call of a plugin's hook is an audit event
``hook.call`` (subject ``hook:<plugin>``) with the plugin's name and version, the hook and its
outcome (``ok``, ``refused`` with the reason, ``failed`` with the error), except the two hooks that
would flood or recurse: ``predict_batch`` and ``after_audit_append`` (their failures are logged).
Without hook plugins nothing is called and nothing is recorded.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from typing import Any

from carnet.errors import HookRefused, InvalidInput
from carnet.services.context import ServiceContext, record

__all__ = ["UNRECORDED", "HookRunner", "hooks_of", "list_plugins"]

log = logging.getLogger("carnet.hooks")

#: hooks whose calls are not audit events (one per prediction batch; one per audit event)
UNRECORDED = frozenset({"predict_batch", "after_audit_append"})
_RUNNERS: dict[tuple[str, tuple[str, ...]], HookRunner] = {}
_LOCK = threading.Lock()


def _version_of(plugin: Any) -> str:
    """The version of the distribution a plugin object's top-level package comes from."""
    top = (getattr(plugin, "__module__", None) or getattr(plugin, "__name__", "") or "").split(".")[0]
    names = packages_distributions().get(top) or []
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            return version(name)
    return "unknown"


class HookRunner:
    """The hook plugins of one workspace, and the one way services call them."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        from carnet.plugins.hooks import plugin_manager
        from carnet.plugins.loader import installed, registry

        try:
            self.pm = plugin_manager(list(registry("hook").items()), extra)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="hooks") from exc
        known = {p["name"]: (p["package"], p["version"]) for p in installed("hook")}
        self.plugins: dict[str, tuple[str, str]] = {}  # plugin name -> (package, version)
        for name, plugin in self.pm.list_name_plugin():
            if name == "carnet.core" or plugin is None:
                continue
            package, ver = known.get(name, (name, ""))
            self.plugins[name] = (package, ver or _version_of(plugin))
        self.active = bool(self.plugins)
        self._quiet = _Quiet()

    def quiet(self) -> contextlib.AbstractContextManager[None]:
        """Within the block, this thread's hook calls are not recorded (a dry run stores nothing)."""
        return self._quiet

    def describe(self) -> list[dict[str, Any]]:
        """Each hook plugin: its name, package, version and the hooks it implements."""
        out = []
        for name, (package, ver) in sorted(self.plugins.items()):
            plugin = self.pm.get_plugin(name)
            hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
            out.append({"name": name, "package": package, "version": ver, "hooks": hooks})
        return out

    def _impls(self, hook: str) -> list[Any]:
        caller = getattr(self.pm.hook, hook)
        return [i for i in caller.get_hookimpls() if i.plugin_name != "carnet.core"]

    def _record(self, ctx: ServiceContext, hook: str, plugin: str, outcome: str, detail: str = "") -> None:
        if hook in UNRECORDED or self._quiet.active:
            return
        package, ver = self.plugins.get(plugin, (plugin, "unknown"))
        payload = {"hook": hook, "plugin": plugin, "package": package, "version": ver, "outcome": outcome}
        if detail:
            payload["detail"] = detail[:2000]
        with ctx.store.transaction() as tx:
            record(ctx, tx, "hook.call", "hook", plugin, payload)

    def _call(self, impl: Any, kwargs: dict[str, Any]) -> Any:
        return impl.function(**{k: kwargs[k] for k in impl.argnames if k in kwargs})

    def before(self, ctx: ServiceContext, hook: str, **kwargs: Any) -> None:
        """Call every plugin's ``hook``; the first refusal (or failure) stops the change.

        Raises:
            HookRefused: naming the hook, the plugin and its reason (also audited).
        """
        if not self.active:
            return
        for impl in self._impls(hook):
            try:
                self._call(impl, kwargs)
            except HookRefused as exc:
                reason = str(exc) or "no reason given"
                self._record(ctx, hook, impl.plugin_name, "refused", reason)
                raise HookRefused(
                    f"refused by hook {hook} of {impl.plugin_name}: {reason}",
                    hook=hook,
                    plugin=impl.plugin_name,
                ) from exc
            except Exception as exc:  # noqa: BLE001 - a check that cannot run refuses (fails closed)
                reason = f"{type(exc).__name__}: {exc}"
                self._record(ctx, hook, impl.plugin_name, "failed", reason)
                raise HookRefused(
                    f"hook {hook} of {impl.plugin_name} failed, so the change was refused: {reason}",
                    hook=hook,
                    plugin=impl.plugin_name,
                ) from exc
            self._record(ctx, hook, impl.plugin_name, "ok")

    def after(self, ctx: ServiceContext, hook: str, **kwargs: Any) -> list[Any]:
        """Call every plugin's ``hook``; errors are logged and audited, never raised. Returns the
        non-None results (e.g. ``promotion_gates``' lists)."""
        if not self.active:
            return []
        results = []
        for impl in self._impls(hook):
            try:
                value = self._call(impl, kwargs)
            except Exception as exc:  # noqa: BLE001 - an observer never breaks the user's command
                log.warning("hook %s of %s failed: %s: %s", hook, impl.plugin_name, type(exc).__name__, exc)
                with contextlib.suppress(Exception):  # the ledger itself may be what failed
                    self._record(ctx, hook, impl.plugin_name, "failed", f"{type(exc).__name__}: {exc}")
                continue
            self._record(ctx, hook, impl.plugin_name, "ok")
            if value is not None:
                results.append(value)
        return results

    def predict(self, model: str, inputs: Any, predict: Callable[[Any], Any]) -> Any:
        """``predict(inputs)`` wrapped by every plugin's ``predict_batch`` wrapper."""
        if not self.active:
            return predict(inputs)
        return self.pm.hook.predict_batch(model=model, inputs=inputs, predict=predict)

    def audited(self, ctx: ServiceContext, event: Any) -> None:
        """``after_audit_append`` for a committed event (failures logged only: no recursion)."""
        for impl in self._impls("after_audit_append"):
            try:
                self._call(impl, {"event": event})
            except Exception as exc:  # noqa: BLE001 - an observer never breaks the change
                log.warning("hook after_audit_append of %s failed: %s", impl.plugin_name, exc)


class _Quiet(threading.local):
    """A per-thread switch: hook calls of a dry run are not audit events."""

    active = False

    def __enter__(self) -> None:
        self.active = True

    def __exit__(self, *exc: object) -> None:
        self.active = False


def list_plugins(kind: str | None = None, hooks: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every plugin of ``kind`` (all kinds when None) with its kind, package and version; hook
    plugins also with the hooks they implement, those of the ``hooks`` setting included."""
    from carnet.plugins.loader import installed

    rows: list[dict[str, Any]] = list(installed(kind))
    if kind not in (None, "hook"):
        return rows
    found = {r["name"]: r for r in rows if r["kind"] == "hook"}
    for plugin in HookRunner(hooks).describe():
        row = found.get(plugin["name"])
        if row is None:
            row = {"kind": "hook", "name": plugin["name"], "package": plugin["package"],
                   "version": plugin["version"], "value": "workspace setting hooks"}  # fmt: skip
            rows.append(row)
        row["hooks"] = ", ".join(plugin["hooks"])
    return rows


def hooks_of(ctx: ServiceContext) -> HookRunner:
    """The hook runner of ``ctx``'s settings (built once per set of hook paths per process)."""
    key = (ctx.settings.uri, tuple(ctx.settings.hooks))
    with _LOCK:
        runner = _RUNNERS.get(key)
        if runner is None:
            runner = _RUNNERS[key] = HookRunner(tuple(ctx.settings.hooks))
        return runner


def reset_hooks() -> None:
    """Forget the built runners (a test that installs or registers plugins calls it)."""
    with _LOCK:
        _RUNNERS.clear()
