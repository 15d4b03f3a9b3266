"""Shared set-up for the goods contracts' tests: a lot with 3 devices, 3 oracle signers, signed reports.

Not a conftest: each test module wraps `goods_world` in its own module-scoped fixture. The world is
built once per module on top of the session `cast` (inside a snapshot of its own, reverted when the
module is done), so the per-test snapshot of `tests/contracts/conftest.py` resets everything a test
does while the lot and signers stay.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract
from web3.types import TxReceipt

from chain.devnet import DevNet, Org, dev_account
from chain.roles import Role
from chain.typed_data import OracleReport, digest, report_message, sign_report
from tests.contracts.support import DAY, Cast

GAS = 5_000_000  # explicit gas skips eth-tester's slow estimate; reverts are still decoded
MAX_REPORT_AGE = 300
MAX_CLOCK_SKEW = 60
MAX_SIGNERS = 32
MAX_DEVICES = 16
MAX_PLEDGE_TERM = 366 * DAY
OWNER_ROLES = int(Role.SUPPLIER | Role.CORE_FIRM | Role.BANK)

LOT_INFO = ("steel coils", "Q235B 2.0mm x 1250mm", 120_000_000, "t", "North warehouse, bay 3")
RECEIPT_DOC = keccak(text="WR-0001.pdf")


class Status(IntEnum):
    UNKNOWN = 0
    OK = 1
    WARNING = 2
    ALERT = 3
    OFFLINE = 4


class ReceiptState(IntEnum):
    NONE = 0
    ISSUED = 1
    PLEDGED = 2
    SURRENDERED = 3


def lot_id(label: str) -> bytes:
    """A lot id from a label."""
    return keccak(text=f"lot:{label}")


def devices_for(label: str, count: int) -> list[tuple[bytes, str]]:
    """`count` (device id, key address) pairs unique to `label`."""
    return [
        (keccak(text=f"device:{label}:{i}"), dev_account(f"device:{label}:{i}").address) for i in range(count)
    ]


def info_hash(info: Sequence[Any] = LOT_INFO) -> bytes:
    """The hash the contract stores for a lot's description."""
    return keccak(abi_encode(["string", "string", "uint96", "string", "string"], list(info)))


def recover(report_digest: bytes, signature: bytes) -> str:
    """The address the contract recovers from `signature` over `report_digest`."""
    return Account._recover_hash(report_digest, signature=signature)


