"""Goods lots and warehouse receipts: register, issue, transfer, pledge, release, enforce, surrender.

The checks here mirror WarehouseReceipts against the read model, so a request the chain would
refuse is answered at once with a precise code and nothing is queued; the chain still has the last
word (a refusal it makes is the operation's error). Receipt rules, as the contract enforces them:

- the warehouse that registered a lot issues its one receipt, to a supplier, core firm or bank;
- the owner transfers, pledges (to a bank, once at a time, while the goods are OK or WARNING) or
  surrenders it, never while it is pledged or frozen;
- the lot in ALERT or OFFLINE freezes the receipt; the pledgee bank may then keep the pledge,
  release it, or enforce it (take the receipt). Enforcement is also open once the term has passed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlmodel import Session, col, func, select
from web3 import Web3

from api.documents import DocumentStore
from api.models import Document, GoodsAlert, Lot, LotDevice, LotLabel, OutboxEntry, Receipt
from api.services.auth import Principal
from api.services.errors import Conflict, Forbidden, Invalid, NotFound
from api.services.invoices import check_document
from api.services.organisations import active_org
from api.services.outbox import enqueue
from api.services.visibility import alert_filter, is_auditor, lot_filter, lot_party_filter, receipt_filter
from chain.identifiers import lot_id as chain_lot_id
from chain.readings import DEVICE_NAME, device_id
from chain.roles import Role

OWNER_ROLES = int(Role.SUPPLIER | Role.CORE_FIRM | Role.BANK)
MAX_DEVICES = 16
MAX_PLEDGE_TERM_S = 366 * 86_400
# The chain takes uint96; the API keeps quantities within a signed 64-bit integer.
MAX_QUANTITY_MILLI = 2**63 - 1
LOT_REFERENCE = re.compile(r"[A-Za-z0-9._-]{1,64}")
HEX_ID = re.compile(r"0x[0-9a-fA-F]{64}")
PLEDGEABLE = ("ok", "warning")


def lot_id(reference: str) -> str:
    """The on-chain id of the lot a warehouse calls `reference` (as the network's tools derive it)."""
    return "0x" + chain_lot_id(reference).hex()


def resolve(lot_or_reference: str) -> str:
    """A lot id from a path: its 0x-hex id, or the warehouse's reference (LOT-7)."""
    if HEX_ID.fullmatch(lot_or_reference):
        return lot_or_reference.lower()
    if LOT_REFERENCE.fullmatch(lot_or_reference):
        return lot_id(lot_or_reference)
    raise Invalid("invalid_lot_id", "a lot is named by its 0x id (64 hex digits) or its reference")


def device_hex(name: str) -> str:
    return "0x" + device_id(name).hex()


def quantity_milli(quantity: str) -> int:
    """'120' or '120.5' (t, kg, ...) -> thousandths, as the chain counts them."""
    try:
        value = Decimal(quantity)
    except (InvalidOperation, TypeError) as exc:
        raise Invalid("invalid_quantity", f"not a decimal quantity: {quantity!r}") from exc
    milli = value.scaleb(3) if value.is_finite() else Decimal(0)
    if milli <= 0 or milli != milli.to_integral_value() or milli > MAX_QUANTITY_MILLI:
        raise Invalid("invalid_quantity", "a quantity is positive, with 3 decimals at most")
    return int(milli)


# -- reads --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotView:
    """A lot with what belongs to it: devices, receipt, and the label its warehouse gave it."""

    lot: Lot
    devices: list[LotDevice]
    receipt: Receipt | None
    label: LotLabel | None

    def device_name(self, device: LotDevice) -> str | None:
        return self.label.devices.get(device.device_id) if self.label else None


def details(session: Session, lots: Sequence[Lot]) -> list[LotView]:
    """The lots with their devices, receipts and labels, in three queries."""
    ids = [lot.id for lot in lots]
    devices: dict[str, list[LotDevice]] = {}
    for device in session.exec(select(LotDevice).where(col(LotDevice.lot_id).in_(ids))).all():
        devices.setdefault(device.lot_id, []).append(device)
    receipts = {r.id: r for r in session.exec(select(Receipt).where(col(Receipt.id).in_(ids))).all()}
    labels = {
        (label.lot_id, label.warehouse_org): label
        for label in session.exec(select(LotLabel).where(col(LotLabel.lot_id).in_(ids))).all()
    }
    return [
        LotView(
            lot,
            sorted(devices.get(lot.id, []), key=lambda d: d.device_id),
            receipts.get(lot.id),
            labels.get((lot.id, lot.warehouse_org)),
        )
        for lot in lots
    ]


def references(session: Session, lot_ids: Sequence[str]) -> dict[str, str]:
    """The warehouses' own references of these lots, where they registered them through the API."""
    rows = session.exec(
        select(LotLabel.lot_id, LotLabel.reference)
        .join(Lot, (col(Lot.id) == LotLabel.lot_id) & (col(Lot.warehouse_org) == LotLabel.warehouse_org))
        .where(col(LotLabel.lot_id).in_(list(lot_ids)))
    ).all()
    return dict(rows)


def get_lot(session: Session, principal: Principal, lot: str) -> Lot:
    """The lot, if `principal` may see it (404 otherwise: existence is not disclosed)."""
    found = session.exec(select(Lot).where(Lot.id == resolve(lot), lot_filter(principal))).first()
    if found is None:
        raise NotFound("lot_not_found", f"no lot {lot}")
    return found


def list_lots(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    warehouse_org: int | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Lot], int]:
    query = select(Lot).where(lot_filter(principal))
    if status:
        query = query.where(Lot.status == status.lower())
    if warehouse_org is not None:
        query = query.where(Lot.warehouse_org == warehouse_org)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Lot.registered_block).desc(), col(Lot.id)).offset(offset).limit(limit)
    ).all()
    return rows, total


