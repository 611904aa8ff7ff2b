"""Servers of ``benchmarks/bench_serving.py``: request bodies, parsing the answers, starting and
stopping the server processes, measuring their memory.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _serving_load import http_request

HOST = "127.0.0.1"
READY_TIMEOUT = 180.0


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
