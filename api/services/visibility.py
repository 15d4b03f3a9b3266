"""Who may see what: object-level authorization, as query filters and checks.

- suppliers and core firms: invoices they issued or owe; pieces they hold, owe, or originated;
- banks: pieces they hold or are asked to finance (addressed to them or to the open market),
  and those pieces' invoices;
- auditors: everything, read-only; the operator: organisations and members, not business data.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from api.models import FinancingRequest, Invoice, Piece
from api.services.auth import Principal
from chain.roles import Role


def is_auditor(p: Principal) -> bool:
    return p.has(Role.AUDITOR)


def piece_filter(p: Principal) -> ColumnElement[bool]:
    """SQL condition: pieces `p` may see."""
    if is_auditor(p):
        return col(Piece.id).is_not(None)
    org = p.chain_org_id
    conditions = [Piece.holder_org == org, Piece.debtor_org == org, Piece.creditor_org == org]
    if p.has(Role.BANK):
        conditions.append(Piece.lock_org == org)
        market = select(FinancingRequest.piece_id).where(
            FinancingRequest.status == "open", col(FinancingRequest.bank_org).in_((0, org))
        )
        conditions.append(col(Piece.id).in_(market))
    return or_(*conditions)


def can_see_piece(session: Session, p: Principal, piece_id: str) -> bool:
    return session.exec(select(Piece.id).where(Piece.id == piece_id, piece_filter(p))).first() is not None


def invoice_filter(p: Principal) -> ColumnElement[bool]:
    """SQL condition: invoices `p` may see."""
    if is_auditor(p):
        return col(Invoice.id).is_not(None)
    conditions = [Invoice.seller_org_id == p.org.id, Invoice.buyer_org_id == p.org.id]
    if p.has(Role.BANK):
        visible_roots = select(Piece.root_id).where(piece_filter(p))
        conditions.append(col(Invoice.id).in_(visible_roots))
    return or_(*conditions)
