"""Storage: the metadata store (SQL) and the content-addressed artifact store."""

from carnet.store.interfaces import (
    ArtifactInfo,
    ArtifactStore,
    MetadataStore,
    RunPage,
    Transaction,
)

__all__ = ["ArtifactInfo", "ArtifactStore", "MetadataStore", "RunPage", "Transaction"]
