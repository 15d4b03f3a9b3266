"""Organisations, their members, API keys and custodial signing keys."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from api.models.base import utcnow


class Organisation(SQLModel, table=True):
    """A consortium organisation; `chain_org_id` is its member-registry id once admitted on chain."""

    id: int | None = Field(default=None, primary_key=True)
    chain_org_id: int | None = Field(default=None, index=True, unique=True)
    name: str = Field(max_length=200)
    credit_code: str = Field(max_length=18, unique=True, index=True)
    roles: int
    status: str = Field(default="pending", max_length=16)  # pending | active | suspended | failed
    account_address: str = Field(max_length=42, unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow)


class Member(SQLModel, table=True):
    """A person or system acting for an organisation."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=200)
    disabled: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    """An API key: `prefix` finds it, only the SHA-256 of the secret is stored."""

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    prefix: str = Field(max_length=16, unique=True, index=True)
    secret_hash: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)
    revoked_at: dt.datetime | None = None


class CustodialKey(SQLModel, table=True):
    """An organisation's chain signing key, encrypted at rest with the master key."""

    org_id: int = Field(foreign_key="organisation.id", primary_key=True)
    address: str = Field(max_length=42, unique=True)
    ciphertext: str
    created_at: dt.datetime = Field(default_factory=utcnow)
