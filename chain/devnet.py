"""An in-process development chain (eth-tester over py-evm) with the suite deployed.

For tests, benchmarks and demos that want a real EVM without a node process: organisations are
admitted with deterministic keys, and time can be moved forward.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed as TesterTransactionFailed
from eth_utils import keccak
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, RPCResponse, TxReceipt

from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite
from chain.identifiers import CreditCode, credit_code_bytes32, uscc_check_char
from chain.manifest import Deployment
from chain.roles import Role
from chain.suite import Suite

GAS_LIMIT = 60_000_000
FUNDING_WEI = 10**21


def dev_account(name: str) -> LocalAccount:
    """A deterministic account for `name` (development only: the key is derivable by anyone)."""
    return Account.from_key(keccak(text=f"scfnet-devnet:{name}"))


def dev_credit_code(name: str) -> CreditCode:
    """A well-formed, deterministic unified social credit code for `name`."""
    digest = keccak(text=f"scfnet-credit-code:{name}")
    charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91" + "".join(charset[b % 31] for b in digest[:15])
    return CreditCode(body + uscc_check_char(body))


class _RevertingTesterProvider(EthereumTesterProvider):
    """eth-tester reports reverts as a Python bytes repr; raise them as a node would."""

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            return super().make_request(method, params)
        except TesterTransactionFailed as exc:
            message = str(exc.args[0]) if exc.args else ""
            data = "0x"
            prefix = "execution reverted: "
            if message.startswith(prefix + "b'") or message.startswith(prefix + 'b"'):
                data = "0x" + ast.literal_eval(message[len(prefix) :]).hex()
            raise ContractCustomError(message, data=data) from exc


@dataclass(frozen=True)
class Org:
    """An admitted organisation and its first account."""

    name: str
    org_id: int
    roles: Role
    credit_code: CreditCode
    account: LocalAccount

    @property
    def address(self) -> str:
        return self.account.address


@dataclass
class DevNet:
    """A chain with the suite deployed and an operator organisation admitted."""

    w3: Web3
    tester: EthereumTester
    client: ChainClient
    deployment: Deployment
    suite: Suite
    operator: Org
    orgs: dict[str, Org] = field(default_factory=dict)

    @classmethod
    def start(cls, *, params: SuiteParams | None = None) -> DevNet:
        """Start a fresh chain and deploy the suite on it."""
        genesis = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": GAS_LIMIT})
        tester = EthereumTester(PyEVMBackend(genesis_parameters=genesis))
        w3 = Web3(_RevertingTesterProvider(tester))
        client = ChainClient(w3, poll_interval_s=0.001)
        operator_account = dev_account("operator")
        _fund(w3, tester, operator_account.address)
        params = params or SuiteParams(operator_credit_code=dev_credit_code("operator"))
        deployment = deploy_suite(client, operator_account, params)
        suite = Suite.bind(client, deployment)
        operator = Org("operator", 1, Role.OPERATOR, params.operator_credit_code, operator_account)
        net = cls(w3, tester, client, deployment, suite, operator)
        net.orgs["operator"] = operator
        return net

    def admit(self, name: str, roles: Role) -> Org:
        """Admit organisation `name` with `roles`; its account is funded with gas money."""
        account = dev_account(name)
        code = dev_credit_code(name)
        _fund(self.w3, self.tester, account.address)
        self.tx(
            self.suite.registry.functions.admitOrganisation(
                credit_code_bytes32(code), name, int(roles), account.address
            ),
            self.operator.account,
        )
        org_id = self.suite.registry.functions.orgIdOf(credit_code_bytes32(code)).call()
        org = Org(name, org_id, roles, code, account)
        self.orgs[name] = org
        return org

    def tx(self, fn: ContractFunction, sender: LocalAccount | Org) -> TxReceipt:
        """Send `fn` from `sender` and return the receipt (reverts raise typed errors)."""
        account = sender.account if isinstance(sender, Org) else sender
        return self.client.transact(fn, account)

    def fund(self, address: str) -> None:
        """Give `address` gas money."""
        _fund(self.w3, self.tester, address)

    def now(self) -> int:
        """Timestamp of the latest block."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def travel_to(self, timestamp: int) -> None:
        """Make the next block's timestamp `timestamp` (forward only)."""
        self.tester.time_travel(timestamp)

    def snapshot(self) -> int:
        return self.tester.take_snapshot()

    def revert(self, snapshot_id: int) -> None:
        self.tester.revert_to_snapshot(snapshot_id)
        self.client._nonces.clear()  # nonces moved back with the chain


def _fund(w3: Web3, tester: EthereumTester, address: str) -> None:
    w3.eth.send_transaction({"from": tester.get_accounts()[0], "to": address, "value": FUNDING_WEI})
