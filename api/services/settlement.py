"""Settlement-token balances and movements, and banks minting deposits for their clients."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_
from sqlmodel import Session, col, select

from api.models import ChainEvent, Organisation, OutboxEntry
from api.services.auth import Principal
from api.services.errors import Forbidden, Invalid, NotFound
from api.services.outbox import enqueue
from chain.roles import Role


def org_for_view(session: Session, principal: Principal, org_id: int) -> Organisation:
    """An organisation whose money the caller may see: its own, or any for an auditor."""
    org = session.get(Organisation, org_id)
    if org is None or (org.id != principal.org.id and not principal.has(Role.AUDITOR)):
        raise NotFound("organisation_not_found", f"no organisation {org_id}")
    return org


def movements(session: Session, org: Organisation, *, offset: int, limit: int) -> Sequence[ChainEvent]:
    """Settlement-token transfers in or out of the organisation's account, newest first."""
    address = org.account_address
    query = (
        select(ChainEvent)
        .where(ChainEvent.contract == "SettlementToken", ChainEvent.name == "Transfer")
        .where(
            or_(
                col(ChainEvent.args)["from"].as_string() == address,
                col(ChainEvent.args)["to"].as_string() == address,
            )
        )
        .order_by(col(ChainEvent.block_number).desc(), col(ChainEvent.log_index).desc())
        .offset(offset)
        .limit(limit)
    )
    return session.exec(query).all()


def mint(session: Session, principal: Principal, *, to_org_id: int, amount_minor: int) -> OutboxEntry:
    """A bank credits a client's deposit as settlement tokens."""
    if not principal.has(Role.BANK):
        raise Forbidden("role_required", "only banks mint deposits", required="BANK")
    if amount_minor <= 0:
        raise Invalid("invalid_amount", "the amount must be positive")
    to = session.get(Organisation, to_org_id)
    if to is None or to.chain_org_id is None:
        raise NotFound("organisation_not_found", f"no admitted organisation {to_org_id}")
    return enqueue(
        session,
        signer_org_id=principal.org.id or 0,
        contract="SettlementToken",
        function="mint",
        args=[to.account_address, amount_minor],
        subject_type="deposit",
        subject_id=f"org:{to.id}",
    )
