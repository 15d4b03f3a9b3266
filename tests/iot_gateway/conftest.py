"""Real chain (embedded node, suite deployed, a lot with its devices), real brokers, real gateways.

The chain is shared by the whole package (session scope): the lot and its devices never change.
Each test gets its own Mosquitto (password file + ACL, free port) or embedded broker, and its
own gateway data directory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from eth_account.signers.local import LocalAccount
from paho.mqtt.enums import CallbackAPIVersion

from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_account, dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.readings import Measurements, Reading, decode_batch, is_batch, sign
from chain.roles import Role
from chain.suite import Suite
from iot_gateway.broker import BrokerAddress, EmbeddedBroker
from iot_gateway.gateway import Gateway
from iot_gateway.mosquitto import Accounts, MosquittoInstance, mosquitto_available
from iot_gateway.registry import DeviceKeys
from iot_gateway.settings import GatewaySettings
from iot_gateway.simulator import SimDevice, dev_device_key, dev_device_password, dev_lot_id, make_devices
from node.testing import running_node

LOT = "GW-LOT"
DEVICES = 3
GHOST = "GW-GHOST-1"  # has broker credentials, is bound to no lot on chain
GATEWAY_USER = "gateway-1"
ORACLE_USER = "oracle-1"
LOT_INFO = ("frozen shrimp", "IQF 31/40, 10 kg cartons", 24_000_000, "kg", "Cold store 2, Yangshan")


@dataclass
class Chain:
    rpc_url: str
    manifest: Path
    client: ChainClient
    suite: Suite
    lot_id: bytes
    devices: list[str]

    def keys(self, *, ttl_s: float = 60.0) -> DeviceKeys:
        return DeviceKeys.from_chain(self.rpc_url, self.manifest, ttl_s=ttl_s, unknown_ttl_s=1.0)


def _register_lot(client: ChainClient, suite: Suite, operator: LocalAccount, names: list[str]) -> bytes:
    warehouse = dev_account("gw-warehouse")
    code = dev_credit_code("gw-warehouse")
    fn = suite.registry.functions.admitOrganisation(
        credit_code_bytes32(code), "Yangshan Cold Chain", int(Role.WAREHOUSE), warehouse.address
    )
    client.transact(fn, operator)
    client.send(operator, {"to": warehouse.address, "value": 10**20})
    lot = dev_lot_id(LOT)
    devices = [(SimDevice(n, dev_device_key(n)).device_id, dev_device_key(n).address) for n in names]
    client.transact(suite.receipts.functions.registerLot(lot, LOT_INFO, devices), warehouse)
    return lot


@pytest.fixture(scope="session")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    tmp = tmp_path_factory.mktemp("gw-chain")
    operator = dev_account("operator")
    registry = predicted_registry_address(operator.address)
    with running_node(tmp, operator_address=operator.address, registry_address=registry) as node:
        client = ChainClient.connect(node.http_url, poll_interval_s=0.01)
        deployment = deploy_suite(
            client, operator, SuiteParams(operator_credit_code=dev_credit_code("operator"))
        )
        manifest = tmp / "deployment.json"
        deployment.write(manifest)
        suite = Suite.bind(client, deployment)
        names = [d.name for d in make_devices(LOT, DEVICES)]
        lot = _register_lot(client, suite, operator, names)
        yield Chain(node.http_url, manifest, client, suite, lot, names)


def accounts_for(names: list[str]) -> Accounts:
    devices = {n: dev_device_password(n) for n in [*names, GHOST]}
    return Accounts(devices=devices, gateways={GATEWAY_USER: "gw-secret"}, oracles={ORACLE_USER: "or-secret"})


@pytest.fixture()
def mosquitto(tmp_path: Path, chain: Chain) -> Iterator[MosquittoInstance]:
    if not mosquitto_available():
        pytest.skip("Mosquitto is not installed (Debian packages mosquitto, mosquitto-clients)")
    with MosquittoInstance(tmp_path / "mosquitto", accounts_for(chain.devices)) as broker:
        yield broker


@pytest.fixture()
def embedded_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(port=0) as broker:
        yield broker


def gateway_settings(data_dir: Path, **overrides: Any) -> GatewaySettings:
    params: dict[str, Any] = {"gateway_id": "gw-test", "data_dir": data_dir, "reconnect_max_s": 2}
    params.update(overrides)
    return GatewaySettings(**params)


@pytest.fixture()
def make_gateway(tmp_path: Path, chain: Chain) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def make(broker: BrokerAddress, *, cls: type[Gateway] = Gateway, **overrides: Any) -> Gateway:
        gateway = cls(gateway_settings(tmp_path / "gateway", **overrides), broker, chain.keys())
        started.append(gateway.start())
        return gateway

    yield make
    for gateway in started:
        if gateway._store is not None:  # not stopped by the test
            gateway.stop()


@dataclass
class Listener:
    """A subscriber (the oracle's stand-in) collecting what arrives, by topic."""

    client: mqtt.Client
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    subscribed: threading.Event = field(default_factory=threading.Event)

    def on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload))

    def payloads(self, prefix: str = "") -> list[bytes]:
        with self.lock:
            return [p for t, p in self.messages if t.startswith(prefix)]

    def readings(self) -> list[bytes]:
        """The readings' bytes that arrived on `verified/`, batches unpacked, in arrival order."""
        out: list[bytes] = []
        for payload in self.payloads("verified/"):
            out.extend(decode_batch(payload) if is_batch(payload) else [payload])
        return out

    def wait_for(self, predicate: Callable[[Listener], bool], timeout_s: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.02)
        return predicate(self)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def listen(broker: BrokerAddress, topic: str, *, client_id: str, persistent: bool = False) -> Listener:
    """Subscribe to `topic` (QoS 1) and collect; a persistent session survives broker restarts."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
    listener = Listener(client)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    client.reconnect_delay_set(1, 2)

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            c.subscribe(topic, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = lambda *_: listener.subscribed.set()
    client.on_message = listener.on_message
    client.connect_async(broker.host, broker.port, keepalive=30)
    client.loop_start()
    assert listener.subscribed.wait(10), "listener could not subscribe"
    return listener


def device_client(broker: BrokerAddress, name: str) -> mqtt.Client:
    """A connected device client logged in as `name` (when the broker wants credentials)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{name}")
    if broker.username is not None:
        client.username_pw_set(name, dev_device_password(name))
    connected = threading.Event()
    client.on_connect = lambda c, u, f, reason, p: connected.set() if not reason.is_failure else None
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    assert connected.wait(10), f"{name} could not connect"
    return client


def signed(device: str, seq: int, *, key: LocalAccount | None = None, **m: Any) -> bytes:
    """A reading of `device` signed by its development key (or `key`)."""
    measurements = Measurements(**(m or {"temp_mc": 4_000, "weight_g": 24_000_000}))
    reading = Reading(device, seq, int(time.time() * 1000), measurements)
    return sign(reading, key or dev_device_key(device)).to_json()
