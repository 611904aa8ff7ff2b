"""Dataset versions stored as content-defined chunks, through carnet.Client on SQLite and PostgreSQL,
in-process and through a live server: growing datasets cost what changed, `du` accounts for it,
garbage collection and erasure purge remove exactly the chunks nobody reads, and whole-file
versions of older workspaces move to chunks online."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from carnet.errors import InvalidInput, NotFound, PermissionDenied
from carnet.services.chunks import StaleChunks
from carnet.store.chunks import MAX_SIZE
from conftest import Workspace, serve_workspace

pytestmark = pytest.mark.served

SECRET = "ann.secret@example.org"


def table(n: int, seed: int = 0, *, secret_at: int | None = None) -> str:
    rng = random.Random(seed)
    lines = ["id,score,email,city"]
    for i in range(n):
        email = SECRET if i == secret_at else f"user{seed}x{i}@example.com"
        lines.append(f"{i},{rng.random():.10f},{email},{rng.choice(['Lyon', 'Nantes', 'Lille', 'Metz'])}")
    return "\n".join(lines) + "\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def stored_files(services: Any) -> list[Path]:
    root = Path(services.ctx.artifacts._base)
    return [p for p in root.rglob("*") if p.is_file()]


def test_an_append_costs_only_the_new_rows_and_every_version_reads_back(
    client: Client, tmp_path: Path
) -> None:
    base = table(50_000)  # ~2.4 MB
    v1, _ = client.add_dataset(write(tmp_path, "v1.csv", base), "events")
    first = client.dataset_usage("events")
    [row] = first["datasets"]
    assert row["chunked_versions"] == 1 and row["logical_bytes"] == row["stored_bytes"] == len(base)
    grown = base + "".join(table(200, seed=1).splitlines(keepends=True)[1:])
    v2, _ = client.add_dataset(write(tmp_path, "v2.csv", grown), "events")
    [row] = client.dataset_usage("events")["datasets"]
    added = row["stored_bytes"] - len(base)
    assert 0 < added <= len(grown) - len(base) + MAX_SIZE
    assert row["logical_bytes"] == len(base) + len(grown) and row["dedup_ratio"] > 1.8
    for version, text in ((v1, base), (v2, grown)):
        out = client.download_dataset(version.ref, tmp_path / f"{version.version}.csv")
        assert out.read_text() == text
    with pytest.raises(NotFound, match="no dataset named 'ghost'"):
        client.dataset_usage("ghost")


def test_purge_leaves_no_byte_of_erased_rows_and_gc_keeps_what_others_read(
    client: Client, services: Any, tmp_path: Path
) -> None:
    original = table(40_000, secret_at=20_000)
    client.add_dataset(write(tmp_path, "people.csv", original), "people")
    # another dataset holds the same rows but the secret one: it shares most chunks (and packs)
    kept = "".join(line for line in original.splitlines(keepends=True) if SECRET not in line)
    other, _ = client.add_dataset(write(tmp_path, "copy.csv", kept), "copy")
    assert any(SECRET.encode() in p.read_bytes() for p in stored_files(services))
    result = client.erase_dataset("people", f"email == '{SECRET}'", reason="DSR-1", purge=True)
    assert result["purged"][0]["content_deleted"] is True
    assert not any(SECRET.encode() in p.read_bytes() for p in stored_files(services))
    assert client.download_dataset(other.ref, tmp_path / "copy-back.csv").read_text() == kept
    assert client.download_dataset("people@2", tmp_path / "people-v2.parquet").stat().st_size > 0
    actions = [e.action for e in client.audit_log(limit=None)]
    assert "dataset.gc" in actions and "dataset.purge" in actions
    # nothing else is garbage now; a collection finds nothing and records nothing
    dry = client.collect_garbage(dry_run=True, grace=0)
    assert dry["dry_run"] is True and dry["bytes_freed"] == 0
    assert client.collect_garbage(grace=0)["bytes_freed"] == 0


def test_gc_removes_leftovers_only_after_the_grace_period(
    client: Client, services: Any, tmp_path: Path
) -> None:
    client.add_dataset(write(tmp_path, "a.csv", table(5_000)), "a")
    # a write that stored its packs but never committed (a crash): unindexed objects
    staged = services.chunks.stage(write(tmp_path, "b.csv", table(5_000, seed=9)))
    assert staged.new_packs
    assert client.collect_garbage(dry_run=True)["orphan_packs"] == 0  # younger than the default hour
    dry = client.collect_garbage(dry_run=True, grace=0)
    assert dry["orphan_packs"] == len(staged.new_packs) and dry["bytes_freed"] == staged.new_bytes
    done = client.collect_garbage(grace=0)
    assert done["orphan_packs"] == len(staged.new_packs) and done["dry_run"] is False
    listed = {name for name, _, _ in services.ctx.artifacts.list_space("packs")}
    assert not listed & set(staged.new_packs)
    assert client.download_dataset("a", tmp_path / "a-back.csv").read_text() == table(5_000)
    with pytest.raises(InvalidInput, match="grace"):
        client.collect_garbage(grace=-1)


def test_a_write_racing_a_collection_is_told_to_write_again(
    client: Client, services: Any, tmp_path: Path
) -> None:
    text = table(20_000)
    first, _ = client.add_dataset(write(tmp_path, "x.csv", text), "x")
    staged = services.chunks.stage(write(tmp_path, "y.csv", text + "20000,0.5,z@example.com,Lyon\n"))
    assert staged.new_bytes < len(text)  # it reuses x's chunks ...
    services.chunks.collect(dead=[first.digest], grace=0)  # ... which a collection then removes
    with pytest.raises(StaleChunks), services.ctx.store.transaction() as tx:
        services.chunks.commit(tx, staged)


def test_whole_file_versions_move_to_chunks_online_and_resumably(
    client: Client, services: Any, tmp_path: Path
) -> None:
    texts = [table(8_000, seed=s) for s in range(3)]
    versions = [client.add_dataset(write(tmp_path, f"{i}.csv", t), "legacy")[0] for i, t in enumerate(texts)]
    artifacts = services.ctx.artifacts
    for version in versions:  # as a workspace from before chunks has them
        artifacts.put_file(tmp_path / f"{version.version - 1}.csv")
        with services.ctx.store.transaction() as tx:
            tx.chunks.drop_manifest(version.digest)
        artifacts.delete_manifest(version.digest)
    client.collect_garbage(grace=0)
    [row] = client.dataset_usage("legacy")["datasets"]
    assert (row["whole_versions"], row["chunked_versions"]) == (3, 0)
    plan = client.chunk_datasets(dry_run=True)
    assert len(plan["migrated"]) == 3 and all(artifacts.has_whole(v.digest) for v in versions)
    step = client.chunk_datasets(limit=2)
    assert len(step["migrated"]) == 2 and step["remaining"] == 1
    assert all(e["whole_deleted"] for e in step["migrated"])
    rest = client.chunk_datasets()
    assert len(rest["migrated"]) == 1 and rest["remaining"] == 0
    assert client.chunk_datasets()["migrated"] == []
    [row] = client.dataset_usage("legacy")["datasets"]
    assert (row["whole_versions"], row["chunked_versions"]) == (0, 3)
    for version, text in zip(versions, texts, strict=True):
        assert not artifacts.has_whole(version.digest)
        assert (
            client.download_dataset(version.ref, tmp_path / f"back{version.version}.csv").read_text() == text
        )
    assert [e.action for e in client.audit_log(limit=None)].count("dataset.chunk") == 3
    assert client.verify_audit(deep=True).ok


@pytest.mark.local_only(reason="drives the CLI on a local workspace folder")
def test_cli_du_gc_and_chunk(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    with Client(ws) as c:
        c.add_dataset(write(tmp_path, "a.csv", table(3_000)), "a")
        c.add_dataset(write(tmp_path, "b.csv", table(3_100)), "a")
    runner = CliRunner()
    du = runner.invoke(cli, ["--uri", ws, "data", "du", "--json"])
    assert du.exit_code == 0, du.output
    [row] = json.loads(du.output)["datasets"]
    assert row["versions"] == 2 and row["stored_bytes"] < row["logical_bytes"]
    shown = runner.invoke(cli, ["--uri", ws, "data", "du"])
    assert shown.exit_code == 0 and "reclaimable by carnet data gc" in shown.output
    gc = runner.invoke(cli, ["--uri", ws, "data", "gc", "--dry-run", "--grace", "0"])
    assert gc.exit_code == 0 and gc.output.startswith("would free 0 B")
    bad = runner.invoke(cli, ["--uri", ws, "data", "gc", "--grace", "-5"])
    assert bad.exit_code == 2
    chunk = runner.invoke(cli, ["--uri", ws, "data", "chunk", "--json"])
    assert chunk.exit_code == 0 and json.loads(chunk.output)["migrated"] == []
    for verb in ("du", "gc", "chunk"):
        helped = runner.invoke(cli, ["data", verb, "--help"])
        assert helped.exit_code == 0 and "Example:" in helped.output and "--json" in helped.output


@pytest.mark.local_only(reason="starts its own server, with a viewer beside the admin")
def test_usage_needs_a_viewer_and_collection_an_admin(tmp_path: Path) -> None:
    with serve_workspace(Workspace(str(tmp_path / "ws"), None, "sqlite", tmp_path)) as served:
        served.services.auth.add_user("viewer", {"*": "viewer"})
        token = served.services.auth.create_token("viewer", "t")[0]
        with Client(served.uri, token=token) as viewer:
            assert viewer.dataset_usage()["datasets"] == []
            with pytest.raises(PermissionDenied):
                viewer.collect_garbage(dry_run=True)
            with pytest.raises(PermissionDenied):
                viewer.chunk_datasets(dry_run=True)
        with Client(served.uri, token=served.token) as admin:
            assert admin.collect_garbage(dry_run=True)["dry_run"] is True


def test_two_writes_of_the_same_new_file_keep_the_packs_they_share(
    client: Client, services: Any, tmp_path: Path
) -> None:
    src = write(tmp_path, "same.csv", table(20_000, seed=4))
    first, second = services.chunks.stage(src), services.chunks.stage(src)  # staged side by side
    assert first.new_packs == second.new_packs  # the same bytes, packed the same way
    for staged in (first, second):
        with services.ctx.store.transaction() as tx:
            services.chunks.commit(tx, staged)
    assert services.ctx.artifacts.get_bytes(first.digest) == src.read_bytes()
    version, _ = client.add_dataset(src, "same")
    assert client.download_dataset(version.ref, tmp_path / "back.csv").read_bytes() == src.read_bytes()
