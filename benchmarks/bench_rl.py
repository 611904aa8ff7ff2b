"""What carnet adds to reinforcement learning: the cost of tracking an agent and of serving its policy.

Measured on this machine, side by side in one run:

1. **Tracking overhead**: PPO on CartPole-v1 for 30,000 steps (torch on one thread, seed 0),
   three ways, each repeated 5 times in rotating order: plain Stable-Baselines3 ``model.learn``
   (no callback); carnet's tracking callback with the metrics collected and dropped
   (``learn(model, N, log=...)``); and carnet's tracked run minus the evaluation: the callback
   feeding the rl service's recorder, which writes every metric value into a run of a real
   workspace. The median seconds, the ratio to plain (medians, and fastest runs), the metric
   values written per run, and the time spent inside carnet's callback hooks (and the final
   write) over the rest of the training: the overhead measured from within, which the
   machine's noise does not blur.
2. **Serving latency of a policy**: a PPO CartPole policy trained and registered through carnet,
   served by ``carnet serve NAME/1``; 2,000 sequential single-observation requests (after 200
   warm-up) over one keep-alive connection to the Open Inference Protocol v2 ``/infer`` and to
   the MLflow-compatible ``/invocations``; batches of 64 observations to ``/infer``; and the
   in-process floor: the loaded carnet policy's ``predict`` and SB3's own ``model.predict``.
   p50/p90/p99 in ms, requests/s and observations/s.

    python benchmarks/bench_rl.py [--steps 30000] [--repeats 5] [--json PATH] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

ENV = "CartPole-v1"
MODES = ("plain", "callback", "tracked")
LABELS = {
    "plain": "plain SB3 `model.learn`",
    "callback": "carnet callback, metrics collected",
    "tracked": "carnet tracked run (recorder -> workspace), no evaluation",
}
MODEL = "cartpole-policy"


def _timed_callback(log: Callable[[Any, int], None]) -> tuple[Any, list[float]]:
    """carnet's tracking callback with the time spent in its hooks added up (seconds)."""
    from carnet.training.rl import TrackingCallback

    callback = TrackingCallback(log)
    spent = [0.0]
    for hook in ("_on_step", "_on_rollout_start", "_on_rollout_end", "_on_training_end"):
        inner = getattr(callback, hook)

        def timed(*args: Any, _inner: Any = inner) -> Any:
            start = time.perf_counter()
            try:
                return _inner(*args)
            finally:
                spent[0] += time.perf_counter() - start

        setattr(callback, hook, timed)
    return callback, spent


def _learn_once(mode: str, steps: int, tracking: Any) -> tuple[float, int, int, float]:
    """Seconds of one training of ``mode``, the steps it took, the metric values it wrote and the
    seconds spent inside carnet's callback (the final flush of a tracked run included)."""
    from carnet.domain import RunStatus
    from carnet.services.rl_training import _Recorder
    from carnet.training.rl import prepare

    vec, model = prepare(ENV, "ppo", seed=0)
    try:
        if mode == "plain":
            start = time.perf_counter()
            model.learn(total_timesteps=steps)
            return time.perf_counter() - start, int(model.num_timesteps), 0, 0.0
        if mode == "callback":
            counted = [0]

            def log(metrics: Any, step: int) -> None:
                counted[0] += len(metrics)

            callback, spent = _timed_callback(log)
            start = time.perf_counter()
            model.learn(total_timesteps=steps, callback=callback)
            return time.perf_counter() - start, int(model.num_timesteps), counted[0], spent[0]
        run = tracking.create_run("bench-rl", "tracked")
        rec = _Recorder(tracking, run.id)
        callback, spent = _timed_callback(rec)
        start = time.perf_counter()
        model.learn(total_timesteps=steps, callback=callback)
        flushed = time.perf_counter()
        rec.flush()
        seconds = time.perf_counter() - start
        spent[0] += time.perf_counter() - flushed
        tracking.end_run(run.id, RunStatus.FINISHED)
        stored = tracking.get_run(run.id).metrics
        written = sum(len(tracking.metric_history(run.id, k)) for k in stored)
        return seconds, int(model.num_timesteps), written, spent[0]
    finally:
        vec.close()


