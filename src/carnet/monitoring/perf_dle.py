"""DLE: direct loss estimation of a regressor's MAE and RMSE on windows without targets.

On a labelled reference, DLE trains one small seeded gradient-boosting model per metric on
the features plus the model's prediction, to predict that row's loss: the absolute error
for ``mae``, the squared error for ``rmse``. On a window, the estimated MAE is the mean of
the predicted absolute errors and the estimated RMSE the square root of the mean of the
predicted squared errors. The loss models are LightGBM (saved in its native text format),
or scikit-learn's ``HistGradientBoostingRegressor`` when LightGBM is not installed (saved
with skops, loaded with a fixed list of trusted types). Like CBPE it assumes the target's
relation to the features is unchanged (covariate shift only).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from carnet.errors import InvalidInput
from carnet.monitoring.perf_common import (
    Estimate,
    ReferenceStats,
    check_metrics,
    check_sigmas,
    chunk_slices,
    dump_state,
    load_state,
    make_estimate,
    resolve_chunk_size,
)
from carnet.monitoring.perf_realized import realized_metrics

__all__ = ["BACKENDS", "DLE", "DLE_METRICS", "MAX_CATEGORIES", "TRUSTED_SKOPS_TYPES"]

#: metrics DLE estimates
DLE_METRICS = ("mae", "rmse")
#: ``auto`` = LightGBM when importable, else scikit-learn
BACKENDS = ("auto", "lightgbm", "sklearn")
#: non-numeric feature columns keep at most this many categories (the rest read as missing)
MAX_CATEGORIES = 1000
#: the only non-default types a saved scikit-learn loss model may contain
TRUSTED_SKOPS_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
_FORMAT = "carnet.dle/1"


@dataclass(frozen=True)
class _Encoder:
    """Turns feature frames or arrays into the loss models' float matrix (categories -> codes)."""

    columns: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    frame: bool

    @classmethod
    def fit(cls, features: Any) -> _Encoder:
        import pandas as pd

        if isinstance(features, pd.DataFrame):
            columns = tuple(str(c) for c in features.columns)
            if len(set(columns)) != len(columns):
                raise InvalidInput(
                    "reference_features has duplicate column names", field="reference_features"
                )
            cats: dict[str, tuple[str, ...]] = {}
            for name, col in zip(columns, features.columns, strict=True):
                series = features[col]
                if not (
                    pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)
                ):
                    counts = series.dropna().astype(str).value_counts()
                    cats[name] = tuple(counts.index[:MAX_CATEGORIES].tolist())
            return cls(columns, cats, True)
        matrix = _matrix(features, "reference_features")
        return cls(tuple(f"x{i}" for i in range(matrix.shape[1])), {}, False)

    def transform(self, features: Any, fieldname: str) -> np.ndarray:
        import pandas as pd

        if not self.frame:
            matrix = _matrix(features, fieldname)
            if matrix.shape[1] != len(self.columns):
                raise InvalidInput(
                    f"{fieldname} has {matrix.shape[1]} columns; the reference had {len(self.columns)}",
                    field=fieldname,
                )
            return matrix
        if not isinstance(features, pd.DataFrame):
            raise InvalidInput(
                f"{fieldname} must be a DataFrame like the reference features", field=fieldname
            )
        by_name = {str(c): c for c in features.columns}
        missing = [c for c in self.columns if c not in by_name]
        if missing:
            raise InvalidInput(f"{fieldname} lacks reference column(s) {missing[:10]!r}", field=fieldname)
        out = np.empty((len(features), len(self.columns)))
        for j, name in enumerate(self.columns):
            series = features[by_name[name]]
            if name in self.categories:
                present = series.notna().to_numpy()
                codes = pd.Index(self.categories[name]).get_indexer(series.astype(str).to_numpy())
                out[:, j] = np.where(present & (codes >= 0), codes, np.nan)
            else:
                try:
                    out[:, j] = series.to_numpy(dtype=float, na_value=np.nan)
                except (TypeError, ValueError):
                    raise InvalidInput(
                        f"{fieldname} column {name!r} must be numeric as in the reference", field=fieldname
                    ) from None
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "frame": self.frame,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Encoder:
        return cls(
            tuple(data["columns"]), {k: tuple(v) for k, v in data["categories"].items()}, bool(data["frame"])
        )


