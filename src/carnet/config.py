"""Workspace settings: which metadata database and artifact root to use.

A workspace is addressed by one URI, chosen in this order: an explicit argument
(``--uri``), the ``CARNET_URI`` environment variable, ``uri`` in ``carnet.toml``
in the working directory, then the default folder ``./.carnet``.

Accepted URIs:

* a folder path (or ``file://`` URL): metadata in ``<folder>/carnet.db``, artifacts
  in ``<folder>/artifacts``;
* ``sqlite:///path.db``: artifacts in ``artifacts/`` beside the database file;
* ``postgresql+psycopg://user@host:port/db``: the artifact root must be given
  (``--artifacts``, ``CARNET_ARTIFACTS`` or ``artifacts`` in ``carnet.toml``), as
  ``file://`` or ``s3://``.

An S3-compatible server other than AWS is named by ``CARNET_S3_ENDPOINT_URL`` (or
``s3_endpoint_url`` in ``carnet.toml``); credentials come from the usual AWS
environment variables or files.

Nothing here is read at import time; :func:`resolve_settings` is called by the
composition root and the result is passed down.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["DEFAULT_WORKSPACE", "ServerPolicy", "Settings", "chosen_uri", "resolve_settings", "server_policy"]

DEFAULT_WORKSPACE = ".carnet"
_ARTIFACT_SCHEMES = ("file", "s3")


@dataclass(frozen=True)
class ServerPolicy:
    """What callers of a carnet server may make the server's own machine do.

    Present on :attr:`Settings.server` only in a process serving the REST API (``carnet
    server``): a caller there is not the machine's user, so notifiers may neither name a file of
    the server outside ``notifier_log_dir`` nor send to loopback, private, link-local or other
    non-public addresses unless ``notifier_allowed_hosts`` names them.

    Attributes:
        notifier_log_dir: the folder ``logfile`` notifiers may write in (``CARNET_NOTIFIER_LOG_DIR``,
            ``notifier_log_dir`` in carnet.toml); None refuses ``logfile`` notifiers.
        notifier_allowed_hosts: host names, addresses or networks (``10.0.0.0/8``) webhook and Slack
            notifiers may reach although not public (``CARNET_NOTIFIER_ALLOWED_HOSTS``,
            comma-separated, or the ``notifier_allowed_hosts`` list in carnet.toml).
        allowed_model_modules: packages a training spec's model class path may come from, besides
            scikit-learn, LightGBM, XGBoost and installed carnet plugins
            (``CARNET_ALLOWED_MODEL_MODULES``, comma-separated, or ``allowed_model_modules``).
    """

    notifier_log_dir: str | None = None
    notifier_allowed_hosts: tuple[str, ...] = ()
    allowed_model_modules: tuple[str, ...] = ()


def server_policy(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> ServerPolicy:
    """The :class:`ServerPolicy` of this process's environment and ``carnet.toml``."""
    env = os.environ if env is None else env
    toml = _read_toml(Path.cwd() if cwd is None else cwd)
    folder = env.get("CARNET_NOTIFIER_LOG_DIR") or toml.get("notifier_log_dir") or None
    if folder is not None and not isinstance(folder, str):
        raise InvalidInput("notifier_log_dir must be a folder path", field="notifier_log_dir")
    raw: Any = env.get("CARNET_NOTIFIER_ALLOWED_HOSTS") or toml.get("notifier_allowed_hosts") or ()
    hosts = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(hosts, list | tuple) or not all(isinstance(h, str) for h in hosts):
        raise InvalidInput(
            'notifier_allowed_hosts must be a list of hosts or networks, e.g. ["10.0.0.0/8"]',
            field="notifier_allowed_hosts",
        )
    log_dir = str(Path(folder).expanduser().resolve()) if folder else None
    raw_modules: Any = env.get("CARNET_ALLOWED_MODEL_MODULES") or toml.get("allowed_model_modules") or ()
    modules = raw_modules.split(",") if isinstance(raw_modules, str) else raw_modules
    if not isinstance(modules, list | tuple) or not all(isinstance(m, str) for m in modules):
        raise InvalidInput(
            'allowed_model_modules must be a list of packages, e.g. ["catboost"]',
            field="allowed_model_modules",
        )
    return ServerPolicy(
        log_dir, tuple(h.strip() for h in hosts if h.strip()), tuple(m.strip() for m in modules if m.strip())
    )


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one workspace.

    Attributes:
        uri: the workspace URI as given (or defaulted).
        metadata_url: SQLAlchemy URL of the metadata database.
        artifact_root: fsspec URL of the artifact root (``file://`` or ``s3://``).
        workspace_dir: the folder of a folder workspace, else ``None``.
        actor: the name recorded in audit events and approvals (``CARNET_USER``, else
            ``CARNET_ACTOR``, else the operating-system user).
        audit_key: optional secret; when set, audit hashes are HMACs under it.
        anchor_key: the Ed25519 private key that signs audit checkpoints, as PEM text or the
            path of a PEM file (``CARNET_ANCHOR_KEY``, ``anchor_key`` in ``carnet.toml``).
        anchor_public_key: its public key, which is all verification needs (PEM text or path;
            ``CARNET_ANCHOR_PUBLIC_KEY``, ``anchor_public_key``); default: from ``anchor_key``.
        audit_witnesses: URLs of the witnesses that keep checkpoints (``CARNET_AUDIT_WITNESSES``,
            comma-separated, or the ``audit_witnesses`` list in ``carnet.toml``).
        flush_interval: seconds between background metric flushes.
        storage_options: extra fsspec options for the artifact filesystem.
        offload_rows: evaluations of at least this many rows draw their plots and permutation
            importance in a helper process while the main one stores the model (0 = never).
        hooks: lifecycle hook plugins besides the ``carnet.hooks`` entry points, as
            ``pkg.module:object`` paths (``CARNET_HOOKS``, comma-separated, or ``hooks`` in
            ``carnet.toml``); see :mod:`carnet.plugins.hooks`.
        executor: where trials, batch prediction and large drift run: ``local`` (default),
            ``ray:local``, ``ray://HOST:PORT``, ``dask:local`` or ``dask://HOST:PORT``
            (``CARNET_EXECUTOR``, or ``executor`` in ``carnet.toml``); see :mod:`carnet.execution`.
        pii_tier: the scan ``data add`` runs: 1 (patterns and check digits, default) or 2 (also
            names and places in free text with Presidio, extra ``pii``; ``CARNET_PII_TIER``, or
            ``pii_tier`` in ``carnet.toml``).
        server: the rules for callers of a carnet server, set only in a process serving the REST
            API; None in an embedded process (the caller is the machine's user).
    """

    uri: str
    metadata_url: str
    artifact_root: str
    workspace_dir: Path | None = None
    actor: str = "unknown"
    audit_key: str | None = None
    anchor_key: str | None = None
    anchor_public_key: str | None = None
    audit_witnesses: tuple[str, ...] = ()
    flush_interval: float = 1.0
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    offload_rows: int = 50_000
    hooks: tuple[str, ...] = ()
    executor: str = "local"
    pii_tier: int = 1
    server: ServerPolicy | None = None

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "postgresql" if self.metadata_url.startswith("postgresql") else "sqlite"


def _read_toml(cwd: Path) -> dict[str, Any]:
    path = cwd / "carnet.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            f"carnet.toml is not valid TOML: {exc}; fix or remove {path}", field="carnet.toml"
        ) from exc
    section = data.get("carnet", data)
    return section if isinstance(section, dict) else {}


def _default_actor(env: Mapping[str, str]) -> str:
    for key in ("CARNET_USER", "CARNET_ACTOR"):
        if env.get(key):
            return env[key]
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


def flush_interval(env: Mapping[str, str]) -> float:
    """``CARNET_FLUSH_INTERVAL`` of ``env`` in seconds (default 1.0); InvalidInput when not positive."""
    raw = env.get("CARNET_FLUSH_INTERVAL", "1.0")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InvalidInput(
            f"CARNET_FLUSH_INTERVAL={raw!r} is not a positive number of seconds, e.g. 1.0",
            field="CARNET_FLUSH_INTERVAL",
        )
    return value


def _offload_rows(env: Mapping[str, str]) -> int:
    raw = env.get("CARNET_OFFLOAD_ROWS", "50000")
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidInput(
            f"CARNET_OFFLOAD_ROWS={raw!r} is not a row count >= 0 (0 turns the helper process off)",
            field="CARNET_OFFLOAD_ROWS",
        )
    return value


def _witnesses(env: Mapping[str, str], toml: Mapping[str, Any]) -> tuple[str, ...]:
    """``CARNET_AUDIT_WITNESSES`` (comma-separated), else ``audit_witnesses`` of carnet.toml."""
    raw: Any = env.get("CARNET_AUDIT_WITNESSES") or toml.get("audit_witnesses") or ()
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list | tuple) or not all(isinstance(u, str) for u in raw):
        raise InvalidInput(
            'audit_witnesses in carnet.toml must be a list of URLs, e.g. ["file:///srv/anchors.jsonl"]',
            field="audit_witnesses",
        )
    return tuple(u.strip() for u in raw if u.strip())


def _hooks(env: Mapping[str, str], toml: Mapping[str, Any]) -> tuple[str, ...]:
    """``CARNET_HOOKS`` (comma-separated), else ``hooks`` of carnet.toml: ``pkg.module:object`` paths."""
    raw: Any = env.get("CARNET_HOOKS") or toml.get("hooks") or ()
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list | tuple) or not all(isinstance(u, str) for u in raw):
        raise InvalidInput(
            'hooks in carnet.toml must be a list of plugin paths, e.g. ["my_pkg.hooks:plugin"]', field="hooks"
        )
    return tuple(u.strip() for u in raw if u.strip())


def _executor(env: Mapping[str, str], toml: Mapping[str, Any]) -> str:
    """``CARNET_EXECUTOR``, else ``executor`` of carnet.toml, else ``local`` (checked when opened)."""
    raw: Any = env.get("CARNET_EXECUTOR") or toml.get("executor") or "local"
    if not isinstance(raw, str):
        raise InvalidInput('executor in carnet.toml must be a string, e.g. "ray:local"', field="executor")
    return raw.strip() or "local"


def _pii_tier(env: Mapping[str, str], toml: Mapping[str, Any]) -> int:
    """``CARNET_PII_TIER``, else ``pii_tier`` of carnet.toml, else 1; InvalidInput unless 1 or 2."""
    raw: Any = env.get("CARNET_PII_TIER") or toml.get("pii_tier") or 1
    if str(raw).strip() not in ("1", "2"):
        raise InvalidInput(f"pii_tier must be 1 or 2, got {raw!r}", field="pii_tier")
    return int(str(raw).strip())


def _check_artifact_root(root: str, cwd: Path) -> str:
    scheme = root.split("://", 1)[0] if "://" in root else "file"
    if scheme not in _ARTIFACT_SCHEMES:
        raise InvalidInput(
            f"unsupported artifact root scheme {scheme!r} in {root!r}; use file:// or s3://",
            field="artifacts",
        )
    if "://" not in root:
        path = Path(root).expanduser()
        return "file://" + str((path if path.is_absolute() else cwd / path).resolve())
    return root


def chosen_uri(
    uri: str | None = None, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> str:
    """The workspace URI in force: ``uri``, else ``CARNET_URI``, else ``carnet.toml``, else ``./.carnet``.

    A ``http(s)://`` result names a carnet server (``carnet.Client`` then talks to it over HTTP).
    """
    env = os.environ if env is None else env
    toml = _read_toml(Path.cwd() if cwd is None else cwd)
    return str(uri or env.get("CARNET_URI") or toml.get("uri") or DEFAULT_WORKSPACE).strip()


def resolve_settings(
    uri: str | None = None,
    *,
    artifacts: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve a workspace URI (and optional artifact root) into :class:`Settings`.

    Raises:
        InvalidInput: unknown URI scheme, or a PostgreSQL URI without artifact root.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    toml = _read_toml(cwd)
    raw = uri or env.get("CARNET_URI") or toml.get("uri") or DEFAULT_WORKSPACE
    raw = str(raw).strip()
    art = artifacts or env.get("CARNET_ARTIFACTS") or toml.get("artifacts")
    storage: dict[str, Any] = {}
    endpoint = env.get("CARNET_S3_ENDPOINT_URL") or toml.get("s3_endpoint_url")
    if endpoint:
        storage["client_kwargs"] = {"endpoint_url": endpoint}
    common: dict[str, Any] = {
        "storage_options": storage,
        "actor": _default_actor(env),
        "audit_key": env.get("CARNET_AUDIT_KEY") or None,
        "anchor_key": env.get("CARNET_ANCHOR_KEY") or toml.get("anchor_key") or None,
        "anchor_public_key": env.get("CARNET_ANCHOR_PUBLIC_KEY") or toml.get("anchor_public_key") or None,
        "audit_witnesses": _witnesses(env, toml),
        "flush_interval": flush_interval(env),
        "offload_rows": _offload_rows(env),
        "hooks": _hooks(env, toml),
        "executor": _executor(env, toml),
        "pii_tier": _pii_tier(env, toml),
    }
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme in ("", "file"):
        folder = Path(raw[len("file://") :] if scheme == "file" else raw).expanduser()
        folder = (cwd / folder).resolve() if not folder.is_absolute() else folder
        root = _check_artifact_root(art, cwd) if art else "file://" + str(folder / "artifacts")
        return Settings(raw, f"sqlite:///{folder / 'carnet.db'}", root, workspace_dir=folder, **common)
    if scheme == "sqlite":
        path_part = raw[len("sqlite:///") :] if raw.startswith("sqlite:///") else ""
        if not path_part or path_part == ":memory:":
            raise InvalidInput(
                f"sqlite URI {raw!r} needs a file path, e.g. sqlite:///runs/carnet.db", field="uri"
            )
        db = Path(path_part).expanduser()
        db = (cwd / db).resolve() if not db.is_absolute() else db
        root = _check_artifact_root(art, cwd) if art else "file://" + str(db.parent / "artifacts")
        return Settings(raw, f"sqlite:///{db}", root, **common)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        url = "postgresql+psycopg://" + raw.split("://", 1)[1]
        if not art:
            raise InvalidInput(
                "a PostgreSQL workspace needs an artifact root: pass --artifacts s3://bucket/prefix "
                "(or file:///path), or set CARNET_ARTIFACTS",
                field="artifacts",
            )
        return Settings(raw, url, _check_artifact_root(art, cwd), **common)
    if scheme in ("http", "https"):
        raise InvalidInput(
            f"workspace URI {raw!r} names a carnet server: opening it as a local workspace is not "
            "supported; use carnet.Client(uri), or a folder, sqlite:/// or postgresql+psycopg:// URI",
            field="uri",
        )
    raise InvalidInput(
        f"unknown workspace URI scheme {scheme!r} in {raw!r}; use a folder path, "
        "sqlite:///path.db or postgresql+psycopg://user@host/db",
        field="uri",
    )
