"""The one place service and chain errors become HTTP responses: `{"error": {code, message, details}}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.custody import CustodyError
from api.schemas import Error
from api.services.errors import ServiceError, from_revert
from chain.errors import ChainUnavailable, ContractRevert

logger = logging.getLogger(__name__)

STATUS_BY_KIND = {
    "bad_request": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "invalid": 422,
    "rate_limited": 429,
    "unavailable": 503,
}

# What any authenticated operation may answer besides its success, declared in the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": description}
    for status, description in (
        (400, "bad request"),
        (401, "missing, unknown or revoked API key"),
        (403, "the caller's role or organisation may not do this"),
        (404, "no such object, or not visible to the caller"),
        (409, "conflicts with the current state (duplicate, reused Idempotency-Key, chain refused)"),
        (413, "request body too large"),
        (422, "invalid request"),
        (429, "rate limited; see Retry-After"),
        (503, "the ledger or the signing keys are unavailable"),
    )
}


def error_body(code: str, message: str, details: dict[str, object] | None = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _service(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = (
        {"Retry-After": str(exc.details.get("retry_after_s", 1))} if exc.kind == "rate_limited" else None
    )
    if exc.kind == "unauthenticated":
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), status_code=STATUS_BY_KIND[exc.kind], headers=headers
    )


def _revert(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ContractRevert)
    return _service(request, from_revert(exc))


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
        for e in exc.errors()
    ]
    return JSONResponse(
        error_body("validation_failed", "the request is not valid", {"problems": problems}), 422
    )


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(
        exc.status_code, "http_error"
    )
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)


def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    logger.warning("chain unavailable: %s", exc)
    return JSONResponse(error_body("chain_unavailable", "the ledger cannot be reached; try again"), 503)


def _custody(_: Request, exc: Exception) -> JSONResponse:
    logger.error("custody failure: %s", exc)
    return JSONResponse(error_body("custody_error", "signing keys are unavailable"), 503)


def _data(_: Request, exc: Exception) -> JSONResponse:
    # Values only reach SQL from requests; one the database cannot hold (a NUL byte in text on
    # PostgreSQL, a number out of a column's range) is the request's fault, not the server's.
    logger.info("database refused a request value: %s", type(exc.__cause__ or exc).__name__)
    return JSONResponse(
        error_body("invalid_value", "a value in the request cannot be stored or searched"), 422
    )


def install(app: FastAPI) -> None:
    """Register the handler map."""
    app.add_exception_handler(ServiceError, _service)
    app.add_exception_handler(ContractRevert, _revert)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(ChainUnavailable, _unavailable)
    app.add_exception_handler(CustodyError, _custody)
    app.add_exception_handler(DataError, _data)