def tracking_overhead(steps: int, repeats: int, workspace: Path) -> dict[str, Any]:
    import carnet

    client = carnet.Client(str(workspace))
    tracking = client.services.tracking
    seconds: dict[str, list[float]] = {m: [] for m in MODES}
    own: dict[str, list[float]] = {m: [] for m in MODES}
    out: dict[str, Any] = {"steps_requested": steps, "repeats": repeats, "modes": {}}
    for r in range(repeats):
        for mode in MODES[r % len(MODES) :] + MODES[: r % len(MODES)]:
            took, done, written, inside = _learn_once(mode, steps, tracking)
            seconds[mode].append(took)
            own[mode].append(inside / (took - inside) if took > inside else 0.0)
            out["steps_taken"] = done
            out["modes"].setdefault(mode, {})["metric_values_per_run"] = written
            print(
                f"repeat {r}: {mode:8s} {took:6.2f}s  {done} steps  {written} metric values  "
                f"{1000 * inside:.1f} ms in carnet",
                flush=True,
            )
    client.close()
    plain = statistics.median(seconds["plain"])
    for mode in MODES:
        median = statistics.median(seconds[mode])
        out["modes"][mode].update(
            seconds=seconds[mode],
            median_seconds=median,
            ratio_to_plain=median / plain,
            fastest_ratio_to_plain=min(seconds[mode]) / min(seconds["plain"]),
            own_time_share=statistics.median(own[mode]),
        )
    return out


def _percentiles(times: list[float], per_call: int = 1) -> dict[str, float]:
    ms = 1000 * np.asarray(times)
    total = float(np.sum(times))
    return {
        "n": len(times),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "requests_per_second": len(times) / total,
        "observations_per_second": per_call * len(times) / total,
    }


