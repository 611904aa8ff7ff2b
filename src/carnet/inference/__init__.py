"""Model serving, framework-free: wire codecs, micro-batching, traffic routing and model outputs.

The HTTP layer (``carnet.server``) decodes requests with :mod:`~carnet.inference.codecs`,
coalesces them per model with :class:`MicroBatcher`, picks a deployment route with
:class:`Router` and answers with the encoded outputs of :func:`model_outputs`.
"""

from __future__ import annotations

from carnet.inference.batching import MicroBatcher, concat_frames
from carnet.inference.codecs import V2Request, parse_v2_request, validate_frame
from carnet.inference.mlflow import parse_mlflow_request
from carnet.inference.outputs import (
    encode_error,
    encode_mlflow_response,
    encode_v2_response,
    model_outputs,
    v2_datatype,
)
from carnet.inference.routing import Route, Router

__all__ = [
    "MicroBatcher",
    "Route",
    "Router",
    "V2Request",
    "concat_frames",
    "encode_error",
    "encode_mlflow_response",
    "encode_v2_response",
    "model_outputs",
    "parse_mlflow_request",
    "parse_v2_request",
    "v2_datatype",
    "validate_frame",
]
