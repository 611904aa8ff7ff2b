"""Alert notifiers: real HTTP on 127.0.0.1, real files, the real plugin registry."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import carnet
from carnet.errors import DeliveryFailed, InvalidInput
from carnet.notifiers.builtin import SlackNotifier, WebhookNotifier
from carnet.plugins.api import Notifier
from carnet.plugins.loader import registry
from carnet.services.delivery import Delivery, get_notifier, notify, validate_notifiers

EVENT: dict[str, Any] = {
    "event": "alert.opened",
    "monitor": "churn-drift",
    "model": {"name": "churn", "version": 3},
    "message": "feature drift on age: psi 0.31 > 0.2",
    "time": "2025-05-01T12:00:00+00:00",
    "alert": {"id": "a1", "rule": "psi(age)", "value": 0.3125, "threshold": 0.2, "status": "open"},
}
SECRET = "s3cret-value"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server that records every request and answers the scripted statuses, then 200."""

    url: str
    statuses: list[int]
    requests: list[Seen] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(url="", statuses=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec.requests.append(Seen(self.path, dict(self.headers.items()), body))
            status = rec.statuses.pop(0) if rec.statuses else 200
            reply = b"ok" if status < 300 else b"server on fire"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield rec
    server.shutdown()
    server.server_close()
    thread.join()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# -- registry ----------------------------------------------------------------------------------


def test_the_registry_holds_the_built_in_notifiers() -> None:
    assert {"webhook", "slack", "logfile"} <= set(registry("notifier").names())
    for name in ("webhook", "slack", "logfile"):
        notifier = get_notifier(name)
        assert isinstance(notifier, Notifier) and notifier.name == name and notifier.description


def test_the_registry_rejects_an_object_that_is_not_a_notifier() -> None:
    with pytest.raises(TypeError, match="missing send"):
        registry("notifier").register(
            "half", type("Half", (), {"name": "half", "description": "", "validate": None})
        )
    assert "half" not in registry("notifier")


# -- webhook -----------------------------------------------------------------------------------


def test_webhook_posts_the_event_as_signed_json(receiver: Receiver) -> None:
    config = {
        "type": "webhook",
        "url": receiver.url + "?token=abc",
        "secret": SECRET,
        "headers": {"X-Team": "ml"},
    }
    (delivery,) = notify(validate_notifiers([config]), EVENT)

    assert delivery == Delivery(f"webhook {receiver.url}", True, None, 1)
    (seen,) = receiver.requests
    assert seen.path == "/hook?token=abc"
    assert json.loads(seen.body) == EVENT
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == f"carnet/{carnet.__version__}"
    assert seen.headers["X-Team"] == "ml"
    assert seen.headers["X-Carnet-Event"] == "alert.opened"
    expected = "sha256=" + hmac.new(SECRET.encode(), seen.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(seen.headers["X-Carnet-Signature"], expected)
    assert SECRET not in json.dumps([seen.headers, delivery.target])


def test_webhook_without_secret_is_not_signed_and_nan_becomes_null(receiver: Receiver) -> None:
    event = {**EVENT, "alert": {**EVENT["alert"], "value": float("nan")}}
    (delivery,) = notify([{"type": "webhook", "url": receiver.url}], event)
    assert delivery.ok
    (seen,) = receiver.requests
    assert "X-Carnet-Signature" not in seen.headers
    assert json.loads(seen.body)["alert"]["value"] is None


def test_webhook_retries_server_errors_then_succeeds(receiver: Receiver) -> None:
    receiver.statuses[:] = [500, 500]
    (delivery,) = notify([{"type": "webhook", "url": receiver.url, "retries": 2}], EVENT)
    assert delivery.ok and delivery.attempts == 3 and delivery.error is None
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1
    assert len({r.headers["X-Carnet-Delivery"] for r in receiver.requests}) == 1  # one id to dedupe on


def test_a_failing_notifier_is_recorded_and_the_others_still_run(receiver: Receiver, tmp_path: Path) -> None:
    receiver.statuses[:] = [500] * 10
    log = tmp_path / "alerts.jsonl"
    configs = [
        {"type": "webhook", "url": receiver.url, "retries": 1, "secret": SECRET},
        {"type": "webhook", "url": closed_port_url(), "retries": 0, "timeout": 2},
        {"type": "pager", "to": "oncall"},
        {"type": "logfile", "path": str(log)},
    ]
    down, refused, unknown, logged = notify(configs, EVENT)

    assert not down.ok and down.attempts == 2 and len(receiver.requests) == 2
    assert down.error is not None and "500" in down.error and receiver.url in down.error
    assert SECRET not in down.error
    assert not refused.ok and refused.attempts == 1 and "connection failed" in (refused.error or "")
    assert not unknown.ok and unknown.attempts == 0 and "unknown notifier 'pager'" in (unknown.error or "")
    assert logged.ok and json.loads(log.read_text()) == EVENT


def test_a_client_error_is_not_retried_and_send_raises_with_url_and_status(receiver: Receiver) -> None:
    receiver.statuses[:] = [404, 404, 404]
    with pytest.raises(
        DeliveryFailed, match=r"POST http://127\.0\.0\.1:\d+/hook failed after 1 attempt: HTTP 404"
    ) as exc:
        WebhookNotifier().send({"url": receiver.url + "?token=hidden", "secret": SECRET}, EVENT)
    assert exc.value.attempts == 1 and len(receiver.requests) == 1
    assert "hidden" not in str(exc.value) and SECRET not in str(exc.value)


# -- slack -------------------------------------------------------------------------------------


def test_slack_posts_text_and_blocks(receiver: Receiver) -> None:
    config = {"type": "slack", "url": receiver.url, "channel": "#ml-alerts", "username": "carnet"}
    (delivery,) = notify(validate_notifiers([config]), EVENT)

    assert delivery.ok and delivery.attempts == 1
    assert delivery.target.startswith("slack http://127.0.0.1:") and "/hook" not in delivery.target
    payload = json.loads(receiver.requests[0].body)
    assert payload["channel"] == "#ml-alerts" and payload["username"] == "carnet"
    assert "churn-drift" in payload["text"] and "psi 0.31 &gt; 0.2" in payload["text"]
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds[0] == "header" and kinds[-1] == "context" and "section" in kinds
    fields = next(b["fields"] for b in payload["blocks"] if "fields" in b)
    shown = "\n".join(f["text"] for f in fields)
    for text in ("*Monitor*\nchurn-drift", "*Model*\nchurn@3", "*Rule*\npsi(age)", "0.3125 vs 0.2", "open"):
        assert text in shown
    assert "2025-05-01T12:00:00+00:00" in payload["blocks"][-1]["elements"][0]["text"]


def test_slack_payload_copes_with_a_sparse_event() -> None:
    payload = SlackNotifier().payload({}, {"event": "alert.resolved", "monitor": "m"})
    assert "resolved" in payload["text"] and payload["blocks"][0]["type"] == "header"
    assert "channel" not in payload


# -- logfile -----------------------------------------------------------------------------------


def test_logfile_appends_one_json_line_per_event(tmp_path: Path) -> None:
    log = tmp_path / "alerts.jsonl"
    log.write_text('{"earlier": true}\n')
    config = validate_notifiers([{"type": "logfile", "path": str(log)}])
    resolved = {**EVENT, "event": "alert.resolved"}
    assert [d.ok for d in notify(config, EVENT) + notify(config, resolved)] == [True, True]

    lines = log.read_text().splitlines(keepends=True)
    assert all(line.endswith("\n") for line in lines)
    assert [json.loads(line) for line in lines] == [{"earlier": True}, EVENT, resolved]


def test_logfile_concurrent_appenders_never_interleave(tmp_path: Path) -> None:
    log = tmp_path / "alerts.jsonl"
    config = [{"type": "logfile", "path": str(log)}]

    def write(worker: int) -> None:
        for i in range(25):
            notify(config, {**EVENT, "worker": worker, "i": i, "pad": "x" * 5000})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted((r["worker"], r["i"]) for r in rows) == [(w, i) for w in range(4) for i in range(25)]


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "field", "hint"),
    [
        ({"type": "webhook"}, "notify[1].url", "url is required"),
        ({"type": "webhook", "url": "ftp://example.com/x"}, "notify[1].url", "http:// or https://"),
        ({"type": "webhook", "url": "https://x.io", "timeout": 0}, "notify[1].timeout", "> 0"),
        ({"type": "webhook", "url": "https://x.io", "retries": 1.5}, "notify[1].retries", "whole number"),
        ({"type": "webhook", "url": "https://x.io", "retries": -1}, "notify[1].retries", "from 0 to 10"),
        ({"type": "webhook", "url": "https://x.io", "header": {}}, "notify[1].header", "known: url"),
        (
            {"type": "webhook", "url": "https://x.io", "headers": {"A": "b\nc"}},
            "notify[1].headers",
            "single-line",
        ),
        ({"type": "webhook", "url": "https://x.io", "secret": ""}, "notify[1].secret", "non-empty"),
        ({"type": "slack", "url": "hooks.slack.com/x"}, "notify[1].url", "https://hooks.slack.com"),
        ({"type": "logfile"}, "notify[1].path", "path is required"),
        ({"type": "webhok", "url": "https://x.io"}, "notify[1].type", "did you mean 'webhook'"),
        ({"url": "https://x.io"}, "notify[1].type", "needs a type"),
        ("webhook", "notify[1]", "must be a mapping"),
    ],
)
def test_validation_names_the_field_and_the_fix(item: Any, field: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_notifiers([{"type": "logfile", "path": "/tmp/ok.jsonl"}, item])
    assert exc.value.field == field
    assert hint in exc.value.message


def test_an_unknown_type_lists_the_known_ones_and_a_valid_list_comes_back_plain(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"registered: .*logfile.*slack.*webhook"):
        validate_notifiers([{"type": "pagerduty"}])
    with pytest.raises(InvalidInput, match="notify must be a list"):
        validate_notifiers({"type": "webhook"})
    with pytest.raises(InvalidInput, match="is a directory") as exc:
        validate_notifiers([{"type": "logfile", "path": str(tmp_path)}])
    assert exc.value.field == "notify[0].path"
    configs = [{"type": "webhook", "url": "https://x.io/h", "timeout": 2.5, "retries": 0}]
    assert validate_notifiers(configs) == configs and validate_notifiers(None) == []


# -- third-party notifiers -----------------------------------------------------------------------


class Pager:
    """A third-party notifier: records what it was sent."""

    name = "pager"
    description = "page the on-call person"

    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def validate(self, config: dict[str, Any]) -> None:
        if not isinstance(config.get("to"), str):
            raise InvalidInput("to must name who to page", field="to")

    def send(self, config: dict[str, Any], event: dict[str, Any]) -> None:
        self.sent.append((config, event))


class BrokenPager(Pager):
    def send(self, config: dict[str, Any], event: dict[str, Any]) -> None:
        raise ZeroDivisionError("division by zero")


@pytest.fixture
def pager() -> Iterator[Pager]:
    instance = Pager()
    registry("notifier").register("pager", instance)
    registry("notifier").register("broken", BrokenPager)
    yield instance
    registry("notifier").reset()  # a fresh registry for the other tests


def test_a_third_party_notifier_is_validated_and_used_by_notify(pager: Pager, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_notifiers([{"type": "pager"}])
    assert exc.value.field == "notify[0].to"

    configs = validate_notifiers(
        [
            {"type": "pager", "to": "oncall"},
            {"type": "broken", "to": "x"},
            {"type": "logfile", "path": str(tmp_path / "a")},
        ]
    )
    paged, broken, logged = notify(configs, EVENT)
    assert paged == Delivery("pager", True, None, 1)
    assert pager.sent == [({"to": "oncall"}, EVENT)]
    assert broken == Delivery("broken", False, "ZeroDivisionError: division by zero", 1)
    assert logged.ok


# -- on a server: the destination guard, at the service layer ------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[::127.0.0.1]/hook",  # IPv4-compatible IPv6
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
        "http://[fec0::1]/hook",  # site-local
        "http://[::]/hook",
        "http://0/hook",
        "http://127.1/hook",
        "http://0x7f000001/hook",
        "http://[::ffff:a00:1]/hook",
        "http://LOCALHOST./hook",
        "http://user:pw@127.0.0.1:8080/hook",
    ],
)
def test_a_server_refuses_every_spelling_of_an_internal_address(url: str) -> None:
    from carnet.config import ServerPolicy

    for kind in ("webhook", "slack"):
        with pytest.raises(InvalidInput, match="not a public address") as exc:
            validate_notifiers([{"type": kind, "url": url}], server=ServerPolicy())
        assert exc.value.field == "notify[0].url"


