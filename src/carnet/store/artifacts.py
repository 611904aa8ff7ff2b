"""The content-addressed artifact store: local folders (``file://`` or a path) and S3 (``s3://``, fsspec).

Content is stored under its digest ``blake3:<64 hex>`` at
``<root>/objects/blake3/<hex[:2]>/<hex[2:4]>/<hex>``; the digest is the only thing that ever becomes part
of a path, and it is checked against a strict pattern first. Writes hash while copying into
``<root>/tmp/`` and then move the object under its final key (``os.replace`` locally, server-side copy
then delete on object stores), so a partial object is never visible under a final key and identical
content is stored once. Every read verifies the digest.

Local roots are served with ``os`` directly and never import fsspec (about 70-140 ms on first use);
other roots go through fsspec. A local write is durable when it returns: the temp file is fsynced
before the rename, and the folder holding the object (and any folder the write created) after it, so
a crash cannot lose an object whose digest the metadata database has already committed.

BLAKE3 rather than SHA-256: measured with ``benchmarks/bench_hash.py`` on a 2-core machine (200 MiB),
sha256 1.2-1.8 GB/s, blake3 2.5-4.9 GB/s on one thread (2.2-3x) and 2.9-9 GB/s with ``max_threads=AUTO``.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

from carnet.digests import ALGORITHM, CHUNK_SIZE, ArtifactInfo, _digest, _new_hasher, hash_bytes, hash_file
from carnet.errors import ArtifactCorrupted, InvalidInput, NotFound, StorageError
from carnet.store.chunks import _HEAD as _MANIFEST_HEAD
from carnet.store.chunks import ChunkedFile, Manifest, PendingPack
from carnet.store.interfaces import ProgressFn

__all__ = ["ALGORITHM", "CHUNK_SIZE", "FsspecArtifactStore", "hash_bytes", "hash_file"]

_DIGEST_RE = re.compile(r"blake3:([0-9a-f]{64})")
_HEX_RE = re.compile(r"[0-9a-f]{64}")
_T = TypeVar("_T")


def _check_digest(digest: object) -> str:
    """Return the hex part of a well-formed digest, or raise InvalidInput."""
    match = _DIGEST_RE.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise InvalidInput(
            f"not an artifact digest: {digest!r:.100} (expected '{ALGORITHM}:' and 64 lowercase hex digits)",
            field="digest",
        )
    return match.group(1)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text}"[:300]


def _raise(exc: OSError) -> None:
    raise exc


def _local_base(root: str) -> str:
    """The absolute folder of a local root (``file://`` URL or path), spelt as fsspec spells it.

    Same rules as fsspec's ``LocalFileSystem._strip_protocol`` on POSIX (no normalisation beyond
    making the path absolute), so that a workspace keeps its objects where earlier versions put them.
    """
    path = root
    for prefix in ("file://", "file:", "local://", "local:"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    if os.sep != "/":  # Windows: ``file:///C:/x`` and backslashes
        if path[:1] == "/" and path[2:3] == ":":
            path = path[1:]
        return os.path.abspath(os.path.expanduser(path)).replace("\\", "/").rstrip("/")
    if path.startswith("~"):
        path = os.path.expanduser(path)
    elif not path.startswith("/"):
        path = path[2:] if path.startswith("./") else "" if path == "." else path
        path = f"{os.getcwd()}/{path}"
    return path.rstrip("/")


def _makedirs(folder: str) -> list[str]:
    """Create ``folder`` and missing parents; returns the parents whose entries changed, deepest first."""
    missing: list[str] = []
    current = folder
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    os.makedirs(folder, exist_ok=True)
    return [os.path.dirname(m) for m in missing]


def _fsync_dir(folder: str) -> None:
    """Make the entries of a folder durable (a rename or a new subfolder) where the OS allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):  # e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):  # not supported there
            raise
    finally:
        os.close(fd)


