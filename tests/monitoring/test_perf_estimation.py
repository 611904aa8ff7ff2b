"""Label-free performance estimation (CBPE, DLE) and realized metrics, on seeded generated data.

The windows come from covariate shift: the features move, ``P(y | x)`` stays, so a
well-specified model stays calibrated and the estimates must track the realized metrics.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

from carnet.errors import InvalidInput
from carnet.monitoring.perf_realized import realized_performance
from carnet.monitoring.performance import CBPE, DLE, Estimate, realized_metrics

WINDOWS = 20
WINDOW_ROWS = 1000
MIN_COVERED = 18  # of 20 windows: the realized metric lies inside the estimate's band


# -- data -----------------------------------------------------------------------------------------


class BinaryWorld:
    """Logistic ground truth; scores are the fitted model's, sharpened so they need calibration."""

    w = np.array([1.5, -1.0, 0.8, 0.0, 0.5])

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        X, y = self.draw(5000)
        self.model = LogisticRegression().fit(X, y)

    def draw(self, n: int, shift: float = 0.0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        X = self.rng.normal(size=(n, 5)) * scale
        X[:, 0] += shift
        X[:, 2] += shift / 2
        p = 1 / (1 + np.exp(-(X @ self.w - 0.3)))
        return X, (self.rng.random(n) < p).astype(int)

    def scores(self, X: np.ndarray) -> np.ndarray:
        s = self.model.predict_proba(X)[:, 1]
        return 1 / (1 + np.exp(-1.8 * np.log(s / (1 - s))))  # over-confident: miscalibrated


class MulticlassWorld:
    """Softmax-linear ground truth with string labels and a multinomial logistic model."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.W = self.rng.normal(size=(4, 3)) * 1.2
        X, y = self.draw(5000)
        self.model = LogisticRegression().fit(X, y)

    def draw(self, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        X = self.rng.normal(size=(n, 4))
        X[:, 0] += shift
        z = X @ self.W
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        codes = (self.rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1)
        return X, np.array(["ant", "bee", "cat"])[codes]


class RegressionWorld:
    """Linear truth with noise growing with |x0| (heteroscedastic), and a linear model."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        X, y = self.draw(5000)
        self.model = LinearRegression().fit(X, y)

    def draw(self, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        X = self.rng.normal(size=(n, 4))
        X[:, 0] += shift
        noise = (0.3 + 0.7 * np.abs(X[:, 0])) * self.rng.normal(size=n)
        return X, 2 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] + noise


def shifts(width: float) -> np.ndarray:
    return np.linspace(-width, width, WINDOWS)


def coverage(pairs: list[tuple[list[Estimate], dict[str, float]]], metric: str) -> int:
    """In how many windows the realized ``metric`` lies within the estimate's band."""
    hits = 0
    for estimates, realized in pairs:
        est = next(e for e in estimates if e.metric == metric)
        hits += est.lower <= realized[metric] <= est.upper
    return hits


@pytest.fixture(scope="module")
def binary() -> tuple[BinaryWorld, CBPE]:
    world = BinaryWorld(seed=0)
    X, y = world.draw(20_000)
    return world, CBPE.fit(world.scores(X), y, classes=[0, 1], chunk_size=1000)


# -- CBPE -----------------------------------------------------------------------------------------


def test_cbpe_binary_tracks_realized_metrics_under_covariate_shift(binary) -> None:
    world, cbpe = binary
    pairs = []
    for shift in shifts(1.0):
        X, y = world.draw(WINDOW_ROWS, shift)
        s = world.scores(X)
        pairs.append((cbpe.estimate(s), cbpe.realized(s, y)))
    for metric in ("accuracy", "f1", "roc_auc", "precision", "recall"):
        assert coverage(pairs, metric) >= MIN_COVERED, metric
    # the band is real: about 3 standard errors of a 1,000-row window, not the whole [0, 1]
    widths = [e.upper - e.lower for e in pairs[0][0]]
    assert all(0.02 < w < 0.2 for w in widths)


def test_cbpe_calibrates_overconfident_scores(binary) -> None:
    _, cbpe = binary
    (cal,) = cbpe.calibrations
    assert cal.applied
    assert cal.ece_calibrated is not None and cal.ece_calibrated < cal.ece_raw / 3


def test_cbpe_unshifted_window_estimates_match_the_reference(binary) -> None:
    world, cbpe = binary
    X, y = world.draw(5000)
    s = world.scores(X)
    realized = cbpe.realized(s, y)
    for est in cbpe.estimate(s):
        assert est.rows == 5000
        assert abs(est.value - est.reference_mean) <= 3 * est.standard_error, est
        assert abs(est.value - realized[est.metric]) < 0.03, est
        assert not est.alert
        assert est.alert_lower is not None and est.alert_lower < est.reference_mean
        assert est.alert_upper is None


def test_cbpe_alerts_when_rows_move_to_the_decision_boundary(binary) -> None:
    world, cbpe = binary
    X, y = world.draw(2000, scale=0.25)  # logits near 0: the model is barely better than chance
    s = world.scores(X)
    estimates = {e.metric: e for e in cbpe.estimate(s)}
    realized = cbpe.realized(s, y)
    for metric in ("accuracy", "roc_auc"):
        est = estimates[metric]
        assert est.alert, est
        assert est.value < est.alert_lower
        assert realized[metric] < est.alert_lower


def test_cbpe_multiclass_tracks_realized_metrics() -> None:
    world = MulticlassWorld(seed=1)
    X, y = world.draw(20_000)
    classes = list(world.model.classes_)
    cbpe = CBPE.fit(world.model.predict_proba(X), y, classes=classes, chunk_size=1000)
    assert len(cbpe.calibrations) == 3
    pairs = []
    for shift in shifts(1.5):
        Xw, yw = world.draw(WINDOW_ROWS, shift)
        s = world.model.predict_proba(Xw)
        pairs.append((cbpe.estimate(s), cbpe.realized(s, yw)))
    for metric in ("accuracy", "f1", "roc_auc"):
        assert coverage(pairs, metric) >= MIN_COVERED, metric
    # multiclass names mean macro / one-vs-rest, as in sklearn
    Xw, yw = world.draw(3000)
    s = world.model.predict_proba(Xw)
    realized = cbpe.realized(s, yw)
    pred = np.asarray(classes)[s.argmax(axis=1)]
    assert realized["f1"] == pytest.approx(skm.f1_score(yw, pred, average="macro"))
    assert realized["roc_auc"] == pytest.approx(skm.roc_auc_score(yw, s, multi_class="ovr", labels=classes))


def test_cbpe_expected_confusion_matrix_by_hand() -> None:
    rng = np.random.default_rng(3)
    ref = rng.random(400)
    labels = np.where(rng.random(400) < ref, "yes", "no")
    cbpe = CBPE.fit(ref, labels, classes=["no", "yes"], calibration="never")
    assert not cbpe.calibrations[0].applied
    window = np.array([0.9, 0.2, 0.6, 0.4])  # predicted: yes, no, yes, no
    est = {e.metric: e.value for e in cbpe.estimate(window)}
    tp, fp, fn, tn = 0.9 + 0.6, 0.1 + 0.4, 0.2 + 0.4, 0.8 + 0.6
    assert est["accuracy"] == pytest.approx((tp + tn) / 4)
    assert est["precision"] == pytest.approx(tp / (tp + fp))
    assert est["recall"] == pytest.approx(tp / (tp + fn))
    assert est["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # expected AUC = E[correctly ordered (positive, negative) pairs] / E[positives * negatives]
    p = window
    ordered = sum(p[i] * (1 - p[j]) for i in range(4) for j in range(4) if p[i] > p[j])
    every = sum(p[i] * (1 - p[j]) for i in range(4) for j in range(4) if i != j)
    assert est["roc_auc"] == pytest.approx(ordered / every)
    # ties count one half, as in sklearn
    tied = np.array([0.7, 0.7, 0.3])
    ordered = 0.5 * (0.7 * 0.3 * 2) + 2 * 0.7 * 0.7
    every = sum(tied[i] * (1 - tied[j]) for i in range(3) for j in range(3) if i != j)
    assert {e.metric: e.value for e in cbpe.estimate(tied)}["roc_auc"] == pytest.approx(ordered / every)


def test_cbpe_save_load_round_trip(binary) -> None:
    world, cbpe = binary
    data = cbpe.save()
    assert isinstance(data, bytes)
    state = json.loads(data)
    assert state["format"] == "carnet.cbpe/1"
    again = CBPE.load(data)
    X, _ = world.draw(500, 0.5)
    s = world.scores(X)
    assert again.estimate(s) == cbpe.estimate(s)
    assert CBPE.from_dict(cbpe.to_dict()).estimate(s) == cbpe.estimate(s)
    json.dumps([e.to_dict() for e in again.estimate(s)], allow_nan=False)


def test_cbpe_threshold_sets_binary_predictions() -> None:
    rng = np.random.default_rng(4)
    s = rng.random(2000)
    y = (rng.random(2000) < s).astype(int)
    low = CBPE.fit(s, y, classes=[0, 1], threshold=0.2, metrics=["recall"], calibration="never")
    high = CBPE.fit(s, y, classes=[0, 1], threshold=0.8, metrics=["recall"], calibration="never")
    assert low.estimate(s)[0].value > high.estimate(s)[0].value
    assert low.realized(s, y)["recall"] == pytest.approx(skm.recall_score(y, (s >= 0.2).astype(int)))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"metrics": ["accuracy", "auc_roc"]}, "metrics"),
        ({"metrics": "accuracy"}, "metrics"),
        ({"chunk_size": 5000}, "chunk_size"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"threshold": 1.5}, "threshold"),
        ({"calibration": "sometimes"}, "calibration"),
        ({"band_sigmas": -1}, "band_sigmas"),
        ({"classes": [0]}, "classes"),
        ({"classes": [0, 0]}, "classes"),
    ],
)
def test_cbpe_fit_rejects_bad_settings(kwargs, field) -> None:
    rng = np.random.default_rng(5)
    s = rng.random(1000)
    args = {"classes": [0, 1], **kwargs}
    with pytest.raises(InvalidInput) as exc:
        CBPE.fit(s, (s > 0.5).astype(int), **args)
    assert exc.value.field == field


