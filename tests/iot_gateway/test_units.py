"""The gateway's parts on their own: broker URLs, anomalies, the disk store, the key cache, metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from chain.errors import ChainUnavailable
from chain.readings import BATCH_MAGIC, InvalidReading, batch_count, decode_batch, encode_batch, is_batch
from iot_gateway.broker import BrokerAddress
from iot_gateway.errors import InvalidAnomaly, InvalidBrokerUrl
from iot_gateway.metrics import GatewayMetrics, MetricsServer
from iot_gateway.registry import ZERO_ADDRESS, DeviceKeys
from iot_gateway.replay import SeqWindow
from iot_gateway.settings import GatewaySettings
from iot_gateway.simulator import Anomaly, SimDevice, dev_device_key
from iot_gateway.store import GatewayStore
from iot_gateway.topics import device_of_telemetry, verified_topic


def test_broker_url_parsed_with_credentials() -> None:
    address = BrokerAddress.parse("mqtt://gate%40way:p%3Ass@broker.local:1884")
    assert address == BrokerAddress("broker.local", 1884, "gate@way", "p:ss")
    assert "p:ss" not in repr(address) and address.url == "mqtt://broker.local:1884"
    assert BrokerAddress.parse("mqtt://10.0.0.1").port == 1883


@pytest.mark.parametrize("url", ["http://host:1883", "mqtt://", "mqtt://host:notaport"])
def test_broker_url_invalid_raises(url: str) -> None:
    with pytest.raises(InvalidBrokerUrl):
        BrokerAddress.parse(url)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCF_GATEWAY_BROKER_URL", "mqtt://gw:pw@127.0.0.1:18830")
    monkeypatch.setenv("SCF_GATEWAY_GATEWAY_ID", "gw-7")
    monkeypatch.setenv("SCF_GATEWAY_DEVICE_CACHE_TTL_S", "5")
    settings = GatewaySettings()
    assert (settings.broker_url, settings.gateway_id, settings.device_cache_ttl_s) == (
        "mqtt://gw:pw@127.0.0.1:18830",
        "gw-7",
        5.0,
    )
    assert GatewaySettings(_env_file=None).broker_url is not None  # env still applies
    monkeypatch.delenv("SCF_GATEWAY_BROKER_URL")
    assert GatewaySettings().broker_url is None  # embedded broker


def test_anomaly_specs_parse() -> None:
    assert Anomaly.parse("weight_drop=15@10#0") == Anomaly("weight_drop", 15.0, 10.0, 0)
    assert Anomaly.parse("weight-drop") == Anomaly("weight_drop", 15.0, 0.0, None)
    assert Anomaly.parse("temp=40%@5s") == Anomaly("temp", 40.0, 5.0, None)
    assert Anomaly.parse("offline@3#2").applies(2, 3.5) and not Anomaly.parse("offline@3#2").applies(2, 2.9)
    for bad in ("melted", "door@soon", "temp#x"):
        with pytest.raises(InvalidAnomaly):
            Anomaly.parse(bad)


def test_offline_device_publishes_nothing_and_keeps_its_sequence() -> None:
    device = SimDevice("LOT-1-dev-0", dev_device_key("LOT-1-dev-0"))
    assert device.reading(1_000) is not None
    assert device.reading(2_000, [Anomaly("offline", at_s=1.0)], elapsed_s=1.5) is None
    assert device.seq == 1


def test_topics() -> None:
    assert device_of_telemetry("devices/a-1/telemetry") == "a-1"
    assert device_of_telemetry("devices/a/b/telemetry") is None
    assert verified_topic(b"\xab" * 32) == "verified/" + "ab" * 32


def test_store_keeps_windows_and_queue_across_reopen(tmp_path: Path) -> None:
    store = GatewayStore(tmp_path / "gw.sqlite3", window=64)
    d1 = SeqWindow.first(1).admit(2, 64)
    assert d1 is not None
    batch = [("verified/x/d1", b"r1", "d1", 1), ("verified/x/d1", b"r2", "d1", 2), ("t", b"r3", "d2", 9)]
    store.accept(batch, {"d1": d1, "d2": SeqWindow.first(9)})
    first = store.pending(after_id=0, limit=10)
    store.done([first[0].id])
    store.close()
    reopened = GatewayStore(tmp_path / "gw.sqlite3", window=64)
    assert reopened.seq_window("d1") == SeqWindow(2, 0b11)
    assert reopened.seq_window("d2") == SeqWindow(9, 1)
    assert reopened.seq_window("d3") is None
    assert [q.payload for q in reopened.pending(after_id=0, limit=10)] == [b"r2", b"r3"]
    assert reopened.depth() == 2
    reopened.close()


def test_seq_window_takes_late_readings_once_and_refuses_replays() -> None:
    window = SeqWindow.first(10)
    for seq in (12, 11, 15):  # 11 arrives after 12: late, not a replay
        admitted = window.admit(seq, 8)
        assert admitted is not None, seq
        window = admitted
    assert window.high == 15
    for replayed in (10, 11, 12, 15):
        assert window.admit(replayed, 8) is None, replayed
    assert window.admit(13, 8) is not None  # never seen, inside the window
    assert window.admit(7, 8) is None  # older than the window: cannot tell, refused
    far = window.admit(1_000, 8)
    assert far is not None and far.mask == 1 and far.admit(993, 8) is not None and far.admit(992, 8) is None


def test_device_keys_cached_for_their_ttl() -> None:
    now = [0.0]
    calls: list[bytes] = []
    known = {"d1": (b"\x01" * 32, "0x" + "11" * 20)}

    def lookup(dev_id: bytes) -> tuple[bytes, str]:
        calls.append(dev_id)
        from chain.readings import device_id

        for name, binding in known.items():
            if device_id(name) == dev_id:
                return binding
        return b"\x00" * 32, ZERO_ADDRESS

    keys = DeviceKeys(lookup, ttl_s=10, unknown_ttl_s=1, clock=lambda: now[0])
    assert keys.get("d1") is not None and keys.get("d1") is not None
    assert keys.get("nobody") is None
    assert len(calls) == 2
    now[0] = 1.5  # the unknown answer expired; the known one did not
    keys.get("nobody")
    keys.get("d1")
    assert len(calls) == 3

    def down(_dev_id: bytes) -> tuple[bytes, str]:
        raise ChainUnavailable("node unreachable")

    with pytest.raises(ChainUnavailable):
        DeviceKeys(down, ttl_s=1, unknown_ttl_s=1).get("d1")


def test_metrics_dict_and_prometheus_text() -> None:
    metrics = GatewayMetrics("gw-9")
    metrics.add("received", 3)
    metrics.add("accepted", 2)
    metrics.dropped("replay")
    metrics.set_queue_depth(2)
    snap = metrics.as_dict()
    assert snap["dropped"]["replay"] == 1 and snap["dropped_total"] == 1 and snap["queue_depth"] == 2  # type: ignore[index]
    text = metrics.prometheus()
    assert "# TYPE scf_gateway_readings_dropped_total counter" in text
    assert 'scf_gateway_readings_dropped_total{gateway="gw-9",reason="replay"} 1' in text
    assert 'scf_gateway_queue_depth{gateway="gw-9"} 2' in text


def test_metrics_served_over_http() -> None:
    metrics = GatewayMetrics("gw-9")
    metrics.add("accepted", 5)
    server = MetricsServer(metrics, "127.0.0.1", 0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        status = requests.get(f"{base}/status", timeout=5)
        assert status.status_code == 200 and status.json()["accepted"] == 5
        text = requests.get(f"{base}/metrics", timeout=5)
        assert text.headers["Content-Type"].startswith("text/plain")
        assert 'scf_gateway_readings_accepted_total{gateway="gw-9"} 5' in text.text
        assert requests.get(f"{base}/other", timeout=5).status_code == 404
    finally:
        server.stop()


def test_batch_frame_round_trips_exact_bytes() -> None:
    payloads = [b'{"v":1}', b"", b"\x00\xff" * 700, "温度".encode()]
    frame = encode_batch(payloads)
    assert is_batch(frame) and frame.startswith(BATCH_MAGIC)
    assert decode_batch(frame) == payloads
    assert batch_count(frame) == 4
    assert decode_batch(encode_batch([])) == []
    assert not is_batch(b'{"v":1}') and batch_count(b'{"v":1}') == 1


@pytest.mark.parametrize(
    "frame",
    [
        BATCH_MAGIC,  # no count
        BATCH_MAGIC + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"a",  # one reading short
        BATCH_MAGIC + (1).to_bytes(4, "big") + (9).to_bytes(4, "big") + b"abc",  # length past the end
        BATCH_MAGIC + (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"ab",  # bytes after the last
        BATCH_MAGIC + (10**6).to_bytes(4, "big"),  # absurd count
        b"SCFB\x02" + (0).to_bytes(4, "big"),  # unknown version
    ],
)
def test_malformed_batch_frames_are_refused(frame: bytes) -> None:
    with pytest.raises(InvalidReading) as refused:
        decode_batch(frame)
    assert refused.value.reason == "bad_batch"
