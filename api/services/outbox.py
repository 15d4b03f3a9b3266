"""Enqueue contract calls in the same database transaction as the business rows they serve."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from api.models import OutboxEntry


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > 2**53 else value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def enqueue(
    session: Session,
    *,
    signer_org_id: int,
    contract: str,
    function: str,
    args: list[Any],
    subject_type: str,
    subject_id: str,
) -> OutboxEntry:
    """Record a call for the relay; committed (or not) with the caller's transaction."""
    entry = OutboxEntry(
        id=str(uuid.uuid4()),
        signer_org_id=signer_org_id,
        contract=contract,
        function=function,
        args=_jsonable(args),
        subject_type=subject_type,
        subject_id=subject_id,
    )
    session.add(entry)
    return entry
