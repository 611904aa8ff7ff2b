"""De-identification transforms: a config of per-column methods applied to a table.

A config (YAML or a mapping)::

    key: env:CARNET_DEID_KEY          # or file:/path/to/key; the secret is never stored
    columns:
      national_id: drop
      phone: {method: mask, keep_last: 2}
      email: {method: pseudonymize}                # keyed HMAC-SHA256 token, the same for the same value
      card: {method: encrypt_fpe}                  # FF3-1: same length and alphabet, reversible with the key
      age: {method: generalize, bins: [0, 18, 30, 50, 70, 120]}
      birth_date: {method: generalize, truncate: year}   # year | month
      zip: {method: generalize, prefix: 2}         # keep the first 2 characters
      visit: {method: shift_dates, entity: customer_id, max_days: 30}
      notes: {method: redact_text}                 # emails, phones and card numbers in text replaced
      memo: {method: redact_text, tier: 2}         # and names of people and places (extra pii)

Methods:

- ``drop``: the column is removed.
- ``mask``: every character but the last ``keep_last`` (default 4) becomes ``char`` (``*``);
  separators stay where they are.
- ``pseudonymize``: ``tok_`` and the first ``length`` (default 16) hex digits of
  HMAC-SHA256(key, value). The same key gives the same token in every version and every
  dataset, so joins on the column still work; without the key a token cannot be reversed or
  recomputed.
- ``encrypt_fpe``: format-preserving encryption (FF3-1, ``ff3``): digits stay digits, letters
  stay letters (``alphabet`` decides), separators stay; reversible with the key. Values must
  have at least 6 encryptable characters (FF3-1's domain limit).
- ``generalize``: numbers into ``bins`` (labels ``[18, 30)``), dates truncated to the
  ``year`` or ``month``, or text cut to its first ``prefix`` characters (postal codes).
- ``shift_dates``: dates moved by a per-entity offset of up to ``max_days`` days, derived from
  the key and the entity's value: the same person's dates keep their intervals.
- ``redact_text``: emails, phone numbers and card numbers found in text become ``[EMAIL]``,
  ``[PHONE]``, ``[CARD]``; with ``tier: 2`` (extra ``pii``), names of people and places found
  by Presidio become ``[PERSON]`` and ``[LOCATION]`` too.

Missing values stay missing. Every error names the column and the setting.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carnet.errors import InvalidInput

__all__ = [
    "METHODS",
    "DeidConfig",
    "apply_deidentification",
    "canonical",
    "key_fingerprint",
    "parse_config",
    "pseudonymizer",
    "read_key",
    "reverse_fpe",
]

METHODS: dict[str, tuple[str, ...]] = {
    "drop": (),
    "mask": ("keep_last", "char"),
    "pseudonymize": ("length",),
    "encrypt_fpe": ("alphabet", "tweak"),
    "generalize": ("bins", "truncate", "prefix"),
    "shift_dates": ("entity", "max_days"),
    "redact_text": ("tier",),
}
_ALPHABETS = {
    "digits": "0123456789",
    "alphanumeric": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "lower": "abcdefghijklmnopqrstuvwxyz",
}
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}")


@dataclass(frozen=True)
class DeidConfig:
    """A parsed config: where the key comes from, and each column's method and settings."""

    key_source: str
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The config as stored with the new version (the key's source, never the key)."""
        return {"key": self.key_source, "columns": {c: dict(s) for c, s in self.columns.items()}}


def _fail(where: str, message: str) -> InvalidInput:
    return InvalidInput(message, field=where)


def parse_config(data: Any) -> DeidConfig:
    """Strictly parse a de-identification config (InvalidInput naming ``columns.X.setting``)."""
    if not isinstance(data, Mapping):
        raise _fail("config", "a de-identification config is a mapping with key and columns")
    unknown = set(data) - {"key", "columns"}
    if unknown:
        raise _fail(str(sorted(unknown)[0]), f"unknown setting {sorted(unknown)[0]!r}; use key and columns")
    columns = data.get("columns")
    if not isinstance(columns, Mapping) or not columns:
        raise _fail("columns", "columns must map each column to a method, e.g. {email: pseudonymize}")
    parsed: dict[str, dict[str, Any]] = {}
    for name, raw in columns.items():
        where = f"columns.{name}"
        spec = {"method": raw} if isinstance(raw, str) else dict(raw) if isinstance(raw, Mapping) else None
        if spec is None or spec.get("method") not in METHODS:
            raise _fail(f"{where}.method", f"{where}.method must be one of {', '.join(METHODS)}")
        method = str(spec["method"])
        extra = set(spec) - {"method", *METHODS[method]}
        if extra:
            raise _fail(
                f"{where}.{sorted(extra)[0]}", f"{method} takes {', '.join(METHODS[method]) or 'no settings'}"
            )
        _check(where, method, spec)
        parsed[str(name)] = spec
    key = data.get("key")
    needs_key = any(s["method"] in ("pseudonymize", "encrypt_fpe", "shift_dates") for s in parsed.values())
    if needs_key and not (isinstance(key, str) and key.startswith(("env:", "file:"))):
        raise _fail("key", "pseudonymize, encrypt_fpe and shift_dates need key: env:VARIABLE or file:PATH")
    return DeidConfig(str(key or ""), parsed)


def _check(where: str, method: str, spec: Mapping[str, Any]) -> None:
    def whole(name: str, low: int, high: int) -> None:
        value = spec.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
        ):
            raise _fail(f"{where}.{name}", f"{where}.{name} must be an integer from {low} to {high}")

    whole("keep_last", 0, 64)
    whole("length", 8, 64)
    whole("prefix", 0, 64)
    whole("max_days", 1, 3650)
    if method == "generalize" and sum(k in spec for k in ("bins", "truncate", "prefix")) != 1:
        raise _fail(where, f"{where}: generalize takes exactly one of bins, truncate or prefix")
    bins = spec.get("bins")
    if bins is not None and (
        not isinstance(bins, list) or len(bins) < 2 or any(not isinstance(b, int | float) for b in bins)
        or bins != sorted(bins)
    ):  # fmt: skip
        raise _fail(f"{where}.bins", f"{where}.bins must be a sorted list of at least 2 numbers")
    if spec.get("truncate") not in (None, "year", "month"):
        raise _fail(f"{where}.truncate", f"{where}.truncate must be year or month")
    if method == "shift_dates" and not isinstance(spec.get("entity"), str):
        raise _fail(
            f"{where}.entity", f"{where}.entity must name the column of the person (e.g. customer_id)"
        )
    alphabet = spec.get("alphabet", "digits")
    if method == "encrypt_fpe" and alphabet not in _ALPHABETS:
        raise _fail(f"{where}.alphabet", f"{where}.alphabet must be one of {', '.join(_ALPHABETS)}")
    char = spec.get("char", "*")
    if not isinstance(char, str) or len(char) != 1:
        raise _fail(f"{where}.char", f"{where}.char must be one character")
    tier = spec.get("tier", 1)
    if isinstance(tier, bool) or tier not in (1, 2) or not isinstance(tier, int):
        raise _fail(f"{where}.tier", f"{where}.tier must be 1 (patterns) or 2 (also names and places)")
    if tier == 2:
        from carnet.privacy import tier2

        if not tier2.available():
            raise _fail(f"{where}.tier", f"{where}.tier 2 needs the pii extra (Presidio): {tier2.INSTALL}")


