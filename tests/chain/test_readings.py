"""The signed reading format: hashing matches the ABI encoding, signatures recover, bad input is named."""

from __future__ import annotations

import dataclasses

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from chain.devnet import dev_account
from chain.readings import RANGES, InvalidReading, Measurements, Reading, parse, sign, verify

KEY = dev_account("sensor")
FIELDS = ("temp_mc", "humidity_pm", "weight_g", "lat_e7", "lon_e7", "door", "shock_mg")


def _reference_hash(r: Reading) -> bytes:
    m = r.m
    present = sum(1 << i for i, name in enumerate(FIELDS) if getattr(m, name) is not None)
    types = ["uint8", "bytes32", "uint64", "uint64", "int32", "uint16", "uint64", "int32", "int32", "uint8"]
    values = [
        1,
        r.device_id,
        r.seq,
        r.ts_ms,
        m.temp_mc or 0,
        m.humidity_pm or 0,
        m.weight_g or 0,
        m.lat_e7 or 0,
        m.lon_e7 or 0,
        1 if m.door == "open" else 0,
    ]
    return keccak(abi_encode([*types, "uint32", "uint8"], [*values, m.shock_mg or 0, present]))


measurements = st.builds(
    Measurements,
    temp_mc=st.none() | st.integers(*RANGES["temp_mc"]),
    humidity_pm=st.none() | st.integers(*RANGES["humidity_pm"]),
    weight_g=st.none() | st.integers(*RANGES["weight_g"]),
    lat_e7=st.none() | st.integers(*RANGES["lat_e7"]),
    lon_e7=st.none() | st.integers(*RANGES["lon_e7"]),
    door=st.none() | st.sampled_from(["open", "closed"]),
    shock_mg=st.none() | st.integers(*RANGES["shock_mg"]),
)


@given(m=measurements, seq=st.integers(0, 2**63 - 1), ts=st.integers(1, 2**63 - 1))
def test_payload_hash_matches_abi_encoding_and_signer_recovers(m: Measurements, seq: int, ts: int) -> None:
    reading = sign(Reading("LOT-7-temp-1", seq, ts, m), KEY)
    assert reading.payload_hash == _reference_hash(reading)
    expected = Account.recover_message(encode_defunct(primitive=reading.payload_hash), signature=reading.sig)
    assert reading.signer() == expected == KEY.address


def test_parse_round_trips_the_wire_format() -> None:
    reading = sign(Reading("LOT-7-weight-1", 3, 1_763_800_000_000, Measurements(weight_g=120_000_000)), KEY)
    parsed = parse(reading.to_json())
    assert parsed == reading
    verify(parsed, KEY.address)


@pytest.mark.parametrize(
    "field",
    ["seq", "ts_ms", "m"],
)
def test_verify_refuses_any_tampered_field(field: str) -> None:
    reading = sign(Reading("LOT-7-weight-1", 3, 1_763_800_000_000, Measurements(weight_g=120_000_000)), KEY)
    changed = {"seq": 4, "ts_ms": 1_763_800_000_001, "m": Measurements(weight_g=100_000_000)}[field]
    tampered = dataclasses.replace(reading, **{field: changed})
    with pytest.raises(InvalidReading) as info:
        verify(tampered, KEY.address)
    assert info.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "malformed"),
        (b'{"v": 2}', "malformed"),
        (
            b'{"v":1,"device":"a/b","seq":1,"ts":1,"m":{"weight_g":1},"sig":"0x' + b"00" * 65 + b'"}',
            "malformed",
        ),
        (
            b'{"v":1,"device":"d","seq":-1,"ts":1,"m":{"weight_g":1},"sig":"0x' + b"00" * 65 + b'"}',
            "malformed",
        ),
        (b'{"v":1,"device":"d","seq":1,"ts":1,"m":{},"sig":"0x' + b"00" * 65 + b'"}', "malformed"),
        (
            b'{"v":1,"device":"d","seq":1,"ts":1,"m":{"temp_mc":150000},"sig":"0x' + b"00" * 65 + b'"}',
            "out_of_range",
        ),
        (
            b'{"v":1,"device":"d","seq":1,"ts":1,"m":{"door":"ajar"},"sig":"0x' + b"00" * 65 + b'"}',
            "out_of_range",
        ),
        (b'{"v":1,"device":"d","seq":1,"ts":1,"m":{"weight_g":1},"sig":"0x12"}', "bad_signature"),
        (b"x" * 5000, "too_large"),
    ],
)
def test_parse_names_what_is_wrong(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidReading) as info:
        parse(payload)
    assert info.value.reason == reason


def test_signer_refuses_malformed_signatures() -> None:
    reading = Reading("d", 1, 1, Measurements(weight_g=1), sig=b"\x00" * 64 + b"\x05")
    with pytest.raises(InvalidReading):
        reading.signer()
