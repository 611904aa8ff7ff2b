"""The fsspec artifact store, on a local folder and on a real S3 server (moto on loopback)."""

from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import fsspec
import pytest

from carnet.digests import ArtifactInfo, hash_file
from carnet.errors import ArtifactCorrupted, InvalidInput, NotFound, StorageError
from carnet.store.artifacts import CHUNK_SIZE, FsspecArtifactStore
from carnet.store.interfaces import ArtifactStore
from carnet.testing import S3Server, moto_s3_server

EMPTY_BLAKE3 = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def reference_digest(data: bytes) -> str:
    return "blake3:" + blake3.blake3(data).hexdigest()


@pytest.fixture(scope="module")
def s3() -> Any:
    with moto_s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def s3_bucket(s3: S3Server) -> str:
    return s3.create_bucket()


@dataclass
class Backend:
    """A store plus a raw filesystem handle on the same root, to look behind the store's back."""

    kind: str
    store: FsspecArtifactStore
    fs: Any
    base: str

    def object_key(self, digest: str) -> str:
        hexd = digest.split(":", 1)[1]
        return f"{self.base}/objects/blake3/{hexd[:2]}/{hexd[2:4]}/{hexd}"

    def objects(self) -> list[str]:
        return sorted(self.fs.find(f"{self.base}/objects"))

    def temps(self) -> list[str]:
        return sorted(self.fs.find(f"{self.base}/tmp"))

    def overwrite(self, digest: str, data: bytes) -> None:
        key = self.object_key(digest)
        if self.kind == "local":
            os.chmod(key, 0o644)  # stored objects are read-only
            Path(key).write_bytes(data)
        else:
            self.fs.pipe(key, data)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        base = (tmp_path / "store").as_posix()
        store = FsspecArtifactStore((tmp_path / "store").as_uri())
        return Backend("local", store, fsspec.filesystem("file"), base)
    server: S3Server = request.getfixturevalue("s3")
    base = f"{request.getfixturevalue('s3_bucket')}/prefix-{uuid.uuid4().hex[:8]}"
    store = FsspecArtifactStore(f"s3://{base}", server.storage_options)
    fs = fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False, **server.storage_options)
    return Backend("s3", store, fs, base)


