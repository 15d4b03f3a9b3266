"""Request and response bodies of the public API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from api.models import FinancingRequest, GoodsAlert, Invoice, Organisation, OutboxEntry, Piece, Receipt
from api.services.money import from_minor
from chain.roles import Role

T = TypeVar("T")

HEX_ID = r"^0x[0-9a-fA-F]{64}$"


class ListOf(BaseModel, Generic[T]):
    data: list[T]
    count: int


def role_names(roles: int) -> list[str]:
    return [r.name or "" for r in Role if roles & r]


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    credit_code: str = Field(min_length=18, max_length=18, description="unified social credit code")
    roles: list[str] = Field(
        min_length=1, description="CORE_FIRM, SUPPLIER, BANK, WAREHOUSE, AUDITOR, ORACLE"
    )


class OrganisationPublic(BaseModel):
    id: int
    chain_org_id: int | None
    name: str
    credit_code: str
    roles: list[str]
    status: str
    account_address: str

    @classmethod
    def of(cls, org: Organisation) -> OrganisationPublic:
        return cls(
            id=org.id or 0,
            chain_org_id=org.chain_org_id,
            name=org.name,
            credit_code=org.credit_code,
            roles=role_names(org.roles),
            status=org.status,
            account_address=org.account_address,
        )


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


class MemberCreated(BaseModel):
    member_id: int
    org_id: int
    api_key_id: int
    api_key: str = Field(description="shown once; store it now")


class Me(BaseModel):
    member_id: int
    name: str
    organisation: OrganisationPublic
    api_key_id: int


class OperationPublic(BaseModel):
    id: str
    status: str
    contract: str
    function: str
    subject_type: str
    subject_id: str
    tx_hash: str | None
    block_number: int | None
    error_code: str | None

    @classmethod
    def of(cls, e: OutboxEntry) -> OperationPublic:
        return cls(
            id=e.id,
            status=e.status,
            contract=e.contract,
            function=e.function,
            subject_type=e.subject_type,
            subject_id=e.subject_id,
            tx_hash=e.tx_hash,
            block_number=e.block_number,
            error_code=e.error_code,
        )


class Accepted(BaseModel):
    """A write in flight: poll the operation, or send `?wait=true` next time."""

    operation: OperationPublic


class Landed(BaseModel):
    """A write that landed on chain and was indexed (the answer to `?wait=true`): what it made or changed."""

    operation: OperationPublic
    result: Any


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. `duplicate_invoice`")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Error(BaseModel):
    """Every refusal and failure: `{"error": {code, message, details}}`."""

    error: ErrorDetail


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(min_length=1, max_length=200)
    quantity: str = Field(pattern=r"^\d+(\.\d+)?$", max_length=32)
    unit_price: str = Field(pattern=r"^\d+(\.\d{1,4})?$", max_length=32)
    amount: str = Field(pattern=r"^\d+(\.\d{1,2})?$", max_length=32)


class InvoiceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    invoice_number: str = Field(min_length=1, max_length=40)
    buyer_credit_code: str = Field(min_length=18, max_length=18)
    amount: str = Field(
        max_length=32, description="decimal string in the currency's major unit, e.g. 1000000.00"
    )
    currency: str = Field("CNY", min_length=3, max_length=3)
    issue_date: dt.date
    due_date: dt.date
    line_items: list[LineItem] = Field(default_factory=list, max_length=200)


class InvoicePublic(BaseModel):
    id: str
    invoice_number: str
    seller_org_id: int
    buyer_org_id: int
    amount: str
    amount_minor: int
    currency: str
    issue_date: dt.date
    due_date: dt.date
    due_at: int
    line_items: list[dict[str, Any]]
    document_sha256: str
    document_name: str
    status: str
    error_code: str | None

    @classmethod
    def of(cls, i: Invoice) -> InvoicePublic:
        return cls(
            id=i.id,
            invoice_number=i.invoice_number,
            seller_org_id=i.seller_org_id,
            buyer_org_id=i.buyer_org_id,
            amount=from_minor(i.amount_minor, i.currency),
            amount_minor=i.amount_minor,
            currency=i.currency,
            issue_date=i.issue_date,
            due_date=i.due_date,
            due_at=i.due_at,
            line_items=i.line_items,
            document_sha256=i.document_sha256,
            document_name=i.document_name,
            status=i.status,
            error_code=i.error_code,
        )


class InvoiceIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    invoice_ids: list[str] = Field(min_length=1, max_length=256)


class SignedConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    deadline: int = Field(gt=0, lt=2**63)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=32)


class PiecePublic(BaseModel):
    id: str
    root_id: str
    parent_id: str | None
    creditor_org: int
    holder_org: int
    debtor_org: int
    amount: str
    amount_minor: int
    due_at: int
    state: str
    lock: str
    lock_org: int
    depth: int
    standing: str

    @classmethod
    def of(cls, p: Piece) -> PiecePublic:
        return cls(
            id=p.id,
            root_id=p.root_id,
            parent_id=p.parent_id,
            creditor_org=p.creditor_org,
            holder_org=p.holder_org,
            debtor_org=p.debtor_org,
            amount=from_minor(p.amount_minor),
            amount_minor=p.amount_minor,
            due_at=p.due_at,
            state=p.state,
            lock=p.lock,
            lock_org=p.lock_org,
            depth=p.depth,
            standing=p.standing,
        )


class SplitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amounts: list[str] = Field(
        min_length=2, max_length=16, description="decimal strings that sum to the piece"
    )


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_credit_code: str = Field(min_length=18, max_length=18)


class FinancingRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bank_credit_code: str | None = Field(
        None, min_length=18, max_length=18, description="omit for the open market"
    )
    max_rate_ppm: int = Field(
        gt=0, le=1_000_000, description="annual rate in parts per million (4.5 % = 45000)"
    )
    expires_at: int = Field(gt=0, lt=2**40)


class FundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate_ppm: int = Field(gt=0, le=1_000_000)


class RepaymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    piece_ids: list[str] = Field(min_length=1, max_length=128)


class FinancingRequestPublic(BaseModel):
    id: int
    piece_id: str
    holder_org: int
    bank_org: int
    max_rate_ppm: int
    expires_at: int
    status: str
    funded_by: int | None
    rate_ppm: int | None
    price_minor: int | None
    discount_minor: int | None
    discount_days: int | None
    tx_hash: str | None

    @classmethod
    def of(cls, r: FinancingRequest) -> FinancingRequestPublic:
        return cls.model_validate(r, from_attributes=True)


class Quote(BaseModel):
    piece_id: str
    rate_ppm: int
    price_minor: int
    discount_minor: int
    discount_days: int
    price: str


class DepositCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_org_id: int = Field(gt=0, lt=2**31)
    amount: str = Field(max_length=32)


class Balance(BaseModel):
    org_id: int
    account_address: str
    balance_minor: int
    balance: str


class ChainEventPublic(BaseModel):
    block_number: int
    tx_hash: str
    log_index: int
    contract: str
    name: str
    args: dict[str, Any]


# -- goods: lots, receipts, alerts, reading proofs ---------------------------------------------

LOT_REFERENCE = r"^[A-Za-z0-9._-]{1,64}$"
DEVICE = r"^[A-Za-z0-9._-]{1,64}$"
ADDRESS = r"^0x[0-9a-fA-F]{40}$"


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str = Field(
        pattern=DEVICE, description="the device's name, as it publishes (`devices/{device}/telemetry`)"
    )
    key: str = Field(pattern=ADDRESS, description="address of the key that signs the device's readings")


class LotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str = Field(
        pattern=LOT_REFERENCE,
        description="the warehouse's lot reference, e.g. LOT-7; the lot id is keccak256('lot:' + reference)",
    )
    goods: str = Field(min_length=1, max_length=200, description="goods type or name, e.g. steel coils")
    specification: str = Field("", max_length=200, description="description: grade, dimensions, packing")
    quantity: str = Field(
        pattern=r"^\d{1,15}(\.\d{1,3})?$", description="decimal in `unit`, 3 decimals at most, e.g. 120"
    )
    unit: str = Field(min_length=1, max_length=16, description="e.g. t, kg, pcs")
    location: str = Field(min_length=1, max_length=200, description="where in the warehouse")
    devices: list[DeviceCreate] = Field(
        min_length=1, max_length=16, description="the sensors watching the lot"
    )


class DevicePublic(BaseModel):
    device_id: str = Field(description="keccak256 of the device's name, as the chain binds it")
    name: str | None = Field(description="the name the warehouse registered it under (None: unknown)")
    key: str


class ReceiptPublic(BaseModel):
    id: str = Field(description="the receipt's id: its lot's id")
    reference: str | None
    warehouse_org: int
    owner_org: int
    pledgee_org: int = Field(description="0: not pledged")
    state: str = Field(description="issued | pledged | surrendered")
    frozen: bool = Field(description="the lot's goods are in ALERT or OFFLINE: the owner can do nothing")
    pledged_until: int = Field(description="end of the pledge term, unix seconds (0: not pledged)")
    document_hash: str = Field(description="SHA-256 of the receipt document, as anchored on chain")
    goods_status: str
    goods_round: int

    @classmethod
    def of(cls, r: Receipt, *, reference: str | None, goods: tuple[str, int]) -> ReceiptPublic:
        return cls(
            id=r.id,
            reference=reference,
            warehouse_org=r.warehouse_org,
            owner_org=r.owner_org,
            pledgee_org=r.pledgee_org,
            state=r.state,
            frozen=r.frozen,
            pledged_until=r.pledged_until,
            document_hash=r.document_hash,
            goods_status=goods[0],
            goods_round=goods[1],
        )


class LotPublic(BaseModel):
    id: str
    reference: str | None = Field(description="the warehouse's reference, when registered through the API")
    warehouse_org: int
    goods: str
    specification: str
    quantity: str
    quantity_milli: int
    unit: str
    location: str
    info_hash: str
    status: str = Field(description="the oracle's latest status: unknown | ok | warning | alert | offline")
    round: int = Field(description="the round of the oracle's latest accepted report")
    observed_at: int
    devices: list[DevicePublic]
    receipt: ReceiptPublic | None


class PledgeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bank_credit_code: str = Field(min_length=18, max_length=18)
    pledged_until: int = Field(gt=0, lt=2**40, description="end of the pledge term, unix seconds")


class ReceiptTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_credit_code: str = Field(min_length=18, max_length=18)


class AlertPublic(BaseModel):
    id: int
    lot_id: str
    reference: str | None
    kind: str = Field(description="lot_status | receipt_frozen | receipt_unfrozen")
    status: str = Field(description="the goods' status the alert is about")
    previous_status: str | None
    warehouse_org: int
    owner_org: int = Field(description="the receipt's owner when it was raised (0: none)")
    pledgee_org: int = Field(description="the pledgee bank when it was raised (0: none)")
    block_number: int
    tx_hash: str

    @classmethod
    def of(cls, a: GoodsAlert, reference: str | None) -> AlertPublic:
        return cls(
            id=a.id or 0,
            lot_id=a.lot_id,
            reference=reference,
            kind=a.kind,
            status=a.status,
            previous_status=a.previous_status,
            warehouse_org=a.warehouse_org,
            owner_org=a.owner_org,
            pledgee_org=a.pledgee_org,
            block_number=a.block_number,
            tx_hash=a.tx_hash,
        )


class ReadingProofPublic(BaseModel):
    """A reading, its Merkle proof, and whether the chain accepts it."""

    lot_id: str
    device: str
    device_id: str
    seq: int
    round: int
    root: str = Field(description="the root the oracle node says it proves against")
    anchored_root: str = Field(description="the root the goods oracle anchored on chain for the round")
    proof: list[str]
    payload_hash: str
    leaf: str
    reading: dict[str, Any] | None = Field(description="the reading as the device published and signed it")
    report_tx_hash: str | None = Field(description="the transaction that anchored the round's root")
    report_block_number: int | None
    source: str = Field(description="the oracle node that served the proof")
    verified: bool = Field(description="the chain verified the proof and the reading is the device's")
    code: str | None = Field(
        description="why not verified: proof_rejected, root_not_anchored, reading_mismatch, "
        "reading_signature_invalid, reading_malformed, proof_for_other_reading"
    )
    message: str | None


class AccountCreate(BaseModel):
    """An externally held key to bind to an organisation, or to make an oracle signer."""

    model_config = ConfigDict(extra="forbid")
    address: str = Field(
        min_length=1, max_length=64, description="20-byte hex address, lowercase or EIP-55 checksummed"
    )


class AccountPublic(BaseModel):
    """An account of an organisation, as the member registry holds it."""

    model_config = ConfigDict(from_attributes=True)
    address: str
    active: bool = Field(description="the account and its organisation are not suspended")
    payout: bool = Field(description="the organisation's payout account (cannot be removed)")


class OracleSignerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    address: str
    org_id: int = Field(description="the registry's (chain) organisation id of the key; 0 if it has none")
    active: bool = Field(description="the key may sign now: an active account of an ORACLE organisation")


class OracleSigners(BaseModel):
    """The goods oracle's signer set and what a report needs."""

    model_config = ConfigDict(from_attributes=True)
    signers: list[OracleSignerPublic]
    quorum: int = Field(description="signatures of distinct organisations a report needs (f + 1)")
    fault_tolerance: int = Field(description="faulty oracle operators tolerated (f)")
    signing_organisations: int = Field(
        description="distinct organisations of the active signers; removals keep at least 2f + 1"
    )
