"""Helpers for testing carnet and its plugins against real components on loopback, and the
conformance checks of every plugin kind (:func:`check_task`, :func:`check_flavor`,
:func:`check_gate`, :func:`check_notifier`, :func:`check_encoder`, :func:`check_hooks`).

Importing this package is cheap: moto, boto3, pytest and the model libraries are imported only
when a helper runs.
"""

from carnet.testing.flavors import check_flavor
from carnet.testing.hooks import check_hooks
from carnet.testing.plugins import check_encoder, check_gate, check_notifier, check_task
from carnet.testing.s3 import S3Server, moto_s3_server

__all__ = [
    "S3Server",
    "check_encoder",
    "check_flavor",
    "check_gate",
    "check_hooks",
    "check_notifier",
    "check_task",
    "moto_s3_server",
]
