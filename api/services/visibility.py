"""Who may see what: object-level authorization, as query filters and checks.

- suppliers and core firms: invoices they issued or owe; pieces they hold, owe, or originated;
- banks: pieces they hold or are asked to finance (addressed to them or to the open market),
  and those pieces' invoices;
- warehouses: the lots they registered and those lots' receipts; a receipt's owner and its pledgee
  bank: the receipt and its lot; alerts go to whoever was a party when they were raised, and to
  the lot's parties now;
- auditors: everything, read-only; the operator: organisations and members, not business data,
  except goods lots and receipts (what the network holds in custody, not who owes whom).
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import ColumnElement, bindparam, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from api.models import FinancingRequest, GoodsAlert, Invoice, Lot, Piece, Receipt
from api.services.auth import Principal
from chain.roles import Role


def is_auditor(p: Principal) -> bool:
    return p.has(Role.AUDITOR)


def piece_filter(p: Principal) -> ColumnElement[bool]:
    """SQL condition: pieces `p` may see."""
    return _piece_filter(is_auditor(p), p.has(Role.BANK), p.chain_org_id)


def visible_piece(p: Principal) -> SelectOfScalar[Piece]:
    """SELECT of the piece whose id is bound as `piece_id`, if `p` may see it."""
    return _visible_piece(is_auditor(p), p.has(Role.BANK), p.chain_org_id)


# Both are built once per (auditor, bank, organisation), the only inputs they depend on: SQL
# expressions are immutable, and a statement that is reused keeps its cache key, which SQLAlchemy
# would otherwise work out again on every request.
@lru_cache(maxsize=1024)
def _visible_piece(auditor: bool, bank: bool, org: int) -> SelectOfScalar[Piece]:
    return select(Piece).where(Piece.id == bindparam("piece_id"), _piece_filter(auditor, bank, org))


@lru_cache(maxsize=1024)
def _piece_filter(auditor: bool, bank: bool, org: int) -> ColumnElement[bool]:
    if auditor:
        return col(Piece.id).is_not(None)
    conditions = [Piece.holder_org == org, Piece.debtor_org == org, Piece.creditor_org == org]
    if bank:
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


def receipt_party_filter(p: Principal) -> ColumnElement[bool]:
    """SQL condition: receipts `p` is a party to (keeper, owner, pledgee bank)."""
    org = p.chain_org_id
    if not org:  # not admitted on chain yet: a party to nothing (0 is "no pledgee")
        return col(Receipt.id).is_(None)
    return or_(Receipt.warehouse_org == org, Receipt.owner_org == org, Receipt.pledgee_org == org)


def lot_party_filter(p: Principal) -> ColumnElement[bool]:
    """SQL condition: lots `p` is a party to: it keeps them, or owns or holds in pledge their receipt."""
    return or_(
        Lot.warehouse_org == p.chain_org_id,
        col(Lot.id).in_(select(Receipt.id).where(receipt_party_filter(p))),
    )


def lot_filter(p: Principal) -> ColumnElement[bool]:
    """SQL condition: lots `p` may see."""
    if is_auditor(p) or p.has(Role.OPERATOR):
        return col(Lot.id).is_not(None)
    return lot_party_filter(p)


def receipt_filter(p: Principal) -> ColumnElement[bool]:
    """SQL condition: receipts `p` may see."""
    if is_auditor(p) or p.has(Role.OPERATOR):
        return col(Receipt.id).is_not(None)
    return receipt_party_filter(p)


def alert_filter(p: Principal) -> ColumnElement[bool]:
    """SQL condition: goods alerts `p` may see: as a party then, or of a lot it is a party to now."""
    if is_auditor(p):
        return col(GoodsAlert.id).is_not(None)
    org = p.chain_org_id
    if not org or p.has(Role.OPERATOR):  # 0 stands for "no owner" and "no pledgee"
        return col(GoodsAlert.id).is_(None)
    return or_(
        GoodsAlert.warehouse_org == org,
        GoodsAlert.owner_org == org,
        GoodsAlert.pledgee_org == org,
        col(GoodsAlert.lot_id).in_(select(Lot.id).where(lot_party_filter(p))),
    )
