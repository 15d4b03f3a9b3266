"""Pieces: split, transfer, financing (request, fund), repayment, and reads from the read model."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_
from sqlmodel import Session, col, func, select

from api.models import FinancingRequest, OutboxEntry, Piece
from api.services.auth import Principal
from api.services.errors import Conflict, Forbidden, Invalid, NotFound
from api.services.organisations import active_org
from api.services.outbox import enqueue
from api.services.visibility import piece_filter, visible_piece
from chain.roles import Role

MAX_RATE_PPM = 1_000_000


def get_visible(session: Session, principal: Principal, piece_id: str) -> Piece:
    piece = session.exec(visible_piece(principal), params={"piece_id": piece_id.lower()}).first()
    if piece is None:
        raise NotFound("receivable_not_found", f"no receivable {piece_id}")
    return piece


def list_visible(
    session: Session,
    principal: Principal,
    *,
    state: str | None,
    root_id: str | None,
    holder_org: int | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Piece], int]:
    query = select(Piece).where(piece_filter(principal))
    if state:
        query = query.where(Piece.state == state)
    if root_id:
        query = query.where(Piece.root_id == root_id.lower())
    if holder_org is not None:
        query = query.where(Piece.holder_org == holder_org)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Piece.updated_block).desc(), col(Piece.id)).offset(offset).limit(limit)
    ).all()
    return rows, total


def _held(session: Session, principal: Principal, piece_id: str) -> Piece:
    piece = get_visible(session, principal, piece_id)
    if piece.holder_org != principal.chain_org_id or not principal.has(Role.SUPPLIER):
        raise Forbidden("not_holder", "only the holder's organisation may do this")
    if piece.state != "confirmed":
        raise Conflict("invalid_state", f"the receivable is {piece.state}", state=piece.state)
    if piece.lock != "none":
        raise Conflict(
            f"receivable_{piece.lock}",
            f"the receivable is {piece.lock.replace('_', ' ')}",
            lock_org=piece.lock_org,
        )
    return piece


def _piece_call(
    session: Session, principal: Principal, piece: Piece, function: str, args: list[object]
) -> OutboxEntry:
    return enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="Receivables",
        function=function,
        args=args,
        subject_type="piece",
        subject_id=piece.id,
    )


def split(session: Session, principal: Principal, piece_id: str, amounts_minor: list[int]) -> OutboxEntry:
    piece = _held(session, principal, piece_id)
    if not 2 <= len(amounts_minor) <= 16 or any(a <= 0 for a in amounts_minor):
        raise Invalid("invalid_split", "a split takes 2 to 16 positive parts")
    if sum(amounts_minor) != piece.amount_minor:
        raise Invalid(
            "split_sum_mismatch",
            "the parts must sum exactly to the receivable",
            expected_minor=piece.amount_minor,
            actual_minor=sum(amounts_minor),
        )
    return _piece_call(session, principal, piece, "split", [int(piece.id, 16), amounts_minor])


def transfer(session: Session, principal: Principal, piece_id: str, to_credit_code: str) -> OutboxEntry:
    piece = _held(session, principal, piece_id)
    to = active_org(session, to_credit_code, Role.SUPPLIER, "supplier")
    if to.id == principal.org.id:
        raise Invalid("self_transfer", "the receivable is already yours")
    return _piece_call(session, principal, piece, "transfer", [int(piece.id, 16), to.chain_org_id])


def request_financing(
    session: Session,
    principal: Principal,
    piece_id: str,
    *,
    bank_credit_code: str | None,
    max_rate_ppm: int,
    expires_at: int,
) -> OutboxEntry:
    piece = _held(session, principal, piece_id)
    bank_org = 0
    if bank_credit_code:
        bank_org = active_org(session, bank_credit_code, Role.BANK, "bank").chain_org_id or 0
    if not 0 < max_rate_ppm <= MAX_RATE_PPM:
        raise Invalid("invalid_rate", "the maximum rate is in parts per million a year, 1 to 1,000,000")
    if expires_at > piece.due_at:
        raise Invalid("invalid_expiry", "a request must expire by the due date")
    args = [int(piece.id, 16), bank_org, max_rate_ppm, expires_at]
    return _piece_call(session, principal, piece, "requestFinancing", args)


def cancel_financing(session: Session, principal: Principal, piece_id: str) -> OutboxEntry:
    piece = get_visible(session, principal, piece_id)
    if piece.holder_org != principal.chain_org_id:
        raise Forbidden("not_holder", "only the holder's organisation may do this")
    if piece.lock != "finance_requested":
        raise Conflict("no_finance_request", "the receivable has no open financing request")
    return _piece_call(session, principal, piece, "cancelFinancingRequest", [int(piece.id, 16)])


def open_requests(
    session: Session, principal: Principal, *, offset: int, limit: int
) -> tuple[Sequence[FinancingRequest], int]:
    """Requests the caller may see: a bank sees those addressed to it, and the market's while open.

    Once another bank has funded a market request, its terms are that bank's business.
    """
    query = select(FinancingRequest)
    if not principal.has(Role.AUDITOR):
        org = principal.chain_org_id
        visible = [FinancingRequest.holder_org == org, FinancingRequest.funded_by == org]
        if principal.has(Role.BANK):
            visible.append(FinancingRequest.bank_org == org)
            visible.append(and_(FinancingRequest.bank_org == 0, FinancingRequest.status == "open"))
        query = query.where(or_(*visible))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(FinancingRequest.id).desc()).offset(offset).limit(limit)).all()
    return rows, total


def fund(session: Session, principal: Principal, piece_id: str, rate_ppm: int) -> OutboxEntry:
    """Enqueue the bank's delivery-versus-payment funding; the chain checks rate, request and bank."""
    if not principal.has(Role.BANK):
        raise Forbidden("role_required", "only banks fund receivables", required="BANK")
    piece = get_visible(session, principal, piece_id)
    if piece.lock == "financed":
        raise Conflict(
            "receivable_already_financed", "the receivable is already financed", bank_org=piece.lock_org
        )
    if piece.lock != "finance_requested":
        raise Conflict("no_finance_request", "the receivable has no open financing request")
    if not 0 < rate_ppm <= MAX_RATE_PPM:
        raise Invalid("invalid_rate", "the rate is in parts per million a year, 1 to 1,000,000")
    return enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="Receivables",
        function="fund",
        args=[int(piece.id, 16), rate_ppm],
        subject_type="piece",
        subject_id=piece.id,
    )


def repay(session: Session, principal: Principal, piece_ids: list[str]) -> OutboxEntry:
    """Enqueue the debtor's repayment of the listed pieces, in one transaction."""
    if not principal.has(Role.CORE_FIRM):
        raise Forbidden("role_required", "only the debtor repays", required="CORE_FIRM")
    if not 1 <= len(piece_ids) <= 128:
        raise Invalid("invalid_batch", "repay 1 to 128 pieces at a time")
    pieces = [get_visible(session, principal, pid) for pid in piece_ids]
    for piece in pieces:
        if piece.debtor_org != principal.chain_org_id:
            raise Forbidden("not_debtor", "only the debtor repays", piece_id=piece.id)
        if piece.state != "confirmed":
            raise Conflict("invalid_state", f"receivable {piece.id} is {piece.state}", piece_id=piece.id)
    return enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="Receivables",
        function="repay",
        args=[[int(p.id, 16) for p in pieces]],
        subject_type="repayment",
        subject_id=pieces[0].root_id,
    )
