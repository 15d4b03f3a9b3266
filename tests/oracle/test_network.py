"""Oracle nodes on a real chain and a real broker: statuses reached by quorum, refusals, faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from eth_account import Account

from chain.errors import GoodsOracleError
from chain.merkle import verify as merkle_verify
from chain.readings import Measurements, Reading, sign
from chain.typed_data import OracleReport, sign_report
from oracle.errors import ProofUnavailable
from oracle.proofs import ProofStore
from oracle.rules import Status
from tests.oracle.conftest import (
    FULL_WEIGHT_G,
    Chain,
    Oracles,
    Publisher,
    Stream,
    free_port,
    register_lot,
    wait_for,
)


def _oracle_accounts(chain: Chain, count: int) -> list[Account]:
    return [chain.members[f"oracle-{i}"].account for i in range(count)]


def _proved_on_chain(chain: Chain, oracles: Oracles, reading: Reading) -> dict[str, object]:
    """Fetch a reading's proof from a node's HTTP endpoint and check it with `verifyReading`."""
    for index in range(3):
        handle = oracles.running[index]
        if handle is None:
            continue
        response = requests.get(f"{handle.http_url}/proofs/{reading.device}/{reading.seq}", timeout=5)
        if response.status_code == 200:
            body = response.json()
            proof = [bytes.fromhex(p[2:]) for p in body["proof"]]
            args = (
                bytes.fromhex(body["lot_id"][2:]),
                body["round"],
                reading.device_id,
                reading.seq,
                reading.payload_hash,
                proof,
            )
            assert chain.suite.oracle.functions.verifyReading(*args).call() is True
            assert merkle_verify(proof, bytes.fromhex(body["root"][2:]), reading.leaf)
            return body
    raise AssertionError(f"no node could prove {reading.device}#{reading.seq}")


def test_normal_readings_reported_ok_with_provable_readings(
    chain: Chain, oracles: Oracles, stream: Callable[..., Stream]
) -> None:
    lot = register_lot(chain, "OK-1")
    s = stream(lot)
    chain.wait_status(lot.lot_id, Status.OK)
    wait_for(lambda: len(chain.reports(lot.lot_id)) >= 2, what="two reports")
    s.stop()

    reports = chain.reports(lot.lot_id)
    for log in reports:
        args = log["args"]
        assert args["status"] == Status.OK
        assert len(args["signers"]) == 2
        assert {a.lower() for a in args["signers"]} <= {a.address.lower() for a in _oracle_accounts(chain, 3)}
        assert args["readingCount"] > 0
        assert args["observedAt"] == (args["round"] + 1) * 1
    rounds = [log["args"]["round"] for log in reports]
    assert rounds == sorted(set(rounds))
    # A reading of the first anchored round, proved against the chain by the node's endpoint.
    first_round = reports[0]["args"]["round"]
    covered = [r for r in s.sent if r.ts_ms // 1000 == first_round]
    assert covered
    body = _proved_on_chain(chain, oracles, covered[0])
    assert body["round"] == first_round
    # The same through the library, and a tampered proof fails on chain.
    store = ProofStore(oracles.node(0).node.store.path)
    proof = store.proof(covered[-1].device, covered[-1].seq)
    assert chain.suite.oracle.functions.verifyReading(*proof.verify_args()).call() is True
    forged_hash = b"\x01" * 32
    args = (proof.lot, proof.round, proof.device_id, proof.seq, forged_hash, proof.proof)
    assert chain.suite.oracle.functions.verifyReading(*args).call() is False
    store.close()


def test_weight_drop_and_door_open_outside_hours_alerts_and_freezes_receipt(
    chain: Chain, oracles: Oracles, stream: Callable[..., Stream]
) -> None:
    lot = register_lot(chain, "ALERT-1")
    north, delta, bank = chain.members["north"], chain.members["delta"], chain.members["bank-b"]
    receipts = chain.suite.receipts
    chain.tx(receipts.functions.issueReceipt(lot.lot_id, delta.org_id, b"\x07" * 32), north.account)
    s = stream(lot)
    chain.wait_status(lot.lot_id, Status.OK)
    until = chain.lot_status(lot.lot_id)["reportedAt"] + 30 * 86_400
    chain.tx(receipts.functions.pledge(lot.lot_id, bank.org_id, until), delta.account)
    start_block = chain.client.w3.eth.block_number

    s.weight_g = FULL_WEIGHT_G * 85 // 100  # 15 % gone
    s.door = "open"  # and the rules' working hours exclude now
    status = chain.wait_status(lot.lot_id, Status.ALERT)

    assert receipts.functions.receipt(lot.lot_id).call()[3] is True  # frozen
    frozen = receipts.events.ReceiptFrozen.get_logs(
        from_block=start_block, argument_filters={"receiptId": lot.lot_id}
    )
    assert [(log["args"]["pledgeeOrg"], log["args"]["status"]) for log in frozen] == [
        (bank.org_id, Status.ALERT)
    ]
    changed = chain.suite.oracle.events.LotStatusChanged.get_logs(
        from_block=start_block, argument_filters={"lotId": lot.lot_id}
    )
    assert [(c["args"]["previous"], c["args"]["status"]) for c in changed][0] == (Status.OK, Status.ALERT)
    # The two anomalies come from two devices and may fall into consecutive rounds: the first ALERT
    # round has at least one of them, and both are on record in the rounds sealed from then on.
    store = oracles.node(0).node.store
    first = store.sealed(lot.lot_id, status["round"])
    assert first is not None and set(first.reasons) & {
        "weight_loss:ALERT-1-weight",
        "door_outside_hours:ALERT-1-gps",
    }
    reasons: set[str] = set()
    deadline = time.monotonic() + 30
    while (
        time.monotonic() < deadline
        and not {"weight_loss:ALERT-1-weight", "door_outside_hours:ALERT-1-gps"} <= reasons
    ):
        for round_ in range(status["round"], status["round"] + 8):
            sealed = store.sealed(lot.lot_id, round_)
            if sealed is not None:
                reasons |= set(sealed.reasons)
        time.sleep(0.2)
    s.stop()
    assert {"weight_loss:ALERT-1-weight", "door_outside_hours:ALERT-1-gps"} <= reasons


def test_forged_and_unknown_readings_are_rejected_by_the_oracles(
    chain: Chain, oracles: Oracles, publisher: Publisher, stream: Callable[..., Stream]
) -> None:
    lot = register_lot(chain, "FORGE-1")
    s = stream(lot)
    chain.wait_status(lot.lot_id, Status.OK)
    bad_sig_before = oracles.metric("dropped_bad_signature")
    unknown_before = oracles.metric("dropped_unknown_device")
    thief = Account.create()
    weight = lot.names[1]
    # Slipped onto verified/ behind the gateway's back: a 50 % weight reading signed by another key ...
    forged = sign(
        Reading(weight, 10_000_000, int(time.time() * 1000), Measurements(weight_g=FULL_WEIGHT_G // 2)), thief
    )
    publisher.publish(lot, forged)
    # ... and one from a device no lot knows.
    ghost = sign(Reading("GHOST-1", 1, int(time.time() * 1000), Measurements(temp_mc=20_000)), thief)
    publisher.publish(lot, ghost)

    wait_for(
        lambda: (
            all(a > b for a, b in zip(oracles.metric("dropped_bad_signature"), bad_sig_before, strict=True))
            and all(
                a > b for a, b in zip(oracles.metric("dropped_unknown_device"), unknown_before, strict=True)
            )
        ),
        what="every node to drop both",
    )
    time.sleep(2.5)  # two more rounds: still OK, the forged weight never counted
    s.stop()
    assert chain.lot_status(lot.lot_id)["status"] == Status.OK
    for handle in oracles.running:
        assert handle is not None
        store = ProofStore(handle.node.store.path)
        with pytest.raises(ProofUnavailable) as refused:
            store.proof(forged.device, forged.seq)
        assert refused.value.reason == "unknown_reading"
        store.close()
        response = requests.get(f"{handle.http_url}/proofs/{forged.device}/{forged.seq}", timeout=5)
        assert response.status_code == 404 and response.json()["code"] == "unknown_reading"


def test_report_signed_by_one_oracle_is_refused_on_chain(chain: Chain, oracles: Oracles) -> None:
    lot = register_lot(chain, "ONE-SIG-1")
    report = OracleReport(lot.lot_id, 1, int(Status.OK), b"\x11" * 32, 3, int(time.time()))
    oracle = chain.suite.oracle
    one = sign_report(
        _oracle_accounts(chain, 1), chain_id=chain.client.chain_id, oracle=oracle.address, report=report
    )
    with pytest.raises(GoodsOracleError) as refused:
        chain.tx(oracle.functions.submitReport(report.as_tuple(), one), chain.members["oracle-0"].account)
    assert refused.value.name == "GoodsOracleQuorumNotMet"
    assert refused.value.args_by_name == {"signatures": 1, "quorum": 2}
    # A second signature from outside the signer set does not make a quorum either.
    outsider = Account.create()
    accounts = [_oracle_accounts(chain, 1)[0], outsider]
    two = sign_report(accounts, chain_id=chain.client.chain_id, oracle=oracle.address, report=report)
    with pytest.raises(GoodsOracleError) as refused:
        chain.tx(oracle.functions.submitReport(report.as_tuple(), two), chain.members["oracle-0"].account)
    assert refused.value.name == "GoodsOracleUnknownSigner"
    assert chain.lot_status(lot.lot_id)["status"] == Status.UNKNOWN


def test_stale_round_and_stale_report_are_refused_on_chain(
    chain: Chain, oracles: Oracles, stream: Callable[..., Stream]
) -> None:
    lot = register_lot(chain, "STALE-1")
    s = stream(lot)
    last = chain.wait_status(lot.lot_id, Status.OK)
    s.stop()
    oracle = chain.suite.oracle
    accounts = _oracle_accounts(chain, 2)
    sender = chain.members["oracle-1"].account

    def submit(report: OracleReport) -> None:
        sigs = sign_report(accounts, chain_id=chain.client.chain_id, oracle=oracle.address, report=report)
        chain.tx(oracle.functions.submitReport(report.as_tuple(), sigs), sender)

    replay = OracleReport(lot.lot_id, last["round"], int(Status.ALERT), b"\x22" * 32, 1, int(time.time()))
    with pytest.raises(GoodsOracleError) as refused:
        submit(replay)
    assert refused.value.name == "GoodsOracleStaleRound"
    assert refused.value.args_by_name["round"] == last["round"]
    assert refused.value.args_by_name["lastRound"] >= last["round"]

    old = OracleReport(
        lot.lot_id, last["round"] + 10_000, int(Status.OK), b"\x22" * 32, 1, int(time.time()) - 3_600
    )
    with pytest.raises(GoodsOracleError) as refused:
        submit(old)
    assert refused.value.name == "GoodsOracleStaleReport"
    assert chain.lot_status(lot.lot_id)["status"] == Status.OK


def test_node_restart_keeps_its_readings_and_rejoins(
    chain: Chain, oracles: Oracles, stream: Callable[..., Stream]
) -> None:
    lot = register_lot(chain, "RESTART-1")
    s = stream(lot)
    chain.wait_status(lot.lot_id, Status.OK)
    wait_for(lambda: len(chain.reports(lot.lot_id)) >= 2, what="two reports")
    node = oracles.node(2).node
    before = node.store.reading_count(lot.lot_id)
    first = chain.reports(lot.lot_id)[0]["args"]["round"]
    kept = next(r for r in s.sent if r.ts_ms // 1000 == first)

    oracles.stop(2)
    reports_while_down = len(chain.reports(lot.lot_id))
    wait_for(lambda: len(chain.reports(lot.lot_id)) >= reports_while_down + 2, what="quorum of the other two")
    restarted = oracles.start(2).node
    assert restarted.store.reading_count(lot.lot_id) >= before
    proof = ProofStore(restarted.store.path).proof(kept.device, kept.seq)
    assert chain.suite.oracle.functions.verifyReading(*proof.verify_args()).call() is True
    # The persistent session hands over what arrived while it was down, and it signs again.
    wait_for(lambda: restarted.metrics["readings_accepted"] > 0, what="readings after the restart")
    restart_round = chain.lot_status(lot.lot_id)["round"]
    wait_for(
        lambda: any(
            restarted.account.address in log["args"]["signers"]
            for log in chain.reports(lot.lot_id)
            if log["args"]["round"] > restart_round
        ),
        timeout_s=20,
        what="the restarted node's signature in a report",
    )
    s.stop()
    assert restarted.store.reading_count(lot.lot_id) > before


def test_silent_lot_goes_offline(chain: Chain, oracles: Oracles, stream: Callable[..., Stream]) -> None:
    lot = register_lot(chain, "SILENT-1")
    s = stream(lot)
    chain.wait_status(lot.lot_id, Status.OK)
    s.stop()
    silent_at = time.time()
    status = chain.wait_status(lot.lot_id, Status.OFFLINE, timeout_s=15)
    last = chain.reports(lot.lot_id)[-1]["args"]
    assert last["status"] == Status.OFFLINE and last["readingCount"] == 0
    assert last["readingsRoot"] == b"\x00" * 32
    # Reported in the round where the first device's silence passed the timeout, not before.
    last_ms = max(r.ts_ms for r in s.sent)
    assert status["observedAt"] * 1000 > last_ms + 3_000
    assert time.time() - silent_at >= 3.0


def test_scf_oracle_run_serves_the_node_and_stops_cleanly(
    chain: Chain, oracles: Oracles, tmp_path: Path, stream: Callable[..., Stream]
) -> None:
    """`scf oracle run` as a process, standing in for node 2 on its own database."""
    s = stream(register_lot(chain, "CLI-1"))  # whatever ran before on this worker, node 2 holds readings
    wait_for(lambda: oracles.metric("readings_accepted")[2] > 0, what="node 2 to store readings")
    s.stop()
    settings = oracles.settings(2)
    port = free_port()
    key_file = tmp_path / "oracle-2.key"
    key_file.write_text(settings.key.get_secret_value() if settings.key else "")
    oracles.stop(2)
    env = {
        **os.environ,
        "SCF_ORACLE_SETTLE_DELAY_S": str(settings.settle_delay_s),
        "SCF_ORACLE_OFFLINE_TIMEOUT_S": str(settings.offline_timeout_s),
        "SCF_ORACLE_TAKEOVER_S": str(settings.takeover_s),
    }
    command = [
        str(Path(sys.executable).with_name("scf")),
        "oracle",
        "run",
        "--node-index=2",
        f"--key-file={key_file}",
        f"--broker={settings.broker_url}",
        f"--rpc={settings.rpc_url}",
        f"--manifest={settings.manifest_path}",
        f"--round-length={settings.round_length_s}",
        f"--data-dir={settings.data_dir}",
        f"--http-port={port}",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        status: dict[str, object] = {}

        def answers() -> bool:
            try:
                status.update(requests.get(f"http://127.0.0.1:{port}/status", timeout=1).json())
                return True
            except requests.RequestException:
                return False

        wait_for(answers, timeout_s=30, what="the CLI node's status endpoint")
        assert status["signer"] == chain.members["oracle-2"].account.address
        assert isinstance(status["readings_stored"], int) and status["readings_stored"] > 0
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
        oracles.start(2)
    assert process.returncode == 0, output
