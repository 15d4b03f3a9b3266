"""The contract suite on three chains: the embedded node over HTTP, over WebSocket, and anvil.

One receivable runs through register, confirm, split, requestFinancing, fund and repay; its events
are read by eth_getLogs and by an eth_subscribe('logs') WebSocket subscription, which must agree.
On the embedded node, permissioning is on against the deployed MemberRegistry: the node starts with
only its operator allowed, the operator deploys the suite and admits the organisations, and the node
is restarted with the registry's address (settings are read once at start; restart is ~0.1 s).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse
from websockets.sync.client import ClientConnection, connect

from chain.anvil import running_anvil
from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite
from chain.devnet import Org, dev_account, dev_credit_code
from chain.errors import NotPermitted, ReceivableError
from chain.identifiers import credit_code_bytes32, part_id
from chain.manifest import Deployment
from chain.roles import Role
from chain.suite import Suite
from node.testing import running_node

DAY = 86_400
DOC = keccak(text="INV-7001.pdf")
ORG_FUNDING_WEI = 10 * 10**18
TOKEN_FUNDS = 10**15
SETTLED = 4
OPERATOR = dev_account("operator")
OUTSIDER = dev_account("integration-outsider")
EXPECTED_EVENTS = [
    "ReceivableRegistered",
    "ReceivableConfirmed",
    "PieceSplit",
    "FinancingRequested",
    "PieceFinanced",
    "PieceRepaid",
    "PieceRepaid",
    "ReceivableSettled",
]
LOG_FIELDS = ("address", "topics", "data", "blockNumber", "blockHash", "transactionHash", "logIndex")


class SyncWebSocketProvider(JSONBaseProvider):
    """JSON-RPC over one WebSocket for web3's synchronous API (web3 8 ships only an async one)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._exit = ExitStack()
        self._ws = self._exit.enter_context(connect(url, max_size=None))
        self._lock = threading.Lock()

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        request = self.encode_rpc_request(method, params)
        request_id = json.loads(request)["id"]
        with self._lock:
            self._ws.send(request.decode())
            while True:
                answer = json.loads(self._ws.recv(timeout=30))
                if isinstance(answer, dict) and answer.get("id") == request_id:
                    return answer

    def close(self) -> None:
        self._exit.close()


@dataclass
class Chain:
    """A chain with the suite deployed and the scenario's organisations admitted and funded."""

    name: str
    client: ChainClient
    ws_url: str
    suite: Suite
    permissioned: bool
    core: Org
    supplier: Org
    bank: Org

    def rpc(self, method: str, *params: Any) -> RPCResponse:
        """Send one request over the chain's transport; return the raw response object."""
        return self.client.w3.provider.make_request(RPCEndpoint(method), list(params))

    def signed(self, account: LocalAccount, to: str, value: int = 1) -> str:
        fees = self.client.fees()
        nonce = self.client.w3.eth.get_transaction_count(account.address, "pending")
        tx = {"chainId": self.client.chain_id, "nonce": nonce, "gas": 21_000, "to": to, "value": value}
        return "0x" + bytes(account.sign_transaction({**tx, **fees}).raw_transaction).hex()


def _admit(client: ChainClient, suite: Suite, name: str, roles: Role) -> Org:
    account = dev_account(f"integration-{name}")
    code = dev_credit_code(f"integration-{name}")
    registry = suite.registry.functions
    client.transact(
        registry.admitOrganisation(credit_code_bytes32(code), name, int(roles), account.address), OPERATOR
    )
    client.send(OPERATOR, {"to": account.address, "value": ORG_FUNDING_WEI})
    org_id = client.call(registry.orgIdOf(credit_code_bytes32(code)))
    return Org(name, org_id, roles, code, account)


def _bootstrap(client: ChainClient) -> tuple[Deployment, list[Org]]:
    """Deploy the suite as the operator, admit three organisations, fund them and an outsider."""
    deployment = deploy_suite(client, OPERATOR, SuiteParams(operator_credit_code=dev_credit_code("operator")))
    suite = Suite.bind(client, deployment)
    orgs = [
        _admit(client, suite, "huaxin", Role.CORE_FIRM),
        _admit(client, suite, "delta", Role.SUPPLIER),
        _admit(client, suite, "bank-a", Role.BANK),
    ]
    client.send(OPERATOR, {"to": OUTSIDER.address, "value": ORG_FUNDING_WEI})
    return deployment, orgs


def _client(url: str) -> ChainClient:
    provider = SyncWebSocketProvider(url) if url.startswith("ws") else Web3.HTTPProvider(url)
    return ChainClient(Web3(provider), poll_interval_s=0.01)


@contextmanager
def _embedded(tmp_path: Path, transport: str) -> Iterator[Chain]:
    settings = {"dev": True, "operator_address": OPERATOR.address}
    with running_node(tmp_path, **settings) as node:
        deployment, orgs = _bootstrap(_client(node.http_url))
    registry = deployment.address("MemberRegistry")
    with running_node(tmp_path, registry_address=registry, **settings) as node:
        client = _client(node.ws_url if transport == "ws" else node.http_url)
        try:
            yield Chain(f"node-{transport}", client, node.ws_url, Suite.bind(client, deployment), True, *orgs)
        finally:
            if isinstance(client.w3.provider, SyncWebSocketProvider):
                client.w3.provider.close()


@contextmanager
def _anvil() -> Iterator[Chain]:
    with running_anvil() as anvil:
        client = _client(anvil.url)
        client.w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [OPERATOR.address, hex(10**24)])
        deployment, orgs = _bootstrap(client)
        ws_url = anvil.url.replace("http", "ws", 1)
        yield Chain("anvil", client, ws_url, Suite.bind(client, deployment), False, *orgs)


