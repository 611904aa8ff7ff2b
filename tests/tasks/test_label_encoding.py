"""XGBoost classifiers work with string and arbitrary integer labels through the classification tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.datasets import load_iris

from carnet.tasks import get_task
from carnet.tasks.label_encoding import LabelEncodedClassifier, needs_label_encoding


def test_multiclass_xgboost_with_string_labels_round_trips() -> None:
    from xgboost import XGBClassifier

    data = load_iris(as_frame=True)
    X, y = data.data, pd.Series(np.array(["setosa", "versicolor", "virginica"])[data.target])
    task = get_task("multiclass")
    fitted = task.fit(XGBClassifier(n_estimators=20, n_jobs=1), X, y, {})
    assert isinstance(fitted, LabelEncodedClassifier)
    pred = task.predict(fitted, X, {})
    assert list(pred.classes) == ["setosa", "versicolor", "virginica"]
    assert (pred.y_pred == y.to_numpy()).mean() > 0.95
    assert pred.y_score.shape == (150, 3)
    loaded = sio.loads(sio.dumps(fitted), trusted=sio.get_untrusted_types(data=sio.dumps(fitted)))
    assert (loaded.predict(X) == fitted.predict(X)).all()


def test_only_xgboost_with_non_index_labels_is_wrapped() -> None:
    from sklearn.linear_model import LogisticRegression
    from xgboost import XGBClassifier

    assert needs_label_encoding(XGBClassifier(), ["a", "b"])
    assert needs_label_encoding(XGBClassifier(), [3, 7])
    assert not needs_label_encoding(XGBClassifier(), [0, 1, 2])
    assert not needs_label_encoding(LogisticRegression(), ["a", "b"])
