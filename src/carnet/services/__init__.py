"""The application layer: every use case of carnet is one method here.

The CLI, the SDK, the REST API and the web pages call these services and hold no logic.
"""

from carnet.domain.training import TrainOutcome
from carnet.domain.verification import Verification
from carnet.services.ab_analysis import ABAnalysisService
from carnet.services.alerts import AlertService
from carnet.services.anchors import AnchorService
from carnet.services.audit import AuditService
from carnet.services.auth import AuthService
from carnet.services.batch import BatchPredictionService
from carnet.services.ci_report import CIReportService
from carnet.services.context import ContentReader, ServiceContext, record
from carnet.services.datasets import DatasetService
from carnet.services.deployments import DeploymentService
from carnet.services.dossier import DossierService
from carnet.services.encoders import EncoderService
from carnet.services.erasure import ErasureService
from carnet.services.explain import ExplainService
from carnet.services.hooks import hooks_of
from carnet.services.lineage import LineageService
from carnet.services.monitoring import MonitoringService
from carnet.services.promotion import PromotionService
from carnet.services.registry import RegistryService
from carnet.services.reuse import ReuseService
from carnet.services.search import SearchService
from carnet.services.tracking import DEFAULT_PROJECT, TrackingService, artifact_path
from carnet.services.training import TrainingService

__all__ = [
    "DEFAULT_PROJECT",
    "ABAnalysisService",
    "AlertService",
    "AnchorService",
    "AuditService",
    "AuthService",
    "BatchPredictionService",
    "CIReportService",
    "DatasetService",
    "DeploymentService",
    "DossierService",
    "EncoderService",
    "ErasureService",
    "ExplainService",
    "LineageService",
    "MonitoringService",
    "PromotionService",
    "RegistryService",
    "ReuseService",
    "SearchService",
    "ServiceContext",
    "Services",
    "TrackingService",
    "TrainOutcome",
    "TrainingService",
    "Verification",
    "artifact_path",
    "record",
]


class Services:
    """Every service of one workspace, sharing one context."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        ctx.hooks_factory = hooks_of
        self.tracking = TrackingService(ctx)
        self.datasets = DatasetService(ctx, self.tracking)
        self.erasure = ErasureService(ctx, self.datasets)
        self.chunks = self.datasets.chunks
        self.audit = AuditService(ctx)
        self.anchors = AnchorService(ctx)
        self.auth = AuthService(ctx)
        self.training = TrainingService(ctx, self.tracking, self.datasets)
        self.search = SearchService(ctx, self.tracking, self.training)
        self.registry = RegistryService(ctx, self.tracking)
        self.reuse = ReuseService(ctx, self.tracking, self.training, self.registry)
        self.encoders = EncoderService(ctx, self.registry, self.datasets)
        self.promotion = PromotionService(ctx, self.registry, self.datasets, self.tracking)
        self.dossier = DossierService(ctx, self.registry, self.promotion, self.datasets, self.audit)
        self.deployments = DeploymentService(ctx, self.registry)
        self.batch = BatchPredictionService(
            ctx, self.tracking, self.registry, self.datasets, self.deployments
        )
        self.alerts = AlertService(ctx, self.promotion, self.training)
        self.monitoring = MonitoringService(ctx, self.registry, self.datasets, self.deployments, self.alerts)
        self.lineage = LineageService(ctx, self.tracking)
        self.explain = ExplainService(ctx, self.tracking, self.training, self.registry, self.datasets)
        self.ab_analysis = ABAnalysisService(ctx, self.registry, self.datasets, self.deployments)
        self.ci_report = CIReportService(ctx, self.tracking, self.registry, self.promotion, self.monitoring)

    @property
    def content(self) -> ContentReader:
        """Verified reads of stored content by digest (what the download routes stream)."""
        return self.ctx.artifacts

    def close(self) -> None:
        """Release database connections."""
        self.ctx.store.close()
