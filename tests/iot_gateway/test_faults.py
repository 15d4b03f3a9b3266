"""Faults: the broker restarts mid-stream, the gateway crashes or is restarted with a full queue."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from chain.readings import parse
from iot_gateway.gateway import Gateway
from iot_gateway.mosquitto import MosquittoInstance
from iot_gateway.simulator import Simulator, dev_device_password, make_devices
from tests.iot_gateway.conftest import GATEWAY_USER, LOT, ORACLE_USER, Chain, listen

pytestmark = pytest.mark.xdist_group("iot_gateway")


def test_broker_restart_mid_stream_loses_nothing_counts_nothing_twice(
    chain: Chain, mosquitto: MosquittoInstance, make_gateway: Callable[..., Gateway]
) -> None:
    gateway = make_gateway(mosquitto.address(GATEWAY_USER))
    verified = listen(
        mosquitto.address(ORACLE_USER), "verified/#", client_id="oracle-restart", persistent=True
    )
    devices = make_devices(LOT, 3)
    passwords = {d.name: dev_device_password(d.name) for d in devices}
    sim = Simulator(devices, mosquitto.address(GATEWAY_USER), rate_hz=40, passwords=passwords)
    per_device = 120  # 3 s of readings at 40/s per device
    runner = threading.Thread(target=sim.run, kwargs={"count": per_device})
    runner.start()
    assert gateway.wait_until(lambda m: m["accepted"] >= 60)
    mosquitto.restart()  # mid-stream: devices, gateway and oracle all lose the broker
    runner.join(timeout=60)
    total = per_device * len(devices)
    assert sim.published == total
    assert sim.acknowledged == total  # the devices' own QoS 1 resends got everything to the broker
    assert gateway.wait_until(lambda m: m["accepted"] == total and m["queue_depth"] == 0, timeout_s=30), (
        gateway.metrics.as_dict()
    )
    assert verified.wait_for(lambda v: len(set(v.readings())) == total, timeout_s=30)
    snap = gateway.metrics.as_dict()
    assert snap["accepted"] == total  # none accepted twice, whatever the broker redelivered
    assert snap["republished"] >= total
    assert snap["dropped_total"] == snap["dropped"]["replay"]  # only redeliveries were dropped
    verified.close()


class _HeldBack(Gateway):
    """A gateway whose downstream never acknowledges: everything it accepts stays queued."""

    def _publish_pending(self) -> None:
        return None


def test_gateway_restart_resumes_its_queue(
    chain: Chain, mosquitto: MosquittoInstance, make_gateway: Callable[..., Gateway]
) -> None:
    held = make_gateway(mosquitto.address(GATEWAY_USER), cls=_HeldBack)
    verified = listen(mosquitto.address(ORACLE_USER), "verified/#", client_id="oracle-resume")
    devices = make_devices(LOT, 3)
    passwords = {d.name: dev_device_password(d.name) for d in devices}
    Simulator(devices, mosquitto.address(GATEWAY_USER), rate_hz=0, passwords=passwords).run(count=20)
    assert held.wait_until(lambda m: m["accepted"] == 60 and m["queue_depth"] == 60, timeout_s=30), (
        held.metrics.as_dict()
    )
    held.stop()
    assert verified.readings() == []

    resumed = make_gateway(mosquitto.address(GATEWAY_USER))
    assert resumed.wait_until(lambda m: m["republished"] == 60 and m["queue_depth"] == 0, timeout_s=30), (
        resumed.metrics.as_dict()
    )
    assert verified.wait_for(lambda v: len(v.readings()) == 60, timeout_s=30)
    assert len(set(verified.readings())) == 60
    assert len(verified.payloads()) < 60  # batched: fewer messages than readings
    assert resumed.metrics.as_dict()["accepted"] == 0  # nothing was checked twice
    verified.close()


def test_gateway_crash_mid_stream_loses_nothing(
    chain: Chain, mosquitto: MosquittoInstance, make_gateway: Callable[..., Gateway]
) -> None:
    first = make_gateway(mosquitto.address(GATEWAY_USER))
    verified = listen(mosquitto.address(ORACLE_USER), "verified/#", client_id="oracle-crash", persistent=True)
    status = listen(mosquitto.address(ORACLE_USER), "gateway/+/status", client_id="oracle-status")
    devices = make_devices(LOT, 3)
    passwords = {d.name: dev_device_password(d.name) for d in devices}
    sim = Simulator(devices, mosquitto.address(GATEWAY_USER), rate_hz=40, passwords=passwords)
    runner = threading.Thread(target=sim.run, kwargs={"count": 100})
    runner.start()
    assert first.wait_until(lambda m: m["accepted"] >= 50)
    first.kill()  # no goodbye: the broker publishes the last will and keeps the session's telemetry
    assert status.wait_for(lambda s: s.payloads()[-1:] == [b"offline"])
    first_accepted = first.metrics.as_dict()["accepted"]
    second = make_gateway(mosquitto.address(GATEWAY_USER))
    runner.join(timeout=60)
    total = 300
    assert verified.wait_for(lambda v: len(set(v.readings())) == total, timeout_s=30), len(
        set(verified.readings())
    )
    assert second.wait_until(lambda m: m["queue_depth"] == 0)
    assert first_accepted + second.metrics.as_dict()["accepted"] == total  # each reading accepted once
    assert status.wait_for(lambda s: s.payloads()[-1:] == [b"online"])
    verified.close()
    status.close()


class _NoPubacks(Gateway):
    """A gateway that crashes after sending its batches but before their PUBACKs are handled."""

    def _on_publish(self, *_args: object) -> None:
        return None


def test_gateway_restart_mid_batch_sends_the_batch_again_counts_nothing_twice(
    chain: Chain, mosquitto: MosquittoInstance, make_gateway: Callable[..., Gateway]
) -> None:
    first = make_gateway(mosquitto.address(GATEWAY_USER), cls=_NoPubacks)
    verified = listen(mosquitto.address(ORACLE_USER), "verified/#", client_id="oracle-mid-batch")
    devices = make_devices(LOT, 3)
    passwords = {d.name: dev_device_password(d.name) for d in devices}
    Simulator(devices, mosquitto.address(GATEWAY_USER), rate_hz=0, passwords=passwords).run(count=20)
    assert verified.wait_for(lambda v: len(v.readings()) == 60, timeout_s=30)  # sent, never marked done
    assert first.wait_until(lambda m: m["accepted"] == 60 and m["queue_depth"] == 60)
    assert first.metrics.as_dict()["republished"] == 0
    first.kill()

    second = make_gateway(mosquitto.address(GATEWAY_USER))
    assert second.wait_until(lambda m: m["republished"] == 60 and m["queue_depth"] == 0, timeout_s=30), (
        second.metrics.as_dict()
    )
    assert verified.wait_for(lambda v: len(v.readings()) == 120, timeout_s=30)  # the batch, again
    readings = [parse(p) for p in verified.readings()]
    assert len({(r.device, r.seq) for r in readings}) == 60  # what a consumer keeps: each reading once
    assert verified.readings()[:60] == verified.readings()[60:]  # the very same bytes
    assert second.metrics.as_dict()["accepted"] == 0  # nothing checked or queued twice
    verified.close()
