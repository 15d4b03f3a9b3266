"""The node's MQTT connection: paho VERSION2 callbacks that only hand messages to the node's loop.

The session is persistent (fixed client id, clean_session off) and QoS-1 deliveries are
acknowledged by the node only after it has committed what they carried, so neither a restart
of the node nor of the broker loses a verified reading. Deliveries are handed over in batches: the
paho thread appends to a deque and wakes the loop only when the loop is waiting, instead of
scheduling a callback on it per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from oracle.settings import BrokerAddress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One message from the broker; `ack` it once handled."""

    topic: str
    payload: bytes
    mid: int
    qos: int


class MqttLink:
    """A paho client whose deliveries the loop takes in batches (`next_batch`)."""

    def __init__(
        self,
        broker: BrokerAddress,
        client_id: str,
        subscriptions: Sequence[str],
        loop: asyncio.AbstractEventLoop,
        *,
        max_inflight: int = 1_000,
    ) -> None:
        self._broker = broker
        self._subscriptions = list(subscriptions)
        self._loop = loop
        self._inbox: deque[Delivery] = deque()
        self._arrived = asyncio.Event()
        self._armed = True  # the loop waits (or will look again) for deliveries: wake it
        self.connected = asyncio.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if broker.username:
            client.username_pw_set(broker.username, broker.password)
        client.reconnect_delay_set(min_delay=0.1, max_delay=5)
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1; paho queues it while disconnected."""
        self._client.publish(topic, payload, qos=1)

    async def next_batch(self, limit: int, cost: Callable[[Delivery], int] | None = None) -> list[Delivery]:
        """Deliveries costing up to `limit` in all (default cost 1; at least one), waiting for the first."""
        while True:
            self._arrived.clear()
            self._armed = True
            batch: list[Delivery] = []
            total = 0
            while self._inbox and total < limit:
                delivery = self._inbox.popleft()
                batch.append(delivery)
                total += cost(delivery) if cost is not None else 1
            if batch:
                return batch
            await self._arrived.wait()

    def ack(self, delivery: Delivery) -> None:
        if delivery.qos > 0:
            self._client.ack(delivery.mid, delivery.qos)

    # paho thread ----------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            logger.warning("broker refused the connection: %s", reason)
            return
        # Resubscribe on every connect: a broker that lost our session still sends to us.
        client.subscribe([(s, 1) for s in self._subscriptions])
        logger.info("connected to %s:%s", self._broker.host, self._broker.port)
        self._loop.call_soon_threadsafe(self.connected.set)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        logger.warning("disconnected from the broker: %s", reason)
        self._loop.call_soon_threadsafe(self.connected.clear)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.append(Delivery(message.topic, bytes(message.payload), message.mid, message.qos))
        if self._armed:
            self._armed = False
            try:
                self._loop.call_soon_threadsafe(self._arrived.set)
            except RuntimeError:  # the loop is closing: unacknowledged, the broker will redeliver
                pass
