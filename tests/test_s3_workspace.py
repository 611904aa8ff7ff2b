"""A whole workspace with its artifacts on S3 (a local S3-compatible server), through the SDK and CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from carnet.testing import S3Server, moto_s3_server


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_s3_server() as server:
        yield server


@pytest.fixture
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Environment pointing carnet at the local S3 server; returns the artifact root."""
    opts = s3.storage_options
    monkeypatch.setenv("CARNET_S3_ENDPOINT_URL", s3.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", opts["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", opts["secret"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3.region)
    return f"s3://{s3.create_bucket()}/carnet"


def test_runs_and_datasets_store_their_bytes_on_s3(s3: S3Server, s3_env: str, tmp_path: Path) -> None:
    import carnet

    uri = f"sqlite:///{tmp_path / 'meta.db'}"
    report = tmp_path / "report.txt"
    report.write_text("all good\n")
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,x\n2,y\n3,x\n")
    with carnet.start_run(project="s3", uri=uri, artifacts=s3_env) as run:
        run.log_metric("m", 1.0)
        run.log_artifact(report)
        version = run.log_dataset(data, "tiny")
    assert version.num_rows == 3

    client = carnet.Client(uri, artifacts=s3_env)
    arts = {a.path: a for a in client.list_artifacts(run.id)}
    assert set(arts) == {"report.txt"}
    bucket, prefix = s3_env[len("s3://") :].split("/", 1)
    keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]}
    hexd = arts["report.txt"].digest.split(":", 1)[1]
    assert f"{prefix}/objects/blake3/{hexd[:2]}/{hexd[2:4]}/{hexd}" in keys
    assert not any("/tmp/" in k for k in keys)  # no temporary objects left behind

    out = tmp_path / "back"
    client.download_artifact(run.id, "report.txt", out)
    assert (out).read_text() == "all good\n"
    client.download_dataset("tiny@1", tmp_path / "tiny.csv")
    assert (tmp_path / "tiny.csv").read_bytes() == data.read_bytes()
    assert client.verify_audit().ok
    client.close()


def test_cli_data_get_from_s3(s3_env: str, tmp_path: Path) -> None:
    from carnet.cli.main import cli

    uri = f"sqlite:///{tmp_path / 'meta.db'}"
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n2\n")
    runner = CliRunner()
    res = runner.invoke(
        cli, ["--uri", uri, "--artifacts", s3_env, "data", "add", str(data), "-n", "d", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["rows"] == 2
    res = runner.invoke(
        cli, ["--uri", uri, "--artifacts", s3_env, "data", "get", "d@1", "-o", str(tmp_path) + "/"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "d-v1.csv").read_text() == "a\n1\n2\n"
