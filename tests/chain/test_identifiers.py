"""Credit codes (GB 32100-2015) and canonical invoice keys."""

from __future__ import annotations

import datetime as dt

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from chain.devnet import dev_credit_code
from chain.identifiers import (
    CreditCode,
    InvalidIdentifier,
    credit_code_bytes32,
    invoice_key,
    normalize_invoice_number,
    parse_credit_code,
    part_id,
    uscc_check_char,
)

KNOWN_VALID = "91350100M000100Y43"  # a real, published unified social credit code
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SELLER = CreditCode(KNOWN_VALID)
BUYER = dev_credit_code("huaxin")
ISSUED = dt.date(2024, 5, 1)


def key_of(**changes: object) -> int:
    fields: dict[str, object] = {
        "seller": SELLER,
        "buyer": BUYER,
        "invoice_number": "INV-1001",
        "amount_minor": 1_000_000_00,
        "issue_date": ISSUED,
    }
    fields.update(changes)
    return invoice_key(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- credit codes


def test_parse_credit_code_known_valid_code_passes() -> None:
    assert parse_credit_code(KNOWN_VALID) == KNOWN_VALID
    assert uscc_check_char(KNOWN_VALID[:17]) == "3"


def test_parse_credit_code_normalises_case_and_white_space() -> None:
    assert parse_credit_code(f"  {KNOWN_VALID.lower()}\n") == KNOWN_VALID


@pytest.mark.parametrize("check", [c for c in CHARSET if c != "3"])
def test_parse_credit_code_wrong_check_character_refused(check: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_credit_code(KNOWN_VALID[:17] + check)
    assert info.value.code == "invalid_credit_code"
    assert "check character" in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        KNOWN_VALID[:17],  # too short
        KNOWN_VALID + "0",  # too long
        "91350100M000100Y4 3",  # inner space
        "91350100I000100Y43",  # I, O, Z, S, V are not in the code's alphabet
        "91350100O000100Y43",
        "91350100Z000100Y43",
        "91350100S000100Y43",
        "91350100V000100Y43",
        "91350100M000100Y4-",
        "９1350100M000100Y43",  # full-width digit
    ],
)
def test_parse_credit_code_malformed_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_credit_code(raw)
    assert info.value.code == "invalid_credit_code"


@given(st.text(alphabet=CHARSET, min_size=17, max_size=17), st.integers(0, 16), st.integers(1, 30))
def test_parse_credit_code_single_substitution_detected(body: str, position: int, shift: int) -> None:
    code = body + uscc_check_char(body)
    assert parse_credit_code(code) == code
    replaced = CHARSET[(CHARSET.index(body[position]) + shift) % 31]
    tampered = body[:position] + replaced + body[position + 1 :] + code[17]
    with pytest.raises(InvalidIdentifier):
        parse_credit_code(tampered)


@pytest.mark.parametrize("name", ["operator", "huaxin", "delta", "bank-a"])
def test_dev_credit_code_is_well_formed(name: str) -> None:
    code = dev_credit_code(name)
    assert parse_credit_code(code) == code
    assert dev_credit_code(name) == code


def test_credit_code_bytes32_is_padded_ascii() -> None:
    raw = credit_code_bytes32(SELLER)
    assert len(raw) == 32
    assert raw == KNOWN_VALID.encode("ascii") + b"\0" * 14


# ---------------------------------------------------------------- invoice keys


@pytest.mark.parametrize(
    "number", ["INV-1001", "inv 1001", "INV1001", "Inv_1001", " inv/1001 ", "INV\t10-01"]
)
def test_invoice_key_formatting_of_number_ignored(number: str) -> None:
    assert key_of(invoice_number=number) == key_of(invoice_number="INV-1001")


@pytest.mark.parametrize(
    "changes",
    [
        {"seller": dev_credit_code("delta")},
        {"buyer": dev_credit_code("eastern")},
        {"seller": BUYER, "buyer": SELLER},
        {"invoice_number": "INV-1002"},
        {"invoice_number": "INV-10010"},
        {"amount_minor": 1_000_000_01},
        {"issue_date": dt.date(2024, 5, 2)},
    ],
    ids=["seller", "buyer", "swapped-parties", "number", "longer-number", "amount", "date"],
)
def test_invoice_key_changed_field_gives_other_key(changes: dict[str, object]) -> None:
    assert key_of(**changes) != key_of()


