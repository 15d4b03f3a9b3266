"""Health probes of the services of a running network, from the outside (over the network).

`scf up` waits until every probe says ready; `scf status` prints them. Each kind of service is
probed the way its clients use it: the chain with JSON-RPC (chain id and head block), the broker
with an MQTT CONNECT, the gateway, the oracle nodes and the API with their `/ready` endpoints.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Service:
    """A service to probe: its name, kind (jsonrpc, mqtt, http) and URL."""

    name: str
    kind: str
    url: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "url": self.url}


@dataclass(frozen=True)
class Health:
    """What a probe found: up (answers), ready (does its job), and what it said."""

    service: Service
    up: bool
    ready: bool
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return "ready" if self.ready else "up, not ready" if self.up else "down"


def probe_jsonrpc(service: Service) -> Health:
    """A chain node: answers eth_chainId and eth_blockNumber."""
    try:
        answers = requests.post(
            service.url,
            json=[
                {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
            ],
            timeout=TIMEOUT_S,
        ).json()
        results = {a["id"]: a["result"] for a in answers}
        detail = {"chain_id": int(results[1], 16), "head_block": int(results[2], 16)}
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        return Health(service, False, False, {"error": type(exc).__name__})
    return Health(service, True, True, detail)


def _connect_packet(client_id: str) -> bytes:
    """An MQTT 3.1.1 CONNECT: clean session, no credentials, keepalive 10 s."""
    ident = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x0a" + len(ident).to_bytes(2, "big") + ident
    return bytes([0x10, len(body)]) + body


def probe_mqtt(service: Service) -> Health:
    """A broker: accepts a TCP connection and answers an MQTT CONNECT with a CONNACK.

    A refusal of the anonymous probe (return code 4 or 5) still means the broker works.
    """
    parts = urlsplit(service.url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 1883), TIMEOUT_S) as sock:
            sock.settimeout(TIMEOUT_S)
            sock.sendall(_connect_packet(f"scf-probe-{os.getpid()}-{time.monotonic_ns() % 10**9}"))
            connack = sock.recv(4)
            if len(connack) == 4 and connack[0] == 0x20 and connack[3] == 0:
                sock.sendall(b"\xe0\x00")  # DISCONNECT
    except OSError as exc:
        return Health(service, False, False, {"error": type(exc).__name__})
    if len(connack) != 4 or connack[0] != 0x20:
        return Health(service, True, False, {"error": "no CONNACK"})
    return Health(service, True, True, {"connack": connack[3]})


def probe_http(service: Service) -> Health:
    """A service with `/ready` (200 when ready, 503 when not, a JSON body either way)."""
    try:
        response = requests.get(service.url.rstrip("/") + "/ready", timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        return Health(service, False, False, {"error": type(exc).__name__})
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = body if isinstance(body, dict) else {}
    return Health(service, True, response.status_code == 200, detail)


PROBES: dict[str, Callable[[Service], Health]] = {
    "jsonrpc": probe_jsonrpc,
    "mqtt": probe_mqtt,
    "http": probe_http,
}


def probe(service: Service) -> Health:
    return PROBES[service.kind](service)


def probe_all(services: Sequence[Service]) -> list[Health]:
    """Probe every service at once; results in the order given."""
    if not services:
        return []
    with ThreadPoolExecutor(len(services)) as pool:
        return list(pool.map(probe, services))


def wait_ready(
    services: Sequence[Service],
    timeout_s: float,
    *,
    stopped: Callable[[], bool] = lambda: False,
    on_ready: Callable[[Health], None] = lambda _h: None,
) -> list[Health]:
    """Probe until every service is ready, `timeout_s` passes or `stopped()`; the last results."""
    deadline = time.monotonic() + timeout_s
    pending = list(services)
    done: dict[str, Health] = {}
    while True:
        for health in probe_all(pending):
            if health.ready:
                done[health.service.name] = health
                on_ready(health)
        pending = [s for s in pending if s.name not in done]
        if not pending or stopped() or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    last = {h.service.name: h for h in probe_all(pending)}
    return [done.get(s.name) or last[s.name] for s in services]