def get_receipt(session: Session, principal: Principal, receipt: str) -> Receipt:
    found = session.exec(
        select(Receipt).where(Receipt.id == resolve(receipt), receipt_filter(principal))
    ).first()
    if found is None:
        raise NotFound("receipt_not_found", f"no receipt {receipt}")
    return found


def list_receipts(
    session: Session,
    principal: Principal,
    *,
    state: str | None,
    owner_org: int | None,
    pledgee_org: int | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Receipt], int]:
    query = select(Receipt).where(receipt_filter(principal))
    if state:
        query = query.where(Receipt.state == state.lower())
    if owner_org is not None:
        query = query.where(Receipt.owner_org == owner_org)
    if pledgee_org is not None:
        query = query.where(Receipt.pledgee_org == pledgee_org)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Receipt.updated_block).desc(), col(Receipt.id)).offset(offset).limit(limit)
    ).all()
    return rows, total


def lot_statuses(session: Session, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """(goods status, round) of each lot."""
    rows = session.exec(select(Lot.id, Lot.status, Lot.round).where(col(Lot.id).in_(list(ids)))).all()
    return {lot: (status, round_) for lot, status, round_ in rows}


def list_alerts(
    session: Session,
    principal: Principal,
    *,
    lot: str | None,
    kind: str | None,
    after_id: int,
    offset: int,
    limit: int,
) -> tuple[Sequence[GoodsAlert], int]:
    """Alerts `principal` may see, newest first."""
    query = select(GoodsAlert).where(alert_filter(principal), col(GoodsAlert.id) > after_id)
    if lot:
        query = query.where(GoodsAlert.lot_id == resolve(lot))
    if kind:
        query = query.where(GoodsAlert.kind == kind)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(GoodsAlert.id).desc()).offset(offset).limit(limit)).all()
    return rows, total


def lot_for_proof(session: Session, principal: Principal, lot: str) -> Lot:
    """The lot, if `principal` may prove its readings: auditors, and the lot's parties."""
    found = get_lot(session, principal, lot)
    if is_auditor(principal):
        return found
    party = session.exec(select(Lot.id).where(Lot.id == found.id, lot_party_filter(principal))).first()
    if party is None:
        raise Forbidden("not_lot_party", "only auditors and the lot's parties get reading proofs")
    return found


def bound_device(session: Session, lot: Lot, name: str) -> LotDevice:
    """The lot's device called `name` (its id is the name's keccak256)."""
    if not DEVICE_NAME.fullmatch(name):
        raise Invalid("invalid_device", "a device name is 1-64 characters of [A-Za-z0-9._-]")
    device = session.get(LotDevice, device_hex(name))
    if device is None or device.lot_id != lot.id:
        raise NotFound("device_not_on_lot", f"no device {name} is bound to lot {lot.id}")
    return device


