"""Mosquitto with the generated password file and ACL: who may publish and read what."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iot_gateway.mosquitto import MosquittoInstance, acl_text
from iot_gateway.topics import telemetry_topic
from tests.iot_gateway.conftest import GATEWAY_USER, ORACLE_USER, Chain, device_client, listen, signed

pytestmark = pytest.mark.xdist_group("iot_gateway")


def _connect_reason(mosquitto: MosquittoInstance, user: str | None, password: str | None) -> Any:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{user}")
    if user is not None:
        client.username_pw_set(user, password)
    answered = threading.Event()
    result: list[Any] = []

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        result.append(reason)
        answered.set()

    client.on_connect = on_connect
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    answered.wait(5)
    client.disconnect()
    client.loop_stop()
    return result[0]


def test_device_cannot_publish_on_another_devices_topic(chain: Chain, mosquitto: MosquittoInstance) -> None:
    dev0, dev1 = chain.devices[0], chain.devices[1]
    telemetry = listen(mosquitto.address(GATEWAY_USER), "devices/#", client_id="acl-gateway-view")
    c0 = device_client(mosquitto.address(dev0), dev0)
    c0.publish(telemetry_topic(dev1), signed(dev1, 1), qos=1).wait_for_publish(
        5
    )  # denied: dropped by the broker
    c0.publish("verified/forged/x", b"{}", qos=1).wait_for_publish(5)  # devices never write verified/
    own = signed(dev0, 1)
    c0.publish(telemetry_topic(dev0), own, qos=1).wait_for_publish(5)
    assert telemetry.wait_for(lambda t: len(t.messages) >= 1)
    c0.disconnect()
    c0.loop_stop()
    assert not telemetry.wait_for(lambda t: len(t.messages) > 1, timeout_s=0.5)
    assert telemetry.messages == [(telemetry_topic(dev0), own)]
    telemetry.close()


def test_device_cannot_read_telemetry_or_verified(chain: Chain, mosquitto: MosquittoInstance) -> None:
    dev0, dev1 = chain.devices[0], chain.devices[1]
    spy = listen(mosquitto.address(dev1), "#", client_id="acl-device-spy")
    verified = listen(mosquitto.address(ORACLE_USER), "verified/#", client_id="acl-oracle")
    c0 = device_client(mosquitto.address(dev0), dev0)
    c0.publish(telemetry_topic(dev0), signed(dev0, 1), qos=1).wait_for_publish(5)
    c0.disconnect()
    c0.loop_stop()
    assert not spy.wait_for(lambda s: bool(s.messages), timeout_s=0.5)
    assert verified.messages == []
    spy.close()
    verified.close()


def test_wrong_password_and_anonymous_are_refused(chain: Chain, mosquitto: MosquittoInstance) -> None:
    assert _connect_reason(mosquitto, chain.devices[0], "not-the-password").is_failure
    assert _connect_reason(mosquitto, None, None).is_failure
    assert not _connect_reason(mosquitto, ORACLE_USER, "or-secret").is_failure


def test_acl_grants_each_device_only_its_own_topic(chain: Chain, mosquitto: MosquittoInstance) -> None:
    text = acl_text(mosquitto.accounts)
    for name in chain.devices:
        block = text.split(f"user {name}\n", 1)[1].split("\n\n", 1)[0]
        assert block == f"topic write devices/{name}/telemetry"
    assert "pattern" not in text  # no wildcard grants that would apply to every user
