"""Streamed artifact upload and download over real HTTP: round trips, verified reads, the path
traversal matrix (literal, percent- and double-encoded, absolute, backslash, NUL, planted symlinks)
and request size limits (413)."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from carnet.bootstrap import open_services
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.services import Services

MAX_BODY = 8 * 1024 * 1024
MAX_JSON = 64 * 1024
BIG = 5 * 1024 * 1024  # above the size verified in memory: goes through a temp file


@dataclass
class Api:
    url: str
    http: httpx.Client
    services: Services
    root: Path
    outside: Path


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    services = open_services(str(tmp_path / "ws"))
    app = create_api_app(services, require_auth=False, max_body_bytes=MAX_BODY, max_json_bytes=MAX_JSON)
    server = serve_api_in_thread(app)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"TOP SECRET outside the store")
    try:
        with httpx.Client(base_url=f"{server.url}/api/v1", timeout=60) as client:
            yield Api(server.url, client, services, tmp_path / "ws" / "artifacts", outside)
    finally:
        server.stop()
        services.close()


def problem(r: httpx.Response, status: int, error: str, field: str | None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert (body["status"], body["error"], body["field"]) == (status, error, field), body
    return body


def running(api: Api) -> str:
    return str(api.http.post("/runs", json={"project": "art"}).json()["id"])


def raw_request(api: Api, method: str, target: str, body: bytes | None = None) -> tuple[int, dict, bytes]:
    """Send ``target`` byte for byte (httpx would normalise a literal '..')."""
    host, port = api.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body or b"")
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_upload_and_download_round_trip_with_digest_headers(api: Api) -> None:
    rid = running(api)
    r = api.http.put(f"/runs/{rid}/artifacts/reports/summary.txt", content=b"hello")
    assert r.status_code == 201, r.text
    art = r.json()
    assert art["path"] == "reports/summary.txt" and art["size"] == 5 and art["digest"].startswith("blake3:")
    got = api.http.get(f"/runs/{rid}/artifacts/reports/summary.txt")
    assert got.status_code == 200 and got.content == b"hello"
    assert got.headers["content-type"] == "application/octet-stream"
    assert (
        got.headers["x-carnet-digest"] == art["digest"] and got.headers["x-content-type-options"] == "nosniff"
    )
    assert 'filename="summary.txt"' in got.headers["content-disposition"]
    api.http.put(f"/runs/{rid}/artifacts/plots/roc curve é.html", content=b"<html></html>")
    listed = api.http.get(f"/runs/{rid}/artifacts").json()
    assert [a["path"] for a in listed] == ["plots/roc curve é.html", "reports/summary.txt"]
    assert [a["path"] for a in api.http.get(f"/runs/{rid}/artifacts", params={"prefix": "plots"}).json()] == [
        "plots/roc curve é.html"
    ]
    again = api.http.put(f"/runs/{rid}/artifacts/reports/summary.txt", content=b"")  # replaced, empty
    assert again.status_code == 201 and again.json()["size"] == 0
    assert api.http.get(f"/runs/{rid}/artifacts/reports/summary.txt").content == b""
    problem(api.http.get(f"/runs/{rid}/artifacts/reports/missing.txt"), 404, "NotFound", "path")
    problem(api.http.put("/runs/" + "2" * 32 + "/artifacts/a.txt", content=b"x"), 404, "NotFound", "run_id")


def test_large_artifacts_stream_both_ways(api: Api) -> None:
    rid = running(api)
    data = os.urandom(BIG)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for i in range(0, len(data), 256 * 1024):
            yield data[i : i + 256 * 1024]

    r = api.http.put(f"/runs/{rid}/artifacts/model/weights.bin", content=chunks())
    assert r.status_code == 201 and r.json()["size"] == BIG
    with api.http.stream("GET", f"/runs/{rid}/artifacts/model/weights.bin") as resp:
        assert resp.status_code == 200 and int(resp.headers["content-length"]) == BIG
        assert b"".join(resp.iter_bytes()) == data


def test_ended_runs_take_no_artifacts(api: Api) -> None:
    rid = running(api)
    api.http.patch(f"/runs/{rid}", json={"status": "finished"})
    problem(api.http.put(f"/runs/{rid}/artifacts/late.txt", content=b"x"), 409, "Conflict", "run_id")


TRAVERSAL_HTTPX = [
    "%2e%2e/%2e%2e/etc/passwd",  # '..' percent-encoded: decoded once by the server, then refused
    "a/%2E%2E/b",
    "%252e%252e/%252e%252e/etc/passwd",  # double-encoded: '%2e%2e' after one decoding
    "a/%252F..%252Fb",
    "%2Fetc%2Fpasswd",  # absolute, encoded slash
    "/etc/passwd",  # absolute: '//' in the URL
    "a%5Cb",  # backslash, encoded
    "..%5C..%5Cwindows",
    "a%00b",  # NUL
    "C:%5Cwindows",
    "a//b",
    "dir/",
]


@pytest.mark.parametrize("path", TRAVERSAL_HTTPX)
def test_traversal_forms_are_refused_through_httpx(api: Api, path: str) -> None:
    rid = running(api)
    url = httpx.URL(f"{api.url}/api/v1/runs/{rid}/artifacts/{path}")
    assert url.raw_path.decode() == f"/api/v1/runs/{rid}/artifacts/{path}"  # sent as written
    put = api.http.put(url, content=b"evil")
    get = api.http.get(url)
    for r in (put, get):
        body = problem(r, 422, "InvalidInput", "path")
        assert "refused" in body["detail"]
    assert api.services.tracking.list_artifacts(rid) == []
    assert sorted(p.name for p in api.outside.iterdir()) == ["secret.txt"]


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "../../../../../../etc/passwd",
        "a/../../b",
        "a\\b",
        "..\\..\\x",
        "./a",
        "a/..",
        "..",
    ],
)
def test_literal_traversal_forms_are_refused_byte_for_byte(api: Api, path: str) -> None:
    rid = running(api)
    target = f"/api/v1/runs/{rid}/artifacts/{path}"
    for method, body in (("PUT", b"evil"), ("GET", None)):
        status, headers, content = raw_request(api, method, target, body)
        assert status == 422, content
        assert headers["content-type"].startswith("application/problem+json")
        assert b'"field":"path"' in content and b"root:" not in content
    assert api.services.tracking.list_artifacts(rid) == []


def test_a_symlink_planted_in_the_store_never_leaks_outside_content(api: Api) -> None:
    rid = running(api)
    small = api.http.put(f"/runs/{rid}/artifacts/small.bin", content=b"inside").json()
    large = api.http.put(f"/runs/{rid}/artifacts/large.bin", content=os.urandom(BIG)).json()
    big_secret = api.outside / "big-secret.bin"
    big_secret.write_bytes(b"TOP SECRET " * (BIG // 10))
    for art, target in ((small, api.outside / "secret.txt"), (large, big_secret)):
        hexdigest = art["digest"].split(":", 1)[1]
        obj = api.root / "objects" / "blake3" / hexdigest[:2] / hexdigest[2:4] / hexdigest
        assert obj.is_file()
        obj.unlink()
        obj.symlink_to(target)  # an attacker with write access to the store swaps the object
        r = api.http.get(f"/runs/{rid}/artifacts/{art['path']}")
        body = problem(r, 500, "ArtifactCorrupted", "artifact")
        assert b"TOP SECRET" not in r.content and str(api.root) not in r.text
        assert body["digest"] == art["digest"]


def test_a_symlinked_folder_in_the_artifact_root_is_never_followed(api: Api) -> None:
    rid = running(api)
    api.root.mkdir(parents=True, exist_ok=True)
    (api.root / "escape").symlink_to(api.outside, target_is_directory=True)
    problem(api.http.get(f"/runs/{rid}/artifacts/escape/secret.txt"), 404, "NotFound", "path")
    r = api.http.put(f"/runs/{rid}/artifacts/escape/new.txt", content=b"written through the store")
    assert r.status_code == 201  # a name in the run's metadata, stored by digest
    assert sorted(p.name for p in api.outside.iterdir()) == ["secret.txt"]
    assert api.http.get(f"/runs/{rid}/artifacts/escape/new.txt").content == b"written through the store"


def test_bodies_over_the_limits_get_413(api: Api) -> None:
    rid = running(api)
    too_big = b"x" * (MAX_JSON + 1)
    r = api.http.post(
        f"/runs/{rid}/metrics", content=too_big, headers={"content-type": "application/json"}
    )  # declared Content-Length: refused before reading
    problem(r, 413, "InvalidInput", "body")

    def chunked(total: int) -> Iterator[bytes]:
        for _ in range(total // 4096 + 1):
            yield b" " * 4096

    r = api.http.post(
        f"/runs/{rid}/metrics", content=chunked(MAX_JSON * 2), headers={"content-type": "application/json"}
    )
    problem(r, 413, "InvalidInput", "body")
    assert api.services.audit.log("run", rid, action="run.log_metrics") == []
    # uploads have their own, larger limit: a JSON-sized limit does not apply to them
    assert api.http.put(f"/runs/{rid}/artifacts/ok.bin", content=b"y" * (MAX_JSON * 4)).status_code == 201


def test_uploads_over_the_limit_get_413_and_store_nothing(tmp_path: Path) -> None:
    services = open_services(str(tmp_path / "ws"))
    server = serve_api_in_thread(create_api_app(services, require_auth=False, max_body_bytes=32 * 1024))
    try:
        with httpx.Client(base_url=f"{server.url}/api/v1", timeout=60) as client:
            rid = client.post("/runs", json={}).json()["id"]
            problem(
                client.put(f"/runs/{rid}/artifacts/a.bin", content=b"z" * 40_000), 413, "InvalidInput", "body"
            )
            streamed = client.put(
                f"/runs/{rid}/artifacts/b.bin", content=iter([b"z" * 20_000, b"z" * 20_000])
            )
            problem(streamed, 413, "InvalidInput", "body")
            assert client.get(f"/runs/{rid}/artifacts").json() == []
            leftovers = list(Path(tmp_path / "ws" / "artifacts").rglob("objects/*/*/*/*"))
            assert leftovers == []
    finally:
        server.stop()
        services.close()