def test_cbpe_rejects_bad_scores_and_labels(binary) -> None:
    _, cbpe = binary
    rng = np.random.default_rng(6)
    with pytest.raises(InvalidInput) as exc:
        cbpe.estimate(rng.random((10, 3)))
    assert exc.value.field == "window_scores" and "shape" in str(exc.value)
    with pytest.raises(InvalidInput) as exc:
        cbpe.estimate(np.empty(0))
    assert exc.value.field == "window_scores" and "no rows" in str(exc.value)
    with pytest.raises(InvalidInput, match="NaN"):
        cbpe.estimate(np.array([0.2, np.nan]))
    with pytest.raises(InvalidInput, match=r"\[0, 1\]"):
        cbpe.estimate(np.array([0.2, 1.7]))
    with pytest.raises(InvalidInput) as exc:
        CBPE.fit(rng.random(100), [0, 1, 2] * 33 + [0], classes=[0, 1], chunk_size=10)
    assert exc.value.field == "reference_labels"
    with pytest.raises(InvalidInput) as exc:
        CBPE.fit(rng.random(100), [0, 1] * 40, classes=[0, 1], chunk_size=10)
    assert exc.value.field == "reference_labels"
    with pytest.raises(InvalidInput, match="sum to 1"):
        CBPE.fit(rng.random((300, 3)), rng.integers(0, 3, 300), classes=[0, 1, 2])
    with pytest.raises(InvalidInput) as exc:
        CBPE.load(b"not json")
    assert exc.value.field == "data"
    with pytest.raises(InvalidInput, match=r"carnet\.cbpe"):
        CBPE.load(json.dumps({"format": "something else"}).encode())


