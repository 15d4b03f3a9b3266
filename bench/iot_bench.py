"""IoT path end to end: devices -> Mosquitto (password + ACL) -> gateway -> 3 oracle nodes -> chain.

Everything runs on this machine, each part as the process it is in production: the embedded chain
node (`python -m node`), the gateway (`python -m iot_gateway`), 3 oracle nodes (`scf oracle run`,
quorum 2) and Mosquitto; this process deploys, plays the devices (one MQTT connection each) and
watches the chain, the gateway's `/status` and the nodes' `/status`.

- `mosquitto_raw_msgs_per_s`: the same kind of signed payloads (signed separately) published by the
  same device connections through the same broker to one bare paho subscriber (QoS 1, auto ack), before
  the gateway has ever connected: the broker's ceiling in this run.
- `readings_per_s`: `readings` readings of one lot with `devices` devices, signed beforehand with the
  timestamps of a publishing schedule at `rate` per second (the oracle drops readings of rounds it
  has sealed, so a reading's timestamp must be about when it is published), published on that
  schedule; the clock runs from the first publish until the ReportAccepted event that completes the
  readings covered (the sum of the reports' readingCount) is seen. Covered readings / that time.
  A sustained rate needs a long run (default `DEFAULT_READINGS`, 12 s of publishing at 2,500/s): the
  last round's readings are anchored only after that round has ended (`ROUND_S`), settled
  (`SETTLE_S`: no device sends past it, so the timer seals it) and gathered a quorum, a tail of
  about 2 s after the last publish that a run of a few seconds would mostly measure. The tail stays
  inside the clock.
- `alert_latency_p95_ms`: afterwards, with the system otherwise idle, one anomalous reading (weight
  50 % below the registered quantity) per fresh lot, published 0.35 s apart; publish -> `lotStatus`
  ALERT on chain (polled every 20 ms).
- `gas_per_reading`: gasUsed of the throughput lot's ReportAccepted transactions / readings covered.
"""

from __future__ import annotations

import logging
import math
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests
from eth_account.signers.local import LocalAccount
from paho.mqtt.enums import CallbackAPIVersion

from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_account, dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.readings import Measurements, Reading, device_id, sign
from chain.roles import Role
from chain.suite import Suite
from iot_gateway.broker import free_port, wait_for_port
from iot_gateway.mosquitto import Accounts, MosquittoInstance, mosquitto_available
from iot_gateway.simulator import dev_device_key, dev_device_password, dev_lot_id, device_names
from iot_gateway.topics import telemetry_topic
from oracle.rules import Status

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
DEFAULT_RATE = 2_500.0
DEFAULT_READINGS = 30_000
DEVICE_KEEPALIVE_S = 120
START_TIMEOUT_S = 60.0


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
    """One connected MQTT client per device, without a paho thread each: `_serve_devices` drives them all.

    With a network thread per client every publish wakes that thread to write it and every PUBACK
    is read there: on 2 shared cores that cost the devices ~3x the CPU of writing from the calling
    thread (paho writes at once when no loop thread runs) and reading all sockets from one select.
    Each device still has its own connection, credentials and QoS-1 session.
    """
    clients: dict[str, mqtt.Client] = {}
    for name in names:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{name}")
        client.username_pw_set(name, dev_device_password(name))
        client.max_inflight_messages_set(BROKER_INFLIGHT)
        client.connect(broker.host, broker.port, keepalive=DEVICE_KEEPALIVE_S)
        deadline = time.monotonic() + 10
        while not client.is_connected():
            if time.monotonic() > deadline:
                raise RuntimeError(f"device {name} could not connect")
            client.loop(0.05)
        clients[name] = client
    return clients


