"""Standard JSON-RPC methods through web3.py's HTTPProvider and raw requests."""

from __future__ import annotations

import pytest
import requests
from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from node.testing import RunningNode
from tests.node import bytecode
from tests.node.conftest import CHAIN_ID, rpc


def deploy(w3: Web3, runtime: bytes) -> str:
    tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": bytecode.deployer(runtime)})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    assert receipt.status == 1
    return receipt.contractAddress


def test_meta_methods_report_configured_chain(w3: Web3) -> None:
    assert w3.eth.chain_id == CHAIN_ID
    assert w3.net.version == str(CHAIN_ID)
    assert w3.client_version.startswith("scfnet-node/")
    assert w3.eth.block_number == 0
    assert w3.eth.gas_price > w3.eth.get_block("latest").baseFeePerGas
    assert w3.eth.max_priority_fee == 10**9


def test_dev_accounts_match_mnemonic_and_are_funded(w3: Web3) -> None:
    accounts = w3.eth.accounts
    assert len(accounts) == 10
    assert accounts[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert all(w3.eth.get_balance(a) == 10_000 * 10**18 for a in accounts)


def test_send_transaction_with_default_gas_and_fees_is_mined(w3: Web3) -> None:
    sender, receiver = w3.eth.accounts[:2]
    before = w3.eth.get_balance(receiver)
    tx_hash = w3.eth.send_transaction({"from": sender, "to": receiver, "value": 12345})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    assert receipt.status == 1 and receipt.gasUsed == 21000 and receipt.type == 2
    assert w3.eth.get_balance(receiver) == before + 12345
    tx = w3.eth.get_transaction(tx_hash)
    assert tx["from"] == sender and tx["to"] == receiver and tx.blockNumber == 1
    block = w3.eth.get_block(1, full_transactions=True)
    assert block.transactions[0]["hash"] == tx_hash
    assert w3.eth.get_block(block.hash).number == 1
    assert w3.eth.get_transaction_count(sender) == 1
    assert w3.eth.get_transaction_count(sender, "pending") == 1
    fee = receipt.effectiveGasPrice
    assert fee == block.baseFeePerGas + 10**9


def test_signed_raw_transaction_is_accepted(w3: Web3, dev_account) -> None:
    tx = dict(
        type=2,
        chainId=CHAIN_ID,
        nonce=0,
        to=w3.eth.accounts[3],
        value=7,
        gas=21000,
        maxFeePerGas=5 * 10**9,
        maxPriorityFeePerGas=10**9,
    )
    raw = dev_account.sign_transaction(tx).raw_transaction
    tx_hash = w3.eth.send_raw_transaction(raw)
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10).status == 1
    legacy = dict(chainId=CHAIN_ID, nonce=1, to=w3.eth.accounts[3], value=1, gas=21000, gasPrice=5 * 10**9)
    tx_hash = w3.eth.send_raw_transaction(dev_account.sign_transaction(legacy).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    assert receipt.type == 0 and receipt.effectiveGasPrice == 5 * 10**9


def test_contract_deploy_call_storage_and_logs(w3: Web3) -> None:
    address = deploy(w3, bytecode.emitter_runtime())
    assert w3.eth.get_code(address) == bytecode.emitter_runtime()
    word = (42).to_bytes(32, "big")
    tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "data": word})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    assert w3.eth.get_storage_at(address, 0) == word
    assert w3.eth.get_storage_at(address, 0, receipt.blockNumber - 1) == b"\x00" * 32
    (log,) = receipt.logs
    assert log.topics == [bytecode.PING_TOPIC] and log.data == word
    logs = w3.eth.get_logs({"fromBlock": 0, "address": address, "topics": [bytecode.PING_TOPIC]})
    assert [entry.transactionHash for entry in logs] == [tx_hash]
    assert w3.eth.get_logs({"fromBlock": 0, "topics": [keccak(text="Other()")]}) == []
    assert w3.eth.get_logs({"blockHash": receipt.blockHash})[0].logIndex == 0
    assert w3.eth.call({"to": address, "data": word}) == b""


