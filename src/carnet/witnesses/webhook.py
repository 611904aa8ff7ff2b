"""The ``http(s)://`` witness: a webhook that receives each checkpoint and lists what it keeps."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from carnet.errors import InvalidInput, StorageError

__all__ = ["WebhookWitness"]

_TIMEOUT_S = 10.0
_ATTEMPTS = 3
_BACKOFF_S = 0.2  # wait before retry k (from 0): 0.2 s x 2**k


def _shown(url: str) -> str:
    from carnet.witnesses import redact_url

    return redact_url(url)


class WebhookWitness:
    """POST each checkpoint record as JSON to a URL; read them back with GET on the same URL.

    The receiver keeps what it is sent (append-only, on its side of a trust boundary) and answers
    a GET with the records it kept, oldest first: a JSON array, an object ``{"checkpoints": [...]}``,
    or JSON lines. Any 2xx answer to the POST counts as stored; connection errors and 5xx are
    retried twice, redirects are not followed. A token may ride in the URL's query: reports and
    audit events show the URL without it.
    """

    name = "webhook"
    description = "POST checkpoints as JSON to a receiver that lists them back on GET (https://...)"

    def validate(self, url: str) -> None:
        """An ``http://`` or ``https://`` URL with a host."""
        try:
            parts = urllib.parse.urlsplit(url)
            _ = parts.port
        except ValueError as exc:
            raise InvalidInput(f"{_shown(url)!r} is not a valid URL: {exc}", field="witness") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
            raise InvalidInput(f"{_shown(url)!r} must be an http:// or https:// URL", field="witness")

    def publish(self, url: str, record: dict[str, Any], options: Mapping[str, Any]) -> str:
        """POST ``record``; returns the URL (without query). Raises StorageError after the retries."""
        import httpx

        body = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "carnet-witness"}
        problem = ""
        for k in range(_ATTEMPTS):
            try:
                r = httpx.post(url, content=body, headers=headers, timeout=_TIMEOUT_S, follow_redirects=False)
            except httpx.HTTPError as exc:
                problem = f"connection failed: {type(exc).__name__}: {exc}"
            else:
                if r.is_success:
                    return _shown(url)
                problem = f"HTTP {r.status_code} {r.reason_phrase}"
                if r.status_code < 500:
                    break
            if k + 1 < _ATTEMPTS:
                time.sleep(_BACKOFF_S * 2**k)
        raise StorageError(f"POST {_shown(url)} failed: {problem}")

    def read(self, url: str, options: Mapping[str, Any]) -> Iterator[Any]:
        """GET the receiver's records, newest first."""
        import httpx

        try:
            r = httpx.get(
                url, headers={"Accept": "application/json"}, timeout=_TIMEOUT_S, follow_redirects=False
            )
        except httpx.HTTPError as exc:
            raise StorageError(f"GET {_shown(url)} failed: {type(exc).__name__}: {exc}") from None
        if not r.is_success:
            raise StorageError(f"GET {_shown(url)} answered HTTP {r.status_code} {r.reason_phrase}")
        try:
            doc = r.json()
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("checkpoints"), list):
            doc = doc["checkpoints"]
        if isinstance(doc, list):
            yield from reversed(doc)
            return
        for line in reversed(r.text.splitlines()):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    yield line
