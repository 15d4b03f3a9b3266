"""Merkle trees of sensor readings, verifiable on chain by OpenZeppelin's `MerkleProof`.

Leaves are `keccak256(keccak256(abi.encode(bytes32 deviceId, uint64 seq, bytes32 payloadHash)))`
(double-hashed as in OpenZeppelin's StandardMerkleTree, so a leaf can never pass for an inner
node); inner nodes hash their two children in ascending order; an odd node moves up unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chain.keccak import keccak256 as keccak


def reading_leaf(device_id: bytes, seq: int, payload_hash: bytes) -> bytes:
    """The leaf of one reading (abi.encode of two bytes32 and a uint64, written word by word)."""
    if len(device_id) != 32 or len(payload_hash) != 32 or not 0 <= seq < 2**64:
        raise ValueError("a leaf takes a 32-byte device id, a uint64 seq and a 32-byte payload hash")
    return keccak(keccak(device_id + seq.to_bytes(32, "big") + payload_hash))


def _node(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


@dataclass(frozen=True)
class MerkleTree:
    """A tree over a set of leaves (duplicates removed, order irrelevant)."""

    layers: tuple[tuple[bytes, ...], ...]

    @classmethod
    def build(cls, leaves: Sequence[bytes]) -> MerkleTree:
        """Build the tree of `leaves`; at least one leaf."""
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        layer = tuple(sorted(set(leaves)))
        layers = [layer]
        while len(layer) > 1:
            paired = [_node(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
            if len(layer) % 2:
                paired.append(layer[-1])
            layer = tuple(paired)
            layers.append(layer)
        return cls(tuple(layers))

    @property
    def root(self) -> bytes:
        return self.layers[-1][0]

    def proof(self, leaf: bytes) -> list[bytes]:
        """The sibling path from `leaf` to the root (KeyError if the leaf is not in the tree)."""
        try:
            index = self.layers[0].index(leaf)
        except ValueError:
            raise KeyError(leaf.hex()) from None
        path = []
        for layer in self.layers[:-1]:
            sibling = index ^ 1
            if sibling < len(layer):
                path.append(layer[sibling])
            index //= 2
        return path


def verify(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """Check `proof` as `MerkleProof.verify` does on chain."""
    node = leaf
    for sibling in proof:
        node = _node(node, sibling)
    return node == root
