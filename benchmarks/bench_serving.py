"""Model-serving benchmark: carnet serve against MLflow, BentoML and a bare Starlette floor.

Reproduce (see docs/benchmarks.md)::

    bash benchmarks/setup_mlflow_venv.sh       # .bench-venv/ with MLflow 3 (once)
    bash benchmarks/setup_bentoml_venv.sh      # .bench-bento-venv/ with BentoML 1.x (once)
    python benchmarks/bench_serving.py \\
        --json benchmarks/results/serving.json --markdown benchmarks/results/serving.md
    python benchmarks/bench_serving.py --quick     # smoke run, about 1.5 minutes

The same scikit-learn pipeline (StandardScaler + LogisticRegression(max_iter=1000) on the
breast-cancer data, fitted once) is served on 127.0.0.1 by ``carnet serve``, ``mlflow models
serve``, a BentoML service and a bare Starlette app (the floor), one server at a time. Each
round starts every server in turn (the order rotates between rounds), measures its start-up,
memory, single-row latency and throughput (sequential and with 8 concurrent clients) and
1,000-row throughput (for carnet also with the v2 binary tensor data extension: one [1000, 30]
FP64 tensor as raw bytes, binary outputs), then stops it; figures are the medians over rounds.
The load generator (``_serving_load.py``) is a single asyncio process with keep-alive
connections and pre-encoded requests; its CPU cost is reported, and a null server (the floor's
app answering a constant) shows the ceiling of client + HTTP on this machine. Predictions of every server are
checked against ``pipeline.predict`` outside the timed part.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _serving_floor import fit_pipeline, save_pipeline  # noqa: E402
from _serving_load import PhaseResult, http_request, run_phase, send_one  # noqa: E402

HOST = "127.0.0.1"
SERVERS = ("null", "floor", "mlflow", "bento", "carnet")
READY_TIMEOUT = 180.0
CHECK_ROWS = 30  # single rows compared with pipeline.predict before timing (plus one 1,000-row frame)


@dataclass
class Sizes:
    """How many requests each phase sends (``--quick`` cuts them)."""

    seq: int = 2000
    conc: int = 5000
    big: int = 200
    big_rows: int = 1000
    concurrency: int = 8
    warmup: int = 100
    inproc_repeat: int = 100
    max_seconds: float = 12.0  # a phase starts no new request after this (slow servers send fewer)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(seq=300, conc=600, big=20, warmup=50, inproc_repeat=20, max_seconds=5.0)


# -- request bodies and answers --------------------------------------------------------------
def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def body_split(frame: Any) -> bytes:
    """MLflow's ``dataframe_split`` (also the floor's format and carnet's ``/invocations``)."""
    return _dumps({"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}})


def body_rows(frame: Any) -> bytes:
    """The BentoML service's numpy argument: ``{"data": [[...], ...]}``."""
    return _dumps({"data": frame.values.tolist()})


def body_v2(frame: Any) -> bytes:
    """Open Inference Protocol v2: one FP64 input tensor per column."""
    n = len(frame)
    inputs = [{"name": c, "shape": [n], "datatype": "FP64", "data": frame[c].tolist()} for c in frame.columns]
    return _dumps({"inputs": inputs})


def body_v2_binary(frame: Any) -> tuple[bytes, dict[str, str]]:
    """v2 with binary tensor data: the JSON header, then one [rows, columns] FP64 tensor as raw
    little-endian bytes; every output asked for in binary (Triton's ``binary_tensor_data``)."""
    import numpy as np

    data = np.ascontiguousarray(frame.to_numpy(dtype=np.float64), dtype="<f8").tobytes()
    tensor = {"name": "input", "shape": list(frame.shape), "datatype": "FP64"}
    tensor["parameters"] = {"binary_data_size": len(data)}
    head = _dumps({"inputs": [tensor], "parameters": {"binary_data_output": True}})
    return head + data, {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head)),
    }


def _binary_outputs(data: dict[str, Any], rest: bytes) -> None:
    """Fill the ``data`` of the v2 outputs sent as binary data (``rest``: the bytes after the JSON)."""
    import numpy as np

    codes = {"INT64": "<i8", "INT32": "<i4", "FP64": "<f8", "FP32": "<f4", "BOOL": "|b1"}
    offset = 0
    for out in data.get("outputs", []):
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            out["data"] = np.frombuffer(rest[offset : offset + size], codes[out["datatype"]]).tolist()
            offset += size


