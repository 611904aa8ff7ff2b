"""Model performance in production: estimated without labels (CBPE, DLE) and realized with them.

Pure computation, no storage; the monitoring service stores what :meth:`CBPE.save` /
:meth:`DLE.save` return and the :class:`Estimate` dicts.

    from carnet.monitoring.performance import CBPE, DLE, realized_metrics
    cbpe = CBPE.fit(ref_scores, ref_labels, classes=[0, 1], chunk_size=1000)
    for est in cbpe.estimate(window_scores):
        est.metric, est.value, est.lower, est.upper, est.alert
    dle = DLE.fit(ref_X, ref_pred, ref_y)
    dle.estimate(window_X, window_pred)
    realized_metrics("classification", y_true, y_pred, y_score, ["accuracy", "roc_auc"])
"""

from __future__ import annotations

from carnet.monitoring.perf_cbpe import CALIBRATION_MODES, CBPE, CBPE_METRICS, Calibration
from carnet.monitoring.perf_common import Estimate, ReferenceStats
from carnet.monitoring.perf_dle import BACKENDS, DLE, DLE_METRICS
from carnet.monitoring.perf_realized import (
    REALIZED_FAMILIES,
    RealizedPerformance,
    classification_metric_name,
    realized_metrics,
    realized_performance,
)

__all__ = [
    "BACKENDS",
    "CALIBRATION_MODES",
    "CBPE",
    "CBPE_METRICS",
    "DLE",
    "DLE_METRICS",
    "REALIZED_FAMILIES",
    "Calibration",
    "Estimate",
    "RealizedPerformance",
    "ReferenceStats",
    "classification_metric_name",
    "realized_metrics",
    "realized_performance",
]
