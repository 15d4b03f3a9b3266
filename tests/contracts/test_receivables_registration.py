"""Receivables: register, registerBatch, issueBatch and cancel, one group per function."""

from __future__ import annotations

from typing import Any

import pytest

from chain.devnet import Org
from chain.roles import Role
from tests.contracts.support import (
    AMOUNT,
    DAY,
    DOC,
    FATES,
    Cast,
    State,
    child_id,
    confirmed,
    decided,
    event,
    events,
    key,
    ok,
    registered,
    reverts,
    soon,
)

MAX_BATCH = 256
ROOT_LIMIT = 2**255  # root ids (invoice keys) stay below; split parts' ids carry the top bit
MAX_TENOR = 366 * DAY


def _suspend(cast: Cast, org: Org) -> None:
    ok(cast, cast.registry.functions.suspendOrganisation(org.org_id), cast.operator)


def _reg(rid: int, debtor: int, amount: int, due: int, doc: bytes = DOC) -> tuple[Any, ...]:
    return (rid, debtor, amount, due, doc)


def _expect_piece(
    cast: Cast, rid: int, *, holder: Org, debtor: Org, amount: int, due: int, state: State
) -> None:
    assert cast.piece(rid) == {
        "holderOrg": holder.org_id,
        "debtorOrg": debtor.org_id,
        "amountMinor": amount,
        "dueAt": due,
        "state": state,
        "lock": 0,
        "depth": 0,
        "lockOrg": 0,
    }


# ---------------------------------------------------------------- register


