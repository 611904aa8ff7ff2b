"""A real S3-compatible server for tests: moto in server mode on 127.0.0.1, on a free port.

Example::

    with moto_s3_server() as s3:
        bucket = s3.create_bucket()
        store = FsspecArtifactStore(f"s3://{bucket}/prefix", s3.storage_options)

moto keeps its state per process: servers started in one process share buckets, so use
:meth:`S3Server.create_bucket` (unique names by default) rather than fixed names.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["S3Server", "moto_s3_server"]

_KEY = "testing"
_SECRET = "testing"  # moto accepts any credentials
_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint and how to reach it."""

    endpoint_url: str
    region: str = _REGION

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs options for this endpoint (a new dict on each access)."""
        return {
            "key": _KEY,
            "secret": _SECRET,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }

    def client(self) -> Any:
        """A boto3 S3 client for this endpoint."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=_KEY,
            aws_secret_access_key=_SECRET,
            region_name=self.region,
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a unique ``carnet-test-...`` name by default) and return its name."""
        bucket = name or f"carnet-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket


@contextmanager
def moto_s3_server(*, quiet: bool = True) -> Iterator[S3Server]:
    """Run moto's S3 server on 127.0.0.1 (free port) for the duration of the block.

    Args:
        quiet: silence werkzeug's per-request log lines while the server runs.
    """
    from moto.server import ThreadedMotoServer

    logger = logging.getLogger("werkzeug")
    level = logger.level
    if quiet:
        logger.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()
        logger.setLevel(level)
