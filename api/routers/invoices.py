"""Invoices: upload with the document, list, read, download, confirm (custodial or signed), reject."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlmodel import col, func, select
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, RuntimeDep, SessionDep, run_read
from api.documents import DOCUMENT_TYPES
from api.models import Document, Invoice, OutboxEntry
from api.routers.writes import (
    CREATE_RESPONSES,
    WRITE_RESPONSES,
    Render,
    WriteDep,
    fingerprint,
)
from api.schemas import InvoiceCreate, InvoiceIds, InvoicePublic, ListOf, Rejection, SignedConfirmation
from api.services import invoices
from api.services.errors import Invalid, TooLarge
from api.services.visibility import invoice_filter
from chain.typed_data import confirmation_message

router = APIRouter(prefix="/invoices", tags=["invoices"])


def _render(invoice_id: str) -> Render:
    def render(session: SessionDep) -> InvoicePublic:
        found = session.get(Invoice, invoice_id)
        assert found is not None
        return InvoicePublic.of(found)

    return render


def _render_many(invoice_ids: list[str]) -> Render:
    def render(session: SessionDep) -> list[InvoicePublic]:
        rows = session.exec(select(Invoice).where(col(Invoice.id).in_(invoice_ids))).all()
        return [InvoicePublic.of(r) for r in rows]

    return render


@router.post(
    "",
    status_code=202,
    responses=CREATE_RESPONSES,
    summary="Upload an invoice with its document (PDF or image)",
)
async def upload(
    w: WriteDep,
    invoice: Annotated[
        str, Form(description="the invoice fields as JSON (InvoiceCreate)", max_length=100_000)
    ],
    document: Annotated[UploadFile, File(description="the invoice document; type is checked by content")],
) -> JSONResponse:
    limit = w.runtime.settings.max_document_bytes
    content = await document.read(limit + 1)
    if len(content) > limit:
        raise TooLarge("document_too_large", f"the document exceeds {limit} bytes")
    try:
        data = InvoiceCreate.model_validate(json.loads(invoice))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise Invalid(
            "invalid_invoice",
            "the invoice field is not a valid InvoiceCreate JSON object",
            problems=str(exc)[:2000],
        ) from exc

    def make() -> tuple[OutboxEntry, Render]:
        invoice_id, entry = invoices.upload(
            w.session,
            w.runtime.store,
            w.principal,
            data=_input(data),
            content=content,
            filename=document.filename or "document",
            max_document_bytes=limit,
        )
        return entry, _render(invoice_id)

    request_hash = fingerprint("invoice", data.model_dump(), content)
    # The write (and ?wait) blocks: off the event loop, so other requests go on meanwhile.
    return await run_in_threadpool(w.run, request_hash, make, created=True)


@router.post(
    "/batch",
    status_code=202,
    responses=CREATE_RESPONSES,
    summary="Upload up to 256 invoices at once (all or none)",
)
async def upload_batch(
    w: WriteDep,
    invoices_json: Annotated[
        str, Form(alias="invoices", description="JSON list of InvoiceCreate, in the order of the documents")
    ],
    documents: Annotated[list[UploadFile], File(description="one document per invoice, same order")],
) -> JSONResponse:

    limit = w.runtime.settings.max_document_bytes
    try:
        raw = json.loads(invoices_json)
        if not isinstance(raw, list):
            raise ValueError("not a list")
        items = [InvoiceCreate.model_validate(item) for item in raw]
    except (json.JSONDecodeError, ValidationError, ValueError) as exc:
        raise Invalid(
            "invalid_invoice",
            "invoices must be a JSON list of InvoiceCreate objects",
            problems=str(exc)[:2000],
        ) from exc
    if len(items) != len(documents):
        raise Invalid(
            "document_count_mismatch",
            "send exactly one document per invoice",
            invoices=len(items),
            documents=len(documents),
        )
    contents = []
    for index, document in enumerate(documents):
        content = await document.read(limit + 1)
        if len(content) > limit:
            raise TooLarge("document_too_large", f"the document exceeds {limit} bytes", index=index)
        contents.append((content, document.filename or "document"))

    def make() -> tuple[OutboxEntry, Render]:
        invoice_ids, entry = invoices.upload_batch(
            w.session,
            w.runtime.store,
            w.principal,
            items=[
                (_input(item), content, name) for item, (content, name) in zip(items, contents, strict=True)
            ],
            max_document_bytes=limit,
        )
        return entry, _render_many(invoice_ids)

    request_hash = fingerprint("invoice-batch", [i.model_dump() for i in items], *[c for c, _ in contents])
    return await run_in_threadpool(w.run, request_hash, make, created=True)


@router.post(
    "/confirm-batch",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Confirm up to 256 invoices you owe, in one transaction",
)
def confirm_batch(body: InvoiceIds, w: WriteDep) -> JSONResponse:
    ids = [i.lower() for i in body.invoice_ids]

    def make() -> tuple[OutboxEntry, Render]:
        return invoices.confirm_batch(w.session, w.principal, ids), _render_many(ids)

    return w.run(fingerprint("confirm-batch", body.model_dump()), make)


def _input(data: InvoiceCreate) -> invoices.InvoiceInput:
    return invoices.InvoiceInput(
        invoice_number=data.invoice_number,
        buyer_credit_code=data.buyer_credit_code,
        amount=data.amount,
        currency=data.currency,
        issue_date=data.issue_date,
        due_date=data.due_date,
        line_items=[item.model_dump() for item in data.line_items],
    )


@router.get("", response_model=ListOf[InvoicePublic], summary="Invoices you issued or owe (auditors: all)")
async def list_invoices(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    invoice_number: Annotated[str | None, Query(max_length=40)] = None,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[InvoicePublic]:
    query = select(Invoice).where(invoice_filter(principal))
    if status:
        query = query.where(Invoice.status == status)
    if invoice_number:
        query = query.where(Invoice.invoice_number == invoice_number.strip().upper().replace("-", ""))

    def read() -> ListOf[InvoicePublic]:
        count = session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = session.exec(query.order_by(col(Invoice.created_at).desc()).offset(offset).limit(limit)).all()
        return ListOf(data=[InvoicePublic.of(i) for i in rows], count=count)

    return await run_read(session, read)


@router.get("/{invoice_id}", response_model=InvoicePublic)
async def get_invoice(invoice_id: str, principal: CurrentPrincipal, session: SessionDep) -> InvoicePublic:
    return await run_read(
        session, lambda: InvoicePublic.of(invoices.get_visible(session, principal, invoice_id))
    )


@router.get(
    "/{invoice_id}/document",
    summary="Download the invoice's document",
    response_class=Response,
    responses={
        200: {
            "description": "the document as uploaded",
            "content": dict.fromkeys((*DOCUMENT_TYPES, "application/octet-stream"), {}),
        }
    },
)
def download(
    invoice_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> Response:
    invoice = invoices.get_visible(session, principal, invoice_id)
    content = runtime.store.get(invoice.document_sha256)
    doc = session.get(Document, invoice.document_sha256)
    return Response(
        content,
        media_type=doc.media_type if doc else "application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{invoice.document_sha256}"'},
    )


@router.post(
    "/{invoice_id}/confirm",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Confirm an invoice you owe (custodial key)",
)
def confirm(invoice_id: str, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = invoices.confirm(w.session, w.principal, invoice_id)
        return entry, _render(entry.subject_id)

    return w.run(fingerprint("confirm", invoice_id), make)


@router.get("/{invoice_id}/confirmation-typed-data", summary="The EIP-712 message to sign with your own key")
def confirmation_typed_data(
    invoice_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    signer: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")],
    deadline: Annotated[int, Query(gt=0, lt=2**40)],
) -> dict[str, object]:
    invoice = invoices.get_visible(session, principal, invoice_id)
    receivables = runtime.client.contract("Receivables", runtime.deployment.address("Receivables"))
    nonce = receivables.functions.nonces(runtime.client.w3.to_checksum_address(signer)).call()
    return confirmation_message(
        chain_id=runtime.client.chain_id,
        receivables=receivables.address,
        receivable_id=int(invoice.id, 16),
        amount_minor=invoice.amount_minor,
        due_at=invoice.due_at,
        nonce=nonce,
        deadline=deadline,
    )


@router.post(
    "/{invoice_id}/confirm-signature",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Relay a confirmation signed with your own key",
)
def confirm_signature(invoice_id: str, body: SignedConfirmation, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = invoices.confirm_with_signature(
            w.session,
            w.principal,
            invoice_id,
            signer=w.runtime.client.w3.to_checksum_address(body.signer),
            deadline=body.deadline,
            signature=bytes.fromhex(body.signature[2:]),
        )
        return entry, _render(entry.subject_id)

    return w.run(fingerprint("confirm-signature", invoice_id, body.model_dump()), make)


@router.post(
    "/{invoice_id}/reject",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Reject an invoice you do not owe",
)
def reject(invoice_id: str, body: Rejection, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = invoices.reject(w.session, w.principal, invoice_id, body.reason)
        return entry, _render(entry.subject_id)

    return w.run(fingerprint("reject", invoice_id, body.model_dump()), make)
