"""chain.merkle: readings trees, proofs and verification, cross-checked against GoodsOracle.verifyReading."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from chain.devnet import DevNet, Org, dev_account
from chain.merkle import MerkleTree, reading_leaf, verify
from chain.roles import Role
from chain.typed_data import OracleReport, sign_report

GAS = 5_000_000


def _reading(i: int, label: str = "m") -> tuple[bytes, int, bytes]:
    return (keccak(text=f"{label}-device-{i % 4}"), i, keccak(text=f"{label}-payload-{i}"))


def _leaves(n: int, label: str = "m") -> list[bytes]:
    return [reading_leaf(*_reading(i, label)) for i in range(n)]


# ---------------------------------------------------------------- leaves


def test_reading_leaf_is_double_keccak_of_abi_encoding() -> None:
    device, seq, payload = _reading(3)
    inner = keccak(abi_encode(["bytes32", "uint64", "bytes32"], [device, seq, payload]))
    assert reading_leaf(device, seq, payload) == keccak(inner)


def test_reading_leaf_differs_per_field() -> None:
    device, seq, payload = _reading(1)
    base = reading_leaf(device, seq, payload)
    assert base != reading_leaf(keccak(device), seq, payload)
    assert base != reading_leaf(device, seq + 1, payload)
    assert base != reading_leaf(device, seq, keccak(payload))


# ---------------------------------------------------------------- build and proofs


def test_build_empty_refused() -> None:
    with pytest.raises(ValueError):
        MerkleTree.build([])


def test_single_leaf_root_is_leaf_with_empty_proof() -> None:
    (leaf,) = _leaves(1)
    tree = MerkleTree.build([leaf])
    assert tree.root == leaf
    assert tree.proof(leaf) == []
    assert verify([], tree.root, leaf)


def test_two_leaves_root_hashes_sorted_pair() -> None:
    a, b = _leaves(2)
    low, high = sorted([a, b])
    tree = MerkleTree.build([a, b])
    assert tree.root == keccak(low + high)
    assert tree.proof(a) == [b] and tree.proof(b) == [a]


def test_three_leaves_odd_node_moves_up_unchanged() -> None:
    leaves = _leaves(3)
    s = sorted(leaves)
    tree = MerkleTree.build(leaves)
    pair = keccak(min(s[0], s[1]) + max(s[0], s[1]))
    assert tree.layers[1] == (pair, s[2])
    assert tree.root == keccak(min(pair, s[2]) + max(pair, s[2]))
    assert tree.proof(s[2]) == [pair]  # one level shorter: it had no sibling in the first layer


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 100])
def test_proof_verifies_for_each_leaf(n: int) -> None:
    leaves = _leaves(n)
    tree = MerkleTree.build(leaves)
    for leaf in leaves:
        assert verify(tree.proof(leaf), tree.root, leaf)


@pytest.mark.parametrize("n", [3, 5, 7, 9, 33])
def test_odd_counts_every_layer_consistent(n: int) -> None:
    tree = MerkleTree.build(_leaves(n))
    for below, above in zip(tree.layers, tree.layers[1:], strict=False):
        assert len(above) == (len(below) + 1) // 2
    assert len(tree.layers[-1]) == 1


def test_duplicates_removed_same_root() -> None:
    leaves = _leaves(5)
    with_dups = [*leaves, leaves[0], leaves[3], leaves[3]]
    tree = MerkleTree.build(with_dups)
    assert tree.root == MerkleTree.build(leaves).root
    assert len(tree.layers[0]) == 5
    for leaf in leaves:
        assert verify(tree.proof(leaf), tree.root, leaf)


def test_all_duplicates_single_leaf() -> None:
    (leaf,) = _leaves(1)
    assert MerkleTree.build([leaf, leaf, leaf]).root == leaf


def test_order_irrelevant() -> None:
    leaves = _leaves(12)
    shuffled = leaves[:]
    random.Random(7).shuffle(shuffled)
    assert MerkleTree.build(leaves).root == MerkleTree.build(shuffled).root


def test_proof_of_absent_leaf_raises_key_error() -> None:
    tree = MerkleTree.build(_leaves(4))
    with pytest.raises(KeyError):
        tree.proof(keccak(text="absent"))


# ---------------------------------------------------------------- verify rejects tampering


@pytest.mark.parametrize("n", [2, 3, 8, 13, 100])
def test_verify_rejects_tampered_proofs(n: int) -> None:
    leaves = _leaves(n)
    tree = MerkleTree.build(leaves)
    for leaf in leaves[:: max(1, n // 5)]:
        proof = tree.proof(leaf)
        flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not verify(flipped, tree.root, leaf)
        assert not verify(proof[:-1], tree.root, leaf)
        assert not verify([*proof, keccak(text="extra")], tree.root, leaf)
        assert not verify(proof, keccak(tree.root), leaf)
        assert not verify(proof, tree.root, keccak(leaf))
        if len(proof) >= 2:
            assert not verify(list(reversed(proof)), tree.root, leaf)


def test_verify_rejects_other_leafs_proof() -> None:
    leaves = _leaves(8)
    tree = MerkleTree.build(leaves)
    s = sorted(leaves)
    assert not verify(tree.proof(s[0]), tree.root, s[5])


def test_verify_rejects_inner_node_as_leaf() -> None:
    tree = MerkleTree.build(_leaves(8))
    inner = tree.layers[1][0]
    # The inner node with its sibling path does hash to the root ...
    path = [tree.layers[1][1], *[layer[1] for layer in tree.layers[2:-1]]]
    assert verify(path, tree.root, inner)
    # ... but no reading hashes to it, which is why leaves are double-hashed.
    assert all(reading_leaf(*_reading(i)) != inner for i in range(8))


@given(
    st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=10**6),
)
def test_every_leaf_verifies_and_foreign_leaf_fails(leaves: list[bytes], pick: int) -> None:
    tree = MerkleTree.build(leaves)
    leaf = leaves[pick % len(leaves)]
    proof = tree.proof(leaf)
    assert verify(proof, tree.root, leaf)
    foreign = keccak(b"foreign" + leaf)
    if foreign not in leaves:
        assert not verify(proof, tree.root, foreign)


# ---------------------------------------------------------------- on chain


@dataclass
class Anchor:
    net: DevNet
    signers: list[Org]
    lot: bytes
    round: int = 0

    def anchor(self, root: bytes, count: int) -> int:
        """Submit a 2-of-3 OK report anchoring `root`; return its round."""
        self.round += 1
        report = OracleReport(self.lot, self.round, 1, root, count, self.net.now())
        oracle = self.net.suite.oracle
        sigs = sign_report(
            [s.account for s in self.signers[:2]],
            chain_id=self.net.client.chain_id,
            oracle=oracle.address,
            report=report,
        )
        self.net.client.transact(
            oracle.functions.submitReport(report.as_tuple(), sigs), self.signers[0].account, gas=GAS
        )
        return self.round


@pytest.fixture(scope="module")
def chain() -> Iterator[Anchor]:
    net = DevNet.start()
    warehouse = net.admit("merkle-warehouse", Role.WAREHOUSE)
    signers = [net.admit(f"merkle-oracle-{i}", Role.ORACLE) for i in range(3)]
    for s in signers:
        net.tx(net.suite.oracle.functions.addSigner(s.address), net.operator)
    lot = keccak(text="merkle-lot")
    device = (keccak(text="merkle-device"), dev_account("merkle-device").address)
    net.tx(
        net.suite.receipts.functions.registerLot(lot, ("grain", "wheat", 1_000, "t", "silo 2"), [device]),
        warehouse,
    )
    yield Anchor(net, sorted(signers, key=lambda o: int(o.address, 16)), lot)


@pytest.mark.parametrize("n", [1, 2, 5, 7, 33])
def test_python_root_verifies_on_chain_for_every_reading(chain: Anchor, n: int) -> None:
    readings = [_reading(i, f"chain{n}") for i in range(n)]
    tree = MerkleTree.build([reading_leaf(*r) for r in readings])
    round_ = chain.anchor(tree.root, n)
    verify_reading = chain.net.suite.oracle.functions.verifyReading
    for device, seq, payload in readings:
        proof = tree.proof(reading_leaf(device, seq, payload))
        assert verify_reading(chain.lot, round_, device, seq, payload, proof).call() is True
        assert verify_reading(chain.lot, round_, device, seq, keccak(payload), proof).call() is False


def test_tampered_python_proof_rejected_on_chain(chain: Anchor) -> None:
    readings = [_reading(i, "tamper") for i in range(6)]
    tree = MerkleTree.build([reading_leaf(*r) for r in readings])
    round_ = chain.anchor(tree.root, 6)
    device, seq, payload = readings[2]
    proof = tree.proof(reading_leaf(device, seq, payload))
    bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    verify_reading = chain.net.suite.oracle.functions.verifyReading
    assert verify_reading(chain.lot, round_, device, seq, payload, proof).call() is True
    assert verify_reading(chain.lot, round_, device, seq, payload, bad).call() is False
    assert verify_reading(chain.lot, round_, device, seq, payload, proof[:-1]).call() is False