# -- writes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotInput:
    """A lot as a warehouse registers it."""

    reference: str
    goods: str
    specification: str
    quantity: str
    unit: str
    location: str
    devices: list[tuple[str, str]]  # (device name, key address)


def _require(principal: Principal, role: int, what: str) -> None:
    if not principal.has(role):
        raise Forbidden("role_required", f"only {what}", required=Role(role).name or str(role))


def register_lot(session: Session, principal: Principal, data: LotInput) -> tuple[str, OutboxEntry]:
    """Label the lot and enqueue its registration with its devices; return its id and the entry."""
    _require(principal, Role.WAREHOUSE, "warehouses register lots")
    if not LOT_REFERENCE.fullmatch(data.reference):
        raise Invalid("invalid_lot_reference", "a reference is 1-64 characters of [A-Za-z0-9._-]")
    milli = quantity_milli(data.quantity)
    if not 1 <= len(data.devices) <= MAX_DEVICES:
        raise Invalid("invalid_devices", f"a lot has 1 to {MAX_DEVICES} devices")
    devices: dict[str, tuple[str, str]] = {}
    for name, key in data.devices:
        if not DEVICE_NAME.fullmatch(name):
            raise Invalid("invalid_device", "a device name is 1-64 characters of [A-Za-z0-9._-]", device=name)
        if not Web3.is_address(key) or int(key, 16) == 0:
            raise Invalid("invalid_device_key", "a device key is a non-zero address", device=name)
        if device_hex(name) in devices:
            raise Invalid("duplicate_device", "a device is listed twice", device=name)
        devices[device_hex(name)] = (name, Web3.to_checksum_address(key))
    lot = lot_id(data.reference)
    if session.get(Lot, lot) is not None:
        raise Conflict("lot_exists", f"lot {data.reference} is registered already", lot_id=lot)
    taken = session.exec(select(LotDevice).where(col(LotDevice.device_id).in_(list(devices)))).first()
    if taken is not None:
        name = devices[taken.device_id][0]
        raise Conflict("device_taken", f"device {name} watches another lot", device=name, lot_id=taken.lot_id)
    org = principal.chain_org_id
    label = session.get(LotLabel, (lot, org)) or LotLabel(lot_id=lot, warehouse_org=org, reference="")
    label.reference = data.reference
    label.devices = {dev: name for dev, (name, _) in devices.items()}
    label.created_by = principal.member.id or 0
    session.add(label)
    info = [data.goods, data.specification, milli, data.unit, data.location]
    entry = enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="WarehouseReceipts",
        function="registerLot",
        args=[bytes.fromhex(lot[2:]), info, [[bytes.fromhex(d[2:]), k] for d, (_, k) in devices.items()]],
        subject_type="lot",
        subject_id=lot,
    )
    return lot, entry


def issue_receipt(
    session: Session,
    store: DocumentStore,
    principal: Principal,
    lot: str,
    *,
    owner_credit_code: str,
    content: bytes | None,
    document_sha256: str | None,
    max_document_bytes: int,
) -> OutboxEntry:
    """Enqueue the receipt's issue to its owner, anchoring the receipt document's SHA-256."""
    _require(principal, Role.WAREHOUSE, "the lot's warehouse issues its receipt")
    found = get_lot(session, principal, lot)
    if found.warehouse_org != principal.chain_org_id:
        raise Forbidden("not_keeper", "only the warehouse that registered the lot issues its receipt")
    if found.receipt_issued or session.get(Receipt, found.id) is not None:
        raise Conflict("receipt_exists", "the lot's receipt has been issued already", lot_id=found.id)
    owner = active_org(session, owner_credit_code, OWNER_ROLES, "owner")
    if owner.chain_org_id == principal.chain_org_id:
        raise Invalid("invalid_counterparty", "a warehouse cannot issue a receipt to itself")
    if content is not None:
        media_type = check_document(content, max_document_bytes)
        digest = store.put(content)
        if session.get(Document, digest) is None:
            session.add(Document(sha256=digest, size=len(content), media_type=media_type))
    elif document_sha256 is not None:
        digest = document_sha256.lower()
    else:
        raise Invalid("document_required", "send the receipt document, or its sha256")
    return enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="WarehouseReceipts",
        function="issueReceipt",
        args=[bytes.fromhex(found.id[2:]), owner.chain_org_id, bytes.fromhex(digest)],
        subject_type="receipt",
        subject_id=found.id,
    )


