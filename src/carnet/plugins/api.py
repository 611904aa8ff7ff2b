"""Protocols of carnet's extension points (filled in as capabilities land).

Each extension point is a Protocol here plus a :class:`~carnet.plugins.registry.Registry`
over its entry-point group.
"""

from __future__ import annotations

__all__ = ["ENTRY_POINT_GROUPS"]

#: entry-point groups carnet discovers plugins in, by extension point
ENTRY_POINT_GROUPS: dict[str, str] = {
    "task": "carnet.tasks",
    "flavor": "carnet.flavors",
    "drift_test": "carnet.drift_tests",
    "gate": "carnet.gates",
    "explainer": "carnet.explainers",
    "notifier": "carnet.notifiers",
}