class FsspecArtifactStore:
    """Content-addressed, immutable byte storage under a ``file://`` (or plain path) or ``s3://`` root.

    Args:
        root: where the store lives, e.g. ``/data/carnet``, ``file:///data/carnet``, ``s3://bucket/prefix``.
        storage_options: passed to fsspec for non-local roots (for S3: ``key``, ``secret``,
            ``client_kwargs`` ...); ignored for local roots.

    Raises:
        InvalidInput: the root is not a URL fsspec knows.
        StorageError: the filesystem implementation is missing (``pip install 'carnet[s3]'`` for S3).
    """

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        if not isinstance(root, str) or not root.strip():
            raise InvalidInput(f"artifact store root must be a non-empty string, got {root!r}", field="root")
        self.root = root
        self._options = dict(storage_options or {})
        self._fs: Any = None
        self._local = True
        self._errors: tuple[type[BaseException], ...] = (OSError,)
        if root.startswith("file://") or "://" not in root:
            self._base = _local_base(root)  # plain os calls: no fsspec for local roots
        else:
            self._connect()

    def connect(self) -> None:
        """Load now what later operations need (e.g. before work at interpreter exit, when imports fail).

        The filesystem of a remote root is opened by the constructor; a local root needs nothing but the
        hash function, which this loads.
        """
        import blake3  # noqa: F401

    def _connect(self) -> None:
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        root, options = self.root, dict(self._options)
        if fsspec.core.split_protocol(root)[0] not in (None, "file", "local"):
            options.setdefault("use_listings_cache", False)  # objects may change behind our back
        try:
            fs, base = fsspec.core.url_to_fs(root, **options)
        except ImportError as exc:
            raise StorageError(f"artifact store {root}: {_one_line(exc)}") from exc
        except ValueError as exc:
            raise InvalidInput(f"artifact store root {root!r} is not usable: {exc}", field="root") from exc
        self._local = isinstance(fs, LocalFileSystem)  # e.g. ``local://``: served with os like file://
        self._fs = None if self._local else fs
        self._base = base.rstrip("/")
        errors: list[type[BaseException]] = [OSError]
        if not self._local:
            try:
                from botocore.exceptions import BotoCoreError, ClientError

                errors += [BotoCoreError, ClientError]
            except ImportError:
                pass
        self._errors = tuple(errors)

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({self.root!r})"

    # -- writing ---------------------------------------------------------------------------------------

    def put_file(self, path: str | Path, progress: ProgressFn | None = None) -> ArtifactInfo:
        """Store a local file; ``progress(n)`` is called with each chunk's size as it is copied."""
        source = Path(path)
        if not source.is_file():
            raise InvalidInput(f"not a file: {source}", field="path")
        with source.open("rb") as f:
            return self._put(f.read, progress)

    def put_stream(self, stream: IO[bytes], progress: ProgressFn | None = None) -> ArtifactInfo:
        """Store everything read from a binary stream until its end."""
        return self._put(stream.read, progress)

    def put_bytes(self, data: bytes) -> ArtifactInfo:
        """Store bytes; nothing is uploaded when the content is already stored."""
        hasher = _new_hasher()
        hasher.update(data)
        info = ArtifactInfo(_digest(hasher), len(data))
        if self._stored_size(self._object_key(info.digest)) == info.size:
            return info
        return self._put(io.BytesIO(data).read, None)

    def put_tree(self, folder: str | Path) -> list[tuple[str, ArtifactInfo]]:
        """Store every file under a folder; returns ``(relative posix path, info)`` sorted by path.

        Symbolic links to files are followed; linked folders are not entered; other entries
        (sockets, pipes, dangling links) are skipped. An unreadable subfolder raises.
        """
        top = Path(folder)
        if not top.is_dir():
            raise InvalidInput(f"not a folder: {top}", field="folder")
        files: list[tuple[str, Path]] = []
        for dirpath, _dirnames, filenames in os.walk(top, onerror=_raise):
            for name in filenames:
                path = Path(dirpath, name)
                if path.is_file():
                    files.append((path.relative_to(top).as_posix(), path))
        return [(rel, self.put_file(path)) for rel, path in sorted(files)]

    def _put(
        self, read: Callable[[int], bytes], progress: ProgressFn | None, space: str = "objects"
    ) -> ArtifactInfo:
        """Copy from ``read`` into a temp object while hashing, then commit it under its digest."""
        tmp = f"{self._base}/tmp/{uuid.uuid4().hex}"
        hasher = _new_hasher()
        size = 0
        f = self._call("write", self._open_write, tmp)
        try:
            while chunk := read(CHUNK_SIZE):  # errors of the source propagate unchanged
                hasher.update(chunk)
                self._call("write", f.write, chunk)
                size += len(chunk)
                if progress is not None:
                    progress(len(chunk))
            self._call("write", self._close_write, f)
        except BaseException:
            self._discard(f, tmp)
            raise
        info = ArtifactInfo(_digest(hasher), size)
        self._commit(tmp, self._object_key(info.digest, space), size)
        return info

    def _open_write(self, tmp: str) -> Any:
        if self._local:
            os.makedirs(os.path.dirname(tmp), exist_ok=True)
            return open(tmp, "xb")
        return self._fs.open(tmp, "wb")

    def _close_write(self, f: Any) -> None:
        if self._local:  # data on disk before the rename makes it visible
            f.flush()
            os.fsync(f.fileno())
        f.close()

    def _discard(self, f: Any, tmp: str) -> None:
        """Best effort: drop a half-written temp object (the original error matters more)."""
        try:
            if self._local:
                f.close()
            else:
                f.discard()  # aborts a multipart upload; never commits what was buffered
                f.closed = True
        except Exception:
            pass
        self._remove_quietly(tmp)

    def _remove_quietly(self, tmp: str) -> None:
        try:
            if self._local:
                os.remove(tmp)
            else:
                self._fs.rm(tmp)
        except Exception:
            pass

    def _commit(self, tmp: str, final: str, size: int, *, replace: bool = False) -> None:
        """Move a complete temp object to its final key, or drop it if that object is already there.

        An existing object of the wrong size (e.g. truncated by a crash) is replaced; with
        ``replace``, any existing object is.
        """
        try:
            if not replace and self._stored_size(final) == size:
                self._remove_quietly(tmp)
                return
            if self._local:
                os.chmod(tmp, 0o444)
                created = _makedirs(os.path.dirname(final))  # os.replace swaps even a read-only file
                os.replace(tmp, final)
                for folder in (os.path.dirname(final), *created):  # the new names themselves, on disk
                    _fsync_dir(folder)
            else:
                self._call("write", self._fs.copy, tmp, final)
                self._remove_quietly(tmp)  # the object is stored: a leftover temp is not an error
        except BaseException as exc:
            self._remove_quietly(tmp)
            if isinstance(exc, self._errors):
                raise self._storage_error("write", exc) from exc
            raise

    # -- reading ---------------------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Whether content with this digest is stored (whole, or as chunks)."""
        if self._stored_size(self._object_key(digest)) is not None:
            return True
        return self._stored_size(self._object_key(digest, "manifests")) is not None

    def size(self, digest: str) -> int:
        """Size in bytes of the stored content; NotFound if absent."""
        size = self._stored_size(self._object_key(digest))
        if size is not None:
            return size
        try:
            head = self._read_at(self._object_key(digest, "manifests"), 0, _MANIFEST_HEAD.size)
        except FileNotFoundError:
            raise self._not_found(digest) from None
        if len(head) < _MANIFEST_HEAD.size:
            raise ArtifactCorrupted(
                f"artifact {digest} is corrupted: its chunk manifest is truncated", digest=digest
            )
        return Manifest.size_of(head)

    def get_bytes(self, digest: str) -> bytes:
        """The stored content, verified; ArtifactCorrupted if it no longer matches its digest."""
        key, f = self._open_read(digest)
        with f:
            data: bytes = self._call("read", f.read)
        hasher = _new_hasher()
        hasher.update(data)
        self._verify(digest, key, hasher)
        return data

    def get_file(self, digest: str, dest: str | Path, progress: ProgressFn | None = None) -> Path:
        """Copy the content to ``dest`` (replacing it), verified while copying.

        The bytes go to a temp file beside ``dest``, renamed only once the digest matches; on a
        mismatch the temp file is deleted and ArtifactCorrupted is raised. Parent folders are created.
        """
        target = Path(dest)
        if target.is_dir():
            raise InvalidInput(f"destination is a folder: {target}", field="dest")
        key, f = self._open_read(digest)
        with f:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".carnet-{uuid.uuid4().hex}.part")
            hasher = _new_hasher()
            try:
                pieces: Iterator[Any] = (
                    f.runs()  # chunked content: verified pieces, no copy into read buffers
                    if isinstance(f, ChunkedFile)
                    else iter(lambda: self._call("read", f.read, CHUNK_SIZE), b"")
                )
                with open(tmp, "xb") as out:
                    for chunk in pieces:
                        hasher.update(chunk)
                        out.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
                self._verify(digest, key, hasher)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return target

    @contextmanager
    def open(self, digest: str) -> Iterator[IO[bytes]]:
        """A readable binary file over the stored content, not seekable.

        Verification happens at the end: the read that reaches EOF raises ArtifactCorrupted if the
        bytes read do not match the digest. A caller that stops before EOF gets no verification, so
        read to the end before trusting what was read.
        """
        key, f = self._open_read(digest)
        with io.BufferedReader(_VerifyingReader(self, digest, key, f), CHUNK_SIZE) as reader:
            yield reader

    def _open_read(self, digest: str) -> tuple[str, Any]:
        key = self._object_key(digest)
        try:
            if self._local:
                # never follow a link planted in the store: an object is a regular file written here
                fd = os.open(key, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                return key, os.fdopen(fd, "rb")
            return key, self._fs.open(key, "rb", block_size=CHUNK_SIZE, cache_type="none")
        except FileNotFoundError:
            manifest = self.read_manifest(digest)  # content stored as chunks
            if manifest is None:
                raise self._not_found(digest) from None
            return self._object_key(digest, "manifests"), ChunkedFile(self, manifest)
        except OSError as exc:
            if self._local and exc.errno == errno.ELOOP:
                raise ArtifactCorrupted(
                    f"artifact {digest} is corrupted: the stored object {key} is a symbolic link",
                    digest=digest,
                ) from None
            if isinstance(exc, self._errors):
                raise self._storage_error("read", exc) from exc
            raise

    def _verify(self, digest: str, key: str, hasher: Any) -> None:
        actual = _digest(hasher)
        if actual != digest:
            where = key if self._local else self._fs.unstrip_protocol(key)
            raise ArtifactCorrupted(
                f"artifact {digest} is corrupted: the stored object {where} hashes to {actual}", digest=digest
            )

    # -- removal ---------------------------------------------------------------------------------------

    def delete(self, digest: str) -> bool:
        """Remove stored content for good (erasure); True if it was there, False if already gone.

        Objects are immutable and shared by digest: callers delete only content that no record
        still references. For content stored as chunks this removes the manifest; the chunks only
        it used go with the next scrub or garbage collection (``carnet data gc``).
        """
        whole = self._delete_key(self._object_key(digest))
        return self._delete_key(self._object_key(digest, "manifests")) or whole

    # -- chunked content (see carnet.store.chunks) -----------------------------------------------------

    def put_pack(self, data: bytes | memoryview) -> str:
        """Store a pack of chunks, durably; returns its digest's hex."""
        pending = self.write_pack(data)
        self.sync_pack(pending)
        self.commit_pack(pending)
        return pending.pack

    def write_pack(self, data: bytes | memoryview) -> PendingPack:
        """Write a pack to a temp object: neither durable nor visible until synced and committed
        (:meth:`sync_pack` may run on another thread while the caller goes on)."""
        import blake3

        pack = blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest()
        tmp = f"{self._base}/tmp/{uuid.uuid4().hex}"
        f = self._call("write", self._open_write, tmp)
        try:
            self._call("write", f.write, data)
            self._call("write", f.close)
        except BaseException:
            self._discard(f, tmp)
            raise
        return PendingPack(pack, tmp, len(data))

    def sync_pack(self, pending: PendingPack) -> None:
        """Make a written pack's bytes durable (local disks; an object store's upload already is)."""
        if self._local:
            fd = self._call("write", os.open, pending.tmp, os.O_RDONLY)
            try:
                self._call("write", os.fsync, fd)
            finally:
                os.close(fd)

    def commit_pack(self, pending: PendingPack) -> None:
        """Move a synced pack under its final name (dropped if that pack is already stored)."""
        self._commit(pending.tmp, self._object_key(f"{ALGORITHM}:{pending.pack}", "packs"), pending.size)

    def discard_pack(self, pending: PendingPack) -> None:
        """Drop a written pack that will not be committed."""
        self._remove_quietly(pending.tmp)

    def read_pack(self, pack: str, offset: int, length: int) -> bytes:
        """``length`` bytes of a pack from ``offset``; ArtifactCorrupted when the pack is missing."""
        try:
            return self._read_at(self._object_key(f"{ALGORITHM}:{pack}", "packs"), offset, length)
        except FileNotFoundError:
            raise ArtifactCorrupted(f"chunk pack {pack} is missing from {self.root}", digest=pack) from None
        except self._errors as exc:
            raise self._storage_error("read", exc) from exc

    def delete_pack(self, pack: str) -> bool:
        """Remove a pack; True if it was there."""
        return self._delete_key(self._object_key(f"{ALGORITHM}:{pack}", "packs"))

    def delete_manifest(self, digest: str) -> bool:
        """Remove the chunk manifest of ``digest`` (a whole-file object of it stays); True if it was there."""
        return self._delete_key(self._object_key(digest, "manifests"))

    def delete_whole(self, digest: str) -> bool:
        """Remove the whole-file object of ``digest`` (its chunk manifest stays); True if it was there."""
        return self._delete_key(self._object_key(digest))

    def write_manifest(self, manifest: Manifest) -> None:
        """Store (or replace) the chunk manifest of ``manifest.digest``, durably."""
        data = manifest.encode()
        tmp = f"{self._base}/tmp/{uuid.uuid4().hex}"
        f = self._call("write", self._open_write, tmp)
        try:
            self._call("write", f.write, data)
            self._call("write", self._close_write, f)
        except BaseException:
            self._discard(f, tmp)
            raise
        self._commit(tmp, self._object_key(manifest.digest, "manifests"), len(data), replace=True)

    def read_manifest(self, digest: str) -> Manifest | None:
        """The chunk manifest of ``digest``, checked; None when the content is not stored as chunks."""
        key = self._object_key(digest, "manifests")
        try:
            if self._local:
                fd = os.open(key, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                with os.fdopen(fd, "rb") as f:
                    data = f.read()
            else:
                data = self._fs.cat_file(key)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if self._local and exc.errno == errno.ELOOP:
                raise ArtifactCorrupted(
                    f"artifact {digest} is corrupted: its manifest is a link", digest=digest
                ) from None
            raise self._storage_error("read", exc) from exc
        except self._errors as exc:
            raise self._storage_error("read", exc) from exc
        return Manifest.decode(data, digest)

    def has_whole(self, digest: str) -> bool:
        """Whether the content is stored as one whole object (not only as chunks)."""
        return self._stored_size(self._object_key(digest)) is not None

    def list_space(self, space: str) -> Iterator[tuple[str, int, float]]:
        """``(hex digest, size, modified time)`` of every object in ``packs`` or ``manifests``."""
        if space not in ("packs", "manifests", "objects"):
            raise InvalidInput(f"unknown store space {space!r}", field="space")
        top = f"{self._base}/{space}/{ALGORITHM}"
        if self._local:
            for dirpath, _dirs, files in os.walk(top):
                for name in files:
                    if _HEX_RE.fullmatch(name):
                        st = os.lstat(os.path.join(dirpath, name))
                        if stat.S_ISREG(st.st_mode):
                            yield name, st.st_size, st.st_mtime
            return
        try:
            found = self._fs.find(top, detail=True)
        except FileNotFoundError:
            return
        except self._errors as exc:
            raise self._storage_error("list", exc) from exc
        for path, info in found.items():
            name = path.rsplit("/", 1)[-1]
            if _HEX_RE.fullmatch(name) and info.get("type") == "file":
                modified = info.get("LastModified") or info.get("mtime") or 0
                when = modified.timestamp() if hasattr(modified, "timestamp") else float(modified)
                yield name, int(info["size"]), when

    def _read_at(self, key: str, offset: int, length: int) -> bytes:
        """Bytes of the object at ``key`` (FileNotFoundError when absent)."""
        if self._local:
            fd = os.open(key, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                parts = []
                while length > 0:
                    part = os.pread(fd, length, offset)
                    if not part:
                        break
                    parts.append(part)
                    offset += len(part)
                    length -= len(part)
                return parts[0] if len(parts) == 1 else b"".join(parts)
            finally:
                os.close(fd)
        try:
            data: bytes = self._fs.cat_file(key, start=offset, end=offset + length)
        except FileNotFoundError:
            raise
        except self._errors as exc:
            raise self._storage_error("read", exc) from exc
        return data

    def _delete_key(self, key: str) -> bool:
        try:
            if self._local:
                os.unlink(key)
                _fsync_dir(os.path.dirname(key))
            else:
                if self._stored_size(key) is None:
                    return False
                self._fs.rm_file(key)
        except FileNotFoundError:
            return False
        except self._errors as exc:
            raise self._storage_error("delete", exc) from exc
        return True

    # -- helpers ---------------------------------------------------------------------------------------

    def _object_key(self, digest: str, space: str = "objects") -> str:
        hexd = _check_digest(digest)
        return f"{self._base}/{space}/{ALGORITHM}/{hexd[:2]}/{hexd[2:4]}/{hexd}"

    def _stored_size(self, key: str) -> int | None:
        """Size of the object at ``key``, None if there is none."""
        try:
            if self._local:
                st = os.stat(key)
                return st.st_size if stat.S_ISREG(st.st_mode) else None
            info = self._fs.info(key)
            return int(info["size"]) if info.get("type") == "file" else None
        except FileNotFoundError:
            return None
        except self._errors as exc:
            raise self._storage_error("lookup", exc) from exc

    def _call(self, what: str, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a storage operation, turning filesystem and S3 errors into StorageError."""
        try:
            return fn(*args)
        except self._errors as exc:
            raise self._storage_error(what, exc) from exc

    def _storage_error(self, what: str, exc: BaseException) -> StorageError:
        return StorageError(f"artifact store {self.root}: {what} failed: {_one_line(exc)}")

    def _not_found(self, digest: str) -> NotFound:
        return NotFound(f"artifact {digest} not found in {self.root}", field="digest")


class _VerifyingReader(io.RawIOBase):
    """Raw reader that hashes what passes through and checks the digest when EOF is reached."""

    def __init__(self, store: FsspecArtifactStore, digest: str, key: str, f: Any) -> None:
        super().__init__()
        self._store = store
        self._digest = digest
        self._key = key
        self._f = f
        self._hasher = _new_hasher()
        self._pos = 0
        self._verified = False

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._verified or not view.nbytes:
            return 0
        n: int = self._store._call("read", self._f.readinto, view)
        if n:
            self._hasher.update(view[:n])
            self._pos += n
            return n
        self._store._verify(self._digest, self._key, self._hasher)  # raises on every EOF read if corrupted
        self._verified = True
        return 0

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read(CHUNK_SIZE):
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            try:
                self._f.close()
            finally:
                super().close()
