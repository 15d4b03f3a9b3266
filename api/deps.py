"""FastAPI dependencies: runtime, database session, the authenticated principal, role guards."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.ratelimit import RateLimiter, SharedRateLimiter
from api.runtime import Runtime
from api.services.auth import Principal, authenticate
from api.services.errors import Forbidden, RateLimited, Unauthenticated
from chain.roles import Role

_bearer = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer scf_<prefix>_<secret>`"
)


# Dependencies that only look something up are `async def`: FastAPI runs a plain `def` dependency
# in the thread pool, and each such hop costs a thread switch per request.


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# Ids are INTEGER columns, 32-bit on PostgreSQL: ids a client sends are bounded to fit (else 422).
ID_LIMIT = 2**31
RowId = Annotated[int, Path(ge=1, lt=ID_LIMIT, description="a database id")]


def _inline(session: Session) -> bool:
    """Whether this session's statements may run on the event loop: SQLite, local and in WAL mode,
    answers reads without waiting on writers; a server database (PostgreSQL) is a network round
    trip and a pool that can run dry, so its work goes to the thread pool."""
    return session.get_bind().dialect.name == "sqlite"


def _has_writes(session: Session) -> bool:
    """Whether the session holds changes to commit (pending objects, or rows already flushed)."""
    if session.new or session.dirty or session.deleted:
        return True
    if not session.in_transaction():
        return False
    if not _inline(session):
        return True
    # pysqlite opens a database transaction only at the first write: none means a read-only request.
    return bool(session.connection().connection.dbapi_connection.in_transaction)  # type: ignore[union-attr]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    """The request's session, committed at the end if it wrote (in the thread pool: a commit may wait
    for the database's write lock), closed on the event loop when that cannot block."""
    session = runtime.session()
    inline = _inline(session)
    try:
        yield session
        if _has_writes(session):
            await run_in_threadpool(session.commit)
    except BaseException:
        if inline:
            session.rollback()
        else:
            await run_in_threadpool(session.rollback)
        raise
    finally:
        if inline:
            session.close()
        else:
            await run_in_threadpool(session.close)


# scope="function": the commit happens before the response is sent, so a client never acts on an
# answer (a new API key, say) whose transaction has not committed, or failed to.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

P = ParamSpec("P")
T = TypeVar("T")


async def run_read(session: Session, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `fn(*args, **kwargs)`, a read through `session` that writes nothing: on the event loop
    on SQLite (saving the thread-pool hop, whose hand-offs made most of a read route's tail
    latency), in the thread pool on PostgreSQL. Only database reads belong here: never chain calls,
    document files or anything else that can wait long."""
    if not _inline(session):
        return await run_in_threadpool(fn, *args, **kwargs)
    result = fn(*args, **kwargs)
    # Hand the connection back before the next await, as current_principal does; nothing was
    # written (expire_on_commit=False: what `fn` loaded stays readable). On an error the session's
    # rollback in get_session releases it.
    session.commit()
    return result


async def get_limiter(request: Request) -> RateLimiter | SharedRateLimiter:
    return request.app.state.limiter  # type: ignore[no-any-return]


async def current_principal(
    session: SessionDep,
    limiter: Annotated[RateLimiter | SharedRateLimiter, Depends(get_limiter)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated("missing_token", "send an API key as a Bearer token")
    # One indexed read (api.services.auth): on SQLite it runs here, saving a thread-pool hop.
    if _inline(session):
        principal = authenticate(session, credentials.credentials)
        # Hand the connection back at once: the event loop never holds one while it waits for
        # the pool (that would stall every request), and the endpoint's thread takes its own.
        session.commit()
    else:
        principal = await run_in_threadpool(authenticate, session, credentials.credentials)
    wait_s = limiter.allow(principal.member.id or 0)
    if wait_s:
        raise RateLimited("rate_limited", "too many requests", retry_after_s=math.ceil(wait_s))
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(role: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits only active organisations holding `role`."""

    async def guard(principal: CurrentPrincipal) -> Principal:
        if not principal.has(role):
            raise Forbidden("role_required", f"this needs the {role.name} role", required=role.name)
        return principal

    return guard


OperatorPrincipal = Annotated[Principal, Depends(require(Role.OPERATOR))]
AuditorPrincipal = Annotated[Principal, Depends(require(Role.AUDITOR))]
