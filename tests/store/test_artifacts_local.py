"""The artifact store on local roots: plain os calls (no fsspec), fsspec's paths, durable folders."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import carnet.store.artifacts as artifacts_mod
from carnet.store.artifacts import FsspecArtifactStore


def test_local_round_trip_never_imports_fsspec(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import io, sys
        from pathlib import Path
        from carnet.store.artifacts import FsspecArtifactStore
        from carnet.digests import hash_file

        top = Path(sys.argv[1])
        for root in ((top / "a").as_uri(), str(top / "b"), "relative/store"):
            store = FsspecArtifactStore(root)
            store.connect()
            info = store.put_bytes(b"hello")
            assert store.put_bytes(b"hello") == info  # stored once
            assert store.exists(info.digest) and store.size(info.digest) == 5
            assert store.get_bytes(info.digest) == b"hello"
            src = top / "src.bin"
            src.write_bytes(b"x" * 100_000)
            file_info = store.put_file(src)
            assert file_info == hash_file(src)
            assert store.put_stream(io.BytesIO(b"stream")).size == 6
            out = store.get_file(file_info.digest, top / "out" / "copy.bin")
            assert out.read_bytes() == src.read_bytes()
            with store.open(info.digest) as f:
                assert f.read() == b"hello"
            (top / "tree" / "sub").mkdir(parents=True, exist_ok=True)
            (top / "tree" / "sub" / "f.txt").write_bytes(b"tree")
            assert [rel for rel, _ in store.put_tree(top / "tree")] == ["sub/f.txt"]
        heavy = [m for m in ("fsspec", "s3fs", "botocore") if m in sys.modules]
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=tmp_path)
    assert (tmp_path / "relative" / "store" / "objects").is_dir()


@pytest.mark.parametrize(
    "root",
    [
        "file://{tmp}/store",
        "file://{tmp}/store/",
        "file:{tmp}/store",
        "{tmp}/store",
        "{tmp}/store//",
        "{tmp}/a/../store",
        "rel",
        "./rel",
        "rel/x/",
        "rel/../up",
        ".",
    ],
)
def test_local_paths_are_the_ones_fsspec_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: str
) -> None:
    """Existing workspaces keep their objects where the fsspec-based store put them."""
    import fsspec

    monkeypatch.chdir(tmp_path)
    root = root.format(tmp=tmp_path.as_posix())
    _fs, expected = fsspec.core.url_to_fs(root)
    assert artifacts_mod._local_base(root) == expected.rstrip("/")
    (tmp_path / "a").mkdir(exist_ok=True)
    store = FsspecArtifactStore(root)
    digest = store.put_bytes(b"where").digest
    hexd = digest.split(":")[1]
    assert Path(expected, "objects", "blake3", hexd[:2], hexd[2:4], hexd).read_bytes() == b"where"
    assert store.get_bytes(digest) == b"where"


def test_home_relative_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    monkeypatch.setenv("HOME", str(tmp_path))
    assert artifacts_mod._local_base("~/carnet-artifacts") == fsspec.core.url_to_fs("~/carnet-artifacts")[1]
    store = FsspecArtifactStore("~/carnet-artifacts")
    digest = store.put_bytes(b"home").digest
    assert store.get_bytes(digest) == b"home"
    assert (tmp_path / "carnet-artifacts" / "objects").is_dir()


def test_local_protocol_root_is_served_locally(tmp_path: Path) -> None:
    store = FsspecArtifactStore(f"local://{tmp_path.as_posix()}/store")
    digest = store.put_bytes(b"local protocol").digest
    assert store.get_bytes(digest) == b"local protocol"
    assert (tmp_path / "store" / "objects").is_dir()


def test_commit_makes_new_folders_and_the_object_name_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real = artifacts_mod._fsync_dir

    def record(folder: str) -> None:
        synced.append(folder)
        real(folder)

    monkeypatch.setattr(artifacts_mod, "_fsync_dir", record)
    root = tmp_path / "store"
    store = FsspecArtifactStore(str(root))
    hexd = store.put_bytes(b"first").digest.split(":")[1]
    objects = root / "objects" / "blake3"
    expected = [objects / hexd[:2] / hexd[2:4], objects / hexd[:2], objects, root / "objects", root]
    assert synced == [str(p) for p in expected]

    synced.clear()
    store.put_bytes(b"first")  # already stored: nothing renamed, nothing to sync
    assert synced == []

    # content whose folders partly exist: only the folders that changed are synced
    synced.clear()
    second = store.put_bytes(b"second").digest.split(":")[1]
    assert second[:2] != hexd[:2]
    assert synced == [str(objects / second[:2] / second[2:4]), str(objects / second[:2]), str(objects)]


def test_fsync_dir_tolerates_folders_that_cannot_be_synced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import errno

    def unsupported(_fd: int) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "fsync", unsupported)
    artifacts_mod._fsync_dir(str(tmp_path))  # no error: some filesystems refuse fsync on folders

    def failing(_fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError):
        artifacts_mod._fsync_dir(str(tmp_path))


def test_a_symlink_planted_in_the_store_is_never_followed(tmp_path: Path) -> None:
    from carnet.errors import ArtifactCorrupted

    store = FsspecArtifactStore(str(tmp_path / "store"))
    info = store.put_bytes(b"the real content")
    secret = tmp_path / "outside.txt"
    secret.write_bytes(b"the real content")  # same bytes: only refusing the link can stop the read
    key = store._object_key(info.digest)
    os.unlink(key)
    os.symlink(secret, key)
    for read in (
        lambda: store.get_bytes(info.digest),
        lambda: store.get_file(info.digest, tmp_path / "copy.bin"),
    ):
        with pytest.raises(ArtifactCorrupted, match="symbolic link"):
            read()
    assert not (tmp_path / "copy.bin").exists()
