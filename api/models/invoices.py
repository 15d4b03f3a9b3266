"""Invoices as uploaded, and their documents (stored content-addressed on disk)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, SQLModel

from api.models.base import utcnow


class Invoice(SQLModel, table=True):
    """An uploaded invoice; `id` is its canonical key (the receivable id on chain), as 0x-hex."""

    id: str = Field(primary_key=True, max_length=66)
    seller_org_id: int = Field(foreign_key="organisation.id", index=True)
    buyer_org_id: int = Field(foreign_key="organisation.id", index=True)
    invoice_number: str = Field(max_length=40)
    currency: str = Field(max_length=3)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    issue_date: dt.date
    due_date: dt.date
    due_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    line_items: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    document_sha256: str = Field(max_length=64, index=True)
    document_name: str = Field(max_length=255)
    # pending -> registered -> confirmed | rejected | cancelled; failed if the chain refused.
    status: str = Field(default="pending", max_length=16, index=True)
    error_code: str | None = Field(default=None, max_length=64)
    created_by: int = Field(foreign_key="member.id")
    created_at: dt.datetime = Field(default_factory=utcnow)


class Document(SQLModel, table=True):
    """A stored document: the file lives at data_dir/documents/<sha256[:2]>/<sha256>."""

    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    media_type: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)
