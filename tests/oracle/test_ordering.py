"""Rounds of a lot are anchored in order, so no reading is left unproven by a later round landing first."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from chain.readings import Reading
from oracle.errors import ProofUnavailable
from oracle.proofs import ProofStore
from oracle.rules import LotOverrides, RulesConfig
from tests.oracle.conftest import FULL_WEIGHT_G, Chain, Oracles, Stream, register_lot, wait_for

NODES = 3


def _round(reading: Reading) -> int:
    return reading.ts_ms // 1000  # ROUND_S == 1


def _prove(chain: Chain, proofs: ProofStore, reading: Reading) -> None:
    proof = proofs.proof(reading.device, reading.seq)
    assert proof.round == _round(reading)
    assert chain.suite.oracle.functions.verifyReading(*proof.verify_args()).call() is True


def test_later_round_waits_for_the_earlier_one_so_every_reading_is_provable(
    chain: Chain, oracles: Oracles, stream: Callable[..., Stream]
) -> None:
    """Node 0 is down, so its rounds (r % 3 == 0) are taken over by node 1 only `takeover_s` after
    quorum; round r + 1, led by node 1, reaches quorum one round length after round r. With a
    takeover longer than a round, r + 1 is ready first: submitted first, it would make r stale."""
    lot = register_lot(chain, "ORDER-1")
    oracles.stop(0)
    for i in (1, 2):
        oracles.stop(i)
        oracles.start(i, takeover_s=2.5)
    try:
        s = stream(lot)
        time.sleep(4.6)
        s.stop()
        rounds = sorted({_round(r) for r in s.sent})
        assert any(r % NODES == 0 and r + 1 in rounds for r in rounds), rounds  # the race is on
        wait_for(
            lambda: chain.lot_status(lot.lot_id)["round"] >= rounds[-1],
            timeout_s=40,
            what="the last round of readings anchored",
        )
        anchored = [log["args"]["round"] for log in chain.reports(lot.lot_id)]
        assert set(rounds) <= set(anchored), f"rounds {rounds}, anchored {anchored}"
        for index in (1, 2):
            proofs = ProofStore(oracles.node(index).node.store.path)
            for reading in s.sent:
                _prove(chain, proofs, reading)
            proofs.close()
        metrics = [oracles.node(i).node.metrics for i in (1, 2)]
        assert [m["readings_unanchored"] for m in metrics] == [0, 0]
        assert [m["rounds_skipped"] for m in metrics] == [0, 0]
        assert [m["readings_accepted"] for m in metrics] == [len(s.sent)] * 2
    finally:
        oracles.restart_all()


def test_round_without_quorum_is_passed_over_and_its_readings_reported_unanchored(
    chain: Chain, oracles: Oracles, stream: Callable[..., Stream]
) -> None:
    """Two nodes whose rules disagree on a 15 % weight loss never reach quorum on that round: the
    later rounds wait `order_timeout_s` for it, then go ahead; the readings of the passed-over round
    are recorded as skipped with a reason, counted, and the proof endpoint says so."""
    lot = register_lot(chain, "ORDER-2")
    lenient = RulesConfig(
        defaults=LotOverrides(weight_loss_warning_pct=40, weight_loss_alert_pct=50, door_hours=None)
    )
    oracles.stop(0)
    oracles.stop(1)
    oracles.stop(2)
    oracles.start(1, order_timeout_s=3.0)
    oracles.start(2, rules=lenient, order_timeout_s=3.0)
    try:
        s = stream(lot)
        wait_for(lambda: chain.lot_status(lot.lot_id)["round"] > 0, what="a first report")
        s.weight_g = FULL_WEIGHT_G * 85 // 100  # ALERT for node 1, OK for node 2
        time.sleep(0.6)
        s.weight_g = FULL_WEIGHT_G
        time.sleep(2.5)
        s.stop()
        last = max(_round(r) for r in s.sent)
        wait_for(lambda: chain.lot_status(lot.lot_id)["round"] >= last, timeout_s=30, what="later rounds")

        nodes = [oracles.node(i).node for i in (1, 2)]
        anchored = {log["args"]["round"] for log in chain.reports(lot.lot_id)}
        disputed = sorted({_round(r) for r in s.sent if r.m.weight_g == FULL_WEIGHT_G * 85 // 100})
        assert disputed and not set(disputed) & anchored
        unproven = [r for r in s.sent if _round(r) not in anchored]
        assert {_round(r) for r in unproven} >= set(disputed)
        # A node records a passed-over round when its next chain poll sees the later anchor: the one
        # that did not submit it may not have looked yet.
        wait_for(
            lambda: all(
                node.store.skipped(lot.lot_id, _round(r)) is not None for node in nodes for r in unproven
            ),
            timeout_s=10,
            what="both nodes to record the passed-over rounds",
        )
        for node in nodes:
            for round_ in {_round(r) for r in unproven}:
                assert node.store.skipped(lot.lot_id, round_) == "order_timeout"
            assert node.metrics["rounds_passed_over"] >= len(disputed)
            assert node.metrics["readings_unanchored"] == len(unproven)
            proofs = ProofStore(node.store.path)
            for reading in s.sent:
                if reading in unproven:
                    with pytest.raises(ProofUnavailable) as refused:
                        proofs.proof(reading.device, reading.seq)
                    assert (refused.value.reason, refused.value.detail) == ("skipped", "order_timeout")
                else:
                    _prove(chain, proofs, reading)
            proofs.close()
        handle = oracles.node(1)
        gone = unproven[0]
        response = requests.get(f"{handle.http_url}/proofs/{gone.device}/{gone.seq}", timeout=5)
        assert response.status_code == 409 and response.json()["code"] == "skipped"
        assert requests.get(f"{handle.http_url}/status", timeout=5).json()["metrics"][
            "readings_unanchored"
        ] == len(unproven)
    finally:
        oracles.restart_all()
