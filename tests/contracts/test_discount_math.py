"""DiscountMath through Receivables.quote: ACT/360 on UTC+8 calendar days, half up to the fen.

The reference is computed independently with `decimal` (ROUND_HALF_UP), not with the contract's formula.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest

from tests.contracts.support import DAY, DOC, Cast, child_id, key, reverts, soon

CST_OFFSET = 8 * 3600
MAX_RATE_PPM = 1_000_000
MAX_TENOR = 366 * DAY
TOP = 2**96 - 1
GAS = 10_000_000


def _cst_midnight(at: int) -> int:
    """00:00:00 China Standard Time of the calendar day `at` falls on."""
    return (at + CST_OFFSET) // DAY * DAY - CST_OFFSET


def _reference(amount: int, rate_ppm: int, days: int) -> tuple[int, int]:
    """Price and discount: face x rate x days / 360, rounded half up to the fen."""
    with localcontext() as ctx:
        ctx.prec = 80  # exact for 2^96 x 10^6 x 366
        exact = Decimal(amount) * Decimal(rate_ppm) / Decimal(1_000_000) * Decimal(days) / Decimal(360)
        discount = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return amount - discount, discount


def _register(cast: Cast, pieces: list[tuple[str, int, int]]) -> list[int]:
    """Register (label, amount, dueAt) pieces from Delta to Huaxin in one transaction; return their ids."""
    items = [(key(label), cast.huaxin.org_id, amount, due, DOC) for label, amount, due in pieces]
    fn = cast.receivables.functions.registerBatch(items)
    cast.net.client.transact(fn, cast.delta.account, gas=GAS)  # fixed gas: skips the slow estimate
    return [item[0] for item in items]


def _quote(cast: Cast, rid: int, rate_ppm: int, at: int) -> tuple[int, int, int]:
    price, discount, days = cast.net.client.call(cast.receivables.functions.quote(rid, rate_ppm, at))
    return price, discount, days


@pytest.fixture
def due(cast: Cast) -> int:
    """A due date at 10:00 China time, about 200 days ahead."""
    return _cst_midnight(cast.net.now() + 200 * DAY) + 10 * 3600


def _day_start(due: int, days_before: int) -> int:
    """00:00:00 China time `days_before` calendar days before the due day: `days_before` discount days."""
    return _cst_midnight(due) - days_before * DAY


class TestDiscountDays:
    def test_quote_one_day_from_last_second_of_previous_day(self, cast: Cast, due: int) -> None:
        (rid,) = _register(cast, [("D-1", 1_000_000_00, due)])
        at = _cst_midnight(due) - 1
        assert _quote(cast, rid, 36_000, at) == (*_reference(1_000_000_00, 36_000, 1), 1)

    def test_quote_one_day_for_due_at_midnight(self, cast: Cast, due: int) -> None:
        # The library's own example: funded at 23:59 on one day, due at 00:00 the next: one day.
        midnight = _cst_midnight(due)
        (rid,) = _register(cast, [("D-1", 1_000_000_00, midnight)])
        assert _quote(cast, rid, 36_000, midnight - 60)[2] == 1

    @pytest.mark.parametrize("at_offset", [0, 1, 10 * 3600 - 1, 10 * 3600, 30 * DAY])
    def test_quote_on_or_after_due_day_is_matured(self, cast: Cast, due: int, at_offset: int) -> None:
        (rid,) = _register(cast, [("D-1", 1_000_000_00, due)])
        with reverts("ReceivableMatured", id=rid, dueAt=due):
            _quote(cast, rid, 36_000, _cst_midnight(due) + at_offset)

    def test_quote_days_are_china_calendar_days_not_utc(self, cast: Cast, due: int) -> None:
        (rid,) = _register(cast, [("D-1", 1_000_000_00, due)])
        utc_midnight = _cst_midnight(due) - 10 * DAY + CST_OFFSET  # 08:00 China time, 10 days before
        assert _quote(cast, rid, 36_000, utc_midnight - 1)[2] == 10
        assert _quote(cast, rid, 36_000, utc_midnight)[2] == 10
        assert _quote(cast, rid, 36_000, _cst_midnight(due) - 10 * DAY - 1)[2] == 11

    def test_quote_max_tenor(self, cast: Cast) -> None:
        at = soon(cast.net, 60)
        cast.net.travel_to(at)
        (rid,) = _register(cast, [("D-MAX", 500_000_00, at + MAX_TENOR)])
        days = (at + MAX_TENOR + CST_OFFSET) // DAY - (at + CST_OFFSET) // DAY
        assert days == 366
        assert _quote(cast, rid, 45_000, at) == (*_reference(500_000_00, 45_000, days), days)


class TestRounding:
    @pytest.mark.parametrize(
        ("amount", "discount"),
        [(999, 0), (1_000, 1), (1_001, 1), (2_999, 1), (3_000, 2), (5_000, 3)],
        ids=["0.4995", "0.5-up", "0.5005", "1.4994", "1.5-up", "2.5-up-not-even"],
    )
    def test_quote_rounds_half_up_to_the_fen(self, cast: Cast, due: int, amount: int, discount: int) -> None:
        # 18 % for one day is amount / 2000: 1,000 fen gives exactly half a fen.
        (rid,) = _register(cast, [(f"R-{amount}", amount, due)])
        assert _quote(cast, rid, 180_000, _day_start(due, 1)) == (amount - discount, discount, 1)
        assert _reference(amount, 180_000, 1) == (amount - discount, discount)

    def test_quote_matches_reference_over_a_grid(self, cast: Cast, due: int) -> None:
        amounts = [1, 7, 333, 1_000_000_00, 123_456_789_01, 10**15 + 1]
        ids = _register(cast, [(f"G-{a}", a, due) for a in amounts])
        for rid, amount in zip(ids, amounts, strict=True):
            for rate in (1, 28_512, 45_000, 999_999):
                for days in (1, 29, 90, 180):
                    price, discount = _reference(amount, rate, days)
                    if discount >= amount:
                        continue
                    assert _quote(cast, rid, rate, _day_start(due, days)) == (price, discount, days), (
                        amount,
                        rate,
                        days,
                    )


class TestAmountEdges:
    def test_quote_one_fen_rounds_discount_to_zero(self, cast: Cast, due: int) -> None:
        (rid,) = _register(cast, [("T-1", 1, due)])
        assert _quote(cast, rid, 45_000, _day_start(due, 90)) == (1, 0, 90)
        assert _quote(cast, rid, MAX_RATE_PPM, _day_start(due, 179)) == (1, 0, 179)

    def test_quote_one_fen_half_up_leaves_nothing_refused(self, cast: Cast, due: int) -> None:
        (rid,) = _register(cast, [("T-1", 1, due)])
        with reverts("ReceivableInvalidRate", ratePpm=MAX_RATE_PPM):
            _quote(cast, rid, MAX_RATE_PPM, _day_start(due, 180))

    @pytest.mark.parametrize(
        ("rate", "days"), [(MAX_RATE_PPM, 1), (MAX_RATE_PPM, 359), (1, 200), (28_512, 90)]
    )
    def test_quote_largest_amount(self, cast: Cast, due: int, rate: int, days: int) -> None:
        (rid,) = _register(cast, [("H-1", TOP, due)])
        assert _quote(cast, rid, rate, _day_start(due, days)) == (*_reference(TOP, rate, days), days)


class TestRateEdges:
    def test_quote_max_rate_below_a_year(self, cast: Cast, due: int) -> None:
        (rid,) = _register(cast, [("M-1", 360_000_00, due)])
        assert _quote(cast, rid, MAX_RATE_PPM, _day_start(due, 359)) == (1_000_00, 359_000_00, 359)

    @pytest.mark.parametrize("days", [360, 366])
    def test_quote_max_rate_for_a_year_leaves_nothing_refused(self, cast: Cast, days: int) -> None:
        at = soon(cast.net, 60)
        cast.net.travel_to(at)
        due = at + MAX_TENOR
        (rid,) = _register(cast, [("M-1", 360_000_00, due)])
        with reverts("ReceivableInvalidRate", ratePpm=MAX_RATE_PPM):
            _quote(cast, rid, MAX_RATE_PPM, _day_start(due, days))

    @pytest.mark.parametrize("rate", [0, MAX_RATE_PPM + 1, 2**32 - 1])
    def test_quote_invalid_rate_refused(self, cast: Cast, due: int, rate: int) -> None:
        (rid,) = _register(cast, [("M-1", 360_000_00, due)])
        with reverts("ReceivableInvalidRate", ratePpm=rate):
            _quote(cast, rid, rate, _day_start(due, 30))

    def test_quote_smallest_rate(self, cast: Cast, due: int) -> None:
        (rid,) = _register(cast, [("M-1", 360_000_00, due)])
        # 0.0001 % a year on 360,000.00 for 100 days: exactly 0.10.
        assert _quote(cast, rid, 1, _day_start(due, 100)) == (359_999_90, 10, 100)
        assert _quote(cast, rid, 1, _day_start(due, 4)) == (360_000_00, 0, 4)


class TestQuoteView:
    def test_quote_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            _quote(cast, key("nope"), 45_000, cast.net.now())

    def test_quote_of_split_part_uses_its_own_amount(self, cast: Cast, due: int) -> None:
        (rid,) = _register(cast, [("S-1", 1_000_00, due)])
        r = cast.receivables.functions
        cast.net.client.transact(r.confirm(rid), cast.huaxin.account, gas=GAS)
        cast.net.client.transact(r.split(rid, [250_00, 750_00]), cast.delta.account, gas=GAS)
        at = _day_start(due, 60)
        assert _quote(cast, child_id(rid, 0), 45_000, at) == (*_reference(250_00, 45_000, 60), 60)
