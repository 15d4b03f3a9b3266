"""IoT path end to end: devices -> Mosquitto (password + ACL) -> gateway -> 3 oracle nodes -> chain.

Everything runs on this machine: the embedded chain node, the gateway and the 3 oracle nodes
(quorum 2) in this process (threads, as `tests/oracle` runs them), Mosquitto as its own process.

- `mosquitto_raw_msgs_per_s`: the same kind of signed payloads (signed separately) published by the
  same device connections through the same broker to one bare paho subscriber (QoS 1, auto ack), before
  the gateway has ever connected: the broker's ceiling in this run.
- `readings_per_s`: `readings` readings of one lot with `devices` devices, signed beforehand with the
  timestamps of a publishing schedule at `rate` per second (the oracle drops readings of rounds it
  has sealed, so a reading's timestamp must be about when it is published), published on that
  schedule; the clock runs from the first publish until the ReportAccepted event that completes the
  readings covered (the sum of the reports' readingCount) is seen. Covered readings / that time.
- `alert_latency_p95_ms`: afterwards, with the system otherwise idle, one anomalous reading (weight
  50 % below the registered quantity) per fresh lot, published 0.35 s apart; publish -> `lotStatus`
  ALERT on chain (polled every 20 ms).
- `gas_per_reading`: gasUsed of the throughput lot's ReportAccepted transactions / readings covered.
"""

from __future__ import annotations

import logging
import math
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from eth_account.signers.local import LocalAccount
from paho.mqtt.enums import CallbackAPIVersion

from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_account, dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.readings import Measurements, Reading, device_id, sign
from chain.roles import Role
from chain.suite import Suite
from iot_gateway.gateway import running_gateway
from iot_gateway.mosquitto import Accounts, MosquittoInstance, mosquitto_available
from iot_gateway.settings import GatewaySettings
from iot_gateway.simulator import dev_device_key, dev_device_password, dev_lot_id, device_names
from iot_gateway.topics import telemetry_topic
from node.testing import running_node
from oracle.rules import Status
from oracle.runner import RunningOracle, start_oracle
from oracle.settings import OracleSettings

logger = logging.getLogger(__name__)

TARGETS = {"readings_per_s": ">= 2000", "alert_latency_p95_ms": "<= 3000"}
LOT = "IOT-BENCH"
ALERT_SAMPLES = 12
ALERT_SPACING_S = 0.35
QUANTITY_MILLI = 24_000_000  # 24,000 kg
UNIT = "kg"
FULL_WEIGHT_G = 24_000_000
ROUND_S = 1
MAX_DEVICES = 16
SETTLE_S = 1.0
BROKER_INFLIGHT = 1_000
ORACLES = 3
GATEWAY_USER = "gateway-1"
RAW_USER = "raw-subscriber"
OPERATOR = dev_account("operator")


@dataclass
class Net:
    client: ChainClient
    suite: Suite
    rpc_url: str
    manifest: Path
    oracle_keys: list[LocalAccount]


def _admit(net: Net, name: str, roles: Role) -> LocalAccount:
    account = dev_account(f"bench-iot:{name}")
    code = credit_code_bytes32(dev_credit_code(f"bench-iot:{name}"))
    fn = net.suite.registry.functions.admitOrganisation(code, name, int(roles), account.address)
    net.client.transact(fn, OPERATOR)
    net.client.send(OPERATOR, {"to": account.address, "value": 10**20})
    return account


def _register_lot(net: Net, warehouse: LocalAccount, label: str, names: list[str]) -> bytes:
    lot = dev_lot_id(label)
    devices = [(device_id(n), dev_device_key(n).address) for n in names]
    info = ("frozen shrimp", "IQF 31/40, 10 kg cartons", QUANTITY_MILLI, UNIT, "Cold store 2, Yangshan")
    net.client.transact(net.suite.receipts.functions.registerLot(lot, info, devices), warehouse)
    return lot


def _device_clients(broker: MosquittoInstance, names: list[str]) -> dict[str, mqtt.Client]:
    clients: dict[str, mqtt.Client] = {}
    for name in names:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{name}")
        client.username_pw_set(name, dev_device_password(name))
        client.max_inflight_messages_set(BROKER_INFLIGHT)
        connected = threading.Event()
        client.on_connect = lambda c, u, f, reason, p, ev=connected: (
            ev.set() if not reason.is_failure else None
        )
        client.connect(broker.host, broker.port, keepalive=60)
        client.loop_start()
        if not connected.wait(10):
            raise RuntimeError(f"device {name} could not connect")
        clients[name] = client
    return clients


