"""The BentoML side of ``benchmarks/bench_serving.py``: one ``@bentoml.service`` (BentoML 1.x API).

The model is the pickled pipeline named by ``BENCH_SERVING_MODEL`` (or the same fit, when the
bento venv's scikit-learn differs). The API takes a numpy array, ``{"data": [[...], ...]}``:
the same JSON list of rows as MLflow's ``dataframe_split`` (BentoML's default for a DataFrame
argument would be the records orient, with every column name repeated in every row), and
builds the DataFrame the pipeline was fitted on. Three routes, one process:

- ``/predict``: the plain API (BentoML's defaults);
- ``/predict_batched``: the same with adaptive batching on, BentoML's default settings
  (``max_batch_size=100``, ``max_latency_ms=60000``);
- ``/predict_batched_20ms``: adaptive batching with ``max_latency_ms=20`` (a latency goal as
  low as the benchmark's p99 target).

    BENCH_SERVING_MODEL=pipeline.pkl bentoml serve _serving_bento:Cancer --port 3000
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import bentoml
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serving_floor import load_pipeline  # noqa: E402


@bentoml.service
class Cancer:
    """StandardScaler + LogisticRegression on the breast-cancer data."""

    def __init__(self) -> None:
        import pandas as pd

        self.pipeline = load_pipeline(os.environ["BENCH_SERVING_MODEL"])
        self.columns = list(self.pipeline.feature_names_in_)
        self.frame = pd.DataFrame

    @bentoml.api
    def predict(self, data: np.ndarray) -> np.ndarray:
        return self.pipeline.predict(self.frame(data, columns=self.columns))

    @bentoml.api(batchable=True)
    def predict_batched(self, data: np.ndarray) -> np.ndarray:
        return self.pipeline.predict(self.frame(data, columns=self.columns))

    @bentoml.api(batchable=True, max_latency_ms=20)
    def predict_batched_20ms(self, data: np.ndarray) -> np.ndarray:
        return self.pipeline.predict(self.frame(data, columns=self.columns))
