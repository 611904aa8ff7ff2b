"""Extension points: the Protocols (``api``) and the one table of plugin kinds with its loader."""

from carnet.plugins.loader import PLUGIN_KINDS, PluginKind, Registry, registry

__all__ = ["PLUGIN_KINDS", "PluginKind", "Registry", "registry"]
