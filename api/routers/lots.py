"""Goods lots: register with their devices, list, read, issue the receipt, prove a sensor reading."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, RuntimeDep, SessionDep, run_read
from api.models import Lot, LotReport, OutboxEntry, Receipt
from api.routers.writes import CREATE_RESPONSES, Render, WriteDep, fingerprint
from api.runtime import Runtime
from api.schemas import (
    DevicePublic,
    ListOf,
    LotCreate,
    LotPublic,
    ReadingProofPublic,
    ReceiptPublic,
)
from api.services import goods, reading_proofs
from api.services.errors import TooLarge

router = APIRouter(prefix="/lots", tags=["goods"])

LotPath = Annotated[
    str, Path(max_length=66, description="the lot's 0x id, or the warehouse's reference (LOT-7)")
]


def chain_now(runtime: Runtime) -> int:
    """The time the next block will have at the earliest: the chain's, or the wall clock if later."""
    latest = int(runtime.client.w3.eth.get_block("latest")["timestamp"])
    return max(latest, int(time.time()))


def receipts_public(session: Session, receipts: Sequence[Receipt]) -> list[ReceiptPublic]:
    ids = [r.id for r in receipts]
    references = goods.references(session, ids)
    statuses = goods.lot_statuses(session, ids)
    return [
        ReceiptPublic.of(r, reference=references.get(r.id), goods=statuses.get(r.id, ("unknown", 0)))
        for r in receipts
    ]


def lots_public(session: Session, lots: Sequence[Lot]) -> list[LotPublic]:
    views = goods.details(session, lots)
    receipts = receipts_public(session, [v.receipt for v in views if v.receipt is not None])
    by_id = {r.id: r for r in receipts}
    return [
        LotPublic(
            id=v.lot.id,
            reference=v.label.reference if v.label else None,
            warehouse_org=v.lot.warehouse_org,
            goods=v.lot.goods,
            specification=v.lot.specification,
            quantity=_decimal(int(v.lot.quantity_milli)),
            quantity_milli=int(v.lot.quantity_milli),
            unit=v.lot.unit,
            location=v.lot.location,
            info_hash=v.lot.info_hash,
            status=v.lot.status,
            round=v.lot.round,
            observed_at=v.lot.observed_at,
            devices=[
                DevicePublic(device_id=d.device_id, name=v.device_name(d), key=d.key) for d in v.devices
            ],
            receipt=by_id.get(v.lot.id),
        )
        for v in views
    ]


def _decimal(milli: int) -> str:
    whole, fraction = divmod(milli, 1000)
    return f"{whole}.{fraction:03d}".rstrip("0").rstrip(".")


def _render_lot(lot_id: str) -> Render:
    def render(session: Session) -> LotPublic:
        found = session.get(Lot, lot_id)
        assert found is not None
        return lots_public(session, [found])[0]

    return render


def render_receipt(receipt_id: str) -> Render:
    def render(session: Session) -> ReceiptPublic:
        found = session.get(Receipt, receipt_id)
        assert found is not None
        return receipts_public(session, [found])[0]

    return render


