"""Storage: the metadata store (SQL) and the content-addressed artifact store."""

from carnet.digests import ArtifactInfo
from carnet.domain.runs import RunPage
from carnet.store.interfaces import ArtifactStore, MetadataStore, Transaction

__all__ = ["ArtifactInfo", "ArtifactStore", "MetadataStore", "RunPage", "Transaction"]