def _serve_devices(clients: dict[str, mqtt.Client], timeout_s: float) -> None:
    """Read what the broker sent the devices (PUBACKs), finish pending writes; wait up to `timeout_s`."""
    socks = {c.socket(): c for c in clients.values()}
    if None in socks:
        raise RuntimeError("a device lost its connection to the broker")
    writable = [s for s, c in socks.items() if c.want_write()]
    readable, ready, _ = select.select(list(socks), writable, [], max(0.0, timeout_s))
    for sock in readable:
        socks[sock].loop_read()
    for sock in ready:
        socks[sock].loop_write()
    for client in clients.values():
        client.loop_misc()


def _pause_devices(clients: dict[str, mqtt.Client], until: float) -> None:
    """Serve the devices' connections until `time.time()` reaches `until`."""
    while (left := until - time.time()) > 0:
        _serve_devices(clients, left)


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
        if i % 20 == 0:
            if rate:
                _pause_devices(clients, start + i / rate)
            else:
                _serve_devices(clients, 0.0)
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
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            _serve_devices(clients, 0.01)
        elapsed = time.perf_counter() - start
    finally:
        sub.disconnect()
        sub.loop_stop()
    if received[0] < count:
        logger.warning("raw subscriber got %d of %d", received[0], count)
    return received[0] / elapsed


@dataclass
class Service:
    """A process this benchmark started, with the HTTP endpoint it reports on."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def status(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/status", timeout=30).json())

    def cpu_s(self) -> float | None:
        """CPU seconds the process has used so far (Linux /proc; None elsewhere)."""
        return _cpu_s(self.process.pid)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")


def _cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@contextmanager
def _service(name: str, argv: list[str], env: dict[str, str], log: Path, url: str) -> Iterator[Service]:
    """Start a process (output to `log`); SIGTERM it, then kill it if it lingers, on exit."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield Service(name, process, log, url)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_until(service: Service, ready: Any, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        service.check_alive()
        try:
            if ready():
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{service.name} did not become {what} within {START_TIMEOUT_S:.0f} s")


