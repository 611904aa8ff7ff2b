"""A model file may only rebuild classes of trusted libraries, judged by where a class is defined.

The probe: a skops file naming ``sklearn.callback._transport.Connection``, which is really
``multiprocessing.connection.Connection`` re-exported; its ``__del__`` closes the file descriptor
the file chose. An editor uploads it to a live server (refused at upload), and when such a file
is in the registry anyway an admin's ``load_model`` refuses it; no descriptor is ever closed.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from api_testkit import running_api

from carnet import Client
from carnet.domain.models import ColumnSpec, Signature
from carnet.errors import PermissionDenied
from carnet.flavors.sklearn import SklearnFlavor, check_estimator

REEXPORT = "sklearn.callback._transport.Connection"


def _reexport_exists() -> bool:
    import importlib

    try:
        module = importlib.import_module("sklearn.callback._transport")
    except ImportError:
        return False
    return getattr(module, "Connection", None) is not None


pytestmark = pytest.mark.skipif(
    not _reexport_exists(), reason="this scikit-learn does not re-export multiprocessing's Connection"
)


def forged(fd: int, name: str = REEXPORT) -> bytes:
    """A skops file whose object is ``name`` rebuilt from state {_handle: fd, ...}."""
    import skops.io as sio
    from sklearn.preprocessing import StandardScaler

    with zipfile.ZipFile(io.BytesIO(sio.dumps(StandardScaler()))) as zf:
        schema = json.loads(zf.read("schema.json"))
    module, cls = name.rsplit(".", 1)
    schema["__module__"], schema["__class__"] = module, cls

    def value(v: Any) -> dict[str, Any]:
        return {"__class__": type(v).__name__, "__module__": "builtins", "__loader__": "JsonNode",
                "content": json.dumps(v), "is_json": True, "__id__": id(v)}  # fmt: skip

    schema["content"]["content"] = {"_handle": value(fd), "_readable": value(True), "_writable": value(True)}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
    return out.getvalue()


@pytest.fixture
def victim_fd() -> Iterator[int]:
    r, w = os.pipe()
    try:
        yield r
        os.fstat(r)  # still open: nothing rebuilt from the file closed it
    finally:
        os.close(r)
        os.close(w)


def test_a_reexported_dangerous_class_is_not_trusted(victim_fd: int) -> None:
    data = forged(victim_fd)
    flavor = SklearnFlavor()
    assert flavor.untrusted(data) == [REEXPORT]
    with pytest.raises(PermissionDenied, match="not trusted"):
        flavor.loads(data)
    # even a caller's explicit trust cannot lift a class of a denied module
    with pytest.raises(PermissionDenied):
        flavor.loads(data, trusted=(REEXPORT,))
    with pytest.raises(PermissionDenied):
        flavor.loads(
            forged(victim_fd, "multiprocessing.connection.Connection"),
            trusted=("multiprocessing.connection.Connection",),
        )


def test_only_models_pass_the_post_load_check() -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression()
    assert check_estimator(model) is model
    with pytest.raises(PermissionDenied, match="not a scikit-learn model"):
        check_estimator({"a": 1})
    with pytest.raises(PermissionDenied):
        check_estimator(io.BytesIO())


def test_over_http_the_upload_is_refused_and_a_stored_one_never_loads(tmp_path: Any, victim_fd: int) -> None:
    client = Client(str(tmp_path / "ws"))
    try:
        services = client.services
        data = forged(victim_fd)
        users = {"ed": {"demo": "editor"}, "root": {"*": "admin"}}
        with running_api(services, users) as api:
            meta = {"flavor": "sklearn", "signature": [{"name": "x", "dtype": "float64"}], "project": "demo"}
            before = len(client.audit_log(limit=1000))
            r = api.http.post(
                "/models/evil/objects",
                data={"meta": json.dumps(meta)},
                files={"file": ("model.skops", data, "application/octet-stream")},
                headers=api.as_("ed"),
            )
            assert r.status_code == 403, r.text
            body = r.json()
            assert body["field"] == "file" and REEXPORT in body["detail"]
            assert len(client.audit_log(limit=1000)) == before
            # a file already in the registry (stored by an embedded process) is refused at load
            digest = services.ctx.artifacts.put_bytes(data).digest
            signature = Signature((ColumnSpec("x", "float64"),))
            services.registry.register_stored("evil", digest, "sklearn", signature, project="demo")
            with Client(api.url, token=api.tokens["root"]) as admin, pytest.raises(PermissionDenied):
                admin.load_model("evil/1")
            with pytest.raises(PermissionDenied):
                client.load_model("evil/1")
    finally:
        client.close()


# -- class paths in training specs -------------------------------------------------------------


@pytest.fixture
def planted(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """A module on the server's path whose import writes a marker file (and defines an estimator)."""
    import sys

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


def test_a_server_imports_no_module_an_editor_names(tmp_path: Any, planted: tuple[str, Any]) -> None:
    import sys

    from sklearn.datasets import load_breast_cancer

    module, marker = planted
    client = Client(str(tmp_path / "ws"))
    try:
        client.log_dataframe(load_breast_cancer(as_frame=True).frame, "cancer", project="demo")
        users = {"ed": {"demo": "editor"}}
        with running_api(client.services, users) as api:
            before = len(client.audit_log(limit=1000))
            for path in (
                f"{module}:Foo",
                f"{module}.Foo",
                "this:Foo",
                "sklearn.callback._transport:Connection",
            ):
                spec = {"project": "demo", "dataset": "cancer@1", "task": "binary", "target": "target",
                        "model": {"name": path}}  # fmt: skip
                r = api.http.post("/train", json={"spec": spec}, headers=api.as_("ed"))
                assert r.status_code == 422, r.text
                body = r.json()
                assert body["field"] == "model.name" and "CARNET_ALLOWED_MODEL_MODULES" in body["detail"], (
                    body
                )
            assert not marker.exists() and module not in sys.modules
            assert len(client.audit_log(limit=1000)) == before
            # a monitor's retraining spec follows the same rule
            spec = {"name": "m", "model": "x@production", "reference": "cancer@1", "window": "1h",
                    "retrain": {"task": "binary", "dataset": "cancer", "target": "target",
                                "model": {"name": f"{module}:Foo"}}}  # fmt: skip
            r = api.http.post("/monitors", json=spec, headers=api.as_("ed"))
            assert r.status_code in (403, 404, 422), r.text
            assert not marker.exists()
    finally:
        client.close()


def test_class_path_rules(planted: tuple[str, Any]) -> None:
    from carnet.errors import InvalidInput
    from carnet.training import check_model_path

    module, marker = planted
    check_model_path("random_forest")  # a short name
    check_model_path("sklearn.linear_model:LogisticRegression")
    check_model_path("sklearn.ensemble.RandomForestClassifier")
    check_model_path("carnet_example_task:QuantileRegression")  # an installed carnet plugin
    with pytest.raises(InvalidInput, match="defined in 'multiprocessing"):
        check_model_path("sklearn.callback._transport:Connection")
    with pytest.raises(InvalidInput):
        check_model_path("sklearnx.evil:Foo")  # a prefix of a name is not its package
    assert not marker.exists()
    # the operator may allow a package; its class must then be defined there
    with pytest.raises(InvalidInput, match="defined in 'multiprocessing"):
        check_model_path(f"{module}:Bar", (module,))
    assert marker.exists()  # allowed: imported
    check_model_path(f"{module}:Foo", (module,))  # scikit-learn's class, re-exported: fine
