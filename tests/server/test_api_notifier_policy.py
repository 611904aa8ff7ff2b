"""A carnet server's notifiers reach no file of the server outside its folder and no private address.

Over real HTTP with authentication: an editor creates monitors whose notifiers name server files
or internal addresses; the server refuses them (422 naming the field) unless its configuration
allows them, and checks again at delivery.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from api_testkit import Api, running_api  # noqa: E402
from monitoring_fixtures import MODEL, setup_workspace  # noqa: E402

from carnet import Client  # noqa: E402
from carnet.config import ServerPolicy, server_policy  # noqa: E402
from carnet.errors import InvalidInput  # noqa: E402
from carnet.notifiers.destinations import check_url, guarded, pinned_request  # noqa: E402
from carnet.services.delivery import notify, validate_notifiers  # noqa: E402

_USER_NUMBERS = itertools.count()
INTERNAL_URLS = [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data",  # cloud metadata
    "http://100.64.0.1/hook",  # shared address space
    "http://0.0.0.0/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one decimal number
    "http://0177.0.0.1/hook",  # octal
    "http://0x7f.1/hook",  # hex, short form
    "http://224.0.0.1/hook",  # multicast
    "https://127.0.0.1.nip.io.localhost/hook",  # *.localhost resolves to loopback
    "http://[::127.0.0.1]/hook",  # IPv4-compatible IPv6
    "http://[2002:a00:1::]/hook",  # 6to4 of 10.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
    "http://[fec0::1]/hook",  # site-local
]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    client = Client(str(tmp_path_factory.mktemp("notifier-policy") / "ws"))
    setup_workspace(client)
    try:
        yield client
    finally:
        client.close()


def _serve(ws: Client, policy: ServerPolicy) -> Any:
    """A live server over ``ws`` with ``policy`` and a new editor of the monitored project."""
    return running_api(ws.services, {f"ed{next(_USER_NUMBERS)}": {"monitoring": "editor"}}, policy=policy)


@pytest.fixture(scope="module")
def strict(ws: Client) -> Iterator[Api]:
    """A server configured with nothing: no notifier folder, no allowed internal host."""
    with _serve(ws, ServerPolicy()) as api:
        yield api


def _monitor(api: Api, name: str, notify_: list[dict[str, Any]]) -> Any:
    spec = {
        "name": name,
        "model": f"{MODEL}@production",
        "reference": "cancer-ref@1",
        "target": "target",
        "window": "50rows",
        "notify": notify_,
    }
    return api.http.post("/monitors", json=spec, headers=api.as_(next(iter(api.tokens))))


def _refused(r: Any, field: str, *words: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["field"] == field, body
    for word in words:
        assert word in body["detail"], body


@pytest.mark.parametrize("path", ["/tmp/x.jsonl", "../../etc/cron.d/x", "~/x.jsonl", "alerts.jsonl"])
def test_logfile_notifiers_are_refused_on_a_server_without_a_folder(strict: Api, path: str) -> None:
    r = _monitor(strict, "m-log", [{"type": "logfile", "path": path}])
    _refused(r, "notify[0].path", "CARNET_NOTIFIER_LOG_DIR")


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_webhooks_to_internal_addresses_are_refused(strict: Api, url: str) -> None:
    for kind in ("webhook", "slack"):
        r = _monitor(strict, "m-hook", [{"type": kind, "url": url}])
        _refused(r, "notify[0].url", "not a public address", "CARNET_NOTIFIER_ALLOWED_HOSTS")


def test_nothing_is_created_when_a_notifier_is_refused(strict: Api, ws: Client) -> None:
    before = len(ws.audit_log(limit=10_000))
    _refused(_monitor(strict, "m-none", [{"type": "webhook", "url": "http://127.0.0.1/x"}]), "notify[0].url")
    assert (
        strict.http.get("/monitors/m-none", headers=strict.as_(next(iter(strict.tokens)))).status_code == 404
    )
    assert len(ws.audit_log(limit=10_000)) == before


def test_a_configured_folder_takes_plain_names_only_and_stores_the_full_path(
    ws: Client, tmp_path: Path
) -> None:
    folder = tmp_path / "notifiers"
    (folder / "team").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "escape").symlink_to(outside)
    (folder / "link.jsonl").symlink_to(outside / "x.jsonl")
    policy = ServerPolicy(str(folder.resolve()), ())
    with _serve(ws, policy) as api:
        for bad in (
            "/etc/passwd",
            "../x.jsonl",
            "team/../../x",
            "~/x",
            "escape/x.jsonl",
            "link.jsonl",
            "team",
        ):
            _refused(_monitor(api, "m-file", [{"type": "logfile", "path": bad}]), "notify[0].path")
        r = _monitor(api, "m-file", [{"type": "logfile", "path": "team/alerts.jsonl"}])
        assert r.status_code == 201, r.text
        stored = ws.services.monitoring.get("m-file").notify[0]["path"]
        assert stored == str(folder.resolve() / "team" / "alerts.jsonl")
        ws.services.monitoring.delete("m-file")


def test_an_allowed_internal_host_is_accepted(ws: Client) -> None:
    policy = ServerPolicy(None, ("127.0.0.1",))
    with _serve(ws, policy) as api:
        r = _monitor(api, "m-allowed", [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}])
        assert r.status_code == 201, r.text
        # an allowed name does not open its neighbours
        _refused(_monitor(api, "m-other", [{"type": "webhook", "url": "http://10.0.0.1/h"}]), "notify[0].url")
    ws.services.monitoring.delete("m-allowed")


def test_delivery_checks_again_and_pins_plain_http_to_the_checked_address(tmp_path: Path) -> None:
    configs = validate_notifiers([{"type": "webhook", "url": "http://localhost:9/hook", "retries": 0}])
    # allowed when the monitor was made, the host is no longer allowed when the alert fires
    [delivery] = notify(configs, {"event": "alert.opened"}, server=ServerPolicy())
    assert not delivery.ok and "not a public address" in (delivery.error or "")
    # an allowed host: the request goes to the address that was checked, with the original Host
    with guarded(ServerPolicy(None, ("localhost",))):
        url, headers = pinned_request("http://localhost:8080/a?b=1", {"X": "1"})
    assert url in ("http://127.0.0.1:8080/a?b=1", "http://[::1]:8080/a?b=1")
    assert headers == {"X": "1", "Host": "localhost:8080"}
    # outside a server nothing is rewritten
    assert pinned_request("http://localhost/a", {}) == ("http://localhost/a", {})


def test_an_unresolvable_host_is_checked_at_delivery() -> None:
    assert check_url("https://hooks.invalid/x", ServerPolicy()) == []
    with pytest.raises(InvalidInput, match="does not resolve"):
        check_url("https://hooks.invalid/x", ServerPolicy(), unresolved_ok=False)


def test_the_policy_is_read_from_the_environment(tmp_path: Path) -> None:
    env = {"CARNET_NOTIFIER_LOG_DIR": str(tmp_path), "CARNET_NOTIFIER_ALLOWED_HOSTS": "10.0.0.0/8, hooks.lan"}
    assert server_policy(env, tmp_path) == ServerPolicy(str(tmp_path.resolve()), ("10.0.0.0/8", "hooks.lan"))
    assert check_url("http://10.9.8.7/x", server_policy(env, tmp_path)) == ["10.9.8.7"]
    assert server_policy({}, tmp_path) == ServerPolicy()
