"""A node's own check of a reading: signature against the device key, and the reading's Merkle leaf.

Every oracle node verifies every reading itself, so this runs N times per reading: each hash is
computed once (`Reading.payload_hash` and `device_id` are plain properties that `chain.readings`
recomputes on every access) and the recovered key is compared as 20 raw bytes, not as a checksummed
string. The results are those of `chain.readings.verify` and `chain.merkle.reading_leaf`
(tests/oracle/test_verify.py holds them to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from coincurve import PublicKey
from eth_utils import keccak

from chain.readings import InvalidReading, Reading

EIP191_PREFIX = b"\x19Ethereum Signed Message:\n32"


@dataclass(frozen=True)
class Checked:
    """A reading whose signature holds, with the values derived from it."""

    reading: Reading
    device_id: bytes
    payload_hash: bytes
    leaf: bytes


@lru_cache(maxsize=65_536)
def device_id_of(name: str) -> bytes:
    """`chain.readings.device_id`, remembered (a node sees the same few devices all day)."""
    return keccak(text=name)


@lru_cache(maxsize=65_536)
def address_bytes(key: str) -> bytes:
    """A 0x-hex address as 20 bytes."""
    return bytes.fromhex(key.removeprefix("0x"))


def leaf_of(device_id: bytes, seq: int, payload_hash: bytes) -> bytes:
    """`chain.merkle.reading_leaf`: keccak(keccak(abi.encode(bytes32, uint64, bytes32)))."""
    return keccak(keccak(device_id + seq.to_bytes(32, "big") + payload_hash))


def check(reading: Reading, expected_key: str) -> Checked:
    """The reading with its hash and leaf if the registered `expected_key` signed it, else InvalidReading."""
    sig = reading.sig
    if len(sig) != 65 or sig[64] not in (27, 28):
        raise InvalidReading("bad_signature", "a signature is 65 bytes ending in v = 27 or 28")
    payload_hash = reading.payload_hash
    try:
        public = PublicKey.from_signature_and_message(
            sig[:64] + bytes([sig[64] - 27]), keccak(EIP191_PREFIX + payload_hash), hasher=None
        )
    except Exception as exc:  # noqa: BLE001 - any malformed signature is just a bad signature
        raise InvalidReading("bad_signature", "the signature does not recover") from exc
    if keccak(public.format(compressed=False)[1:])[12:] != address_bytes(expected_key):
        raise InvalidReading("bad_signature", f"not signed by the key registered for {reading.device}")
    device_id = device_id_of(reading.device)
    return Checked(reading, device_id, payload_hash, leaf_of(device_id, reading.seq, payload_hash))