class TestRegister:
    def test_register_stores_registered_piece_and_emits_event(self, cast: Cast) -> None:
        rid, due = key("INV-R1"), cast.net.now() + 90 * DAY
        receipt = ok(
            cast, cast.receivables.functions.register(rid, cast.huaxin.org_id, AMOUNT, due, DOC), cast.delta
        )
        _expect_piece(
            cast, rid, holder=cast.delta, debtor=cast.huaxin, amount=AMOUNT, due=due, state=State.REGISTERED
        )
        assert event(receipt, cast.receivables, "ReceivableRegistered") == {
            "id": rid,
            "creditorOrg": cast.delta.org_id,
            "debtorOrg": cast.huaxin.org_id,
            "amountMinor": AMOUNT,
            "dueAt": due,
            "documentHash": DOC,
        }
        assert cast.receivables.functions.rootOf(rid).call() == rid
        assert cast.receivables.functions.rootStatus(rid).call() == (0, 0)

    def test_register_at_max_tenor_and_max_amount(self, cast: Cast) -> None:
        rid = key("INV-R-MAX")
        at = soon(cast.net, 10)
        cast.net.travel_to(at)
        ok(
            cast,
            cast.receivables.functions.register(rid, cast.huaxin.org_id, 2**96 - 1, at + MAX_TENOR, DOC),
            cast.delta,
        )
        assert cast.piece(rid)["amountMinor"] == 2**96 - 1
        assert cast.piece(rid)["dueAt"] == at + MAX_TENOR

    def test_register_due_date_beyond_max_tenor_refused(self, cast: Cast) -> None:
        at = soon(cast.net, 10)
        cast.net.travel_to(at)
        with reverts("ReceivableInvalidDueDate", dueAt=at + MAX_TENOR + 1):
            cast.tx(
                cast.receivables.functions.register(
                    key("INV-R"), cast.huaxin.org_id, AMOUNT, at + MAX_TENOR + 1, DOC
                ),
                cast.delta,
            )

    @pytest.mark.parametrize("offset", [0, -1, -30 * DAY], ids=["now", "one-second-ago", "past"])
    def test_register_due_date_not_in_future_refused(self, cast: Cast, offset: int) -> None:
        at = soon(cast.net, 10)
        cast.net.travel_to(at)
        with reverts("ReceivableInvalidDueDate", dueAt=at + offset):
            cast.tx(
                cast.receivables.functions.register(
                    key("INV-R"), cast.huaxin.org_id, AMOUNT, at + offset, DOC
                ),
                cast.delta,
            )
        assert cast.piece(key("INV-R"))["state"] == State.NONE

    def test_register_zero_id_refused(self, cast: Cast) -> None:
        with reverts("ReceivableInvalidId"):
            cast.tx(
                cast.receivables.functions.register(0, cast.huaxin.org_id, AMOUNT, cast.net.now() + DAY, DOC),
                cast.delta,
            )

    def test_register_zero_amount_refused(self, cast: Cast) -> None:
        with reverts("ReceivableInvalidAmount", amountMinor=0):
            cast.tx(
                cast.receivables.functions.register(
                    key("INV-R"), cast.huaxin.org_id, 0, cast.net.now() + DAY, DOC
                ),
                cast.delta,
            )

    def test_register_duplicate_refused_and_original_unchanged(self, cast: Cast) -> None:
        rid = registered(cast, "INV-DUP")
        before = cast.piece(rid)
        due = cast.net.now() + 30 * DAY
        for supplier in (cast.delta, cast.eastern):
            with reverts("ReceivableAlreadyRegistered", id=rid):
                cast.tx(
                    cast.receivables.functions.register(rid, cast.huaxin.org_id, 5_00, due, DOC), supplier
                )
        assert cast.piece(rid) == before

    @pytest.mark.parametrize("fate", ["confirmed", "cancelled", "rejected"])
    def test_register_key_of_confirmed_cancelled_or_rejected_piece_refused(
        self, cast: Cast, fate: str
    ) -> None:
        r = cast.receivables.functions
        rid = registered(cast, "INV-USED")
        if fate == "confirmed":
            ok(cast, r.confirm(rid), cast.huaxin)
        elif fate == "cancelled":
            ok(cast, r.cancel(rid), cast.delta)
        else:
            ok(cast, r.reject(rid, b"\x00" * 32), cast.huaxin)
        before = cast.piece(rid)
        with reverts("ReceivableAlreadyRegistered", id=rid):
            cast.tx(r.register(rid, cast.huaxin.org_id, AMOUNT, cast.net.now() + DAY, DOC), cast.eastern)
        assert cast.piece(rid) == before

    def test_register_key_of_split_part_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-PARENT")
        ok(cast, r.split(rid, [40_00, AMOUNT - 40_00]), cast.delta)
        part = child_id(rid, 0)
        before = cast.piece(part)
        # A part's id carries the top bit: it is refused as a root id before any lookup.
        with reverts("ReceivableInvalidId"):
            cast.tx(r.register(part, cast.huaxin.org_id, 40_00, cast.net.now() + DAY, DOC), cast.eastern)
        assert cast.piece(part) == before

    @pytest.mark.parametrize("rid", [ROOT_LIMIT, ROOT_LIMIT + 1, 2**256 - 1], ids=["2^255", "2^255+1", "max"])
    def test_register_id_with_top_bit_refused(self, cast: Cast, rid: int) -> None:
        with reverts("ReceivableInvalidId"):
            cast.tx(
                cast.receivables.functions.register(
                    rid, cast.huaxin.org_id, AMOUNT, cast.net.now() + DAY, DOC
                ),
                cast.delta,
            )
        assert cast.piece(rid)["state"] == State.NONE

    @pytest.mark.parametrize("rid", [1, ROOT_LIMIT - 1], ids=["one", "2^255-1"])
    def test_register_id_bounds_accepted(self, cast: Cast, rid: int) -> None:
        due = cast.net.now() + DAY
        ok(cast, cast.receivables.functions.register(rid, cast.huaxin.org_id, AMOUNT, due, DOC), cast.delta)
        _expect_piece(
            cast, rid, holder=cast.delta, debtor=cast.huaxin, amount=AMOUNT, due=due, state=State.REGISTERED
        )

    @pytest.mark.parametrize("who", ["bank_a", "huaxin", "north", "stranger"])
    def test_register_by_non_supplier_refused(self, cast: Cast, who: str) -> None:
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(
                cast.receivables.functions.register(
                    key("INV-R"), cast.huaxin.org_id, AMOUNT, cast.net.now() + DAY, DOC
                ),
                sender,
            )

    def test_register_by_suspended_supplier_refused(self, cast: Cast) -> None:
        _suspend(cast, cast.delta)
        with reverts("ReceivableUnauthorized", account=cast.delta.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(
                cast.receivables.functions.register(
                    key("INV-R"), cast.huaxin.org_id, AMOUNT, cast.net.now() + DAY, DOC
                ),
                cast.delta,
            )

    @pytest.mark.parametrize("debtor", ["eastern", "bank_a", "operator"])
    def test_register_debtor_not_core_firm_refused(self, cast: Cast, debtor: str) -> None:
        org_id = getattr(cast, debtor).org_id
        with reverts("ReceivableInvalidCounterparty", orgId=org_id):
            cast.tx(
                cast.receivables.functions.register(key("INV-R"), org_id, AMOUNT, cast.net.now() + DAY, DOC),
                cast.delta,
            )

    @pytest.mark.parametrize("org_id", [0, 9_999])
    def test_register_unknown_debtor_refused(self, cast: Cast, org_id: int) -> None:
        with reverts("ReceivableInvalidCounterparty", orgId=org_id):
            cast.tx(
                cast.receivables.functions.register(key("INV-R"), org_id, AMOUNT, cast.net.now() + DAY, DOC),
                cast.delta,
            )

    def test_register_suspended_debtor_refused(self, cast: Cast) -> None:
        _suspend(cast, cast.huaxin)
        with reverts("ReceivableInvalidCounterparty", orgId=cast.huaxin.org_id):
            cast.tx(
                cast.receivables.functions.register(
                    key("INV-R"), cast.huaxin.org_id, AMOUNT, cast.net.now() + DAY, DOC
                ),
                cast.delta,
            )

    def test_register_on_own_organisation_refused(self, cast: Cast) -> None:
        dual = cast.net.admit("dual", Role.SUPPLIER | Role.CORE_FIRM)
        with reverts("ReceivableInvalidCounterparty", orgId=dual.org_id):
            cast.tx(
                cast.receivables.functions.register(
                    key("INV-R"), dual.org_id, AMOUNT, cast.net.now() + DAY, DOC
                ),
                dual,
            )


# ---------------------------------------------------------------- registerBatch


class TestRegisterBatch:
    def test_registerBatch_mixed_debtors_stores_each_and_emits_in_order(self, cast: Cast) -> None:
        longcheng = cast.net.admit("longcheng", Role.CORE_FIRM)
        due = cast.net.now() + 60 * DAY
        debtors = [cast.huaxin, longcheng, longcheng, cast.huaxin]
        items = [
            _reg(key(f"INV-B{i}"), d.org_id, (i + 1) * 100_00, due + i, key(f"doc{i}").to_bytes(32, "big"))
            for i, d in enumerate(debtors)
        ]
        receipt = ok(cast, cast.receivables.functions.registerBatch(items), cast.delta)
        assert events(receipt, cast.receivables, "ReceivableRegistered") == [
            {
                "id": rid,
                "creditorOrg": cast.delta.org_id,
                "debtorOrg": debtor,
                "amountMinor": amount,
                "dueAt": due_at,
                "documentHash": doc,
            }
            for rid, debtor, amount, due_at, doc in items
        ]
        for (rid, _, amount, due_at, _), debtor in zip(items, debtors, strict=True):
            _expect_piece(
                cast, rid, holder=cast.delta, debtor=debtor, amount=amount, due=due_at, state=State.REGISTERED
            )

    def test_registerBatch_max_size_accepted(self, cast: Cast) -> None:
        due = cast.net.now() + 30 * DAY
        items = [_reg(key(f"INV-M{i}"), cast.huaxin.org_id, 1_00, due) for i in range(MAX_BATCH)]
        receipt = ok(cast, cast.receivables.functions.registerBatch(items), cast.delta, gas=30_000_000)
        assert len(events(receipt, cast.receivables, "ReceivableRegistered")) == MAX_BATCH
        assert cast.piece(items[-1][0])["state"] == State.REGISTERED

    @pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
    def test_registerBatch_size_out_of_range_refused(self, cast: Cast, size: int) -> None:
        due = cast.net.now() + 30 * DAY
        items = [_reg(key(f"INV-M{i}"), cast.huaxin.org_id, 1_00, due) for i in range(size)]
        with reverts("ReceivableBatchSize", size=size, max=MAX_BATCH):
            cast.tx(cast.receivables.functions.registerBatch(items), cast.delta)
        if size:
            assert cast.piece(items[0][0])["state"] == State.NONE

    def test_registerBatch_duplicate_inside_batch_refused_atomically(self, cast: Cast) -> None:
        due = cast.net.now() + 30 * DAY
        a, b = key("INV-A"), key("INV-B")
        items = [_reg(a, cast.huaxin.org_id, 1_00, due), _reg(b, cast.huaxin.org_id, 2_00, due)]
        items.append(_reg(a, cast.huaxin.org_id, 3_00, due))
        with reverts("ReceivableAlreadyRegistered", id=a):
            cast.tx(cast.receivables.functions.registerBatch(items), cast.delta)
        assert cast.piece(a)["state"] == State.NONE and cast.piece(b)["state"] == State.NONE

    def test_registerBatch_duplicate_across_batches_refused_and_first_unchanged(self, cast: Cast) -> None:
        due = cast.net.now() + 30 * DAY
        a, b, c = key("INV-A"), key("INV-B"), key("INV-C")
        r = cast.receivables.functions
        ok(
            cast,
            r.registerBatch([_reg(a, cast.huaxin.org_id, 1_00, due), _reg(b, cast.huaxin.org_id, 2_00, due)]),
            cast.delta,
        )
        before = [cast.piece(a), cast.piece(b)]
        second = [_reg(c, cast.huaxin.org_id, 1_00, due), _reg(b, cast.huaxin.org_id, 9_00, due)]
        with reverts("ReceivableAlreadyRegistered", id=b):
            cast.tx(r.registerBatch(second), cast.eastern)
        assert [cast.piece(a), cast.piece(b)] == before
        assert cast.piece(c)["state"] == State.NONE

    def test_registerBatch_invalid_debtor_after_valid_run_refused(self, cast: Cast) -> None:
        due = cast.net.now() + 30 * DAY
        items = [
            _reg(key("INV-A"), cast.huaxin.org_id, 1_00, due),
            _reg(key("INV-B"), cast.eastern.org_id, 1_00, due),
            _reg(key("INV-C"), cast.huaxin.org_id, 1_00, due),
        ]
        with reverts("ReceivableInvalidCounterparty", orgId=cast.eastern.org_id):
            cast.tx(cast.receivables.functions.registerBatch(items), cast.delta)
        assert cast.piece(key("INV-A"))["state"] == State.NONE

    @pytest.mark.parametrize("position", [0, 1], ids=["first-item", "later-item"])
    def test_registerBatch_debtor_zero_refused(self, cast: Cast, position: int) -> None:
        # Regression: the debtor cache once started at 0, so a leading debtorOrg 0 skipped the check.
        due = cast.net.now() + 30 * DAY
        items = [_reg(key("INV-OK"), cast.huaxin.org_id, 1_00, due)]
        items.insert(position, _reg(key("INV-ZERO"), 0, 1_00, due))
        with reverts("ReceivableInvalidCounterparty", orgId=0):
            cast.tx(cast.receivables.functions.registerBatch(items), cast.delta)
        assert cast.piece(key("INV-ZERO"))["state"] == State.NONE

    def test_registerBatch_invalid_item_fields_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        due = cast.net.now() + 30 * DAY
        ok = _reg(key("INV-OK"), cast.huaxin.org_id, 1_00, due)
        with reverts("ReceivableInvalidId"):
            cast.tx(r.registerBatch([ok, _reg(0, cast.huaxin.org_id, 1_00, due)]), cast.delta)
        with reverts("ReceivableInvalidId"):
            cast.tx(r.registerBatch([ok, _reg(ROOT_LIMIT, cast.huaxin.org_id, 1_00, due)]), cast.delta)
        with reverts("ReceivableInvalidAmount", amountMinor=0):
            cast.tx(r.registerBatch([ok, _reg(key("INV-Z"), cast.huaxin.org_id, 0, due)]), cast.delta)
        late = cast.net.now() + MAX_TENOR + DAY
        with reverts("ReceivableInvalidDueDate", dueAt=late):
            cast.tx(r.registerBatch([ok, _reg(key("INV-L"), cast.huaxin.org_id, 1_00, late)]), cast.delta)
        assert cast.piece(key("INV-OK"))["state"] == State.NONE

    def test_registerBatch_by_non_supplier_refused(self, cast: Cast) -> None:
        items = [_reg(key("INV-A"), cast.huaxin.org_id, 1_00, cast.net.now() + DAY)]
        with reverts("ReceivableUnauthorized", account=cast.huaxin.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(cast.receivables.functions.registerBatch(items), cast.huaxin)


# ---------------------------------------------------------------- issueBatch


def _iss(rid: int, creditor: int, amount: int, due: int, doc: bytes = DOC) -> tuple[Any, ...]:
    return (rid, creditor, amount, due, doc)


class TestIssueBatch:
    def test_issueBatch_issues_confirmed_pieces_to_suppliers(self, cast: Cast) -> None:
        due = cast.net.now() + 120 * DAY
        a, b = key("PAY-1"), key("PAY-2")
        items = [_iss(a, cast.delta.org_id, 500_00, due), _iss(b, cast.eastern.org_id, 700_00, due + 1)]
        receipt = ok(cast, cast.receivables.functions.issueBatch(items), cast.huaxin)
        _expect_piece(
            cast, a, holder=cast.delta, debtor=cast.huaxin, amount=500_00, due=due, state=State.CONFIRMED
        )
        _expect_piece(
            cast,
            b,
            holder=cast.eastern,
            debtor=cast.huaxin,
            amount=700_00,
            due=due + 1,
            state=State.CONFIRMED,
        )
        assert events(receipt, cast.receivables, "ReceivableRegistered") == [
            {
                "id": rid,
                "creditorOrg": creditor,
                "debtorOrg": cast.huaxin.org_id,
                "amountMinor": amount,
                "dueAt": due_at,
                "documentHash": DOC,
            }
            for rid, creditor, amount, due_at, _ in items
        ]
        assert events(receipt, cast.receivables, "ReceivableConfirmed") == [
            {"id": rid, "debtorOrg": cast.huaxin.org_id, "by": cast.huaxin.address} for rid in (a, b)
        ]

    def test_issueBatch_issued_piece_is_usable_by_its_supplier(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = key("PAY-1")
        ok(cast, r.issueBatch([_iss(rid, cast.delta.org_id, 500_00, cast.net.now() + 60 * DAY)]), cast.huaxin)
        ok(cast, r.split(rid, [200_00, 300_00]), cast.delta)
        assert cast.piece(child_id(rid, 1))["amountMinor"] == 300_00

    def test_issueBatch_max_size_accepted(self, cast: Cast) -> None:
        due = cast.net.now() + 30 * DAY
        items = [_iss(key(f"PAY-{i}"), cast.delta.org_id, 1_00, due) for i in range(MAX_BATCH)]
        receipt = ok(cast, cast.receivables.functions.issueBatch(items), cast.huaxin, gas=30_000_000)
        assert len(events(receipt, cast.receivables, "ReceivableConfirmed")) == MAX_BATCH
        assert cast.piece(items[-1][0])["state"] == State.CONFIRMED

    @pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
    def test_issueBatch_size_out_of_range_refused(self, cast: Cast, size: int) -> None:
        due = cast.net.now() + 30 * DAY
        items = [_iss(key(f"PAY-{i}"), cast.delta.org_id, 1_00, due) for i in range(size)]
        with reverts("ReceivableBatchSize", size=size, max=MAX_BATCH):
            cast.tx(cast.receivables.functions.issueBatch(items), cast.huaxin)

    @pytest.mark.parametrize("creditor", ["bank_a", "huaxin", "north"])
    def test_issueBatch_creditor_not_supplier_or_own_refused(self, cast: Cast, creditor: str) -> None:
        org_id = getattr(cast, creditor).org_id
        items = [
            _iss(key("PAY-1"), cast.delta.org_id, 1_00, cast.net.now() + DAY),
            _iss(key("PAY-2"), org_id, 1_00, cast.net.now() + DAY),
        ]
        with reverts("ReceivableInvalidCounterparty", orgId=org_id):
            cast.tx(cast.receivables.functions.issueBatch(items), cast.huaxin)
        assert cast.piece(key("PAY-1"))["state"] == State.NONE

    def test_issueBatch_to_own_organisation_refused(self, cast: Cast) -> None:
        dual = cast.net.admit("dual", Role.SUPPLIER | Role.CORE_FIRM)
        items = [_iss(key("PAY-1"), dual.org_id, 1_00, cast.net.now() + DAY)]
        with reverts("ReceivableInvalidCounterparty", orgId=dual.org_id):
            cast.tx(cast.receivables.functions.issueBatch(items), dual)

    def test_issueBatch_suspended_supplier_refused(self, cast: Cast) -> None:
        _suspend(cast, cast.eastern)
        items = [_iss(key("PAY-1"), cast.eastern.org_id, 1_00, cast.net.now() + DAY)]
        with reverts("ReceivableInvalidCounterparty", orgId=cast.eastern.org_id):
            cast.tx(cast.receivables.functions.issueBatch(items), cast.huaxin)

    @pytest.mark.parametrize("position", [0, 1], ids=["first-item", "later-item"])
    def test_issueBatch_creditor_zero_refused(self, cast: Cast, position: int) -> None:
        # Regression: the creditor cache once started at 0, so a leading creditorOrg 0 skipped the check.
        items = [_iss(key("PAY-OK"), cast.delta.org_id, 1_00, cast.net.now() + DAY)]
        items.insert(position, _iss(key("PAY-ZERO"), 0, 1_00, cast.net.now() + DAY))
        with reverts("ReceivableInvalidCounterparty", orgId=0):
            cast.tx(cast.receivables.functions.issueBatch(items), cast.huaxin)
        assert cast.piece(key("PAY-ZERO"))["state"] == State.NONE

    def test_issueBatch_existing_key_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        before = cast.piece(rid)
        with reverts("ReceivableAlreadyRegistered", id=rid):
            cast.tx(
                cast.receivables.functions.issueBatch(
                    [_iss(rid, cast.eastern.org_id, 1_00, cast.net.now() + DAY)]
                ),
                cast.huaxin,
            )
        assert cast.piece(rid) == before

    def test_issueBatch_invalid_item_fields_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        now = cast.net.now()
        with reverts("ReceivableInvalidId"):
            cast.tx(r.issueBatch([_iss(0, cast.delta.org_id, 1_00, now + DAY)]), cast.huaxin)
        with reverts("ReceivableInvalidId"):
            cast.tx(
                r.issueBatch([_iss(child_id(key("PAY-0"), 0), cast.delta.org_id, 1_00, now + DAY)]),
                cast.huaxin,
            )
        with reverts("ReceivableInvalidAmount", amountMinor=0):
            cast.tx(r.issueBatch([_iss(key("PAY-1"), cast.delta.org_id, 0, now + DAY)]), cast.huaxin)
        with reverts("ReceivableInvalidDueDate", dueAt=now - 1):
            cast.tx(r.issueBatch([_iss(key("PAY-1"), cast.delta.org_id, 1_00, now - 1)]), cast.huaxin)

    @pytest.mark.parametrize("who", ["delta", "bank_a", "stranger"])
    def test_issueBatch_by_non_core_firm_refused(self, cast: Cast, who: str) -> None:
        sender = getattr(cast, who)
        items = [_iss(key("PAY-1"), cast.eastern.org_id, 1_00, cast.net.now() + DAY)]
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.CORE_FIRM)):
            cast.tx(cast.receivables.functions.issueBatch(items), sender)


# ---------------------------------------------------------------- cancel


class TestCancel:
    def test_cancel_marks_cancelled_and_emits_event(self, cast: Cast) -> None:
        rid = registered(cast, "INV-C")
        receipt = ok(cast, cast.receivables.functions.cancel(rid), cast.delta)
        assert cast.piece(rid)["state"] == State.CANCELLED
        assert event(receipt, cast.receivables, "ReceivableCancelled") == {
            "id": rid,
            "creditorOrg": cast.delta.org_id,
        }

    def test_cancel_cancelled_piece_cannot_be_confirmed(self, cast: Cast) -> None:
        rid = registered(cast, "INV-C")
        ok(cast, cast.receivables.functions.cancel(rid), cast.delta)
        with reverts("ReceivableWrongState", id=rid, state=State.CANCELLED):
            cast.tx(cast.receivables.functions.confirm(rid), cast.huaxin)

    def test_cancel_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.cancel(key("nope")), cast.delta)

    @pytest.mark.parametrize(("fate", "state"), FATES)
    def test_cancel_wrong_state_refused(self, cast: Cast, fate: str, state: State) -> None:
        r = cast.receivables.functions
        rid = decided(cast, "INV-C", fate)
        with reverts("ReceivableWrongState", id=rid, state=state):
            cast.tx(r.cancel(rid), cast.delta)
        assert cast.piece(rid)["state"] == state

    def test_cancel_by_other_supplier_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-C")
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.eastern.org_id):
            cast.tx(cast.receivables.functions.cancel(rid), cast.eastern)
        assert cast.piece(rid)["state"] == State.REGISTERED

    @pytest.mark.parametrize("who", ["huaxin", "bank_a", "stranger"])
    def test_cancel_by_non_supplier_refused(self, cast: Cast, who: str) -> None:
        rid = registered(cast, "INV-C")
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(cast.receivables.functions.cancel(rid), sender)