def _labels(values: list[Any]) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, dict):  # e.g. {"prediction": 1, ...}
            v = next(iter(x for k, x in v.items() if "pred" in k or "label" in k), next(iter(v.values())))
        if isinstance(v, list):
            v = v[0]
        out.append(int(v))
    return out


def parse_predictions(body: bytes) -> list[int]:
    """Predicted labels from any of the servers' answers (v2 binary outputs too)."""
    try:
        data = json.loads(body)
    except ValueError:  # a JSON header followed by binary tensor data (latin-1: one char per byte)
        data, end = json.JSONDecoder().raw_decode(body.decode("latin-1"))
        _binary_outputs(data, body[end:])
    if isinstance(data, list):
        return _labels(data)
    if "outputs" in data:  # v2: the label tensor (integer-typed, or named like one), else the first
        outs = data["outputs"]
        named = [o for o in outs if o.get("name") in ("predict", "prediction", "predictions", "label")]
        typed = [o for o in outs if not str(o.get("datatype", "")).startswith("FP")]
        return _labels((named or typed or outs)[0]["data"])
    return _labels(data["predictions"])


@dataclass
class Variant:
    """One way of calling a server: a route and a body format, and the phases it runs."""

    key: str
    label: str
    path: str
    body: Callable[[Any], bytes | tuple[bytes, dict[str, str]]]  # the body, or with its extra headers
    phases: tuple[str, ...] = ("seq", "conc", "big")
    check: bool = True  # compare its predictions with pipeline.predict (not the null server's constant)

    def request(self, port: int, frame: Any) -> bytes:
        """The raw HTTP request sending ``frame`` to this route."""
        body = self.body(frame)
        body, headers = body if isinstance(body, tuple) else (body, None)
        return http_request(HOST, port, self.path, body, headers=headers)


@dataclass
class Server:
    """How to start one server and call it."""

    key: str
    label: str
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    ready_path: str
    variants: list[Variant]
    ready_method: str = "GET"


# -- processes ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process and its descendants: RSS summed, and PSS (shared pages split)."""
    rss = pss = 0
    pids = process_tree(pid)
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return {"rss_mb": rss / 1024, "pss_mb": pss / 1024, "processes": len(pids)}


