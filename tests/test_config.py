"""Workspace settings: URI precedence, URI forms, artifact roots, errors; opening failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from carnet.bootstrap import open_services, workspace_exists
from carnet.config import DEFAULT_WORKSPACE, Settings, resolve_settings
from carnet.errors import InvalidInput, NotFound, StorageError

PG = "postgresql+psycopg://carnet@db.example:5433/meta"


def write_toml(folder: Path, body: str) -> Path:
    path = folder / "carnet.toml"
    path.write_text(body, encoding="utf-8")
    return path


# -- precedence ------------------------------------------------------------------------
def test_default_is_dot_carnet_in_the_working_directory(tmp_path: Path) -> None:
    s = resolve_settings(env={}, cwd=tmp_path)
    assert s.uri == DEFAULT_WORKSPACE == ".carnet"
    assert s.workspace_dir == tmp_path / ".carnet"
    assert s.metadata_url == f"sqlite:///{tmp_path / '.carnet' / 'carnet.db'}"
    assert s.artifact_root == f"file://{tmp_path / '.carnet' / 'artifacts'}"
    assert s.backend == "sqlite"


def test_default_follows_the_process_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_settings().workspace_dir == tmp_path.resolve() / ".carnet"


def test_precedence_explicit_then_env_then_toml_then_default(tmp_path: Path) -> None:
    write_toml(tmp_path, 'uri = "from-toml"\n')
    env = {"CARNET_URI": str(tmp_path / "from-env")}
    assert resolve_settings("/abs/explicit", env=env, cwd=tmp_path).workspace_dir == Path("/abs/explicit")
    assert resolve_settings(None, env=env, cwd=tmp_path).workspace_dir == tmp_path / "from-env"
    assert resolve_settings(None, env={}, cwd=tmp_path).workspace_dir == tmp_path / "from-toml"
    assert (
        resolve_settings(None, env={}, cwd=tmp_path / "elsewhere").workspace_dir
        == tmp_path / "elsewhere/.carnet"
    )


def test_env_is_read_from_the_process_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARNET_URI", f"sqlite:///{tmp_path}/x.db")
    s = resolve_settings(cwd=tmp_path)
    assert (s.uri, s.metadata_url, s.actor) == (
        f"sqlite:///{tmp_path}/x.db",
        f"sqlite:///{tmp_path}/x.db",
        "tester",
    )


def test_toml_carnet_section_and_artifacts(tmp_path: Path) -> None:
    write_toml(tmp_path, f'[carnet]\nuri = "{PG}"\nartifacts = "s3://bucket/prefix"\n')
    s = resolve_settings(env={}, cwd=tmp_path)
    assert (s.metadata_url, s.artifact_root, s.backend) == (PG, "s3://bucket/prefix", "postgresql")
    assert s.workspace_dir is None
    # CARNET_ARTIFACTS beats the file, an explicit argument beats both
    s = resolve_settings(env={"CARNET_ARTIFACTS": "s3://env/p"}, cwd=tmp_path)
    assert s.artifact_root == "s3://env/p"
    s = resolve_settings(artifacts="file:///explicit", env={"CARNET_ARTIFACTS": "s3://env/p"}, cwd=tmp_path)
    assert s.artifact_root == "file:///explicit"


def test_toml_artifacts_apply_to_an_explicit_uri(tmp_path: Path) -> None:
    write_toml(tmp_path, 'artifacts = "s3://shared/arts"\n')
    assert resolve_settings(PG, env={}, cwd=tmp_path).artifact_root == "s3://shared/arts"


def test_bad_toml_is_invalid_input_naming_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'uri = "unterminated\n')
    with pytest.raises(InvalidInput) as err:
        resolve_settings(env={}, cwd=tmp_path)
    assert err.value.field == "carnet.toml"
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


# -- URI forms -------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["relative", "absolute", "file_url", "home"])
def test_folder_workspaces(tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    uri, folder = {
        "relative": ("runs/ws", tmp_path / "runs/ws"),
        "absolute": (str(tmp_path / "abs"), tmp_path / "abs"),
        "file_url": (f"file://{tmp_path}/viaurl", tmp_path / "viaurl"),
        "home": ("~/ws", tmp_path / "home/ws"),
    }[form]
    s = resolve_settings(uri, env={}, cwd=tmp_path)
    assert s.uri == uri
    assert s.workspace_dir == folder
    assert s.metadata_url == f"sqlite:///{folder / 'carnet.db'}"
    assert s.artifact_root == f"file://{folder / 'artifacts'}"


def test_relative_folder_is_resolved_against_cwd(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    s = resolve_settings("../ws", env={}, cwd=tmp_path / "sub")
    assert s.workspace_dir == tmp_path / "ws"


def test_uri_whitespace_is_stripped(tmp_path: Path) -> None:
    assert resolve_settings(f"  {tmp_path}/ws \n", env={}, cwd=tmp_path).workspace_dir == tmp_path / "ws"


@pytest.mark.parametrize("absolute", [False, True])
def test_sqlite_urls(tmp_path: Path, absolute: bool) -> None:
    uri, db = (
        (f"sqlite:///{tmp_path}/abs/c.db", tmp_path / "abs/c.db")
        if absolute
        else ("sqlite:///meta/c.db", tmp_path / "meta/c.db")
    )
    s = resolve_settings(uri, env={}, cwd=tmp_path)
    assert s.uri == uri
    assert s.metadata_url == f"sqlite:///{db}"
    assert s.artifact_root == f"file://{db.parent / 'artifacts'}"
    assert (s.workspace_dir, s.backend) == (None, "sqlite")


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://carnet@db.example:5433/meta",
        "postgresql+psycopg://carnet@db.example:5433/meta",
        "postgres://carnet@db.example:5433/meta",
        "POSTGRESQL://carnet@db.example:5433/meta",
    ],
)
def test_postgresql_urls_use_psycopg(uri: str, tmp_path: Path) -> None:
    s = resolve_settings(uri, artifacts="s3://bucket/p", env={}, cwd=tmp_path)
    assert s.metadata_url == PG
    assert s.uri == uri
    assert (s.backend, s.workspace_dir, s.artifact_root) == ("postgresql", None, "s3://bucket/p")


def test_postgresql_url_keeps_query_and_password(tmp_path: Path) -> None:
    s = resolve_settings("postgresql://u:pw@h/db?sslmode=require", artifacts="s3://b", env={}, cwd=tmp_path)
    assert s.metadata_url == "postgresql+psycopg://u:pw@h/db?sslmode=require"


def test_postgresql_without_artifacts_names_artifacts(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_settings(PG, env={}, cwd=tmp_path)
    assert err.value.field == "artifacts"
    assert "artifact" in str(err.value)
    assert "CARNET_ARTIFACTS" in str(err.value)


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("mysql://u@h/db", "unknown workspace URI scheme 'mysql'"),
        ("s3://bucket/ws", "unknown workspace URI scheme 's3'"),
        ("http://carnet.example:8080", "not supported"),
        ("https://carnet.example", "not supported"),
        ("sqlite:///:memory:", "needs a file path"),
        ("sqlite://", "needs a file path"),
        ("sqlite:///", "needs a file path"),
    ],
)
def test_unsupported_uris_are_invalid_input(uri: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_settings(uri, artifacts="s3://b", env={}, cwd=tmp_path)
    assert err.value.field == "uri"
    assert words in str(err.value)


# -- artifact roots --------------------------------------------------------------------
def test_artifact_roots(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert resolve_settings(ws, artifacts="s3://b/x", env={}, cwd=tmp_path).artifact_root == "s3://b/x"
    root = resolve_settings(ws, artifacts="file:///data/a", env={}, cwd=tmp_path).artifact_root
    assert root == "file:///data/a"
    assert resolve_settings(ws, artifacts="/data/b", env={}, cwd=tmp_path).artifact_root == "file:///data/b"


def test_relative_artifact_root_is_resolved_against_cwd(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    s = resolve_settings(str(tmp_path / "ws"), artifacts="arts", env={}, cwd=tmp_path / "proj")
    assert s.artifact_root == f"file://{tmp_path / 'proj' / 'arts'}"
    write_toml(tmp_path / "proj", 'artifacts = "../shared"\n')  # relative to the folder of carnet.toml
    s = resolve_settings(PG, env={}, cwd=tmp_path / "proj")
    assert s.artifact_root == f"file://{tmp_path / 'shared'}"


@pytest.mark.parametrize("root", ["gs://bucket/p", "http://host/p", "ftp://h/x"])
def test_unsupported_artifact_roots(root: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_settings(PG, artifacts=root, env={}, cwd=tmp_path)
    assert err.value.field == "artifacts"
    assert root in str(err.value)


# -- other settings ----------------------------------------------------------------------
def test_s3_endpoint_from_env_becomes_storage_options(tmp_path: Path) -> None:
    env = {"CARNET_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}
    s = resolve_settings(PG, artifacts="s3://b", env=env, cwd=tmp_path)
    assert s.storage_options == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}
    assert resolve_settings(PG, artifacts="s3://b", env={}, cwd=tmp_path).storage_options == {}


def test_s3_endpoint_from_toml_and_env_precedence(tmp_path: Path) -> None:
    write_toml(tmp_path, f'uri = "{PG}"\nartifacts = "s3://b"\ns3_endpoint_url = "http://minio:9000"\n')
    s = resolve_settings(env={}, cwd=tmp_path)
    assert s.storage_options == {"client_kwargs": {"endpoint_url": "http://minio:9000"}}
    s = resolve_settings(env={"CARNET_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}, cwd=tmp_path)
    assert s.storage_options == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}


def test_s3_endpoint_from_toml_applies_when_uri_and_artifacts_are_explicit(tmp_path: Path) -> None:
    write_toml(tmp_path, 's3_endpoint_url = "http://minio:9000"\n')
    s = resolve_settings(PG, artifacts="s3://b", env={}, cwd=tmp_path)
    assert s.storage_options == {"client_kwargs": {"endpoint_url": "http://minio:9000"}}


def test_audit_key_actor_and_flush_interval(tmp_path: Path) -> None:
    env = {"CARNET_AUDIT_KEY": "k3y", "CARNET_ACTOR": "alice", "CARNET_FLUSH_INTERVAL": "0.25"}
    s = resolve_settings(str(tmp_path), env=env, cwd=tmp_path)
    assert (s.audit_key, s.actor, s.flush_interval) == ("k3y", "alice", 0.25)
    s = resolve_settings(str(tmp_path), env={"CARNET_AUDIT_KEY": ""}, cwd=tmp_path)
    assert s.audit_key is None
    assert s.flush_interval == 1.0
    assert s.actor  # the login name when CARNET_ACTOR is unset
    assert s.actor != "alice"


@pytest.mark.parametrize("value", ["soon", "0", "-1", ""])
def test_bad_flush_interval_is_invalid_input(tmp_path: Path, value: str) -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_settings(str(tmp_path), env={"CARNET_FLUSH_INTERVAL": value}, cwd=tmp_path)
    assert "CARNET_FLUSH_INTERVAL" in str(err.value)


def test_offload_rows_default_override_and_errors(tmp_path: Path) -> None:
    assert resolve_settings(str(tmp_path), env={}, cwd=tmp_path).offload_rows == 50_000
    s = resolve_settings(str(tmp_path), env={"CARNET_OFFLOAD_ROWS": "0"}, cwd=tmp_path)
    assert s.offload_rows == 0
    for bad in ("many", "-5", "1.5"):
        with pytest.raises(InvalidInput) as err:
            resolve_settings(str(tmp_path), env={"CARNET_OFFLOAD_ROWS": bad}, cwd=tmp_path)
        assert err.value.field == "CARNET_OFFLOAD_ROWS"


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = resolve_settings(str(tmp_path), env={}, cwd=tmp_path)
    with pytest.raises(AttributeError):
        s.uri = "other"  # type: ignore[misc]
    assert isinstance(s, Settings)


# -- opening a workspace ----------------------------------------------------------------
@pytest.mark.parametrize("password", [None, "s3cr3t-pw"])
def test_unreachable_postgres_is_a_one_line_storage_error(tmp_path: Path, password: str | None) -> None:
    auth = f"postgres:{password}" if password else "postgres"
    uri = f"postgresql://{auth}@127.0.0.1:1/carnetdb"
    with pytest.raises(StorageError) as err:
        open_services(uri, artifacts="file://" + str(tmp_path / "a"))
    msg = str(err.value)
    assert "\n" not in msg
    assert "127.0.0.1:1/carnetdb" in msg
    assert "metadata database" in msg
    if password:
        assert password not in msg


def test_open_services_without_create_on_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(NotFound) as err:
        open_services(str(missing), create=False)
    assert err.value.field == "uri"
    assert "carnet init" in str(err.value)
    assert not missing.exists()
    with pytest.raises(NotFound):
        open_services(f"sqlite:///{tmp_path}/nope.db", create=False)
    assert not (tmp_path / "nope.db").exists()


def test_open_services_creates_then_reopens_without_create(tmp_path: Path) -> None:
    uri = str(tmp_path / "ws")
    assert not workspace_exists(resolve_settings(uri))
    services = open_services(uri)
    try:
        services.tracking.create_project("p")
    finally:
        services.close()
    assert workspace_exists(resolve_settings(uri))
    assert (tmp_path / "ws" / "carnet.db").is_file()
    services = open_services(uri, create=False)
    try:
        assert [p.name for p, _ in services.tracking.list_projects()] == ["p"]
        assert services.ctx.settings.actor == "tester"
    finally:
        services.close()
