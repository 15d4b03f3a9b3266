"""Malformed requests and invalid transactions get standard errors; the node keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import rlp
from eth_account import Account
from eth_account._utils.legacy_transactions import (
    encode_transaction,
    serializable_unsigned_transaction_from_dict,
)

from node.testing import RunningNode, running_node
from tests.node.conftest import DEV_KEY, rpc, signed

DEV = Account.from_key(DEV_KEY)
POOR = Account.from_key("0x" + "d4" * 32)


@pytest.fixture(scope="module")
def small_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with running_node(tmp_path_factory.mktemp("bad"), max_request_bytes=64 * 1024) as node:
        yield node


def post_raw(node: RunningNode, body: bytes | str) -> requests.Response:
    return requests.post(node.http_url, data=body, headers={"Content-Type": "application/json"}, timeout=10)


def assert_still_serving(node: RunningNode) -> None:
    assert rpc(node.http_url, "eth_chainId")["result"] == "0x539"


def error_of(answer: dict[str, Any]) -> dict[str, Any]:
    assert "error" in answer, answer
    return answer["error"]


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'{"jsonrpc": "2.0", "id": 1,'])
def test_malformed_json_is_parse_error(small_node: RunningNode, body: bytes) -> None:
    answer = post_raw(small_node, body).json()
    assert answer["error"]["code"] == -32700 and answer["id"] is None
    assert_still_serving(small_node)


@pytest.mark.parametrize(
    "request_obj",
    [
        {"id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        {"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"},
        [],
        "eth_chainId",
        [1, 2],
    ],
)
def test_invalid_request_object_is_32600(small_node: RunningNode, request_obj: Any) -> None:
    answer = requests.post(small_node.http_url, json=request_obj, timeout=10).json()
    answers = answer if isinstance(answer, list) else [answer]
    assert all(a["error"]["code"] == -32600 for a in answers)
    assert_still_serving(small_node)


def test_unknown_method_is_32601(small_node: RunningNode) -> None:
    assert error_of(rpc(small_node.http_url, "eth_mineGold"))["code"] == -32601


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("eth_getBalance", ["0x1234"]),
        ("eth_getBalance", ["0x" + "11" * 20, "0xzz"]),
        ("eth_getBalance", []),
        ("eth_blockNumber", [1]),
        ("eth_getBlockByNumber", ["0x0", "yes"]),
        ("eth_sendRawTransaction", ["0x1234"]),
        ("eth_sendRawTransaction", [17]),
        ("eth_call", ["not-an-object"]),
        ("eth_getLogs", [{"topics": ["0x12"]}]),
        ("eth_getStorageAt", ["0x" + "11" * 20, "12"]),
    ],
)
def test_wrong_params_are_32602(small_node: RunningNode, method: str, params: list) -> None:
    error = error_of(rpc(small_node.http_url, method, *params))
    assert error["code"] == -32602, error
    assert_still_serving(small_node)


def test_params_as_object_are_32602(small_node: RunningNode) -> None:
    answer = requests.post(
        small_node.http_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": {"a": 1}},
        timeout=10,
    ).json()
    assert answer["error"]["code"] == -32602


def test_oversized_request_is_413(small_node: RunningNode) -> None:
    body = '{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"data":"0x' + "00" * 100_000 + '"}]}'
    assert post_raw(small_node, body).status_code == 413
    assert_still_serving(small_node)


def test_dev_methods_refused_when_not_dev(tmp_path: Path) -> None:
    with running_node(tmp_path, dev=False) as node:
        for method in ("evm_snapshot", "evm_mine", "eth_accounts", "anvil_setBalance"):
            error = error_of(rpc(node.http_url, method))
            assert error["code"] == -32601 and "dev mode" in error["message"]


def tamper_signature(raw_hex: str) -> str:
    """Replace r with a value that is not an x coordinate on secp256k1."""
    raw = bytes.fromhex(raw_hex[2:])
    tx_type, fields = raw[:1], rlp.decode(raw[1:])
    fields[-2] = (5).to_bytes(1, "big")
    return "0x" + (tx_type + rlp.encode(fields)).hex()


@pytest.mark.parametrize(
    ("make_raw", "expected"),
    [
        (lambda: tamper_signature(signed(DEV, 0, to=POOR.address)), "invalid sender"),
        (lambda: signed(DEV, 0, to=POOR.address, chain_id=1), "invalid chain id"),
        (lambda: signed(DEV, 500, to=POOR.address), "nonce too high"),
        (lambda: signed(POOR, 0, to=DEV.address, value=1), "insufficient funds"),
        (lambda: signed(DEV, 0, to=POOR.address, gas=20_000), "intrinsic gas too low"),
        (lambda: signed(DEV, 0, to=POOR.address, gas=31_000_000), "exceeds block gas limit"),
        (lambda: signed(DEV, 0, to=POOR.address, max_fee=10**9 // 2), "less than block base fee"),
    ],
)
def test_invalid_transaction_rejected_with_clear_error(
    small_node: RunningNode, make_raw, expected: str
) -> None:
    error = error_of(rpc(small_node.http_url, "eth_sendRawTransaction", make_raw()))
    assert error["code"] == -32000, error
    assert expected in error["message"]
    assert_still_serving(small_node)


def test_unprotected_legacy_transaction_rejected(small_node: RunningNode) -> None:
    unsigned = serializable_unsigned_transaction_from_dict(
        {"nonce": 0, "gasPrice": 10**10, "gas": 21000, "to": POOR.address, "value": 0, "data": b""}
    )
    # eth-account always adds a chain id when signing a dict: sign the hash by hand.
    signature = DEV.unsafe_sign_hash(unsigned.hash())
    encoded = encode_transaction(unsigned, (signature.v, signature.r, signature.s))
    error = error_of(rpc(small_node.http_url, "eth_sendRawTransaction", "0x" + encoded.hex()))
    assert "replay-protected" in error["message"]


def test_nonce_too_low_after_mining(small_node: RunningNode) -> None:
    nonce = int(rpc(small_node.http_url, "eth_getTransactionCount", DEV.address, "pending")["result"], 16)
    first = rpc(small_node.http_url, "eth_sendRawTransaction", signed(DEV, nonce, to=POOR.address, value=1))
    assert "result" in first, first
    again = rpc(small_node.http_url, "eth_sendRawTransaction", signed(DEV, nonce, to=POOR.address, value=2))
    assert error_of(again)["code"] == -32000
    assert "nonce too low" in again["error"]["message"]
