"""A real network for the oracle nodes: embedded chain node with the suite, Mosquitto, 3 oracle nodes.

Module-scoped: each test registers a lot of its own (3 devices), so rounds of different tests
never mix. Mosquitto runs without auth on a free port (the gateway's tests cover the ACL).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from paho.mqtt.enums import CallbackAPIVersion

from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_account, dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.readings import Measurements, Reading, device_id, sign
from chain.roles import Role
from chain.suite import Suite
from node.testing import RunningNode, running_node
from oracle.rules import CST, LotOverrides, RulesConfig
from oracle.runner import RunningOracle, start_oracle
from oracle.settings import OracleSettings

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
ROUND_S = 1
OFFLINE_TIMEOUT_S = 3.0
QUANTITY_MILLI = 120_000  # 120 t
FULL_WEIGHT_G = 120_000_000
LAT_E7, LON_E7 = 360_671_234, 1_203_823_456


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mosquitto:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (Debian package `mosquitto`)")
    port = free_port()
    conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 100000\nmax_inflight_messages 100\n"
    )
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"mosquitto did not start: {process.stderr.read() if process.stderr else ''!r}")
            time.sleep(0.05)
    yield Mosquitto(port, process)
    process.terminate()
    process.wait(timeout=10)


@dataclass
class Member:
    name: str
    org_id: int
    account: LocalAccount


@dataclass
class Chain:
    node: RunningNode
    client: ChainClient
    suite: Suite
    manifest: Path
    operator: LocalAccount
    members: dict[str, Member] = field(default_factory=dict)

    def tx(self, fn: Any, sender: LocalAccount) -> Any:
        return self.client.transact(fn, sender)

    def lot_status(self, lot: bytes) -> dict[str, int]:
        fields = ("status", "round", "observedAt", "reportedAt")
        return dict(zip(fields, self.suite.oracle.functions.lotStatus(lot).call(), strict=True))

    def wait_status(self, lot: bytes, status: int, timeout_s: float = 20.0) -> dict[str, int]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            current = self.lot_status(lot)
            if current["status"] == status:
                return current
            time.sleep(0.1)
        raise AssertionError(f"lot never reached status {status}: {self.lot_status(lot)}")

    def reports(self, lot: bytes) -> list[Any]:
        logs = self.suite.oracle.events.ReportAccepted.get_logs(from_block=0, argument_filters={"lotId": lot})
        return sorted(logs, key=lambda log: log["args"]["round"])


def _admit(chain: Chain, name: str, roles: Role) -> Member:
    account = dev_account(f"oracle-tests:{name}")
    code = dev_credit_code(f"oracle-tests:{name}")
    registry = chain.suite.registry
    chain.tx(
        registry.functions.admitOrganisation(credit_code_bytes32(code), name, int(roles), account.address),
        chain.operator,
    )
    chain.client.send(chain.operator, {"to": account.address, "value": 10**20})
    org_id = registry.functions.orgIdOf(credit_code_bytes32(code)).call()
    member = Member(name, org_id, account)
    chain.members[name] = member
    return member


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    tmp = tmp_path_factory.mktemp("chain")
    operator = dev_account("operator")
    registry = predicted_registry_address(operator.address)
    with running_node(tmp, operator_address=operator.address, registry_address=registry) as node:
        client = ChainClient.connect(node.http_url, poll_interval_s=0.01)
        deployment = deploy_suite(
            client, operator, SuiteParams(operator_credit_code=dev_credit_code("operator"))
        )
        manifest = tmp / "deployment.json"
        deployment.write(manifest)
        chain = Chain(node, client, Suite.bind(client, deployment), manifest, operator)
        _admit(chain, "north", Role.WAREHOUSE)
        _admit(chain, "delta", Role.SUPPLIER)
        _admit(chain, "bank-b", Role.BANK)
        for i in range(3):
            oracle = _admit(chain, f"oracle-{i}", Role.ORACLE)
            chain.tx(chain.suite.oracle.functions.addSigner(oracle.account.address), operator)
        assert chain.suite.oracle.functions.quorum().call() == 2
        yield chain


def outside_hours_rules() -> RulesConfig:
    """Default rules, but working hours that exclude the present (door open now is out of hours)."""
    now = datetime.now(CST)
    start = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    return RulesConfig(defaults=LotOverrides(door_hours=(start, end)))


@dataclass
class Oracles:
    chain: Chain
    broker: Mosquitto
    base: Path
    rules: RulesConfig
    running: list[RunningOracle | None]

    def settings(self, index: int) -> OracleSettings:
        return OracleSettings(
            node_index=index,
            key=self.chain.members[f"oracle-{index}"].account.key.to_0x_hex(),
            broker_url=self.broker.url,
            rpc_url=self.chain.node.http_url,
            manifest_path=self.chain.manifest,
            round_length_s=ROUND_S,
            settle_delay_s=0.3,
            offline_timeout_s=OFFLINE_TIMEOUT_S,
            takeover_s=1.0,
            data_dir=self.base / f"oracle-{index}",
            http_port=0,
            chain_poll_s=0.1,
        )

    def start(self, index: int, *, rules: RulesConfig | None = None, **overrides: Any) -> RunningOracle:
        """Start node `index` with the network's settings, or these `overrides` and `rules`."""
        settings = self.settings(index).model_copy(update=overrides)
        handle = start_oracle(settings, rules=rules or self.rules)
        self.running[index] = handle
        return handle

    def restart_all(self, **overrides: Any) -> None:
        """Stop every node and start them all again with the network's settings (or `overrides`)."""
        for i in range(len(self.running)):
            self.stop(i)
        for i in range(len(self.running)):
            self.start(i, **overrides)

    def stop(self, index: int) -> None:
        handle = self.running[index]
        if handle is not None:
            handle.stop()
            self.running[index] = None

    def node(self, index: int) -> RunningOracle:
        handle = self.running[index]
        assert handle is not None
        return handle

    def metric(self, name: str) -> list[int]:
        return [h.node.metrics[name] if h else 0 for h in self.running]


