# The public names of ``carnet``, written once: type checkers read them here, and ``__init__.py``
# derives ``__all__`` and the lazy loading of each name from this file (lazy_loader.attach_stub).
from . import errors as errors
from .client import ActiveRun as ActiveRun
from .client import Client as Client
from .client import ClientAPI as ClientAPI
from .client import active_run as active_run
from .client import connect as connect
from .client import end_run as end_run
from .client import flush as flush
from .client import log_artifact as log_artifact
from .client import log_dataset as log_dataset
from .client import log_metric as log_metric
from .client import log_metrics as log_metrics
from .client import log_param as log_param
from .client import log_params as log_params
from .client import set_seed as set_seed
from .client import set_tag as set_tag
from .client import start_run as start_run
from .domain import Metric as Metric
from .domain import RunStatus as RunStatus

__version__: str