def _chain_node(tmp: Path, stack: ExitStack) -> Service:
    port = free_port()
    env = {
        "SCF_NODE_HOST": "127.0.0.1",
        "SCF_NODE_PORT": str(port),
        "SCF_NODE_DATA_DIR": str(tmp / "chain"),
        "SCF_NODE_DEV": "true",
        "SCF_NODE_OPERATOR_ADDRESS": OPERATOR.address,
        "SCF_NODE_REGISTRY_ADDRESS": predicted_registry_address(OPERATOR.address),
    }
    url = f"http://127.0.0.1:{port}"
    node = stack.enter_context(
        _service("chain node", [sys.executable, "-m", "node"], env, tmp / "chain.log", url)
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not wait_for_port("127.0.0.1", port, 0.5):
        node.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("the chain node did not start listening")
    return node


def _oracle(net: Net, broker: MosquittoInstance, tmp: Path, index: int, stack: ExitStack) -> Service:
    address = broker.address(f"oracle-{index}")
    port = free_port()
    argv = [
        str(Path(sys.executable).with_name("scf")),
        "oracle",
        "run",
        f"--node-index={index}",
        f"--broker=mqtt://{address.username}:{address.password}@{address.host}:{address.port}",
        f"--rpc={net.rpc_url}",
        f"--manifest={net.manifest}",
        f"--round-length={ROUND_S}",
        f"--data-dir={tmp / f'oracle-{index}'}",
        f"--http-port={port}",
    ]
    env = {
        "SCF_ORACLE_KEY": net.oracle_keys[index].key.to_0x_hex(),
        "SCF_ORACLE_SETTLE_DELAY_S": str(SETTLE_S),
        "SCF_ORACLE_OFFLINE_TIMEOUT_S": "3600",
        "SCF_ORACLE_TAKEOVER_S": "1.0",
        "SCF_ORACLE_CHAIN_POLL_S": "0.1",
    }
    log = tmp / f"oracle-{index}.log"
    return stack.enter_context(_service(f"oracle {index}", argv, env, log, f"http://127.0.0.1:{port}"))


def _oracle_ready(oracle: Service) -> bool:
    response = requests.get(f"{oracle.url}/ready", timeout=2)
    if response.status_code == 404:  # a node without /ready: serving status, give MQTT a moment
        oracle.status()
        time.sleep(1.0)
        return True
    return response.status_code == 200


def _gateway(net: Net, broker: MosquittoInstance, tmp: Path, stack: ExitStack) -> Service:
    gw = broker.address(GATEWAY_USER)
    port = free_port()
    env = {
        "SCF_GATEWAY_BROKER_URL": f"mqtt://{gw.username}:{gw.password}@{gw.host}:{gw.port}",
        "SCF_GATEWAY_GATEWAY_ID": "gw-bench",
        "SCF_GATEWAY_DATA_DIR": str(tmp / "gateway"),
        "SCF_GATEWAY_RPC_URL": net.rpc_url,
        "SCF_GATEWAY_MANIFEST_PATH": str(net.manifest),
        "SCF_GATEWAY_METRICS_PORT": str(port),
    }
    argv = [sys.executable, "-m", "iot_gateway"]
    return stack.enter_context(
        _service("gateway", argv, env, tmp / "gateway.log", f"http://127.0.0.1:{port}")
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
    gateway: Service,
    oracles: list[Service],
    count: int,
    rate: float,
    others: list[Service],
    broker_pid: int | None,
) -> dict[str, Any]:
    from_block = net.client.w3.eth.block_number
    probe = time.perf_counter()
    _presign(names, 50, time.time() * 1000, rate)
    per_reading_s = (time.perf_counter() - probe) / 50
    t0 = time.time() + count * per_reading_s * 1.5 + 1.0  # the schedule starts once all are signed
    sign_start = time.perf_counter()
    payloads = _presign(names, count, t0 * 1000, rate)
    sign_s = time.perf_counter() - sign_start
    if time.time() > t0:
        logger.warning(
            "signing overran the schedule by %.1f s: the first readings go out late", time.time() - t0
        )
    while time.time() < t0:
        time.sleep(0.005)
    services = [gateway, *oracles, *others]
    cpu_before = {svc.name: svc.cpu_s() for svc in services}
    cpu_before["devices and watcher (this process)"] = _cpu_s(os.getpid())
    if broker_pid is not None:
        cpu_before["mosquitto"] = _cpu_s(broker_pid)
    start = time.time()
    marks: dict[str, float] = {}
    infos = _publish_paced(clients, payloads, t0, rate)
    marks["published_s"] = time.time() - start
    covered = 0
    last_anchor = start
    last_progress = time.time()
    seen: set[str] = set()
    logs: list[Any] = []
    polled = 0.0
    scanned_head = -1
    while covered < count and time.time() - last_progress < 25 + SETTLE_S:
        now = time.time()
        if "broker_acked_s" not in marks and all(i.is_published() for i in infos):
            marks["broker_acked_s"] = now - start
        if now - polled >= 0.25 and "oracles_stored_s" not in marks:  # the services' counters, not too often
            polled = now
            try:
                g = gateway.status()
                if "gateway_accepted_s" not in marks and g["accepted"] >= count:
                    marks["gateway_accepted_s"] = now - start
                if "gateway_republished_s" not in marks and g["republished"] >= count:
                    marks["gateway_republished_s"] = now - start
                stored = [o.status()["metrics"].get("readings_accepted", 0) for o in oracles]
                if min(stored) >= count:
                    marks["oracles_stored_s"] = time.time() - start
            except requests.RequestException:
                pass  # a service too busy to answer: its mark comes later
        head = net.client.w3.eth.block_number
        for log in _reports(net, lot, from_block) if head != scanned_head else []:
            key = log["transactionHash"].hex()
            if key not in seen:
                seen.add(key)
                logs.append(log)
                covered += int(log["args"]["readingCount"])
                last_anchor = now
                last_progress = now
        scanned_head = head
        if covered < count:
            _serve_devices(clients, 0.02)
    marks["last_anchor_s"] = last_anchor - start
    elapsed = last_anchor - start
    cpu_after = {svc.name: svc.cpu_s() for svc in services}
    cpu_after["devices and watcher (this process)"] = _cpu_s(os.getpid())
    if broker_pid is not None:
        cpu_after["mosquitto"] = _cpu_s(broker_pid)
    cpu = {
        name: round(cpu_after[name] - before, 2)  # type: ignore[operator]
        for name, before in cpu_before.items()
        if before is not None and cpu_after.get(name) is not None
    }
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
        "cpu_s": cpu,
        "cpu_ms_per_reading": {k: round(v * 1000 / covered, 3) for k, v in cpu.items()} if covered else {},
        "gateway": gateway.status(),
        "oracles": [o.status()["metrics"] for o in oracles],
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
                _serve_devices(clients, 0.02)
            m = Measurements(temp_mc=-18_000, humidity_pm=450, weight_g=FULL_WEIGHT_G // 2)
            payload = sign(Reading(name, 1, int(time.time() * 1000), m), dev_device_key(name)).to_json()
            pending[lot] = time.time()
            clients[name].publish(telemetry_topic(name), payload, qos=1)
        deadline = time.time() + 30
        while pending and time.time() < deadline:
            _poll_alerts(status, pending, latencies)
            _serve_devices(clients, 0.02)
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


def run(
    readings: int, devices: int, *, rate: float = DEFAULT_RATE, alert_samples: int = ALERT_SAMPLES
) -> dict[str, Any]:
    """Run the whole IoT benchmark on fresh infrastructure and return the figures."""
    if not 1 <= devices <= MAX_DEVICES:
        raise ValueError(f"a lot has 1 to {MAX_DEVICES} devices (WarehouseReceipts.MAX_DEVICES)")
    if not mosquitto_available():
        raise RuntimeError("Mosquitto is not installed (Debian packages mosquitto, mosquitto-clients)")
    with tempfile.TemporaryDirectory(prefix="scf-bench-iot-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        node = _chain_node(tmp, stack)
        client = ChainClient.connect(node.url, poll_interval_s=0.01)
        deployment = deploy_suite(
            client, OPERATOR, SuiteParams(operator_credit_code=dev_credit_code("operator"))
        )
        manifest = tmp / "deployment.json"
        deployment.write(manifest)
        net = Net(client, Suite.bind(client, deployment), node.url, manifest, [])
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
        stack.enter_context(broker)
        clients = _device_clients(broker, names)
        try:
            raw_rate = _raw(broker, clients, names, readings)
            oracles = [_oracle(net, broker, tmp, i, stack) for i in range(ORACLES)]
            gateway = _gateway(net, broker, tmp, stack)
            for oracle in oracles:
                _wait_until(oracle, lambda o=oracle: _oracle_ready(o), "ready")
            _wait_until(gateway, lambda: gateway.status()["connected"], "connected")
            result = _throughput(
                net, clients, names, lot, gateway, oracles, readings, rate, [node], broker.pid
            )
            latencies = _alerts(net, broker, alert_lots)
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
            f"{SETTLE_S:g} s settle delay; the gateway republishes in batches per lot, each node checks "
            f"every signature itself) to an embedded chain node; readings/s = readings covered by anchored "
            f"roots / (first publish -> last ReportAccepted seen); chain node, gateway, each oracle node "
            f"and Mosquitto are processes of their own, on {_cpus()} CPUs shared with this one (devices, "
            f"driven from one thread without a paho thread each, and the watcher). Raw: the same number "
            f"of payloads from the same device connections to one bare paho "
            f"subscriber, unpaced. Alert latency: {alert_samples} fresh lots, one 50% weight-loss reading "
            f"each, 0.35 s apart, system otherwise idle; publish -> lotStatus ALERT."
        ),
    }


def _cpus() -> int:
    import os

    return os.cpu_count() or 1
