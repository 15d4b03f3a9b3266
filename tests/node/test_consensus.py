"""Blocks the node builds (tuned interpreter, own block finalisation) are valid blocks to stock py-evm."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague import PragueVM
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite
from chain.devnet import dev_account, dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.roles import Role
from chain.suite import Suite
from node import evm
from node.chain import Ledger
from node.testing import running_node
from tests.node.conftest import rpc

OPERATOR = dev_account("operator")
DAY = 86_400


def _admit(client: ChainClient, suite: Suite, name: str, roles: Role) -> tuple[LocalAccount, int]:
    account = dev_account(f"consensus-{name}")
    code = credit_code_bytes32(dev_credit_code(f"consensus-{name}"))
    registry = suite.registry.functions
    client.transact(registry.admitOrganisation(code, name, int(roles), account.address), OPERATOR)
    client.send(OPERATOR, {"to": account.address, "value": 10**19})
    return account, client.call(registry.orgIdOf(code))


def _signed(account: LocalAccount, client: ChainClient, nonce: int, gas: int, **tx: Any) -> str:
    tx.update(client.fees(), chainId=client.chain_id, nonce=nonce, gas=gas)
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def _chain_of(ledger: Ledger) -> tuple[dict[str, Any], dict[bytes, int], list[tuple[Any, list[bytes]]]]:
    """Genesis, allocation and every block's header and encoded transactions (on the chain thread)."""
    genesis = ledger.header_by_number(0)
    assert genesis is not None
    blocks = []
    for number in range(1, ledger.head.block_number + 1):
        header = ledger.header_by_number(number)
        blocks.append((header, [tx.encode() for tx in ledger.transactions_of(header)]))
    params = evm.genesis_params(genesis.gas_limit, timestamp=genesis.timestamp)
    return params | {"hash": genesis.hash}, ledger.genesis_allocation(), blocks


def _import_into_stock_py_evm(chain_id: int, chain: Any) -> int:
    params, allocation, blocks = chain
    genesis_hash = params.pop("hash")
    stock_class = MiningChain.configure(
        __name__="Stock", vm_configuration=((0, PragueVM),), chain_id=chain_id
    )
    stock = stock_class.from_genesis(AtomicDB(), params, evm.genesis_state(allocation.items()))
    assert stock.get_canonical_head().hash == genesis_hash
    builder = PragueVM.get_transaction_builder()
    for header, encoded in blocks:
        # Fresh objects from the wire bytes: nothing the node's pool set on them carries over.
        txs = [builder.decode(raw) for raw in encoded]
        block = PragueVM.get_block_class()(header, txs, (), ())
        # Full validation: re-executes every tx and compares state, receipt and tx roots, gas, bloom.
        imported = stock.import_block(block).imported_block
        assert imported.hash == header.hash
    return len(blocks)


def test_register_workload_blocks_import_into_stock_py_evm(tmp_path: Path) -> None:
    settings = {"dev": True, "operator_address": OPERATOR.address}
    with running_node(tmp_path, **settings) as node:
        client = ChainClient.connect(node.http_url, poll_interval_s=0.01)
        deployment = deploy_suite(
            client, OPERATOR, SuiteParams(operator_credit_code=dev_credit_code("operator"))
        )
        suite = Suite.bind(client, deployment)
        _core, core_id = _admit(client, suite, "core", Role.CORE_FIRM)
        suppliers = [_admit(client, suite, f"supplier-{i}", Role.SUPPLIER)[0] for i in range(2)]

    registry = deployment.address("MemberRegistry")
    with running_node(tmp_path, registry_address=registry, mining_interval_s=0.2, **settings) as node:
        client = ChainClient.connect(node.http_url, poll_interval_s=0.01)
        receivables = Suite.bind(client, deployment).receivables
        due = client.w3.eth.get_block("latest")["timestamp"] + 90 * DAY
        raws: list[str] = []
        nonces = {s.address: 0 for s in suppliers}
        for index in range(12):
            supplier = suppliers[index % 2]
            invoice = int.from_bytes(keccak(text=f"consensus-{index % 10}"), "big") >> 1  # 10, 11 repeat
            data = receivables.functions.register(
                invoice, core_id, 100_00 + index, due, keccak(b"doc")
            )._encode_transaction_data()
            gas = 30_000 if index == 5 else 200_000  # one runs out of gas
            raws.append(
                _signed(supplier, client, nonces[supplier.address], gas, to=receivables.address, data=data)
            )
            nonces[supplier.address] += 1
        transfer = {"to": OPERATOR.address, "value": 1}
        raws.append(_signed(suppliers[0], client, nonces[suppliers[0].address], 21_000, **transfer))
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
            for i, raw in enumerate(raws)
        ]
        answers = sorted(requests.post(node.http_url, json=batch, timeout=30).json(), key=lambda a: a["id"])
        hashes = [a["result"] for a in answers]
        deadline = time.monotonic() + 30
        receipts = {}
        while len(receipts) < len(hashes):  # the senders' transactions may land in different blocks
            assert time.monotonic() < deadline
            for h in set(hashes) - set(receipts):
                if (receipt := rpc(node.http_url, "eth_getTransactionReceipt", h)["result"]) is not None:
                    receipts[h] = receipt
            time.sleep(0.05)
        statuses = [receipts[h]["status"] for h in hashes]
        # Registrations succeed, except the one out of gas and the two repeated invoices.
        assert [i for i, s in enumerate(statuses) if s == "0x0"] == [5, 10, 11], statuses
        assert statuses[-1] == "0x1"
        chain = node.call(_chain_of, node.node.ledger)

    assert _import_into_stock_py_evm(node.settings.chain_id, chain) > 10