@router.post(
    "",
    status_code=202,
    responses=CREATE_RESPONSES,
    summary="Register a goods lot with the devices that watch it (warehouses)",
)
def register(body: LotCreate, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        data = goods.LotInput(
            reference=body.reference,
            goods=body.goods,
            specification=body.specification,
            quantity=body.quantity,
            unit=body.unit,
            location=body.location,
            devices=[(d.device, d.key) for d in body.devices],
        )
        lot_id, entry = goods.register_lot(w.session, w.principal, data)
        return entry, _render_lot(lot_id)

    return w.run(fingerprint("lot", body.model_dump()), make, created=True)


@router.get(
    "",
    response_model=ListOf[LotPublic],
    summary="Lots you keep, own or hold in pledge (auditors and the operator: all)",
)
async def list_lots(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: Annotated[
        str | None, Query(max_length=16, description="unknown|ok|warning|alert|offline")
    ] = None,
    warehouse_org: Annotated[int | None, Query(ge=0, lt=2**31)] = None,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[LotPublic]:
    def read() -> ListOf[LotPublic]:
        rows, count = goods.list_lots(
            session, principal, status=status, warehouse_org=warehouse_org, offset=offset, limit=limit
        )
        return ListOf(data=lots_public(session, rows), count=count)

    return await run_read(session, read)


@router.get(
    "/{lot}",
    response_model=LotPublic,
    summary="A lot: what it holds, its devices, the oracle's latest status and its receipt",
)
async def get_lot(lot: LotPath, principal: CurrentPrincipal, session: SessionDep) -> LotPublic:
    return await run_read(session, lambda: lots_public(session, [goods.get_lot(session, principal, lot)])[0])


@router.post(
    "/{lot}/receipt",
    status_code=202,
    responses=CREATE_RESPONSES,
    summary="Issue the lot's warehouse receipt to its owner, with the receipt document (the lot's warehouse)",
)
async def issue_receipt(
    lot: LotPath,
    w: WriteDep,
    owner_credit_code: Annotated[
        str, Form(min_length=18, max_length=18, description="the goods' owner: a supplier, core firm or bank")
    ],
    document: Annotated[
        UploadFile | None, File(description="the receipt document (PDF or image); its SHA-256 goes on chain")
    ] = None,
    document_sha256: Annotated[
        str | None, Form(pattern=r"^[0-9a-fA-F]{64}$", description="instead of the document: its SHA-256")
    ] = None,
) -> JSONResponse:
    limit = w.runtime.settings.max_document_bytes
    content = None
    if document is not None:
        content = await document.read(limit + 1)
        if len(content) > limit:
            raise TooLarge("document_too_large", f"the document exceeds {limit} bytes")

    def make() -> tuple[OutboxEntry, Render]:
        entry = goods.issue_receipt(
            w.session,
            w.runtime.store,
            w.principal,
            lot,
            owner_credit_code=owner_credit_code,
            content=content,
            document_sha256=document_sha256,
            max_document_bytes=limit,
        )
        return entry, render_receipt(entry.subject_id)

    request_hash = fingerprint("receipt", lot, owner_credit_code, document_sha256, content or b"")
    return await run_in_threadpool(w.run, request_hash, make, created=True)


@router.get(
    "/{lot}/readings/{device}/{seq}/proof",
    response_model=ReadingProofPublic,
    summary="Prove a sensor reading against the Merkle root anchored on chain (auditors, lot parties)",
    description=(
        "The proof is fetched from the oracle nodes' proof endpoints, tried in order, and never "
        "trusted: the goods oracle on chain verifies it against the root it anchored for the round, "
        "and the reading must hash to the proven payload hash and be signed by the key the chain "
        "binds to the device. A proof that fails is answered with `verified: false` and a `code`."
    ),
)
def reading_proof(
    lot: LotPath,
    device: Annotated[str, Path(max_length=64, description="the device's name")],
    seq: Annotated[int, Path(ge=0, lt=2**63, description="the reading's sequence number")],
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> ReadingProofPublic:
    found = goods.lot_for_proof(session, principal, lot)
    bound = goods.bound_device(session, found, device)
    verdict = reading_proofs.prove(
        runtime.auditor,
        runtime.settings.oracle_proof_urls,
        lot_id=found.id,
        device=device,
        seq=seq,
        timeout_s=runtime.settings.oracle_proof_timeout_s,
    )
    claim = verdict.claim
    report = session.exec(
        select(LotReport).where(LotReport.lot_id == found.id, col(LotReport.round) == claim.round)
    ).first()
    return ReadingProofPublic(
        lot_id=found.id,
        device=device,
        device_id=bound.device_id,
        seq=seq,
        round=claim.round,
        root=claim.root,
        anchored_root=verdict.anchored_root,
        proof=claim.proof,
        payload_hash=claim.payload_hash,
        leaf=verdict.leaf,
        reading=verdict.reading,
        report_tx_hash=report.tx_hash if report else None,
        report_block_number=report.block_number if report else None,
        source=claim.source,
        verified=verdict.verified,
        code=verdict.code,
        message=verdict.message,
    )
