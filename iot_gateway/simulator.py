"""Simulated sensor devices on a goods lot, with injectable anomalies (`scf devices simulate`).

Each device sends every measurement (temperature, humidity, weight, GPS, door, shock) as a signed
reading (`chain.readings`) to `devices/{name}/telemetry`, QoS 1, over its own MQTT connection.
Development devices get their signing key and broker password derived from their name
(`dev_device_key`, `dev_device_password`: anyone can derive them, dev only); real ones come from a
key file `{"name": "0x<private key>", ...}`.

Anomalies (`KIND[=VALUE][@SECONDS][#DEVICE]`: from SECONDS after the start, on device index DEVICE or
all): `weight_drop=15` (weight falls by 15 %), `door` (door open), `temp=35` (temperature jumps
to 35 °C), `offline` (stop publishing), `forged` (signed with a key that is not the device's),
`replay` (send an earlier reading again, same sequence number).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from paho.mqtt.enums import CallbackAPIVersion

from chain.identifiers import lot_id
from chain.readings import DEVICE_NAME, Measurements, Reading, device_id, sign
from iot_gateway.broker import BrokerAddress
from iot_gateway.errors import InvalidAnomaly
from iot_gateway.topics import telemetry_topic

logger = logging.getLogger(__name__)

ANOMALIES = ("weight_drop", "door", "temp", "offline", "forged", "replay")
_DEFAULTS = {"weight_drop": 15.0, "temp": 35.0}


def dev_device_key(name: str) -> LocalAccount:
    """The development signing key of device `name` (derivable by anyone: dev only)."""
    return Account.from_key(keccak(text=f"scfnet-device-key:{name}"))


def dev_device_password(name: str) -> str:
    """The development broker password of device `name` (derivable by anyone: dev only)."""
    return keccak(text=f"scfnet-device-password:{name}").hex()[:24]


def dev_lot_id(label: str) -> bytes:
    """A lot id from a label, as development tools register them."""
    return lot_id(label)


def device_names(lot_label: str, count: int) -> list[str]:
    """The names of the `count` simulated devices of lot `lot_label`."""
    names = [f"{lot_label}-dev-{i}" for i in range(count)]
    for name in names:
        if not DEVICE_NAME.fullmatch(name):
            raise ValueError(f"device name {name!r} is not 1-64 characters of [A-Za-z0-9._-]")
    return names


def load_keys(path: Path) -> dict[str, LocalAccount]:
    """Device keys from a JSON file `{"device name": "0x<private key>"}`."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {name: Account.from_key(key) for name, key in raw.items()}


@dataclass(frozen=True)
class Anomaly:
    """Something going wrong with the goods or a device, from `at_s` seconds after the start."""

    kind: str
    value: float | None = None
    at_s: float = 0.0
    device: int | None = None  # index into the devices; None: all of them

    @classmethod
    def parse(cls, spec: str) -> Anomaly:
        """Parse `KIND[=VALUE][@SECONDS][#DEVICE]`, e.g. `weight_drop=15@10#0`."""
        rest = spec.strip()
        device: int | None = None
        at_s = 0.0
        value: float | None = None
        try:
            if "#" in rest:
                rest, raw = rest.split("#", 1)
                device = int(raw)
            if "@" in rest:
                rest, raw = rest.split("@", 1)
                at_s = float(raw.removesuffix("s"))
            if "=" in rest:
                rest, raw = rest.split("=", 1)
                value = float(raw.removesuffix("%"))
        except ValueError as exc:
            raise InvalidAnomaly(spec, "numbers expected after =, @ and #") from exc
        kind = rest.replace("-", "_")
        if kind not in ANOMALIES:
            raise InvalidAnomaly(spec, f"kind must be one of {', '.join(ANOMALIES)}")
        return cls(kind, value if value is not None else _DEFAULTS.get(kind), at_s, device)

    def applies(self, index: int, elapsed_s: float) -> bool:
        return elapsed_s >= self.at_s and (self.device is None or self.device == index)


@dataclass
class SimDevice:
    """One device: its key, its sequence number, its baseline, and the readings it sent."""

    name: str
    key: LocalAccount
    index: int = 0
    seq: int = 0
    rng: random.Random = field(default_factory=random.Random)
    base_weight_g: int = 24_000_000
    base_temp_mc: int = 18_000
    lat_e7: int = 312_304_000
    lon_e7: int = 1_214_737_000
    sent: list[bytes] = field(default_factory=list)

    def reading(self, ts_ms: int, anomalies: Sequence[Anomaly] = (), elapsed_s: float = 0.0) -> bytes | None:
        """The next payload to publish (None while offline); advances the sequence number."""
        active = {a.kind: a for a in anomalies if a.applies(self.index, elapsed_s)}
        if "offline" in active:
            return None
        if "replay" in active and self.sent:
            return self.sent[max(0, len(self.sent) - 2)]
        weight = self.base_weight_g + self.rng.randint(-2_000, 2_000)
        if "weight_drop" in active:
            weight = int(weight * (1 - (active["weight_drop"].value or 15.0) / 100))
        temp = self.base_temp_mc + self.rng.randint(-300, 300)
        if "temp" in active:
            temp = int((active["temp"].value or 35.0) * 1000)
        m = Measurements(
            temp_mc=temp,
            humidity_pm=450 + self.rng.randint(-20, 20),
            weight_g=max(0, weight),
            lat_e7=self.lat_e7,
            lon_e7=self.lon_e7,
            door="open" if "door" in active else "closed",
            shock_mg=self.rng.randint(0, 40),
        )
        self.seq += 1
        signer = dev_device_key(f"forged:{self.name}") if "forged" in active else self.key
        payload = sign(Reading(self.name, self.seq, ts_ms, m), signer).to_json()
        self.sent.append(payload)
        if len(self.sent) > 16:
            del self.sent[:-16]
        return payload

    @property
    def device_id(self) -> bytes:
        return device_id(self.name)


