"""The oracle nodes of a network started by `scf up`: keys, on-chain registration, start.

Each node has its own key (generated once, kept 0600 in the data dir) and its own ORACLE member
organisation, so that a quorum means independent signers. Registration is reconciled at every
start, not only after the first deployment: an interrupted first start, or a network grown from
3 to 5 nodes, is completed rather than redeployed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from chain.client import ChainClient
from chain.devnet import dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.manifest import Deployment
from chain.roles import Role
from chain.suite import Suite
from oracle.runner import RunningOracle, start_oracle
from oracle.settings import OracleSettings
from scripts.datadir import DataDir, secret

logger = logging.getLogger(__name__)

GAS_FUNDING_WEI = 10 * 10**18


def oracle_keys(data: DataDir, count: int) -> list[LocalAccount]:
    """The nodes' accounts, keys created on first use."""
    return [
        Account.from_key(secret(data.oracle_key(i), lambda: Account.create().key.to_0x_hex()))
        for i in range(count)
    ]


def fault_tolerance(nodes: int) -> int:
    """The f the contract is set to for `nodes` signers: quorum f+1 needs 2f+1 signers."""
    return max(1, (nodes - 1) // 2)


def ensure_registered(
    client: ChainClient, deployment: Deployment, operator: LocalAccount, accounts: list[LocalAccount]
) -> tuple[int, int]:
    """Admit each node's organisation (ORACLE), give it gas money and make it a GoodsOracle signer.

    Return the quorum and the number of signers.
    """
    suite = Suite.bind(client, deployment)
    registry, oracle = suite.registry, suite.oracle
    signers = {s.lower() for s in client.call(oracle.functions.signers())}
    sent: list[HexBytes] = []
    for index, account in enumerate(accounts):
        org_id, _roles = client.call(registry.functions.memberOf(account.address))
        if org_id == 0:
            code = credit_code_bytes32(dev_credit_code(f"scfnet-oracle:{account.address}"))
            admit = registry.functions.admitOrganisation(
                code, f"scfnet oracle node {index}", int(Role.ORACLE), account.address
            )
            sent.append(
                client.submit(operator, {"to": admit.address, "data": admit._encode_transaction_data()})
            )
            sent.append(client.submit(operator, {"to": account.address, "value": GAS_FUNDING_WEI}))
        if account.address.lower() not in signers:
            add = oracle.functions.addSigner(account.address)
            sent.append(client.submit(operator, {"to": add.address, "data": add._encode_transaction_data()}))
    for tx_hash in sent:
        client.wait(tx_hash)
    total = len(signers | {a.address.lower() for a in accounts})
    wanted = fault_tolerance(total)
    current, _age, _listener = client.call(oracle.functions.parameters())
    if current != wanted:
        client.transact(oracle.functions.setFaultTolerance(wanted), operator)
    if sent:
        logger.info("registered %d oracle nodes (quorum %d of %d signers)", len(accounts), wanted + 1, total)
    return wanted + 1, total


@dataclass(frozen=True)
class OracleNet:
    """The started nodes."""

    nodes: list[RunningOracle]

    @property
    def urls(self) -> list[str]:
        return [node.http_url for node in self.nodes]


@contextmanager
def running_oracles(
    data: DataDir,
    accounts: list[LocalAccount],
    *,
    broker_url: str,
    rpc_url: str,
    first_port: int,
) -> Iterator[OracleNet]:
    """Start one node per account (proof port `first_port + i`, or any when 0); stop them on exit."""
    with ExitStack() as stack:
        nodes = []
        for index, account in enumerate(accounts):
            settings = OracleSettings(
                node_index=index,
                key=account.key.to_0x_hex(),
                broker_url=broker_url,
                rpc_url=rpc_url,
                manifest_path=data.manifest,
                data_dir=data.oracle_data(index),
                http_port=first_port + index if first_port else 0,
            )
            node = start_oracle(settings)
            stack.callback(node.stop)
            nodes.append(node)
        yield OracleNet(nodes)
