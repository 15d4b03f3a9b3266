"""Notifications derived from chain events, webhook subscriptions, and their deliveries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import JSON, BigInteger, Column, Float, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.models.base import utcnow


class Notification(SQLModel, table=True):
    """Something an organisation follows, written by the indexer with the event it derives from.

    `(tx_hash, log_index, org_id, type)` is unique, so replaying events after a read-model rebuild
    never notifies twice. `chain_event_id` carries no foreign key on purpose: a rebuild deletes and
    re-creates ChainEvent rows, while notifications (already sent) stay.
    """

    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index", "org_id", "type"),
        Index("ix_notification_org_id_id", "org_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id")
    type: str = Field(max_length=40, index=True)
    subject: str | None = Field(default=None, max_length=66, index=True)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))
    tx_hash: str = Field(max_length=66)
    log_index: int
    chain_event_id: int | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)


class WebhookBase(SQLModel):
    url: str = Field(min_length=1, max_length=2048, description="http(s) URL that receives signed POSTs")
    event_types: list[str] = Field(
        default_factory=list,
        max_length=32,
        sa_column=Column(JSON, nullable=False),
        description="notification types to receive; empty: all of them",
    )


class WebhookCreate(WebhookBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


class Webhook(WebhookBase, table=True):
    """An organisation's webhook endpoint; `secret` signs deliveries and is shown only at creation."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    secret: str = Field(max_length=200)  # sealed: base64(nonce || AES-GCM(secret)), see api.custody
    created_by: int = Field(foreign_key="member.id")
    created_at: dt.datetime = Field(default_factory=utcnow)
    deleted_at: dt.datetime | None = None


class WebhookPublic(SQLModel):
    id: int
    url: str
    event_types: list[str]
    created_at: dt.datetime

    @classmethod
    def of(cls, hook: Webhook) -> WebhookPublic:
        return cls(id=hook.id or 0, url=hook.url, event_types=hook.event_types, created_at=hook.created_at)


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="signs every delivery (X-Scfnet-Signature); shown once, store it now")


class WebhookDelivery(SQLModel, table=True):
    """One notification to one webhook: pending -> delivered | failed (after the last attempt) | cancelled.

    `id` is sent as X-Scfnet-Delivery on every attempt, so receivers can drop repeats.
    Times the worker schedules by are unix seconds, free of time-zone handling across databases.
    """

    __table_args__ = (
        UniqueConstraint("webhook_id", "notification_id"),
        Index("ix_webhookdelivery_due", "status", "next_attempt_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    webhook_id: int = Field(foreign_key="webhook.id", index=True)
    notification_id: int = Field(foreign_key="notification.id", index=True)
    status: str = Field(default="pending", max_length=12)
    attempts: int = 0
    next_attempt_at: float = Field(sa_column=Column(Float, nullable=False))
    lease_until: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: dt.datetime = Field(default_factory=utcnow)
    delivered_at: dt.datetime | None = None


class WebhookDeliveryPublic(SQLModel):
    id: str
    notification_id: int
    type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery, notification: Notification) -> WebhookDeliveryPublic:
        pending = delivery.status == "pending"
        return cls(
            id=delivery.id,
            notification_id=delivery.notification_id,
            type=notification.type,
            status=delivery.status,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            next_attempt_at=dt.datetime.fromtimestamp(delivery.next_attempt_at, dt.UTC) if pending else None,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
        )


class NotificationPublic(SQLModel):
    id: int
    type: str
    subject: str | None
    block_number: int
    tx_hash: str
    created_at: dt.datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, n: Notification) -> NotificationPublic:
        return cls(
            id=n.id or 0,
            type=n.type,
            subject=n.subject,
            block_number=n.block_number,
            tx_hash=n.tx_hash,
            created_at=n.created_at,
            data=n.payload,
        )
