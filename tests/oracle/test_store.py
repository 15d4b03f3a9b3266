"""The node's database and the proofs it serves, without broker or chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from chain.merkle import MerkleTree
from chain.merkle import verify as merkle_verify
from chain.readings import Measurements, Reading, parse, sign
from oracle.errors import ProofUnavailable
from oracle.proofs import ProofStore
from oracle.store import Anchor, OracleStore, StoredReading

LOT = b"\x03" * 32
KEY = Account.from_key(b"\x11" * 32)


def stored(seq: int, round_: int = 7, weight: int = 1_000) -> StoredReading:
    reading = sign(Reading("dev-1", seq, 7_000 + seq, Measurements(weight_g=weight)), KEY)
    return StoredReading(LOT, round_, parse(reading.to_json()), reading.to_json())


def test_readings_survive_reopening_and_duplicates_are_told_from_conflicts(tmp_path: Path) -> None:
    path = tmp_path / "oracle.db"
    store = OracleStore(path)
    assert store.add_readings([stored(1), stored(2)]) == ["added", "added"]
    store.close()
    store = OracleStore(path)
    assert store.add_readings([stored(1), stored(2, weight=5)]) == ["duplicate", "conflict"]
    assert store.reading_count(LOT) == 2
    assert [r.seq for r in store.round_readings(LOT, 7)] == [1, 2]
    assert store.rounds_with_readings(LOT, 0, 100) == [7]
    store.close()


def test_proofs_need_an_anchored_root_matching_the_nodes_leaves(tmp_path: Path) -> None:
    path = tmp_path / "oracle.db"
    store = OracleStore(path)
    rows = [stored(i) for i in range(1, 6)]
    store.add_readings(rows)
    proofs = ProofStore(path)
    with pytest.raises(ProofUnavailable) as unknown:
        proofs.proof("dev-1", 99)
    assert unknown.value.reason == "unknown_reading"
    with pytest.raises(ProofUnavailable) as pending:
        proofs.proof("dev-1", 1)
    assert pending.value.reason == "not_anchored"

    # The quorum anchored a root over fewer readings than this node saw: it must not pretend.
    partial = MerkleTree.build([r.reading.leaf for r in rows[:4]]).root
    store.add_anchors([Anchor(LOT, 7, 1, partial, 4, 8, 10)])
    with pytest.raises(ProofUnavailable) as mismatch:
        proofs.proof("dev-1", 1)
    assert mismatch.value.reason == "root_mismatch"

    root = MerkleTree.build([r.reading.leaf for r in rows]).root
    store.add_anchors([Anchor(LOT, 7, 1, root, 5, 8, 10)])
    for row in rows:
        proof = proofs.proof("dev-1", row.reading.seq)
        assert (proof.lot, proof.round, proof.root) == (LOT, 7, root)
        assert merkle_verify(proof.proof, root, row.reading.leaf)
        assert proof.as_json()["reading"] == row.payload.decode()
    proofs.close()
    store.close()
