"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="The process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Database and chain reachable; indexer lag")
def ready(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        head = runtime.client.w3.eth.block_number
        indexed = runtime.indexer.head()
        checks["chain"] = "ok"
        checks["chain_head"] = head
        checks["indexed_block"] = indexed
        checks["indexer_lag_blocks"] = max(0, head - indexed)
    except Exception as exc:  # noqa: BLE001
        checks["chain"] = f"error: {type(exc).__name__}"
    ok = checks.get("database") == "ok" and checks.get("chain") == "ok"
    return JSONResponse({"status": "ready" if ok else "not_ready", **checks}, status_code=200 if ok else 503)