def test_invoice_key_is_stable_root_id() -> None:
    value = key_of()
    assert value == key_of()
    assert 0 < value < 2**255  # the top bit is reserved on chain for split parts' ids
    encoded = abi_encode(
        ["string", "bytes32", "bytes32", "string", "uint256", "string"],
        [
            "scfnet.invoice.v1",
            credit_code_bytes32(SELLER),
            credit_code_bytes32(BUYER),
            "INV1001",
            1_000_000_00,
            "2024-05-01",
        ],
    )
    assert value == int.from_bytes(keccak(encoded), "big") >> 1
    # Pinned: the key is the receivable id on chain, so its derivation must never drift.
    assert value == 0x6A9F27DB5CFF47D2691F95BB3BFE1E460C05CC9CB4237213DD7DB64AE3B652D0


def test_part_id_carries_top_bit_and_never_equals_an_invoice_key() -> None:
    root = key_of()
    parts = {part_id(root, index) for index in range(16)}
    assert len(parts) == 16
    assert all(part >> 255 == 1 for part in parts)
    assert root not in parts and part_id(part_id(root, 0), 0) >> 255 == 1


@pytest.mark.parametrize("amount", [0, -1])
def test_invoice_key_non_positive_amount_refused(amount: int) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        key_of(amount_minor=amount)
    assert info.value.code == "invalid_amount"


@pytest.mark.parametrize("number", ["", "  ", "--", "INV.1001", "INV#1001", "X" * 41])
def test_invoice_key_malformed_number_refused(number: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        key_of(invoice_number=number)
    assert info.value.code == "invalid_invoice_number"


def test_normalize_invoice_number_canonical_form() -> None:
    assert normalize_invoice_number(" inv-10_01/a ") == "INV1001A"
    assert normalize_invoice_number("X" * 40) == "X" * 40


@pytest.mark.parametrize("number", ["ＩＮＶ１００１", "ｉｎｖ－１００１", "INV\u30001001", "ＩＮＶ-1001"])
def test_invoice_key_full_width_number_same_key(number: str) -> None:
    # Regression: full-width forms (common in OCR of Chinese invoices) once gave the same invoice a
    # second key, which escaped the on-chain dedupe; NFKC folds them to ASCII.
    assert normalize_invoice_number(number) == "INV1001"
    assert key_of(invoice_number=number) == key_of(invoice_number="INV1001")


# Regression: look-alikes NFKC does not fold once gave the same invoice a second key.
@pytest.mark.parametrize(
    "number", ["\u0406NV1001", "INV\u0661\u0660\u0660\u0661"], ids=["cyrillic-I", "arabic-indic-digits"]
)
def test_invoice_key_look_alike_number_refused(number: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        key_of(invoice_number=number)
    assert info.value.code == "invalid_invoice_number"


def test_invoice_key_credit_codes_validated_and_normalised() -> None:
    assert key_of(seller=f" {KNOWN_VALID.lower()} ", buyer=BUYER.lower()) == key_of()
    tampered = KNOWN_VALID[:17] + "4"
    for field in ("seller", "buyer"):
        with pytest.raises(InvalidIdentifier) as info:
            key_of(**{field: tampered})
        assert info.value.code == "invalid_credit_code"


@pytest.mark.parametrize(
    "issued",
    [
        dt.datetime(2024, 5, 1),
        dt.datetime(2024, 5, 1, 23, 59, 59),
        dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    ],
    ids=["midnight", "end-of-day", "aware-cst"],
)
def test_invoice_key_datetime_issue_date_uses_its_date(issued: dt.datetime) -> None:
    assert key_of(issue_date=issued) == key_of(issue_date=ISSUED)
    assert key_of(issue_date=issued + dt.timedelta(days=1)) == key_of(issue_date=dt.date(2024, 5, 2))


@given(st.binary(min_size=1, max_size=64))
def test_invoice_key_always_a_valid_root_id(salt: bytes) -> None:
    value = key_of(invoice_number="INV" + salt.hex()[:37])
    assert 0 < value < 2**255


def test_lot_id_is_one_rule_for_api_and_tools() -> None:
    from api.services.goods import lot_id as api_lot_id
    from chain.identifiers import lot_id
    from iot_gateway.simulator import dev_lot_id

    assert lot_id("LOT-7") == keccak(text="lot:LOT-7")
    assert api_lot_id("LOT-7") == "0x" + lot_id("LOT-7").hex() == "0x" + dev_lot_id("LOT-7").hex()
    assert lot_id("LOT-7") != lot_id("lot-7")  # references are the warehouse's own, case and all
