"""A live server refuses model files and class paths that would run foreign code.

Probe 1: a skops file naming ``sklearn.callback._transport.Connection``, which is really
``multiprocessing.connection.Connection`` re-exported; its ``__del__`` closes the file descriptor
the file chose. An editor uploads it (refused at upload, naming the type), and when such a file is
in the registry or in a run anyway, every load (an admin's ``load_model``, the server's own
evaluation of a run, ``carnet serve``) refuses it; no descriptor is ever closed and no module the
file names is imported.

Probe 4: a training spec naming a class path outside the server's allow-list is a 422 naming
``model.name`` before anything is imported.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import skops.io as sio
from api_testkit import problem, running_api
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from carnet import Client
from carnet.domain.models import ColumnSpec, Signature
from carnet.errors import InvalidInput, PermissionDenied
from conftest import test_server_policy

REEXPORT = "sklearn.callback._transport.Connection"


def _reexport_exists() -> bool:
    import importlib

    try:
        module = importlib.import_module("sklearn.callback._transport")
    except ImportError:
        return False
    return getattr(module, "Connection", None) is not None


needs_reexport = pytest.mark.skipif(
    not _reexport_exists(), reason="this scikit-learn does not re-export multiprocessing's Connection"
)


def forged(fd: int | None, name: str = REEXPORT) -> bytes:
    """A skops file (skops' own schema) whose object is ``name`` rebuilt from {_handle: fd, ...}."""
    with zipfile.ZipFile(io.BytesIO(sio.dumps(StandardScaler()))) as zf:
        schema = json.loads(zf.read("schema.json"))
    schema["__module__"], schema["__class__"] = name.rsplit(".", 1)

    def value(v: Any) -> dict[str, Any]:
        return {"__class__": type(v).__name__, "__module__": "builtins", "__loader__": "JsonNode",
                "content": json.dumps(v), "is_json": True, "__id__": id(v)}  # fmt: skip

    if fd is not None:
        schema["content"]["content"] = {
            "_handle": value(fd),
            "_readable": value(True),
            "_writable": value(True),
        }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
    return out.getvalue()


@pytest.fixture
def victim_fd() -> Iterator[int]:
    """A descriptor of this process (the server's: it runs in a thread here) that must stay open."""
    r, w = os.pipe()
    try:
        yield r
        os.fstat(r)  # still open: nothing rebuilt from a file closed it
    finally:
        os.close(r)
        os.close(w)


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A module on the server's path whose import writes a marker file (and re-exports classes)."""
    name = f"carnet_planted_{os.getpid()}"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from sklearn.linear_model import LogisticRegression as Foo\n"
        "from multiprocessing.connection import Connection as Bar\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


def _upload(api: Any, user: str, name: str, data: bytes) -> Any:
    meta = {"flavor": "sklearn", "signature": [{"name": "x", "dtype": "float64"}], "project": "demo"}
    return api.http.post(
        f"/models/{name}/objects",
        data={"meta": json.dumps(meta)},
        files={"file": ("model.skops", data, "application/octet-stream")},
        headers=api.as_(user),
    )


# -- probe 1: model files ----------------------------------------------------------------------


@needs_reexport
def test_over_http_the_upload_is_refused_and_a_stored_one_never_loads(tmp_path: Path, victim_fd: int) -> None:
    with Client(str(tmp_path / "ws")) as client:
        services = client.services
        data = forged(victim_fd)
        users = {"ed": {"demo": "editor"}, "root": {"*": "admin"}}
        with running_api(services, users) as api:
            before = len(client.audit_log(limit=1000))
            body = problem(_upload(api, "ed", "evil", data), 403, "PermissionDenied", "file")
            assert REEXPORT in body["detail"]
            assert len(client.audit_log(limit=1000)) == before
            assert api.http.get("/models/evil", headers=api.as_("root")).status_code == 404
            # a file already in the registry (stored by an embedded process) is refused at load
            digest = services.ctx.artifacts.put_bytes(data).digest
            signature = Signature((ColumnSpec("x", "float64"),))
            services.registry.register_stored("evil", digest, "sklearn", signature, project="demo")
            with Client(api.url, token=api.tokens["root"]) as admin:
                with pytest.raises(PermissionDenied, match="can never be loaded"):
                    admin.load_model("evil/1")
                with pytest.raises(PermissionDenied):  # an explicit trust cannot lift it
                    admin.load_model("evil/1", trusted=(REEXPORT, "multiprocessing.connection.Connection"))
            with pytest.raises(PermissionDenied):
                client.load_model("evil/1")


def test_an_upload_naming_another_module_imports_nothing_on_the_server(
    tmp_path: Path, planted: tuple[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    module, marker = planted
    with (
        Client(str(tmp_path / "ws")) as client,
        running_api(client.services, {"ed": {"demo": "editor"}}) as api,
    ):
        for name in (f"{module}.Foo", f"{module}.Bar", "this.Foo"):
            body = problem(_upload(api, "ed", "evil", forged(None, name)), 403, "PermissionDenied", "file")
            assert name in body["detail"]
    assert not marker.exists() and module not in sys.modules
    assert "this" not in sys.modules and "Beautiful is better than ugly" not in capfd.readouterr().out


@needs_reexport
def test_the_server_refuses_to_load_a_forged_run_model(tmp_path: Path, victim_fd: int) -> None:
    """``POST /runs/{id}/evaluate`` loads a run's model on the server: a forged one is refused there."""
    with Client(str(tmp_path / "ws")) as client:
        client.log_dataframe(load_breast_cancer(as_frame=True).frame, "cancer", project="demo")
        users = {"ed": {"demo": "editor"}}
        with running_api(client.services, users) as api, Client(api.url, token=api.tokens["ed"]) as ed:
            run = ed.create_run("demo", "forged")
            art = ed.log_artifact_bytes(run.id, forged(victim_fd), "model/model.skops")
            meta = {"flavor": "sklearn", "digest": art.digest}
            ed.log_artifact_bytes(run.id, json.dumps(meta).encode(), "model/meta.json")
            with pytest.raises(PermissionDenied, match=REEXPORT.replace(".", r"\.")):
                ed.evaluate(run.id, "cancer@1")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["reexport", "plain data"])
def test_carnet_serve_never_reports_ready_with_a_non_model(tmp_path: Path, kind: str) -> None:
    if kind == "reexport" and not _reexport_exists():
        pytest.skip("this scikit-learn does not re-export multiprocessing's Connection")
    data = forged(0) if kind == "reexport" else sio.dumps({"weights": [1.0, 2.0]})
    ws = str(tmp_path / "ws")
    with Client(ws) as client:
        digest = client.services.ctx.artifacts.put_bytes(data).digest
        signature = Signature((ColumnSpec("x", "float64"),))
        client.services.registry.register_stored("evil", digest, "sklearn", signature, project="demo")
    port = _port()
    done = subprocess.run(
        [sys.executable, "-m", "carnet.cli.main", "--uri", ws, "serve", "evil/1", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and ("not trusted" in lines[0] or "not a scikit-learn model" in lines[0]), lines
    assert done.stdout == ""  # never printed that it serves


# -- probe 4: class paths in training specs ----------------------------------------------------


def _spec(path: str) -> dict[str, Any]:
    return {
        "project": "demo",
        "dataset": "cancer@1",
        "task": "binary",
        "target": "target",
        "model": {"name": path},
    }


def test_a_server_imports_no_module_an_editor_names(
    tmp_path: Path, planted: tuple[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    from sklearn.dummy import DummyClassifier

    module, marker = planted
    cancer = load_breast_cancer(as_frame=True).frame
    with Client(str(tmp_path / "ws")) as client:
        client.log_dataframe(cancer, "cancer", project="demo")
        model = DummyClassifier().fit(cancer.drop(columns="target").head(50), cancer["target"].head(50))
        client.log_model(model, "x", cancer.drop(columns="target").head(3), task="binary", project="demo")
        client.set_model_alias("x", "production", 1)
        with running_api(client.services, {"ed": {"demo": "editor"}}) as api:
            before = len(client.audit_log(limit=1000))
            for path in (f"{module}:Foo", f"{module}.Foo", "this:Foo", "os:system", "sklearn.__main__:X"):
                r = api.http.post("/train", json={"spec": _spec(path)}, headers=api.as_("ed"))
                body = problem(r, 422, "InvalidInput", "model.name")
                assert path in body["detail"], body
            r = api.http.post("/train", json={"spec": _spec(f"{module}:Foo")}, headers=api.as_("ed"))
            assert "CARNET_ALLOWED_MODEL_MODULES" in r.json()["detail"]
            # a monitor's retraining spec follows the same rule
            spec = {"name": "m", "model": "x@production", "reference": "cancer@1", "window": "1h",
                    "retrain": {"project": "demo", "task": "binary", "dataset": "cancer", "target": "target",
                                "model": {"name": f"{module}:Foo"}}}  # fmt: skip
            problem(
                api.http.post("/monitors", json=spec, headers=api.as_("ed")),
                422,
                "InvalidInput",
                "retrain.model.name",
            )
            assert len(client.audit_log(limit=1000)) == before
    assert not marker.exists() and module not in sys.modules
    assert "this" not in sys.modules and "Beautiful is better than ugly" not in capfd.readouterr().out


def test_the_operator_allows_more_packages(tmp_path: Path, planted: tuple[str, Path]) -> None:
    module, marker = planted
    policy = replace(test_server_policy(), allowed_model_modules=(module,))
    with Client(str(tmp_path / "ws")) as client:
        client.log_dataframe(load_breast_cancer(as_frame=True).frame, "cancer", project="demo")
        with running_api(client.services, {"ed": {"demo": "editor"}}, policy=policy) as api:
            # allowed, so imported; but the class must be defined in an allowed package too
            r = api.http.post("/train", json={"spec": _spec(f"{module}:Bar")}, headers=api.as_("ed"))
            body = problem(r, 422, "InvalidInput", "model.name")
            assert "defined in 'multiprocessing" in body["detail"]
            assert marker.exists()


def test_class_path_rules(planted: tuple[str, Path]) -> None:
    from carnet.training import check_model_path

    module, marker = planted
    check_model_path("random_forest")  # a short name
    check_model_path("sklearn.linear_model:LogisticRegression")
    check_model_path("sklearn.ensemble.RandomForestClassifier")
    check_model_path("carnet_example_task:QuantileRegression")  # an installed carnet plugin
    check_model_path("carnet.tasks.forecasting_models:ETSForecaster")  # carnet's own models
    for path in (
        "sklearnx.evil:Foo",
        "carnet.cli.main:cli",
        "sklearn.__main__:X",
        "sklearn..x:Y",
        "this:Foo",
    ):
        with pytest.raises(InvalidInput) as err:
            check_model_path(path)  # a prefix of a name is not its package; carnet's CLI holds no model
        assert err.value.field == "model.name"
    with pytest.raises(InvalidInput, match=r"retrain\.model\.name"):
        check_model_path(f"{module}:Foo", field="retrain.model.name")
    assert not marker.exists()
    # the operator may allow a package; its class must then be defined there
    with pytest.raises(InvalidInput, match="defined in 'multiprocessing"):
        check_model_path(f"{module}:Bar", (module,))
    assert marker.exists()  # allowed: imported
    check_model_path(f"{module}:Foo", (module,))  # scikit-learn's class, re-exported: fine
    if _reexport_exists():
        with pytest.raises(InvalidInput, match="defined in 'multiprocessing"):
            check_model_path("sklearn.callback._transport:Connection")


def test_the_setting_is_read_from_the_environment(tmp_path: Path) -> None:
    from carnet.config import server_policy

    assert server_policy(
        {"CARNET_ALLOWED_MODEL_MODULES": "catboost, mylib.models"}, tmp_path
    ).allowed_model_modules == (
        "catboost",
        "mylib.models",
    )
    (tmp_path / "carnet.toml").write_text('allowed_model_modules = ["catboost"]\n')
    assert server_policy({}, tmp_path).allowed_model_modules == ("catboost",)


def test_an_upload_refused_for_its_description_leaves_no_file_in_the_store(tmp_path: Path) -> None:
    """The task, name and flavor are checked before the file's bytes are stored."""
    ws = tmp_path / "ws"
    with Client(str(ws)) as client:
        objects = lambda: {p for p in ws.rglob("*") if p.is_file() and "objects" in p.parts}  # noqa: E731
        with running_api(client.services, {"ed": {"demo": "editor"}}) as api:
            before = objects()
            meta = {
                "flavor": "sklearn",
                "signature": [{"name": "x", "dtype": "float64"}],
                "project": "demo",
                "task": "no_such_task",
            }
            r = api.http.post(
                "/models/m/objects",
                data={"meta": json.dumps(meta)},
                files={"file": ("model.skops", sio.dumps(StandardScaler()), "application/octet-stream")},
                headers=api.as_("ed"),
            )
            assert 400 <= r.status_code < 500, r.text
            assert "no_such_task" in r.json()["detail"]
            assert objects() == before
            assert api.http.get("/models/m", headers=api.as_("ed")).status_code == 404


def test_a_model_file_that_does_not_match_the_digest_sent_is_not_registered(tmp_path: Path) -> None:
    with (
        Client(str(tmp_path / "ws")) as client,
        running_api(client.services, {"ed": {"demo": "editor"}}) as api,
    ):
        meta = {
            "flavor": "sklearn",
            "signature": [{"name": "x", "dtype": "float64"}],
            "project": "demo",
            "digest": "blake3:" + "0" * 64,
        }
        r = api.http.post(
            "/models/m/objects",
            data={"meta": json.dumps(meta)},
            files={"file": ("model.skops", sio.dumps(StandardScaler()), "application/octet-stream")},
            headers=api.as_("ed"),
        )
        assert r.json()["error"] == "ArtifactCorrupted", r.text
        assert api.http.get("/models/m", headers=api.as_("ed")).status_code == 404
