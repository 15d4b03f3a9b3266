"""The transactional outbox, the relay's nonce ownership, and idempotency records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from api.models.base import utcnow


class OutboxEntry(SQLModel, table=True):
    """A contract call to make, committed with the business row that needs it.

    pending -> signed (raw transaction and hash stored before sending) -> sent -> confirmed | failed.
    """

    id: str = Field(primary_key=True, max_length=36)
    signer_org_id: int = Field(foreign_key="organisation.id", index=True)
    contract: str = Field(max_length=32)
    function: str = Field(max_length=48)
    args: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    subject_type: str = Field(max_length=24)
    subject_id: str = Field(max_length=66, index=True)
    status: str = Field(default="pending", max_length=12, index=True)
    nonce: int | None = None
    tx_hash: str | None = Field(default=None, max_length=66)
    raw_tx: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    error_code: str | None = Field(default=None, max_length=64)
    error_detail: str | None = Field(default=None, sa_column=Column(Text))
    block_number: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class SignerNonce(SQLModel, table=True):
    """The next nonce of a signing address; only the relay advances it."""

    address: str = Field(primary_key=True, max_length=42)
    next_nonce: int


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a POST with an Idempotency-Key, replayed for the same key and body."""

    member_id: int = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=128)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow)
