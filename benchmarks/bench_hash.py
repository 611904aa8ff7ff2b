"""Hash throughput: sha256 (hashlib) vs blake3 (single and multi-threaded), in memory and from a file.

Run: ``python benchmarks/bench_hash.py [--mb 200] [--repeat 3]``. Prints MB/s for each and the ratios
against sha256. The file case reads in 4 MiB chunks, the way the artifact store hashes while copying.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Callable

CHUNK = 4 * 1024 * 1024


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _hashers() -> dict[str, Callable[[], object]]:
    hashers: dict[str, Callable[[], object]] = {"sha256": hashlib.sha256}
    try:
        import blake3
    except ImportError:
        print("blake3 not installed: only sha256 measured")
        return hashers
    hashers["blake3 (1 thread)"] = blake3.blake3
    hashers["blake3 (AUTO threads)"] = lambda: blake3.blake3(max_threads=blake3.blake3.AUTO)
    return hashers


def _hash_memory(make: Callable[[], object], data: memoryview) -> str:
    h = make()
    h.update(data)  # type: ignore[attr-defined]
    return h.hexdigest()  # type: ignore[attr-defined]


def _hash_memory_chunked(make: Callable[[], object], data: memoryview) -> str:
    h = make()
    for i in range(0, len(data), CHUNK):
        h.update(data[i : i + CHUNK])  # type: ignore[attr-defined]
    return h.hexdigest()  # type: ignore[attr-defined]


def _hash_file(make: Callable[[], object], path: str) -> str:
    h = make()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])  # type: ignore[attr-defined]
    return h.hexdigest()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200, help="data size in MB (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    args = parser.parse_args()
    size = args.mb * 1024 * 1024
    data = memoryview(os.urandom(size))
    print(f"{args.mb} MiB, best of {args.repeat}, cpus={os.cpu_count()}")

    with tempfile.NamedTemporaryFile(delete=False) as tmp:
        tmp.write(data)
        path = tmp.name
    try:
        cases: dict[str, Callable[[Callable[[], object]], str]] = {
            "memory, one update": lambda make: _hash_memory(make, data),
            "memory, 4 MiB chunks": lambda make: _hash_memory_chunked(make, data),
            "file (page cache), 4 MiB chunks": lambda make: _hash_file(make, path),
        }
        for case, run in cases.items():
            print(f"\n{case}")
            rates: dict[str, float] = {}
            for name, make in _hashers().items():
                seconds = _best(lambda make=make, run=run: run(make), args.repeat)
                rates[name] = size / seconds / 1e6
                print(f"  {name:<24} {rates[name]:9.0f} MB/s")
            for name, rate in rates.items():
                if name != "sha256":
                    print(f"  ratio {name} / sha256: {rate / rates['sha256']:.2f}x")
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
