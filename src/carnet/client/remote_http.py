"""The HTTP plumbing of the remote SDK client: requests, errors, verified downloads, uploads."""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from functools import cache, partial
from pathlib import Path
from string import Formatter
from typing import Any, Concatenate, Generic, NoReturn, ParamSpec, Self, TypeVar, cast, overload

import httpx

from carnet.client.api import ClientAPI
from carnet.client.wire import decode
from carnet.domain import Promotion
from carnet.errors import (
    ArtifactCorrupted,
    CarnetError,
    GateFailed,
    InvalidInput,
    StorageError,
    error_from_problem,
)
from carnet.operations import API_PREFIX, Call, call, operation

__all__ = [
    "API_PREFIX",
    "HttpTransport",
    "RemoteCall",
    "is_server_uri",
    "remote",
    "server_decides",
    "text_values",
]

_CHUNK = 1024 * 1024
#: the methods whose other values travel in the query (the rest send them as a JSON body)
_QUERY_METHODS = frozenset({"GET", "DELETE"})

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")


def is_server_uri(uri: object) -> bool:
    """Whether ``uri`` names a carnet server (``http://`` or ``https://``)."""
    return isinstance(uri, str) and uri.strip().lower().startswith(("http://", "https://"))


def server_decides(**options: Any) -> None:
    """Refuse options a server decides for the work it runs (its executor, its memory limits)."""
    from carnet.errors import InvalidInput

    for name, value in options.items():
        if value is not None:
            raise InvalidInput(f"{name} is set by the server for work it runs; leave it out", field=name)


def text_values(values: dict[str, Any]) -> dict[str, str]:
    """Params and tags as the local client stores them: text."""
    return {str(k): v if isinstance(v, str) else str(v) for k, v in values.items()}


