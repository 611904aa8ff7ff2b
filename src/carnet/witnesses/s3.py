"""The ``s3://`` witness: one object per checkpoint under a prefix, written only if absent."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["S3Witness"]

_NAME = re.compile(r"(\d{20})-([0-9a-f]{64})\.json")


def _fs(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    """The fsspec filesystem and the ``bucket/prefix`` of ``url`` (no listing cache)."""
    import fsspec

    opts = {**dict(options), "use_listings_cache": False}
    fs, base = fsspec.core.url_to_fs(url.rstrip("/"), **opts)
    return fs, base.rstrip("/")


class S3Witness:
    """Store each checkpoint as ``<prefix>/<seq, 20 digits>-<digest>.json`` on S3 (``s3://bucket/prefix``).

    Objects are written with ``If-None-Match: *`` (never replacing one); the same checkpoint
    written twice is the same object. Use a bucket with Object Lock (compliance mode) or a
    policy that denies deletes to the people who can write to the metadata database. The
    endpoint and credentials are the workspace's (``CARNET_S3_ENDPOINT_URL``, the AWS variables).
    """

    name = "s3"
    description = "one object per checkpoint under an S3 prefix, written if absent (s3://bucket/prefix)"

    def validate(self, url: str) -> None:
        """``s3://bucket[/prefix]``, without query or fragment."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise InvalidInput(f"{url!r} must be s3://bucket/prefix", field="witness")

    def publish(self, url: str, record: dict[str, Any], options: Mapping[str, Any]) -> str:
        """Write the record's object if absent; returns ``s3://bucket/key``."""
        fs, base = _fs(url, options)
        seq, digest = int(record["checkpoint"]["seq"]), str(record["digest"])
        key = f"{base}/{seq:020d}-{digest}.json"
        data = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
        try:
            fs.pipe_file(key, data, mode="create")
        except FileExistsError:  # this very checkpoint (its digest is in the name) is already there
            if fs.cat_file(key) != data:
                raise
        return f"s3://{key}"

    def read(self, url: str, options: Mapping[str, Any]) -> Iterator[Any]:
        """The objects under the prefix, highest sequence number first (other names are skipped)."""
        fs, base = _fs(url, options)
        try:
            names = fs.ls(base, detail=False)
        except FileNotFoundError:
            return
        found = sorted((n for n in names if _NAME.fullmatch(n.rsplit("/", 1)[-1])), reverse=True)
        for name in found:
            raw = fs.cat_file(name)
            try:
                yield json.loads(raw)
            except ValueError:
                yield raw.decode("utf-8", "replace")
