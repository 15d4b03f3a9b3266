"""The gateway: telemetry in, checks, disk queue, verified readings out.

Threads: paho's network loop runs the callbacks, which only hand messages, acknowledgements and
connection changes to the gateway's worker; the worker does every check, owns the SQLite store and
publishes. Telemetry is acknowledged to the broker (manual ack) only once its reading is committed
to the queue or dropped, and the gateway's session is persistent (clean_session False), so a
gateway crash loses nothing: the broker redelivers, and the per-device sequence windows
(`iot_gateway.replay`) turn anything already accepted into a `replay` drop while still taking
readings that MQTT delivered out of order. Republication is at least once: consumers dedupe by (device, seq).

Verified readings go out in batches: whatever is queued for a lot when the worker comes round (at
most `publish_batch_max`) is one QoS-1 message on `verified/{lot}` carrying the readings' exact
bytes (`chain.readings.encode_batch`), so the broker and each oracle node handle one message and one
acknowledgement per batch instead of per reading. A batch's rows leave the queue when its PUBACK
arrives; until then paho resends it after a reconnect, and a restarted gateway sends every row
still queued again. Nothing waits to fill a batch beyond `round_min_s` (5 ms) between worker rounds:
a lone reading goes out alone, at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from chain.errors import ChainUnavailable
from chain.keccak import use_native_keccak
from chain.readings import InvalidReading, Reading, check, encode_batch, parse
from iot_gateway.broker import BrokerAddress, EmbeddedBroker
from iot_gateway.metrics import GatewayMetrics, MetricsServer
from iot_gateway.registry import DeviceKeys
from iot_gateway.replay import SeqWindow
from iot_gateway.settings import GatewaySettings
from iot_gateway.store import GatewayStore, Queued
from iot_gateway.topics import TELEMETRY_FILTER, device_of_telemetry, status_topic, verified_topic

logger = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"


@dataclass(frozen=True)
class _Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int  # which connection delivered it: an ack is only valid on that connection


@dataclass(frozen=True)
class _Published:
    mid: int


class Gateway:
    """One gateway process: `start()`, `stop()`, `metrics`."""

    def __init__(self, settings: GatewaySettings, broker: BrokerAddress, keys: DeviceKeys) -> None:
        self.settings = settings
        self.broker = broker
        self.keys = keys
        self.metrics = GatewayMetrics(settings.gateway_id)
        self.metrics_port: int | None = None  # where `running_gateway` serves the metrics, if it does
        # The paho thread appends, the worker pops: deque operations are atomic, no lock needed.
        self._events: deque[_Inbound | _Published] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._generation = 0
        self._connected = False
        self._store: GatewayStore | None = None
        self._worker: threading.Thread | None = None
        self._in_flight: dict[int, list[int]] = {}  # paho mid -> the outbox row ids its batch carries
        self._last_sent_id = 0
        self._client = self._make_client()

    # ------------------------------------------------------------ lifecycle

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"scf-gateway-{self.settings.gateway_id}",
            clean_session=False,  # the broker keeps our subscription and queues telemetry while we are away
            manual_ack=True,
        )
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        client.reconnect_delay_set(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        client.max_inflight_messages_set(self.settings.max_in_flight)
        client.will_set(status_topic(self.settings.gateway_id), OFFLINE, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def start(self) -> Gateway:
        """Open the queue, connect (retrying in the background until the broker is there) and work."""
        self._store = GatewayStore(
            self.settings.data_dir / f"{self.settings.gateway_id}.sqlite3", window=self.settings.replay_window
        )
        self.metrics.set_queue_depth(self._store.depth())
        self._worker = threading.Thread(target=self._work, name="scf-gateway-worker", daemon=True)
        self._worker.start()
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=self.settings.keepalive_s)
        self._client.loop_start()
        logger.info("gateway %s connecting to %s", self.settings.gateway_id, self.broker.url)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Say "offline", disconnect and stop; whatever is still queued stays on disk for the next start."""
        if self._connected:
            info = self._client.publish(status_topic(self.settings.gateway_id), OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=timeout_s)
            except (RuntimeError, ValueError):
                pass  # the connection went away meanwhile: the last will says the same
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=timeout_s + 5)
        self._client.disconnect()
        self._client.loop_stop()
        if self._store is not None:
            self._store.close()
            self._store = None

    def kill(self) -> None:
        """Stop without a goodbye, as a crash would (tests): the broker publishes the last will."""
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=10)
        self._client.loop_stop()
        sock = self._client.socket()
        if sock is not None:
            sock.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._connected

    # ------------------------------------------------------------ paho callbacks (network thread)

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            logger.warning("broker refused the gateway: %s", reason)
            return
        self._generation += 1
        self._connected = True
        self.metrics.set_connected(True)
        # Subscribing again on every connect: a broker that lost its state (restart without
        # persistence) would otherwise keep us connected but deaf.
        client.subscribe(TELEMETRY_FILTER, qos=1)
        client.publish(status_topic(self.settings.gateway_id), ONLINE, qos=1, retain=True)
        logger.info("gateway %s connected to %s", self.settings.gateway_id, self.broker.url)
        self._wake.set()

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self._connected = False
        self.metrics.set_connected(False)
        if not self._stopping.is_set():
            logger.warning("gateway %s lost the broker (%s); reconnecting", self.settings.gateway_id, reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._events.append(
            _Inbound(message.topic, message.payload, message.mid, message.qos, self._generation)
        )
        self._wake.set()

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _props: Any) -> None:
        self._events.append(_Published(mid))
        self._wake.set()

    # ------------------------------------------------------------ worker

    def _work(self) -> None:
        held: deque[_Inbound] = deque()  # readings waiting for the chain to answer
        backoff_s = 0.0
        last_round = 0.0
        while not self._stopping.is_set():
            self._wake.wait(timeout=backoff_s or 0.5)
            # At most one round per `round_min_s`: readings arriving meanwhile share one commit, one
            # batch out and one acknowledgement per node, instead of a round per message.
            pause = last_round + self.settings.round_min_s - time.monotonic()
            if pause > 0 and not self._stopping.is_set():
                time.sleep(pause)
            last_round = time.monotonic()
            self._wake.clear()
            try:
                held.extend(self._drain_events())
                if held:
                    backoff_s = self._process(held, backoff_s)
                self._publish_pending()
            except Exception:  # noqa: BLE001 - the worker must survive anything one batch does
                logger.exception("gateway worker failed a round; continuing")
                backoff_s = min(max(backoff_s * 2, 0.1), 5.0)

    def _drain_events(self) -> list[_Inbound]:
        assert self._store is not None
        inbound: list[_Inbound] = []
        acked: list[int] = []
        while True:
            try:
                event = self._events.popleft()
            except IndexError:
                break
            if isinstance(event, _Inbound):
                inbound.append(event)
            elif (rows := self._in_flight.pop(event.mid, None)) is not None:
                acked.extend(rows)
        if acked:
            self.metrics.add("republished", self._store.done(acked))
            self.metrics.set_queue_depth(self._store.depth())
        return inbound

    def _process(self, held: deque[_Inbound], backoff_s: float) -> float:
        """Check a batch of held readings, commit the accepted ones, ack all; the new backoff."""
        assert self._store is not None
        accepted: list[tuple[str, bytes, str, int]] = []
        handled: list[_Inbound] = []
        windows: dict[str, SeqWindow] = {}  # this batch's updates, committed with it
        chain_down = False
        while held and len(handled) < self.settings.batch_max:
            message = held[0]
            try:
                outcome = self._check(message, windows)
            except ChainUnavailable as exc:
                self.metrics.add("chain_errors")
                logger.warning("cannot look devices up (%s): holding %d readings", exc, len(held))
                chain_down = True
                break
            held.popleft()
            handled.append(message)
            if isinstance(outcome, str):
                self.metrics.dropped(outcome)
                logger.info("dropped a reading on %s: %s", message.topic, outcome)
                continue
            reading, lot_id, window = outcome
            windows[reading.device] = window
            accepted.append((verified_topic(lot_id), message.payload, reading.device, reading.seq))
        self._store.accept(accepted, windows)
        self.metrics.add("received", len(handled))
        self.metrics.add("accepted", len(accepted))
        if accepted:
            self.metrics.set_queue_depth(self._store.depth())
        for message in handled:
            if message.qos > 0 and message.generation == self._generation:
                self._client.ack(message.mid, message.qos)
        if held and not chain_down:
            self._wake.set()  # more than one batch waiting
        return min(max(backoff_s * 2, 0.2), 5.0) if chain_down else 0.0

    def _check(
        self, message: _Inbound, windows: dict[str, SeqWindow]
    ) -> tuple[Reading, bytes, SeqWindow] | str:
        """The reading, its lot and its device's new sequence window, or the reason to drop it."""
        assert self._store is not None
        try:
            reading = parse(message.payload)
        except InvalidReading as exc:
            return exc.reason
        if device_of_telemetry(message.topic) != reading.device:
            return "wrong_topic"
        binding = self.keys.get(reading.device)
        if binding is None:
            return "unknown_device"
        try:
            check(reading, binding.key)
        except InvalidReading as exc:
            return exc.reason
        window = windows.get(reading.device) or self._store.seq_window(reading.device)
        admitted = (
            SeqWindow.first(reading.seq) if window is None else window.admit(reading.seq, self._store.window)
        )
        if admitted is None:
            return "replay"
        return reading, binding.lot_id, admitted

    def _publish_pending(self) -> None:
        """Hand queued readings to paho in batches per topic, up to the in-flight limit (paho resends
        them after a reconnect)."""
        assert self._store is not None
        room = self.settings.max_in_flight - len(self._in_flight)
        if room <= 0 or not self._connected:
            return
        size = self.settings.publish_batch_max
        # The oldest rows, taken in id order for as long as they fit `room` batches, so that every row
        # up to the last one taken is sent (`_last_sent_id` is a plain high-water mark).
        open_: dict[str, list[Queued]] = {}
        chunks: list[list[Queued]] = []
        for item in self._store.pending(after_id=self._last_sent_id, limit=room * size):
            chunk = open_.get(item.topic)
            if chunk is None or len(chunk) >= size:
                if len(chunks) == room:
                    break
                chunk = open_[item.topic] = []
                chunks.append(chunk)
            chunk.append(item)
        for k, chunk in enumerate(chunks):
            info = self._client.publish(chunk[0].topic, encode_batch([i.payload for i in chunk]), qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                logger.warning(
                    "publish of %d queued readings refused (rc %s); retrying later", len(chunk), info.rc
                )
                # Rows of this and later batches go out next round (a sent row with a higher id may
                # go out twice: consumers dedupe, and the queue counts each row once).
                self._last_sent_id = min(c[0].id for c in chunks[k:]) - 1
                return
            self._in_flight[info.mid] = [i.id for i in chunk]
            self._last_sent_id = max(self._last_sent_id, chunk[-1].id)

    # ------------------------------------------------------------ for tests and operators

    def wait_until(self, predicate: Any, timeout_s: float = 10.0) -> bool:
        """Poll `predicate(metrics dict)` until it holds or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self.metrics.as_dict()):
                return True
            time.sleep(0.02)
        return bool(predicate(self.metrics.as_dict()))


@contextmanager
def running_gateway(settings: GatewaySettings) -> Iterator[tuple[Gateway, BrokerAddress]]:
    """A started gateway and the broker it uses: the configured one, or an embedded one started here."""
    with ExitStack() as stack:
        if settings.broker_url:
            address = BrokerAddress.parse(settings.broker_url)
        else:
            embedded = stack.enter_context(EmbeddedBroker(settings.embedded_host, settings.embedded_port))
            address = embedded.address
        password = settings.password.get_secret_value() if settings.password else None
        keys = DeviceKeys.from_chain(
            settings.rpc_url,
            settings.manifest_path,
            ttl_s=settings.device_cache_ttl_s,
            unknown_ttl_s=settings.unknown_device_ttl_s,
        )
        gateway = stack.enter_context(
            Gateway(settings, address.with_credentials(settings.username, password), keys)
        )
        if settings.metrics_port is not None:
            server = MetricsServer(gateway.metrics, settings.metrics_host, settings.metrics_port).start()
            stack.callback(server.stop)
            gateway.metrics_port = server.port
            logger.info("gateway metrics on http://%s:%s/metrics", settings.metrics_host, server.port)
        yield gateway, address


def run(settings: GatewaySettings) -> None:
    """Run a gateway (and an embedded broker when none is configured) until SIGTERM or Ctrl-C."""
    use_native_keccak()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with running_gateway(settings) as (_gateway, address):
        logger.info("gateway %s running on %s", settings.gateway_id, address.url)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
