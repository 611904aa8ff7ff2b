"""A minimal tabular binary-classification task shared by the search and AutoML tests.

It lives in an importable module (not a test file) so that worker processes can unpickle it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from carnet.domain.training import Predictions, SplitSpec
from carnet.errors import InvalidInput

__all__ = ["FakeBinary"]


class FakeBinary:
    """A minimal tabular binary-classification task (sklearn estimators, probabilities)."""

    name = "fake_binary"
    description = "test double"
    supervised = True
    tabular = True
    family = "classification"

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        if target not in frame.columns:
            raise InvalidInput(f"no target {target!r}", field="target")

    def default_metrics(self) -> list[str]:
        return ["roc_auc", "accuracy"]

    def primary_metric(self) -> tuple[str, str]:
        return "roc_auc", "maximize"

    def default_model(self) -> str:
        return "hist_gradient_boosting"

    def candidate_models(self) -> list[str]:
        return ["hist_gradient_boosting", "logistic_regression", "decision_tree"]

    def models(self) -> dict[str, Any]:
        return {}

    def default_split(self) -> SplitSpec:
        return SplitSpec()

    def split(self, frame, target, split, seed, options):
        from sklearn.model_selection import StratifiedKFold, train_test_split

        y = frame[target].to_numpy()
        rows = np.arange(len(frame))
        if split.kind == "holdout":
            train, test = train_test_split(rows, test_size=split.test_size, random_state=seed, stratify=y)
            return [(train, test)]
        return list(StratifiedKFold(split.folds, shuffle=True, random_state=seed).split(rows, y))

    def fit(self, estimator, X, y, options):
        return estimator.fit(X, y)

    def predict(self, fitted, X, options) -> Predictions:
        proba = fitted.predict_proba(X)
        classes = list(fitted.classes_)
        return Predictions(
            self.name, y_pred=np.asarray(classes)[proba.argmax(1)], y_score=proba, classes=classes
        )

    def truth(self, frame, target, options):
        return frame[target].to_numpy()
