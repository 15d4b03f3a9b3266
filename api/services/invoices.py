"""Uploading, confirming and rejecting invoices."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from api.documents import DocumentStore, sha256_hex, sniff_media_type
from api.models import Document, Invoice, Organisation, OutboxEntry
from api.models.base import CoreRows
from api.services.auth import Principal
from api.services.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError, TooLarge
from api.services.money import due_at, to_minor, today_cst
from api.services.organisations import active_org
from api.services.outbox import enqueue
from api.services.visibility import invoice_filter
from chain.identifiers import InvalidIdentifier, invoice_key, normalize_invoice_number
from chain.roles import Role

MAX_TENOR_DAYS = 365
_INVOICE_ROW = CoreRows(Invoice)
_DOCUMENT_ROW = CoreRows(Document)


@dataclass(frozen=True)
class InvoiceInput:
    """An invoice as a supplier submits it."""

    invoice_number: str
    buyer_credit_code: str
    amount: str
    currency: str
    issue_date: dt.date
    due_date: dt.date
    line_items: list[dict[str, Any]]


def validate(data: InvoiceInput) -> tuple[int, str]:
    """Amount in minor units and the canonical number; dates within the network's tenor."""
    amount_minor = to_minor(data.amount, data.currency)
    try:
        number = normalize_invoice_number(data.invoice_number)
    except InvalidIdentifier as exc:
        raise Invalid(exc.code, str(exc)) from exc
    today = today_cst()
    if data.issue_date > today:
        raise Invalid("invalid_issue_date", "the issue date lies in the future")
    if data.due_date <= today or (data.due_date - today).days > MAX_TENOR_DAYS:
        raise Invalid("invalid_due_date", f"the due date must lie within the next {MAX_TENOR_DAYS} days")
    if data.due_date < data.issue_date:
        raise Invalid("invalid_due_date", "the due date precedes the issue date")
    return amount_minor, number


def check_document(content: bytes, max_bytes: int) -> str:
    """The document's real media type; refuse empty, oversized or unaccepted content."""
    if not content:
        raise Invalid("empty_document", "the document is empty")
    if len(content) > max_bytes:
        raise TooLarge("document_too_large", f"the document exceeds {max_bytes} bytes")
    media_type = sniff_media_type(content)
    if media_type is None:
        raise Invalid(
            "unsupported_document_type", "documents must be PDF, PNG, JPEG or TIFF (checked by content)"
        )
    return media_type


@dataclass(frozen=True)
class _Prepared:
    row: dict[str, Any]  # the Invoice row, every column (it is inserted without ORM objects)
    buyer_chain_org: int
    key: int
    content: bytes
    media_type: str

    @property
    def invoice_id(self) -> str:
        return str(self.row["id"])


def _prepare(
    principal: Principal,
    buyer: Organisation,
    *,
    data: InvoiceInput,
    content: bytes,
    filename: str,
    max_document_bytes: int,
) -> _Prepared:
    """Validate one invoice and compute its canonical key; nothing is written."""
    amount_minor, number = validate(data)
    media_type = check_document(content, max_document_bytes)
    if buyer.id == principal.org.id:
        raise Invalid("self_invoice", "an organisation cannot invoice itself")
    key = invoice_key(
        seller=principal.org.credit_code,  # type: ignore[arg-type]
        buyer=buyer.credit_code,  # type: ignore[arg-type]
        invoice_number=number,
        amount_minor=amount_minor,
        issue_date=data.issue_date,
    )
    row = _INVOICE_ROW(
        id=f"0x{key:064x}",
        seller_org_id=principal.org.id or 0,
        buyer_org_id=buyer.id or 0,
        invoice_number=number,
        currency=data.currency,
        amount_minor=amount_minor,
        issue_date=data.issue_date,
        due_date=data.due_date,
        due_at=due_at(data.due_date),
        line_items=data.line_items,
        document_sha256=sha256_hex(content),
        document_name=filename[:255],
        created_by=principal.member.id or 0,
    )
    return _Prepared(row, buyer.chain_org_id or 0, key, content, media_type)


