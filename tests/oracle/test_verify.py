"""The node's own signature check and leaf give exactly what `chain.readings` and `chain.merkle` give."""

from __future__ import annotations

import pytest
from eth_account import Account

from chain.merkle import reading_leaf
from chain.readings import InvalidReading, Measurements, Reading, device_id, parse, sign, verify
from oracle.verify import check, device_id_of, leaf_of

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
def test_check_matches_chain_readings_and_merkle(reading: Reading) -> None:
    signed = parse(sign(reading, KEY).to_json())
    verify(signed, KEY.address)
    checked = check(signed, KEY.address)
    assert checked.device_id == device_id(reading.device) == device_id_of(reading.device)
    assert checked.payload_hash == signed.payload_hash
    assert checked.leaf == signed.leaf == reading_leaf(signed.device_id, signed.seq, signed.payload_hash)
    assert leaf_of(checked.device_id, signed.seq, checked.payload_hash) == checked.leaf
    assert check(signed, KEY.address.lower()).leaf == checked.leaf


def test_check_refuses_another_key_as_chain_readings_does() -> None:
    signed = parse(sign(Reading("dev-1", 1, 1_000, Measurements(weight_g=5)), OTHER).to_json())
    with pytest.raises(InvalidReading) as chain_says:
        verify(signed, KEY.address)
    with pytest.raises(InvalidReading) as node_says:
        check(signed, KEY.address)
    assert node_says.value.reason == chain_says.value.reason == "bad_signature"


@pytest.mark.parametrize("sig", [b"", b"\x01" * 64 + b"\x1b", b"\x00" * 64 + b"\x1c", b"\x01" * 64 + b"\x05"])
def test_check_refuses_malformed_signatures(sig: bytes) -> None:
    reading = Reading("dev-1", 1, 1_000, Measurements(weight_g=5), sig)
    with pytest.raises(InvalidReading) as refused:
        check(reading, KEY.address)
    assert refused.value.reason == "bad_signature"
