"""Operations: the outbox entries behind writes, and waiting for them to land and be indexed."""

from __future__ import annotations

import time

from sqlalchemy import bindparam
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.indexer import ChainIndexer
from api.models import OutboxEntry
from api.services.auth import Principal
from api.services.errors import Conflict, NotFound, snake
from chain.roles import Role


def get_visible(session: Session, principal: Principal, operation_id: str) -> OutboxEntry:
    """An operation its organisation started; the operator (who relays it) and auditors see all."""
    entry = session.get(OutboxEntry, operation_id)
    if entry is None or (
        entry.signer_org_id != principal.org.id and not principal.has(Role.OPERATOR | Role.AUDITOR)
    ):
        raise NotFound("operation_not_found", f"no operation {operation_id}")
    return entry


# Polled often by every waiting request: the status and block only, not the entry's arguments
# (a 100-invoice batch's are a large JSON document).
_PROGRESS = select(OutboxEntry.status, OutboxEntry.block_number).where(  # type: ignore[call-overload]
    col(OutboxEntry.id) == bindparam("id")
)


def _landed_or_refused(engine: Engine, operation_id: str, deadline: float) -> None:
    """Return once the operation is no longer in flight, or at `deadline`."""
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            row = conn.execute(_PROGRESS, {"id": operation_id}).first()
        if row is None or row[0] == "failed" or (row[0] == "confirmed" and row[1] is not None):
            return
        time.sleep(0.01)


def wait(engine: Engine, indexer: ChainIndexer, operation_id: str, timeout_s: float) -> OutboxEntry:
    """Wait until the operation is confirmed and indexed, raise its refusal, or return it still pending."""
    deadline = time.monotonic() + timeout_s
    while True:
        _landed_or_refused(engine, operation_id, deadline)
        with Session(engine) as session:
            entry = session.get(OutboxEntry, operation_id)
        if entry is None:
            raise NotFound("operation_not_found", f"no operation {operation_id}")
        if entry.status == "failed":
            raise Conflict(
                snake(entry.error_code or "transaction_failed"),
                f"the ledger refused the operation: {entry.error_code}",
                operation_id=entry.id,
                detail=entry.error_detail,
            )
        if entry.status == "confirmed" and entry.block_number is not None:
            remaining = max(0.0, deadline - time.monotonic())
            if indexer.wait_for_block(entry.block_number, remaining):
                return entry
        if time.monotonic() >= deadline:
            return entry  # still in flight: the caller answers 202 with the operation to poll
        time.sleep(0.01)
