"""Chunked content in the artifact store, local and on S3: the manifest format, dedup of appends and
edits against an index, reads verified per chunk and whole, and corruption caught."""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path
from typing import Any

import blake3
import fsspec
import pytest

from carnet.errors import ArtifactCorrupted, NotFound
from carnet.store.artifacts import FsspecArtifactStore
from carnet.store.chunks import MAX_SIZE, MIN_SIZE, Manifest, repack, write_chunked
from carnet.testing import S3Server, moto_s3_server


def rows(n: int, seed: int = 0) -> bytes:
    """CSV-like text that does not repeat (so every chunk is distinct)."""
    rng = random.Random(seed)
    return "".join(
        f"{i},{rng.random():.12f},{rng.choice('abcdefgh') * rng.randint(1, 9)}\n" for i in range(n)
    ).encode()


class MemoryIndex:
    """The chunk index as a dict, standing where the metadata database stands in carnet."""

    def __init__(self) -> None:
        self.chunks: dict[str, tuple[str, int, int]] = {}
        self.queries = 0

    def lookup(self, ids: list[str]) -> dict[str, tuple[str, int, int]]:
        self.queries += 1
        return {i: self.chunks[i] for i in ids if i in self.chunks}

    def write(self, store: FsspecArtifactStore, path: Path) -> Any:
        staged = write_chunked(store, path, self.lookup)
        self.chunks.update(staged.new_chunks)
        store.write_manifest(staged.manifest)
        return staged


@pytest.fixture(scope="module")
def s3() -> Any:
    with moto_s3_server() as server:
        yield server


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FsspecArtifactStore:
    if request.param == "local":
        return FsspecArtifactStore((tmp_path / "store").as_uri())
    server: S3Server = request.getfixturevalue("s3")
    bucket = server.create_bucket()
    return FsspecArtifactStore(f"s3://{bucket}/p-{uuid.uuid4().hex[:8]}", server.storage_options)


def test_a_file_round_trips_through_chunks_and_reads_verify_it(
    store: FsspecArtifactStore, tmp_path: Path
) -> None:
    data = rows(40_000)
    src = tmp_path / "a.csv"
    src.write_bytes(data)
    index = MemoryIndex()
    staged = index.write(store, src)
    digest = "blake3:" + blake3.blake3(data).hexdigest()
    assert staged.digest == digest and staged.size == len(data) and staged.new_bytes == len(data)
    lengths = [n for _, _, _, n in staged.manifest.entries]
    assert len(lengths) > 5 and all(MIN_SIZE <= n <= MAX_SIZE for n in lengths[:-1])
    assert store.exists(digest) and store.size(digest) == len(data) and not store.has_whole(digest)
    assert store.get_bytes(digest) == data
    assert store.get_file(digest, tmp_path / "out.csv").read_bytes() == data
    with store.open(digest) as f:
        assert f.read() == data
    assert store.read_manifest(digest) == staged.manifest


def test_an_append_and_a_mid_file_edit_store_only_the_chunks_around_them(
    store: FsspecArtifactStore, tmp_path: Path
) -> None:
    base = rows(60_000)  # ~1.9 MB
    index = MemoryIndex()
    (tmp_path / "v1").write_bytes(base)
    index.write(store, tmp_path / "v1")
    appended = base + rows(300, seed=1)
    (tmp_path / "v2").write_bytes(appended)
    v2 = index.write(store, tmp_path / "v2")
    assert 0 < v2.new_bytes <= len(appended) - len(base) + MAX_SIZE
    middle = len(base) // 2
    edited = base[:middle] + b"9" * 40 + base[middle + 40 :]
    (tmp_path / "v3").write_bytes(edited)
    v3 = index.write(store, tmp_path / "v3")
    assert 0 < v3.new_bytes <= 2 * MAX_SIZE
    for staged, content in ((v2, appended), (v3, edited)):
        assert store.get_bytes(staged.digest) == content
    again = index.write(store, tmp_path / "v3")  # the same content: nothing new
    assert again.new_bytes == 0 and again.new_packs == {}


def test_a_damaged_chunk_or_manifest_is_never_handed_out(store: FsspecArtifactStore, tmp_path: Path) -> None:
    data = rows(20_000)
    (tmp_path / "a").write_bytes(data)
    staged = MemoryIndex().write(store, tmp_path / "a")
    [pack] = staged.new_packs
    raw: Any = fsspec.filesystem("file") if store._local else store._fs
    key = store._object_key(f"blake3:{pack}", "packs")
    packed = bytearray(raw.cat_file(key))
    packed[len(packed) // 2] ^= 0xFF
    if store._local:
        os.chmod(key, 0o644)
    raw.pipe_file(key, bytes(packed))
    with pytest.raises(ArtifactCorrupted, match="no longer matches its id"):
        store.get_bytes(staged.digest)
    target = tmp_path / "out"
    with pytest.raises(ArtifactCorrupted):
        store.get_file(staged.digest, target)
    assert not target.exists()
    mkey = store._object_key(staged.digest, "manifests")
    if store._local:
        os.chmod(mkey, 0o644)
    raw.pipe_file(mkey, raw.cat_file(mkey)[:-7])
    with pytest.raises(ArtifactCorrupted, match="wrong length"):
        store.get_bytes(staged.digest)
    store.delete_pack(pack)
    store.delete(staged.digest)
    with pytest.raises(NotFound):
        store.get_bytes(staged.digest)


def test_a_manifest_is_checked_before_it_is_trusted() -> None:
    digest = "blake3:" + "ab" * 32
    good = Manifest(digest, 10, ["cd" * 32], [("ef" * 32, 0, 0, 10)])
    assert Manifest.decode(good.encode(), digest) == good
    cases = {
        "truncated": b"CARNET",
        "unknown format": b"XXXXXXXX" + good.encode()[8:],
        "other content": good.encode(),
        "does not add up": Manifest(digest, 11, ["cd" * 32], [("ef" * 32, 0, 0, 10)]).encode(),
    }
    for why, data in cases.items():
        with pytest.raises(ArtifactCorrupted, match=why):
            Manifest.decode(data, "blake3:" + "00" * 32 if why == "other content" else digest)
    bad_pack = Manifest(digest, 10, ["cd" * 32], [("ef" * 32, 3, 0, 10)]).encode()
    with pytest.raises(ArtifactCorrupted, match="does not add up"):
        Manifest.decode(bad_pack, digest)


def test_repack_keeps_only_the_chunks_asked_for_and_checks_them(
    store: FsspecArtifactStore, tmp_path: Path
) -> None:
    data = rows(30_000)
    (tmp_path / "a").write_bytes(data)
    staged = MemoryIndex().write(store, tmp_path / "a")
    [pack] = staged.new_packs
    entries = staged.manifest.entries
    keep = [(cid, o, n) for cid, _, o, n in entries[::2]]
    new, moved, size = repack(store, pack, keep)
    assert size == sum(n for _, _, n in keep) and new != pack
    for cid, o, n in keep:
        assert blake3.blake3(store.read_pack(new, moved[o], n)).hexdigest() == cid
    with pytest.raises(ArtifactCorrupted):
        repack(store, pack, [("00" * 32, entries[0][2], entries[0][3])])
    listed = {name for name, _, _ in store.list_space("packs")}
    assert {pack, new} <= listed
