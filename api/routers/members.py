"""The calling member: who am I, rotate or revoke keys; operations I started."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentPrincipal, RowId, SessionDep, run_read
from api.schemas import Me, MemberCreated, OperationPublic, OrganisationPublic
from api.services import auth, operations
from chain.roles import Role

router = APIRouter(tags=["members"])


@router.get("/me", response_model=Me)
async def me(principal: CurrentPrincipal) -> Me:
    return Me(
        member_id=principal.member.id or 0,
        name=principal.member.name,
        organisation=OrganisationPublic.of(principal.org),
        api_key_id=principal.key_id,
    )


@router.post(
    "/me/api-keys/rotate", response_model=MemberCreated, status_code=201, summary="New key; old one revoked"
)
def rotate(principal: CurrentPrincipal, session: SessionDep) -> MemberCreated:
    key, token = auth.rotate_key(session, principal=principal)
    return MemberCreated(
        member_id=principal.member.id or 0,
        org_id=principal.org.id or 0,
        api_key_id=key.id or 0,
        api_key=token,
    )


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke a key, effective at once")
def revoke(key_id: RowId, principal: CurrentPrincipal, session: SessionDep) -> None:
    auth.revoke_key(session, principal=principal, key_id=key_id, operator=principal.has(Role.OPERATOR))


@router.get("/operations/{operation_id}", response_model=OperationPublic, summary="Status of a write")
async def operation(operation_id: str, principal: CurrentPrincipal, session: SessionDep) -> OperationPublic:
    return await run_read(
        session, lambda: OperationPublic.of(operations.get_visible(session, principal, operation_id))
    )
