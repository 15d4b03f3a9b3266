"""Goods lots, their devices and warehouse receipts, the oracle's reports and the alerts they raise.

Everything but `LotLabel` is read model: the indexer writes it from WarehouseReceipts and GoodsOracle
events and rebuilds it after a rewind. `LotLabel` holds what only the API knows (the warehouse's own
lot reference and the devices' names, which the chain keeps as hashes) and survives rebuilds.

Free text from events is stored in TEXT columns (a lot registered outside the API may carry any
length), and the quantity as decimal digits: the chain's uint96 does not fit a signed BIGINT.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.models.base import utcnow


class Lot(SQLModel, table=True):
    """A registered goods lot and the oracle's latest word on it; `id` is the lot id as 0x-hex."""

    id: str = Field(primary_key=True, max_length=66)
    warehouse_org: int = Field(index=True)
    goods: str = Field(sa_column=Column(Text, nullable=False))
    specification: str = Field(sa_column=Column(Text, nullable=False))
    quantity_milli: str = Field(max_length=40)  # decimal digits of the uint96
    unit: str = Field(sa_column=Column(Text, nullable=False))
    location: str = Field(sa_column=Column(Text, nullable=False))
    info_hash: str = Field(max_length=66)
    receipt_issued: bool = False
    status: str = Field(default="unknown", max_length=16, index=True)  # unknown|ok|warning|alert|offline
    round: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    observed_at: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    registered_block: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_block: int = Field(sa_column=Column(BigInteger, nullable=False))


class LotDevice(SQLModel, table=True):
    """A device bound to a lot, with the address of the key that signs its readings."""

    device_id: str = Field(primary_key=True, max_length=66)
    lot_id: str = Field(max_length=66, index=True)
    key: str = Field(max_length=42)
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))


class Receipt(SQLModel, table=True):
    """A warehouse receipt as the chain last said; `id` is its lot's id."""

    id: str = Field(primary_key=True, max_length=66)
    warehouse_org: int = Field(index=True)
    owner_org: int = Field(index=True)
    pledgee_org: int = Field(default=0, index=True)
    state: str = Field(max_length=16, index=True)  # issued|pledged|surrendered
    frozen: bool = False
    pledged_until: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    document_hash: str = Field(max_length=66)
    issued_block: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_block: int = Field(sa_column=Column(BigInteger, nullable=False))


class LotReport(SQLModel, table=True):
    """One accepted oracle report: the round's status and the Merkle root of its readings."""

    __table_args__ = (UniqueConstraint("lot_id", "round"),)

    id: int | None = Field(default=None, primary_key=True)
    lot_id: str = Field(max_length=66, index=True)
    round: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(max_length=16)
    readings_root: str = Field(max_length=66)
    reading_count: int = Field(sa_column=Column(BigInteger, nullable=False))
    observed_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))
    tx_hash: str = Field(max_length=66)


class GoodsAlert(SQLModel, table=True):
    """A lot entering WARNING, ALERT or OFFLINE, or its receipt frozen or unfrozen.

    The parties are recorded as they were at that moment, so a bank that held the pledge then keeps
    seeing the alert after a release.
    """

    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)

    id: int | None = Field(default=None, primary_key=True)
    lot_id: str = Field(max_length=66, index=True)
    kind: str = Field(max_length=24, index=True)  # lot_status|receipt_frozen|receipt_unfrozen
    status: str = Field(max_length=16)
    previous_status: str | None = Field(default=None, max_length=16)
    warehouse_org: int = Field(default=0, index=True)
    owner_org: int = Field(default=0, index=True)
    pledgee_org: int = Field(default=0, index=True)
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))
    tx_hash: str = Field(max_length=66)
    log_index: int


class LotLabel(SQLModel, table=True):
    """What a warehouse called a lot and its devices when registering it through the API.

    Keyed by lot and warehouse: shown only when the chain's warehouse of the lot is the one that
    wrote it, so a competing registration that the chain refused cannot relabel the lot.
    """

    lot_id: str = Field(primary_key=True, max_length=66)
    warehouse_org: int = Field(primary_key=True)
    reference: str = Field(max_length=64, index=True)
    devices: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )  # device id (0x-hex) -> device name
    created_by: int = Field(foreign_key="member.id")
    created_at: dt.datetime = Field(default_factory=utcnow)
