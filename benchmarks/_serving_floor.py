"""The floor of ``benchmarks/bench_serving.py``: a bare Starlette app calling ``pipeline.predict``.

It does the minimum any model server must do for one request: parse the JSON body
(MLflow's ``dataframe_split``), build a DataFrame, call ``predict`` and encode the answer.
No validation, no batching, no logging. With ``--null`` it answers a constant without
parsing or predicting: the ceiling of the HTTP stack and the load generator on this machine.

    python benchmarks/_serving_floor.py --model pipeline.pkl --port 8000 [--null]
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path
from typing import Any

SEED = 0


def fit_pipeline() -> Any:
    """The benchmark's model: StandardScaler + LogisticRegression on the breast-cancer data."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED)).fit(X, y)


def save_pipeline(pipeline: Any, path: Path) -> None:
    """Pickle the fitted pipeline, with the scikit-learn version next to it (``<path>.json``)."""
    import sklearn

    path.write_bytes(pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL))
    path.with_suffix(".json").write_text(json.dumps({"sklearn": sklearn.__version__}))


def load_pipeline(path: str | Path) -> Any:
    """The pickled pipeline when this environment has the same scikit-learn, else the same fit here
    (same data, same seed): a pickle is not read across scikit-learn versions."""
    import sklearn

    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    if meta["sklearn"] != sklearn.__version__:
        return fit_pipeline()
    return pickle.loads(path.read_bytes())  # noqa: S301 - written by bench_serving.py a moment ago


def build_app(model_path: str, null: bool = False) -> Any:
    """The Starlette app: ``GET /health`` and ``POST /invocations``."""
    import pandas as pd
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    pipeline = load_pipeline(model_path)

    async def health(request: Request) -> Response:
        return Response(b"ok")

    async def invocations(request: Request) -> Response:
        split = (await request.json())["dataframe_split"]
        frame = pd.DataFrame(split["data"], columns=split["columns"])
        return JSONResponse({"predictions": pipeline.predict(frame).tolist()})

    constant = b'{"predictions":[0]}'

    async def null_invocations(request: Request) -> Response:
        await request.body()
        return Response(constant, media_type="application/json")

    routes = [
        Route("/health", health),
        Route("/invocations", null_invocations if null else invocations, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="pickled fitted pipeline")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--null", action="store_true", help="answer a constant (calibration)")
    a = p.parse_args()
    uvicorn.run(build_app(a.model, a.null), host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
