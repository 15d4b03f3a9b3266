"""Typed errors: custom-error revert data decoded by selector into the contract family's classes."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector

from chain.errors import (
    ChainError,
    ContractRevert,
    MemberRegistryError,
    OpenZeppelinError,
    ReceivableError,
    ScfError,
    SettlementError,
    decode_revert,
    error_class,
)
from contracts.artifacts import load_artifact

ACCOUNT = "0x" + "ab" * 20


def revert_data(signature: str, types: list[str], values: list[object]) -> bytes:
    return function_signature_to_4byte_selector(signature) + abi_encode(types, values)


UNAUTHORIZED = revert_data("MemberRegistryUnauthorized(address,uint16)", ["address", "uint16"], [ACCOUNT, 64])


def test_decode_revert_known_error_gives_typed_exception() -> None:
    error = decode_revert("0x" + UNAUTHORIZED.hex())
    assert error is not None
    assert type(error) is error_class("MemberRegistryUnauthorized")
    assert isinstance(error, MemberRegistryError)
    assert isinstance(error, ContractRevert) and isinstance(error, ChainError) and isinstance(error, ScfError)
    assert error.name == "MemberRegistryUnauthorized"
    assert error.args_by_name == {"account": ACCOUNT, "requiredRole": 64}
    assert error.data == "0x" + UNAUTHORIZED.hex()
    assert error.code == "contract_revert"
    assert str(error) == f"MemberRegistryUnauthorized(account='{ACCOUNT}', requiredRole=64)"


@pytest.mark.parametrize("form", ["hex", "bare-hex", "bytes"])
def test_decode_revert_accepts_hex_and_bytes(form: str) -> None:
    data = {"hex": "0x" + UNAUTHORIZED.hex(), "bare-hex": UNAUTHORIZED.hex(), "bytes": UNAUTHORIZED}[form]
    error = decode_revert(data)
    assert error is not None and error.name == "MemberRegistryUnauthorized"


def test_decode_revert_error_without_arguments() -> None:
    error = decode_revert(function_signature_to_4byte_selector("MemberRegistryInvalidInput()"))
    assert error is not None
    assert error.name == "MemberRegistryInvalidInput" and error.args_by_name == {}


def test_decode_revert_enum_argument_decoded_as_integer() -> None:
    data = revert_data("ReceivableWrongState(uint256,uint8)", ["uint256", "uint8"], [7, 2])
    error = decode_revert(data)
    assert isinstance(error, ReceivableError)
    assert error.args_by_name == {"id": 7, "state": 2}


def test_decode_revert_raises_and_catches_as_family() -> None:
    data = revert_data("ReceivableNotFound(uint256)", ["uint256"], [42])
    error = decode_revert(data)
    assert error is not None
    with pytest.raises(ReceivableError) as info:
        raise error
    assert info.value.args_by_name == {"id": 42}


def test_decode_revert_unknown_selector_is_none() -> None:
    assert decode_revert("0xdeadbeef" + "00" * 32) is None
    assert (
        decode_revert(function_signature_to_4byte_selector("Error(string)") + abi_encode(["string"], ["x"]))
        is None
    )


@pytest.mark.parametrize("data", [None, "", "0x", "0x12", "0x123456", b"\x01\x02\x03"])
def test_decode_revert_short_data_is_none(data: str | bytes | None) -> None:
    assert decode_revert(data) is None


def test_decode_revert_truncated_arguments_is_none() -> None:
    assert decode_revert(UNAUTHORIZED[:20]) is None


def _errors_of(contract: str) -> list[str]:
    return [item["name"] for item in load_artifact(contract)["abi"] if item["type"] == "error"]


@pytest.mark.parametrize(
    ("contract", "prefix", "family"),
    [
        ("Receivables", "Receivable", ReceivableError),
        ("MemberRegistry", "MemberRegistry", MemberRegistryError),
        ("SettlementToken", "Settlement", SettlementError),
        ("SettlementToken", "ERC20", SettlementError),
    ],
)
def test_error_class_family_catches_its_contract_errors(contract: str, prefix: str, family: type) -> None:
    names = [name for name in _errors_of(contract) if name.startswith(prefix)]
    assert names
    for name in names:
        cls = error_class(name)
        assert issubclass(cls, family), name
        assert cls.error_name == name
    others = {MemberRegistryError, ReceivableError, SettlementError, OpenZeppelinError} - {family}
    assert not any(issubclass(error_class(name), other) for name in names for other in others)


@pytest.mark.parametrize(
    "name",
    ["ReentrancyGuardReentrantCall", "SafeERC20FailedOperation", "InvalidAccountNonce", "StringTooLong"],
)
def test_error_class_openzeppelin_building_blocks(name: str) -> None:
    assert issubclass(error_class(name), OpenZeppelinError)
    assert not issubclass(error_class(name), ReceivableError)


def test_error_class_every_receivables_error_is_known() -> None:
    own = [name for name in _errors_of("Receivables") if name.startswith("Receivable")]
    assert len(own) == len({error_class(name) for name in own})


def test_error_class_unknown_name_raises_key_error() -> None:
    with pytest.raises(KeyError):
        error_class("NoSuchError")
