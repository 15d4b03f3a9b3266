"""Bindings of a deployed suite: one web3 contract object per contract, from the manifest."""

from __future__ import annotations

from dataclasses import dataclass

from web3.contract import Contract

from chain.client import ChainClient
from chain.manifest import Deployment


@dataclass(frozen=True)
class Suite:
    """The deployed contracts of one network."""

    registry: Contract
    settlement: Contract
    receivables: Contract
    oracle: Contract
    receipts: Contract

    @classmethod
    def bind(cls, client: ChainClient, deployment: Deployment) -> Suite:
        """Bind every contract of `deployment` through `client`."""
        return cls(
            registry=client.contract("MemberRegistry", deployment.address("MemberRegistry")),
            settlement=client.contract("SettlementToken", deployment.address("SettlementToken")),
            receivables=client.contract("Receivables", deployment.address("Receivables")),
            oracle=client.contract("GoodsOracle", deployment.address("GoodsOracle")),
            receipts=client.contract("WarehouseReceipts", deployment.address("WarehouseReceipts")),
        )
