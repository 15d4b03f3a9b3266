"""The chain client maps a permissioned node's refusal of the sender to `NotPermitted`."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector
from web3.exceptions import ContractCustomError, Web3RPCError

from chain.client import ChainClient, revert_from
from chain.errors import ChainError, MemberRegistryError, NotPermitted
from node.testing import running_node

OPERATOR = Account.from_key("0x" + "a1" * 32)
OUTSIDER = Account.from_key("0x" + "c3" * 32)


def rpc_error(code: int, message: str, data: object = None) -> Web3RPCError:
    error: dict[str, object] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return Web3RPCError(message, rpc_response={"jsonrpc": "2.0", "id": 1, "error": error})


def test_embedded_node_refusal_raises_not_permitted_naming_sender(tmp_path: Path) -> None:
    # No registry configured: only the operator may transact.
    with running_node(tmp_path, dev=False, operator_address=OPERATOR.address) as node:
        client = ChainClient.connect(node.http_url, poll_interval_s=0.01)
        client.send(OPERATOR, {"to": OUTSIDER.address, "value": 10**18})

        with pytest.raises(NotPermitted) as info:
            client.send(OUTSIDER, {"to": OPERATOR.address, "value": 1}, gas=21_000)

    assert info.value.sender == OUTSIDER.address
    assert info.value.code == "not_permitted"
    assert isinstance(info.value, ChainError)
    assert OUTSIDER.address in str(info.value)


def test_besu_refusal_without_sender_data_maps_to_not_permitted() -> None:
    error = revert_from(rpc_error(-32007, "Sender account not authorized to send transactions"))
    assert isinstance(error, NotPermitted)
    assert error.sender is None
    assert str(error) == "Sender account not authorized to send transactions"


def test_refusal_sender_taken_from_message_when_data_is_missing() -> None:
    lower = OUTSIDER.address.lower()
    error = revert_from(rpc_error(-32003, f"sender {lower} is not permitted to transact"))
    assert isinstance(error, NotPermitted) and error.sender == OUTSIDER.address


def test_other_rpc_errors_are_not_mapped_to_not_permitted() -> None:
    error = revert_from(rpc_error(-32000, "nonce too low: address 0x" + "ab" * 20))
    assert type(error) is ChainError


def test_revert_data_still_decodes_to_contract_error() -> None:
    data = (
        function_signature_to_4byte_selector("MemberRegistryUnknownAccount(address)")
        + bytes(12)
        + b"\xab" * 20
    )
    error = revert_from(ContractCustomError("execution reverted", data="0x" + data.hex()))
    assert isinstance(error, MemberRegistryError) and error.name == "MemberRegistryUnknownAccount"