class Running:
    """A started server: its process group, port and log."""

    def __init__(self, server: Server, port: int, log: Path) -> None:
        self.server, self.port, self.log_path = server, port, log
        self.log = log.open("wb")
        self.t0 = time.perf_counter()
        cmd = [a.replace("{port}", str(port)) for a in server.cmd]
        self.proc = subprocess.Popen(
            cmd,
            cwd=server.cwd,
            env=server.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> float:
        """Poll the readiness route until it answers 200; seconds since the process started."""
        deadline = self.t0 + READY_TIMEOUT
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited {self.proc.returncode} before ready: {self.tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
                conn.request(self.server.ready_method, self.server.ready_path)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return time.perf_counter() - self.t0
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"not ready after {READY_TIMEOUT:.0f} s: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        lines = self.log_path.read_text(errors="replace").strip().splitlines()[-6:]
        return " | ".join(line[:200] for line in lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        try:  # workers left in the group (the leader gone first)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()


# -- the benchmark -----------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = Sizes.quick() if args.quick else Sizes()
        if args.concurrency:
            self.sizes.concurrency = args.concurrency
        self.mlflow_py = Path(args.mlflow_venv) / "bin" / "python"
        self.bento_py = Path(args.bento_venv) / "bin" / "python"
        self.tmp = Path(tempfile.mkdtemp(prefix="carnet-bench-serving-", dir=args.tmp))
        self.only: list[str] = args.only
        self.samples: dict[str, dict[str, list[float]]] = {}  # key -> metric -> per-round values
        self.raw: list[dict[str, Any]] = []
        self.errors: dict[str, list[str]] = {}
        self.notes: dict[str, str] = {}
        self.versions: dict[str, str] = {}

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def add(self, key: str, metric: str, value: float | None) -> None:
        if value is not None:
            self.samples.setdefault(key, {}).setdefault(metric, []).append(float(value))

    def med(self, key: str, metric: str) -> float | None:
        xs = self.samples.get(key, {}).get(metric)
        return statistics.median(xs) if xs else None

    # -- setup (untimed) ---------------------------------------------------------------------
    def setup(self) -> list[Server]:
        import numpy as np
        from sklearn.datasets import load_breast_cancer

        self.log(f"fitting the pipeline; temporary folder {self.tmp}")
        self.pipeline = fit_pipeline()
        self.model = self.tmp / "pipeline.pkl"
        save_pipeline(self.pipeline, self.model)
        X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
        self.X = X
        self.rows = [X.iloc[[i]] for i in range(len(X))]
        rng = np.random.default_rng(0)
        self.frames = [
            X.iloc[rng.integers(0, len(X), self.sizes.big_rows)].reset_index(drop=True) for _ in range(5)
        ]
        self.check_idx = list(range(0, len(X), max(1, len(X) // CHECK_ROWS)))[:CHECK_ROWS]
        self.expected_rows = [int(self.pipeline.predict(self.rows[i])[0]) for i in self.check_idx]
        self.expected_frame = [int(v) for v in self.pipeline.predict(self.frames[0])]
        servers: list[Server] = []
        for key in SERVERS:
            if self.only and key not in self.only:
                continue
            try:
                server = getattr(self, f"prepare_{key}")()
            except Exception as exc:  # noqa: BLE001 - reported in the tables
                self.errors.setdefault(key, []).append(f"setup: {exc}")
                self.log(f"  {key}: setup failed: {exc}")
                continue
            if server is not None:
                servers.append(server)
        return servers

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CARNET_", "MLFLOW_", "PYTHON"))}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _venv_env(self, python: Path) -> dict[str, str]:
        env = self._base_env()
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def _venv_versions(self, python: Path, modules: str) -> dict[str, str]:
        code = (
            "import importlib.metadata as m, json, sys; "
            f"print(json.dumps({{d: m.version(d) for d in {modules.split()!r}}}))"
        )
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
        return dict(json.loads(out.stdout))

    def prepare_null(self) -> Server:
        return Server(
            "null",
            "null server (constant answer)",
            [
                sys.executable,
                str(HERE / "_serving_floor.py"),
                "--model",
                str(self.model),
                "--null",
                "--host",
                HOST,
                "--port",
                "{port}",
            ],
            self._base_env(),
            self.tmp,
            "/health",
            [
                Variant(
                    "null",
                    "null server (constant answer)",
                    "/invocations",
                    body_split,
                    ("seq", "conc"),
                    check=False,
                )
            ],
        )

    def prepare_floor(self) -> Server:
        return Server(
            "floor",
            "floor: bare Starlette + predict",
            [
                sys.executable,
                str(HERE / "_serving_floor.py"),
                "--model",
                str(self.model),
                "--host",
                HOST,
                "--port",
                "{port}",
            ],
            self._base_env(),
            self.tmp,
            "/health",
            [Variant("floor", "floor: bare Starlette + predict", "/invocations", body_split)],
        )

    def prepare_mlflow(self) -> Server | None:
        if not self.mlflow_py.exists():
            self.notes["mlflow"] = (
                f"no MLflow venv at {self.mlflow_py.parent.parent}: bash benchmarks/setup_mlflow_venv.sh"
            )
            self.errors.setdefault("mlflow", []).append(self.notes["mlflow"])
            return None
        self.versions |= {
            f"mlflow_venv_{k}": v
            for k, v in self._venv_versions(self.mlflow_py, "mlflow scikit-learn pandas").items()
        }
        model_dir = self.tmp / "mlflow-model"
        code = (
            f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
            "from _serving_floor import load_pipeline\n"
            "import mlflow.sklearn\n"
            "from sklearn.datasets import load_breast_cancer\n"
            "X, _ = load_breast_cancer(return_X_y=True, as_frame=True)\n"
            f"mlflow.sklearn.save_model(load_pipeline({str(self.model)!r}), {str(model_dir)!r}, "
            "input_example=X.head(5))\n"
        )
        env = self._venv_env(self.mlflow_py)
        env |= {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
        res = subprocess.run(
            [str(self.mlflow_py), "-c", code], cwd=self.tmp, env=env, capture_output=True, text=True
        )
        if res.returncode != 0:
            raise RuntimeError(f"mlflow.sklearn.save_model failed: {res.stderr.strip()[-400:]}")
        mlflow_cli = self.mlflow_py.parent / "mlflow"
        return Server(
            "mlflow",
            "MLflow: mlflow models serve",
            [
                str(mlflow_cli),
                "models",
                "serve",
                "-m",
                str(model_dir),
                "--env-manager",
                "local",
                "--host",
                HOST,
                "--port",
                "{port}",
            ],
            env,
            self.tmp,
            "/ping",
            [Variant("mlflow", "MLflow: mlflow models serve (1 worker)", "/invocations", body_split)],
        )

    def prepare_bento(self) -> Server | None:
        if not self.bento_py.exists():
            self.notes["bento"] = (
                f"no BentoML venv at {self.bento_py.parent.parent}: bash benchmarks/setup_bentoml_venv.sh"
            )
            self.errors.setdefault("bento", []).append(self.notes["bento"])
            return None
        self.versions |= {
            f"bento_venv_{k}": v
            for k, v in self._venv_versions(self.bento_py, "bentoml scikit-learn pandas").items()
        }
        env = self._venv_env(self.bento_py)
        env |= {
            "BENCH_SERVING_MODEL": str(self.model),
            "BENTOML_HOME": str(self.tmp / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
            "DO_NOT_TRACK": "true",
        }
        return Server(
            "bento",
            "BentoML: bentoml serve",
            [
                str(self.bento_py.parent / "bentoml"),
                "serve",
                "_serving_bento:Cancer",
                "--working-dir",
                str(HERE),
                "--host",
                HOST,
                "--port",
                "{port}",
            ],
            env,
            self.tmp,
            "/readyz",
            [
                Variant("bento", "BentoML: bentoml serve (1 worker)", "/predict", body_rows),
                Variant(
                    "bento_batched",
                    "BentoML, adaptive batching (default settings)",
                    "/predict_batched",
                    body_rows,
                    ("conc",),
                ),
                Variant(
                    "bento_batched_20ms",
                    "BentoML, adaptive batching, max_latency_ms=20",
                    "/predict_batched_20ms",
                    body_rows,
                    ("conc",),
                ),
            ],
        )

    def prepare_carnet(self) -> Server | None:
        probe = subprocess.run(
            [sys.executable, "-m", "carnet.cli.main", "serve", "--help"],
            capture_output=True,
            text=True,
            env=self._base_env(),
        )
        if probe.returncode != 0:
            self.notes["carnet"] = "pending: `carnet serve` is not available in this environment"
            self.log(f"  carnet: {self.notes['carnet']}")
            return None
        ws = self.tmp / "carnet-ws"
        code = (
            f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
            "from _serving_floor import load_pipeline\n"
            "import carnet\n"
            "from sklearn.datasets import load_breast_cancer\n"
            "X, _ = load_breast_cancer(return_X_y=True, as_frame=True)\n"
            f"c = carnet.Client({str(ws)!r})\n"
            f"c.log_model(load_pipeline({str(self.model)!r}), 'cancer', sample=X.head(5), task='binary', "
            "project='bench')\n"
            "c.set_model_alias('cancer', 'production', 1)\n"
        )
        res = subprocess.run(
            [sys.executable, "-c", code], cwd=self.tmp, env=self._base_env(), capture_output=True, text=True
        )
        if res.returncode != 0:
            raise RuntimeError(f"registering the model failed: {res.stderr.strip()[-400:]}")
        return Server(
            "carnet",
            "carnet serve",
            [
                sys.executable,
                "-m",
                "carnet.cli.main",
                "--uri",
                str(ws),
                "serve",
                "cancer@production",
                "--host",
                HOST,
                "--port",
                "{port}",
            ],
            self._base_env(),
            self.tmp,
            "/v2/health/ready",
            [
                Variant("carnet_v2", "carnet serve, v2 infer", "/v2/models/cancer/infer", body_v2),
                Variant(
                    "carnet_v2_binary",
                    "carnet serve, v2 infer, binary tensors",
                    "/v2/models/cancer/infer",
                    body_v2_binary,
                    ("big",),
                ),
                Variant("carnet_mlflow", "carnet serve, /invocations", "/invocations", body_split),
            ],
        )

    # -- measurements ------------------------------------------------------------------------
    def in_process(self) -> None:
        """``pipeline.predict`` in this process on the same 1,000-row frames and single rows."""
        predict = self.pipeline.predict
        for f in self.frames:
            predict(f)
        big, one = [], []
        for i in range(self.sizes.inproc_repeat):
            f = self.frames[i % len(self.frames)]
            t0 = time.perf_counter()
            predict(f)
            big.append(time.perf_counter() - t0)
            r = self.rows[i % len(self.rows)]
            t0 = time.perf_counter()
            predict(r)
            one.append(time.perf_counter() - t0)
        self.add("inproc", "big_rows_per_s", self.sizes.big_rows / statistics.median(big))
        self.add("inproc", "one_row_ms", 1000 * statistics.median(one))
        self.log(
            f"  in-process predict: {self.sizes.big_rows / statistics.median(big):,.0f} rows/s on "
            f"{self.sizes.big_rows}-row frames, {1e6 * statistics.median(one):.0f} µs for one row"
        )

    def check(self, port: int, v: Variant) -> str | None:
        """Compare the server's predictions with ``pipeline.predict``; an error message or None."""
        got = []
        for i in self.check_idx:
            status, body = send_one(HOST, port, v.request(port, self.rows[i]))
            if status != 200:
                return f"check: HTTP {status} {body[:200]!r}"
            got.extend(parse_predictions(body))
        if got != self.expected_rows:
            bad = sum(a != b for a, b in zip(got, self.expected_rows, strict=False))
            return f"check: {bad} of {len(self.expected_rows)} single-row predictions differ"
        if "big" in v.phases:
            status, body = send_one(HOST, port, v.request(port, self.frames[0]))
            if status != 200:
                return f"check ({self.sizes.big_rows} rows): HTTP {status} {body[:200]!r}"
            pred = parse_predictions(body)
            if pred != self.expected_frame:
                bad = sum(a != b for a, b in zip(pred, self.expected_frame, strict=False))
                return f"check: {bad} of {len(self.expected_frame)} predictions of the frame differ"
        return None

    def run_variant(self, port: int, v: Variant, rnd: int) -> None:
        s = self.sizes
        err = self.check(port, v) if v.check else None
        if err:
            self.errors.setdefault(v.key, []).append(err)
            self.log(f"  {v.key}: {err}")
            return
        singles = [v.request(port, r) for r in self.rows]
        bigs = [v.request(port, f) for f in self.frames]
        if "seq" in v.phases:
            run_phase(HOST, port, singles, s.warmup, 1, s.max_seconds)
        run_phase(HOST, port, singles, 2 * s.warmup, s.concurrency, s.max_seconds)
        if "big" in v.phases:
            run_phase(HOST, port, bigs, 3, 1)
        record: dict[str, Any] = {"round": rnd, "variant": v.key}
        phases: list[tuple[str, list[bytes], int, int]] = [
            ("seq", singles, s.seq, 1),
            ("conc", singles, s.conc, s.concurrency),
            ("big", bigs, s.big, 1),
        ]
        shown = []
        for name, reqs, n, conc in phases:
            if name not in v.phases:
                continue
            res: PhaseResult = run_phase(HOST, port, reqs, n, conc, s.max_seconds)
            summ = res.summary()
            record[name] = summ
            if name == "big":
                self.add(v.key, "big_rows_per_s", res.rps * s.big_rows)
                self.add(v.key, "big_p50_ms", summ["p50_ms"])
                shown.append(f"{name} {res.rps * s.big_rows:,.0f} rows/s")
            else:
                self.add(v.key, f"{name}_rps", res.rps)
                self.add(v.key, f"{name}_p50_ms", summ["p50_ms"])
                self.add(v.key, f"{name}_p99_ms", summ["p99_ms"])
                self.add(v.key, f"{name}_errors", res.errors)
                self.add(v.key, f"{name}_requests", res.requests)
                self.add(v.key, f"{name}_client_cpu_us", res.client_cpu_us_per_request)
                self.add(v.key, f"{name}_client_cpu_share", res.client_cpu_share)
                shown.append(
                    f"{name} {res.rps:,.0f} req/s p50 {summ['p50_ms'] or 0:.2f} ms "
                    f"p99 {summ['p99_ms'] or 0:.2f} ms"
                    + (f" ERRORS {res.errors} {dict(res.statuses)}" if res.errors else "")
                )
            if res.errors:
                self.errors.setdefault(f"{v.key}_{name}_observed", []).extend(res.error_samples[:3])
        self.raw.append(record)
        self.log(f"  {v.key}: " + "; ".join(shown))

    def run_server(self, server: Server, rnd: int) -> None:
        port = free_port()
        run = Running(server, port, self.tmp / f"{server.key}-{rnd}.log")
        try:
            ready = run.wait_ready()
            first_req = server.variants[0].request(port, self.rows[0])
            status, body = send_one(HOST, port, first_req)
            first = time.perf_counter() - run.t0
            if status != 200:
                raise RuntimeError(f"first prediction: HTTP {status} {body[:200]!r}")
            mem = memory_mb(run.proc.pid)
            self.add(server.key, "startup_s", ready)
            self.add(server.key, "first_prediction_s", first)
            self.add(server.key, "rss_start_mb", mem["rss_mb"])
            self.add(server.key, "pss_start_mb", mem["pss_mb"])
            self.add(server.key, "processes", mem["processes"])
            self.log(
                f" {server.key}: ready in {ready:.2f} s, first prediction at {first:.2f} s, "
                f"RSS {mem['rss_mb']:.0f} MB (PSS {mem['pss_mb']:.0f} MB, {mem['processes']} processes)"
            )
            for v in server.variants:
                self.run_variant(port, v, rnd)
            if run.proc.poll() is not None:
                raise RuntimeError(f"exited {run.proc.returncode} under load: {run.tail()}")
            mem = memory_mb(run.proc.pid)
            self.add(server.key, "rss_load_mb", mem["rss_mb"])
            self.add(server.key, "pss_load_mb", mem["pss_mb"])
        except Exception as exc:  # noqa: BLE001 - reported in the tables
            self.errors.setdefault(server.key, []).append(f"round {rnd}: {exc}")
            self.log(f" {server.key}: ERROR {exc}")
        finally:
            run.stop()

    def run(self) -> None:
        servers = self.setup()
        for rnd in range(self.args.repeat):
            self.log(f"round {rnd + 1}/{self.args.repeat}")
            self.in_process()
            k = rnd % max(1, len(servers))
            for server in servers[k:] + servers[:k]:
                self.run_server(server, rnd)

    def cleanup(self) -> None:
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def machine(self) -> dict[str, Any]:
        import importlib.metadata as md

        info: dict[str, Any] = {
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
            "command": " ".join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        }
        for dist in ("carnet", "scikit-learn", "pandas", "numpy", "starlette", "uvicorn", "uvloop"):
            try:
                info[dist] = md.version(dist)
            except md.PackageNotFoundError:
                pass
        return info


# -- report --------------------------------------------------------------------------------
ORDER: list[tuple[str, str, str]] = [  # (variant, server, label)
    ("carnet_v2", "carnet", "carnet serve, v2 infer"),
    ("carnet_v2_binary", "carnet", "carnet serve, v2 infer, binary tensors"),
    ("carnet_mlflow", "carnet", "carnet serve, /invocations"),
    ("mlflow", "mlflow", "MLflow `models serve`"),
    ("bento", "bento", "BentoML `serve`"),
    ("bento_batched", "bento", "BentoML, adaptive batching (defaults)"),
    ("bento_batched_20ms", "bento", "BentoML, adaptive batching, max_latency_ms=20"),
    ("floor", "floor", "floor: bare Starlette + predict"),
    ("null", "null", "null server (calibration)"),
]


def _fmt(fmt: str, x: float | None) -> str:
    return "—" if x is None else fmt.format(x)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(head: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A Markdown table; ``align`` has one letter per column (l, r), default: first left, others right."""
    align = align or "l" + "r" * (len(head) - 1)
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return [_row(head), rule, *(_row(r) for r in rows)]


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


@dataclass
class Target:
    """One target of the issue, on carnet's v2 route (for 1,000 rows: its fastest route)."""

    label: str
    value: float | None
    required: str
    ok: bool | None  # None: not measured
    errors: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.errors:
            return "ERROR"
        if self.ok is None:
            return "n/a"
        return "PASS" if self.ok else "FAIL"

    def shown(self, pending: bool) -> str:
        if self.value is None:
            return "pending" if pending else "—"
        if self.required.endswith("x"):
            return f"{self.value:.2f}x"
        return f"{self.value:.0f}" if self.required == "0" else f"{self.value:.2f}"


def targets(b: Bench) -> list[Target]:
    c, cv = b.sizes.concurrency, "carnet_v2"
    rps = b.med(cv, "conc_rps")
    out = []
    for peer, label, need in (
        ("mlflow", "MLflow", 5.0),
        ("bento", "BentoML", 2.0),
        ("floor", "the floor", 1.0),
    ):
        r = _ratio(rps, b.med(peer, "conc_rps"))
        ok = None if r is None else r >= need
        out.append(Target(f"1-row throughput at {c} clients, carnet / {label}", r, f">= {need:g}x", ok))
    p99 = [x for x in (b.med(cv, "seq_p99_ms"), b.med(cv, "conc_p99_ms")) if x is not None]
    worst = max(p99) if p99 else None
    ok = None if worst is None else worst <= 20.0
    out.append(Target("1-row p99 of carnet, ms (worst of sequential and concurrent)", worst, "<= 20 ms", ok))
    errs = b.samples.get(cv, {}).get("conc_errors")
    total = None if errs is None else sum(errs)
    out.append(
        Target(f"failed requests of carnet at {c} clients", total, "0", None if total is None else total == 0)
    )
    routes = [(b.med(k, "big_rows_per_s"), lab) for k, s, lab in ORDER if s == "carnet"]
    best, route = max(((x, lab) for x, lab in routes if x is not None), default=(None, "none measured"))
    r = _ratio(best, b.med("inproc", "big_rows_per_s"))
    out.append(
        Target(
            f"{b.sizes.big_rows:,}-row throughput, carnet / in-process predict (best route: {route})",
            r,
            ">= 0.5x",
            None if r is None else r >= 0.5,
        )
    )
    for t in out:
        t.errors = list(b.errors.get("carnet", [])) + list(b.errors.get(cv, []))
    return out


def report(b: Bench, info: dict[str, Any]) -> str:
    """The Markdown tables: single-row figures, start-up / memory / 1,000 rows, ratios, targets."""
    c, r = b.sizes.concurrency, b.sizes.big_rows
    med, f = b.med, _fmt

    def why(server: str, n: int) -> list[str]:
        """Cells of a server without figures: pending, or failed."""
        reason = b.notes.get(server) or ("ERROR (see below)" if b.errors.get(server) else "—")
        return [reason, *([""] * (n - 1))]

    def absent(key: str, server: str) -> bool:
        """No figures and nothing to say (not selected, or a second route of a failed server)."""
        first = key in ("carnet_v2", server)
        return key not in b.samples and not (first and (server in b.notes or b.errors.get(server)))

    def failed(key: str) -> str:
        n = sum(b.samples[key].get("conc_errors", [0]))
        total = sum(b.samples[key].get("conc_requests", [0]))
        return f"{n:,.0f} of {total:,.0f}" if n else "0"

    single = []
    for k, s, lab in ORDER:
        if absent(k, s) or (k in b.samples and "conc_rps" not in b.samples[k]):
            continue  # (or a route measured with 1,000-row requests only)
        if k not in b.samples:
            single.append([lab, *why(s, 7)])
            continue
        single.append(
            [
                lab,
                f("{:,.0f}", med(k, "seq_rps")),
                f("{:.2f}", med(k, "seq_p50_ms")),
                f("{:.2f}", med(k, "seq_p99_ms")),
                f("{:,.0f}", med(k, "conc_rps")),
                f("{:.2f}", med(k, "conc_p50_ms")),
                f("{:.2f}", med(k, "conc_p99_ms")),
                failed(k),
            ]
        )
    lines = ["### Single-row requests (median of rounds)", ""]
    head = [
        "server",
        "sequential req/s",
        "p50 ms",
        "p99 ms",
        f"{c} clients req/s",
        "p50 ms",
        "p99 ms",
        "failed (all rounds)",
    ]
    lines += _table(head, single)
    inproc = med("inproc", "big_rows_per_s")
    other = []
    for k, s, lab in ORDER:
        if absent(k, s) or k in ("null", "bento_batched", "bento_batched_20ms"):
            continue  # batched BentoML routes: the same process as the plain one
        if s not in b.samples:
            other.append([lab, *why(s, 8)])
            continue
        big = med(k, "big_rows_per_s")
        other.append(
            [
                lab,
                f("{:.2f}", med(s, "startup_s")),
                f("{:.2f}", med(s, "first_prediction_s")),
                f("{:.0f}", med(s, "rss_start_mb")),
                f("{:.0f}", med(s, "rss_load_mb")),
                f("{:.0f}", med(s, "pss_load_mb")),
                f("{:.0f}", med(s, "processes")),
                f("{:,.0f}", big),
                f("{:.0%}", _ratio(big, inproc)),
            ]
        )
    other.append(
        [f"in-process `pipeline.predict` (one row: {f('{:.2f}', med('inproc', 'one_row_ms'))} ms)"]
        + ["—"] * 6
        + [f("{:,.0f}", inproc), "100%"]
    )
    lines += ["", f"### Start-up, memory and {r:,}-row requests (median of rounds)", ""]
    lines += _table(
        [
            "server",
            "ready s",
            "first prediction s",
            "RSS start MB",
            "RSS after load MB",
            "PSS after load MB",
            "processes",
            f"{r:,}-row rows/s",
            "of in-process",
        ],
        other,
    )
    peers = [
        ("mlflow", "MLflow"),
        ("bento", "BentoML"),
        ("bento_batched", "BentoML batched"),
        ("floor", "floor"),
    ]
    ratio_rows = []
    for cv, cl in (("carnet_v2", "v2"), ("carnet_v2_binary", "v2 binary"), ("carnet_mlflow", "/invocations")):
        for pk, pl in peers:
            if cv == "carnet_v2_binary" and (cv not in b.samples or pk == "bento_batched"):
                continue  # 1,000-row requests only
            ratio_rows.append(
                [f"carnet {cl} / {pl}"]
                + [
                    f("{:.2f}x", _ratio(med(cv, m), med(pk, m)))
                    for m in ("seq_rps", "conc_rps", "big_rows_per_s")
                ]
            )
    lines += ["", "### Ratios (carnet / peer, throughput: higher is better for carnet)", ""]
    lines += _table(["", "1 row sequential", f"1 row, {c} clients", f"{r:,} rows"], ratio_rows)
    pending = "carnet" in b.notes
    lines += ["", f"### Targets (carnet serve: v2 infer; {r:,} rows: its best route)", ""]
    lines += _table(
        ["target", "measured", "required", "result"],
        [[t.label, t.shown(pending), t.required, t.verdict] for t in targets(b)],
        "lrll",
    )
    lines += [
        "",
        f"Load generator: one asyncio process (uvloop), {c} keep-alive connections at a time, pre-encoded "
        f"requests. Client CPU per single-row request: {f('{:.0f}', med('null', 'conc_client_cpu_us'))} µs "
        f"against the null server ({f('{:,.0f}', med('null', 'conc_rps'))} req/s at {c} clients, "
        f"{f('{:.0%}', med('null', 'conc_client_cpu_share'))} of one core), "
        f"{f('{:.0f}', med('floor', 'conc_client_cpu_us'))} µs against the floor "
        f"({f('{:.0%}', med('floor', 'conc_client_cpu_share'))} of one core). A phase sends "
        f"{b.sizes.seq:,} (sequential), {b.sizes.conc:,} ({c} clients) or {b.sizes.big} ({r:,}-row) "
        f"requests, or stops starting new ones after {b.sizes.max_seconds:g} s.",
        "",
        f"{info.get('rounds')} round(s); Python {info['python']}, scikit-learn {info.get('scikit-learn')}, "
        f"pandas {info.get('pandas')}, MLflow {b.versions.get('mlflow_venv_mlflow', '—')}, "
        f"BentoML {b.versions.get('bento_venv_bentoml', '—')}, carnet {info.get('carnet', '—')}, "
        f"{info['cpus']} cpus; took {info.get('bench_seconds')} s.",
        "",
        f"Command: `{info['command']}`",
    ]
    problems = {k: v for k, v in b.errors.items() if v}
    if problems:
        lines += ["", "Errors and observations:", ""]
        for k, v in problems.items():
            lines.append(f"- {k}: " + "; ".join(sorted(set(v)))[:600])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="rounds; every server runs once per round (default 3, quick 1)",
    )
    p.add_argument("--quick", action="store_true", help="small sizes and one round unless --repeat is given")
    p.add_argument(
        "--only",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=[],
        help=f"comma-separated servers among {','.join(SERVERS)} (default: all)",
    )
    p.add_argument("--concurrency", type=int, default=0, help="concurrent clients (default 8)")
    p.add_argument("--json", metavar="PATH", help="also write every sample and the medians as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    p.add_argument("--mlflow-venv", default=str(ROOT / ".bench-venv"), help="the MLflow virtual environment")
    p.add_argument(
        "--bento-venv", default=str(ROOT / ".bench-bento-venv"), help="the BentoML virtual environment"
    )
    p.add_argument("--tmp", help="folder for the temporary files (default: the system temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (server logs, models)")
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    unknown = [x for x in args.only if x not in SERVERS]
    if unknown:
        p.error(f"unknown server(s) {unknown}; choose among {', '.join(SERVERS)}")

    bench = Bench(args)
    info = bench.machine()
    bench.log(f"machine: {json.dumps(info)}")
    t0 = time.perf_counter()
    try:
        bench.run()
    finally:
        bench.cleanup()
    info |= bench.versions
    info["bench_seconds"] = round(time.perf_counter() - t0, 1)
    info["loadavg_end"] = os.getloadavg()
    info["rounds"] = args.repeat
    info["sizes"] = bench.sizes.__dict__
    text = report(bench, info)
    print()
    print(text)
    tgs = targets(bench)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        medians = {k: {m: statistics.median(v) for m, v in ms.items()} for k, ms in bench.samples.items()}
        doc = {
            "machine": info,
            "medians": medians,
            "samples": bench.samples,
            "targets": [
                {"target": t.label, "measured": t.value, "required": t.required, "result": t.verdict}
                for t in tgs
            ],
            "notes": bench.notes,
            "errors": bench.errors,
            "phases": bench.raw,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(text + "\n")
    failed = [t for t in tgs if t.verdict in ("FAIL", "ERROR")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
