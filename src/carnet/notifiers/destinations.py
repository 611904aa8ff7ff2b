"""Where a notifier may write or send when carnet serves other people: the server's guard.

In an embedded process the caller is the machine's user and notifiers go where they say. On a
carnet server (:attr:`carnet.config.Settings.server` set) a caller is not, so:

- a ``path`` (``logfile``) must name a file inside the server's ``notifier_log_dir``: a relative
  name, no ``~``, no ``..``, no absolute path, no symbolic link out of the folder; it is stored as
  the absolute path inside the folder;
- a ``url`` (webhook, Slack) must reach a public address: the host is resolved and every address
  must be global unicast (not loopback, private, link-local, shared, multicast, reserved or
  unspecified, IPv4-mapped IPv6 included), unless ``notifier_allowed_hosts`` names the host, its
  address or a network holding it. The check runs when the notifier is created and again at each
  delivery; a plain ``http://`` delivery then connects to the very address that was checked
  (DNS rebinding cannot swap it), and an ``https://`` one is held by TLS to the checked name.
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import socket
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from carnet.config import ServerPolicy
from carnet.errors import InvalidInput

__all__ = ["active_policy", "check_log_path", "check_url", "guarded", "pinned_request"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_POLICY: contextvars.ContextVar[ServerPolicy | None] = contextvars.ContextVar(
    "carnet_server_policy", default=None
)


@contextmanager
def guarded(policy: ServerPolicy | None) -> Iterator[None]:
    """Deliveries inside the block follow ``policy`` (None: no guard, an embedded process)."""
    token = _POLICY.set(policy)
    try:
        yield
    finally:
        _POLICY.reset(token)


def active_policy() -> ServerPolicy | None:
    """The policy of the delivery in progress (None outside a server)."""
    return _POLICY.get()


def check_log_path(path: str, policy: ServerPolicy, *, field: str = "path") -> str:
    """The absolute path inside ``policy.notifier_log_dir`` that ``path`` names; InvalidInput otherwise."""
    folder = policy.notifier_log_dir
    if not folder:
        raise InvalidInput(
            "a logfile notifier would write a file on the server, and this server names no folder for "
            "them: set CARNET_NOTIFIER_LOG_DIR (or notifier_log_dir in carnet.toml) on the server, or "
            "use a webhook or Slack notifier",
            field=field,
        )
    root = Path(folder).resolve()
    given = str(path)
    inside = given[len(str(root)) :].lstrip("/") if given.startswith(str(root) + os.sep) else given
    pure = PurePosixPath(inside)
    if (
        not inside
        or "\x00" in inside
        or "\\" in inside
        or inside.startswith("~")
        or pure.is_absolute()
        or any(part in ("", ".", "..") for part in inside.split("/"))
    ):
        raise InvalidInput(
            f"{field} {given!r} must be a file name inside the server's notifier folder {folder}, "
            "such as alerts.jsonl or team/alerts.jsonl (no absolute path, '~' or '..')",
            field=field,
        )
    target = root.joinpath(*pure.parts)
    real_parent = target.parent.resolve()
    if real_parent != root and root not in real_parent.parents:
        raise InvalidInput(f"{field} {given!r} leaves the server's notifier folder {folder}", field=field)
    if target.is_symlink() or target.is_dir():
        raise InvalidInput(f"{field} {given!r} is a link or a folder; name a plain file", field=field)
    return str(target)


def _allowed(host: str, addresses: list[IPAddress], policy: ServerPolicy) -> bool:
    names = {h.lower().rstrip(".") for h in policy.notifier_allowed_hosts}
    if host.lower().rstrip(".") in names:
        return True
    networks = []
    for entry in policy.notifier_allowed_hosts:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return bool(addresses) and all(any(a in net for net in networks) for a in addresses)


#: IPv6 forms that carry an IPv4 address in their last 32 bits: IPv4-compatible and NAT64
_CARRIERS = tuple(ipaddress.ip_network(n) for n in ("::/96", "64:ff9b::/96", "64:ff9b:1::/48"))
#: deprecated site-local IPv6 (RFC 3879), still routed inside some networks
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to (mapped, 6to4, Teredo client, compatible, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _CARRIERS):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _public(address: IPAddress) -> bool:
    """Global unicast, and so is any IPv4 address an IPv6 one embeds (``::ffff:10.0.0.1``, 6to4 ...)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _SITE_LOCAL:
            return False
        inner = _embedded_ipv4(address)
        if inner is not None:
            if not _public(inner):
                return False
            if address.ipv4_mapped is not None:
                address = inner
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (legacy spellings such as ``0177.1`` and ``2130706433`` too)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url(url: str, policy: ServerPolicy, *, field: str = "url", unresolved_ok: bool = True) -> list[str]:
    """The checked addresses of ``url``'s host; InvalidInput when one is not public and not allowed.

    A host that does not resolve is accepted when ``unresolved_ok`` (the delivery checks again and
    fails if it then resolves to a refused address) and refused otherwise.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        name = host.lower().rstrip(".")
        # RFC 6761: localhost names are loopback whatever a resolver answers
        loopback = name == "localhost" or name.endswith(".localhost")
        addresses = [ipaddress.ip_address("127.0.0.1")] if loopback else _resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        if unresolved_ok:
            return []
        raise InvalidInput(f"{field}: the host {host!r} does not resolve", field=field) from None
    if _allowed(host, addresses, policy):
        return [str(a) for a in addresses]
    refused = [str(a) for a in addresses if not _public(a)]
    if refused:
        raise InvalidInput(
            f"{field}: {host!r} resolves to {', '.join(sorted(set(refused)))}, not a public address; "
            "a carnet server sends only to public addresses unless CARNET_NOTIFIER_ALLOWED_HOSTS (or "
            "notifier_allowed_hosts in carnet.toml) names the host or its network",
            field=field,
        )
    return [str(a) for a in addresses]


def pinned_request(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The URL and headers to POST with under the active policy (unchanged without one).

    Checks the host again; a plain ``http://`` URL is rewritten to the first checked address with
    the original ``Host`` header, so the connection goes where the check looked.
    """
    policy = active_policy()
    if policy is None:
        return url, headers
    addresses = check_url(url, policy, unresolved_ok=False)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not addresses:
        return url, headers
    ip = ipaddress.ip_address(addresses[0])
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{host}:{parts.port}" if parts.port else host
    original = parts.netloc.rsplit("@", 1)[-1]
    pinned = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return pinned, {**headers, "Host": original}
