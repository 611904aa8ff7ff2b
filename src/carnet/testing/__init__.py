"""Helpers for testing carnet and its plugins against real components on loopback.

Importing this package is cheap: moto, boto3 and pytest are imported only when a helper runs.
"""

from carnet.testing.flavors import check_flavor
from carnet.testing.s3 import S3Server, moto_s3_server

__all__ = ["S3Server", "check_flavor", "moto_s3_server"]
