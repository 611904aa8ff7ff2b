"""Lifecycle hooks: what a ``carnet.hooks`` plugin may implement, and how hooks are found.

Hooks are `pluggy <https://pluggy.readthedocs.io>`_ hooks (the library behind pytest's plugins),
project name ``carnet``. A plugin is a module or object with functions marked
``@carnet.plugins.hooks.hookimpl`` whose names are those of :class:`HookSpecs`; it may take any
subset of a hook's arguments. carnet finds plugins in the ``carnet.hooks`` entry-point group and in
the workspace's ``hooks`` setting (``carnet.toml``: ``hooks = ["pkg.module:object"]``, or
``CARNET_HOOKS``, comma-separated).

- ``before_*`` hooks may refuse by raising :class:`~carnet.errors.HookRefused` with a reason; the
  change does not happen and the user sees the reason. A ``before_*`` hook that fails otherwise
  refuses too (a governance check that cannot run must not let the change through).
- ``after_*`` hooks observe: their errors are logged and audited, never raised to the user.
- ``promotion_gates`` returns extra gate results (``carnet.domain.GateResult``) for a promotion.
- ``predict_batch`` is a wrapper hook: ``@hookimpl(wrapper=True)`` functions wrap every batch of
  predictions of ``carnet serve`` (``result = yield``), e.g. to time it or to add a column.
"""

from __future__ import annotations

import importlib
from typing import Any

import pluggy

__all__ = [
    "HOOK_NAMES",
    "PROJECT",
    "HookSpecs",
    "check_hook_plugin",
    "hookimpl",
    "hookspec",
    "load_object",
    "plugin_manager",
]

#: pluggy's project name for carnet's hooks
PROJECT = "carnet"
#: the entry-point group of hook plugins
GROUP = "carnet.hooks"

hookspec = pluggy.HookspecMarker(PROJECT)
#: marks a function of a hook plugin: ``@hookimpl def after_train(run_id, metrics): ...``
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookSpecs:
    """Every lifecycle hook, with its arguments (a plugin takes any subset of them)."""

    @hookspec
    def before_dataset_add(self, name: str, project: str, source: str) -> None:
        """A dataset version is about to be added from ``source`` (a path or a frame's description)."""

    @hookspec
    def after_dataset_add(self, version: Any, created: bool) -> None:
        """A dataset version was added (``created`` False when the same content existed)."""

    @hookspec
    def before_train(self, spec: Any) -> None:
        """A training is about to start from the completed spec (``TrainSpec``)."""

    @hookspec
    def after_train(self, run_id: str, spec: Any, metrics: dict[str, float]) -> None:
        """A training run finished with these headline metrics."""

    @hookspec
    def before_register(self, run_id: str | None, name: str) -> None:
        """A model is about to be registered as the next version of ``name``."""

    @hookspec
    def after_register(self, version: Any) -> None:
        """A model version was registered (``ModelVersion``)."""

    @hookspec
    def before_promote(self, version: Any, alias: str, dry_run: bool) -> None:
        """A promotion of ``version`` to ``alias`` is about to run its gates."""

    @hookspec
    def promotion_gates(self, version: Any, alias: str, context: Any) -> list[Any] | None:
        """Extra gate results (``GateResult``) for this promotion; ``context`` is the ``GateContext``."""

    @hookspec
    def after_promote(self, promotion: Any) -> None:
        """A promotion was decided (``promotion.passed``, ``promotion.applied``)."""

    @hookspec
    def before_alias_move(self, name: str, alias: str, version: int, previous: int | None) -> None:
        """An alias is about to move directly (``carnet models alias``), outside a promotion."""

    @hookspec
    def after_alias_move(self, name: str, alias: str, version: int, previous: int | None) -> None:
        """An alias moved directly."""

    @hookspec
    def before_rollback(self, name: str, alias: str, reason: str) -> None:
        """An alias is about to be rolled back to its previous holder."""

    @hookspec
    def after_rollback(self, promotion: Any) -> None:
        """An alias was rolled back."""

    @hookspec
    def after_serve_start(self, models: list[str], host: str, port: int) -> None:
        """``carnet serve`` is about to accept requests for these model references."""

    @hookspec(firstresult=True)
    def predict_batch(self, model: str, inputs: Any, predict: Any) -> Any:
        """One batch of predictions: carnet's own implementation calls ``predict(inputs)``; wrap it
        with ``@hookimpl(wrapper=True)`` (``result = yield``; return what the caller gets)."""

    @hookspec
    def after_monitor_window(self, monitor: str, window: Any) -> None:
        """A monitoring window was evaluated (drift, quality, performance)."""

    @hookspec
    def after_alert_open(self, alert: Any) -> None:
        """A monitoring alert was opened."""

    @hookspec
    def after_alert_resolve(self, alert: Any) -> None:
        """A monitoring alert was resolved."""

    @hookspec
    def after_audit_append(self, event: Any) -> None:
        """An audit event was committed (``AuditEvent``). Not itself recorded: that would recurse."""


#: every hook name, in the order of :class:`HookSpecs`
HOOK_NAMES = tuple(n for n in vars(HookSpecs) if not n.startswith("_"))


class _CorePredict:
    """carnet's own ``predict_batch``: the innermost call every wrapper wraps."""

    @hookimpl(trylast=True)
    def predict_batch(self, inputs: Any, predict: Any) -> Any:
        return predict(inputs)


def check_hook_plugin(plugin: Any) -> list[str]:
    """The hooks ``plugin`` implements.

    Raises:
        ValueError: it implements a hook carnet does not have, or none at all.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HookSpecs)
    try:
        pm.register(plugin, name="checked")
        pm.check_pending()
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise ValueError(f"hook plugin implements a hook carnet does not have or misuses one: {exc}") from exc
    hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
    if not hooks:
        raise ValueError("hook plugin implements no hook (mark functions with carnet.plugins.hooks.hookimpl)")
    return hooks


def load_object(path: str) -> Any:
    """The object ``pkg.module:name`` (or a module ``pkg.module``) names.

    Raises:
        ValueError: not importable, or no such attribute (the message says which).
    """
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name.strip())
    except ImportError as exc:
        raise ValueError(f"hook plugin {path!r}: cannot import {module_name!r}: {exc}") from exc
    if not attr:
        return module
    try:
        return getattr(module, attr.strip())
    except AttributeError as exc:
        raise ValueError(f"hook plugin {path!r}: {module_name!r} has no {attr!r}") from exc


def plugin_manager(found: list[tuple[str, Any]], extra: tuple[str, ...] = ()) -> pluggy.PluginManager:
    """A plugin manager with carnet's hook specs, the ``found`` plugins (``(name, object)`` from the
    plugin registry's ``hook`` kind: the ``carnet.hooks`` entry points) and ``extra`` plugins
    (``pkg.module:object`` paths from the workspace's settings).

    Raises:
        ValueError: an ``extra`` path cannot be loaded, or a plugin implements an unknown hook.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HookSpecs)
    pm.register(_CorePredict(), name="carnet.core")
    for name, plugin in found:
        if pm.get_plugin(name) is None:
            pm.register(plugin, name=name)
    for path in extra:
        if pm.get_plugin(path) is None:
            pm.register(load_object(path), name=path)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ValueError(f"a hook plugin implements a hook carnet does not have: {exc}") from exc
    return pm
