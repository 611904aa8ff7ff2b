"""Pydantic wire models of the REST API (the only place pydantic appears besides the server).

Request bodies refuse unknown fields; responses are built from domain objects with ``Out.of(obj)``.
NaN metric values travel as ``null``. Each module lists its models once, in its ``__all__``.
"""

from carnet.schemas import (
    admin,
    audit,
    common,
    datasets,
    deployments,
    encoders,
    models,
    monitoring,
    operations,
    registry,
    tracking,
    training,
)
from carnet.schemas.admin import *  # noqa: F403
from carnet.schemas.audit import *  # noqa: F403
from carnet.schemas.common import *  # noqa: F403
from carnet.schemas.datasets import *  # noqa: F403
from carnet.schemas.deployments import *  # noqa: F403
from carnet.schemas.encoders import *  # noqa: F403
from carnet.schemas.models import *  # noqa: F403
from carnet.schemas.monitoring import *  # noqa: F403
from carnet.schemas.operations import *  # noqa: F403
from carnet.schemas.registry import *  # noqa: F403
from carnet.schemas.tracking import *  # noqa: F403
from carnet.schemas.training import *  # noqa: F403

__all__ = [
    *admin.__all__,
    *audit.__all__,
    *common.__all__,
    *datasets.__all__,
    *deployments.__all__,
    *encoders.__all__,
    *models.__all__,
    *monitoring.__all__,
    *operations.__all__,
    *registry.__all__,
    *tracking.__all__,
    *training.__all__,
]
