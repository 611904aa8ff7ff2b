"""Witnesses of the audit ledger: append-only places outside the metadata database that keep its
signed checkpoints (entry-point group ``carnet.witnesses``, one plugin per URL scheme).

Built-ins, registered through the same entry points as third-party witnesses:

- ``file``: ``file:///path/anchors.jsonl``, one JSON line per checkpoint, appended (O_APPEND, fsync);
- ``s3``: ``s3://bucket/prefix``, one object per checkpoint, written only if absent;
- ``http`` / ``https``: a webhook that receives each checkpoint as a JSON POST and lists the ones it
  keeps on GET.
"""

from __future__ import annotations

import urllib.parse

from carnet.errors import InvalidInput, NotFound
from carnet.plugins.api import Witness
from carnet.plugins.loader import registry

__all__ = ["redact_url", "witness_for"]


def witness_for(url: str) -> Witness:
    """The witness serving ``url``'s scheme, after it checked the URL.

    Raises:
        InvalidInput: not a URL, an unknown scheme (the message lists the registered ones) or a
            URL the witness rejects; ``field`` is ``witness``.
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput(
            f"witness {url!r} is not a URL such as file:///var/lib/carnet/anchors.jsonl, "
            "s3://bucket/anchors or https://witness.example.com/carnet",
            field="witness",
        )
    scheme = url.split("://", 1)[0].lower()
    try:
        witness = registry("witness").get(scheme)
    except NotFound:
        known = ", ".join(f"{n}://" for n in registry("witness").names()) or "none"
        raise InvalidInput(
            f"no witness for {scheme}:// URLs ({redact_url(url)}); registered: {known} "
            "(a third-party witness must be installed, in the carnet.witnesses entry-point group)",
            field="witness",
        ) from None
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="witness") from None
    try:
        witness.validate(url)
    except InvalidInput as exc:
        raise InvalidInput(f"witness {redact_url(url)}: {exc.message}", field="witness") from None
    return witness


def redact_url(url: str) -> str:
    """``url`` without credentials, query or fragment: what reports and audit events show."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