def test_estimate_gas_covers_contract_execution(w3: Web3) -> None:
    address = deploy(w3, bytecode.emitter_runtime())
    call = {"from": w3.eth.accounts[0], "to": address, "data": (7).to_bytes(32, "big")}
    estimate = w3.eth.estimate_gas(call)
    assert 21000 + 20000 < estimate < 80000
    # The estimate is enough to run the transaction for real.
    tx_hash = w3.eth.send_transaction({**call, "gas": estimate})
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10).status == 1


def test_revert_reports_code_3_with_data(w3: Web3, node: RunningNode) -> None:
    address = deploy(w3, bytecode.reverter_runtime())
    answer = rpc(node.http_url, "eth_call", {"to": address, "data": "0x"}, "latest")
    assert answer["error"]["code"] == 3
    assert answer["error"]["data"] == "0xdeadbeef"
    estimate = rpc(node.http_url, "eth_estimateGas", {"to": address})
    assert estimate["error"]["code"] == 3
    with pytest.raises((ContractCustomError, ContractLogicError)):
        w3.eth.call({"to": address})


def test_fee_history_reports_base_fees_and_rewards(w3: Web3) -> None:
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1]})
    )
    history = w3.eth.fee_history(2, "latest", [50])
    assert history.oldestBlock == 0
    assert len(history.baseFeePerGas) == 3
    assert history.reward[1] == [10**9]
    assert history.gasUsedRatio[1] == pytest.approx(21000 / 30_000_000)


def test_unknown_block_and_transaction_return_null(w3: Web3, node: RunningNode) -> None:
    assert rpc(node.http_url, "eth_getBlockByNumber", "0x99", False)["result"] is None
    assert rpc(node.http_url, "eth_getTransactionReceipt", "0x" + "11" * 32)["result"] is None
    assert rpc(node.http_url, "eth_getTransactionByHash", "0x" + "11" * 32)["result"] is None
    answer = rpc(node.http_url, "eth_getBalance", "0x" + "11" * 20, "0x99")
    assert answer["error"]["code"] == -32000 and "header not found" in answer["error"]["message"]


def test_batch_request_answers_each_in_order(node: RunningNode) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": "two", "method": "no_such_method", "params": []},
        {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []},  # notification
        {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber"},
    ]
    answers = requests.post(node.http_url, json=batch, timeout=10).json()
    assert [a["id"] for a in answers] == [1, "two", 3]
    assert answers[0]["result"] == hex(CHAIN_ID)
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["result"] == "0x0"


def test_block_by_hash_object_param_selects_state(w3: Web3, node: RunningNode) -> None:
    genesis = w3.eth.get_block(0)
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": 5})
    )
    answer = rpc(node.http_url, "eth_getBalance", w3.eth.accounts[1], {"blockHash": genesis.hash.to_0x_hex()})
    assert int(answer["result"], 16) == 10_000 * 10**18


def test_web3_batch_requests(w3: Web3) -> None:
    account = w3.eth.accounts[0]
    with w3.batch_requests() as batch:
        batch.add(w3.eth.get_block(0))
        batch.add(w3.eth.get_balance(account))
        block, balance = batch.execute()
    assert block.number == 0 and balance == 10_000 * 10**18


def test_web3_local_signing_with_default_fees_on_non_dev_node(tmp_path) -> None:
    from web3.middleware import SignAndSendRawMiddlewareBuilder

    from node.testing import running_node

    operator = Account.from_key("0x" + "e5" * 32)
    with running_node(tmp_path, dev=False, operator_address=operator.address) as node:
        w3 = Web3(Web3.HTTPProvider(node.http_url))
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(operator), layer=0)
        tx_hash = w3.eth.send_transaction({"from": operator.address, "to": "0x" + "66" * 20, "value": 3})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
        assert receipt.status == 1 and receipt.type == 2
        assert w3.eth.get_balance(Web3.to_checksum_address("0x" + "66" * 20)) == 3
