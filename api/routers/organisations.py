"""Organisations and members: the operator admits, suspends and reinstates; everyone can look up."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, func, select

from api.deps import CurrentPrincipal, OperatorPrincipal, RowId, RuntimeDep, SessionDep, run_read
from api.models import Organisation, OutboxEntry
from api.routers.writes import (
    CREATE_RESPONSES,
    WRITE_RESPONSES,
    Render,
    Write,
    WriteDep,
    fingerprint,
)
from api.schemas import (
    AccountCreate,
    AccountPublic,
    ListOf,
    MemberCreate,
    MemberCreated,
    OrganisationCreate,
    OrganisationPublic,
)
from api.services import oracles, organisations
from api.services.errors import Invalid, NotFound
from api.services.oracles import Ledger
from chain.roles import Role

router = APIRouter(prefix="/organisations", tags=["organisations"])

GAS_FUNDING_WEI = 10**18


def _roles(names: list[str]) -> int:
    roles = 0
    for name in names:
        try:
            roles |= Role[name.upper()]
        except KeyError:
            raise Invalid("invalid_roles", f"unknown role {name!r}") from None
    return int(roles)


@router.post("", status_code=202, responses=CREATE_RESPONSES, summary="Admit an organisation")
def admit(body: OrganisationCreate, _: OperatorPrincipal, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        org, entry = organisations.admit(
            w.session,
            master_key=w.runtime.master_key,
            name=body.name,
            credit_code=body.credit_code,
            roles=_roles(body.roles),
            gas_funding_wei=GAS_FUNDING_WEI,
        )
        if org.roles & (Role.BANK | Role.CORE_FIRM):
            organisations.approve_settlement(
                w.session, org=org, spender=w.runtime.deployment.address("Receivables")
            )
        return entry, _render(org.id or 0)

    return w.run(fingerprint("admit", body.model_dump()), make, created=True)


def _render(org_id: int) -> Render:
    def render(session: SessionDep) -> OrganisationPublic:
        found = session.get(Organisation, org_id)
        assert found is not None
        return OrganisationPublic.of(found)

    return render


@router.get("", response_model=ListOf[OrganisationPublic], summary="The network's directory")
async def directory(
    _: CurrentPrincipal,
    session: SessionDep,
    role: Annotated[str | None, Query(max_length=16)] = None,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[OrganisationPublic]:
    query = select(Organisation)
    if role:
        query = query.where(col(Organisation.roles).op("&")(_roles([role])) != 0)

    def read() -> ListOf[OrganisationPublic]:
        count = session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = session.exec(query.order_by(col(Organisation.id)).offset(offset).limit(limit)).all()
        return ListOf(data=[OrganisationPublic.of(o) for o in rows], count=count)

    return await run_read(session, read)


@router.get("/{org_id}", response_model=OrganisationPublic)
async def get_organisation(org_id: RowId, _: CurrentPrincipal, session: SessionDep) -> OrganisationPublic:
    def read() -> OrganisationPublic:
        org = session.get(Organisation, org_id)
        if org is None:
            raise NotFound("organisation_not_found", f"no organisation {org_id}")
        return OrganisationPublic.of(org)

    return await run_read(session, read)


def _status_change(org_id: int, suspended: bool, w: Write) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        return organisations.set_suspended(w.session, org_id=org_id, suspended=suspended), _render(org_id)

    return w.run(fingerprint("suspend" if suspended else "reinstate", org_id), make)


@router.post(
    "/{org_id}/suspend",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Suspend: none of its accounts can act",
)
def suspend(org_id: RowId, _: OperatorPrincipal, w: WriteDep) -> JSONResponse:
    return _status_change(org_id, True, w)


@router.post("/{org_id}/reinstate", status_code=202, responses=WRITE_RESPONSES, summary="Lift a suspension")
def reinstate(org_id: RowId, _: OperatorPrincipal, w: WriteDep) -> JSONResponse:
    return _status_change(org_id, False, w)


@router.post("/{org_id}/members", status_code=201, response_model=MemberCreated, summary="Add a member")
def add_member(org_id: RowId, body: MemberCreate, _: OperatorPrincipal, session: SessionDep) -> MemberCreated:
    member, token, key_id = organisations.add_member(session, org_id=org_id, name=body.name)
    return MemberCreated(member_id=member.id or 0, org_id=org_id, api_key_id=key_id, api_key=token)


# -- accounts: keys held outside the API (an oracle node's, a core firm's confirmation key) ---------
# Chain reads, so these are `def` routes: they run in the thread pool, never on the event loop.

AddressPath = Annotated[str, Path(max_length=64, description="20-byte hex address")]


def _accounts(ledger: Ledger, org: Organisation) -> ListOf[AccountPublic]:
    found = ledger.accounts(org.chain_org_id) if org.chain_org_id is not None else []
    data = [AccountPublic.model_validate(a) for a in found]
    return ListOf(data=data, count=len(data))


@router.get(
    "/{org_id}/accounts",
    response_model=ListOf[AccountPublic],
    summary="The organisation's accounts, as the member registry holds them",
)
def accounts(
    org_id: RowId, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> ListOf[AccountPublic]:
    org = oracles.org_for_accounts(session, principal, org_id)
    return _accounts(Ledger.of(runtime.client, runtime.deployment), org)


@router.post(
    "/{org_id}/accounts",
    status_code=202,
    responses=CREATE_RESPONSES,
    summary="Bind a key held outside the API to the organisation",
)
def bind_account(org_id: RowId, body: AccountCreate, _: OperatorPrincipal, w: WriteDep) -> JSONResponse:
    def make() -> tuple[OutboxEntry, Render]:
        org, account, entry = oracles.bind_account(w.session, org_id=org_id, address=body.address)
        chain_org_id = org.chain_org_id or 0

        def render(_: Session) -> AccountPublic:
            ledger = Ledger.of(w.runtime.client, w.runtime.deployment)
            return AccountPublic.model_validate(ledger.account(chain_org_id, account))

        return entry, render

    return w.run(fingerprint("bind_account", org_id, body.address), make, created=True)


@router.delete(
    "/{org_id}/accounts/{address}",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Remove an account (not the payout account) from the organisation",
)
def unbind_account(org_id: RowId, address: AddressPath, _: OperatorPrincipal, w: WriteDep) -> JSONResponse:
    ledger = Ledger.of(w.runtime.client, w.runtime.deployment)

    def make() -> tuple[OutboxEntry, Render]:
        entry = oracles.unbind_account(w.session, ledger, org_id=org_id, address=address)

        def render(session: Session) -> ListOf[AccountPublic]:
            org = session.get(Organisation, org_id)
            assert org is not None
            return _accounts(ledger, org)

        return entry, render

    return w.run(fingerprint("unbind_account", org_id, address), make)
