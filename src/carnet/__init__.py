"""carnet: an ML platform that keeps every step on record.

``import carnet`` is cheap: the SDK is loaded on first use of one of its names, which are listed
once, in ``__init__.pyi``.

    import carnet
    with carnet.start_run(project="demo") as run:
        run.log_param("model", "lgbm")
        run.log_metric("auc", 0.91)
    carnet.connect().search_runs("demo", filter="metrics.auc > 0.9")
"""

from __future__ import annotations

import lazy_loader

__version__ = "0.1.0"

__getattr__, _dir, _names = lazy_loader.attach_stub(__name__, __file__)
__all__ = sorted([*_names, "__version__"])


def __dir__() -> list[str]:
    return list(__all__)
