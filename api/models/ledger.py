"""The read model the indexer builds from chain events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


class ChainEvent(SQLModel, table=True):
    """One decoded contract event, in chain order; the source every projection is rebuilt from."""

    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)

    id: int | None = Field(default=None, primary_key=True)
    block_number: int = Field(sa_column=Column(BigInteger, index=True, nullable=False))
    block_hash: str = Field(max_length=66)
    tx_hash: str = Field(max_length=66, index=True)
    log_index: int
    contract: str = Field(max_length=32)
    name: str = Field(max_length=48, index=True)
    subject: str | None = Field(
        default=None, max_length=66, index=True
    )  # piece/root/lot id the event is about
    args: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class IndexerCursor(SQLModel, table=True):
    """Where the indexer stands: the last block it applied, and that block's hash."""

    name: str = Field(primary_key=True, max_length=32)
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))
    block_hash: str = Field(max_length=66)


class Piece(SQLModel, table=True):
    """A receivable piece as the chain last said."""

    id: str = Field(primary_key=True, max_length=66)
    root_id: str = Field(max_length=66, index=True)
    parent_id: str | None = Field(default=None, max_length=66, index=True)
    creditor_org: int = Field(index=True)  # the root's supplier
    holder_org: int = Field(index=True)
    debtor_org: int = Field(index=True)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    due_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    state: str = Field(max_length=16, index=True)  # registered|confirmed|split|settled|rejected|cancelled
    lock: str = Field(default="none", max_length=20)  # none|finance_requested|financed|pledged
    lock_org: int = 0
    depth: int = 0
    standing: str = Field(default="current", max_length=16)
    updated_block: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class FinancingRequest(SQLModel, table=True):
    """A financing request on a piece, and how it ended."""

    id: int | None = Field(default=None, primary_key=True)
    piece_id: str = Field(max_length=66, index=True)
    holder_org: int = Field(index=True)
    bank_org: int = Field(index=True)  # 0: the open market
    max_rate_ppm: int
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="open", max_length=16, index=True)  # open|funded|cancelled|closed
    funded_by: int | None = None
    rate_ppm: int | None = None
    price_minor: int | None = Field(default=None, sa_column=Column(BigInteger))
    discount_minor: int | None = Field(default=None, sa_column=Column(BigInteger))
    discount_days: int | None = None
    tx_hash: str | None = Field(default=None, max_length=66)
