"""What an oracle node reads from and sends to the chain: device keys, lots, signers, reports.

Blocking calls (web3 over HTTP through `ChainClient`); the node runs them off its event loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from chain.client import ChainClient
from chain.manifest import Deployment
from chain.suite import Suite
from chain.typed_data import OracleReport
from oracle.store import Anchor, LotRecord

logger = logging.getLogger(__name__)

ZERO_ADDRESS = "0x" + "00" * 20
MAX_LOG_RANGE = 5_000


@dataclass
class ChainEvents:
    """What happened on chain between two blocks."""

    to_block: int
    lots: list[LotRecord] = field(default_factory=list)
    devices: list[tuple[bytes, bytes, str]] = field(default_factory=list)  # device id, lot, key
    anchors: list[Anchor] = field(default_factory=list)


class OracleChain:
    """The goods oracle and warehouse receipts contracts, as one node sees them."""

    def __init__(self, client: ChainClient, deployment: Deployment, account: LocalAccount) -> None:
        self.client = client
        self.deployment = deployment
        self.account = account
        self.suite = Suite.bind(client, deployment)

    @property
    def oracle_address(self) -> str:
        return str(self.suite.oracle.address)

    @property
    def chain_id(self) -> int:
        return self.client.chain_id

    def device(self, device_id: bytes) -> tuple[bytes, str] | None:
        """The lot and key address of a device, or None if it is not bound."""
        lot, key = self.client.call(self.suite.receipts.functions.device(device_id))
        return None if key == ZERO_ADDRESS else (bytes(lot), str(key))

    def signers(self) -> list[str]:
        return [str(s) for s in self.client.call(self.suite.oracle.functions.signers())]

    def quorum(self) -> int:
        return int(self.client.call(self.suite.oracle.functions.quorum()))

    def max_report_age_s(self) -> int:
        _, max_age, _ = self.client.call(self.suite.oracle.functions.parameters())
        return int(max_age)

    def head(self) -> int:
        return int(self.client._with_retry(lambda: self.client.w3.eth.block_number))

    def events(self, from_block: int) -> ChainEvents:
        """Lots registered, devices bound and reports accepted from `from_block` on (bounded range)."""
        head = self.head()
        to_block = min(head, from_block + MAX_LOG_RANGE - 1)
        found = ChainEvents(to_block=to_block)
        if from_block > to_block:
            found.to_block = from_block - 1
            return found
        span = {"from_block": from_block, "to_block": to_block}
        receipts, oracle = self.suite.receipts.events, self.suite.oracle.events
        for log in self.client._with_retry(lambda: receipts.LotRegistered.get_logs(**span)):
            a = log["args"]
            block = self.client._with_retry(lambda n=log["blockNumber"]: self.client.w3.eth.get_block(n))
            found.lots.append(
                LotRecord(
                    bytes(a["lotId"]),
                    a["goods"],
                    a["unit"],
                    int(a["quantityMilli"]),
                    a["location"],
                    int(block["timestamp"]) * 1000,
                )
            )
        for log in self.client._with_retry(lambda: receipts.DeviceBound.get_logs(**span)):
            a = log["args"]
            found.devices.append((bytes(a["deviceId"]), bytes(a["lotId"]), str(a["key"])))
        for log in self.client._with_retry(lambda: oracle.ReportAccepted.get_logs(**span)):
            a = log["args"]
            found.anchors.append(
                Anchor(
                    bytes(a["lotId"]),
                    int(a["round"]),
                    int(a["status"]),
                    bytes(a["readingsRoot"]),
                    int(a["readingCount"]),
                    int(a["observedAt"]),
                    int(log["blockNumber"]),
                )
            )
        return found

    def submit(self, report: OracleReport, signatures: list[bytes]) -> TxReceipt:
        """Send `submitReport` from the node's account; reverts raise typed `GoodsOracleError`s."""
        fn = self.suite.oracle.functions.submitReport(report.as_tuple(), signatures)
        return self.client.transact(fn, self.account)
