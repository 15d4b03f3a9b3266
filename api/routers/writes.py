"""How routers answer writes: 202 with the operation, or (with ?wait=true) the landed result.

Every POST may carry an `Idempotency-Key`: the first response for (member, key) is stored with a
fingerprint of the request and replayed for the same request; another request under the same key
is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query
from fastapi.responses import JSONResponse
from pydantic_core import to_jsonable_python
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from api.deps import CurrentPrincipal, RuntimeDep, SessionDep
from api.errors import STATUS_BY_KIND, error_body
from api.models import IdempotencyRecord, OutboxEntry
from api.runtime import Runtime
from api.schemas import Accepted, Landed, OperationPublic
from api.services import operations
from api.services.auth import Principal
from api.services.errors import Conflict, Invalid, ServiceError

WaitParam = Annotated[bool, Query(description="block until the write has landed on chain and been indexed")]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=128, description="retry-safe key for this write")
]

_IN_FLIGHT = {
    "model": Accepted,
    "description": "accepted; the write is in flight (or failed: see the operation)",
}
# Writes answer 202 with the operation, or (?wait=true) the landed result: 200, or 201 if they create.
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: _IN_FLIGHT,
    200: {"model": Landed, "description": "with ?wait=true: landed and indexed"},
}
CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: _IN_FLIGHT,
    201: {"model": Landed, "description": "with ?wait=true: created on chain and indexed"},
}


def fingerprint(*parts: Any) -> str:
    """A stable hash of what makes two requests the same request."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(
            part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode()
        )
        digest.update(b"\x00")
    return digest.hexdigest()


def idempotent(
    session: Session,
    principal: Principal,
    key: str | None,
    request_hash: str,
    produce: Callable[[], JSONResponse],
) -> JSONResponse:
    """Run `produce` once per (member, key); replay its response for the same request."""
    if key is None:
        return produce()
    if not key.strip():
        raise Invalid("invalid_idempotency_key", "the Idempotency-Key is empty")
    member_id = principal.member.id or 0
    record = session.get(IdempotencyRecord, (member_id, key))
    if record is not None:
        if record.request_hash != request_hash:
            raise Conflict("idempotency_key_reused", "this Idempotency-Key was used for a different request")
        return JSONResponse(
            record.response_body, status_code=record.status_code, headers={"Idempotent-Replay": "true"}
        )
    try:
        response = produce()
    except ServiceError as exc:  # refusals are answers too: replay them
        body = error_body(exc.code, exc.message, exc.details)
        response = JSONResponse(to_jsonable_python(body), status_code=STATUS_BY_KIND[exc.kind])
    body = json.loads(bytes(response.body))
    session.add(
        IdempotencyRecord(
            member_id=member_id,
            key=key,
            request_hash=request_hash,
            status_code=response.status_code,
            response_body=body,
        )
    )
    try:
        session.commit()
    except IntegrityError:  # a concurrent request with the same key won: answer as it did
        session.rollback()
        record = session.get(IdempotencyRecord, (member_id, key))
        if record is None or record.request_hash != request_hash:
            raise Conflict(
                "idempotency_key_reused", "this Idempotency-Key was used for a different request"
            ) from None
        return JSONResponse(
            record.response_body, status_code=record.status_code, headers={"Idempotent-Replay": "true"}
        )
    return response


def accepted(
    session: Session,
    runtime: Runtime,
    entry: OutboxEntry,
    *,
    wait: bool,
    render: Callable[[Session], Any],
    created: bool = False,
) -> JSONResponse:
    """Commit the write; answer 202 with its operation, or wait and answer with `render()`."""
    session.commit()
    runtime.relay.wakeup.set()
    if wait:
        landed = operations.wait(runtime.engine, runtime.indexer, entry.id, runtime.settings.wait_timeout_s)
        if landed.status == "confirmed":
            session.expire_all()
            body = {
                "operation": OperationPublic.of(landed).model_dump(),
                # pydantic's own encoder: FastAPI's jsonable_encoder takes ~5 ms per 100 invoices.
                "result": to_jsonable_python(render(session), by_alias=True),
            }
            return JSONResponse(body, status_code=201 if created else 200)
        entry = landed
    return JSONResponse(
        to_jsonable_python(Accepted(operation=OperationPublic.of(entry)), by_alias=True), status_code=202
    )


Render = Callable[[Session], Any]


@dataclass(frozen=True)
class Write:
    """What every write route needs: the caller, its session, the runtime, `?wait`, `Idempotency-Key`."""

    principal: Principal
    session: Session
    runtime: Runtime
    wait: bool
    idempotency_key: str | None

    def run(
        self, request_hash: str, make: Callable[[], tuple[OutboxEntry, Render]], *, created: bool = False
    ) -> JSONResponse:
        """Call the service once per idempotency key; answer with its operation, or its landed result."""

        def produce() -> JSONResponse:
            entry, render = make()
            return accepted(self.session, self.runtime, entry, wait=self.wait, render=render, created=created)

        return idempotent(self.session, self.principal, self.idempotency_key, request_hash, produce)


def write_context(
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    wait: WaitParam = False,
    idempotency_key: IdempotencyKey = None,
) -> Write:
    return Write(principal, session, runtime, wait, idempotency_key)


WriteDep = Annotated[Write, Depends(write_context)]