def _presign(names: list[str], count: int, t0_ms: float, rate: float) -> list[tuple[str, bytes]]:
    """`count` readings round-robin over the devices, timestamped on a schedule from t0 at `rate`/s."""
    keys = {n: dev_device_key(n) for n in names}
    out = []
    for i in range(count):
        name = names[i % len(names)]
        m = Measurements(temp_mc=-18_000 + i % 300, humidity_pm=450 + i % 20, weight_g=FULL_WEIGHT_G)
        reading = Reading(name, i // len(names) + 1, int(t0_ms + i * 1000 / rate), m)
        out.append((telemetry_topic(name), sign(reading, keys[name]).to_json()))
    return out


def _publish_paced(
    clients: dict[str, mqtt.Client], payloads: list[tuple[str, bytes]], start: float, rate: float | None
) -> list[mqtt.MQTTMessageInfo]:
    infos = []
    for i, (topic, payload) in enumerate(payloads):
        if rate and i % 20 == 0:
            delay = start + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        infos.append(clients[topic.split("/")[1]].publish(topic, payload, qos=1))
    return infos


def _raw(broker: MosquittoInstance, clients: dict[str, mqtt.Client], names: list[str], count: int) -> float:
    """The broker alone: publish as fast as possible to one bare QoS-1 subscriber; messages/s."""
    payloads = _presign(names, count, time.time() * 1000, 1000.0)
    address = broker.address(RAW_USER)
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-subscriber")
    sub.username_pw_set(address.username, address.password)
    received = [0]
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: Any, _u: Any, _m: mqtt.MQTTMessage) -> None:
        received[0] += 1
        if received[0] >= count:
            done.set()

    sub.on_message = on_message
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_connect = lambda c, *_: c.subscribe("devices/#", qos=1)
    sub.connect(broker.host, broker.port, keepalive=60)
    sub.loop_start()
    try:
        if not subscribed.wait(10):
            raise RuntimeError("raw subscriber could not subscribe")
        start = time.perf_counter()
        _publish_paced(clients, payloads, 0.0, None)
        done.wait(120)
        elapsed = time.perf_counter() - start
    finally:
        sub.disconnect()
        sub.loop_stop()
    if received[0] < count:
        logger.warning("raw subscriber got %d of %d", received[0], count)
    return received[0] / elapsed


def _oracle_settings(net: Net, broker: MosquittoInstance, base: Path, index: int) -> OracleSettings:
    address = broker.address(f"oracle-{index}")
    return OracleSettings(
        node_index=index,
        key=net.oracle_keys[index].key.to_0x_hex(),
        broker_url=f"mqtt://{address.username}:{address.password}@{address.host}:{address.port}",
        rpc_url=net.rpc_url,
        manifest_path=net.manifest,
        round_length_s=ROUND_S,
        settle_delay_s=SETTLE_S,
        offline_timeout_s=3_600.0,
        takeover_s=1.0,
        data_dir=base / f"oracle-{index}",
        http_port=None,
        chain_poll_s=0.1,
    )


def _reports(net: Net, lot: bytes, from_block: int) -> list[Any]:
    return list(
        net.suite.oracle.events.ReportAccepted.get_logs(
            from_block=from_block, argument_filters={"lotId": lot}
        )
    )


