"""The embedded broker (amqtt, in-process): the whole path on a machine without Mosquitto."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chain.readings import is_batch, parse
from iot_gateway.broker import EmbeddedBroker
from iot_gateway.gateway import Gateway, running_gateway
from iot_gateway.settings import GatewaySettings
from iot_gateway.simulator import Anomaly, Simulator, dev_device_key, dev_lot_id, make_devices
from iot_gateway.topics import verified_topic
from scripts.cli import app
from tests.iot_gateway.conftest import LOT, Chain, listen

pytestmark = pytest.mark.xdist_group("iot_gateway")


def test_embedded_broker_end_to_end_with_anomalies(
    chain: Chain, embedded_broker: EmbeddedBroker, make_gateway: Callable[..., Gateway]
) -> None:
    gateway = make_gateway(embedded_broker.address)
    verified = listen(embedded_broker.address, "verified/#", client_id="oracle-embedded")
    assert gateway.wait_until(lambda m: m["connected"])
    devices = make_devices(LOT, 3)
    anomalies = [
        Anomaly.parse("weight_drop=15#0"),
        Anomaly.parse("door#1"),
        Anomaly.parse("temp=35#1"),
        Anomaly.parse("forged@0#2"),
    ]
    sim = Simulator(devices, embedded_broker.address, rate_hz=0, anomalies=anomalies)
    sim.run(count=10)
    replayer = Simulator(
        devices[:1], embedded_broker.address, rate_hz=0, anomalies=[Anomaly.parse("replay#0")]
    )
    replayer.run(count=2)  # device 0 sends an earlier reading of its own twice

    assert gateway.wait_until(lambda m: m["received"] == 32 and m["queue_depth"] == 0), (
        gateway.metrics.as_dict()
    )
    snap = gateway.metrics.as_dict()
    assert snap["accepted"] == 20
    assert snap["republished"] == 20
    assert snap["dropped"]["bad_signature"] == 10  # device 2's forged readings
    assert snap["dropped"]["replay"] == 2
    assert verified.wait_for(lambda v: len(v.readings()) == 20)
    readings = [parse(p) for p in verified.readings()]
    by_device = {d.name: [r for r in readings if r.device == d.name] for d in devices}
    assert [r.seq for r in by_device[devices[0].name]] == list(range(1, 11))
    assert all(
        r.m.weight_g is not None and r.m.weight_g < 24_000_000 * 0.86 for r in by_device[devices[0].name]
    )
    assert all(r.m.door == "open" and r.m.temp_mc == 35_000 for r in by_device[devices[1].name])
    assert by_device[devices[2].name] == []
    assert {t for t, _ in verified.messages} == {verified_topic(chain.lot_id)}
    assert all(is_batch(p) for p in verified.payloads())
    assert all(json.loads(p)["sig"].startswith("0x") for p in verified.readings())
    verified.close()


def test_embedded_broker_status_retained_and_last_will(
    chain: Chain, embedded_broker: EmbeddedBroker, make_gateway: Callable[..., Gateway]
) -> None:
    gateway = make_gateway(embedded_broker.address)
    assert gateway.wait_until(lambda m: m["connected"])
    late = listen(embedded_broker.address, "gateway/+/status", client_id="status-late")  # after the fact
    assert late.wait_for(lambda s: s.messages == [("gateway/gw-test/status", b"online")])
    gateway.kill()
    assert late.wait_for(lambda s: s.payloads()[-1:] == [b"offline"], timeout_s=10)
    late.close()


def test_no_broker_configured_starts_the_embedded_one(chain: Chain, tmp_path: Path) -> None:
    settings = GatewaySettings(
        broker_url=None,
        embedded_port=0,
        gateway_id="gw-default",
        data_dir=tmp_path / "gw",
        rpc_url=chain.rpc_url,
        manifest_path=chain.manifest,
    )
    with running_gateway(settings) as (gateway, address):
        verified = listen(address, "verified/#", client_id="oracle-default")
        assert gateway.wait_until(lambda m: m["connected"])
        result = CliRunner().invoke(
            app,
            [
                "devices",
                "simulate",
                "--lot",
                LOT,
                "--devices",
                "2",
                "--rate",
                "0",
                "--count",
                "3",
                "--broker",
                address.url,
            ],
        )
        assert result.exit_code == 0, result.output
        assert gateway.wait_until(lambda m: m["republished"] == 6)
        assert verified.wait_for(lambda v: len(v.readings()) == 6)
        verified.close()


def test_simulate_show_prints_what_to_register() -> None:
    result = CliRunner().invoke(app, ["devices", "simulate", "--lot", "L-9", "--devices", "2", "--show"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["lotId"] == "0x" + dev_lot_id("L-9").hex()
    assert [d["name"] for d in body["devices"]] == ["L-9-dev-0", "L-9-dev-1"]
    assert body["devices"][0]["key"] == dev_device_key("L-9-dev-0").address
    bad = CliRunner().invoke(app, ["devices", "simulate", "--anomaly", "melted", "--show"])
    assert bad.exit_code == 2