def make_devices(
    lot_label: str, count: int, *, keys: Mapping[str, LocalAccount] | None = None, seed: int = 7
) -> list[SimDevice]:
    """`count` devices of lot `lot_label` (keys from `keys` when given, else development keys)."""
    if keys:
        names = sorted(keys)[:count] if count else sorted(keys)
    else:
        names = device_names(lot_label, count)
    return [
        SimDevice(name, (keys or {}).get(name) or dev_device_key(name), index=i, rng=random.Random(seed + i))
        for i, name in enumerate(names)
    ]


class Simulator:
    """Publish readings of `devices` at `rate_hz` each, one MQTT connection per device."""

    def __init__(
        self,
        devices: Sequence[SimDevice],
        broker: BrokerAddress,
        *,
        rate_hz: float = 1.0,
        anomalies: Sequence[Anomaly] = (),
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        self.devices = list(devices)
        self.broker = broker
        self.rate_hz = rate_hz
        self.anomalies = list(anomalies)
        self.passwords = passwords
        self.published = 0
        self._clients: list[mqtt.Client] = []
        self._acked = 0
        self._acked_lock = threading.Lock()
        self._connected: list[threading.Event] = []
        self._stop = threading.Event()

    def _client(self, device: SimDevice) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"scf-sim-{device.name}")
        if self.passwords is not None:
            client.username_pw_set(device.name, self.passwords.get(device.name, ""))
        elif self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        client.reconnect_delay_set(1, 10)
        client.on_publish = self._on_publish
        connected = threading.Event()
        client.on_connect = lambda _c, _u, _f, reason, _p: reason.is_failure or connected.set()
        self._connected.append(connected)
        client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        client.loop_start()
        return client

    def run(self, *, duration_s: float | None = None, count: int | None = None) -> int:
        """Publish until `duration_s` passes, `count` readings per device, or `stop()`; return how many."""
        self._connected = []
        self._clients = [self._client(d) for d in self.devices]
        self._await_connections()
        start = time.monotonic()
        period = 1.0 / self.rate_hz if self.rate_hz > 0 else 0.0
        tick = 0
        try:
            while not self._stop.is_set():
                elapsed = time.monotonic() - start
                if duration_s is not None and elapsed >= duration_s:
                    break
                if count is not None and tick >= count:
                    break
                now_ms = int(time.time() * 1000)
                for device, client in zip(self.devices, self._clients, strict=True):
                    payload = device.reading(now_ms, self.anomalies, elapsed)
                    if payload is not None:
                        client.publish(telemetry_topic(device.name), payload, qos=1)
                        self.published += 1
                tick += 1
                if period:
                    self._stop.wait(max(0.0, start + tick * period - time.monotonic()))
            self._drain()
        finally:
            for client in self._clients:
                client.disconnect()
                client.loop_stop()
        return self.published

    def _await_connections(self, timeout_s: float = 10.0) -> None:
        """Wait for the first CONNACK of every client before publishing.

        paho lets `publish` write to a socket whose CONNECT the loop thread has not sent yet; a
        broker then reads a PUBLISH as the first packet and drops the connection. Later
        disconnects are fine: paho queues QoS 1 messages and resends them after reconnecting.
        """
        deadline = time.monotonic() + timeout_s
        for connected in self._connected:
            if not connected.wait(max(0.0, deadline - time.monotonic())):
                logger.warning("a device is not connected after %.0f s; publishing anyway", timeout_s)
                return

    def _on_publish(
        self, _client: mqtt.Client, _userdata: object, _mid: int, _reason: object, _props: object
    ) -> None:
        with self._acked_lock:
            self._acked += 1

    @property
    def acknowledged(self) -> int:
        """How many published readings the broker has acknowledged (paho resends the others)."""
        with self._acked_lock:
            return self._acked

    def _drain(self, timeout_s: float = 15.0) -> None:
        """Wait for the broker to acknowledge what was published."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.acknowledged >= self.published:
                return
            time.sleep(0.02)
        logger.warning("%d readings not acknowledged by the broker", self.published - self.acknowledged)

    def stop(self) -> None:
        self._stop.set()
