"""Goods alerts: lots entering WARNING, ALERT or OFFLINE, and receipts frozen or unfrozen."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentPrincipal, SessionDep, run_read
from api.schemas import AlertPublic, ListOf
from api.services import goods

router = APIRouter(prefix="/alerts", tags=["goods"])


@router.get(
    "",
    response_model=ListOf[AlertPublic],
    summary="Alerts on lots you keep, own or hold in pledge, newest first (auditors: all)",
    description=(
        "Pushed as they happen too: `lot.alert` (ALERT or OFFLINE) and `receipt.frozen` notifications "
        "reach the pledgee bank and the owner by webhook and on `/events/stream`."
    ),
)
async def list_alerts(
    principal: CurrentPrincipal,
    session: SessionDep,
    lot: Annotated[str | None, Query(max_length=66, description="a lot's 0x id or reference")] = None,
    kind: Annotated[
        str | None, Query(pattern="^(lot_status|receipt_frozen|receipt_unfrozen)$", description="alert kind")
    ] = None,
    after_id: Annotated[int, Query(ge=0, lt=2**31, description="only alerts after this id")] = 0,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[AlertPublic]:
    def read() -> ListOf[AlertPublic]:
        rows, count = goods.list_alerts(
            session, principal, lot=lot, kind=kind, after_id=after_id, offset=offset, limit=limit
        )
        references = goods.references(session, [a.lot_id for a in rows])
        return ListOf(data=[AlertPublic.of(a, references.get(a.lot_id)) for a in rows], count=count)

    return await run_read(session, read)
