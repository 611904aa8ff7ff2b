"""carnet's HTTP servers (FastAPI on uvicorn): the REST API (``api``) and the web UI (``ui``) of
``carnet server``, and the inference app of ``carnet serve`` (``v2``, ``runtime``)."""

__all__: list[str] = []
