"""Binary tensor data of the Open Inference Protocol (the ``binary_tensor_data`` extension).

A body is the JSON inference header followed by the raw bytes of the tensors, and the HTTP
header ``Inference-Header-Content-Length`` gives the JSON's length. A binary tensor carries
``"parameters": {"binary_data_size": N}`` instead of ``data``; the bytes of the binary tensors
follow one another in the order of the tensors. Values are little-endian and row-major, BOOL
is one byte (0 or 1), and a BYTES element is a 4-byte little-endian length and its bytes.

Numeric tensors are read by ``np.frombuffer`` without a copy (unless their bytes are not
aligned for the dtype): the arrays are then read-only views of the request body.
Clients ask for binary outputs with ``"binary_data": true`` in a requested output's
parameters, or ``"binary_data_output": true`` in the request's (an output's own flag wins).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from carnet.errors import InvalidInput

__all__ = [
    "HEADER_LENGTH",
    "V2_DTYPES",
    "input_chunks",
    "join_body",
    "read_tensor",
    "requested_outputs",
    "split_body",
    "tensor_bytes",
]

#: the HTTP header giving the length of the JSON part of a body with binary tensors
HEADER_LENGTH = "Inference-Header-Content-Length"

#: numpy dtype (native byte order) of each v2 datatype; None for BYTES
V2_DTYPES: dict[str, np.dtype | None] = {
    "BOOL": np.dtype(bool),
    **{
        f"{p}{b}": np.dtype(f"{c}{b // 8}") for p, c in (("UINT", "u"), ("INT", "i")) for b in (8, 16, 32, 64)
    },
    **{f"FP{b}": np.dtype(f"f{b // 8}") for b in (16, 32, 64)},
    "BYTES": None,
}

_LENGTH = struct.Struct("<I")
_BYTES_FORM = "a BYTES element is a 4-byte little-endian length followed by that many bytes"


# ----------------------------------------------------------------------------- requests


def split_body(body: bytes, header_length: str | int | None) -> tuple[bytes | memoryview, memoryview]:
    """The JSON inference header of ``body`` and the binary data after it.

    Args:
        body: the request body.
        header_length: the ``Inference-Header-Content-Length`` header (None: all JSON).

    Raises:
        InvalidInput: the length is not a whole number of bytes within the body
            (``field="Inference-Header-Content-Length"``).
    """
    view = memoryview(body)
    if header_length is None:
        return body, view[len(view) :]
    text = str(header_length).strip()
    if not text.isdigit() or int(text) > len(view):
        raise InvalidInput(
            f"{HEADER_LENGTH} is {str(header_length)[:40]!r}; it must be the byte length of the JSON "
            f"inference header, at most the body's {len(view)} bytes",
            field=HEADER_LENGTH,
        )
    n = int(text)
    return view[:n], view[n:]


def input_chunks(inputs: Sequence[Any], section: memoryview) -> list[memoryview | None]:
    """The binary data of each input, in order; None for an input sent with JSON ``data``.

    Raises:
        InvalidInput: a ``binary_data_size`` that is not a byte count, an input with both
            ``data`` and ``binary_data_size``, or sizes that do not add up to the binary data
            of the body (``field`` names the input).
    """
    chunks: list[memoryview | None] = []
    offset, last = 0, None
    for i, raw in enumerate(inputs):
        params = raw.get("parameters") if type(raw) is dict else None
        size = params.get("binary_data_size") if type(params) is dict else None
        if size is None:
            chunks.append(None)
            continue
        name = str(raw.get("name") or f"inputs[{i}]")
        if type(size) is not int or size < 0:
            raise InvalidInput(
                f"input {name!r} has binary_data_size {size!r}; it must be a byte count (an integer >= 0)",
                field=name,
            )
        if "data" in raw:
            raise InvalidInput(
                f'input {name!r} has both "data" and binary_data_size; send its values one way only',
                field=name,
            )
        if offset + size > len(section):
            hint = f" (is the {HEADER_LENGTH} header set?)" if not section else ""
            raise InvalidInput(
                f"input {name!r} has binary_data_size {size}, but only {len(section) - offset} bytes of "
                f"binary data are left after the JSON header{hint}",
                field=name,
            )
        chunks.append(section[offset : offset + size])
        offset, last = offset + size, name
    if offset != len(section):
        raise InvalidInput(
            f"the body holds {len(section)} bytes after the JSON header, but the binary_data_size of "
            f"the inputs add up to {offset}",
            field=last or HEADER_LENGTH,
        )
    return chunks


def read_tensor(name: str, datatype: str, shape: Sequence[int], chunk: memoryview) -> np.ndarray:
    """The flat values of the binary input ``name`` (``datatype`` is one of :data:`V2_DTYPES`).

    Numeric values are a view of ``chunk`` (copied only when misaligned for the dtype); BYTES
    elements are decoded as UTF-8 text into an object array.

    Raises:
        InvalidInput: the byte count does not match the shape and datatype, a BOOL byte other
            than 0 or 1, or a BYTES element that is cut short or not UTF-8 (``field=name``).
    """
    count = math.prod(shape)
    dtype = V2_DTYPES[datatype]
    if dtype is None:
        return _read_bytes(name, count, chunk)
    size = count * dtype.itemsize
    if len(chunk) != size:
        raise InvalidInput(
            f"input {name!r} has shape {list(shape)} of {datatype}: {count} values of {dtype.itemsize} "
            f"byte(s), {size} bytes, but its binary_data_size is {len(chunk)}",
            field=name,
        )
    if dtype.kind == "b":
        octets = np.frombuffer(chunk, np.uint8)
        bad = np.flatnonzero(octets > 1)
        if bad.size:
            raise InvalidInput(
                f"input {name!r} is BOOL, but byte {int(bad[0])} is {int(octets[bad[0]])}; send 0 or 1",
                field=name,
            )
        return octets.view(bool)
    arr = np.frombuffer(chunk, dtype.newbyteorder("<"))
    return arr.astype(dtype, copy=not arr.flags.aligned)  # no copy when aligned on a little-endian host


def _read_bytes(name: str, count: int, chunk: memoryview) -> np.ndarray:
    out = np.empty(count, dtype=object)
    pos, end = 0, len(chunk)
    for i in range(count):
        n = _LENGTH.unpack_from(chunk, pos)[0] if pos + 4 <= end else -1
        if n < 0 or pos + 4 + n > end:
            raise InvalidInput(
                f"input {name!r}: its binary data ends inside element {i} of {count}; {_BYTES_FORM}",
                field=name,
            )
        pos += 4
        try:
            out[i] = str(chunk[pos : pos + n], "utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"input {name!r}: BYTES element {i} is not UTF-8 text", field=name) from None
        pos += n
    if pos != end:
        raise InvalidInput(
            f"input {name!r}: its {count} BYTES elements take {pos} bytes, but its binary_data_size is "
            f"{end}; {_BYTES_FORM}",
            field=name,
        )
    return out


def requested_outputs(
    outputs: Any, parameters: Mapping[str, Any]
) -> tuple[list[str] | None, bool | frozenset[str]]:
    """The names of the outputs a request asks for (None: all), and which to send as binary data.

    Args:
        outputs: the request's ``outputs`` (a list of ``{"name", "parameters"}``, or None).
        parameters: the request's ``parameters``.

    Returns:
        The names, and True (every output in binary), False (none) or the names of the binary ones.

    Raises:
        InvalidInput: ``outputs`` is not a list of named objects (``field="outputs"``), or
            ``binary_data_output`` (``parameters``) or an output's ``binary_data`` is not a boolean.
    """
    if outputs is not None and (
        type(outputs) is not list
        or not all(type(o) is dict and isinstance(o.get("name"), str) for o in outputs)
    ):
        raise InvalidInput('"outputs" must be a list of {"name": ...} objects', field="outputs")
    every = parameters.get("binary_data_output", False)
    if type(every) is not bool:
        raise InvalidInput(f"binary_data_output is {every!r}; send true or false", field="parameters")
    if outputs is None:
        return None, every
    names = set()
    for out in outputs:
        params = {} if out.get("parameters") is None else out["parameters"]
        if type(params) is not dict:
            raise InvalidInput(f"output {out['name']!r}: parameters must be an object", field="outputs")
        flag = params.get("binary_data", params.get("binary_data_output", every))
        if type(flag) is not bool:
            raise InvalidInput(
                f"output {out['name']!r} has binary_data {flag!r}; send true or false", field="outputs"
            )
        if flag:
            names.add(out["name"])
    return [o["name"] for o in outputs], frozenset(names)


# ----------------------------------------------------------------------------- responses


def tensor_bytes(arr: np.ndarray, datatype: str) -> bytes:
    """The binary data of an output tensor of ``datatype`` (text of BYTES elements as UTF-8)."""
    flat = arr.reshape(-1)
    dtype = V2_DTYPES[datatype]
    if dtype is not None:
        return flat.astype(dtype.newbyteorder("<"), copy=False).tobytes()
    parts: list[bytes] = []
    for value in flat.tolist():
        data = value if isinstance(value, bytes) else ("" if value is None else str(value)).encode("utf-8")
        parts += (_LENGTH.pack(len(data)), data)
    return b"".join(parts)


def join_body(header: bytes, chunks: Iterable[bytes]) -> tuple[bytes, int]:
    """A body of the JSON ``header`` followed by the binary ``chunks``, and the header's length."""
    return b"".join((header, *chunks)), len(header)
