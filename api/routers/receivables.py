"""Receivables (pieces): list, read, split, transfer, financing requests, funding, quotes, repayment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlmodel import select

from api.deps import CurrentPrincipal, RuntimeDep, SessionDep, run_read
from api.models import OutboxEntry, Piece
from api.routers.writes import (
    CREATE_RESPONSES,
    WRITE_RESPONSES,
    Render,
    WaitParam,
    WriteDep,
    accepted,
    fingerprint,
)
from api.schemas import (
    FinancingRequestCreate,
    FinancingRequestPublic,
    FundRequest,
    ListOf,
    PiecePublic,
    Quote,
    RepaymentRequest,
    SplitRequest,
    TransferRequest,
)
from api.services import receivables
from api.services.money import from_minor, to_minor

router = APIRouter(tags=["receivables"])


def _piece(piece_id: str) -> Render:
    def render(session: SessionDep) -> PiecePublic:
        found = session.get(Piece, piece_id)
        assert found is not None
        return PiecePublic.of(found)

    return render


def _tree(root_id: str) -> Render:
    def render(session: SessionDep) -> list[PiecePublic]:
        rows = session.exec(select(Piece).where(Piece.root_id == root_id)).all()
        return [PiecePublic.of(p) for p in rows]

    return render


@router.get("/receivables", response_model=ListOf[PiecePublic], summary="Pieces you hold, owe or may finance")
async def list_receivables(
    principal: CurrentPrincipal,
    session: SessionDep,
    state: Annotated[str | None, Query(max_length=16)] = None,
    root_id: Annotated[str | None, Query(max_length=66)] = None,
    holder_org: Annotated[int | None, Query(ge=0, lt=2**31)] = None,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[PiecePublic]:
    def read() -> ListOf[PiecePublic]:
        rows, count = receivables.list_visible(
            session,
            principal,
            state=state,
            root_id=root_id,
            holder_org=holder_org,
            offset=offset,
            limit=limit,
        )
        return ListOf(data=[PiecePublic.of(p) for p in rows], count=count)

    return await run_read(session, read)


@router.get("/receivables/{piece_id}", response_model=PiecePublic)
async def get_receivable(piece_id: str, principal: CurrentPrincipal, session: SessionDep) -> PiecePublic:
    return await run_read(
        session, lambda: PiecePublic.of(receivables.get_visible(session, principal, piece_id))
    )


@router.post(
    "/receivables/{piece_id}/split",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Split into parts that sum to the piece",
)
def split(piece_id: str, body: SplitRequest, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        amounts = [to_minor(a, "CNY") for a in body.amounts]
        entry = receivables.split(w.session, w.principal, piece_id, amounts)
        return entry, _tree(receivables.get_visible(w.session, w.principal, piece_id).root_id)

    return w.run(fingerprint("split", piece_id, body.model_dump()), make)


@router.post(
    "/receivables/{piece_id}/transfer",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Pay a supplier with the piece",
)
def transfer(piece_id: str, body: TransferRequest, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = receivables.transfer(w.session, w.principal, piece_id, body.to_credit_code)
        return entry, _piece(entry.subject_id)

    return w.run(fingerprint("transfer", piece_id, body.model_dump()), make)


@router.post(
    "/receivables/{piece_id}/financing-requests",
    status_code=202,
    responses=CREATE_RESPONSES,
    summary="Ask a bank (or the market)",
)
def request_financing(piece_id: str, body: FinancingRequestCreate, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = receivables.request_financing(
            w.session,
            w.principal,
            piece_id,
            bank_credit_code=body.bank_credit_code,
            max_rate_ppm=body.max_rate_ppm,
            expires_at=body.expires_at,
        )
        return entry, _piece(entry.subject_id)

    return w.run(fingerprint("request", piece_id, body.model_dump()), make, created=True)


@router.delete(
    "/receivables/{piece_id}/financing-request",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Withdraw your request",
)
def cancel_financing(
    piece_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    wait: WaitParam = False,
) -> JSONResponse:
    entry = receivables.cancel_financing(session, principal, piece_id)
    return accepted(session, runtime, entry, wait=wait, render=_piece(entry.subject_id))


@router.get(
    "/receivables/{piece_id}/quote", response_model=Quote, summary="Price at a rate, computed on chain"
)
def quote(
    piece_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    rate_ppm: Annotated[int, Query(gt=0, le=1_000_000)],
) -> Quote:
    piece = receivables.get_visible(session, principal, piece_id)
    contract = runtime.client.contract("Receivables", runtime.deployment.address("Receivables"))
    at = runtime.client.w3.eth.get_block("latest")["timestamp"]
    price, discount, days = runtime.client.call(contract.functions.quote(int(piece.id, 16), rate_ppm, at))
    return Quote(
        piece_id=piece.id,
        rate_ppm=rate_ppm,
        price_minor=price,
        discount_minor=discount,
        discount_days=days,
        price=from_minor(price),
    )


@router.post(
    "/receivables/{piece_id}/fund",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Fund a requested piece (delivery vs payment)",
)
def fund(piece_id: str, body: FundRequest, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = receivables.fund(w.session, w.principal, piece_id, body.rate_ppm)
        return entry, _piece(entry.subject_id)

    return w.run(fingerprint("fund", piece_id, body.model_dump()), make)


@router.get(
    "/financing-requests", response_model=ListOf[FinancingRequestPublic], summary="Requests you may see"
)
async def list_requests(
    principal: CurrentPrincipal,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[FinancingRequestPublic]:
    def read() -> ListOf[FinancingRequestPublic]:
        rows, count = receivables.open_requests(session, principal, offset=offset, limit=limit)
        return ListOf(data=[FinancingRequestPublic.of(r) for r in rows], count=count)

    return await run_read(session, read)


@router.post(
    "/repayments",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Repay pieces at maturity, in one transaction",
)
def repay(body: RepaymentRequest, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        entry = receivables.repay(w.session, w.principal, body.piece_ids)
        return entry, _tree(entry.subject_id)

    return w.run(fingerprint("repay", body.model_dump()), make)
