"""The carnet command line."""

__all__: list[str] = []