def _persist(session: Session, store: DocumentStore, prepared: list[_Prepared]) -> None:
    """Refuse any invoice the network has already; store documents durably, then the rows."""
    ids = [p.invoice_id for p in prepared]
    seen: set[str] = set()
    for index, invoice_id in enumerate(ids):
        if invoice_id in seen:
            raise Conflict("duplicate_invoice", "the batch holds the same invoice twice", index=index)
        seen.add(invoice_id)
    existing = set(session.exec(select(Invoice.id).where(col(Invoice.id).in_(ids))).all())
    if existing:
        index = next(i for i, invoice_id in enumerate(ids) if invoice_id in existing)
        raise Conflict(
            "duplicate_invoice",
            "this invoice is already on the network (same seller, buyer, number, amount and issue date)",
            invoice_id=ids[index],
            index=index,
        )
    store.put_many([p.content for p in prepared])
    digests = {p.row["document_sha256"]: p for p in prepared}
    known = set(session.exec(select(Document.sha256).where(col(Document.sha256).in_(list(digests)))).all())
    documents = [
        _DOCUMENT_ROW(sha256=digest, size=len(p.content), media_type=p.media_type)
        for digest, p in digests.items()
        if digest not in known
    ]
    # Core inserts, one statement per table: building and flushing SQLModel objects cost ~0.3 ms
    # per invoice, more than the rest of the upload.
    connection = session.connection()
    if documents:
        connection.execute(insert(Document.__table__), documents)  # type: ignore[attr-defined]
    connection.execute(insert(Invoice.__table__), [p.row for p in prepared])  # type: ignore[attr-defined]


def _registration(p: _Prepared) -> list[object]:
    row = p.row
    return [
        p.key,
        p.buyer_chain_org,
        row["amount_minor"],
        row["due_at"],
        bytes.fromhex(row["document_sha256"]),
    ]


def _require_supplier(principal: Principal) -> None:
    if not principal.has(Role.SUPPLIER):
        raise Forbidden("role_required", "only suppliers upload invoices", required="SUPPLIER")


def upload(
    session: Session,
    store: DocumentStore,
    principal: Principal,
    *,
    data: InvoiceInput,
    content: bytes,
    filename: str,
    max_document_bytes: int,
) -> tuple[str, OutboxEntry]:
    """Record the invoice and its document and enqueue its registration under its canonical key;
    the invoice's id and the outbox entry."""
    _require_supplier(principal)
    buyer = active_org(session, data.buyer_credit_code, Role.CORE_FIRM, "buyer")
    prepared = _prepare(
        principal, buyer, data=data, content=content, filename=filename, max_document_bytes=max_document_bytes
    )
    _persist(session, store, [prepared])
    entry = enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="Receivables",
        function="register",
        args=_registration(prepared),
        subject_type="invoice",
        subject_id=prepared.invoice_id,
    )
    return prepared.invoice_id, entry


MAX_BATCH = 256


def upload_batch(
    session: Session,
    store: DocumentStore,
    principal: Principal,
    *,
    items: list[tuple[InvoiceInput, bytes, str]],
    max_document_bytes: int,
) -> tuple[list[str], OutboxEntry]:
    """Record up to 256 invoices at once, all or none, registered in one transaction on chain; their
    ids, in order, and the outbox entry."""
    _require_supplier(principal)
    if not 1 <= len(items) <= MAX_BATCH:
        raise Invalid("invalid_batch", f"a batch holds 1 to {MAX_BATCH} invoices")
    buyers: dict[str, Organisation] = {}
    prepared: list[_Prepared] = []
    for index, (data, content, filename) in enumerate(items):
        try:
            code = data.buyer_credit_code.strip().upper()
            if code not in buyers:
                buyers[code] = active_org(session, code, Role.CORE_FIRM, "buyer")
            prepared.append(
                _prepare(
                    principal,
                    buyers[code],
                    data=data,
                    content=content,
                    filename=filename,
                    max_document_bytes=max_document_bytes,
                )
            )
        except ServiceError as exc:
            exc.details["index"] = index
            raise
    _persist(session, store, prepared)
    entry = enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="Receivables",
        function="registerBatch",
        args=[[_registration(p) for p in prepared]],
        subject_type="invoice_batch",
        subject_id=prepared[0].invoice_id,
    )
    return [p.invoice_id for p in prepared], entry


