"""Leases that keep the API's singleton workers (relay, indexer) to one process per database."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class WorkerLease(SQLModel, table=True):
    """Who runs worker `name` until `expires_at` (Unix seconds); renewed by every write it makes."""

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=128)
    expires_at: float
    acquired_at: float
