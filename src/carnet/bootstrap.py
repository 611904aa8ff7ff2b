"""Composition root: settings -> stores -> services."""

from __future__ import annotations

from pathlib import Path

from carnet.config import Settings, resolve_settings
from carnet.errors import NotFound
from carnet.services import ServiceContext, Services

__all__ = ["open_services", "upgrade_workspace", "workspace_exists"]


def workspace_exists(settings: Settings) -> bool:
    """True when the workspace's metadata already exists (always true for PostgreSQL)."""
    if settings.backend == "postgresql":
        return True
    return Path(settings.metadata_url[len("sqlite:///") :]).exists()


def open_services(
    uri: str | Settings | None = None,
    *,
    artifacts: str | None = None,
    create: bool = True,
) -> Services:
    """Open (and on first write create and migrate) the workspace at ``uri``.

    Args:
        uri: workspace URI or resolved settings; None resolves from CARNET_URI / carnet.toml / ./.carnet.
        artifacts: artifact root overriding the default of the URI.
        create: when False, a missing folder or SQLite workspace raises NotFound instead of being created.
    """
    from carnet.store.artifacts import FsspecArtifactStore  # noqa: PLC0415 - keep imports lazy
    from carnet.store.sql import SqlMetadataStore  # noqa: PLC0415

    settings = uri if isinstance(uri, Settings) else resolve_settings(uri, artifacts=artifacts)
    if not create and not workspace_exists(settings):
        raise NotFound(
            f"no carnet workspace at {settings.uri!r}; create one with: carnet init {settings.uri}",
            field="uri",
        )
    store = SqlMetadataStore(settings.metadata_url)
    art = FsspecArtifactStore(settings.artifact_root, settings.storage_options)
    return Services(ServiceContext(settings=settings, store=store, artifacts=art))


def upgrade_workspace(settings: Settings) -> str:
    """Apply pending schema migrations to a workspace's metadata database; returns the revision."""
    from carnet.store.sql import SqlMetadataStore  # noqa: PLC0415

    store = SqlMetadataStore(settings.metadata_url, migrate=False)
    try:
        return store.upgrade()
    finally:
        store.close()