def test_a_server_allows_listed_networks_and_public_addresses_only() -> None:
    from carnet.config import ServerPolicy

    policy = ServerPolicy(None, ("10.20.0.0/16", "hooks.internal"))
    ok = [
        {"type": "webhook", "url": "http://10.20.3.4/h"},
        {"type": "slack", "url": "https://[2606:4700::1111]/x"},
    ]
    assert validate_notifiers(ok, server=policy) == ok
    with pytest.raises(InvalidInput, match="not a public address"):
        validate_notifiers([{"type": "webhook", "url": "http://10.21.0.1/h"}], server=policy)
    with pytest.raises(
        InvalidInput, match="not a public address"
    ):  # a listed network is not its IPv6 spelling
        validate_notifiers([{"type": "webhook", "url": "http://[::ffff:10.20.3.4]/h"}], server=policy)


def test_embedded_notifiers_go_where_they_say(receiver: Receiver, tmp_path: Path) -> None:
    """No server policy (the user's own process): loopback webhooks and any file path work as before."""
    configs = validate_notifiers(
        [{"type": "webhook", "url": receiver.url}, {"type": "logfile", "path": str(tmp_path / "a.jsonl")}]
    )
    assert all(d.ok for d in notify(configs, EVENT))
    assert len(receiver.requests) == 1 and (tmp_path / "a.jsonl").read_text().count("\n") == 1