def _throughput(
    net: Net,
    clients: dict[str, mqtt.Client],
    names: list[str],
    lot: bytes,
    gateway: Any,
    oracles: list[RunningOracle],
    count: int,
    rate: float,
) -> dict[str, Any]:
    from_block = net.client.w3.eth.block_number
    t0 = time.time() + count * 0.00035 + 1.0  # after signing
    sign_start = time.perf_counter()
    payloads = _presign(names, count, t0 * 1000, rate)
    sign_s = time.perf_counter() - sign_start
    while time.time() < t0:
        time.sleep(0.005)
    start = time.time()
    marks: dict[str, float] = {}
    infos = _publish_paced(clients, payloads, t0, rate)
    marks["published_s"] = time.time() - start
    covered = 0
    last_anchor = start
    last_progress = time.time()
    seen: set[str] = set()
    logs: list[Any] = []
    while covered < count and time.time() - last_progress < 15 + SETTLE_S:
        now = time.time()
        if "broker_acked_s" not in marks and all(i.is_published() for i in infos):
            marks["broker_acked_s"] = now - start
        g = gateway.metrics.as_dict()
        if "gateway_accepted_s" not in marks and g["accepted"] >= count:
            marks["gateway_accepted_s"] = now - start
        if "gateway_republished_s" not in marks and g["republished"] >= count:
            marks["gateway_republished_s"] = now - start
        stored = [o.node.metrics["readings_accepted"] for o in oracles]
        if "oracles_stored_s" not in marks and min(stored) >= count:
            marks["oracles_stored_s"] = now - start
        for log in _reports(net, lot, from_block):
            key = log["transactionHash"].hex()
            if key not in seen:
                seen.add(key)
                logs.append(log)
                covered += int(log["args"]["readingCount"])
                last_anchor = now
                last_progress = now
        if covered < count:
            time.sleep(0.05)
    marks["last_anchor_s"] = last_anchor - start
    elapsed = last_anchor - start
    gas = sum(
        int(net.client.w3.eth.get_transaction_receipt(log["transactionHash"])["gasUsed"]) for log in logs
    )
    return {
        "covered": covered,
        "elapsed_s": round(elapsed, 3),
        "readings_per_s": round(covered / elapsed, 1) if elapsed > 0 else 0.0,
        "gas_total": gas,
        "gas_per_reading": round(gas / covered, 1) if covered else None,
        "reports": len(logs),
        "presign_s": round(sign_s, 2),
        "timeline_s": {k: round(v, 3) for k, v in marks.items()},
        "gateway": gateway.metrics.as_dict(),
        "oracles": [dict(o.node.metrics) for o in oracles],
    }


def _alerts(net: Net, broker: MosquittoInstance, lots: list[tuple[str, bytes]]) -> list[float]:
    names = [name for name, _ in lots]
    clients = _device_clients(broker, names)
    status = net.suite.oracle.functions.lotStatus
    pending: dict[bytes, float] = {}
    latencies: list[float] = []
    try:
        start = time.time()
        for k, (name, lot) in enumerate(lots):
            while time.time() < start + k * ALERT_SPACING_S:
                _poll_alerts(status, pending, latencies)
                time.sleep(0.02)
            m = Measurements(temp_mc=-18_000, humidity_pm=450, weight_g=FULL_WEIGHT_G // 2)
            payload = sign(Reading(name, 1, int(time.time() * 1000), m), dev_device_key(name)).to_json()
            pending[lot] = time.time()
            clients[name].publish(telemetry_topic(name), payload, qos=1)
        deadline = time.time() + 30
        while pending and time.time() < deadline:
            _poll_alerts(status, pending, latencies)
            time.sleep(0.02)
    finally:
        for client in clients.values():
            client.disconnect()
            client.loop_stop()
    if pending:
        logger.warning("%d lots never reached ALERT", len(pending))
    return latencies


def _poll_alerts(status: Any, pending: dict[bytes, float], latencies: list[float]) -> None:
    for lot, sent in list(pending.items()):
        if status(lot).call()[0] == Status.ALERT:
            latencies.append((time.time() - sent) * 1000)
            del pending[lot]


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 1)


