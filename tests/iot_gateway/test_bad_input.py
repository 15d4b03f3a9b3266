"""Every kind of bad reading is dropped and counted by reason, and the gateway keeps going."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from iot_gateway.gateway import Gateway
from iot_gateway.mosquitto import MosquittoInstance
from iot_gateway.simulator import dev_device_key
from iot_gateway.topics import telemetry_topic, verified_topic
from tests.iot_gateway.conftest import GATEWAY_USER, GHOST, ORACLE_USER, Chain, device_client, listen, signed

pytestmark = pytest.mark.xdist_group("iot_gateway")


def _publish(client, device: str, payload: bytes) -> None:  # type: ignore[no-untyped-def]
    client.publish(telemetry_topic(device), payload, qos=1).wait_for_publish(5)


def test_bad_readings_dropped_by_reason_gateway_keeps_running(
    chain: Chain, mosquitto: MosquittoInstance, make_gateway: Callable[..., Gateway]
) -> None:
    gateway = make_gateway(mosquitto.address(GATEWAY_USER))
    verified = listen(mosquitto.address(ORACLE_USER), "verified/#", client_id="oracle-bad-input")
    assert gateway.wait_until(lambda m: m["connected"])
    dev0, dev1 = chain.devices[0], chain.devices[1]
    c0 = device_client(mosquitto.address(dev0), dev0)
    ghost = device_client(mosquitto.address(GHOST), GHOST)

    good = signed(dev0, 1)
    _publish(c0, dev0, good)
    _publish(c0, dev0, signed(dev0, 2, key=dev_device_key("someone-else")))  # forged signature
    _publish(c0, dev0, good)  # replayed sequence number (the very same signed bytes)
    _publish(c0, dev0, signed(dev0, 1, temp_mc=4_100))  # seq not above the last accepted, new content
    _publish(c0, dev0, signed(dev0, 3, temp_mc=150_000))  # 150 °C: out of range
    _publish(c0, dev0, b'{"v": 1, "device": "x"')  # malformed
    _publish(c0, dev0, b"\xff\xfe not even utf-8")  # malformed
    _publish(c0, dev0, signed(dev1, 1))  # dev1's genuine reading on dev0's topic
    _publish(ghost, GHOST, signed(GHOST, 1))  # well signed, but no lot has this device
    _publish(c0, dev0, b"x" * 5000)  # larger than any reading
    bad_sig = json.loads(signed(dev0, 4))
    bad_sig["sig"] = "0x1234"
    _publish(c0, dev0, json.dumps(bad_sig).encode())
    after = signed(dev0, 5)
    _publish(c0, dev0, after)  # still working

    assert gateway.wait_until(lambda m: m["received"] == 12 and m["republished"] == 2), (
        gateway.metrics.as_dict()
    )
    snap = gateway.metrics.as_dict()
    assert snap["accepted"] == 2
    assert snap["dropped"] == {
        "bad_signature": 2,
        "replay": 2,
        "out_of_range": 1,
        "malformed": 2,
        "wrong_topic": 1,
        "unknown_device": 1,
        "too_large": 1,
    }
    assert snap["queue_depth"] == 0
    assert verified.wait_for(lambda v: len(v.readings()) == 2)
    assert verified.readings() == [good, after]  # the original bytes, in order
    assert {t for t, _ in verified.messages} == {verified_topic(chain.lot_id)}
    text = gateway.metrics.prometheus()
    assert 'scf_gateway_readings_dropped_total{gateway="gw-test",reason="replay"} 2' in text
    assert 'scf_gateway_readings_accepted_total{gateway="gw-test"} 2' in text
    for c in (c0, ghost):
        c.disconnect()
        c.loop_stop()
    verified.close()
