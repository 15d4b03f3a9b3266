"""Receivables: requestFinancing, cancelFinancingRequest, fund and financeRequest."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import pytest

from chain.devnet import Org, dev_account
from chain.roles import Role
from tests.contracts.support import (
    AMOUNT,
    DAY,
    DOC,
    Cast,
    State,
    child_id,
    confirmed,
    event,
    key,
    ok,
    registered,
    reverts,
    soon,
)

MAX_RATE_PPM = 1_000_000
CST_OFFSET = 8 * 3600
RATE = 45_000


class Lock(IntEnum):
    NONE = 0
    FINANCE_REQUESTED = 1
    FINANCED = 2
    PLEDGED = 3


def _cst_day(at: int) -> int:
    return (at + CST_OFFSET) // DAY


def _next_cst_midnight(after: int) -> int:
    """The first 00:00:00 China Standard Time (UTC+8) strictly after `after`."""
    return (_cst_day(after) + 1) * DAY - CST_OFFSET


def _expected(amount: int, rate_ppm: int, funded_at: int, due: int) -> tuple[int, int, int]:
    """Reference price, discount and days: ACT/360 on UTC+8 calendar days, half up to the fen."""
    days = max(_cst_day(due) - _cst_day(funded_at), 0)
    discount = (amount * rate_ppm * days + 180_000_000) // 360_000_000
    return amount - discount, discount, days


def _suspend(cast: Cast, org: Org) -> None:
    ok(cast, cast.registry.functions.suspendOrganisation(org.org_id), cast.operator)


def _confirmed_due(cast: Cast, label: str, due: int, amount: int = AMOUNT) -> int:
    rid = key(label)
    r = cast.receivables.functions
    ok(cast, r.register(rid, cast.huaxin.org_id, amount, due, DOC), cast.delta)
    ok(cast, r.confirm(rid), cast.huaxin)
    return rid


def _requested(
    cast: Cast, bank: Org | None = None, *, rate: int = RATE, label: str = "INV-1", amount: int = AMOUNT
) -> int:
    """A confirmed piece held by Delta with a request to `bank` (None: the market) expiring in 30 days."""
    rid = confirmed(cast, label, amount=amount)
    bank_org = 0 if bank is None else bank.org_id
    ok(
        cast,
        cast.receivables.functions.requestFinancing(rid, bank_org, rate, cast.net.now() + 30 * DAY),
        cast.delta,
    )
    return rid


def _state(cast: Cast, rid: int) -> tuple[dict[str, Any], tuple[int, int], list[int]]:
    orgs = (cast.delta, cast.eastern, cast.bank_a, cast.bank_b)
    request = tuple(cast.receivables.functions.financeRequest(rid).call())
    return cast.piece(rid), request, [cast.balance(o) for o in orgs]


# ---------------------------------------------------------------- requestFinancing


class TestRequestFinancing:
    def test_requestFinancing_addressed_to_bank_locks_and_records(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        before = cast.piece(rid)
        expires = cast.net.now() + 7 * DAY
        receipt = ok(
            cast,
            cast.receivables.functions.requestFinancing(rid, cast.bank_a.org_id, RATE, expires),
            cast.delta,
        )
        assert cast.piece(rid) == {**before, "lock": Lock.FINANCE_REQUESTED, "lockOrg": cast.bank_a.org_id}
        assert cast.receivables.functions.financeRequest(rid).call() == (RATE, expires)
        assert event(receipt, cast.receivables, "FinancingRequested") == {
            "id": rid,
            "holderOrg": cast.delta.org_id,
            "bankOrg": cast.bank_a.org_id,
            "maxRatePpm": RATE,
            "expiresAt": expires,
        }

    def test_requestFinancing_to_market_with_max_rate_and_expiry_at_due_date(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        due = cast.piece(rid)["dueAt"]
        receipt = ok(cast, cast.receivables.functions.requestFinancing(rid, 0, MAX_RATE_PPM, due), cast.delta)
        assert cast.piece(rid)["lock"] == Lock.FINANCE_REQUESTED and cast.piece(rid)["lockOrg"] == 0
        assert cast.receivables.functions.financeRequest(rid).call() == (MAX_RATE_PPM, due)
        assert event(receipt, cast.receivables, "FinancingRequested")["bankOrg"] == 0

    def test_requestFinancing_split_part_by_new_holder(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-1")
        ok(cast, r.split(rid, [300_000_00, 700_000_00]), cast.delta)
        part = child_id(rid, 0)
        ok(cast, r.transfer(part, cast.eastern.org_id), cast.delta)
        ok(cast, r.requestFinancing(part, cast.bank_b.org_id, RATE, cast.net.now() + DAY), cast.eastern)
        assert cast.piece(part)["lockOrg"] == cast.bank_b.org_id

    @pytest.mark.parametrize("rate", [0, MAX_RATE_PPM + 1])
    def test_requestFinancing_invalid_rate_refused(self, cast: Cast, rate: int) -> None:
        rid = confirmed(cast, "INV-1")
        with reverts("ReceivableInvalidRate", ratePpm=rate):
            cast.tx(
                cast.receivables.functions.requestFinancing(
                    rid, cast.bank_a.org_id, rate, cast.net.now() + DAY
                ),
                cast.delta,
            )
        assert cast.piece(rid)["lock"] == Lock.NONE

    @pytest.mark.parametrize("when", ["now", "past", "after-due"])
    def test_requestFinancing_invalid_expiry_refused(self, cast: Cast, when: str) -> None:
        rid = confirmed(cast, "INV-1")
        at = soon(cast.net, 10)
        expires = {"now": at, "past": at - DAY, "after-due": cast.piece(rid)["dueAt"] + 1}[when]
        cast.net.travel_to(at)
        with reverts("ReceivableInvalidExpiry", expiresAt=expires):
            cast.tx(
                cast.receivables.functions.requestFinancing(rid, cast.bank_a.org_id, RATE, expires),
                cast.delta,
            )
        assert cast.receivables.functions.financeRequest(rid).call() == (0, 0)

    def test_requestFinancing_on_due_calendar_day_refused(self, cast: Cast) -> None:
        midnight = _next_cst_midnight(cast.net.now() + DAY)
        due = midnight + 12 * 3600
        rid = _confirmed_due(cast, "INV-1", due)
        cast.net.travel_to(midnight)
        with reverts("ReceivableMatured", id=rid, dueAt=due):
            cast.tx(cast.receivables.functions.requestFinancing(rid, 0, RATE, due), cast.delta)

    def test_requestFinancing_last_second_of_previous_day_accepted(self, cast: Cast) -> None:
        midnight = _next_cst_midnight(cast.net.now() + DAY)
        due = midnight + 12 * 3600
        rid = _confirmed_due(cast, "INV-1", due)
        cast.net.travel_to(midnight - 1)
        ok(cast, cast.receivables.functions.requestFinancing(rid, 0, RATE, due), cast.delta)
        assert cast.piece(rid)["lock"] == Lock.FINANCE_REQUESTED

    @pytest.mark.parametrize("bank", ["eastern", "huaxin", "delta"])
    def test_requestFinancing_counterparty_not_bank_refused(self, cast: Cast, bank: str) -> None:
        rid = confirmed(cast, "INV-1")
        org_id = getattr(cast, bank).org_id
        with reverts("ReceivableInvalidCounterparty", orgId=org_id):
            cast.tx(
                cast.receivables.functions.requestFinancing(rid, org_id, RATE, cast.net.now() + DAY),
                cast.delta,
            )

    def test_requestFinancing_suspended_or_unknown_bank_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        _suspend(cast, cast.bank_a)
        for org_id in (cast.bank_a.org_id, 9_999):
            with reverts("ReceivableInvalidCounterparty", orgId=org_id):
                cast.tx(
                    cast.receivables.functions.requestFinancing(rid, org_id, RATE, cast.net.now() + DAY),
                    cast.delta,
                )

    def test_requestFinancing_twice_refused(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_a)
        before = _state(cast, rid)
        with reverts("ReceivableFinancingPending", id=rid, bankOrg=cast.bank_a.org_id):
            cast.tx(
                cast.receivables.functions.requestFinancing(
                    rid, cast.bank_b.org_id, RATE, cast.net.now() + DAY
                ),
                cast.delta,
            )
        assert _state(cast, rid) == before

    def test_requestFinancing_pledged_piece_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        ok(cast, cast.receivables.functions.pledge(rid, cast.bank_b.org_id), cast.delta)
        with reverts("ReceivablePledged", id=rid, bankOrg=cast.bank_b.org_id):
            cast.tx(
                cast.receivables.functions.requestFinancing(
                    rid, cast.bank_a.org_id, RATE, cast.net.now() + DAY
                ),
                cast.delta,
            )

    def test_requestFinancing_financed_piece_refused(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_a)
        ok(cast, cast.receivables.functions.fund(rid, RATE), cast.bank_a)
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.delta.org_id):
            cast.tx(
                cast.receivables.functions.requestFinancing(rid, 0, RATE, cast.net.now() + DAY), cast.delta
            )

    def test_requestFinancing_by_non_holder_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.eastern.org_id):
            cast.tx(
                cast.receivables.functions.requestFinancing(rid, 0, RATE, cast.net.now() + DAY), cast.eastern
            )

    def test_requestFinancing_unconfirmed_piece_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        with reverts("ReceivableWrongState", id=rid, state=State.REGISTERED):
            cast.tx(
                cast.receivables.functions.requestFinancing(rid, 0, RATE, cast.net.now() + DAY), cast.delta
            )

    def test_requestFinancing_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(
                cast.receivables.functions.requestFinancing(key("nope"), 0, RATE, cast.net.now() + DAY),
                cast.delta,
            )

    @pytest.mark.parametrize("who", ["huaxin", "bank_a", "stranger"])
    def test_requestFinancing_by_non_supplier_refused(self, cast: Cast, who: str) -> None:
        rid = confirmed(cast, "INV-1")
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(cast.receivables.functions.requestFinancing(rid, 0, RATE, cast.net.now() + DAY), sender)


# ---------------------------------------------------------------- cancelFinancingRequest


class TestCancelFinancingRequest:
    def test_cancelFinancingRequest_unlocks_and_clears_request(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        before = cast.piece(rid)
        ok(
            cast,
            cast.receivables.functions.requestFinancing(rid, cast.bank_a.org_id, RATE, cast.net.now() + DAY),
            cast.delta,
        )
        receipt = ok(cast, cast.receivables.functions.cancelFinancingRequest(rid), cast.delta)
        assert cast.piece(rid) == before
        assert cast.receivables.functions.financeRequest(rid).call() == (0, 0)
        assert event(receipt, cast.receivables, "FinancingRequestCancelled") == {
            "id": rid,
            "holderOrg": cast.delta.org_id,
        }

    def test_cancelFinancingRequest_then_fund_refused_and_new_request_allowed(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = _requested(cast)
        ok(cast, r.cancelFinancingRequest(rid), cast.delta)
        with reverts("ReceivableNoFinanceRequest", id=rid):
            cast.tx(r.fund(rid, RATE), cast.bank_a)
        ok(cast, r.requestFinancing(rid, cast.bank_b.org_id, RATE, cast.net.now() + DAY), cast.delta)
        assert cast.piece(rid)["lockOrg"] == cast.bank_b.org_id

    def test_cancelFinancingRequest_without_request_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        with reverts("ReceivableNoFinanceRequest", id=rid):
            cast.tx(cast.receivables.functions.cancelFinancingRequest(rid), cast.delta)

    def test_cancelFinancingRequest_pledged_piece_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        ok(cast, cast.receivables.functions.pledge(rid, cast.bank_a.org_id), cast.delta)
        with reverts("ReceivableNoFinanceRequest", id=rid):
            cast.tx(cast.receivables.functions.cancelFinancingRequest(rid), cast.delta)
        assert cast.piece(rid)["lock"] == Lock.PLEDGED

    def test_cancelFinancingRequest_financed_piece_refused(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_a)
        ok(cast, cast.receivables.functions.fund(rid, RATE), cast.bank_a)
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.delta.org_id):
            cast.tx(cast.receivables.functions.cancelFinancingRequest(rid), cast.delta)
        assert cast.piece(rid)["lock"] == Lock.FINANCED

    def test_cancelFinancingRequest_by_non_holder_refused(self, cast: Cast) -> None:
        rid = _requested(cast)
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.eastern.org_id):
            cast.tx(cast.receivables.functions.cancelFinancingRequest(rid), cast.eastern)
        assert cast.piece(rid)["lock"] == Lock.FINANCE_REQUESTED

    def test_cancelFinancingRequest_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.cancelFinancingRequest(key("nope")), cast.delta)

    @pytest.mark.parametrize("who", ["bank_a", "huaxin", "stranger"])
    def test_cancelFinancingRequest_by_non_supplier_refused(self, cast: Cast, who: str) -> None:
        rid = _requested(cast, cast.bank_a)
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(cast.receivables.functions.cancelFinancingRequest(rid), sender)


# ---------------------------------------------------------------- fund


class TestFund:
    def test_fund_pays_seller_and_takes_piece(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = _requested(cast, cast.bank_a)
        piece = cast.piece(rid)
        at = soon(cast.net, 3600)
        price, discount, days = _expected(AMOUNT, 42_500, at, piece["dueAt"])
        seller, bank = cast.balance(cast.delta), cast.balance(cast.bank_a)
        cast.net.travel_to(at)
        receipt = ok(cast, r.fund(rid, 42_500), cast.bank_a)
        assert cast.piece(rid) == {
            **piece,
            "holderOrg": cast.bank_a.org_id,
            "lock": Lock.FINANCED,
            "lockOrg": cast.bank_a.org_id,
        }
        assert r.financeRequest(rid).call() == (0, 0)
        assert event(receipt, cast.receivables, "PieceFinanced") == {
            "id": rid,
            "bankOrg": cast.bank_a.org_id,
            "sellerOrg": cast.delta.org_id,
            "ratePpm": 42_500,
            "discountDays": days,
            "priceMinor": price,
            "discountMinor": discount,
        }
        assert event(receipt, cast.settlement, "Transfer") == {
            "from": cast.bank_a.address,
            "to": cast.delta.address,
            "value": price,
        }
        assert cast.balance(cast.delta) - seller == price
        assert bank - cast.balance(cast.bank_a) == price
        assert days in (89, 90) and discount == (AMOUNT * 42_500 * days + 180_000_000) // 360_000_000

    def test_fund_returns_price(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_a)
        price = cast.receivables.functions.fund(rid, RATE).call({"from": cast.bank_a.address})
        receipt = ok(cast, cast.receivables.functions.fund(rid, RATE), cast.bank_a)
        assert price == event(receipt, cast.receivables, "PieceFinanced")["priceMinor"]

    def test_fund_at_max_rate_of_request(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_a, rate=RATE)
        receipt = ok(cast, cast.receivables.functions.fund(rid, RATE), cast.bank_a)
        assert event(receipt, cast.receivables, "PieceFinanced")["ratePpm"] == RATE

    @pytest.mark.parametrize("bank", ["bank_a", "bank_b"])
    def test_fund_market_request_by_any_bank(self, cast: Cast, bank: str) -> None:
        funder = getattr(cast, bank)
        rid = _requested(cast, None)
        receipt = ok(cast, cast.receivables.functions.fund(rid, RATE), funder)
        assert cast.piece(rid)["holderOrg"] == funder.org_id and cast.piece(rid)["lockOrg"] == funder.org_id
        assert event(receipt, cast.receivables, "PieceFinanced")["bankOrg"] == funder.org_id

    def test_fund_split_part_pays_its_holder(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-1")
        ok(cast, r.split(rid, [300_000_00, 700_000_00]), cast.delta)
        part = child_id(rid, 0)
        ok(cast, r.transfer(part, cast.eastern.org_id), cast.delta)
        ok(cast, r.requestFinancing(part, 0, RATE, cast.net.now() + DAY), cast.eastern)
        before = cast.balance(cast.eastern)
        receipt = ok(cast, r.fund(part, RATE), cast.bank_b)
        financed = event(receipt, cast.receivables, "PieceFinanced")
        assert financed["sellerOrg"] == cast.eastern.org_id
        assert cast.balance(cast.eastern) - before == financed["priceMinor"]
        assert financed["priceMinor"] + financed["discountMinor"] == 300_000_00

    def test_fund_request_for_another_bank_refused(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_a)
        before = _state(cast, rid)
        with reverts("ReceivableRequestNotForBank", id=rid, bankOrg=cast.bank_b.org_id):
            cast.tx(cast.receivables.functions.fund(rid, RATE), cast.bank_b)
        assert _state(cast, rid) == before

    def test_fund_rate_above_maximum_refused(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_a, rate=RATE)
        before = _state(cast, rid)
        with reverts("ReceivableRateAboveMaximum", id=rid, ratePpm=RATE + 1, maxRatePpm=RATE):
            cast.tx(cast.receivables.functions.fund(rid, RATE + 1), cast.bank_a)
        assert _state(cast, rid) == before

    def test_fund_zero_rate_refused(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_a)
        with reverts("ReceivableInvalidRate", ratePpm=0):
            cast.tx(cast.receivables.functions.fund(rid, 0), cast.bank_a)

    def test_fund_rate_leaving_nothing_to_pay_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-1", days=365)
        due = cast.piece(rid)["dueAt"]
        ok(cast, r.requestFinancing(rid, 0, MAX_RATE_PPM, due), cast.delta)
        before = _state(cast, rid)
        with reverts("ReceivableInvalidRate", ratePpm=MAX_RATE_PPM):
            cast.tx(r.fund(rid, MAX_RATE_PPM), cast.bank_a)
        assert _state(cast, rid) == before

    def test_fund_at_expiry_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-1")
        expires = cast.net.now() + 100
        ok(cast, r.requestFinancing(rid, 0, RATE, expires), cast.delta)
        cast.net.travel_to(expires)
        with reverts("ReceivableRequestExpired", id=rid, expiresAt=expires):
            cast.tx(r.fund(rid, RATE), cast.bank_a)
        assert cast.piece(rid)["lock"] == Lock.FINANCE_REQUESTED

    def test_fund_one_second_before_expiry_accepted(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-1")
        expires = cast.net.now() + 100
        ok(cast, r.requestFinancing(rid, 0, RATE, expires), cast.delta)
        cast.net.travel_to(expires - 1)
        ok(cast, r.fund(rid, RATE), cast.bank_a)
        assert cast.piece(rid)["lock"] == Lock.FINANCED

    def test_fund_on_due_calendar_day_refused(self, cast: Cast) -> None:
        midnight = _next_cst_midnight(cast.net.now() + DAY)
        due = midnight + 12 * 3600
        rid = _confirmed_due(cast, "INV-1", due)
        ok(cast, cast.receivables.functions.requestFinancing(rid, 0, RATE, due), cast.delta)
        cast.net.travel_to(midnight)
        with reverts("ReceivableMatured", id=rid, dueAt=due):
            cast.tx(cast.receivables.functions.fund(rid, RATE), cast.bank_a)

    def test_fund_without_request_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        with reverts("ReceivableNoFinanceRequest", id=rid):
            cast.tx(cast.receivables.functions.fund(rid, RATE), cast.bank_a)

    def test_fund_already_financed_refused_and_nothing_changes(self, cast: Cast) -> None:
        rid = _requested(cast, None)
        ok(cast, cast.receivables.functions.fund(rid, RATE), cast.bank_a)
        before = _state(cast, rid)
        for bank in (cast.bank_b, cast.bank_a):
            with reverts("ReceivableAlreadyFinanced", id=rid, bankOrg=cast.bank_a.org_id):
                cast.tx(cast.receivables.functions.fund(rid, RATE), bank)
        assert _state(cast, rid) == before

    def test_fund_pledged_piece_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        ok(cast, cast.receivables.functions.pledge(rid, cast.bank_b.org_id), cast.delta)
        before = _state(cast, rid)
        with reverts("ReceivablePledged", id=rid, bankOrg=cast.bank_b.org_id):
            cast.tx(cast.receivables.functions.fund(rid, RATE), cast.bank_a)
        assert _state(cast, rid) == before

    @pytest.mark.parametrize("fate", ["registered", "split", "settled"])
    def test_fund_piece_in_wrong_state_refused(self, cast: Cast, fate: str) -> None:
        r = cast.receivables.functions
        if fate == "registered":
            rid, state = registered(cast, "INV-1"), State.REGISTERED
        elif fate == "split":
            rid, state = confirmed(cast, "INV-1"), State.SPLIT
            ok(cast, r.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)
        else:
            rid, state = _requested(cast, None), State.SETTLED
            ok(cast, r.repay([rid]), cast.huaxin)
        with reverts("ReceivableWrongState", id=rid, state=state):
            cast.tx(r.fund(rid, RATE), cast.bank_a)

    def test_fund_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.fund(key("nope"), RATE), cast.bank_a)

    def test_fund_seller_suspended_after_request_refused(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_a)
        _suspend(cast, cast.delta)
        before = _state(cast, rid)
        with reverts("ReceivableInvalidCounterparty", orgId=cast.delta.org_id):
            cast.tx(cast.receivables.functions.fund(rid, RATE), cast.bank_a)
        assert _state(cast, rid) == before

    def test_fund_without_allowance_bubbles_erc20_error_and_keeps_piece(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_b)
        ok(cast, cast.settlement.functions.approve(cast.receivables.address, 0), cast.bank_b)
        price, _, _ = cast.receivables.functions.quote(rid, RATE, cast.net.now() + 1).call()
        before = _state(cast, rid)
        with reverts(
            "ERC20InsufficientAllowance", spender=cast.receivables.address, allowance=0, needed=price
        ):
            cast.tx(cast.receivables.functions.fund(rid, RATE), cast.bank_b)
        assert _state(cast, rid) == before

    def test_fund_without_balance_bubbles_erc20_error_and_keeps_piece(self, cast: Cast) -> None:
        poor = cast.net.admit("bank-c", Role.BANK)
        ok(cast, cast.settlement.functions.approve(cast.receivables.address, 2**256 - 1), poor)
        rid = _requested(cast, poor)
        price, _, _ = cast.receivables.functions.quote(rid, RATE, cast.net.now() + 1).call()
        before = _state(cast, rid)
        with reverts("ERC20InsufficientBalance", sender=poor.address, balance=0, needed=price):
            cast.tx(cast.receivables.functions.fund(rid, RATE), poor)
        assert _state(cast, rid) == before

    def test_fund_own_market_request_refused(self, cast: Cast) -> None:
        # Regression: an organisation that is both supplier and bank could fund its own market request
        # (it paid itself), though an addressed request to itself was refused as its own counterparty.
        hybrid = cast.net.admit("hybrid", Role.BANK | Role.SUPPLIER)
        token = cast.settlement.functions
        ok(cast, token.mint(hybrid.address, 10**12), hybrid)
        ok(cast, token.approve(cast.receivables.address, 2**256 - 1), hybrid)
        clerk = dev_account("hybrid-clerk")
        cast.net.fund(clerk.address)
        ok(cast, cast.registry.functions.addAccount(hybrid.org_id, clerk.address), cast.operator)
        rid = key("INV-SELF")
        r = cast.receivables.functions
        ok(cast, r.register(rid, cast.huaxin.org_id, AMOUNT, cast.net.now() + 90 * DAY, DOC), hybrid)
        ok(cast, r.confirm(rid), cast.huaxin)
        with reverts("ReceivableInvalidCounterparty", orgId=hybrid.org_id):
            cast.tx(r.requestFinancing(rid, hybrid.org_id, RATE, cast.net.now() + DAY), hybrid)
        ok(cast, r.requestFinancing(rid, 0, RATE, cast.net.now() + DAY), hybrid)
        before = cast.piece(rid), r.financeRequest(rid).call(), cast.balance(hybrid)
        for account in (hybrid, clerk):  # any account of the holder's organisation
            with reverts("ReceivableInvalidCounterparty", orgId=hybrid.org_id):
                cast.tx(r.fund(rid, RATE), account)
        assert (cast.piece(rid), r.financeRequest(rid).call(), cast.balance(hybrid)) == before
        # The market request stays open to every other bank.
        receipt = ok(cast, r.fund(rid, RATE), cast.bank_a)
        financed = event(receipt, cast.receivables, "PieceFinanced")
        assert (financed["bankOrg"], financed["sellerOrg"]) == (cast.bank_a.org_id, hybrid.org_id)
        assert cast.balance(hybrid) - before[2] == financed["priceMinor"]

    @pytest.mark.parametrize("who", ["delta", "huaxin", "stranger"])
    def test_fund_by_non_bank_refused(self, cast: Cast, who: str) -> None:
        rid = _requested(cast, None)
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.BANK)):
            cast.tx(cast.receivables.functions.fund(rid, RATE), sender)

    def test_fund_by_suspended_bank_refused(self, cast: Cast) -> None:
        rid = _requested(cast, None)
        _suspend(cast, cast.bank_a)
        with reverts("ReceivableUnauthorized", account=cast.bank_a.address, requiredRole=int(Role.BANK)):
            cast.tx(cast.receivables.functions.fund(rid, RATE), cast.bank_a)


class TestFundDayBoundary:
    """Discount days are whole UTC+8 calendar days: the count drops by one at 00:00:00 China time."""

    @pytest.mark.parametrize(
        ("offset", "days"), [(-1, 30), (0, 29)], ids=["23:59:59-CST", "00:00:00-CST-next-day"]
    )
    def test_fund_discount_days_change_at_cst_midnight(self, cast: Cast, offset: int, days: int) -> None:
        midnight = _next_cst_midnight(cast.net.now() + 600)
        due = midnight + 29 * DAY + 10 * 3600  # 10:00 China time, 29 calendar days after `midnight`
        amount, rate = 123_456_789_00, 38_500
        rid = _confirmed_due(cast, "INV-1", due, amount)
        ok(cast, cast.receivables.functions.requestFinancing(rid, 0, rate, due), cast.delta)
        funded_at = midnight + offset
        price, discount, expected_days = _expected(amount, rate, funded_at, due)
        assert expected_days == days
        seller = cast.balance(cast.delta)
        cast.net.travel_to(funded_at)
        receipt = ok(cast, cast.receivables.functions.fund(rid, rate), cast.bank_a)
        financed = event(receipt, cast.receivables, "PieceFinanced")
        assert (financed["discountDays"], financed["discountMinor"], financed["priceMinor"]) == (
            days,
            discount,
            price,
        )
        assert cast.balance(cast.delta) - seller == price


# ---------------------------------------------------------------- financeRequest


class TestFinanceRequest:
    def test_financeRequest_zero_when_none_or_unknown(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        assert cast.receivables.functions.financeRequest(rid).call() == (0, 0)
        assert cast.receivables.functions.financeRequest(key("nope")).call() == (0, 0)

    def test_financeRequest_cleared_by_fund(self, cast: Cast) -> None:
        rid = _requested(cast, cast.bank_a)
        assert cast.receivables.functions.financeRequest(rid).call()[0] == RATE
        ok(cast, cast.receivables.functions.fund(rid, RATE), cast.bank_a)
        assert cast.receivables.functions.financeRequest(rid).call() == (0, 0)
