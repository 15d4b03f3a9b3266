"""Instant mining (a block per transaction) and interval mining (many per block)."""

from __future__ import annotations

import time
from pathlib import Path

from eth_account import Account
from web3 import Web3

from node.testing import running_node
from tests.node.conftest import DEV_KEY, rpc, signed

DEV = Account.from_key(DEV_KEY)
OTHER = "0x" + "77" * 20


def send_raw(url: str, nonce: int) -> str:
    answer = rpc(url, "eth_sendRawTransaction", signed(DEV, nonce, to=OTHER, value=1))
    assert "result" in answer, answer
    return answer["result"]


def test_instant_mining_makes_one_block_per_transaction(tmp_path: Path) -> None:
    with running_node(tmp_path) as node:
        hashes = [send_raw(node.http_url, n) for n in range(5)]
        # Receipts exist as soon as eth_sendRawTransaction returns.
        blocks = [rpc(node.http_url, "eth_getTransactionReceipt", h)["result"]["blockNumber"] for h in hashes]
        assert blocks == ["0x1", "0x2", "0x3", "0x4", "0x5"]


def test_instant_mining_holds_nonce_gap_until_filled(tmp_path: Path) -> None:
    with running_node(tmp_path) as node:
        later = send_raw(node.http_url, 1)
        assert rpc(node.http_url, "eth_getTransactionReceipt", later)["result"] is None
        pending = rpc(node.http_url, "eth_getTransactionByHash", later)["result"]
        assert pending["blockNumber"] is None and pending["from"] == DEV.address
        assert rpc(node.http_url, "eth_getTransactionCount", DEV.address, "pending")["result"] == "0x0"
        send_raw(node.http_url, 0)
        receipt = rpc(node.http_url, "eth_getTransactionReceipt", later)["result"]
        assert receipt["blockNumber"] == "0x2"


def test_interval_mining_packs_many_transactions_per_block(tmp_path: Path) -> None:
    with running_node(tmp_path, mining_interval_s=0.5) as node:
        w3 = Web3(Web3.HTTPProvider(node.http_url))
        hashes = [send_raw(node.http_url, n) for n in range(20)]
        assert rpc(node.http_url, "eth_getTransactionCount", DEV.address, "pending")["result"] == hex(20)
        receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=10, poll_latency=0.05) for h in hashes]
        blocks = {r.blockNumber for r in receipts}
        assert len(blocks) <= 2
        block = w3.eth.get_block(max(blocks))
        assert len(block.transactions) >= 10
        assert [r.transactionIndex for r in receipts if r.blockNumber == block.number] == list(
            range(len(block.transactions))
        )


def test_interval_mining_makes_no_empty_blocks(tmp_path: Path) -> None:
    with running_node(tmp_path, mining_interval_s=0.05) as node:
        time.sleep(0.3)
        assert rpc(node.http_url, "eth_blockNumber")["result"] == "0x0"


def test_block_gas_limit_splits_a_large_pool(tmp_path: Path) -> None:
    with running_node(tmp_path, mining_interval_s=60, block_gas_limit=5_000_000) as node:
        senders = [Account.from_key(k.to_bytes()) for k in node.node.ledger.dev_keys[:5]]
        for account in senders:  # 5 x 60 transfers x 21000 gas > 5M
            for nonce in range(60):
                raw = signed(account, nonce, to=OTHER, value=1, gas=21000)
                assert "result" in rpc(node.http_url, "eth_sendRawTransaction", raw)
        headers = node.call(node.node.ledger.mine_pending)
        assert [h.block_number for h in headers] == [1, 2]
        assert headers[0].gas_used > 4_900_000
        for account in senders:
            count = rpc(node.http_url, "eth_getTransactionCount", account.address)
            assert count["result"] == hex(60)