def test_a_server_delivery_is_checked_again_and_refused_without_a_request(receiver: Receiver) -> None:
    from carnet.config import ServerPolicy

    configs = validate_notifiers([{"type": "webhook", "url": receiver.url, "retries": 0}])
    [refused] = notify(configs, EVENT, server=ServerPolicy())
    assert not refused.ok and "not a public address" in (refused.error or "")
    assert receiver.requests == []
    [allowed] = notify(configs, EVENT, server=ServerPolicy(None, ("127.0.0.1",)))
    assert allowed.ok and len(receiver.requests) == 1
    assert receiver.requests[0].headers["Host"] == receiver.url.split("/")[2]


def test_a_server_logfile_stays_in_its_folder(tmp_path: Path) -> None:
    from carnet.config import ServerPolicy

    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "out").symlink_to(tmp_path)
    policy = ServerPolicy(str(folder.resolve()), ())
    for bad in ("/etc/passwd", "../x", "~/x", "a/../../x", "out/x.jsonl", "a\\..\\x", "./x", ""):
        with pytest.raises(InvalidInput) as exc:
            validate_notifiers([{"type": "logfile", "path": bad}], server=policy)
        assert exc.value.field == "notify[0].path", bad
    [config] = validate_notifiers([{"type": "logfile", "path": "team.jsonl"}], server=policy)
    assert config["path"] == str(folder.resolve() / "team.jsonl")
    assert notify([config], EVENT, server=policy)[0].ok
    # a link planted after the check is not followed at delivery
    (folder / "team.jsonl").unlink()
    (folder / "team.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    assert not notify([config], EVENT, server=policy)[0].ok
    assert not (tmp_path / "elsewhere.jsonl").exists()


@pytest.mark.served
def test_monitor_notifiers_follow_the_server_rules_only_on_a_server(workspace: Any, tmp_path: Path) -> None:
    """Embedded (SQLite, PostgreSQL): any path and a private address are the user's choice. Behind a
    server (whose test policy allows loopback and one folder): paths outside its folder and private
    addresses are refused with InvalidInput naming the notifier's field, and nothing is created."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from conftest import test_server_policy

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    spec = {"model": "clf@production", "reference": "ref@1", "target": "target", "window": "50rows"}
    absolute = {"type": "logfile", "path": str(tmp_path / "alerts.jsonl")}
    private = {"type": "webhook", "url": "http://10.1.2.3/hook"}
    refused_on_a_server = [
        absolute,
        private,
        {"type": "logfile", "path": "../../alerts.jsonl"},
        {"type": "logfile", "path": "~/alerts.jsonl"},
        {"type": "slack", "url": "http://169.254.169.254/latest"},
    ]
    with workspace.client() as client:
        client.log_model(LogisticRegression().fit(frame, [0, 0, 1, 1]), "clf", frame, project="mon")
        client.set_model_alias("clf", "production", 1)
        client.log_dataframe(frame.assign(target=[0, 0, 1, 1]), "ref", project="mon")
        if not workspace.remote:
            for i, notifier in enumerate([absolute, private]):
                assert client.create_monitor({**spec, "name": f"m{i}", "notify": [notifier]}).notify
            return
        for notifier in refused_on_a_server:
            with pytest.raises(InvalidInput) as exc:
                client.create_monitor({**spec, "name": "m", "notify": [notifier]})
            assert exc.value.field == f"notify[0].{'path' if 'path' in notifier else 'url'}"
        assert client.list_monitors() == []
        made = client.create_monitor(
            {**spec, "name": "ok", "notify": [{"type": "logfile", "path": "m.jsonl"}]}
        )
        folder = Path(test_server_policy().notifier_log_dir or "")
        assert made.notify[0]["path"] == str(folder / "m.jsonl")
