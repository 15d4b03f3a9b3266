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
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from coincurve import PublicKey
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

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
        encoded = _word(VERSION) + self.device_id + b"".join(_word(w) for w in words)
        return keccak(encoded)

    @property
    def leaf(self) -> bytes:
        """The Merkle leaf the goods oracle anchors for this reading."""
        return reading_leaf(self.device_id, self.seq, self.payload_hash)

    def signer(self) -> str:
        """The address whose key signed this reading (raises InvalidReading if the signature is malformed)."""
        sig = self.sig
        if len(sig) != 65 or sig[64] not in (27, 28):
            raise InvalidReading("bad_signature", "a signature is 65 bytes ending in v = 27 or 28")
        digest = keccak(_EIP191_PREFIX + self.payload_hash)
        try:
            public = PublicKey.from_signature_and_message(
                sig[:64] + bytes([sig[64] - 27]), digest, hasher=None
            )
        except Exception as exc:  # noqa: BLE001 - any malformed signature is just a bad signature
            raise InvalidReading("bad_signature", "the signature does not recover") from exc
        return to_checksum_address(keccak(public.format(compressed=False)[1:])[12:])

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


def _word(value: int) -> bytes:
    """A 32-byte two's-complement ABI word."""
    return (value % (1 << 256)).to_bytes(32, "big")


_EIP191_PREFIX = b"\x19Ethereum Signed Message:\n32"


def device_id(name: str) -> bytes:
    """The on-chain id of a device (WarehouseReceipts binds it to a lot and a key)."""
    return keccak(text=name)


def sign(reading: Reading, key: LocalAccount) -> Reading:
    """The reading signed by the device key."""
    signed = key.sign_message(encode_defunct(primitive=reading.payload_hash))
    return Reading(reading.device, reading.seq, reading.ts_ms, reading.m, bytes(signed.signature))


def parse(payload: bytes) -> Reading:
    """Parse and range-check a wire payload (the signature is checked by `verify`)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidReading("too_large", "payload larger than a reading can be")
    try:
        body: Any = json.loads(payload)
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
    if not _is_int(seq) or not 0 <= seq < 2**63 or not _is_int(ts) or not 0 < ts < 2**63:
        raise InvalidReading("malformed", "seq and ts must be non-negative integers")
    if not isinstance(m, dict) or set(m) - set(_FIELDS) or not m:
        raise InvalidReading("malformed", "measurements missing or unknown")
    values: dict[str, Any] = {}
    for name, value in m.items():
        if name == "door":
            if value not in DOOR_STATES:
                raise InvalidReading("out_of_range", "door is open or closed")
        else:
            low, high = RANGES[name]
            if not _is_int(value) or not low <= value <= high:
                raise InvalidReading("out_of_range", f"{name} out of range")
        values[name] = value
    if not isinstance(sig, str) or not sig.startswith("0x") or len(sig) != 132:
        raise InvalidReading("bad_signature", "sig must be 65 bytes of hex")
    try:
        sig_bytes = bytes.fromhex(sig[2:])
    except ValueError as exc:
        raise InvalidReading("bad_signature", "sig is not hex") from exc
    return Reading(device, seq, ts, Measurements(**values), sig_bytes)


def verify(reading: Reading, expected_key: str) -> None:
    """Check the reading was signed by the device key registered on chain."""
    if reading.signer().lower() != expected_key.lower():
        raise InvalidReading("bad_signature", f"not signed by the key registered for {reading.device}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
