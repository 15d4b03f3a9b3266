"""Notifications over a real node and real HTTP: signed webhook deliveries with retries, and an SSE stream."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import uvicorn
from sqlmodel import select

from api.models import ChainEvent
from api.notifier import verify_signature
from api.services import notifications
from api.services.errors import Invalid
from api.services.notifications import check_url
from tests.api.conftest import Network
from tests.api.support import Member, admit, invoice_form, pdf, upload


@pytest.fixture(autouse=True)
def _fast_notifier(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local receivers, quick retries and polling; set before the `network` fixture builds the runtime."""
    monkeypatch.setenv("SCF_API_WEBHOOK_ALLOW_PRIVATE_URLS", "true")
    monkeypatch.setenv("SCF_API_WEBHOOK_RETRY_BASE_S", "0.2")
    monkeypatch.setenv("SCF_API_WEBHOOK_POLL_S", "0.02")
    monkeypatch.setenv("SCF_API_WEBHOOK_STREAM_POLL_S", "0.05")
    # Frequent keepalives also let a test close its stream promptly (the reader thread wakes up).
    monkeypatch.setenv("SCF_API_WEBHOOK_STREAM_KEEPALIVE_S", "0.2")


def wait_until(predicate: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


# -- a webhook receiver on 127.0.0.1 ----------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200


@contextmanager
def receiver() -> Iterator[Receiver]:
    rec = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            status = rec.statuses.pop(0) if rec.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/scfnet"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


def subscribe(net: Network, member: Member, url: str, types: list[str]) -> dict[str, Any]:
    r = net.client.post("/webhooks", json={"url": url, "event_types": types}, headers=member.headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def deliveries(net: Network, member: Member, webhook_id: int) -> list[dict[str, Any]]:
    r = net.client.get(f"/webhooks/{webhook_id}/deliveries", headers=member.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


# -- the app over real HTTP, for streams -------------------------------------------------------------


@contextmanager
def served(net: Network) -> Iterator[str]:
    """The fixture's app (runtime already started) behind uvicorn on 127.0.0.1."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(net.client.app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Event:
    id: int
    type: str
    data: dict[str, Any]


class Stream:
    """An SSE client reading in a thread; frames land in a queue."""

    def __init__(self, base_url: str, member: Member, last_event_id: int | None = None) -> None:
        headers = dict(member.headers)
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.response = requests.get(f"{base_url}/events/stream", headers=headers, stream=True, timeout=30)
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self.events: queue.Queue[Event] = queue.Queue()
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.ready.wait(10), "the stream sent nothing"

    def _read(self) -> None:
        frame: dict[str, str] = {}
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line == "":
                    if "data" in frame:
                        self.events.put(Event(int(frame["id"]), frame["event"], json.loads(frame["data"])))
                    self.ready.set()  # the first frame is the retry hint
                    frame = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    frame[name] = value.removeprefix(" ")
        except (requests.RequestException, AttributeError, ValueError):
            pass  # closed by the test

    def next(self, timeout_s: float = 15.0) -> Event:
        return self.events.get(timeout=timeout_s)

    def nothing_within(self, seconds: float) -> bool:
        try:
            event = self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected event {event}")

    def close(self) -> None:
        self.response.close()


# -- a small trade -------------------------------------------------------------------------------------


def confirmed_invoice(net: Network, seller: Member, buyer: Member, number: str) -> dict[str, Any]:
    r = upload(net, seller, invoice_form(number, buyer, "100000.00"), pdf(number))
    assert r.status_code == 201, r.text
    invoice_id = r.json()["result"]["id"]
    r = net.client.post(f"/invoices/{invoice_id}/confirm?wait=true", headers=buyer.headers)
    assert r.status_code == 200, r.text
    r = net.client.get(f"/receivables/{invoice_id}", headers=seller.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def request_financing(net: Network, holder: Member, piece: dict[str, Any], bank: Member | None) -> None:
    body = {
        "bank_credit_code": bank.credit_code if bank else None,
        "max_rate_ppm": 50_000,
        "expires_at": piece["due_at"] - 86_400,
    }
    r = net.client.post(
        f"/receivables/{piece['id']}/financing-requests?wait=true", json=body, headers=holder.headers
    )
    assert r.status_code == 201, r.text


# -- tests -----------------------------------------------------------------------------------------------


def test_webhook_receives_signed_financing_request_addressed_to_its_bank_only(network: Network) -> None:
    huaxin = admit(network, "huaxin", ["CORE_FIRM"])
    delta = admit(network, "delta", ["SUPPLIER"])
    bank_a = admit(network, "bank-a", ["BANK"])
    bank_b = admit(network, "bank-b", ["BANK"])
    with receiver() as rec_a, receiver() as rec_b:
        hook_a = subscribe(network, bank_a, rec_a.url, ["financing.requested"])
        hook_b = subscribe(network, bank_b, rec_b.url, ["financing.requested"])
        assert hook_a["secret"].startswith("whsec_") and hook_a["secret"] != hook_b["secret"]
        listed = network.client.get("/webhooks", headers=bank_a.headers).json()
        assert listed["count"] == 1 and "secret" not in listed["data"][0]

        piece = confirmed_invoice(network, delta, huaxin, "INV-2001")
        request_financing(network, delta, piece, bank_a)

        wait_until(lambda: rec_a.requests)
        got = rec_a.requests[0]
        assert got.headers["x-scfnet-event"] == "financing.requested"
        assert got.json["type"] == "financing.requested" and got.json["subject"] == piece["id"]
        assert got.json["data"]["bankOrg"] == bank_a.chain_org_id
        # The signature, checked as a receiver would from the documented scheme.
        stamp, v1 = (part.split("=", 1)[1] for part in got.headers["x-scfnet-signature"].split(","))
        expected = hmac.new(
            hook_a["secret"].encode(), f"{stamp}.".encode() + got.body, hashlib.sha256
        ).hexdigest()
        assert hmac.compare_digest(v1, expected) and abs(time.time() - int(stamp)) < 60
        assert verify_signature(hook_a["secret"], got.headers["x-scfnet-signature"], got.body)
        assert not verify_signature(hook_b["secret"], got.headers["x-scfnet-signature"], got.body)
        assert not verify_signature(hook_a["secret"], got.headers["x-scfnet-signature"], got.body + b" ")

        delivered = wait_until(lambda: deliveries(network, bank_a, hook_a["id"]))
        assert delivered[0]["id"] == got.headers["x-scfnet-delivery"]
        # Bank B was not asked: no delivery was even created for it, and nothing reached its receiver.
        assert deliveries(network, bank_b, hook_b["id"]) == [] and rec_b.requests == []
        # Nor may Bank B read Bank A's webhook.
        r = network.client.get(f"/webhooks/{hook_a['id']}/deliveries", headers=bank_b.headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "webhook_not_found"

        # A request to the open market goes to every bank.
        market = confirmed_invoice(network, delta, huaxin, "INV-2002")
        request_financing(network, delta, market, None)
        for rec in (rec_a, rec_b):
            got = wait_until(lambda rec=rec: [q for q in rec.requests if q.json["subject"] == market["id"]])
            assert got[0].json["data"]["bankOrg"] == 0


def test_webhook_failing_receiver_is_retried_and_delivery_recorded(network: Network) -> None:
    huaxin = admit(network, "huaxin", ["CORE_FIRM"])
    delta = admit(network, "delta", ["SUPPLIER"])
    with receiver() as rec:
        rec.statuses = [500]
        hook = subscribe(network, delta, rec.url, [])
        confirmed_invoice(network, delta, huaxin, "INV-3001")

        done = wait_until(
            lambda: [d for d in deliveries(network, delta, hook["id"]) if d["status"] != "pending"]
        )
        assert done[0]["type"] == "invoice.confirmed"
        assert done[0]["status"] == "delivered" and done[0]["attempts"] == 2
        assert done[0]["last_status_code"] == 200 and done[0]["last_error"] == "HTTP 500"
        assert done[0]["delivered_at"] is not None
        # Both attempts carried the same delivery id (receivers dedupe on it), each freshly signed.
        assert [r.headers["x-scfnet-delivery"] for r in rec.requests] == [done[0]["id"]] * 2
        assert all(
            verify_signature(hook["secret"], r.headers["x-scfnet-signature"], r.body) for r in rec.requests
        )

        # Deleted: nothing more is sent, and it no longer lists.
        assert network.client.delete(f"/webhooks/{hook['id']}", headers=delta.headers).status_code == 204
        assert network.client.get("/webhooks", headers=delta.headers).json()["count"] == 0


def test_stream_delivers_funded_to_seller_and_resumes_after_last_event_id(network: Network) -> None:
    huaxin = admit(network, "huaxin", ["CORE_FIRM"])
    delta = admit(network, "delta", ["SUPPLIER"])
    bank_a = admit(network, "bank-a", ["BANK"])
    r = network.client.post(
        "/settlement/deposits?wait=true",
        json={"to_org_id": bank_a.org_id, "amount": "500000.00"},
        headers=bank_a.headers,
    )
    assert r.status_code == 201, r.text
    with served(network) as base:
        stream = Stream(base, delta)
        piece = confirmed_invoice(network, delta, huaxin, "INV-4001")
        confirmed = stream.next()
        assert confirmed.type == "invoice.confirmed" and confirmed.data["subject"] == piece["id"]

        request_financing(network, delta, piece, bank_a)
        r = network.client.post(
            f"/receivables/{piece['id']}/fund?wait=true", json={"rate_ppm": 45_000}, headers=bank_a.headers
        )
        assert r.status_code == 200, r.text
        funded = stream.next()
        assert funded.type == "financing.funded" and funded.id > confirmed.id
        assert (
            funded.data["data"]["sellerOrg"] == delta.chain_org_id and funded.data["data"]["priceMinor"] > 0
        )
        stream.close()

        # Reconnecting after the first event replays exactly what followed it.
        resumed = Stream(base, delta, last_event_id=confirmed.id)
        assert resumed.next() == funded
        assert resumed.nothing_within(0.5)
        resumed.close()
        caught_up = Stream(base, delta, last_event_id=funded.id)
        assert caught_up.nothing_within(0.5)
        caught_up.close()


def test_stream_never_shows_another_organisations_events(network: Network) -> None:
    huaxin = admit(network, "huaxin", ["CORE_FIRM"])
    delta = admit(network, "delta", ["SUPPLIER"])
    eastern = admit(network, "eastern", ["SUPPLIER"])
    with served(network) as base:
        # From the beginning of time, even: nothing of Delta's reaches Eastern.
        snoop = Stream(base, eastern, last_event_id=0)
        own = Stream(base, delta)
        piece = confirmed_invoice(network, delta, huaxin, "INV-5001")
        assert own.next().data["subject"] == piece["id"]
        assert snoop.nothing_within(0.5)
        snoop.close()
        own.close()
    assert network.client.get("/notifications", headers=eastern.headers).json()["count"] == 0
    mine = network.client.get("/notifications", headers=delta.headers).json()
    assert [n["type"] for n in mine["data"]] == ["invoice.confirmed"]

    # Replaying the event (a read-model rebuild does) notifies no one twice.
    runtime = network.client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.session() as session:
        event = session.exec(select(ChainEvent).where(ChainEvent.name == "ReceivableConfirmed")).one()
        assert notifications.fan_out(session, event) == []
        session.commit()
    assert network.client.get("/notifications", headers=delta.headers).json()["count"] == 1


def test_webhook_with_bad_url_is_422(network: Network) -> None:
    delta = admit(network, "delta", ["SUPPLIER"])
    for url in (
        "ftp://example.com/hook",
        "example.com/hook",
        "http://",
        "https://user:pw@example.com/hook",
        "http://example.com:99999/",
        "javascript:alert(1)",
    ):
        r = network.client.post("/webhooks", json={"url": url}, headers=delta.headers)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_webhook_url", (url, r.text)
    r = network.client.post("/webhooks", json={"url": ""}, headers=delta.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    r = network.client.post(
        "/webhooks", json={"url": "https://example.com/hook", "event_types": ["nope"]}, headers=delta.headers
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_event_type"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://localhost/x",
        "http://10.0.0.7/",
        "http://[::1]/",
        "http://169.254.169.254/",
    ],
)
def test_check_url_refuses_private_addresses_unless_allowed(url: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_url(url, allow_private=False)
    assert refused.value.code == "webhook_url_not_public"
    assert check_url(url, allow_private=True) == url


def test_webhook_secret_is_stored_sealed_and_shown_once(network: Network) -> None:
    from sqlmodel import Session

    from api.custody import open_secret
    from api.models import Webhook

    bank = admit(network, "bank-sealed", ["BANK"])
    r = network.client.post("/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=bank.headers)
    assert r.status_code == 201, r.text
    secret, hook_id = r.json()["secret"], r.json()["id"]
    runtime = network.client.app.state.runtime
    with Session(runtime.engine) as session:
        row = session.get(Webhook, hook_id)
        assert row is not None and secret not in row.secret
        assert open_secret(runtime.master_key, f"webhook:{hook_id}", row.secret) == secret
    listed = network.client.get("/webhooks", headers=bank.headers).json()["data"]
    assert all("secret" not in hook for hook in listed)
