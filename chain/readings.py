"""Signed sensor readings: the wire format devices publish, their hash, and its Merkle leaf.

A device signs the reading's `payload_hash` (EIP-191 "personal" message over the 32-byte hash, so a
device key can never be made to sign a transaction). The hash covers every field; the leaf the
goods oracle anchors is `chain.merkle.reading_leaf(device_id, seq, payload_hash)`, which the
GoodsOracle contract verifies with `verifyReading`.

Wire format (JSON, MQTT topic `devices/{device}/telemetry`):
    {"v": 1, "device": "LOT-7-weight-1", "seq": 12, "ts": 1763800000000,
     "m": {"temp_mc": 21500, "humidity_pm": 455, "weight_g": 120000000, "lat_e7": 360671234,
           "lon_e7": 1203823456, "door": "closed", "shock_mg": 20},
     "sig": "0x<65 bytes>"}
Every measurement is optional (a weight sensor sends only weight_g); units are in the names.
Device names are 1-64 characters of [A-Za-z0-9._-], so they fit one MQTT topic level.

Batches (the gateway republishes verified readings of a lot as one MQTT message on `verified/{lot}`):
    b"SCFB" 0x01 | count: uint32 | count x (length: uint32 | the reading's exact wire bytes)
all integers big-endian. The original bytes travel unchanged, so every consumer checks every
signature itself; `decode_batch` refuses a frame whose lengths do not add up exactly.

`check` is the one signature check of the IoT path (gateway, every oracle node, the API): it
computes each hash once and compares the recovered key as 20 raw bytes.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from coincurve import PublicKey
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from chain.keccak import keccak256 as keccak
from chain.merkle import reading_leaf

VERSION = 1
DEVICE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Accepted ranges, inclusive. A reading outside them is physically implausible: dropped, counted.
RANGES: dict[str, tuple[int, int]] = {
    "temp_mc": (-50_000, 100_000),  # -50 °C .. 100 °C
    "humidity_pm": (0, 1_000),  # per mille relative humidity
    "weight_g": (0, 1_000_000_000),  # up to 1,000 t
    "lat_e7": (-900_000_000, 900_000_000),
    "lon_e7": (-1_800_000_000, 1_800_000_000),
    "shock_mg": (0, 200_000),  # up to 200 g
}
DOOR_STATES = ("closed", "open")
_FIELDS = ("temp_mc", "humidity_pm", "weight_g", "lat_e7", "lon_e7", "door", "shock_mg")
_FIELD_SET = frozenset(_FIELDS)
MAX_PAYLOAD_BYTES = 2_048


class InvalidReading(ValueError):
    """A payload that is not a well-formed, in-range, correctly signed reading; `reason` says which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Measurements:
    temp_mc: int | None = None
    humidity_pm: int | None = None
    weight_g: int | None = None
    lat_e7: int | None = None
    lon_e7: int | None = None
    door: str | None = None
    shock_mg: int | None = None


@dataclass(frozen=True)
class Reading:
    """One signed reading of one device."""

    device: str
    seq: int
    ts_ms: int
    m: Measurements = field(default_factory=Measurements)
    sig: bytes = b""

    @property
    def device_id(self) -> bytes:
        return device_id(self.device)

    @property
    def payload_hash(self) -> bytes:
        """keccak256 of the ABI encoding of every field (absent ones flagged by a presence mask)."""
        m = self.m
        present = sum(1 << i for i, name in enumerate(_FIELDS) if getattr(m, name) is not None)
        door = 1 if m.door == "open" else 0
        # abi.encode of fixed-size values, written word by word: this runs for every reading on the
        # gateway and on each oracle node (tests check it against eth_abi).
        words = (
            self.seq,
            self.ts_ms,
            m.temp_mc or 0,
            m.humidity_pm or 0,
            m.weight_g or 0,
            m.lat_e7 or 0,
            m.lon_e7 or 0,
            door,
            m.shock_mg or 0,
            present,
        )
        # Every value fits 256 bits signed (seq, ts < 2**63; ranges far smaller): the signed big-endian
        # 32-byte form is the ABI's two's-complement word.
        encoded = (
            _VERSION_WORD + self.device_id + b"".join([w.to_bytes(32, "big", signed=True) for w in words])
        )
        return keccak(encoded)

    @property
    def leaf(self) -> bytes:
        """The Merkle leaf the goods oracle anchors for this reading."""
        return reading_leaf(self.device_id, self.seq, self.payload_hash)

    def signer(self) -> str:
        """The address whose key signed this reading (raises InvalidReading if the signature is malformed)."""
        return to_checksum_address(_recover(self.sig, self.payload_hash))

    def to_json(self) -> bytes:
        body = {
            "v": VERSION,
            "device": self.device,
            "seq": self.seq,
            "ts": self.ts_ms,
            "m": {k: v for k, v in asdict(self.m).items() if v is not None},
            "sig": "0x" + self.sig.hex(),
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True, slots=True)
class Checked:
    """A reading whose signature holds, with the values derived from it."""

    reading: Reading
    device_id: bytes
    payload_hash: bytes
    leaf: bytes


def _word(value: int) -> bytes:
    """A 32-byte two's-complement ABI word."""
    return (value % (1 << 256)).to_bytes(32, "big")


_VERSION_WORD = _word(VERSION)
_EIP191_PREFIX = b"\x19Ethereum Signed Message:\n32"


@lru_cache(maxsize=65_536)
def device_id(name: str) -> bytes:
    """The on-chain id of a device (WarehouseReceipts binds it to a lot and a key)."""
    return keccak(name.encode())


@lru_cache(maxsize=65_536)
def _address_bytes(key: str) -> bytes:
    return bytes.fromhex(key.removeprefix("0x"))


