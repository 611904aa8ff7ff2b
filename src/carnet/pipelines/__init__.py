"""Pipelines: a pipeline file's steps run in order through the SDK (:class:`~carnet.client.ClientAPI`),
so the same file runs on a local workspace and against a ``carnet server``; used by ``carnet pipeline``."""
