"""The application layer: every use case of carnet is one method here.

The CLI, the SDK and (later) the REST API call these services and hold no logic.
"""

from carnet.services.audit import AuditService, Verification
from carnet.services.context import ServiceContext, record
from carnet.services.datasets import DatasetService
from carnet.services.tracking import DEFAULT_PROJECT, TrackingService, artifact_path

__all__ = [
    "DEFAULT_PROJECT",
    "AuditService",
    "DatasetService",
    "ServiceContext",
    "Services",
    "TrackingService",
    "Verification",
    "artifact_path",
    "record",
]


class Services:
    """Every service of one workspace, sharing one context."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.tracking = TrackingService(ctx)
        self.datasets = DatasetService(ctx, self.tracking)
        self.audit = AuditService(ctx)

    def close(self) -> None:
        """Release database connections."""
        self.ctx.store.close()
