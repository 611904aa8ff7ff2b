"""The model flavor seam: how a fitted model becomes bytes and comes back, safely.

The :class:`~carnet.plugins.api.Flavor` protocol is in :mod:`carnet.plugins.api`; this module holds
the small pieces the built-in flavors share: recognising a model type by name (without importing
its library) and a deterministic zip envelope of a native model file plus JSON metadata (never
pickle).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

from carnet.errors import CarnetError, InvalidInput
from carnet.plugins.api import Flavor

__all__ = [
    "ENVELOPE_META",
    "Flavor",
    "decode_labels",
    "encode_labels",
    "is_fitted",
    "pack_envelope",
    "type_names",
    "unpack_envelope",
    "wrap_load_error",
]

#: name of the JSON metadata member of an envelope
ENVELOPE_META = "carnet.json"

#: a fixed timestamp, so the same model always gives the same bytes
_EPOCH = (1980, 1, 1, 0, 0, 0)


def type_names(model: Any) -> set[str]:
    """``module.QualName`` of the model's class and of every base class."""
    return {f"{c.__module__}.{c.__qualname__}" for c in type(model).__mro__}


def is_fitted(model: Any) -> bool:
    """The scikit-learn fitted check of an estimator that offers one (True otherwise)."""
    check = getattr(model, "__sklearn_is_fitted__", None)
    return bool(check()) if callable(check) else True


def pack_envelope(meta: Mapping[str, Any], members: Mapping[str, bytes]) -> bytes:
    """A zip holding ``meta`` as JSON and the native model files, byte-identical for equal input."""
    try:
        meta_bytes = json.dumps(meta, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"model metadata is not JSON-serialisable: {exc}", field="model") from exc
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in [(ENVELOPE_META, meta_bytes), *sorted(members.items())]:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def unpack_envelope(data: bytes, fmt: str, members: Iterable[str], version: int = 1) -> dict[str, Any]:
    """Metadata and member bytes of an envelope written by :func:`pack_envelope`.

    Args:
        data: the stored bytes.
        fmt: the expected ``format`` field of the metadata (e.g. ``carnet.lightgbm``).
        members: member names that must be present; their bytes are returned under those keys.
        version: the newest ``format_version`` this reader understands.

    Raises:
        InvalidInput: not an envelope, another format, a newer version, or a member missing.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput(f"a {fmt} model file must be bytes, got {type(data).__name__}", field="data")
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
            names = set(zf.namelist())
            wanted = [ENVELOPE_META, *members]
            missing = [m for m in wanted if m not in names]
            if missing:
                raise InvalidInput(f"not a {fmt} model file: {', '.join(missing)} missing", field="data")
            out: dict[str, Any] = {m: zf.read(m) for m in wanted}
        meta = json.loads(out.pop(ENVELOPE_META))
    except CarnetError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure means: not our file
        raise InvalidInput(f"not a {fmt} model file ({type(exc).__name__}: {exc})", field="data") from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise InvalidInput(f"not a {fmt} model file (format {_field(meta, 'format')!r})", field="data")
    found = meta.get("format_version")
    if not isinstance(found, int) or found > version:
        raise InvalidInput(
            f"{fmt} model file has format version {found!r}; this carnet reads up to {version}: "
            "upgrade carnet",
            field="data",
        )
    out["meta"] = meta
    return out


def _field(meta: Any, key: str) -> Any:
    return meta.get(key) if isinstance(meta, dict) else None


def wrap_load_error(exc: Exception, what: str) -> CarnetError:
    """The carnet error to raise for a library failure while rebuilding a model."""
    if isinstance(exc, CarnetError):
        return exc
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return InvalidInput(f"cannot load {what}: {type(exc).__name__}: {first}".rstrip(": "), field="data")


#: numpy dtype kinds class labels may have in stored metadata (bool, ints, floats, text, object)
_LABEL_KINDS = frozenset("biufUO")


def encode_labels(labels: Any) -> dict[str, Any]:
    """Class labels (a numpy array) as JSON-ready ``{"values": [...], "dtype": "..."}``.

    Raises:
        InvalidInput: labels of a kind that JSON cannot carry faithfully (dates, objects...).
    """
    import numpy as np

    arr = np.asarray(labels)
    values = arr.tolist()
    if arr.dtype.kind not in _LABEL_KINDS or not all(isinstance(v, str | int | float | bool) for v in values):
        raise InvalidInput(
            f"class labels of dtype {arr.dtype} cannot be stored; use strings or numbers", field="model"
        )
    return {"values": values, "dtype": arr.dtype.str if arr.dtype.kind != "O" else "object"}


def decode_labels(spec: Any) -> Any:
    """The numpy array :func:`encode_labels` described.

    Raises:
        InvalidInput: malformed metadata.
    """
    import numpy as np

    try:
        dtype = np.dtype(spec["dtype"])
        values = spec["values"]
        if dtype.kind not in _LABEL_KINDS or not isinstance(values, list):
            raise ValueError(f"unsupported label dtype {dtype}")
        return np.asarray(values, dtype=dtype)
    except Exception as exc:  # noqa: BLE001 - malformed metadata from a foreign file
        raise InvalidInput(f"model file has malformed class labels: {exc}", field="data") from exc