def _time(call: Callable[[Any], Any], items: list[Any], warmup: int) -> list[float]:
    for item in items[:warmup]:
        call(item)
    times = []
    for item in items[warmup:]:
        start = time.perf_counter()
        call(item)
        times.append(time.perf_counter() - start)
    return times


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serving_latency(workspace: Path, requests: int, warmup: int, batch: int) -> dict[str, Any]:
    import gymnasium
    import httpx

    import carnet

    client = carnet.Client(str(workspace))
    spec = {
        "task": "rl",
        "task_options": {"env": ENV, "total_timesteps": 5000, "eval_episodes": 2, "eval_seeds": [0, 1],
                         "eval_every": 0},
        "model": "ppo",
        "seed": 0,
    }  # fmt: skip
    outcome = client.train(spec)
    registered = client.register_model(outcome.run_id, MODEL)
    ref = f"{MODEL}/{registered.version}"
    policy = client.load_model(ref)
    sb3_model = outcome.fitted  # the trained SB3 model itself
    client.close()
    env = gymnasium.make(ENV)
    observations = [env.reset(seed=i)[0] for i in range(warmup + requests)]
    env.close()
    rows = [[float(x) for x in o] for o in observations]
    results: dict[str, Any] = {"model": ref, "mean_return": outcome.metrics.get("mean_return")}
    results["in_process_carnet_policy"] = _percentiles(_time(policy.predict, observations, warmup))
    results["in_process_sb3_predict"] = _percentiles(
        _time(lambda o: sb3_model.predict(o, deterministic=True), observations, warmup)
    )
    port = _free_port()
    carnet_cli = Path(sys.executable).parent / "carnet"
    log = open(workspace.parent / "serve.log", "wb")  # noqa: SIM115 - closed with the server
    server = subprocess.Popen(
        [str(carnet_cli), "--uri", str(workspace), "serve", ref, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            started = time.perf_counter()
            while True:
                try:
                    if http.get("/v2/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError(f"carnet serve did not become ready: {log.name}")
                time.sleep(0.2)
            results["server_ready_seconds"] = time.perf_counter() - started

            def post(path: str, body: dict[str, Any]) -> Any:
                reply = http.post(path, json=body)
                if reply.status_code != 200:
                    raise RuntimeError(f"{path}: {reply.status_code} {reply.text[:300]}")
                return reply.json()

            def v2(obs: list[list[float]]) -> Any:
                tensor = {"name": "observation", "shape": [len(obs), 4], "datatype": "FP32",
                          "data": [x for o in obs for x in o]}  # fmt: skip
                return post(f"/v2/models/{MODEL}/infer", {"inputs": [tensor]})

            first = v2(rows[:1])["outputs"][0]["data"][0]
            assert first == int(policy.predict(observations[0])), "served action differs from in-process"
            results["v2_infer"] = _percentiles(_time(lambda r: v2([r]), rows, warmup))
            results["mlflow_invocations"] = _percentiles(
                _time(lambda r: post("/invocations", {"instances": [r]}), rows, warmup)
            )
            starts = [(i * batch) % (len(rows) - batch) for i in range(20 + requests // 4)]
            batches = [rows[j : j + batch] for j in starts]
            results[f"v2_infer_batch_{batch}"] = _percentiles(_time(v2, batches, 20), per_call=batch)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/rl.json"))
    parser.add_argument("--markdown", type=Path, default=Path("benchmarks/results/rl.md"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="carnet-rl-"))
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "stable_baselines3": version("stable-baselines3"),
            "gymnasium": version("gymnasium"),
            "torch_threads": torch.get_num_threads(),
        },
    }
    results["tracking"] = tracking_overhead(args.steps, args.repeats, tmp / "tracking-ws")
    results["serving"] = serving_latency(tmp / "serving-ws", args.requests, args.warmup, args.batch)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    tr = results["tracking"]
    lines = [
        f"PPO on {ENV}, {tr['steps_requested']:,} steps requested ({tr['steps_taken']:,} taken: whole "
        f"rollouts), torch on 1 thread, median of {tr['repeats']} in rotating order; "
        f"{results['machine']['cpus']} CPUs.",
        "",
        "| training | median (s) | runs (s) | ratio to plain (medians) | ratio (fastest runs) | "
        "time inside carnet / the rest | metric values per run |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        r = tr["modes"][mode]
        runs = ", ".join(f"{s:.2f}" for s in r["seconds"])
        written = r["metric_values_per_run"] if mode != "plain" else "-"
        share = f"{100 * r['own_time_share']:.2f}%" if mode != "plain" else "-"
        lines.append(
            f"| {LABELS[mode]} | {r['median_seconds']:.2f} | {runs} | {r['ratio_to_plain']:.3f} | "
            f"{r['fastest_ratio_to_plain']:.3f} | {share} | {written} |"
        )
    sv = results["serving"]
    lines += [
        "",
        f"Serving `{sv['model']}` (PPO CartPole policy) with `carnet serve`, one keep-alive connection, "
        "sequential requests after warm-up.",
        "",
        "| path | requests | p50 (ms) | p90 (ms) | p99 (ms) | requests/s | observations/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = {
        "in_process_sb3_predict": "in process: SB3 `model.predict`",
        "in_process_carnet_policy": "in process: carnet policy `predict`",
        "v2_infer": "HTTP: OIP v2 `/infer`, 1 observation",
        "mlflow_invocations": "HTTP: `/invocations`, 1 observation",
        f"v2_infer_batch_{args.batch}": f"HTTP: OIP v2 `/infer`, {args.batch} observations",
    }
    for key, label in names.items():
        p = sv[key]
        lines.append(
            f"| {label} | {p['n']} | {p['p50_ms']:.3f} | {p['p90_ms']:.3f} | {p['p99_ms']:.3f} | "
            f"{p['requests_per_second']:,.0f} | {p['observations_per_second']:,.0f} |"
        )
    args.markdown.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
