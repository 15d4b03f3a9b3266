"""FastAPI dependencies: runtime, database session, the authenticated principal, role guards."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from api.ratelimit import RateLimiter
from api.runtime import Runtime
from api.services.auth import Principal, authenticate
from api.services.errors import Forbidden, RateLimited, Unauthenticated
from chain.roles import Role

_bearer = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer scf_<prefix>_<secret>`"
)


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# Ids are INTEGER columns, 32-bit on PostgreSQL: ids a client sends are bounded to fit (else 422).
ID_LIMIT = 2**31
RowId = Annotated[int, Path(ge=1, lt=ID_LIMIT, description="a database id")]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.session() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session)]


def get_limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter  # type: ignore[no-any-return]


def current_principal(
    session: SessionDep,
    limiter: Annotated[RateLimiter, Depends(get_limiter)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated("missing_token", "send an API key as a Bearer token")
    principal = authenticate(session, credentials.credentials)
    wait_s = limiter.allow(principal.member.id or 0)
    if wait_s:
        raise RateLimited("rate_limited", "too many requests", retry_after_s=math.ceil(wait_s))
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(role: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits only active organisations holding `role`."""

    def guard(principal: CurrentPrincipal) -> Principal:
        if not principal.has(role):
            raise Forbidden("role_required", f"this needs the {role.name} role", required=role.name)
        return principal

    return guard


OperatorPrincipal = Annotated[Principal, Depends(require(Role.OPERATOR))]
AuditorPrincipal = Annotated[Principal, Depends(require(Role.AUDITOR))]