class ShortReads(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read, like a socket or a pipe."""

    def __init__(self, data: bytes, step: int = 1000, fail_after: int | None = None) -> None:
        self._data = data
        self._pos = 0
        self._step = step
        self._fail_after = fail_after

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._fail_after is not None and self._pos >= self._fail_after:
            raise ConnectionResetError("source went away")
        end = len(self._data) if n < 0 else self._pos + min(n, self._step)
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk


def test_store_satisfies_the_protocol(backend: Backend) -> None:
    store: ArtifactStore = backend.store
    assert store.root.endswith(backend.base)


@pytest.mark.parametrize("data", [b"", b"x", os.urandom(100_000)], ids=["empty", "one-byte", "100k"])
def test_put_bytes_round_trip(backend: Backend, data: bytes) -> None:
    info = backend.store.put_bytes(data)
    assert info == ArtifactInfo(reference_digest(data), len(data))
    assert backend.store.get_bytes(info.digest) == data
    assert backend.store.exists(info.digest)
    assert backend.store.size(info.digest) == len(data)
    assert backend.fs.cat_file(backend.object_key(info.digest)) == data  # the layout is as documented
    assert backend.temps() == []


def test_empty_content_has_the_known_blake3_digest(backend: Backend) -> None:
    assert backend.store.put_bytes(b"").digest == EMPTY_BLAKE3
    assert hash_file(os.devnull).digest == EMPTY_BLAKE3


def test_put_file_get_file_round_trip(backend: Backend, tmp_path: Path) -> None:
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(300_000))
    info = backend.store.put_file(src)
    assert info == hash_file(src)
    assert info.digest == reference_digest(src.read_bytes())
    dest = tmp_path / "out" / "nested" / "copy.bin"
    assert backend.store.get_file(info.digest, dest) == dest
    assert dest.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.bin"]  # no temp file beside it
    dest.write_bytes(b"old content")
    backend.store.get_file(info.digest, str(dest))  # an existing destination is replaced
    assert dest.read_bytes() == src.read_bytes()
    assert backend.temps() == []


def test_put_stream_with_short_reads_and_open(backend: Backend) -> None:
    data = os.urandom(50_000)
    info = backend.store.put_stream(ShortReads(data))
    assert info == ArtifactInfo(reference_digest(data), len(data))
    with backend.store.open(info.digest) as f:
        head = f.read(10)
        rest = f.read()
        assert f.read() == b""
    assert head + rest == data
    with backend.store.open(info.digest) as f:
        pieces = iter(lambda: f.read(777), b"")
        assert b"".join(pieces) == data


def test_identical_content_is_stored_once(backend: Backend, tmp_path: Path) -> None:
    data = b"same bytes " * 1000
    src = tmp_path / "a.txt"
    src.write_bytes(data)
    infos = {
        backend.store.put_bytes(data),
        backend.store.put_file(src),
        backend.store.put_stream(io.BytesIO(data)),
        backend.store.put_bytes(data),
    }
    assert infos == {ArtifactInfo(reference_digest(data), len(data))}
    assert backend.objects() == [backend.object_key(reference_digest(data))]
    assert backend.temps() == []
    other = backend.store.put_bytes(data + b"!")
    assert other.digest != reference_digest(data)
    assert len(backend.objects()) == 2


def corrupt(backend: Backend, data: bytes) -> str:
    """Store ``data`` and flip one byte of the stored object (same size); return the digest."""
    digest = backend.store.put_bytes(data).digest
    backend.overwrite(digest, bytes([data[0] ^ 0xFF]) + data[1:])
    return digest


def test_corruption_detected_by_get_bytes(backend: Backend) -> None:
    digest = corrupt(backend, os.urandom(10_000))
    with pytest.raises(ArtifactCorrupted) as caught:
        backend.store.get_bytes(digest)
    assert caught.value.digest == digest
    assert digest in str(caught.value)
    assert backend.object_key(digest) in str(caught.value)  # names the stored object


def test_corruption_detected_by_get_file_leaves_no_file(backend: Backend, tmp_path: Path) -> None:
    digest = corrupt(backend, os.urandom(10_000))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ArtifactCorrupted, match=digest):
        backend.store.get_file(digest, out / "fresh.bin")
    assert list(out.iterdir()) == []
    previous = out / "previous.bin"
    previous.write_bytes(b"keep me")
    with pytest.raises(ArtifactCorrupted):
        backend.store.get_file(digest, previous)
    assert previous.read_bytes() == b"keep me"  # not replaced by corrupted bytes
    assert [p.name for p in out.iterdir()] == ["previous.bin"]


def test_corruption_detected_by_open_at_eof(backend: Backend) -> None:
    data = os.urandom(3 * CHUNK_SIZE // 2)
    digest = corrupt(backend, data)
    with backend.store.open(digest) as f:
        assert len(f.read(100)) == 100  # verification happens at the end, not before
        with pytest.raises(ArtifactCorrupted, match=digest) as caught:
            f.read()
        assert caught.value.digest == digest
        with pytest.raises(ArtifactCorrupted):  # and stays an error
            f.read()


def test_put_repairs_a_truncated_object(backend: Backend, tmp_path: Path) -> None:
    data = os.urandom(20_000)
    digest = backend.store.put_bytes(data).digest
    backend.overwrite(digest, data[:5000])
    with pytest.raises(ArtifactCorrupted):
        backend.store.get_bytes(digest)
    backend.store.put_bytes(data)
    assert backend.store.get_bytes(digest) == data
    backend.overwrite(digest, b"")
    src = tmp_path / "again.bin"
    src.write_bytes(data)
    backend.store.put_file(src)
    assert backend.store.get_bytes(digest) == data
    assert backend.temps() == []


def test_missing_digest_is_not_found(backend: Backend, tmp_path: Path) -> None:
    digest = reference_digest(b"never stored")
    assert not backend.store.exists(digest)
    for call in (
        lambda: backend.store.get_bytes(digest),
        lambda: backend.store.size(digest),
        lambda: backend.store.get_file(digest, tmp_path / "x" / "dest.bin"),
    ):
        with pytest.raises(NotFound, match=digest):
            call()
    with pytest.raises(NotFound, match=digest), backend.store.open(digest):
        pass
    assert not (tmp_path / "x" / "dest.bin").exists()


BAD_DIGESTS = [
    "sha256:../../etc/passwd",
    "blake3:../../../etc/passwd",
    "blake3:" + "../" * 21 + "a",
    "blake3:" + "A" * 64,
    "blake3:" + "g" * 64,
    "blake3:" + "a" * 63,
    "blake3:" + "a" * 65,
    "blake3:" + "a" * 64 + "\n",
    "blake3:" + "a" * 64 + "/x",
    "sha256:" + "a" * 64,
    "a" * 64,
    "",
]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_malformed_digest_is_invalid_input(backend: Backend, tmp_path: Path, digest: str) -> None:
    for call in (
        lambda: backend.store.get_bytes(digest),
        lambda: backend.store.exists(digest),
        lambda: backend.store.size(digest),
        lambda: backend.store.get_file(digest, tmp_path / "dest"),
    ):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert caught.value.field == "digest"
    with pytest.raises(InvalidInput), backend.store.open(digest):
        pass
    assert not (tmp_path / "dest").exists()


def test_progress_reports_every_byte(backend: Backend, tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 123)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    for put in (backend.store.put_file, lambda p, progress: backend.store.put_stream(p.open("rb"), progress)):
        seen: list[int] = []
        info = put(src, progress=seen.append)
        assert sum(seen) == info.size == len(data)
        assert len(seen) == 3
    seen = []
    backend.store.get_file(info.digest, tmp_path / "back.bin", progress=seen.append)
    assert sum(seen) == len(data) and len(seen) > 1
    seen = []
    hash_file(src, progress=seen.append)
    assert sum(seen) == len(data)


def test_put_tree(backend: Backend, tmp_path: Path) -> None:
    top = tmp_path / "model"
    (top / "sub" / "deeper").mkdir(parents=True)
    files = {
        "weights.bin": os.urandom(5000),
        "config.json": b'{"a": 1}',
        "sub/empty.txt": b"",
        "sub/deeper/copy.json": b'{"a": 1}',
        "sub/naïve name.txt": b"unicode names are metadata",
    }
    for rel, content in files.items():
        (top / rel).write_bytes(content)
    result = backend.store.put_tree(top)
    assert [rel for rel, _ in result] == sorted(files)
    for rel, info in result:
        assert info == ArtifactInfo(reference_digest(files[rel]), len(files[rel]))
        assert backend.store.get_bytes(info.digest) == files[rel]
    assert len(backend.objects()) == 4  # the duplicated JSON is stored once
    assert backend.temps() == []
    with pytest.raises(InvalidInput):
        backend.store.put_tree(tmp_path / "missing")
    with pytest.raises(InvalidInput):
        backend.store.put_tree(top / "weights.bin")
    with pytest.raises(InvalidInput):
        backend.store.put_file(top)


def test_large_file_is_streamed(backend: Backend, tmp_path: Path) -> None:
    src = tmp_path / "large.bin"
    with src.open("wb") as f:
        for _ in range(20):
            f.write(os.urandom(1024 * 1024))
    expected = hash_file(src)
    assert expected.size == 20 * 1024 * 1024
    calls: list[int] = []
    info = backend.store.put_file(src, progress=calls.append)
    assert info == expected
    assert max(calls) <= CHUNK_SIZE  # copied in chunks, not read whole
    dest = tmp_path / "large.out"
    backend.store.get_file(info.digest, dest)
    assert hash_file(dest) == expected
    hasher = blake3.blake3()
    with backend.store.open(info.digest) as f:
        while piece := f.read(1024 * 1024):
            hasher.update(piece)
    assert "blake3:" + hasher.hexdigest() == info.digest
    assert backend.temps() == []


def test_failed_source_leaves_nothing_behind(backend: Backend) -> None:
    data = os.urandom(3 * CHUNK_SIZE)
    with pytest.raises(ConnectionResetError):  # the source's error is not disguised
        backend.store.put_stream(ShortReads(data, step=CHUNK_SIZE, fail_after=2 * CHUNK_SIZE))
    seen: list[int] = []

    def failing_progress(n: int) -> None:
        seen.append(n)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backend.store.put_stream(io.BytesIO(data), progress=failing_progress)
    assert seen == [CHUNK_SIZE]
    assert backend.objects() == []
    assert backend.temps() == []


def test_local_objects_are_read_only(tmp_path: Path) -> None:
    store = FsspecArtifactStore(str(tmp_path / "plain-path-root"))
    digest = store.put_bytes(b"immutable").digest
    hexd = digest.split(":")[1]
    path = tmp_path / "plain-path-root" / "objects" / "blake3" / hexd[:2] / hexd[2:4] / hexd
    assert path.read_bytes() == b"immutable"
    assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0


def test_local_storage_failure_is_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    store = FsspecArtifactStore(blocker.as_uri())
    with pytest.raises(StorageError) as caught:
        store.put_bytes(b"data")
    message = str(caught.value)
    assert store.root in message and "\n" not in message
    with pytest.raises(StorageError, match="not-a-folder"):
        store.exists(reference_digest(b"data"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.s3
def test_unreachable_s3_is_storage_error() -> None:
    options = {
        "key": "k",
        "secret": "s",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{free_port()}", "region_name": "us-east-1"},
        "config_kwargs": {"retries": {"max_attempts": 1}},
    }
    store = FsspecArtifactStore("s3://nowhere-bucket/prefix", options)
    for call in (lambda: store.put_bytes(b"x"), lambda: store.exists(reference_digest(b"x"))):
        with pytest.raises(StorageError) as caught:
            call()
        assert "s3://nowhere-bucket/prefix" in str(caught.value)
        assert "\n" not in str(caught.value)


@pytest.mark.s3
def test_missing_bucket_write_is_storage_error(s3: S3Server) -> None:
    store = FsspecArtifactStore(f"s3://carnet-missing-{uuid.uuid4().hex[:8]}/p", s3.storage_options)
    with pytest.raises(StorageError, match="carnet-missing-"):
        store.put_file(__file__)


def test_unknown_root_protocol_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        FsspecArtifactStore("nosuchprotocol://somewhere")
    with pytest.raises(InvalidInput):
        FsspecArtifactStore("")


def test_importing_is_cheap() -> None:
    code = (
        "import sys, carnet.store.artifacts, carnet.testing\n"
        "heavy = [m for m in ('fsspec', 's3fs', 'blake3', 'moto', 'boto3', 'pytest') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
