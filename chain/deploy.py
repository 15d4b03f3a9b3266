"""Deploy the contract suite and write its manifest."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import rlp
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from chain.client import ChainClient
from chain.identifiers import CreditCode, credit_code_bytes32
from chain.manifest import Deployment
from contracts.artifacts import build_info

logger = logging.getLogger(__name__)

SUITE = ("MemberRegistry", "SettlementToken", "Receivables", "GoodsOracle", "WarehouseReceipts")


@dataclass(frozen=True)
class SuiteParams:
    """What a deployment is configured with."""

    operator_credit_code: CreditCode
    operator_name: str = "scfnet network operator"
    token_name: str = "scfnet settlement CNY"
    token_symbol: str = "sCNY"
    grace_period_s: int = 3 * 86_400
    default_period_s: int = 30 * 86_400
    oracle_max_report_age_s: int = 300


def predicted_registry_address(operator: str, nonce: int = 0) -> str:
    """Where `deploy_suite` puts the member registry: the operator's first contract creation.

    Known before deployment, so a permissioned node can be started already pointing at it.
    """
    raw = rlp.encode([bytes.fromhex(operator.removeprefix("0x")), nonce])
    return to_checksum_address(keccak(raw)[12:])


def deploy_suite(client: ChainClient, operator: LocalAccount, params: SuiteParams) -> Deployment:
    """Deploy the suite (registry, settlement token, receivables, goods oracle, warehouse receipts), wired."""
    registry, first = client.deploy(
        "MemberRegistry",
        operator,
        credit_code_bytes32(params.operator_credit_code),
        params.operator_name,
        operator.address,
    )
    token, _ = client.deploy(
        "SettlementToken", operator, registry.address, params.token_name, params.token_symbol
    )
    receivables, _ = client.deploy(
        "Receivables",
        operator,
        registry.address,
        token.address,
        params.grace_period_s,
        params.default_period_s,
    )
    oracle, _ = client.deploy("GoodsOracle", operator, registry.address, params.oracle_max_report_age_s)
    receipts, _ = client.deploy("WarehouseReceipts", operator, registry.address, oracle.address)
    last = client.transact(oracle.functions.setListener(receipts.address), operator)
    block = client.w3.eth.get_block(first["blockNumber"])
    deployment = Deployment(
        chain_id=client.chain_id,
        contracts={
            "MemberRegistry": registry.address,
            "SettlementToken": token.address,
            "Receivables": receivables.address,
            "GoodsOracle": oracle.address,
            "WarehouseReceipts": receipts.address,
        },
        block_number=first["blockNumber"],
        block_hash=block["hash"].to_0x_hex(),
        build_hash=build_info()["buildHash"],
        operator=operator.address,
        deployed_at=block["timestamp"],
    )
    logger.info("deployed suite on chain %s at block %s", deployment.chain_id, last["blockNumber"])
    return deployment
