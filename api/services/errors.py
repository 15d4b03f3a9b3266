"""Service errors: a machine-readable code, a kind the HTTP layer maps to a status, details."""

from __future__ import annotations

import re
from typing import Any

from chain.errors import ContractRevert, ScfError


class ServiceError(ScfError):
    """A request the service refuses; `kind` says which HTTP status family it belongs to."""

    kind = "invalid"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class BadRequest(ServiceError):
    kind = "bad_request"


class Invalid(ServiceError):
    kind = "invalid"


class Unauthenticated(ServiceError):
    kind = "unauthenticated"


class Forbidden(ServiceError):
    kind = "forbidden"


class NotFound(ServiceError):
    kind = "not_found"


class Conflict(ServiceError):
    kind = "conflict"


class TooLarge(ServiceError):
    kind = "too_large"


class RateLimited(ServiceError):
    kind = "rate_limited"


class Unavailable(ServiceError):
    kind = "unavailable"


def snake(name: str) -> str:
    """`ReceivableAlreadyFinanced` -> `receivable_already_financed`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def from_revert(exc: ContractRevert) -> ServiceError:
    """A contract refusal as a service error: 403 for role failures, 409 for state conflicts."""
    details = {k: (hex(v) if isinstance(v, int) and v > 2**63 else v) for k, v in exc.args_by_name.items()}
    details = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in details.items()}
    cls: type[ServiceError] = Forbidden if exc.name.endswith("Unauthorized") else Conflict
    return cls(snake(exc.name), f"the ledger refused: {exc.name}", **details)
