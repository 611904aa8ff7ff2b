"""fit_and_evaluate with small fake tasks: folds, refit, progress, aborts, determinism, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from carnet.domain.training import Predictions, SplitSpec
from carnet.errors import InvalidInput
from carnet.training import FitResult, fit_and_evaluate, load_spec


class Classification:
    """A minimal tabular classification task (the real one lives in carnet.tasks)."""

    name = "fake_binary"
    description = "fake"
    supervised = True
    tabular = True
    family = "classification"

    def __init__(self) -> None:
        self.fit_rows: list[int] = []

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        if target is None or frame[target].nunique() != 2:
            raise InvalidInput("binary needs two classes", field="target")

    def default_metrics(self) -> list[str]:
        return ["accuracy"]

    def primary_metric(self) -> tuple[str, str]:
        return ("accuracy", "maximize")

    def default_model(self) -> str:
        return "logistic_regression"

    def candidate_models(self) -> list[str]:
        return ["logistic_regression"]

    def models(self) -> dict[str, Any]:
        return {}

    def split(
        self, frame: pd.DataFrame, target: str | None, split: SplitSpec, seed: int, options: dict[str, Any]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        from sklearn.model_selection import StratifiedKFold, train_test_split

        rows = np.arange(len(frame))
        if split.kind == "holdout":
            train, test = train_test_split(
                rows, test_size=split.test_size, random_state=seed, stratify=frame[target]
            )
            return [(np.sort(train), np.sort(test))]
        folds = StratifiedKFold(split.folds, shuffle=True, random_state=seed)
        return list(folds.split(rows, frame[target]))

    def fit(self, estimator: Any, X: pd.DataFrame, y: pd.Series | None, options: dict[str, Any]) -> Any:
        self.fit_rows.append(len(X))
        return estimator.fit(X, y)

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        return Predictions(task=self.name, y_pred=fitted.predict(X), y_score=fitted.predict_proba(X))

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        return frame[target].to_numpy()


class Clustering(Classification):
    """An unsupervised tabular task: fits without y."""

    name = "fake_clustering"
    supervised = False
    family = "clustering"

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        pass

    def split(
        self, frame: pd.DataFrame, target: str | None, split: SplitSpec, seed: int, options: dict[str, Any]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        rows = np.arange(len(frame))
        return [(rows[:80], rows[80:])]

    def fit(self, estimator: Any, X: pd.DataFrame, y: pd.Series | None, options: dict[str, Any]) -> Any:
        assert y is None
        self.fit_rows.append(len(X))
        return estimator.fit(X)

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        return Predictions(task=self.name, y_pred=fitted.predict(X))


def accuracy(predictions: Predictions, truth: Any) -> dict[str, float]:
    return {"accuracy": float(np.mean(predictions.y_pred == truth)), "n": float(len(truth))}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    X, y = make_classification(n_samples=150, n_features=5, n_informative=3, random_state=1)
    data = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    data["color"] = np.where(X[:, 0] > 0, "red", "blue")
    data.loc[::10, "f1"] = np.nan
    data["label"] = np.where(y == 1, "yes", "no")
    return data


def spec_of(**kwargs: Any) -> Any:
    return load_spec({"dataset": "d", "task": "fake_binary", "target": "label", **kwargs})


def test_holdout(frame: pd.DataFrame) -> None:
    task, calls = Classification(), []
    result = fit_and_evaluate(
        task, spec_of(split={"test_size": 0.2}), frame, scorer=accuracy, progress=lambda *a: calls.append(a)
    )
    assert isinstance(result, FitResult)
    assert len(result.folds) == 1 and result.holdout is result.folds[0]
    assert len(result.holdout.test_index) == 30 and len(result.holdout.train_index) == 120
    assert task.fit_rows == [120]  # no refit for a holdout
    assert calls == [("fold", 1, 1)]
    assert result.scores["accuracy"] > 0.7 and result.scores_std["accuracy"] == 0.0
    assert result.features == ["f0", "f1", "f2", "f3", "f4", "color"]
    assert result.spec.model is not None and result.spec.model.name == "logistic_regression"  # task default
    assert result.holdout.fit_seconds >= 0 and result.fit_seconds >= result.holdout.fit_seconds
    assert set(result.fitted.predict(frame[result.features])) <= {"yes", "no"}


def test_stratified_kfold_with_refit(frame: pd.DataFrame) -> None:
    task, calls, seen = Classification(), [], []
    spec = spec_of(split={"kind": "stratified_kfold", "folds": 3}, model="random_forest")
    result = fit_and_evaluate(
        task,
        spec,
        frame,
        scorer=accuracy,
        progress=lambda *a: calls.append(a),
        on_fold=lambda i, s: seen.append((i, s["accuracy"])),
    )
    assert [f.fold for f in result.folds] == [0, 1, 2]
    assert calls == [("fold", 1, 3), ("fold", 2, 3), ("fold", 3, 3), ("refit", 0, 1), ("refit", 1, 1)]
    assert task.fit_rows == [100, 100, 100, 150]  # the final model saw every row
    folds = [f.scores["accuracy"] for f in result.folds]
    assert seen == list(enumerate(folds))
    assert result.scores["accuracy"] == pytest.approx(np.mean(folds))
    assert result.scores_std["accuracy"] == pytest.approx(np.std(folds))
    assert result.holdout is result.folds[-1]
    test_rows = np.sort(np.concatenate([f.test_index for f in result.folds]))
    assert (test_rows == np.arange(150)).all()


def test_kfold_without_refit_keeps_the_last_fold_model(frame: pd.DataFrame) -> None:
    task = Classification()
    result = fit_and_evaluate(task, spec_of(split="stratified_kfold"), frame, scorer=accuracy, refit=False)
    assert task.fit_rows == [120] * 5
    assert result.fitted is not None and len(result.folds) == 5


@pytest.mark.parametrize("error", [optuna.TrialPruned("pruned at fold 0"), KeyError("stop")])
def test_on_fold_abort_propagates_unchanged(frame: pd.DataFrame, error: Exception) -> None:
    task = Classification()

    def abort(index: int, scores: dict[str, float]) -> None:
        raise error

    with pytest.raises(type(error)) as raised:
        fit_and_evaluate(task, spec_of(split="stratified_kfold"), frame, scorer=accuracy, on_fold=abort)
    assert raised.value is error
    assert task.fit_rows == [120]


@pytest.mark.parametrize("model", ["random_forest", "lightgbm"])
def test_same_seed_same_scores_other_seed_other_split(frame: pd.DataFrame, model: str) -> None:
    def run(seed: int) -> FitResult:
        spec = spec_of(
            split={"kind": "kfold", "folds": 3}, model={"name": model, "params": {"n_estimators": 15}}
        )
        return fit_and_evaluate(
            Classification(), load_spec({**_dict(spec), "seed": seed}), frame, scorer=accuracy
        )

    first, again, other = run(7), run(7), run(8)
    assert [f.scores for f in first.folds] == [f.scores for f in again.folds]
    assert (first.fitted.predict_proba(frame) == again.fitted.predict_proba(frame)).all()
    assert not np.array_equal(first.holdout.test_index, other.holdout.test_index)


def _dict(spec: Any) -> dict[str, Any]:
    from carnet.training import spec_to_dict

    return spec_to_dict(spec)


def test_model_param_errors_become_invalid_input(frame: pd.DataFrame) -> None:
    spec = spec_of(model={"name": "lightgbm", "params": {"num_leaves": "many"}})
    with pytest.raises(InvalidInput) as err:
        fit_and_evaluate(Classification(), spec, frame, scorer=accuracy)
    assert err.value.field == "model.params.num_leaves"
    assert "lightgbm" in str(err.value) and "\n" not in str(err.value)
    spec = spec_of(model={"name": "random_forest", "params": {"max_features": "most"}})
    with pytest.raises(InvalidInput) as err:
        fit_and_evaluate(Classification(), spec, frame, scorer=accuracy)
    assert err.value.field == "model.params.max_features"


def test_xgboost_with_string_labels_says_what_to_do(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput) as err:
        fit_and_evaluate(Classification(), spec_of(model="xgboost"), frame, scorer=accuracy)
    assert err.value.field == "target" and "labels 0..k-1" in str(err.value)


def test_missing_values_left_unimputed_name_preprocess(frame: pd.DataFrame) -> None:
    spec = spec_of(preprocess={"impute_numeric": "none"})
    with pytest.raises(InvalidInput) as err:
        fit_and_evaluate(Classification(), spec, frame, scorer=accuracy)
    assert err.value.field == "preprocess" and "impute_numeric" in str(err.value)
    ok = fit_and_evaluate(
        Classification(),
        spec_of(preprocess={"impute_numeric": "none"}, model="hist_gradient_boosting"),
        frame,
        scorer=accuracy,
    )
    assert ok.scores["accuracy"] > 0.5


def test_data_is_validated_unless_features_are_given(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput) as err:
        fit_and_evaluate(Classification(), spec_of(features=["f0", "colour"]), frame, scorer=accuracy)
    assert err.value.field == "features.include" and "'color'" in str(err.value)
    result = fit_and_evaluate(Classification(), spec_of(), frame, scorer=accuracy, features=["f0", "f2"])
    assert result.features == ["f0", "f2"]
    with pytest.raises(InvalidInput) as err:
        fit_and_evaluate(Classification(), spec_of(), frame, scorer=accuracy, features=["nope"])
    assert err.value.field == "features"


def test_unsupervised_task_fits_without_target(frame: pd.DataFrame) -> None:
    task = Clustering()
    spec = load_spec(
        {
            "dataset": "d",
            "task": "fake_clustering",
            "target": "label",
            "model": {"name": "kmeans", "params": {"n_clusters": 2}},
        }
    )
    result = fit_and_evaluate(task, spec, frame, scorer=lambda p, t: {"rows": float(len(p.y_pred))})
    assert "label" not in result.features
    assert result.scores == {"rows": 70.0}
    assert task.fit_rows == [80]


def test_a_task_without_splits_is_an_input_error(frame: pd.DataFrame) -> None:
    class NoSplits(Classification):
        def split(self, *args: Any) -> list[tuple[np.ndarray, np.ndarray]]:
            return []

    with pytest.raises(InvalidInput) as err:
        fit_and_evaluate(NoSplits(), spec_of(), frame, scorer=accuracy)
    assert err.value.field == "split"


def test_non_tabular_task_gets_raw_frames(frame: pd.DataFrame) -> None:
    class Raw(Classification):
        tabular = False
        received: list[type] = []

        def models(self) -> dict[str, Any]:
            return {"first_row": FirstRow}

        def fit(self, estimator: Any, X: pd.DataFrame, y: pd.Series | None, options: dict[str, Any]) -> Any:
            self.received.append(type(estimator))
            return estimator.fit(X, y)

    task = Raw()
    result = fit_and_evaluate(
        task, spec_of(model="first_row", split="stratified_kfold"), frame, scorer=accuracy
    )
    assert task.received == [FirstRow] * 6
    assert result.fitted.columns == result.features


class FirstRow:
    """A non-scikit-learn model: predicts the label of the first training row, remembers the columns."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> FirstRow:
        self.columns, self.label = list(X.columns), y.iloc[0]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), self.label)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.ones((len(X), 1))