# -- DLE ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regression() -> tuple[RegressionWorld, DLE]:
    world = RegressionWorld(seed=2)
    X, y = world.draw(20_000)
    return world, DLE.fit(X, world.model.predict(X), y, chunk_size=1000)


@pytest.mark.parametrize("backend", ["lightgbm", "sklearn"])
def test_dle_tracks_mae_and_rmse_under_covariate_shift(backend) -> None:
    world = RegressionWorld(seed=2)
    X, y = world.draw(20_000)
    dle = DLE.fit(X, world.model.predict(X), y, chunk_size=1000, backend=backend)
    assert dle.backend == backend
    pairs = []
    for shift in shifts(1.0):
        Xw, yw = world.draw(WINDOW_ROWS, shift)
        p = world.model.predict(Xw)
        pairs.append((dle.estimate(Xw, p), dle.realized(p, yw)))
    for metric in ("mae", "rmse"):
        assert coverage(pairs, metric) >= MIN_COVERED, metric
    # heteroscedastic noise: windows far from x0 = 0 have larger errors, and DLE sees it
    first, middle = pairs[0][0], pairs[WINDOWS // 2][0]
    assert first[0].value > middle[0].value * 1.2


def test_dle_unshifted_window_and_alerts(regression) -> None:
    world, dle = regression
    X, y = world.draw(5000)
    p = world.model.predict(X)
    realized = dle.realized(p, y)
    assert realized["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert realized["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    for est in dle.estimate(X, p):
        assert abs(est.value - est.reference_mean) <= 3 * est.standard_error, est
        assert abs(est.value - realized[est.metric]) < 0.05 * realized[est.metric], est
        assert not est.alert
        assert est.alert_lower is None and est.alert_upper is not None
    Xw, _ = world.draw(2000, shift=2.5)  # far into the noisy region: errors grow
    for est in dle.estimate(Xw, world.model.predict(Xw)):
        assert est.alert and est.value > est.alert_upper, est


@pytest.mark.parametrize("backend", ["lightgbm", "sklearn"])
def test_dle_save_load_round_trip(backend) -> None:
    world = RegressionWorld(seed=7)
    X, y = world.draw(3000)
    dle = DLE.fit(X, world.model.predict(X), y, backend=backend, metrics=["mae"])
    data = dle.save()
    assert json.loads(data)["models"]["mae"]["kind"] == backend
    again = DLE.load(data)
    Xw, _ = world.draw(400, 0.7)
    p = world.model.predict(Xw)
    assert [e.metric for e in again.estimate(Xw, p)] == ["mae"]
    assert again.estimate(Xw, p)[0].value == pytest.approx(dle.estimate(Xw, p)[0].value, rel=1e-9)


def test_dle_refuses_a_saved_model_with_untrusted_types() -> None:
    import base64

    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    world = RegressionWorld(seed=8)
    X, y = world.draw(2000)
    state = json.loads(DLE.fit(X, world.model.predict(X), y, backend="sklearn", metrics=["mae"]).save())
    sneaky = make_pipeline(FunctionTransformer(print))
    state["models"]["mae"]["model"] = base64.b64encode(sio.dumps(sneaky)).decode()
    with pytest.raises(InvalidInput, match="untrusted"):
        DLE.load(json.dumps(state).encode())
    other = make_pipeline(FunctionTransformer(np.log1p))  # only default-trusted types, wrong object
    state["models"]["mae"]["model"] = base64.b64encode(sio.dumps(other)).decode()
    with pytest.raises(InvalidInput, match="not a HistGradientBoostingRegressor"):
        DLE.load(json.dumps(state).encode())


def test_dle_with_a_dataframe_and_categorical_column() -> None:
    rng = np.random.default_rng(9)
    n = 6000
    frame = pd.DataFrame({"x": rng.normal(size=n), "shop": rng.choice(["a", "b", "c"], n)})
    noise = np.where(frame["shop"] == "c", 2.0, 0.3) * rng.normal(size=n)
    y = 3 * frame["x"].to_numpy() + noise
    pred = 3 * frame["x"].to_numpy()
    dle = DLE.fit(frame, pred, y, metrics=["mae"])
    calm = frame[frame["shop"] != "c"]
    noisy = frame[frame["shop"] == "c"]
    calm_mae = dle.estimate(calm, 3 * calm["x"])[0].value
    noisy_mae = dle.estimate(noisy, 3 * noisy["x"])[0].value
    assert noisy_mae > 3 * calm_mae
    assert noisy_mae == pytest.approx(2.0 * np.sqrt(2 / np.pi), rel=0.15)
    unseen = frame.head(50).assign(shop="zzz")  # unknown categories read as missing, no error
    assert np.isfinite(dle.estimate(unseen, 3 * unseen["x"])[0].value)
    with pytest.raises(InvalidInput) as exc:
        dle.estimate(frame[["x"]], pred)
    assert exc.value.field == "window_features" and "shop" in str(exc.value)


def test_dle_rejects_bad_input(regression) -> None:
    world, dle = regression
    X, y = world.draw(100)
    p = world.model.predict(X)
    with pytest.raises(InvalidInput) as exc:
        dle.estimate(X[:0], p[:0])
    assert exc.value.field == "window_features"
    with pytest.raises(InvalidInput) as exc:
        dle.estimate(X, p[:50])
    assert exc.value.field == "window_predictions"
    with pytest.raises(InvalidInput) as exc:
        dle.estimate(X[:, :3], p)
    assert exc.value.field == "window_features"
    with pytest.raises(InvalidInput) as exc:
        DLE.fit(X, p, y, metrics=["mape"])
    assert exc.value.field == "metrics"
    with pytest.raises(InvalidInput) as exc:
        DLE.fit(X, p, y, backend="xgboost")
    assert exc.value.field == "backend"
    with pytest.raises(InvalidInput) as exc:
        DLE.fit(X, p, np.r_[y[:-1], np.nan])
    assert exc.value.field == "reference_targets"
    with pytest.raises(InvalidInput) as exc:
        DLE.load(CBPE.fit(np.linspace(0, 1, 100), [0, 1] * 50, classes=[0, 1]).save())
    assert exc.value.field == "data"


# -- realized metrics -----------------------------------------------------------------------------


def test_realized_binary_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(10)
    score = rng.random(800)
    y = (rng.random(800) < score).astype(int)
    pred = (score >= 0.5).astype(int)
    got = realized_metrics(
        "classification", y, pred, score, ["accuracy", "precision", "recall", "f1", "roc_auc"]
    )
    assert got == pytest.approx(
        {
            "accuracy": skm.accuracy_score(y, pred),
            "precision": skm.precision_score(y, pred),
            "recall": skm.recall_score(y, pred),
            "f1": skm.f1_score(y, pred),
            "roc_auc": skm.roc_auc_score(y, score),
        }
    )
    defaults = realized_metrics("binary", y, pred, score)
    assert defaults["log_loss"] == pytest.approx(skm.log_loss(y, np.column_stack([1 - score, score])))
    assert "roc_auc" in defaults and "balanced_accuracy" in defaults


def test_realized_multiclass_and_regression_match_sklearn() -> None:
    rng = np.random.default_rng(11)
    proba = rng.dirichlet([1, 1, 1], size=600)
    classes = ["x", "y", "z"]
    y = np.asarray(classes)[[rng.choice(3, p=p) for p in proba]]
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    got = realized_metrics(
        "multiclass", y, pred, proba, ["accuracy", "f1", "f1_weighted", "roc_auc"], classes=classes
    )
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes))

    t = rng.normal(size=500)
    p = t + rng.normal(scale=0.5, size=500)
    got = realized_metrics("regression", t, p)
    assert got == pytest.approx(
        {
            "rmse": np.sqrt(skm.mean_squared_error(t, p)),
            "mae": skm.mean_absolute_error(t, p),
            "mape": skm.mean_absolute_percentage_error(t, p),
            "r2": skm.r2_score(t, p),
        }
    )


