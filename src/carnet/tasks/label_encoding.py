"""A classifier wrapper that trains on labels 0..k-1 and answers in the original labels.

Some libraries (XGBoost) accept only integer class labels 0..k-1. The classification
tasks wrap such models so that string or arbitrary integer targets work like with any
scikit-learn classifier; the wrapper is stored with the model (skops) like any estimator.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator, ClassifierMixin, clone

__all__ = ["LabelEncodedClassifier", "needs_label_encoding"]


def needs_label_encoding(estimator: Any, y: Any) -> bool:
    """True when ``estimator`` (or a pipeline's last step) is an XGBoost model and ``y`` is not 0..k-1."""
    import numpy as np

    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    if not type(last).__module__.startswith("xgboost"):
        return False
    values = np.unique(np.asarray(y))
    if values.dtype.kind not in "iu":
        return True
    return not np.array_equal(values, np.arange(len(values)))


class LabelEncodedClassifier(ClassifierMixin, BaseEstimator):
    """Fits ``estimator`` on encoded labels; ``classes_`` and predictions use the original ones."""

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> LabelEncodedClassifier:
        """Encode ``y`` as 0..k-1 (sorted classes) and fit a clone of the wrapped estimator."""
        import numpy as np

        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = clone(self.estimator).fit(X, encoded)
        return self

    def predict(self, X: Any) -> Any:
        """Original labels."""
        import numpy as np

        return self.classes_[np.asarray(self.estimator_.predict(X)).astype(int)]

    def predict_proba(self, X: Any) -> Any:
        """Probabilities, one column per entry of ``classes_``."""
        return self.estimator_.predict_proba(X)