@dataclass
class Goods:
    """The cast plus a registered lot (3 devices, warehouse `north`) and 3 registered oracle signers."""

    cast: Cast
    signers: list[Org]  # ascending address order, as signatures must be given
    lot: bytes
    devices: list[tuple[bytes, str]]

    @property
    def net(self) -> DevNet:
        return self.cast.net

    @property
    def oracle(self) -> Contract:
        return self.net.suite.oracle

    @property
    def receipts(self) -> Contract:
        return self.net.suite.receipts

    @property
    def chain_id(self) -> int:
        return self.net.client.chain_id

    def send(self, fn: Any, sender: Org | LocalAccount, *, estimate: bool = False) -> TxReceipt:
        """Send `fn` from `sender`; a revert raises its typed error.

        Fixed gas skips eth-tester's slow estimate, but a mined revert is decoded by replaying it on
        the parent block, whose timestamp differs: time-sensitive refusals need `estimate=True`.
        """
        account = sender.account if isinstance(sender, Org) else sender
        return self.net.client.transact(fn, account, gas=None if estimate else GAS)

    def admit(self, name: str, roles: Role) -> Org:
        return self.net.admit(name, roles)

    def suspend(self, org: Org) -> None:
        self.send(self.cast.registry.functions.suspendOrganisation(org.org_id), self.cast.operator)

    def extra_key(self, org: Org, label: str, *, signer: bool = True) -> LocalAccount:
        """Another account of `org` (funded), registered as an oracle signer unless `signer` is False."""
        account = dev_account(label)
        self.net.fund(account.address)
        self.send(self.cast.registry.functions.addAccount(org.org_id, account.address), self.cast.operator)
        if signer:
            self.send(self.oracle.functions.addSigner(account.address), self.cast.operator)
        return account

    # ------------------------------------------------------------ reports

    def report(
        self,
        round_: int,
        status: Status = Status.OK,
        *,
        lot: bytes | None = None,
        root: bytes | None = None,
        count: int = 3,
        observed_at: int | None = None,
    ) -> OracleReport:
        """A report on the lot (default: fresh observation, a root over `count` readings)."""
        return OracleReport(
            lot_id=lot if lot is not None else self.lot,
            round=round_,
            status=int(status),
            readings_root=root if root is not None else keccak(text=f"root:{round_}:{int(status)}"),
            reading_count=count,
            observed_at=observed_at if observed_at is not None else self.net.now(),
        )

    def sign(
        self,
        report: OracleReport,
        signers: Sequence[Org | LocalAccount] | None = None,
        *,
        chain_id: int | None = None,
        oracle: str | None = None,
    ) -> list[bytes]:
        """Signatures (ascending signer order) of `signers` (default: the first two) on `report`."""
        chosen = self.signers[:2] if signers is None else signers
        accounts = [s.account if isinstance(s, Org) else s for s in chosen]
        return sign_report(
            accounts,
            chain_id=self.chain_id if chain_id is None else chain_id,
            oracle=self.oracle.address if oracle is None else oracle,
            report=report,
        )

    def digest(self, report: OracleReport) -> bytes:
        """The digest the contract recovers signers from."""
        return digest(report_message(chain_id=self.chain_id, oracle=self.oracle.address, report=report))

    def submit(
        self,
        report: OracleReport,
        signatures: list[bytes] | None = None,
        *,
        sender: Org | LocalAccount | None = None,
        estimate: bool = False,
    ) -> TxReceipt:
        """Submit `report` (signed by the first two signers unless `signatures` are given)."""
        sigs = self.sign(report) if signatures is None else signatures
        fn = self.oracle.functions.submitReport(report.as_tuple(), sigs)
        return self.send(fn, sender or self.cast.oracle, estimate=estimate)

    def post(self, status: Status, *, lot: bytes | None = None) -> TxReceipt:
        """Submit a valid report of `status` for the lot's next round."""
        last = self.lot_status(lot)["round"]
        return self.submit(self.report(last + 1, status, lot=lot))

    # ------------------------------------------------------------ receipts

    def issue(self, owner: Org | None = None, *, lot: bytes | None = None) -> TxReceipt:
        """Issue the lot's receipt (to `delta` by default)."""
        owner = owner or self.cast.delta
        fn = self.receipts.functions.issueReceipt(lot or self.lot, owner.org_id, RECEIPT_DOC)
        return self.send(fn, self.cast.north)

    def pledged(self, bank: Org | None = None, *, days: int = 30) -> int:
        """OK report, receipt issued to delta, pledged to `bank` (bank_a) for `days`; the term's end."""
        self.post(Status.OK)
        self.issue()
        until = self.net.now() + days * DAY
        bank = bank or self.cast.bank_a
        self.send(self.receipts.functions.pledge(self.lot, bank.org_id, until), self.cast.delta)
        return until

    def register(self, label: str, devices: list[tuple[bytes, str]] | None = None) -> bytes:
        """Register another lot at `north` with 1 device; return its id."""
        lot = lot_id(label)
        self.send(
            self.receipts.functions.registerLot(lot, LOT_INFO, devices or devices_for(label, 1)),
            self.cast.north,
        )
        return lot

    # ------------------------------------------------------------ views

    def lot_status(self, lot: bytes | None = None) -> dict[str, int]:
        fields = ("status", "round", "observedAt", "reportedAt")
        return dict(zip(fields, self.oracle.functions.lotStatus(lot or self.lot).call(), strict=True))

    def receipt(self, lot: bytes | None = None) -> dict[str, int]:
        fields = ("ownerOrg", "pledgeeOrg", "state", "frozen", "issuedAt", "pledgedUntil")
        return dict(zip(fields, self.receipts.functions.receipt(lot or self.lot).call(), strict=True))

    def lot_record(self, lot: bytes | None = None) -> dict[str, Any]:
        fields = ("warehouseOrg", "quantityMilli", "deviceCount", "receiptIssued", "infoHash")
        return dict(zip(fields, self.receipts.functions.lot(lot or self.lot).call(), strict=True))

    def oracle_state(self, lot: bytes | None = None) -> tuple[Any, ...]:
        """Everything a refused oracle call must leave as it was."""
        f = self.oracle.functions
        return (
            self.lot_status(lot),
            f.signers().call(),
            f.parameters().call(),
            f.quorum().call(),
        )

    def receipts_state(self, lot: bytes | None = None) -> tuple[Any, ...]:
        """Everything a refused receipts call must leave as it was."""
        devices = self.receipts.functions.devicesOf(lot or self.lot).call()
        return (self.lot_record(lot), self.receipt(lot), devices)

    def block_time(self, receipt: TxReceipt) -> int:
        return int(self.net.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def goods_world(cast: Cast, *, prefix: str = "goods") -> Iterator[Goods]:
    """Build the goods world in a snapshot of its own; yield it; revert when done."""
    net = cast.net
    snapshot = net.snapshot()
    try:
        signers = sorted(
            (net.admit(f"{prefix}-oracle-{i}", Role.ORACLE) for i in range(3)),
            key=lambda o: int(o.address, 16),
        )
        goods = Goods(cast=cast, signers=signers, lot=lot_id("STEEL-1"), devices=devices_for("STEEL-1", 3))
        for node in signers:
            goods.send(goods.oracle.functions.addSigner(node.address), cast.operator)
        goods.send(goods.receipts.functions.registerLot(goods.lot, LOT_INFO, goods.devices), cast.north)
        yield goods
    finally:
        net.revert(snapshot)
