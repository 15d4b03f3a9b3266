"""Account permissioning against a member registry exposing isActive(address)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import requests
from eth_account import Account
from web3 import Web3

from chain.client import ChainClient
from chain.devnet import dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.roles import Role
from node.testing import running_node
from tests.node import bytecode
from tests.node.conftest import CHAIN_ID, rpc, signed

OPERATOR = Account.from_key("0x" + "a1" * 32)
MEMBER = Account.from_key("0x" + "b2" * 32)
OUTSIDER = Account.from_key("0x" + "c3" * 32)
REGISTRY = bytecode.create_address(bytes.fromhex(OPERATOR.address[2:]), 0)


def send(url: str, account, nonce: int, **kwargs) -> dict:
    return rpc(url, "eth_sendRawTransaction", signed(account, nonce, **kwargs))


def fund(url: str, nonce: int, account) -> None:
    answer = send(url, OPERATOR, nonce, to=account.address, value=10**18)
    assert "result" in answer, answer


def test_without_registry_only_operator_may_send(tmp_path: Path) -> None:
    with running_node(tmp_path, dev=False, operator_address=OPERATOR.address) as node:
        fund(node.http_url, 0, OUTSIDER)
        answer = send(node.http_url, OUTSIDER, 0, to=OPERATOR.address)
        assert answer["error"]["code"] == -32003
        assert OUTSIDER.address in answer["error"]["message"]
        assert answer["error"]["data"] == {"sender": OUTSIDER.address}
        assert rpc(node.http_url, "eth_blockNumber")["result"] == "0x1"


def test_dev_mode_without_operator_lets_everyone_send(tmp_path: Path) -> None:
    with running_node(tmp_path, dev=True) as node:
        w3 = Web3(Web3.HTTPProvider(node.http_url))
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": OUTSIDER.address, "value": 10**18})
        answer = send(node.http_url, OUTSIDER, 0, to=OPERATOR.address)
        assert "result" in answer, answer


def test_registry_admission_and_suspension_apply_at_once(tmp_path: Path) -> None:
    with running_node(
        tmp_path, dev=False, operator_address=OPERATOR.address, registry_address="0x" + REGISTRY.hex()
    ) as node:
        url = node.http_url
        registry = Web3.to_checksum_address(REGISTRY)
        deployed = send(url, OPERATOR, 0, data=bytecode.deployer(bytecode.registry_runtime()), gas=200_000)
        assert "result" in deployed, deployed
        fund(url, 1, MEMBER)

        refused = send(url, MEMBER, 0, to=OPERATOR.address)
        assert refused["error"]["code"] == -32003
        assert MEMBER.address in refused["error"]["message"]
        assert "not an active member" in refused["error"]["message"]
        head = rpc(url, "eth_blockNumber")["result"]

        admit = bytecode.set_active_calldata(bytes.fromhex(MEMBER.address[2:]), True)
        assert "result" in send(url, OPERATOR, 2, to=registry, data=admit)
        accepted = send(url, MEMBER, 0, to=OPERATOR.address)
        assert "result" in accepted, accepted
        receipt = rpc(url, "eth_getTransactionReceipt", accepted["result"])["result"]
        assert receipt["status"] == "0x1"
        assert int(receipt["blockNumber"], 16) == int(head, 16) + 2

        suspend = bytecode.set_active_calldata(bytes.fromhex(MEMBER.address[2:]), False)
        assert "result" in send(url, OPERATOR, 3, to=registry, data=suspend)
        again = send(url, MEMBER, 1, to=OPERATOR.address)
        assert again["error"]["code"] == -32003


def test_registry_answer_is_reused_until_the_registry_state_changes(tmp_path: Path) -> None:
    with running_node(
        tmp_path, dev=False, operator_address=OPERATOR.address, registry_address="0x" + REGISTRY.hex()
    ) as node:
        url = node.http_url
        member = bytes.fromhex(MEMBER.address[2:])
        assert "result" in send(
            url, OPERATOR, 0, data=bytecode.deployer(bytecode.registry_runtime()), gas=200_000
        )
        fund(url, 1, MEMBER)
        admit = bytecode.set_active_calldata(member, True)
        assert "result" in send(url, OPERATOR, 2, to=Web3.to_checksum_address(REGISTRY), data=admit)
        permissioning = node.node.permissioning
        asks: list[bytes] = []
        ask = permissioning._ask_registry
        node.call(setattr, permissioning, "_ask_registry", lambda sender: asks.append(sender) or ask(sender))

        # Instant mining: a block per transaction, and the registry asked once.
        for nonce in range(3):
            assert "result" in send(url, MEMBER, nonce, to=OPERATOR.address), nonce
        assert asks.count(member) == 1

        # Suspended through another contract (no direct call to the registry, no event): the
        # registry's storage root changes, so the next transaction is checked afresh and refused.
        forwarder = bytecode.create_address(bytes.fromhex(OPERATOR.address[2:]), 3)
        deployed = send(
            url, OPERATOR, 3, data=bytecode.deployer(bytecode.forwarder_runtime(REGISTRY)), gas=200_000
        )
        assert "result" in deployed, deployed
        suspend = bytecode.set_active_calldata(member, False)
        assert "result" in send(
            url, OPERATOR, 4, to=Web3.to_checksum_address(forwarder), data=suspend, gas=200_000
        )
        refused = send(url, MEMBER, 3, to=OPERATOR.address)
        assert refused["error"]["code"] == -32003, refused
        assert asks.count(member) == 2


def test_refused_transaction_never_reaches_pool_or_block(tmp_path: Path) -> None:
    with running_node(
        tmp_path,
        dev=False,
        operator_address=OPERATOR.address,
        registry_address="0x" + REGISTRY.hex(),
        mining_interval_s=0.05,
    ) as node:
        raw = signed(OUTSIDER, 0, to=OPERATOR.address, max_fee=0, value=0)
        answer = rpc(node.http_url, "eth_sendRawTransaction", raw)
        assert answer["error"]["code"] == -32003
        tx_hash = Web3.keccak(hexstr=raw).to_0x_hex()
        assert rpc(node.http_url, "eth_getTransactionByHash", tx_hash)["result"] is None
        assert node.call(lambda: len(node.node.ledger.pool)) == 0


def test_registry_calls_reads_are_not_permissioned(tmp_path: Path) -> None:
    with running_node(
        tmp_path, dev=False, operator_address=OPERATOR.address, registry_address="0x" + REGISTRY.hex()
    ) as node:
        answer = rpc(
            node.http_url,
            "eth_call",
            {
                "from": OUTSIDER.address,
                "to": "0x" + REGISTRY.hex(),
                "data": "0x" + bytecode.IS_ACTIVE.hex() + "00" * 32,
            },
        )
        # Registry not deployed yet: empty output, but the read itself is served.
        assert answer["result"] == "0x"


def _raw(account, fn_or_tx, nonce: int, client: ChainClient, gas: int) -> str:
    tx = (
        dict(fn_or_tx)
        if isinstance(fn_or_tx, dict)
        else {"to": fn_or_tx.address, "data": fn_or_tx._encode_transaction_data()}
    )
    tx.update(client.fees(), chainId=CHAIN_ID, nonce=nonce, gas=gas)
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def _batch(url: str, *raws: str) -> list[dict]:
    answers = requests.post(
        url,
        json=[
            {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
            for i, raw in enumerate(raws)
        ],
        timeout=30,
    ).json()
    return sorted(answers, key=lambda a: a["id"])


def _receipt(url: str, tx_hash: str) -> dict:
    deadline = time.monotonic() + 10
    while (receipt := rpc(url, "eth_getTransactionReceipt", tx_hash)["result"]) is None:
        assert time.monotonic() < deadline, f"no receipt for {tx_hash}"
        time.sleep(0.02)
    return receipt


def test_suspension_mined_before_block_drops_accepted_transaction(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    operator_credit = credit_code_bytes32(dev_credit_code("operator"))
    registry_address = bytecode.create_address(bytes.fromhex(OPERATOR.address[2:]), 0)
    with (
        running_node(
            tmp_path,
            dev=False,
            operator_address=OPERATOR.address,
            registry_address="0x" + registry_address.hex(),
            mining_interval_s=0.1,
        ) as node,
        caplog.at_level(logging.WARNING, "node.chain"),
    ):
        url = node.http_url
        client = ChainClient.connect(url, poll_interval_s=0.01)
        registry, _ = client.deploy("MemberRegistry", OPERATOR, operator_credit, "operator", OPERATOR.address)
        assert registry.address == Web3.to_checksum_address(registry_address)
        code = credit_code_bytes32(dev_credit_code("member"))
        client.transact(
            registry.functions.admitOrganisation(code, "member", int(Role.SUPPLIER), MEMBER.address), OPERATOR
        )
        client.send(OPERATOR, {"to": MEMBER.address, "value": 10**18})
        org_id = client.call(registry.functions.orgIdOf(code))
        nonce = client.w3.eth.get_transaction_count(OPERATOR.address, "pending")
        transfer = {"to": OPERATOR.address, "value": 1}

        # One batch: the suspension is pooled first, so the member's transfer is still accepted...
        suspend = _raw(OPERATOR, registry.functions.suspendOrganisation(org_id), nonce, client, 200_000)
        late = _raw(MEMBER, transfer, 0, client, 21_000)
        answers = _batch(url, suspend, late)
        assert all("result" in a for a in answers), answers
        suspended, late_hash = (a["result"] for a in answers)
        # ...but the block ends after the suspension, and the next one drops the transfer.
        assert _receipt(url, suspended)["status"] == "0x1"
        deadline = time.monotonic() + 5
        while node.call(lambda: len(node.node.ledger.pool)):
            assert time.monotonic() < deadline, "pool never drained"
            time.sleep(0.02)
        assert rpc(url, "eth_getTransactionByHash", late_hash)["result"] is None
        assert rpc(url, "eth_getTransactionCount", MEMBER.address, "latest")["result"] == "0x0"
        assert any(
            late_hash[2:] in r.getMessage() and MEMBER.address in r.getMessage() for r in caplog.records
        ), caplog.text

        # The other order: a transaction ahead of the suspension in the pool is mined.
        reinstate = _raw(
            OPERATOR, registry.functions.reinstateOrganisation(org_id), nonce + 1, client, 200_000
        )
        assert _receipt(url, _batch(url, reinstate)[0]["result"])["status"] == "0x1"
        early = _raw(MEMBER, transfer, 0, client, 21_000)
        suspend = _raw(OPERATOR, registry.functions.suspendOrganisation(org_id), nonce + 2, client, 200_000)
        early_hash, suspended = (a["result"] for a in _batch(url, early, suspend))
        assert _receipt(url, early_hash)["status"] == "0x1"
        assert _receipt(url, suspended)["status"] == "0x1"
