"""Notifications: webhooks (signed, retried deliveries) and a server-sent-events stream, per organisation."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.deps import CurrentPrincipal, RuntimeDep, SessionDep, run_read
from api.models import Notification
from api.models.notifications import (
    NotificationPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPublic,
    WebhookPublic,
)
from api.notifier import NotifierSettings
from api.schemas import ListOf
from api.services import notifications

router = APIRouter(tags=["notifications"])

STREAM_BATCH = 100
RETRY_MS = 2_000
REAUTHORIZE_S = 5.0
WebhookId = Annotated[int, Path(ge=1, lt=2**31)]  # INTEGER ids: 32-bit on PostgreSQL
TypesParam = Annotated[
    list[str] | None, Query(max_length=32, description="only these notification types (repeat the parameter)")
]


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    summary="Subscribe a URL to your organisation's notifications; the signing secret is shown once",
)
def create_webhook(
    body: WebhookCreate,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    # Not idempotent-replayable: a replay would have to store the secret in clear to answer again.
    hook, secret = notifications.create_webhook(
        session,
        principal=principal,
        url=body.url,
        event_types=body.event_types,
        allow_private=runtime.notifier.settings.allow_private_urls,
        master_key=runtime.master_key,
    )
    created = WebhookCreated(**WebhookPublic.of(hook).model_dump(), secret=secret)
    return JSONResponse(jsonable_encoder(created), status_code=201)


@router.get("/webhooks", response_model=ListOf[WebhookPublic], summary="Your organisation's webhooks")
async def list_webhooks(
    principal: CurrentPrincipal,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[WebhookPublic]:
    def read() -> ListOf[WebhookPublic]:
        rows, count = notifications.list_webhooks(session, principal=principal, offset=offset, limit=limit)
        return ListOf(data=[WebhookPublic.of(h) for h in rows], count=count)

    return await run_read(session, read)


@router.delete("/webhooks/{webhook_id}", status_code=204, summary="Unsubscribe; pending deliveries stop")
def delete_webhook(webhook_id: WebhookId, principal: CurrentPrincipal, session: SessionDep) -> None:
    notifications.delete_webhook(session, principal=principal, webhook_id=webhook_id)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=ListOf[WebhookDeliveryPublic],
    summary="Deliveries of a webhook, newest first: status, attempts, last error",
)
async def list_deliveries(
    webhook_id: WebhookId,
    principal: CurrentPrincipal,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|failed|cancelled)$")] = None,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[WebhookDeliveryPublic]:
    def read() -> ListOf[WebhookDeliveryPublic]:
        rows, count = notifications.list_deliveries(
            session, principal=principal, webhook_id=webhook_id, status=status, offset=offset, limit=limit
        )
        return ListOf(data=[WebhookDeliveryPublic.of(d, n) for d, n in rows], count=count)

    return await run_read(session, read)


@router.get(
    "/notifications",
    response_model=ListOf[NotificationPublic],
    summary="Your organisation's notifications after an id, oldest first (for polling)",
)
async def list_notifications(
    principal: CurrentPrincipal,
    session: SessionDep,
    after_id: Annotated[int, Query(ge=0, lt=2**31)] = 0,
    types: TypesParam = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListOf[NotificationPublic]:
    org_id, wanted = principal.org.id or 0, notifications.check_types(types or [])

    def read() -> ListOf[NotificationPublic]:
        rows = notifications.notifications_after(
            session, org_id=org_id, after_id=after_id, types=wanted, limit=limit
        )
        count = notifications.count_after(session, org_id=org_id, after_id=after_id, types=wanted)
        return ListOf(data=[NotificationPublic.of(n) for n in rows], count=count)

    return await run_read(session, read)


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "notifications as they happen"}},
    summary="Server-sent events: your organisation's notifications; resume with Last-Event-ID",
)
def stream(
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    types: TypesParam = None,
    last_event_id: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, lt=2**31, description="resume after this notification id"),
    ] = None,
) -> StreamingResponse:
    org_id = principal.org.id or 0
    wanted = notifications.check_types(types or [])
    after = last_event_id if last_event_id is not None else notifications.latest_id(session, org_id=org_id)
    # Release the request's connection now: the stream polls with short sessions of its own.
    session.commit()
    session.close()
    return StreamingResponse(
        _events(runtime.engine, runtime.notifier.settings, org_id, principal.key_id, after, wanted),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _frame(n: Notification) -> str:
    data = json.dumps(notifications.body_of(n), separators=(",", ":"), sort_keys=True)
    return f"id: {n.id}\nevent: {n.type}\ndata: {data}\n\n"


async def _events(
    engine: Engine, settings: NotifierSettings, org_id: int, key_id: int, after: int, types: Sequence[str]
) -> AsyncIterator[str]:
    """Frames for every new notification; ends when the caller's key is revoked."""

    def fetch(after_id: int) -> Sequence[Notification]:
        with Session(engine, expire_on_commit=False) as s:
            return notifications.notifications_after(
                s, org_id=org_id, after_id=after_id, types=types, limit=STREAM_BATCH
            )

    def authorized() -> bool:
        with Session(engine) as s:
            return notifications.key_is_live(s, key_id=key_id)

    yield f"retry: {RETRY_MS}\n\n"
    last_write = last_check = time.monotonic()
    while True:
        rows = await anyio.to_thread.run_sync(fetch, after)
        for n in rows:
            yield _frame(n)
            after = n.id or after
        now = time.monotonic()
        if rows:
            last_write = now
        elif now - last_write >= settings.stream_keepalive_s:
            yield ": keepalive\n\n"
            last_write = now
        if now - last_check >= REAUTHORIZE_S:
            if not await anyio.to_thread.run_sync(authorized):
                return
            last_check = now
        if len(rows) < STREAM_BATCH:
            await anyio.sleep(settings.stream_poll_s)
