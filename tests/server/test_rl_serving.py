"""A reinforcement-learning policy served by carnet serve over real HTTP: a Triton client on OIP v2
with the observation tensor, an MLflow-style /invocations call, observations outside the space
refused with the bound named, and the prediction log holding the observation columns."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from test_inference_server import serve

from carnet import Client
from carnet.inference.predlog import PredictionLog

SPEC = {
    "task": "rl",
    "task_options": {"env": "CartPole-v1", "total_timesteps": 1024, "eval_episodes": 1, "eval_seeds": [0]},
    "model": "ppo",
    "seed": 0,
}


def test_a_served_policy_answers_triton_and_mlflow_clients(tmp_path: Path) -> None:
    import gymnasium
    import tritonclient.http as triton

    ws = Client(str(tmp_path / "ws"))
    trained = ws.train(SPEC)
    ws.register_model(trained.run_id, "served")
    ws.set_model_alias("served", "production", 1)
    ws.log_dataframe(_observations(200), "pole-observations")  # the reference a monitor compares with
    ws.create_monitor(
        {"name": "pole", "model": "served@production", "reference": "pole-observations@1", "window": "1h"}
    )
    predlog = PredictionLog(ws.services.deployments.prediction_sink(), max_rows_per_file=10_000)
    s = serve(ws, ("served@production",), predlog=predlog)
    try:
        env = gymnasium.make("CartPole-v1")
        observations = np.stack([env.reset(seed=i)[0] for i in range(6)]).astype(np.float32)
        policy = ws.load_model("served/1")
        expected = policy.predict(observations)
        client = triton.InferenceServerClient(url=s.url.removeprefix("http://"))
        assert client.is_model_ready("served")
        tensor = triton.InferInput("observation", list(observations.shape), "FP32")
        tensor.set_data_from_numpy(observations, binary_data=True)
        result = client.infer("served", [tensor], outputs=[triton.InferRequestedOutput("predict")])
        np.testing.assert_array_equal(result.as_numpy("predict"), expected)
        r = httpx.post(f"{s.url}/invocations", json={"instances": observations[:2].tolist()})
        assert r.status_code == 200 and r.json()["predictions"] == expected[:2].tolist()
        bad = observations[:1].copy()
        bad[0, 2] = 1.0  # the pole angle's bound is 0.418 rad
        r = httpx.post(
            f"{s.url}/v2/models/served/infer",
            json={
                "inputs": [
                    {"name": "observation", "shape": [1, 4], "datatype": "FP32", "data": bad.ravel().tolist()}
                ]
            },
        )
        assert (
            r.status_code == 400
            and "element [2] = 1 is outside the space (its high bound is 0.41" in r.json()["error"]
        )
        r = httpx.post(f"{s.url}/invocations", json={"instances": [[0.0, 0.0, 0.0]]})
        assert r.status_code == 400
    finally:
        s.stop()
    import pyarrow.parquet as pq

    files = ws.services.deployments.prediction_files(model="served")
    assert sum(f.rows for f in files) == 8  # 6 + 2 answered; refused requests are not logged as traffic
    table = pq.read_table(io.BytesIO(ws.services.ctx.artifacts.get_bytes(files[0].digest)))
    assert {"input.obs_0", "input.obs_3", "output.predict"} <= set(table.column_names)
    done = ws.run_monitor("pole", flush=True)  # observation drift, like feature drift
    (window,) = done.windows
    assert window.metrics["rows"] == 8 and {"drift.obs_0", "drift.share_drifted"} <= set(window.metrics)


def _observations(n: int) -> pd.DataFrame:
    """Observations of CartPole-v1 under a random policy, as the policy's input columns."""
    import gymnasium

    env = gymnasium.make("CartPole-v1")
    rows, obs = [], env.reset(seed=0)[0]
    for i in range(n):
        rows.append(obs)
        obs, _, done, cut, _ = env.step(i % 2)
        if done or cut:
            obs = env.reset(seed=i)[0]
    return pd.DataFrame(np.asarray(rows, dtype=np.float32), columns=[f"obs_{i}" for i in range(4)])
