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