def run(readings: int, devices: int, *, rate: float = 400.0, alert_samples: int = ALERT_SAMPLES) -> dict:
    """Run the whole IoT benchmark on fresh infrastructure and return the figures."""
    if not 1 <= devices <= MAX_DEVICES:
        raise ValueError(f"a lot has 1 to {MAX_DEVICES} devices (WarehouseReceipts.MAX_DEVICES)")
    if not mosquitto_available():
        raise RuntimeError("Mosquitto is not installed (Debian packages mosquitto, mosquitto-clients)")
    with tempfile.TemporaryDirectory(prefix="scf-bench-iot-") as tmp_name:
        tmp = Path(tmp_name)
        registry = predicted_registry_address(OPERATOR.address)
        with running_node(
            tmp / "chain", operator_address=OPERATOR.address, registry_address=registry
        ) as node:
            client = ChainClient.connect(node.http_url, poll_interval_s=0.01)
            deployment = deploy_suite(
                client, OPERATOR, SuiteParams(operator_credit_code=dev_credit_code("operator"))
            )
            manifest = tmp / "deployment.json"
            deployment.write(manifest)
            net = Net(client, Suite.bind(client, deployment), node.http_url, manifest, [])
            warehouse = _admit(net, "warehouse", Role.WAREHOUSE)
            for i in range(ORACLES):
                key = _admit(net, f"oracle-{i}", Role.ORACLE)
                client.transact(net.suite.oracle.functions.addSigner(key.address), OPERATOR)
                net.oracle_keys.append(key)
            quorum = net.suite.oracle.functions.quorum().call()
            names = device_names(LOT, devices)
            lot = _register_lot(net, warehouse, LOT, names)
            alert_lots = []
            for k in range(alert_samples):
                name = f"IOT-ALERT-{k}-dev-0"
                alert_lots.append((name, _register_lot(net, warehouse, f"IOT-ALERT-{k}", [name])))

            accounts = Accounts(
                devices={n: dev_device_password(n) for n in [*names, *(n for n, _ in alert_lots)]},
                gateways={GATEWAY_USER: "bench-gateway", RAW_USER: "bench-raw"},
                oracles={f"oracle-{i}": f"bench-oracle-{i}" for i in range(ORACLES)},
            )
            broker = MosquittoInstance(tmp / "mosquitto", accounts)
            conf = broker.config.read_text(encoding="utf-8")
            broker.config.write_text(
                conf.replace("max_inflight_messages 100", f"max_inflight_messages {BROKER_INFLIGHT}"),
                encoding="utf-8",
            )
            with broker:
                clients = _device_clients(broker, names)
                try:
                    raw_rate = _raw(broker, clients, names, readings)
                    gw = broker.address(GATEWAY_USER)
                    settings = GatewaySettings(
                        broker_url=f"mqtt://{gw.username}:{gw.password}@{gw.host}:{gw.port}",
                        gateway_id="gw-bench",
                        data_dir=tmp / "gateway",
                        rpc_url=node.http_url,
                        manifest_path=manifest,
                    )
                    oracles: list[RunningOracle] = []
                    try:
                        for i in range(ORACLES):
                            oracles.append(start_oracle(_oracle_settings(net, broker, tmp, i)))
                        with running_gateway(settings) as (gateway, _address):
                            deadline = time.time() + 10
                            while not gateway.connected and time.time() < deadline:
                                time.sleep(0.05)
                            result = _throughput(net, clients, names, lot, gateway, oracles, readings, rate)
                            latencies = _alerts(net, broker, alert_lots)
                    finally:
                        for handle in oracles:
                            handle.stop()
                finally:
                    for c in clients.values():
                        c.disconnect()
                        c.loop_stop()

    return {
        "readings_per_s": result.pop("readings_per_s"),
        "mosquitto_raw_msgs_per_s": round(raw_rate, 1),
        "alert_latency_p95_ms": _p95(latencies),
        "gas_per_reading": result.pop("gas_per_reading"),
        "targets": dict(TARGETS),
        "alert_latency_ms": {
            "samples": len(latencies),
            "of": alert_samples,
            "median": round(statistics.median(latencies), 1) if latencies else None,
            "max": round(max(latencies), 1) if latencies else None,
        },
        "throughput": result,
        "workload": (
            f"{readings} signed readings (signed before timing) of one lot with {devices} devices, each "
            f"device on its own MQTT connection (password + ACL, Mosquitto max_inflight_messages "
            f"{BROKER_INFLIGHT}), published QoS 1 on a schedule of {rate:g}/s (the readings' timestamps), "
            f"through one gateway and {ORACLES} oracle nodes (quorum {quorum}, {ROUND_S} s rounds, "
            f"{SETTLE_S:g} s settle delay) to an embedded chain node; gateway, oracles and chain node are "
            f"threads of one Python process on {_cpus()} CPUs, Mosquitto its own process. Raw: the same "
            f"number of payloads from the same device connections to one bare paho subscriber, unpaced. "
            f"Alert latency: {alert_samples} fresh lots, one 50% weight-loss reading each, 0.35 s apart, "
            f"system otherwise idle; publish -> lotStatus ALERT."
        ),
    }


def _cpus() -> int:
    import os

    return os.cpu_count() or 1