def read_key(source: str, environ: Mapping[str, str] | None = None) -> bytes:
    """The secret a config's ``key`` names: ``env:VARIABLE`` or ``file:PATH`` (at least 16 bytes)."""
    env = os.environ if environ is None else environ
    if source.startswith("env:"):
        name = source[4:]
        if not env.get(name):
            raise _fail(
                "key", f"the environment variable {name} holding the de-identification key is not set"
            )
        secret = env[name].encode()
    elif source.startswith("file:"):
        path = Path(source[5:]).expanduser()
        if not path.is_file():
            raise _fail("key", f"the key file {path} does not exist")
        secret = path.read_bytes().strip()
    else:
        raise _fail("key", "key must be env:VARIABLE or file:PATH")
    if len(secret) < 16:
        raise _fail("key", "the de-identification key must be at least 16 bytes")
    return secret


def key_fingerprint(key: bytes) -> str:
    """A short, non-reversible fingerprint of a key: versions made with the same key share it."""
    return hmac.new(key, b"carnet.deidentify.fingerprint", hashlib.sha256).hexdigest()[:16]


def _derived(key: bytes, purpose: str, column: str) -> bytes:
    return hmac.new(key, f"{purpose}\x00{column}".encode(), hashlib.sha256).digest()


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and value != value) and str(value) != "NaT"


