"""When rounds are sealed: at once when complete, and an ALERT reading cuts its round short."""

from __future__ import annotations

import time
from collections.abc import Callable

from chain.readings import Reading
from oracle.proofs import ProofStore
from oracle.rules import Status
from tests.oracle.conftest import FULL_WEIGHT_G, Chain, Oracles, Stream, register_lot, wait_for

HALF = FULL_WEIGHT_G // 2


def test_alert_reading_cuts_its_round_and_every_reading_stays_provable(
    chain: Chain, oracles: Oracles, stream: Callable[..., Stream]
) -> None:
    lot = register_lot(chain, "CUT-1")
    s = stream(lot)
    chain.wait_status(lot.lot_id, Status.OK)
    s.weight_g = HALF
    status = chain.wait_status(lot.lot_id, Status.ALERT)
    time.sleep(2.5)
    s.stop()
    alert = min((r for r in s.sent if r.m.weight_g == HALF), key=lambda r: r.ts_ms)
    cut_round = alert.ts_ms // 1000
    # The round was reported at the alert, not at its end: observed in the alert's own second.
    assert (status["round"], status["observedAt"]) == (cut_round, cut_round + 1)
    report = next(log["args"] for log in chain.reports(lot.lot_id) if log["args"]["round"] == cut_round)
    in_cut = [r for r in s.sent if r.ts_ms // 1000 == cut_round and r.ts_ms <= alert.ts_ms]
    assert report["readingCount"] == len(in_cut)
    assert all(h.node.metrics["rounds_cut_at_alert"] == 1 for h in oracles.running if h)

    def placed(reading: Reading) -> int:
        ts_round = reading.ts_ms // 1000
        return ts_round + 1 if ts_round == cut_round and reading.ts_ms > alert.ts_ms else ts_round

    last = max(placed(r) for r in s.sent)
    wait_for(lambda: chain.lot_status(lot.lot_id)["round"] >= last, what="the last round anchored")
    proofs = ProofStore(oracles.node(0).node.store.path)
    for reading in s.sent:
        proof = proofs.proof(reading.device, reading.seq)
        assert proof.round == placed(reading)
        assert chain.suite.oracle.functions.verifyReading(*proof.verify_args()).call() is True
    proofs.close()
    assert [h.node.metrics["readings_unanchored"] for h in oracles.running if h] == [0, 0, 0]


def test_complete_rounds_are_sealed_before_the_settle_delay(
    chain: Chain, oracles: Oracles, stream: Callable[..., Stream]
) -> None:
    """With every device streaming, a round is complete as soon as each device has sent a reading
    past its end: sealed then, not `settle_delay_s` later (the nodes here settle for 5 s)."""
    lot = register_lot(chain, "EARLY-1")
    for i in range(3):
        oracles.stop(i)
    for i in range(3):
        oracles.start(i, settle_delay_s=5.0)
    try:
        s = stream(lot)
        status = chain.wait_status(lot.lot_id, Status.OK, timeout_s=20)
        first = min(r.ts_ms for r in s.sent) // 1000
        assert status["round"] >= first
        assert time.time() < status["round"] + 1 + 5.0  # anchored before its settle delay was over
        s.stop()
    finally:
        oracles.restart_all()
