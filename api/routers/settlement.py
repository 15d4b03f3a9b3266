"""Settlement-token balances and movements; banks mint deposits for their clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentPrincipal, RowId, RuntimeDep, SessionDep, run_read
from api.models import Organisation, OutboxEntry
from api.routers.writes import CREATE_RESPONSES, Render, WriteDep, fingerprint
from api.schemas import Balance, ChainEventPublic, DepositCreate, ListOf
from api.services import settlement
from api.services.money import from_minor, to_minor

router = APIRouter(prefix="/settlement", tags=["settlement"])


def _balance(runtime: RuntimeDep, org_id: int, address: str) -> Balance:
    token = runtime.client.contract("SettlementToken", runtime.deployment.address("SettlementToken"))
    amount = runtime.client.call(token.functions.balanceOf(address))
    return Balance(org_id=org_id, account_address=address, balance_minor=amount, balance=from_minor(amount))


@router.get("/balances/{org_id}", response_model=Balance, summary="An organisation's settlement balance")
def balance(org_id: RowId, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep) -> Balance:
    org = settlement.org_for_view(session, principal, org_id)
    return _balance(runtime, org.id or 0, org.account_address)


@router.get("/movements/{org_id}", response_model=ListOf[ChainEventPublic], summary="Transfers in and out")
async def movements(
    org_id: RowId,
    principal: CurrentPrincipal,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[ChainEventPublic]:
    def read() -> ListOf[ChainEventPublic]:
        org = settlement.org_for_view(session, principal, org_id)
        rows = settlement.movements(session, org, offset=offset, limit=limit)
        data = [ChainEventPublic.model_validate(r, from_attributes=True) for r in rows]
        return ListOf(data=data, count=len(data))

    return await run_read(session, read)


@router.post(
    "/deposits", status_code=202, responses=CREATE_RESPONSES, summary="A bank credits a client's deposit"
)
def deposit(body: DepositCreate, w: WriteDep) -> JSONResponse:
    def render(session: SessionDep) -> Balance:
        org = session.get(Organisation, body.to_org_id)
        assert org is not None
        return _balance(w.runtime, org.id or 0, org.account_address)

    def make() -> tuple[OutboxEntry, Render]:
        amount_minor = to_minor(body.amount, "CNY")
        return settlement.mint(
            w.session, w.principal, to_org_id=body.to_org_id, amount_minor=amount_minor
        ), render

    return w.run(fingerprint("deposit", body.model_dump()), make, created=True)
