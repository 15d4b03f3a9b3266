"""The signature check every node runs on every reading (`chain.readings.check`, shared with the gateway).

Held against independent references: eth-account's EIP-191 recovery and eth-abi's encoding.
"""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from chain.readings import Checked, InvalidReading, Measurements, Reading, check, device_id, parse, sign

KEY = Account.from_key(b"\x21" * 32)
OTHER = Account.from_key(b"\x22" * 32)


@pytest.mark.parametrize(
    "reading",
    [
        Reading("LOT-7-weight-1", 1, 1_763_800_000_000, Measurements(weight_g=120_000_000)),
        Reading("d", 2**63 - 1, 1, Measurements(temp_mc=-50_000, door="open", lat_e7=-900_000_000)),
        Reading("LOT-7-gps", 12, 1_763_800_000_123, Measurements(lat_e7=360_671_234, lon_e7=1_203_823_456)),
    ],
)
def test_check_matches_eth_account_and_abi_encoding(reading: Reading) -> None:
    signed = parse(sign(reading, KEY).to_json())
    checked = check(signed, KEY.address)
    assert isinstance(checked, Checked)
    assert (
        Account.recover_message(encode_defunct(primitive=checked.payload_hash), signature=signed.sig)
        == KEY.address
    )
    assert checked.device_id == keccak(text=reading.device) == device_id(reading.device)
    inner = abi_encode(
        ["bytes32", "uint64", "bytes32"], [checked.device_id, signed.seq, checked.payload_hash]
    )
    assert checked.leaf == keccak(keccak(inner)) == signed.leaf
    assert check(signed, KEY.address.lower()).leaf == checked.leaf


def test_check_refuses_another_key() -> None:
    signed = parse(sign(Reading("dev-1", 1, 1_000, Measurements(weight_g=5)), OTHER).to_json())
    with pytest.raises(InvalidReading) as refused:
        check(signed, KEY.address)
    assert refused.value.reason == "bad_signature"


def test_check_refuses_a_tampered_reading() -> None:
    signed = parse(sign(Reading("dev-1", 1, 1_000, Measurements(weight_g=5)), KEY).to_json())
    tampered = Reading(signed.device, signed.seq, signed.ts_ms, Measurements(weight_g=6), signed.sig)
    with pytest.raises(InvalidReading) as refused:
        check(tampered, KEY.address)
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize("sig", [b"", b"\x01" * 64 + b"\x1b", b"\x00" * 64 + b"\x1c", b"\x01" * 64 + b"\x05"])
def test_check_refuses_malformed_signatures(sig: bytes) -> None:
    reading = Reading("dev-1", 1, 1_000, Measurements(weight_g=5), sig)
    with pytest.raises(InvalidReading) as refused:
        check(reading, KEY.address)
    assert refused.value.reason == "bad_signature"