def _matrix(values: Any, fieldname: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{fieldname} must be numeric or a DataFrame: {exc}", field=fieldname) from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InvalidInput(f"{fieldname} must be two-dimensional, got shape {arr.shape}", field=fieldname)
    return arr


def _vector(values: Any, fieldname: str, rows: int) -> np.ndarray:
    try:
        arr = np.asarray(getattr(values, "to_numpy", lambda: values)(), dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{fieldname} must be numeric: {exc}", field=fieldname) from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidInput(f"{fieldname} must be one-dimensional, got shape {arr.shape}", field=fieldname)
    if len(arr) != rows:
        raise InvalidInput(f"{fieldname} has {len(arr)} rows but the features have {rows}", field=fieldname)
    if not np.isfinite(arr).all():
        raise InvalidInput(f"{fieldname} contains NaN or infinite values", field=fieldname)
    return arr


# -- loss models ----------------------------------------------------------------------------------


class _LossModel:
    """A fitted regressor of one per-row loss, and its serialised form."""

    def __init__(self, kind: str, model: Any) -> None:
        self.kind, self.model = kind, model

    @classmethod
    def train(cls, X: np.ndarray, target: np.ndarray, backend: str, seed: int) -> _LossModel:
        if backend in ("auto", "lightgbm"):
            try:
                import lightgbm as lgb
            except ImportError:
                if backend == "lightgbm":
                    raise InvalidInput(
                        "backend 'lightgbm' needs the lightgbm package (pip install carnet[lightgbm])",
                        field="backend",
                    ) from None
            else:
                regressor = lgb.LGBMRegressor(
                    n_estimators=200,
                    learning_rate=0.05,
                    num_leaves=15,
                    min_child_samples=40,
                    subsample=0.8,
                    subsample_freq=1,
                    colsample_bytree=0.9,
                    reg_lambda=1.0,
                    random_state=seed,
                    deterministic=True,
                    force_row_wise=True,
                    n_jobs=1,
                    verbose=-1,
                )
                regressor.fit(X, target)
                return cls("lightgbm", regressor.booster_)
        from sklearn.ensemble import HistGradientBoostingRegressor

        model = HistGradientBoostingRegressor(
            max_iter=200,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        ).fit(X, target)
        return cls("sklearn", model)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return cast("np.ndarray", np.clip(np.asarray(self.model.predict(X), dtype=float), 0.0, None))

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "lightgbm":
            return {"kind": "lightgbm", "model": self.model.model_to_string()}
        import skops.io as sio

        return {"kind": "sklearn", "model": base64.b64encode(sio.dumps(self.model)).decode("ascii")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _LossModel:
        kind = data.get("kind")
        if kind == "lightgbm":
            import lightgbm as lgb

            return cls(kind, lgb.Booster(model_str=str(data["model"])))
        if kind == "sklearn":
            import skops.io as sio

            raw = base64.b64decode(str(data["model"]))
            untrusted = [t for t in sio.get_untrusted_types(data=raw) if t not in TRUSTED_SKOPS_TYPES]
            if untrusted:
                raise InvalidInput(f"saved DLE loss model holds untrusted types {untrusted!r}", field="data")
            from sklearn.ensemble import HistGradientBoostingRegressor

            model = sio.loads(raw, trusted=list(TRUSTED_SKOPS_TYPES))
            if not isinstance(model, HistGradientBoostingRegressor):
                raise InvalidInput(
                    f"saved DLE loss model is a {type(model).__name__}, not a HistGradientBoostingRegressor",
                    field="data",
                )
            return cls(kind, model)
        raise InvalidInput(f"unknown DLE loss model kind {kind!r}", field="data")


# -- the estimator --------------------------------------------------------------------------------


class DLE:
    """Direct loss estimation of MAE / RMSE for regressors.

    Build it with :meth:`fit` on a labelled reference, then call :meth:`estimate` on windows of
    features and predictions. ``save()`` / ``load()`` keep it as JSON bytes (no pickle).
    """

    def __init__(
        self,
        *,
        encoder: _Encoder,
        models: dict[str, _LossModel],
        reference: dict[str, ReferenceStats],
        band_sigmas: float,
        alert_sigmas: float,
        reference_rows: int,
    ) -> None:
        """From fitted parts (use :meth:`fit` or :meth:`load`)."""
        self._encoder = encoder
        self._models = models
        self.metrics: tuple[str, ...] = tuple(models)
        self.reference = reference
        self.band_sigmas = band_sigmas
        self.alert_sigmas = alert_sigmas
        self.reference_rows = reference_rows

    @property
    def backend(self) -> str:
        """``lightgbm`` or ``sklearn``: what the loss models are."""
        return next(iter(self._models.values())).kind

    @classmethod
    def fit(
        cls,
        reference_features: Any,
        reference_predictions: Any,
        reference_targets: Any,
        *,
        metrics: Sequence[str] = DLE_METRICS,
        chunk_size: int | None = None,
        band_sigmas: float = 3.0,
        alert_sigmas: float = 3.0,
        backend: str = "auto",
        seed: int = 0,
    ) -> DLE:
        """Train the loss models on the reference and measure the metrics' spread across its chunks.

        Args:
            reference_features: the model's input rows (DataFrame, or a 2-D numeric array).
            reference_predictions: the model's predictions for those rows.
            reference_targets: the true values.
            metrics: any of :data:`DLE_METRICS`.
            chunk_size: reference chunk size for the sampling error and alert thresholds
                (default: a tenth of the reference); pick the usual window size.
            band_sigmas: band half-width in standard errors.
            alert_sigmas: alert threshold distance from the reference mean in chunk std devs.
            backend: one of :data:`BACKENDS`.
            seed: seeds the loss models.

        Raises:
            InvalidInput: bad shapes, non-numeric values, unknown metrics or settings.
        """
        metrics_ = check_metrics(metrics, DLE_METRICS)
        if backend not in BACKENDS:
            raise InvalidInput(
                f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}", field="backend"
            )
        bands, alerts = check_sigmas(band_sigmas, "band_sigmas"), check_sigmas(alert_sigmas, "alert_sigmas")
        encoder = _Encoder.fit(reference_features)
        X = encoder.transform(reference_features, "reference_features")
        rows = len(X)
        y_hat = _vector(reference_predictions, "reference_predictions", rows)
        y = _vector(reference_targets, "reference_targets", rows)
        size = resolve_chunk_size(chunk_size, rows)
        design = np.column_stack([X, y_hat])
        error = y - y_hat
        targets = {"mae": np.abs(error), "rmse": error**2}
        models = {m: _LossModel.train(design, targets[m], backend, seed) for m in metrics_}
        per_chunk: dict[str, list[float]] = {m: [] for m in metrics_}
        for part in chunk_slices(rows, size):
            values = realized_metrics("regression", y[part], y_hat[part], metrics=list(metrics_))
            for m in metrics_:
                per_chunk[m].append(values[m])
        reference = {m: ReferenceStats.from_values(v, size) for m, v in per_chunk.items()}
        return cls(
            encoder=encoder,
            models=models,
            reference=reference,
            band_sigmas=bands,
            alert_sigmas=alerts,
            reference_rows=rows,
        )

    def estimate(self, window_features: Any, window_predictions: Any) -> list[Estimate]:
        """Estimated MAE / RMSE of one window without targets, with bands and alert flags.

        Raises:
            InvalidInput: features unlike the reference's, mismatched lengths, or an empty window.
        """
        X = self._encoder.transform(window_features, "window_features")
        rows = len(X)
        if rows == 0:
            raise InvalidInput("window_features has no rows: nothing to estimate", field="window_features")
        y_hat = _vector(window_predictions, "window_predictions", rows)
        design = np.column_stack([X, y_hat])
        out = []
        for metric, model in self._models.items():
            loss = float(model.predict(design).mean())
            value = math.sqrt(loss) if metric == "rmse" else loss
            out.append(
                make_estimate(
                    metric,
                    value,
                    self.reference[metric],
                    rows,
                    band_sigmas=self.band_sigmas,
                    alert_sigmas=self.alert_sigmas,
                    greater_is_better=False,
                    bounds=(0.0, math.inf),
                )
            )
        return out

    def realized(self, window_predictions: Any, window_targets: Any) -> dict[str, float]:
        """The metrics DLE estimates, realized on a window whose targets arrived (carnet's metrics)."""
        return realized_metrics("regression", window_targets, window_predictions, metrics=list(self.metrics))

    def to_dict(self) -> dict[str, Any]:
        """The fitted state, JSON-ready (loss models as LightGBM text or base64 skops bytes)."""
        return {
            "metrics": list(self.metrics),
            "band_sigmas": self.band_sigmas,
            "alert_sigmas": self.alert_sigmas,
            "reference_rows": self.reference_rows,
            "encoder": self._encoder.to_dict(),
            "models": {m: model.to_dict() for m, model in self._models.items()},
            "reference": {m: s.to_dict() for m, s in self.reference.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DLE:
        """The inverse of :meth:`to_dict`."""
        try:
            return cls(
                encoder=_Encoder.from_dict(data["encoder"]),
                models={m: _LossModel.from_dict(v) for m, v in data["models"].items()},
                reference={m: ReferenceStats.from_dict(v) for m, v in data["reference"].items()},
                band_sigmas=float(data["band_sigmas"]),
                alert_sigmas=float(data["alert_sigmas"]),
                reference_rows=int(data["reference_rows"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"not a DLE state: {type(exc).__name__}: {exc}", field="data") from None

    def save(self) -> bytes:
        """The fitted estimator as UTF-8 JSON bytes (for the artifact store)."""
        return dump_state(_FORMAT, self.to_dict())

    @classmethod
    def load(cls, data: bytes) -> DLE:
        """The estimator saved by :meth:`save`."""
        return cls.from_dict(load_state(_FORMAT, data))