@pytest.fixture(scope="module")
def oracles(
    chain: Chain, mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Oracles]:
    net = Oracles(chain, mosquitto, tmp_path_factory.mktemp("oracles"), outside_hours_rules(), [None] * 3)
    try:
        for i in range(3):
            net.start(i)
        yield net
    finally:
        for i in range(3):
            net.stop(i)


# ---------------------------------------------------------------- devices


@dataclass
class Lot:
    label: str
    lot_id: bytes
    devices: dict[str, LocalAccount]  # name -> device key

    @property
    def names(self) -> list[str]:
        return list(self.devices)


def register_lot(chain: Chain, label: str) -> Lot:
    """Register a lot of 120 t of steel coils at `north` with 3 devices (temperature, weight, GPS+door)."""
    lot_id = keccak(text=f"lot:{label}")
    names = [f"{label}-temp", f"{label}-weight", f"{label}-gps"]
    keys = {name: dev_account(f"device:{name}") for name in names}
    devices = [(device_id(name), key.address) for name, key in keys.items()]
    info = ("steel coils", "Q235B 2.0mm x 1250mm", QUANTITY_MILLI, "t", "North warehouse, bay 3")
    chain.tx(
        chain.suite.receipts.functions.registerLot(lot_id, info, devices), chain.members["north"].account
    )
    return Lot(label, lot_id, keys)


class Publisher:
    """Publishes signed readings on `verified/` as the gateway would (QoS 1)."""

    def __init__(self, broker: Mosquitto, client_id: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.seq: dict[str, int] = {}

    def reading(self, lot: Lot, name: str, m: Measurements, *, key: LocalAccount | None = None) -> Reading:
        seq = self.seq.get(name, 0) + 1
        self.seq[name] = seq
        reading = sign(Reading(name, seq, int(time.time() * 1000), m), key or lot.devices[name])
        self.publish(lot, reading)
        return reading

    def publish(self, lot: Lot, reading: Reading) -> None:
        self.client.publish(
            f"verified/{lot.lot_id.hex()}/{reading.device}", reading.to_json(), qos=1
        ).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class Stream:
    """Three devices of a lot publishing on a thread; change `weight_g`/`door` to inject anomalies."""

    publisher: Publisher
    lot: Lot
    period_s: float = 0.25
    weight_g: int = FULL_WEIGHT_G
    door: str = "closed"
    sent: list[Reading] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Stream:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        temp, weight, gps = self.lot.names
        while not self._stop.is_set():
            p = self.publisher
            self.sent.append(p.reading(self.lot, temp, Measurements(temp_mc=21_500, humidity_pm=455)))
            self.sent.append(p.reading(self.lot, weight, Measurements(weight_g=self.weight_g)))
            self.sent.append(
                p.reading(self.lot, gps, Measurements(lat_e7=LAT_E7, lon_e7=LON_E7, door=self.door))
            )
            self._stop.wait(self.period_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)


@pytest.fixture
def publisher(mosquitto: Mosquitto, request: pytest.FixtureRequest) -> Iterator[Publisher]:
    pub = Publisher(mosquitto, f"test-gateway-{request.node.name}"[:60])
    yield pub
    pub.close()


@pytest.fixture
def stream(publisher: Publisher) -> Iterator[Callable[[Lot], Stream]]:
    started: list[Stream] = []

    def make(lot: Lot) -> Stream:
        s = Stream(publisher, lot).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def wait_for(predicate: Callable[[], bool], timeout_s: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
