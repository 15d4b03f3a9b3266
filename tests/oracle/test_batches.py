"""Batches on `verified/{lot}` (as the gateway republishes): every reading in one checked by every node."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from chain.readings import BATCH_MAGIC, Measurements, Reading, encode_batch, sign
from oracle.errors import ProofUnavailable
from oracle.proofs import ProofStore
from oracle.rules import Status
from tests.oracle.conftest import (
    FULL_WEIGHT_G,
    LAT_E7,
    LON_E7,
    Chain,
    Lot,
    Oracles,
    Publisher,
    register_lot,
    wait_for,
)


def _readings(lot: Lot, per_device: int) -> list[Reading]:
    temp, weight, gps = lot.names
    now = int(time.time() * 1000)
    out = []
    for seq in range(1, per_device + 1):
        out.append(sign(Reading(temp, seq, now + seq, Measurements(temp_mc=21_500)), lot.devices[temp]))
        out.append(
            sign(Reading(weight, seq, now + seq, Measurements(weight_g=FULL_WEIGHT_G)), lot.devices[weight])
        )
        m = Measurements(lat_e7=LAT_E7, lon_e7=LON_E7, door="closed")
        out.append(sign(Reading(gps, seq, now + seq, m), lot.devices[gps]))
    return out


def _publish(publisher: Publisher, lot: Lot, payload: bytes) -> None:
    publisher.client.publish(f"verified/{lot.lot_id.hex()}", payload, qos=1).wait_for_publish(5)


def _grew(oracles: Oracles, name: str, before: list[int], by: int) -> bool:
    return all(now - was >= by for now, was in zip(oracles.metric(name), before, strict=True))


def test_batch_readings_checked_by_every_node_redelivery_counted_once(
    chain: Chain, oracles: Oracles, publisher: Publisher
) -> None:
    lot = register_lot(chain, "BATCH-1")
    good = _readings(lot, 6)
    thief = Account.create()
    weight = lot.names[1]
    forged = sign(
        Reading(weight, 1_000, int(time.time() * 1000), Measurements(weight_g=FULL_WEIGHT_G // 2)), thief
    )
    frame = encode_batch([r.to_json() for r in [*good[:9], forged, *good[9:]]])
    accepted = oracles.metric("readings_accepted")
    duplicates = oracles.metric("readings_duplicate")
    bad_sig = oracles.metric("dropped_bad_signature")

    _publish(publisher, lot, frame)
    _publish(publisher, lot, frame)  # redelivered, as after a gateway restart mid-batch

    wait_for(
        lambda: _grew(oracles, "readings_duplicate", duplicates, 18), what="every node to see the repeat"
    )
    assert [a - b for a, b in zip(oracles.metric("readings_accepted"), accepted, strict=True)] == [18] * 3
    assert [a - b for a, b in zip(oracles.metric("dropped_bad_signature"), bad_sig, strict=True)] == [2] * 3
    status = chain.wait_status(lot.lot_id, Status.OK)
    wait_for(
        lambda: sum(log["args"]["readingCount"] for log in chain.reports(lot.lot_id)) == 18,
        what="the 18 readings anchored",
    )
    assert status["status"] == Status.OK  # the forged half weight never counted
    for handle in oracles.running:
        assert handle is not None
        store = ProofStore(handle.node.store.path)
        # A node learns of a report another node submitted at its next chain poll.
        wait_for(lambda s=store: _all_proven(s, good), what="every node to know the anchors")
        for reading in good:
            proof = store.proof(reading.device, reading.seq)
            assert chain.suite.oracle.functions.verifyReading(*proof.verify_args()).call() is True
        with pytest.raises(ProofUnavailable):
            store.proof(forged.device, forged.seq)
        store.close()


def _all_proven(store: ProofStore, readings: list[Reading]) -> bool:
    try:
        for reading in readings:
            store.proof(reading.device, reading.seq)
    except ProofUnavailable:
        return False
    return True


@pytest.mark.parametrize(
    "frame",
    [
        BATCH_MAGIC + (3).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"{}",  # announces 3, holds 1
        BATCH_MAGIC + (1).to_bytes(4, "big") + (4_000).to_bytes(4, "big") + b"{}",  # length past the end
        BATCH_MAGIC + (0).to_bytes(4, "big") + b"trailing",
    ],
    ids=["short", "past-end", "trailing"],
)
def test_malformed_batch_dropped_and_counted_node_keeps_going(
    chain: Chain, oracles: Oracles, publisher: Publisher, frame: bytes, request: pytest.FixtureRequest
) -> None:
    lot = register_lot(chain, f"BADBATCH-{request.node.callspec.id}")
    bad = oracles.metric("dropped_bad_batch")
    accepted = oracles.metric("readings_accepted")
    _publish(publisher, lot, frame)
    _publish(publisher, lot, encode_batch([r.to_json() for r in _readings(lot, 2)]))
    wait_for(
        lambda: _grew(oracles, "readings_accepted", accepted, 6), what="the good batch after the bad one"
    )
    assert [a - b for a, b in zip(oracles.metric("dropped_bad_batch"), bad, strict=True)] == [1] * 3
    assert all(handle is not None and handle.thread.is_alive() for handle in oracles.running)
