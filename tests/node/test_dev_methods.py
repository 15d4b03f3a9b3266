"""Dev-mode methods: snapshots, manual mining, time control, balances."""

from __future__ import annotations

from web3 import Web3

from node.testing import RunningNode
from tests.node.conftest import rpc


def transfer(w3: Web3, value: int = 1) -> str:
    tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": value})
    w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    return tx_hash.to_0x_hex()


def test_snapshot_revert_restores_head_and_forgets_transactions(w3: Web3, node: RunningNode) -> None:
    url = node.http_url
    transfer(w3)
    snap = rpc(url, "evm_snapshot")["result"]
    balance = w3.eth.get_balance(w3.eth.accounts[1])
    reverted_tx = transfer(w3, 1000)
    assert w3.eth.block_number == 2
    assert rpc(url, "evm_revert", snap)["result"] is True
    assert w3.eth.block_number == 1
    assert w3.eth.get_balance(w3.eth.accounts[1]) == balance
    assert rpc(url, "eth_getTransactionReceipt", reverted_tx)["result"] is None
    assert rpc(url, "evm_revert", snap)["result"] is False
    # The chain continues from the restored head with the same nonce.
    transfer(w3)
    assert w3.eth.block_number == 2
    assert w3.eth.get_transaction_count(w3.eth.accounts[0]) == 2


def test_evm_mine_and_timestamps(w3: Web3, node: RunningNode) -> None:
    url = node.http_url
    start = w3.eth.get_block("latest").timestamp
    assert rpc(url, "evm_mine")["result"] == "0x0"
    assert w3.eth.block_number == 1
    assert rpc(url, "evm_setNextBlockTimestamp", hex(start + 1000))["result"] is None
    rpc(url, "evm_mine")
    assert w3.eth.get_block("latest").timestamp == start + 1000
    assert rpc(url, "evm_increaseTime", hex(5000))["result"] == hex(5000)
    rpc(url, "evm_mine")
    assert w3.eth.get_block("latest").timestamp >= start + 5000
    rpc(url, "evm_mine", {"timestamp": start + 100_000})
    assert w3.eth.get_block("latest").timestamp == start + 100_000
    error = rpc(url, "evm_setNextBlockTimestamp", hex(start))["error"]
    assert error["code"] == -32602


def test_anvil_set_balance(w3: Web3, node: RunningNode) -> None:
    target = "0x" + "ab" * 20
    assert rpc(node.http_url, "anvil_setBalance", target, hex(10**20))["result"] is None
    assert w3.eth.get_balance(Web3.to_checksum_address(target)) == 10**20


def test_send_transaction_from_unknown_account_is_refused(node: RunningNode) -> None:
    answer = rpc(
        node.http_url,
        "eth_sendTransaction",
        {"from": "0x" + "12" * 20, "to": "0x" + "34" * 20, "value": "0x1"},
    )
    assert answer["error"]["code"] == -32000
    assert "unknown account" in answer["error"]["message"]
