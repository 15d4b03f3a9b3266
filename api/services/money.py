"""Money and dates as members write them, and as the chain stores them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from api.services.errors import Invalid

SUPPORTED_CURRENCIES = {"CNY": 2}
# Calendar days are China Standard Time on chain (DiscountMath.DAY_BOUNDARY_OFFSET).
CST = dt.timezone(dt.timedelta(hours=8))
# The chain takes uint96, the database BIGINT (signed 64-bit): the narrower one bounds amounts.
MAX_AMOUNT_MINOR = 2**63 - 1


def to_minor(amount: str, currency: str) -> int:
    """'1000000.00' CNY -> 100000000 fen; more decimals than the currency has is an error."""
    decimals = SUPPORTED_CURRENCIES.get(currency)
    if decimals is None:
        raise Invalid("unsupported_currency", f"currency {currency!r} is not settled on this network")
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError) as exc:
        raise Invalid("invalid_amount", f"not a decimal amount: {amount!r}") from exc
    if not value.is_finite() or value <= 0:
        raise Invalid("invalid_amount", "the amount must be positive")
    minor = value.scaleb(decimals)
    if minor != minor.to_integral_value():
        raise Invalid("invalid_amount", f"{currency} has {decimals} decimals at most")
    result = int(minor)
    if result > MAX_AMOUNT_MINOR:
        raise Invalid("invalid_amount", "the amount is too large")
    return result


def from_minor(amount_minor: int, currency: str = "CNY") -> str:
    """100000000 -> '1000000.00'."""
    decimals = SUPPORTED_CURRENCIES[currency]
    return str(Decimal(amount_minor).scaleb(-decimals).quantize(Decimal(1).scaleb(-decimals)))


def due_at(due_date: dt.date) -> int:
    """The on-chain due time of a due date: its first second in China Standard Time."""
    return int(dt.datetime.combine(due_date, dt.time(0), tzinfo=CST).timestamp())


def today_cst() -> dt.date:
    return dt.datetime.now(CST).date()