def confirm_batch(session: Session, principal: Principal, invoice_ids: list[str]) -> OutboxEntry:
    """Enqueue the debtor's confirmation of up to 256 invoices in one transaction."""
    if not 1 <= len(invoice_ids) <= MAX_BATCH or len(set(invoice_ids)) != len(invoice_ids):
        raise Invalid("invalid_batch", f"confirm 1 to {MAX_BATCH} distinct invoices at a time")
    rows = session.exec(
        select(Invoice).where(col(Invoice.id).in_(invoice_ids), invoice_filter(principal))
    ).all()
    by_id = {row.id: row for row in rows}
    owed = []
    for invoice_id in invoice_ids:
        invoice = by_id.get(invoice_id)
        if invoice is None:
            raise NotFound("invoice_not_found", f"no invoice {invoice_id}")
        owed.append(_check_owed(principal, invoice))
    return enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="Receivables",
        function="confirmBatch",
        args=[[int(i.id, 16) for i in owed]],
        subject_type="invoice_batch",
        subject_id=owed[0].id,
    )


def get_visible(session: Session, principal: Principal, invoice_id: str) -> Invoice:
    """The invoice, if `principal` may see it (404 otherwise: existence is not disclosed)."""
    invoice = session.exec(
        select(Invoice).where(Invoice.id == invoice_id.lower(), invoice_filter(principal))
    ).first()
    if invoice is None:
        raise NotFound("invoice_not_found", f"no invoice {invoice_id}")
    return invoice


def _owed(session: Session, principal: Principal, invoice_id: str) -> Invoice:
    return _check_owed(principal, get_visible(session, principal, invoice_id))


def _check_owed(principal: Principal, invoice: Invoice) -> Invoice:
    if invoice.buyer_org_id != principal.org.id or not principal.has(Role.CORE_FIRM):
        raise Forbidden("not_debtor", "only the buyer confirms or rejects an invoice")
    if invoice.status != "registered":
        raise Conflict("invalid_state", f"the invoice is {invoice.status}", status=invoice.status)
    return invoice


def confirm(session: Session, principal: Principal, invoice_id: str) -> OutboxEntry:
    """Enqueue the debtor's confirmation, signed with its custodial key."""
    invoice = _owed(session, principal, invoice_id)
    return enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="Receivables",
        function="confirm",
        args=[int(invoice.id, 16)],
        subject_type="invoice",
        subject_id=invoice.id,
    )


def confirm_with_signature(
    session: Session, principal: Principal, invoice_id: str, *, signer: str, deadline: int, signature: bytes
) -> OutboxEntry:
    """Relay a confirmation the debtor signed with its own key (EIP-712); the chain checks it."""
    invoice = _owed(session, principal, invoice_id)
    if len(signature) != 65:
        raise Invalid("invalid_signature", "an EIP-712 signature is 65 bytes")
    return enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="Receivables",
        function="confirmWithSignature",
        args=[int(invoice.id, 16), signer, deadline, signature],
        subject_type="invoice",
        subject_id=invoice.id,
    )


def reject(session: Session, principal: Principal, invoice_id: str, reason: str) -> OutboxEntry:
    """Enqueue the debtor's rejection with a short reason code."""
    invoice = _owed(session, principal, invoice_id)
    encoded = reason.encode()[:32].ljust(32, b"\0")
    return enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="Receivables",
        function="reject",
        args=[int(invoice.id, 16), encoded],
        subject_type="invoice",
        subject_id=invoice.id,
    )