def _call(
    session: Session, principal: Principal, receipt: Receipt, function: str, *args: object
) -> OutboxEntry:
    return enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="WarehouseReceipts",
        function=function,
        args=[bytes.fromhex(receipt.id[2:]), *args],
        subject_type="receipt",
        subject_id=receipt.id,
    )


def _owned_free(session: Session, principal: Principal, receipt_ref: str) -> Receipt:
    """A receipt its owner may move: issued (not pledged, not surrendered) and not frozen."""
    receipt = get_receipt(session, principal, receipt_ref)
    if receipt.owner_org != principal.chain_org_id or not principal.has(OWNER_ROLES):
        raise Forbidden("not_owner", "only the receipt's owner may do this")
    if receipt.state != "issued":
        raise Conflict(f"receipt_{receipt.state}", f"the receipt is {receipt.state}", state=receipt.state)
    if receipt.frozen:
        raise Conflict(
            "receipt_frozen", "the receipt is frozen: the lot's goods are in ALERT or OFFLINE", state="frozen"
        )
    return receipt


def transfer(session: Session, principal: Principal, receipt_ref: str, to_credit_code: str) -> OutboxEntry:
    receipt = _owned_free(session, principal, receipt_ref)
    to = active_org(session, to_credit_code, OWNER_ROLES, "receiver")
    if to.chain_org_id == principal.chain_org_id:
        raise Invalid("self_transfer", "the receipt is already yours")
    return _call(session, principal, receipt, "transfer", to.chain_org_id)


def pledge(
    session: Session,
    principal: Principal,
    receipt_ref: str,
    *,
    bank_credit_code: str,
    pledged_until: int,
    now: int,
) -> OutboxEntry:
    """Enqueue the owner's pledge to a bank until `pledged_until`; the goods must be OK or WARNING now."""
    receipt = _owned_free(session, principal, receipt_ref)
    bank = active_org(session, bank_credit_code, Role.BANK, "bank")
    if bank.chain_org_id == principal.chain_org_id:
        raise Invalid("invalid_counterparty", "an organisation cannot pledge a receipt to itself")
    if not now < pledged_until <= now + MAX_PLEDGE_TERM_S:
        raise Invalid(
            "invalid_pledge_term",
            "a pledge ends in the future, within 366 days",
            pledged_until=pledged_until,
            now=now,
        )
    lot = session.get(Lot, receipt.id)
    status = lot.status if lot is not None else "unknown"
    if status not in PLEDGEABLE:
        raise Conflict(
            "goods_not_verified",
            f"the oracle reports the goods {status.upper()}: a pledge needs OK or WARNING",
            status=status,
        )
    return _call(session, principal, receipt, "pledge", bank.chain_org_id, pledged_until)


def _pledged_to_me(session: Session, principal: Principal, receipt_ref: str) -> Receipt:
    receipt = get_receipt(session, principal, receipt_ref)
    _require(principal, Role.BANK, "the pledgee bank may do this")
    if receipt.state != "pledged":
        raise Conflict(
            "receipt_not_pledged", f"the receipt is {receipt.state}, not pledged", state=receipt.state
        )
    if receipt.pledgee_org != principal.chain_org_id:
        raise Forbidden("not_pledgee", "only the pledgee bank may do this")
    return receipt


def release(session: Session, principal: Principal, receipt_ref: str) -> OutboxEntry:
    """Enqueue the pledgee's release (on repayment; also allowed while frozen)."""
    receipt = _pledged_to_me(session, principal, receipt_ref)
    return _call(session, principal, receipt, "releasePledge")


def enforce(session: Session, principal: Principal, receipt_ref: str, *, now: int) -> OutboxEntry:
    """Enqueue the pledgee's enforcement: it takes the receipt while frozen, or after the term."""
    receipt = _pledged_to_me(session, principal, receipt_ref)
    if not receipt.frozen and now <= receipt.pledged_until:
        raise Conflict(
            "enforcement_not_allowed",
            "a pledge is enforced while the receipt is frozen or once its term has passed",
            allowed_at=receipt.pledged_until + 1,
        )
    return _call(session, principal, receipt, "enforcePledge")


def surrender(session: Session, principal: Principal, receipt_ref: str) -> OutboxEntry:
    """Enqueue the owner's surrender of the receipt, to take the goods out."""
    receipt = _owned_free(session, principal, receipt_ref)
    return _call(session, principal, receipt, "surrender")
