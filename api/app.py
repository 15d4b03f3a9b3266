"""The FastAPI application: routers, error map, limits, and the runtime's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors
from api.ratelimit import RateLimiter
from api.routers import (
    audit,
    health,
    invoices,
    members,
    notifications,
    organisations,
    receivables,
    settlement,
)
from api.runtime import Runtime
from api.settings import ApiSettings


class StreamedBodyLimit:
    """Count the bytes of a body as it is read, so one sent without a Content-Length meets the limit too."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
        rt = runtime or Runtime.build(settings)
        app.state.runtime = rt
        if settings.run_workers:
            rt.start()
        try:
            yield
        finally:
            rt.stop()

    app = FastAPI(
        title="scfnet API",
        version="0.1.0",
        summary="Supply-chain finance on a permissioned ledger: invoices, receivables, financing, audit.",
        lifespan=lifespan,
    )
    app.state.limiter = RateLimiter(settings.rate_limit_per_minute)
    errors.install(app)

    app.add_middleware(StreamedBodyLimit, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_body_bytes):
            return JSONResponse(
                errors.error_body(
                    "request_too_large", f"requests are limited to {settings.max_body_bytes} bytes"
                ),
                status_code=413,
            )
        return await call_next(request)

    for module in (health, organisations, members, invoices, receivables, settlement, audit, notifications):
        # health is public and answers only 200; everything else authenticates and may refuse.
        app.include_router(module.router, responses=None if module is health else errors.ERROR_RESPONSES)
    return app