def test_realized_performance_with_bootstrap_band() -> None:
    rng = np.random.default_rng(12)
    score = rng.random(1000)
    y = (rng.random(1000) < score).astype(int)
    result = realized_performance(
        "classification", y, (score > 0.5).astype(int), score, ["accuracy", "roc_auc"], bootstrap=200, seed=1
    )
    assert result.rows == 1000 and result.bootstrap == 200
    for name, value in result.metrics.items():
        low, high = result.intervals[name]
        assert low < value < high
        assert high - low < 0.12
    assert json.loads(json.dumps(result.to_dict()))["intervals"]["accuracy"] == list(
        result.intervals["accuracy"]
    )
    small = realized_performance("regression", [1.0, 2.0, 3.0], [1.1, 2.0, 2.5], bootstrap=50)
    assert small.intervals == {} and any("fewer than" in n for n in small.notes)


def test_realized_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput) as exc:
        realized_metrics("clustering", [1, 0], [1, 0])
    assert exc.value.field == "task_family"
    with pytest.raises(InvalidInput) as exc:
        realized_metrics("classification", [1, 0, 1], [1, 0, 0], metrics=["roc_auc"])
    assert exc.value.field == "predictions.y_score"
    with pytest.raises(InvalidInput) as exc:
        realized_metrics("regression", [1.0, 2.0], [1.0], metrics=["mae"])
    assert exc.value.field == "predictions.y_pred"
    with pytest.raises(InvalidInput) as exc:
        realized_metrics("regression", [1.0, 2.0], [1.0, 2.0], metrics=["accuracy"])
    assert exc.value.field == "metrics"
    with pytest.raises(InvalidInput) as exc:
        realized_metrics("binary", [0, 1, 2], [0, 1, 2])
    assert exc.value.field == "task_family"
