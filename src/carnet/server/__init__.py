"""carnet's HTTP servers: the inference app of ``carnet serve`` (FastAPI on uvicorn)."""

__all__: list[str] = []
