"""Warehouse receipts: list, read, and what their owner and pledgee bank may do with them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentPrincipal, SessionDep, run_read
from api.models import OutboxEntry
from api.routers.lots import chain_now, receipts_public, render_receipt
from api.routers.writes import WRITE_RESPONSES, Render, WriteDep, fingerprint
from api.schemas import ListOf, PledgeCreate, ReceiptPublic, ReceiptTransfer
from api.services import goods

router = APIRouter(prefix="/receipts", tags=["goods"])

ReceiptPath = Annotated[
    str, Path(max_length=66, description="the receipt's id (its lot's 0x id), or the lot's reference")
]


@router.get(
    "",
    response_model=ListOf[ReceiptPublic],
    summary="Receipts you keep, own or hold in pledge (auditors and the operator: all)",
)
async def list_receipts(
    principal: CurrentPrincipal,
    session: SessionDep,
    state: Annotated[str | None, Query(max_length=16, description="issued|pledged|surrendered")] = None,
    owner_org: Annotated[int | None, Query(ge=0, lt=2**31)] = None,
    pledgee_org: Annotated[int | None, Query(ge=0, lt=2**31)] = None,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[ReceiptPublic]:
    def read() -> ListOf[ReceiptPublic]:
        rows, count = goods.list_receipts(
            session,
            principal,
            state=state,
            owner_org=owner_org,
            pledgee_org=pledgee_org,
            offset=offset,
            limit=limit,
        )
        return ListOf(data=receipts_public(session, rows), count=count)

    return await run_read(session, read)


@router.get("/{receipt_id}", response_model=ReceiptPublic)
async def get_receipt(
    receipt_id: ReceiptPath, principal: CurrentPrincipal, session: SessionDep
) -> ReceiptPublic:
    return await run_read(
        session, lambda: receipts_public(session, [goods.get_receipt(session, principal, receipt_id)])[0]
    )


@router.post(
    "/{receipt_id}/transfer",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Transfer the receipt to another organisation (owner; not while pledged or frozen)",
)
def transfer(receipt_id: ReceiptPath, body: ReceiptTransfer, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = goods.transfer(w.session, w.principal, receipt_id, body.to_credit_code)
        return entry, render_receipt(entry.subject_id)

    return w.run(fingerprint("receipt-transfer", receipt_id, body.model_dump()), make)


@router.post(
    "/{receipt_id}/pledge",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Pledge the receipt to a bank until a date (owner; goods OK or WARNING, once at a time)",
)
def pledge(receipt_id: ReceiptPath, body: PledgeCreate, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = goods.pledge(
            w.session,
            w.principal,
            receipt_id,
            bank_credit_code=body.bank_credit_code,
            pledged_until=body.pledged_until,
            now=chain_now(w.runtime),
        )
        return entry, render_receipt(entry.subject_id)

    return w.run(fingerprint("receipt-pledge", receipt_id, body.model_dump()), make)


@router.post(
    "/{receipt_id}/release",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Release the pledge, e.g. on repayment (pledgee bank; allowed while frozen)",
)
def release(receipt_id: ReceiptPath, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = goods.release(w.session, w.principal, receipt_id)
        return entry, render_receipt(entry.subject_id)

    return w.run(fingerprint("receipt-release", receipt_id), make)


@router.post(
    "/{receipt_id}/enforce",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Enforce the pledge: the bank takes the receipt (while frozen, or after the term)",
    description=(
        "Pledgee bank only. While the lot's goods are in ALERT or OFFLINE the receipt is frozen: "
        "its owner can neither transfer, surrender nor re-pledge it, and the bank may keep the "
        "pledge, release it, or enforce it, becoming the receipt's owner. Outside a freeze a pledge "
        "can be enforced only once its term (`pledged_until`) has passed."
    ),
)
def enforce(receipt_id: ReceiptPath, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = goods.enforce(w.session, w.principal, receipt_id, now=chain_now(w.runtime))
        return entry, render_receipt(entry.subject_id)

    return w.run(fingerprint("receipt-enforce", receipt_id), make)


@router.post(
    "/{receipt_id}/surrender",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Surrender the receipt to take the goods out (owner; not while pledged or frozen)",
)
def surrender(receipt_id: ReceiptPath, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = goods.surrender(w.session, w.principal, receipt_id)
        return entry, render_receipt(entry.subject_id)

    return w.run(fingerprint("receipt-surrender", receipt_id), make)
