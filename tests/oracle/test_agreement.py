"""Signature messages between oracle nodes, the signature book, and who submits when."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.typed_data import OracleReport, digest, report_message, sign
from oracle import agreement
from oracle.agreement import BadSignatureMessage, SignatureBook, ordered_signatures, submit_delay

CHAIN_ID = 1337
ORACLE = "0x" + "ab" * 20
REPORT = OracleReport(b"\x05" * 32, 1_763_800_000, 1, b"\x09" * 32, 12, 1_763_800_001)
KEYS = [Account.from_key(bytes([i + 1]) * 32) for i in range(3)]
SIGNERS = {k.address.lower() for k in KEYS}


def signed(account: LocalAccount, report: OracleReport = REPORT) -> bytes:
    message = report_message(chain_id=CHAIN_ID, oracle=ORACLE, report=report)
    return agreement.encode(report, account.address, sign(account, message), 0)


def decode(payload: bytes) -> agreement.SignedReport:
    return agreement.decode(payload, chain_id=CHAIN_ID, oracle=ORACLE, signers=SIGNERS)


def test_signature_message_round_trips_with_the_contract_digest() -> None:
    got = decode(signed(KEYS[0]))
    assert got.report == REPORT
    assert got.signer == KEYS[0].address
    assert got.digest == digest(report_message(chain_id=CHAIN_ID, oracle=ORACLE, report=REPORT))
    assert agreement.topic(REPORT.lot_id, REPORT.round) == f"oracle/0x{'05' * 32}/{REPORT.round}"


def test_signature_of_an_unregistered_key_is_refused() -> None:
    with pytest.raises(BadSignatureMessage):
        decode(signed(Account.create()))


def test_signature_claiming_another_signer_is_refused() -> None:
    body = json.loads(signed(KEYS[0]))
    body["signer"] = KEYS[1].address
    with pytest.raises(BadSignatureMessage):
        decode(json.dumps(body).encode())


def test_tampered_report_no_longer_recovers_its_signer() -> None:
    body = json.loads(signed(KEYS[0]))
    body["report"]["status"] = 3
    with pytest.raises(BadSignatureMessage):
        decode(json.dumps(body).encode())


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"{}", b'{"report": {"lot": "0x01"}}', json.dumps({"report": {"round": -1}}).encode()],
)
def test_malformed_messages_are_refused(payload: bytes) -> None:
    with pytest.raises(BadSignatureMessage):
        decode(payload)


def test_book_counts_signatures_per_identical_report_only() -> None:
    book = SignatureBook()
    other = OracleReport(REPORT.lot_id, REPORT.round, 1, b"\x0a" * 32, 11, REPORT.observed_at)  # missed one
    first = book.add(decode(signed(KEYS[0])), quorum=2, now=1.0)
    book.add(decode(signed(KEYS[1], other)), quorum=2, now=2.0)
    assert first.quorum_at is None
    assert book.ready(REPORT.lot_id, REPORT.round, 2, None) is None
    third = book.add(decode(signed(KEYS[2])), quorum=2, now=3.0)
    assert third.quorum_at == 3.0
    ready = book.ready(REPORT.lot_id, REPORT.round, 2, prefer=None)
    assert ready is third and ready.report == REPORT
    sigs = ordered_signatures(ready, 2)
    signers = [Account._recover_hash(decode(signed(KEYS[0])).digest, signature=s) for s in sigs]
    assert signers == sorted(signers, key=lambda a: int(a, 16))
    book.forget_upto(REPORT.lot_id, REPORT.round)
    assert book.ready(REPORT.lot_id, REPORT.round, 2, None) is None


def test_leader_submits_at_once_and_others_take_over_in_turn() -> None:
    assert submit_delay(node_index=2, round_=5, nodes=3, takeover_s=1.5) == 0  # 5 % 3 == 2
    assert submit_delay(node_index=0, round_=5, nodes=3, takeover_s=1.5) == 1.5
    assert submit_delay(node_index=1, round_=5, nodes=3, takeover_s=1.5) == 3.0
