"""The FastAPI application: routers, error map, limits, and the runtime's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.orm import configure_mappers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors, metrics
from api.ratelimit import RateLimiter, SharedRateLimiter
from api.routers import (
    alerts,
    audit,
    health,
    invoices,
    lots,
    members,
    notifications,
    oracles,
    organisations,
    receipts,
    receivables,
    settlement,
)
from api.runtime import Runtime
from api.settings import ApiSettings


class StreamedBodyLimit:
    """Refuse a declared Content-Length over the limit at once, and count the bytes of a body as it
    is read, so one sent without a Content-Length meets the limit too (plain ASGI: no extra task)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            refusal = errors.error_body(
                "request_too_large", f"requests are limited to {self.max_bytes} bytes"
            )
            await JSONResponse(refusal, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # answered by the handler map: 413 request_too_large
                raise StarletteHTTPException(413, f"requests are limited to {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)


def create_app(settings: ApiSettings, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; the runtime (database, chain, workers) starts with it and stops with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.build(settings, prepare=settings.prepare_on_start)
        app.state.runtime = rt
        if settings.run_workers:
            rt.start()
        # Build what the first requests would otherwise build (route validators, ORM mappers).
        app.openapi()
        configure_mappers()
        try:
            yield
        finally:
            rt.stop()

    app = FastAPI(
        title="scfnet API",
        version="0.1.0",
        summary=(
            "Supply-chain finance on a permissioned ledger: invoices, receivables, financing, "
            "warehouse receipts watched by sensors, audit."
        ),
        lifespan=lifespan,
    )
    app.state.limiter = (
        SharedRateLimiter(settings.rate_limit_per_minute, settings.rate_limit_file)
        if settings.rate_limit_file is not None
        else RateLimiter(settings.rate_limit_per_minute)
    )
    errors.install(app)

    app.add_middleware(StreamedBodyLimit, max_bytes=settings.max_body_bytes)

    routers = (health, organisations, members, invoices, receivables, settlement)
    for module in (*routers, lots, receipts, alerts, oracles, audit, notifications):
        # health is public and answers only 200; everything else authenticates and may refuse.
        app.include_router(module.router, responses=None if module is health else errors.ERROR_RESPONSES)
    metrics.install(app, token=settings.metrics_token.get_secret_value() if settings.metrics_token else None)
    return app
