"""Dimensionality reduction: embed rows in fewer dimensions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carnet.domain.training import Predictions
from carnet.tasks._base import final_step, model_input, training_rows_only
from carnet.tasks._unsupervised import UnsupervisedTask

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["DimensionalityReduction"]


class DimensionalityReduction(UnsupervisedTask):
    """Map rows to a low-dimensional embedding.

    ``predict`` gives ``embedding`` plus, in ``extra``: ``embedding_input`` (the rows as the
    reducer saw them, after preprocessing: trustworthiness and reconstruction error compare
    against it), ``reconstruction`` (when the reducer has a working ``inverse_transform``) and
    ``explained_variance_ratio`` (when it has ``explained_variance_ratio_``). A target, if
    given, is never a feature and is not used by the metrics. Reducers without ``transform``
    (t-SNE) only embed their training rows: use split kind ``none`` (the default) with them.
    """

    name = "dim_reduction"
    description = "embed rows in fewer dimensions, keeping their neighbourhoods"
    family = "dim_reduction"
    _apply_method = "transform"
    _metrics = ("explained_variance", "trustworthiness", "reconstruction_error")
    _primary = ("trustworthiness", "maximize")
    _default_model = "pca"
    _candidates = ("pca", "truncated_svd", "kernel_pca")

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        """The embedding of ``X`` and what its metrics need."""
        import numpy as np

        _, last = final_step(fitted)
        if hasattr(fitted, "transform"):
            embedding = np.asarray(fitted.transform(X), dtype=float)
        else:
            training_rows_only(fitted, X, "embed rows")
            embedding = np.asarray(last.embedding_, dtype=float)
        extra: dict[str, Any] = {"embedding_input": model_input(fitted, X)}
        if hasattr(last, "inverse_transform"):
            try:
                extra["reconstruction"] = np.asarray(last.inverse_transform(embedding), dtype=float)
            except Exception:  # noqa: BLE001 - e.g. KernelPCA without fit_inverse_transform
                pass
        ratio = getattr(last, "explained_variance_ratio_", None)
        if ratio is not None:
            extra["explained_variance_ratio"] = np.asarray(ratio, dtype=float)
        return Predictions(task=self.name, embedding=embedding, extra=extra)

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        """Always None: the metrics compare the embedding with the input."""
        return None
