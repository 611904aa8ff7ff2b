"""The web UI of ``carnet server`` and ``carnet ui``: server-rendered pages over the same API
operations (and so the same services, roles and answers) as the REST API and the SDK.

Jinja2 templates, htmx for partial updates and uPlot for charts; the JavaScript and CSS are vendored
under ``static/vendor`` with their hashes in ``MANIFEST.json`` (``scripts/vendor_ui.py`` refreshes
them from the npm registry). The page table is :data:`carnet.server.ui.app.PAGES`.
"""

from carnet.server.ui.app import PAGES, UI_ROLES, add_ui

__all__ = ["PAGES", "UI_ROLES", "add_ui"]