@pytest.fixture(params=["node-http", "node-ws", "anvil"])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    opened = _anvil() if request.param == "anvil" else _embedded(tmp_path, request.param[5:])
    with opened as ready:
        yield ready


def _subscribe_logs(ws: ClientConnection, address: str) -> str:
    ws.send(
        json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["logs", {"address": address}]}
        )
    )
    answer = json.loads(ws.recv(timeout=10))
    assert answer["id"] == 1 and isinstance(answer["result"], str), answer
    return answer["result"]


def _notified_logs(ws: ClientConnection, sub_id: str, count: int) -> list[dict[str, Any]]:
    logs: list[dict[str, Any]] = []
    while len(logs) < count:
        message = json.loads(ws.recv(timeout=10))
        assert message["method"] == "eth_subscription" and message["params"]["subscription"] == sub_id
        logs.append(message["params"]["result"])
    return logs


def _event_names(contract: Contract) -> dict[str, str]:
    return {
        "0x" + keccak(text=f"{e['name']}({','.join(_abi_type(i) for i in e['inputs'])})").hex(): e["name"]
        for e in contract.abi
        if e["type"] == "event"
    }


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        return f"({','.join(_abi_type(c) for c in param['components'])}){param['type'][5:]}"
    return param["type"]


def _assert_refused(chain: Chain, account: LocalAccount) -> None:
    """The node refuses the account's next transaction at the door, naming the sender."""
    answer = chain.rpc("eth_sendRawTransaction", chain.signed(account, OPERATOR.address))
    assert answer["error"]["code"] == -32003, answer
    assert account.address in answer["error"]["message"]
    assert answer["error"]["data"] == {"sender": account.address}
    with pytest.raises(NotPermitted) as info:
        chain.client.send(account, {"to": OPERATOR.address, "value": 1}, gas=21_000)
    assert info.value.sender == account.address


def test_receivable_lifecycle_and_events(chain: Chain) -> None:
    with ExitStack() as stack:
        _lifecycle(chain, stack)


def _lifecycle(chain: Chain, stack: ExitStack) -> None:
    client, suite = chain.client, chain.suite
    core, supplier, bank = chain.core, chain.supplier, chain.bank
    r, token = suite.receivables.functions, suite.settlement.functions
    first_block = client.w3.eth.block_number + 1
    ws = stack.enter_context(connect(chain.ws_url, max_size=None))
    sub_id = _subscribe_logs(ws, suite.receivables.address)

    if chain.permissioned:  # funded, but never admitted
        _assert_refused(chain, OUTSIDER)

    for holder in (bank, core):
        client.transact(token.mint(holder.address, TOKEN_FUNDS), bank.account)
        client.transact(token.approve(suite.receivables.address, 2**256 - 1), holder.account)

    now = client.w3.eth.get_block("latest")["timestamp"]
    due = now + 90 * DAY
    inv = int.from_bytes(keccak(text=f"INV-7001-{chain.name}"), "big") >> 1  # root ids stay below 2^255
    client.transact(r.register(inv, core.org_id, 1_000_000_00, due, DOC), supplier.account)
    client.transact(r.confirm(inv), core.account)
    receipt = client.transact(r.split(inv, [300_000_00, 700_000_00]), supplier.account)
    (split,) = suite.receivables.events.PieceSplit().process_receipt(receipt)
    financed, kept = split["args"]["childIds"]
    assert [financed, kept] == [part_id(inv, 0), part_id(inv, 1)]
    client.transact(r.requestFinancing(financed, bank.org_id, 45_000, due - DAY), supplier.account)
    seller_before = client.call(token.balanceOf(supplier.address))
    client.transact(r.fund(financed, 45_000), bank.account)
    price = client.call(token.balanceOf(supplier.address)) - seller_before
    assert 0 < price < 300_000_00

    # To maturity, then the core firm repays both parts in one transaction.
    assert "result" in chain.rpc("evm_setNextBlockTimestamp", due)
    assert "result" in chain.rpc("evm_mine")
    assert client.w3.eth.get_block("latest")["timestamp"] >= due
    bank_before = client.call(token.balanceOf(bank.address))
    client.transact(r.repay([financed, kept]), core.account)
    assert client.call(token.balanceOf(bank.address)) - bank_before == 300_000_00
    assert client.call(r.piece(financed))[4] == SETTLED and client.call(r.piece(kept))[4] == SETTLED

    # Events, by eth_getLogs and by the subscription: the same logs, in the same order.
    query = {"address": suite.receivables.address, "fromBlock": hex(first_block), "toBlock": "latest"}
    answer = chain.rpc("eth_getLogs", query)
    polled = answer["result"]
    names = _event_names(suite.receivables)
    assert [names[log["topics"][0]] for log in polled] == EXPECTED_EVENTS
    assert int(polled[0]["topics"][1], 16) == inv
    pushed = _notified_logs(ws, sub_id, len(polled))
    assert [{k: log[k] for k in LOG_FIELDS} for log in pushed] == [
        {k: log[k] for k in LOG_FIELDS} for log in polled
    ]

    # Suspension: the contracts refuse the bank on every chain; the embedded node refuses its very
    # next transaction at the door, and lets it through again as soon as it is reinstated.
    registry = suite.registry.functions
    client.transact(registry.suspendOrganisation(bank.org_id), OPERATOR)
    with pytest.raises(ReceivableError) as refused:
        client.transact(r.fund(kept, 45_000), bank.account)
    assert refused.value.name == "ReceivableUnauthorized"
    if chain.permissioned:
        _assert_refused(chain, bank.account)
        client.transact(registry.reinstateOrganisation(bank.org_id), OPERATOR)
        client.send(bank.account, {"to": OPERATOR.address, "value": 1}, gas=21_000)
