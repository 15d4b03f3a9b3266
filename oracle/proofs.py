"""Merkle proofs of single readings against the roots anchored on chain.

Every reading a node accepted stays in its database with its lot and round; once the round's
root is on chain (the node reads `ReportAccepted`), the proof is the sibling path in the tree of
that round's leaves. The tree is rebuilt from the database and checked against the anchored root,
so a node that saw a different set of readings than the quorum says so instead of lying.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.merkle import MerkleTree
from oracle.errors import ProofUnavailable


@dataclass(frozen=True)
class ReadingProof:
    """Everything `GoodsOracle.verifyReading` takes, plus the reading as it was published."""

    lot: bytes
    round: int
    root: bytes
    proof: list[bytes]
    device: str
    device_id: bytes
    seq: int
    payload_hash: bytes
    leaf: bytes
    payload: bytes

    def verify_args(self) -> tuple[bytes, int, bytes, int, bytes, list[bytes]]:
        """Arguments of `GoodsOracle.verifyReading`."""
        return (self.lot, self.round, self.device_id, self.seq, self.payload_hash, self.proof)

    def as_json(self) -> dict[str, Any]:
        return {
            "lot_id": "0x" + self.lot.hex(),
            "round": self.round,
            "root": "0x" + self.root.hex(),
            "proof": ["0x" + p.hex() for p in self.proof],
            "device": self.device,
            "device_id": "0x" + self.device_id.hex(),
            "seq": self.seq,
            "payload_hash": "0x" + self.payload_hash.hex(),
            "leaf": "0x" + self.leaf.hex(),
            "reading": self.payload.decode(),
        }


class ProofStore:
    """Read-only view of a node's database that answers proofs."""

    def __init__(self, db_path: Path) -> None:
        self._db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
        # Only trees that matched their anchored root: those never change again.
        self._trees: dict[tuple[bytes, int], MerkleTree] = {}

    def close(self) -> None:
        self._db.close()

    def proof(self, device: str, seq: int) -> ReadingProof:
        """The proof of reading (`device`, `seq`) against its round's anchored root."""
        row = self._db.execute(
            "SELECT lot, round, device_id, payload_hash, leaf, payload FROM readings"
            " WHERE device = ? AND seq = ?",
            (device, seq),
        ).fetchone()
        if row is None:
            raise ProofUnavailable(device, seq, "unknown_reading")
        lot, round_, device_id, payload_hash, leaf, payload = (bytes(row[0]), row[1], *map(bytes, row[2:]))
        anchored = self._db.execute(
            "SELECT root FROM anchors WHERE lot = ? AND round = ?", (lot, round_)
        ).fetchone()
        if anchored is None or not any(anchored[0]):
            skipped = self._db.execute(
                "SELECT reason FROM skipped WHERE lot = ? AND round = ?", (lot, round_)
            ).fetchone()
            if skipped is not None:
                raise ProofUnavailable(device, seq, "skipped", detail=str(skipped[0]))
            raise ProofUnavailable(device, seq, "not_anchored")
        root = bytes(anchored[0])
        tree = self._trees.get((lot, round_)) or self._build_tree(lot, round_)
        if tree.root != root:
            raise ProofUnavailable(device, seq, "root_mismatch")
        if len(self._trees) >= 256:
            self._trees.pop(next(iter(self._trees)))
        self._trees[(lot, round_)] = tree
        return ReadingProof(
            lot, round_, root, tree.proof(leaf), device, device_id, seq, payload_hash, leaf, payload
        )

    def _build_tree(self, lot: bytes, round_: int) -> MerkleTree:
        leaves = self._db.execute(
            "SELECT leaf FROM readings WHERE lot = ? AND round = ?", (lot, round_)
        ).fetchall()
        return MerkleTree.build([bytes(leaf) for (leaf,) in leaves])