def _recover(sig: bytes, payload_hash: bytes) -> bytes:
    """The 20-byte address whose key made `sig` over the EIP-191 message of `payload_hash`."""
    if len(sig) != 65 or sig[64] not in (27, 28):
        raise InvalidReading("bad_signature", "a signature is 65 bytes ending in v = 27 or 28")
    try:
        public = PublicKey.from_signature_and_message(
            sig[:64] + bytes((sig[64] - 27,)), keccak(_EIP191_PREFIX + payload_hash), hasher=None
        )
    except Exception as exc:  # noqa: BLE001 - any malformed signature is just a bad signature
        raise InvalidReading("bad_signature", "the signature does not recover") from exc
    return keccak(public.format(compressed=False)[1:])[12:]


def check(reading: Reading, expected_key: str) -> Checked:
    """The reading with its hash and leaf if the registered `expected_key` signed it, else InvalidReading."""
    payload_hash = reading.payload_hash
    if _recover(reading.sig, payload_hash) != _address_bytes(expected_key):
        raise InvalidReading("bad_signature", f"not signed by the key registered for {reading.device}")
    did = device_id(reading.device)
    return Checked(
        reading, did, payload_hash, keccak(keccak(did + reading.seq.to_bytes(32, "big") + payload_hash))
    )


def sign(reading: Reading, key: LocalAccount) -> Reading:
    """The reading signed by the device key."""
    signed = key.sign_message(encode_defunct(primitive=reading.payload_hash))
    return Reading(reading.device, reading.seq, reading.ts_ms, reading.m, bytes(signed.signature))


def parse(payload: bytes) -> Reading:
    """Parse and range-check a wire payload (the signature is checked by `verify`)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidReading("too_large", "payload larger than a reading can be")
    try:
        body: Any = json.loads(payload.decode())  # str in: json skips guessing the encoding
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidReading("malformed", "payload is not JSON") from exc
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise InvalidReading("malformed", "not a version-1 reading")
    device, seq, ts, m, sig = (
        body.get("device"),
        body.get("seq"),
        body.get("ts"),
        body.get("m"),
        body.get("sig"),
    )
    if not isinstance(device, str) or not DEVICE_NAME.fullmatch(device):
        raise InvalidReading("malformed", "bad device name")
    # `type(x) is int`: JSON gives plain ints only, and it keeps booleans out (this runs per reading
    # on the gateway and on every oracle node).
    if type(seq) is not int or not 0 <= seq < 2**63 or type(ts) is not int or not 0 < ts < 2**63:
        raise InvalidReading("malformed", "seq and ts must be non-negative integers")
    if not isinstance(m, dict) or not m or not _FIELD_SET.issuperset(m):
        raise InvalidReading("malformed", "measurements missing or unknown")
    for name, value in m.items():
        if name == "door":
            if value not in DOOR_STATES:
                raise InvalidReading("out_of_range", "door is open or closed")
        else:
            low, high = RANGES[name]
            if type(value) is not int or not low <= value <= high:
                raise InvalidReading("out_of_range", f"{name} out of range")
    if not isinstance(sig, str) or not sig.startswith("0x") or len(sig) != 132:
        raise InvalidReading("bad_signature", "sig must be 65 bytes of hex")
    try:
        sig_bytes = bytes.fromhex(sig[2:])
    except ValueError as exc:
        raise InvalidReading("bad_signature", "sig is not hex") from exc
    return Reading(device, seq, ts, Measurements(**m), sig_bytes)


def verify(reading: Reading, expected_key: str) -> None:
    """Check the reading was signed by the device key registered on chain."""
    check(reading, expected_key)


BATCH_MAGIC = b"SCFB\x01"
_U32 = struct.Struct(">I")
MAX_BATCH_READINGS = 100_000


def is_batch(payload: bytes) -> bool:
    """Whether `payload` is a batch frame (a single reading is JSON and starts with `{`)."""
    return payload[:5] == BATCH_MAGIC


def batch_count(payload: bytes) -> int:
    """How many readings `payload` announces: a batch frame's count, 1 for anything else."""
    if is_batch(payload) and len(payload) >= 9:
        return max(1, min(_U32.unpack_from(payload, 5)[0], MAX_BATCH_READINGS))
    return 1


def encode_batch(payloads: Sequence[bytes]) -> bytes:
    """One frame carrying `payloads` (readings' wire bytes) unchanged, in order."""
    parts = [BATCH_MAGIC, _U32.pack(len(payloads))]
    for payload in payloads:
        parts.append(_U32.pack(len(payload)))
        parts.append(payload)
    return b"".join(parts)


def decode_batch(frame: bytes) -> list[bytes]:
    """The payloads of a batch frame; InvalidReading("bad_batch") unless the frame is exactly well formed."""
    if not is_batch(frame) or len(frame) < 9:
        raise InvalidReading("bad_batch", "not a batch frame")
    (count,) = _U32.unpack_from(frame, 5)
    if count > MAX_BATCH_READINGS:
        raise InvalidReading("bad_batch", "batch announces too many readings")
    payloads = []
    offset = 9
    end = len(frame)
    unpack = _U32.unpack_from
    for _ in range(count):
        if offset + 4 > end:
            raise InvalidReading("bad_batch", "batch frame cut short")
        (length,) = unpack(frame, offset)
        offset += 4
        if offset + length > end:
            raise InvalidReading("bad_batch", "batch frame cut short")
        payloads.append(frame[offset : offset + length])
        offset += length
    if offset != end:
        raise InvalidReading("bad_batch", "bytes after the last reading of a batch")
    return payloads