def canonical(value: Any) -> Any:
    """A value as its identity: a whole float (``1001.0``, what an int column with a missing value
    becomes) is the integer ``1001``, so an ID gets one token whatever its column's dtype."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and not isinstance(value, str | bytes):
        plain = item()
        return int(plain) if isinstance(plain, float) and plain.is_integer() else plain
    return value


def _each(series: Any, fn: Callable[[Any], Any]) -> Any:
    return series.map(lambda v: fn(canonical(v)) if _present(v) else v)


def _mask(spec: Mapping[str, Any]) -> Callable[[Any], Any]:
    keep, char = int(spec.get("keep_last", 4)), str(spec.get("char", "*"))

    def one(value: Any) -> str:
        text = str(value)
        positions = [i for i, c in enumerate(text) if c.isalnum()]
        hidden = set(positions[: max(0, len(positions) - keep)])
        return "".join(char if i in hidden else c for i, c in enumerate(text))

    return one


def pseudonymizer(key: bytes, length: int = 16) -> Callable[[Any], str]:
    """The ``pseudonymize`` token of a value under ``key``: the same in every column, version and
    dataset (and in a prediction log written with the same key), so joins still work."""
    secret = _derived(key, "pseudonymize", "")

    def one(value: Any) -> str:
        text = str(canonical(value))
        return "tok_" + hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()[:length]

    return one


def _pseudonym(key: bytes, column: str, spec: Mapping[str, Any]) -> Callable[[Any], Any]:
    return pseudonymizer(key, int(spec.get("length", 16)))


def _cipher(key: bytes, column: str, alphabet: str) -> Any:
    """The FF3-1 cipher of a column: a 128-bit key and a 56-bit tweak derived from the key."""
    try:
        from ff3 import FF3Cipher
    except ImportError:
        raise InvalidInput(
            "encrypt_fpe needs the pii extra (ff3): pip install 'carnet[pii]'",
            field=f"columns.{column}.method",
        ) from None
    material = _derived(key, "encrypt_fpe", column)
    return FF3Cipher.withCustomAlphabet(material[:16].hex(), material[16:23].hex(), alphabet)


def reverse_fpe(value: str, key: bytes, column: str, alphabet: str = "digits") -> str:
    """The original of a value ``encrypt_fpe`` produced for ``column`` (re-identification needs the key)."""
    chars = _ALPHABETS[alphabet]
    cipher = _cipher(key, column, chars)
    positions = [i for i, c in enumerate(value) if c in chars]
    plain = cipher.decrypt("".join(value[i] for i in positions))
    out = list(value)
    for i, c in zip(positions, plain, strict=True):
        out[i] = c
    return "".join(out)


def _fpe(key: bytes, column: str, spec: Mapping[str, Any]) -> Callable[[Any], Any]:
    alphabet = _ALPHABETS[str(spec.get("alphabet", "digits"))]
    cipher = _cipher(key, column, alphabet)

    def one(value: Any) -> str:
        text = str(value)
        positions = [i for i, c in enumerate(text) if c in alphabet]
        if len(positions) < 6:
            raise _fail(
                f"columns.{column}",
                f"encrypt_fpe needs at least 6 encryptable characters; got {len(positions)}",
            )
        plain = "".join(text[i] for i in positions)
        secret = cipher.encrypt(plain)
        out = list(text)
        for i, c in zip(positions, secret, strict=True):
            out[i] = c
        return "".join(out)

    return one


def _generalize(series: Any, column: str, spec: Mapping[str, Any]) -> Any:
    import pandas as pd

    if "bins" in spec:
        numbers = pd.to_numeric(series, errors="coerce")
        if numbers.notna().sum() < series.notna().sum():
            raise _fail(
                f"columns.{column}.bins", f"{column} has values that are not numbers; bins need numbers"
            )
        bins = list(spec["bins"])
        outside = int(((numbers < bins[0]) | (numbers >= bins[-1])).sum())
        if outside:
            raise _fail(
                f"columns.{column}.bins",
                f"{outside} value(s) of {column} fall outside the bins [{_num(bins[0])}, {_num(bins[-1])}); "
                "widen the first or last edge",
            )
        labels = [f"[{_num(a)}, {_num(b)})" for a, b in itertools.pairwise(bins)]
        out = pd.cut(numbers, bins=bins, labels=labels, right=False)
        return out.astype(object).where(out.notna(), None)
    if "truncate" in spec:
        dates = pd.to_datetime(series, errors="coerce")
        if dates.notna().sum() < series.notna().sum():
            raise _fail(f"columns.{column}.truncate", f"{column} has values that are not dates")
        form = "%Y" if spec["truncate"] == "year" else "%Y-%m"
        return dates.dt.strftime(form).astype(object).where(dates.notna(), None)
    prefix = int(spec["prefix"])
    return _each(series, lambda v: str(v)[:prefix])


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shift(series: Any, frame: Any, key: bytes, column: str, spec: Mapping[str, Any]) -> Any:
    import pandas as pd

    entity = str(spec["entity"])
    if entity not in frame.columns:
        raise _fail(f"columns.{column}.entity", f"the entity column {entity!r} is not in the table")
    dates = pd.to_datetime(series, errors="coerce")
    if dates.notna().sum() < series.notna().sum():
        raise _fail(f"columns.{column}", f"{column} has values that are not dates")
    span = int(spec.get("max_days", 30))
    secret = _derived(key, "shift_dates", entity)

    def days(who: Any) -> int:
        digest = hmac.new(secret, str(who).encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") % (2 * span + 1) - span

    offsets = pd.to_timedelta(frame[entity].map(lambda v: days(canonical(v))), unit="D")
    shifted = dates + offsets
    if not pd.api.types.is_datetime64_any_dtype(series):
        timed = bool((dates.dropna() != dates.dropna().dt.normalize()).any())
        form = "%Y-%m-%d %H:%M:%S" if timed else "%Y-%m-%d"
        return shifted.dt.strftime(form).astype(object).where(shifted.notna(), None)
    return shifted


def _redact_column(series: Any, spec: Mapping[str, Any]) -> Any:
    """``redact_text`` on a column: tier 1 value by value, then tier 2 on the distinct texts."""
    out = _each(series, _redact)
    if spec.get("tier", 1) != 2:
        return out
    from carnet.privacy import tier2

    distinct = list(dict.fromkeys(v for v in out if _present(v)))
    done = dict(zip(distinct, tier2.redact_all(distinct), strict=True))
    return out.map(lambda v: done[v] if _present(v) else v)


def _redact(value: Any) -> str:
    from carnet.privacy.detectors import _CARD_IN, _PHONE_IN, _card, _phone_number

    text = _EMAIL.sub("[EMAIL]", str(value))
    text = _CARD_IN.sub(lambda m: "[CARD]" if _card(m.group(0)) else m.group(0), text)
    return _PHONE_IN.sub(lambda m: "[PHONE]" if _phone_number(m.group(0)) else m.group(0), text)


def apply_deidentification(frame: Any, config: DeidConfig, key: bytes | None) -> Any:
    """A de-identified copy of a pandas DataFrame (``key``: the secret, when a method needs one)."""
    missing = [c for c in config.columns if c not in frame.columns]
    if missing:
        raise _fail(f"columns.{missing[0]}", f"the table has no column {missing[0]!r}")
    out = frame.copy()
    for column, spec in config.columns.items():
        method = spec["method"]
        if method in ("pseudonymize", "encrypt_fpe", "shift_dates") and key is None:
            raise _fail("key", f"{method} needs the key")
        if method == "drop":
            continue
        if method == "mask":
            out[column] = _each(frame[column], _mask(spec))
        elif method == "pseudonymize":
            out[column] = _each(frame[column], _pseudonym(key, column, spec))  # type: ignore[arg-type]
        elif method == "encrypt_fpe":
            out[column] = _each(frame[column], _fpe(key, column, spec))  # type: ignore[arg-type]
        elif method == "generalize":
            out[column] = _generalize(frame[column], column, spec)
        elif method == "shift_dates":
            out[column] = _shift(frame[column], frame, key, column, spec)  # type: ignore[arg-type]
        elif method == "redact_text":
            out[column] = _redact_column(frame[column], spec)
    dropped = [c for c, s in config.columns.items() if s["method"] == "drop"]
    return out.drop(columns=dropped)