class HttpTransport(ClientAPI):
    """The HTTP side of :class:`~carnet.client.remote.RemoteClient`: one connection pool to a
    ``carnet server`` at ``url`` (``http(s)://host:port``), problem+json turned into carnet errors,
    verified streaming downloads and streaming uploads.

    Args:
        url: the server's base URL (``/api/v1`` is added).
        token: API token sent as ``Authorization: Bearer``; default ``CARNET_TOKEN``.
        timeout: seconds to wait for each request.
        transport: an httpx transport (e.g. ``httpx.ASGITransport``); default: the network.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not is_server_uri(url):
            raise InvalidInput(f"{url!r} is not a carnet server URL: use http(s)://host:port", field="uri")
        self._url = url.strip().rstrip("/")
        if self._url.endswith(API_PREFIX):
            self._url = self._url[: -len(API_PREFIX)]
        token = token if token is not None else os.environ.get("CARNET_TOKEN") or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self._url + API_PREFIX, headers=headers, timeout=timeout, transport=transport
        )

    @property
    def uri(self) -> str:
        return self._url

    @property
    def services(self) -> NoReturn:
        """Not available: the services live in the server's process."""
        self._local_only("services")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP plumbing -------------------------------------------------------------------------------
    def _local_only(self, what: str) -> NoReturn:
        raise InvalidInput(
            f"{what} needs a local workspace (a folder, sqlite:/// or postgresql:// URI); "
            f"the carnet server at {self._url} has no route for it",
            field="uri",
        )

    def _send(self, at: Call, **kwargs: Any) -> httpx.Response:
        """Send the request of one operation (:func:`carnet.operations.call` makes ``at``)."""
        try:
            r = self._http.request(at.method, at.path, **kwargs)
        except httpx.TransportError as exc:
            raise StorageError(f"cannot reach the carnet server at {self._url}: {exc}") from exc
        if r.is_error:
            self._raise(r)
        return r

    def _raise(self, r: httpx.Response) -> NoReturn:
        try:
            doc = r.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "error" not in doc:
            raise CarnetError(f"the carnet server answered {r.status_code}: {r.text[:200]}")
        exc = error_from_problem(doc)
        if isinstance(exc, GateFailed) and isinstance(doc.get("promotion"), dict):
            exc.promotion = decode(Promotion, doc["promotion"])
        raise exc

    def _json(self, at: Call, **kwargs: Any) -> Any:
        return self._send(at, **kwargs).json()

    @overload
    def _op(
        self,
        name: str,
        returns: type[T],
        /,
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> T: ...
    @overload
    def _op(
        self,
        name: str,
        returns: None = None,
        /,
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> None: ...
    def _op(
        self,
        name: str,
        returns: type[T] | None = None,
        /,
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> T | None:
        """Send operation ``name`` of :data:`carnet.operations.OPERATIONS` and decode its answer as
        ``returns`` (None: the answer is not read).

        The ``values`` named by the route's placeholders fill its path; the others go to the query
        of a GET or DELETE (None left out) or to the JSON body of a POST, PUT or PATCH. ``query``
        and ``body`` are sent as given (``body`` over the other values).
        """
        op = operation(name)
        path = {key: values.pop(key) for key in _placeholders(op.path)}
        params = dict(query or {})
        json: Any = body
        if op.method in _QUERY_METHODS:
            params = {k: v for k, v in values.items() if v is not None} | params
        elif values or body is not None:
            json = {**values, **(body or {})}
        r = self._send(call(name, **path), params=params or None, json=json)
        return None if returns is None else decode(returns, r.json())

    def _download(
        self,
        at: Call,
        dest: Path,
        progress: Callable[[int], None] | None = None,
        params: Any = None,
        *,
        digest: str | None = None,
        json: Any = None,
        headers_out: dict[str, str] | None = None,
    ) -> Path:
        """Stream a download into a temp file beside ``dest``, check its digest, then rename.

        ``digest`` is the one the workspace recorded for the content (an artifact's, a dataset
        version's, a model version's): the bytes must match it, and the server's
        ``X-Carnet-Digest`` must name it. Without it, the server's header is what is checked.
        """
        from carnet.digests import hash_file

        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".carnet-", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                try:
                    with self._http.stream(at.method, at.path, params=params, json=json) as r:
                        if r.is_error:
                            r.read()
                            self._raise(r)
                        if headers_out is not None:
                            headers_out.update({k.lower(): v for k, v in r.headers.items()})
                        sent = r.headers.get("X-Carnet-Digest")
                        if digest is not None and sent is not None and sent != digest:
                            raise ArtifactCorrupted(
                                f"the server sent {sent} for {dest.name}, recorded as {digest}", digest=digest
                            )
                        expected = digest or sent
                        for chunk in r.iter_bytes(_CHUNK):
                            f.write(chunk)
                            if progress is not None:
                                progress(len(chunk))
                except httpx.TransportError as exc:
                    raise StorageError(
                        f"download from the carnet server at {self._url} failed: {exc}"
                    ) from exc
            if expected and hash_file(tmp).digest != expected:
                raise ArtifactCorrupted(
                    f"the bytes received for {dest.name} do not match {expected}", digest=expected
                )
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    @staticmethod
    def _chunks(path: Path, progress: Callable[[int], None] | None) -> Iterator[bytes]:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                if progress is not None:
                    progress(len(chunk))
                yield chunk

    def _upload(self, at: Call, src: Path, progress: Callable[[int], None] | None, **kw: Any) -> Any:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(src.stat().st_size)}
        return self._json(at, content=self._chunks(src, progress), headers=headers, **kw)

    def resolve_run_id(self, text: str) -> str:
        return str(self._op("get_run", dict[str, Any], run_id=text)["id"])


@cache
def _placeholders(path: str) -> tuple[str, ...]:
    """The names of a route's placeholders (``/runs/{run_id}/tags/{key:path}``: run_id, key)."""
    return tuple(field for _, field, _, _ in Formatter().parse(path) if field)


class RemoteCall(Generic[P, R]):
    """A remote SDK call that is one operation of the table: its arguments, bound by the SDK
    signature it implements (defaults applied, ``convert`` run on the named ones), are the
    operation's values (see :meth:`HttpTransport._op`), and the answer is decoded as ``returns``."""

    def __init__(
        self,
        op: str,
        declared: Callable[Concatenate[Any, P], R],
        returns: type[R] | None,
        convert: dict[str, Callable[[Any], Any]],
    ) -> None:
        self.op, self.declared, self.returns, self.convert = op, declared, returns, convert
        self.signature = inspect.signature(declared)
        self.__doc__ = declared.__doc__

    @property
    def __signature__(self) -> inspect.Signature:
        """The SDK signature (``inspect.signature(RemoteClient.call)``, as for a method)."""
        return self.signature

    def __call__(self, client: HttpTransport, /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Send the operation for ``client`` (also what a bound call does)."""
        bound = self.signature.bind(client, *args, **kwargs)
        bound.apply_defaults()
        values = dict(list(bound.arguments.items())[1:])  # without self
        for name, fn in self.convert.items():
            values[name] = fn(values[name])
        return client._op(self.op, self.returns, **values)  # type: ignore[return-value]

    @overload
    def __get__(self, obj: None, owner: type) -> RemoteCall[P, R]: ...

    @overload
    def __get__(self, obj: object, owner: type) -> Callable[P, R]: ...

    def __get__(self, obj: object, owner: type) -> Any:
        return self if obj is None else partial(self.__call__, cast(HttpTransport, obj))


def remote(
    op: str,
    declared: Callable[Concatenate[Any, P], R],
    returns: type[R] | None = None,
    **convert: Callable[[Any], Any],
) -> RemoteCall[P, R]:
    """The remote implementation of the SDK call ``declared`` (``ClientAPI.<call>``) that sends
    operation ``op`` and decodes its answer as ``returns`` (None: nothing is read; the call returns
    None); ``convert`` maps an argument's name to what turns its value into the wire's."""
    return RemoteCall(op, declared, returns, convert)
