"""The loop of a :class:`~carnet.training.helper.HelperProcess` child: run pickled calls, reply.

Started as ``python -m carnet.training._helper_main``. Requests arrive on stdin and replies
leave on a private copy of the original stdout; file descriptor 1 itself is pointed at
``/dev/null`` so anything the called code prints cannot corrupt the stream. The loop ends
when stdin closes (the parent finished or died).
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from typing import IO, Any

#: the 8-byte little-endian length (and call id) prefix
HEADER = struct.Struct("<Q")


def read_frame(stream: IO[bytes]) -> bytes | None:
    """One length-prefixed frame, or None at end of stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


def write_frame(stream: IO[bytes], body: bytes) -> None:
    """Write one length-prefixed frame and flush it."""
    stream.write(HEADER.pack(len(body)))
    stream.write(body)
    stream.flush()


def setup(path: list[str]) -> None:
    """Take the parent's import path, so the same modules resolve here."""
    sys.path[:] = [p for p in path if p] + [p for p in sys.path if p not in path]


#: reply statuses: the call returned, the call raised, the call could not be rebuilt here
OK, RAISED, UNAVAILABLE = "ok", "raised", "unavailable"


def _reply(call_id: int, status: str, value: Any) -> bytes:
    try:
        return pickle.dumps((call_id, status, value), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception goes back as text
        text = f"{type(value).__name__}: {value} (not picklable: {exc})"
        return pickle.dumps((call_id, UNAVAILABLE if status == OK else status, RuntimeError(text)))


def main() -> int:
    """Serve requests (a call id, then a pickled ``(fn, args, kwargs)``) until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's; it closes us
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    requests = sys.stdin.buffer
    while (frame := read_frame(requests)) is not None:
        (call_id,) = HEADER.unpack_from(frame)
        try:
            fn, args, kwargs = pickle.loads(memoryview(frame)[HEADER.size :])
        except BaseException as exc:  # noqa: BLE001 - e.g. a class only the parent's __main__ has
            write_frame(replies, _reply(call_id, UNAVAILABLE, exc))
            continue
        try:
            status, value = OK, fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure is the caller's to see
            status, value = RAISED, exc
        write_frame(replies, _reply(call_id, status, value))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
