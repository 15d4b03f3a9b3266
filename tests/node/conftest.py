"""Fixtures: in-process nodes on free ports, web3 clients, dev keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from node.testing import RunningNode, running_node

# Account #0 of the default dev mnemonic (also anvil's).
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
CHAIN_ID = 1337


@pytest.fixture
def node(tmp_path: Path) -> Iterator[RunningNode]:
    with running_node(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def shared_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A dev node shared by read-mostly tests of one module."""
    with running_node(tmp_path_factory.mktemp("shared")) as running:
        yield running


@pytest.fixture
def w3(node: RunningNode) -> Web3:
    return Web3(Web3.HTTPProvider(node.http_url, request_kwargs={"timeout": 30}))


@pytest.fixture
def dev_account() -> LocalAccount:
    return Account.from_key(DEV_KEY)


def rpc(url: str, method: str, *params: Any) -> dict[str, Any]:
    """Send one raw JSON-RPC request and return the whole response object."""
    response = requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def signed(
    account: LocalAccount,
    nonce: int,
    *,
    to: str | None = None,
    value: int = 0,
    data: bytes = b"",
    gas: int = 100_000,
    max_fee: int = 10 * 10**9,
    tip: int = 10**9,
    chain_id: int = CHAIN_ID,
) -> str:
    """Return a signed EIP-1559 transaction as hex."""
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
        "value": value,
        "data": data,
    }
    if to is not None:
        tx["to"] = to
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()
