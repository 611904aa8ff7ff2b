"""Clustering: group rows without labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carnet.domain.training import Predictions
from carnet.tasks._base import final_step, model_input, training_rows_only
from carnet.tasks._unsupervised import UnsupervisedTask

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Clustering"]


class Clustering(UnsupervisedTask):
    """Assign each row a cluster id.

    The target is optional: when given it holds reference labels used only for evaluation
    (``adjusted_rand``); the training engine must exclude it from the features, and
    :meth:`fit` never passes it to the model. Silhouette, Davies-Bouldin and
    Calinski-Harabasz are computed on ``extra["embedding_input"]``, the rows as the
    clustering model saw them (after carnet's preprocessing).

    Models without ``predict`` (agglomerative clustering, DBSCAN) only label the rows they
    were fitted on (``labels_`` of ``fit``): :meth:`predict` then accepts exactly those rows,
    so use split kind ``none`` (the default) with them.
    """

    name = "clustering"
    description = "group similar rows into clusters (labels optional, for evaluation only)"
    family = "clustering"
    _metrics = ("silhouette", "davies_bouldin", "calinski_harabasz", "adjusted_rand")
    _primary = ("silhouette", "maximize")
    _default_model = "kmeans"
    _candidates = ("kmeans", "gaussian_mixture", "agglomerative")

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        """Cluster ids in ``y_pred`` (-1 = noise for density models); the model input in extra."""
        import numpy as np

        if hasattr(fitted, "predict"):
            labels = np.asarray(fitted.predict(X))
        else:
            training_rows_only(fitted, X, "assign clusters")
            labels = np.asarray(final_step(fitted)[1].labels_)
        extra: dict[str, Any] = {}
        try:
            extra["embedding_input"] = model_input(fitted, X)
        except (TypeError, ValueError):  # raw non-numeric X: the evaluation engine encodes it itself
            pass
        return Predictions(task=self.name, y_pred=labels, extra=extra)
