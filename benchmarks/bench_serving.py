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
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _serving_bench_report import _ratio, _table, report, targets  # noqa: E402, F401 (re-exported)
from _serving_bench_servers import (  # noqa: E402
    HOST,
    Running,
    Server,
    Variant,
    body_rows,
    body_split,
    body_v2,
    body_v2_binary,
    free_port,
    memory_mb,
    parse_predictions,
    process_tree,  # noqa: F401 (re-exported)
)
from _serving_floor import fit_pipeline, save_pipeline  # noqa: E402
from _serving_load import PhaseResult, run_phase, send_one  # noqa: E402

SERVERS = ("null", "floor", "mlflow", "bento", "carnet")
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
