"""Receivables: pledge, releasePledge, repay, markOverdue, markDefaulted, setTerms and their views."""

from __future__ import annotations

from enum import IntEnum

import pytest

from chain.devnet import Org
from chain.roles import Role
from tests.contracts.support import (
    AMOUNT,
    DAY,
    Cast,
    State,
    child_id,
    confirmed,
    event,
    events,
    key,
    ok,
    registered,
    reverts,
)

MAX_REPAY_BATCH = 128
GRACE = 3 * DAY  # the devnet's deployment terms
DEFAULT = 30 * DAY
MAX_GRACE = 90 * DAY
MAX_DEFAULT = 366 * DAY
RATE = 45_000


class Lock(IntEnum):
    NONE = 0
    FINANCE_REQUESTED = 1
    FINANCED = 2
    PLEDGED = 3


class Standing(IntEnum):
    CURRENT = 0
    OVERDUE = 1
    DEFAULTED = 2


def _suspend(cast: Cast, org: Org) -> None:
    ok(cast, cast.registry.functions.suspendOrganisation(org.org_id), cast.operator)


def _pledged(cast: Cast, bank: Org) -> int:
    rid = confirmed(cast)
    ok(cast, cast.receivables.functions.pledge(rid, bank.org_id), cast.delta)
    return rid


def _split_in_two(cast: Cast, rid: int, first: int) -> tuple[int, int]:
    amount = cast.piece(rid)["amountMinor"]
    ok(cast, cast.receivables.functions.split(rid, [first, amount - first]), cast.delta)
    return child_id(rid, 0), child_id(rid, 1)


def _status(cast: Cast, root: int) -> tuple[int, int]:
    repaid, standing = cast.receivables.functions.rootStatus(root).call()
    return repaid, standing


def _balances(cast: Cast) -> list[int]:
    return [cast.balance(o) for o in (cast.huaxin, cast.delta, cast.eastern, cast.bank_a, cast.bank_b)]


# ---------------------------------------------------------------- pledge


class TestPledge:
    def test_pledge_locks_piece_to_bank_and_emits_event(self, cast: Cast) -> None:
        rid = confirmed(cast)
        before = cast.piece(rid)
        receipt = ok(cast, cast.receivables.functions.pledge(rid, cast.bank_b.org_id), cast.delta)
        assert cast.piece(rid) == {**before, "lock": Lock.PLEDGED, "lockOrg": cast.bank_b.org_id}
        assert event(receipt, cast.receivables, "PiecePledged") == {
            "id": rid,
            "holderOrg": cast.delta.org_id,
            "bankOrg": cast.bank_b.org_id,
        }

    @pytest.mark.parametrize("to", ["eastern", "huaxin", "delta", "north"])
    def test_pledge_to_non_bank_refused(self, cast: Cast, to: str) -> None:
        rid = confirmed(cast)
        org_id = getattr(cast, to).org_id
        with reverts("ReceivableInvalidCounterparty", orgId=org_id):
            cast.tx(cast.receivables.functions.pledge(rid, org_id), cast.delta)
        assert cast.piece(rid)["lock"] == Lock.NONE

    def test_pledge_to_suspended_or_unknown_bank_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        _suspend(cast, cast.bank_a)
        for org_id in (cast.bank_a.org_id, 0, 9_999):
            with reverts("ReceivableInvalidCounterparty", orgId=org_id):
                cast.tx(cast.receivables.functions.pledge(rid, org_id), cast.delta)

    def test_pledge_twice_refused(self, cast: Cast) -> None:
        rid = _pledged(cast, cast.bank_a)
        before = cast.piece(rid)
        with reverts("ReceivablePledged", id=rid, bankOrg=cast.bank_a.org_id):
            cast.tx(cast.receivables.functions.pledge(rid, cast.bank_b.org_id), cast.delta)
        assert cast.piece(rid) == before

    def test_pledge_with_open_financing_request_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        ok(cast, cast.receivables.functions.requestFinancing(rid, 0, RATE, cast.net.now() + DAY), cast.delta)
        with reverts("ReceivableFinancingPending", id=rid, bankOrg=0):
            cast.tx(cast.receivables.functions.pledge(rid, cast.bank_b.org_id), cast.delta)

    def test_pledge_by_non_holder_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.eastern.org_id):
            cast.tx(cast.receivables.functions.pledge(rid, cast.bank_a.org_id), cast.eastern)

    @pytest.mark.parametrize("fate", ["registered", "split"])
    def test_pledge_piece_in_wrong_state_refused(self, cast: Cast, fate: str) -> None:
        if fate == "registered":
            rid, state = registered(cast), State.REGISTERED
        else:
            rid, state = confirmed(cast), State.SPLIT
            _split_in_two(cast, rid, 1_00)
        with reverts("ReceivableWrongState", id=rid, state=state):
            cast.tx(cast.receivables.functions.pledge(rid, cast.bank_a.org_id), cast.delta)

    def test_pledge_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.pledge(key("nope"), cast.bank_a.org_id), cast.delta)

    @pytest.mark.parametrize("who", ["bank_a", "huaxin", "stranger"])
    def test_pledge_by_non_supplier_refused(self, cast: Cast, who: str) -> None:
        rid = confirmed(cast)
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(cast.receivables.functions.pledge(rid, cast.bank_a.org_id), sender)


# ---------------------------------------------------------------- releasePledge


class TestReleasePledge:
    def test_releasePledge_unlocks_and_emits_event(self, cast: Cast) -> None:
        rid = confirmed(cast)
        before = cast.piece(rid)
        ok(cast, cast.receivables.functions.pledge(rid, cast.bank_a.org_id), cast.delta)
        receipt = ok(cast, cast.receivables.functions.releasePledge(rid), cast.bank_a)
        assert cast.piece(rid) == before
        assert event(receipt, cast.receivables, "PledgeReleased") == {
            "id": rid,
            "bankOrg": cast.bank_a.org_id,
        }

    def test_releasePledge_lets_holder_move_piece_again(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = _pledged(cast, cast.bank_a)
        ok(cast, r.releasePledge(rid), cast.bank_a)
        ok(cast, r.transfer(rid, cast.eastern.org_id), cast.delta)
        assert cast.piece(rid)["holderOrg"] == cast.eastern.org_id

    def test_releasePledge_by_other_bank_refused(self, cast: Cast) -> None:
        rid = _pledged(cast, cast.bank_a)
        before = cast.piece(rid)
        with reverts("ReceivableNotPledgee", id=rid, orgId=cast.bank_b.org_id):
            cast.tx(cast.receivables.functions.releasePledge(rid), cast.bank_b)
        assert cast.piece(rid) == before

    def test_releasePledge_unpledged_piece_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        with reverts("ReceivableNotPledgee", id=rid, orgId=cast.bank_a.org_id):
            cast.tx(cast.receivables.functions.releasePledge(rid), cast.bank_a)

    def test_releasePledge_financed_piece_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast)
        ok(cast, r.requestFinancing(rid, 0, RATE, cast.net.now() + DAY), cast.delta)
        ok(cast, r.fund(rid, RATE), cast.bank_a)
        with reverts("ReceivableNotPledgee", id=rid, orgId=cast.bank_a.org_id):
            cast.tx(r.releasePledge(rid), cast.bank_a)
        assert cast.piece(rid)["lock"] == Lock.FINANCED

    def test_releasePledge_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.releasePledge(key("nope")), cast.bank_a)

    @pytest.mark.parametrize("who", ["delta", "huaxin", "stranger"])
    def test_releasePledge_by_non_bank_refused(self, cast: Cast, who: str) -> None:
        rid = _pledged(cast, cast.bank_a)
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.BANK)):
            cast.tx(cast.receivables.functions.releasePledge(rid), sender)


# ---------------------------------------------------------------- repay


class TestRepay:
    def test_repay_root_pays_holder_and_settles(self, cast: Cast) -> None:
        rid = confirmed(cast)
        before = cast.piece(rid)
        debtor, holder = cast.balance(cast.huaxin), cast.balance(cast.delta)
        receipt = ok(cast, cast.receivables.functions.repay([rid]), cast.huaxin)
        assert cast.piece(rid) == {**before, "state": State.SETTLED}
        assert event(receipt, cast.receivables, "PieceRepaid") == {
            "id": rid,
            "rootId": rid,
            "payeeOrg": cast.delta.org_id,
            "amountMinor": AMOUNT,
        }
        assert event(receipt, cast.receivables, "ReceivableSettled") == {"rootId": rid}
        assert event(receipt, cast.settlement, "Transfer") == {
            "from": cast.huaxin.address,
            "to": cast.delta.address,
            "value": AMOUNT,
        }
        assert debtor - cast.balance(cast.huaxin) == AMOUNT
        assert cast.balance(cast.delta) - holder == AMOUNT

    def test_repay_root_records_repayment_in_rootStatus(self, cast: Cast) -> None:
        # Regression: repaying an unsplit root once left rootStatus at repaidMinor 0.
        rid = confirmed(cast)
        assert _status(cast, rid) == (0, Standing.CURRENT)
        ok(cast, cast.receivables.functions.repay([rid]), cast.huaxin)
        assert _status(cast, rid) == (AMOUNT, Standing.CURRENT)

    def test_repay_overdue_root_reports_amount_and_keeps_standing(self, cast: Cast) -> None:
        rid = confirmed(cast)
        cast.net.travel_to(cast.piece(rid)["dueAt"] + GRACE)
        ok(cast, cast.receivables.functions.markOverdue(rid), cast.cpa)
        assert _status(cast, rid) == (0, Standing.OVERDUE)
        ok(cast, cast.receivables.functions.repay([rid]), cast.huaxin)
        assert _status(cast, rid) == (AMOUNT, Standing.OVERDUE)

    def test_repaid_parts_are_not_roots_in_rootStatus(self, cast: Cast) -> None:
        root = confirmed(cast)
        first, second = _split_in_two(cast, root, 300_000_00)
        ok(cast, cast.receivables.functions.repay([first, second]), cast.huaxin)
        assert _status(cast, root) == (AMOUNT, Standing.CURRENT)  # counted once, not twice
        for part in (first, second):  # a settled part is no root: nothing is derived for it
            assert cast.piece(part)["state"] == State.SETTLED
            assert _status(cast, part) == (0, Standing.CURRENT)

    def test_repay_batch_pays_each_holder(self, cast: Cast) -> None:
        r = cast.receivables.functions
        root = confirmed(cast)
        eastern_part, delta_part = _split_in_two(cast, root, 300_000_00)
        ok(cast, r.transfer(eastern_part, cast.eastern.org_id), cast.delta)
        before = _balances(cast)
        receipt = ok(cast, r.repay([eastern_part, delta_part]), cast.huaxin)
        after = _balances(cast)
        assert [a - b for a, b in zip(after, before, strict=True)] == [-AMOUNT, 700_000_00, 300_000_00, 0, 0]
        assert events(receipt, cast.receivables, "PieceRepaid") == [
            {"id": eastern_part, "rootId": root, "payeeOrg": cast.eastern.org_id, "amountMinor": 300_000_00},
            {"id": delta_part, "rootId": root, "payeeOrg": cast.delta.org_id, "amountMinor": 700_000_00},
        ]
        assert event(receipt, cast.receivables, "ReceivableSettled") == {"rootId": root}
        assert _status(cast, root) == (AMOUNT, Standing.CURRENT)
        assert cast.piece(root)["state"] == State.SPLIT

    def test_repay_root_settled_only_when_every_part_repaid(self, cast: Cast) -> None:
        r = cast.receivables.functions
        root = confirmed(cast)
        a, b = _split_in_two(cast, root, 400_000_00)
        b0, b1 = _split_in_two(cast, b, 100_000_00)
        for repaid, part in ((400_000_00, a), (900_000_00, b1)):
            receipt = ok(cast, r.repay([part]), cast.huaxin)
            assert events(receipt, cast.receivables, "ReceivableSettled") == []
            assert event(receipt, cast.receivables, "PieceRepaid")["rootId"] == root
            assert _status(cast, root) == (repaid, Standing.CURRENT)
        receipt = ok(cast, r.repay([b0]), cast.huaxin)
        assert event(receipt, cast.receivables, "ReceivableSettled") == {"rootId": root}
        assert _status(cast, root) == (AMOUNT, Standing.CURRENT)

    def test_repay_pledged_piece_pays_pledgee(self, cast: Cast) -> None:
        rid = _pledged(cast, cast.bank_b)
        before = _balances(cast)
        receipt = ok(cast, cast.receivables.functions.repay([rid]), cast.huaxin)
        after = _balances(cast)
        assert [a - b for a, b in zip(after, before, strict=True)] == [-AMOUNT, 0, 0, 0, AMOUNT]
        assert event(receipt, cast.receivables, "PieceRepaid")["payeeOrg"] == cast.bank_b.org_id
        piece = cast.piece(rid)
        assert (piece["state"], piece["lock"], piece["lockOrg"], piece["holderOrg"]) == (
            State.SETTLED,
            Lock.NONE,
            0,
            cast.delta.org_id,
        )

    def test_repay_financed_piece_pays_bank(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast)
        ok(cast, r.requestFinancing(rid, 0, RATE, cast.net.now() + DAY), cast.delta)
        ok(cast, r.fund(rid, RATE), cast.bank_a)
        before = _balances(cast)
        receipt = ok(cast, r.repay([rid]), cast.huaxin)
        after = _balances(cast)
        assert [a - b for a, b in zip(after, before, strict=True)] == [-AMOUNT, 0, 0, AMOUNT, 0]
        assert event(receipt, cast.receivables, "PieceRepaid")["payeeOrg"] == cast.bank_a.org_id
        assert cast.piece(rid)["lock"] == Lock.NONE and cast.piece(rid)["holderOrg"] == cast.bank_a.org_id

    def test_repay_piece_with_open_request_clears_it_and_pays_holder(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast)
        ok(cast, r.requestFinancing(rid, cast.bank_a.org_id, RATE, cast.net.now() + DAY), cast.delta)
        before = cast.balance(cast.delta)
        ok(cast, r.repay([rid]), cast.huaxin)
        assert cast.balance(cast.delta) - before == AMOUNT
        assert r.financeRequest(rid).call() == (0, 0)
        assert (cast.piece(rid)["lock"], cast.piece(rid)["lockOrg"]) == (Lock.NONE, 0)
        with reverts("ReceivableWrongState", id=rid, state=State.SETTLED):
            cast.tx(r.fund(rid, RATE), cast.bank_a)

    def test_repay_suspended_holder_still_paid(self, cast: Cast) -> None:
        rid = confirmed(cast)
        _suspend(cast, cast.delta)
        before = cast.balance(cast.delta)
        ok(cast, cast.receivables.functions.repay([rid]), cast.huaxin)
        assert cast.balance(cast.delta) - before == AMOUNT

    def test_repay_max_batch_accepted(self, cast: Cast) -> None:
        r = cast.receivables.functions
        root = confirmed(cast, amount=16 * 16 * 1_00)
        ok(cast, r.split(root, [16 * 1_00] * 16), cast.delta)
        leaves: list[int] = []
        for i in range(MAX_REPAY_BATCH // 16):
            part = child_id(root, i)
            ok(cast, r.split(part, [1_00] * 16), cast.delta)
            leaves += [child_id(part, j) for j in range(16)]
        receipt = ok(cast, r.repay(leaves), cast.huaxin, gas=50_000_000)
        assert len(events(receipt, cast.receivables, "PieceRepaid")) == MAX_REPAY_BATCH
        assert events(receipt, cast.receivables, "ReceivableSettled") == []
        assert _status(cast, root) == (MAX_REPAY_BATCH * 1_00, Standing.CURRENT)

    @pytest.mark.parametrize("size", [0, MAX_REPAY_BATCH + 1])
    def test_repay_batch_size_out_of_range_refused(self, cast: Cast, size: int) -> None:
        with reverts("ReceivableBatchSize", size=size, max=MAX_REPAY_BATCH):
            cast.tx(cast.receivables.functions.repay([key(f"x{i}") for i in range(size)]), cast.huaxin)

    def test_repay_other_debtors_piece_refused_and_nothing_paid(self, cast: Cast) -> None:
        other = cast.net.admit("longcheng", Role.CORE_FIRM)
        rid = confirmed(cast)
        before = (_balances(cast), cast.piece(rid))
        with reverts("ReceivableNotDebtor", id=rid, orgId=other.org_id):
            cast.tx(cast.receivables.functions.repay([rid]), other)
        assert (_balances(cast), cast.piece(rid)) == before

    def test_repay_batch_with_one_bad_item_pays_nothing(self, cast: Cast) -> None:
        r = cast.receivables.functions
        good, unconfirmed = confirmed(cast, "INV-GOOD"), registered(cast, "INV-REG")
        before = (_balances(cast), cast.piece(good))
        with reverts("ReceivableWrongState", id=unconfirmed, state=State.REGISTERED):
            cast.tx(r.repay([good, unconfirmed]), cast.huaxin)
        assert (_balances(cast), cast.piece(good)) == before

    def test_repay_already_settled_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast)
        ok(cast, r.repay([rid]), cast.huaxin)
        before = _balances(cast)
        with reverts("ReceivableWrongState", id=rid, state=State.SETTLED):
            cast.tx(r.repay([rid]), cast.huaxin)
        assert _balances(cast) == before

    def test_repay_same_piece_twice_in_batch_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        before = _balances(cast)
        with reverts("ReceivableWrongState", id=rid, state=State.SETTLED):
            cast.tx(cast.receivables.functions.repay([rid, rid]), cast.huaxin)
        assert _balances(cast) == before and cast.piece(rid)["state"] == State.CONFIRMED

    def test_repay_split_parent_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        _split_in_two(cast, rid, 1_00)
        with reverts("ReceivableWrongState", id=rid, state=State.SPLIT):
            cast.tx(cast.receivables.functions.repay([rid]), cast.huaxin)

    def test_repay_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.repay([key("nope")]), cast.huaxin)

    def test_repay_without_allowance_bubbles_erc20_error(self, cast: Cast) -> None:
        rid = confirmed(cast)
        ok(cast, cast.settlement.functions.approve(cast.receivables.address, 0), cast.huaxin)
        with reverts(
            "ERC20InsufficientAllowance", spender=cast.receivables.address, allowance=0, needed=AMOUNT
        ):
            cast.tx(cast.receivables.functions.repay([rid]), cast.huaxin)
        assert cast.piece(rid)["state"] == State.CONFIRMED

    @pytest.mark.parametrize("who", ["delta", "bank_a", "stranger"])
    def test_repay_by_non_core_firm_refused(self, cast: Cast, who: str) -> None:
        rid = confirmed(cast)
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.CORE_FIRM)):
            cast.tx(cast.receivables.functions.repay([rid]), sender)


# ---------------------------------------------------------------- markOverdue


class TestMarkOverdue:
    def test_markOverdue_after_grace_marks_and_emits_outstanding(self, cast: Cast) -> None:
        rid = confirmed(cast)
        due = cast.piece(rid)["dueAt"]
        cast.net.travel_to(due + GRACE)
        receipt = ok(cast, cast.receivables.functions.markOverdue(rid), cast.cpa)
        assert _status(cast, rid) == (0, Standing.OVERDUE)
        assert event(receipt, cast.receivables, "ReceivableOverdue") == {
            "rootId": rid,
            "outstandingMinor": AMOUNT,
        }

    def test_markOverdue_partly_repaid_root_reports_outstanding(self, cast: Cast) -> None:
        rid = confirmed(cast)
        part, _ = _split_in_two(cast, rid, 250_000_00)
        ok(cast, cast.receivables.functions.repay([part]), cast.huaxin)
        cast.net.travel_to(cast.piece(rid)["dueAt"] + GRACE)
        receipt = ok(cast, cast.receivables.functions.markOverdue(rid), cast.delta)
        assert event(receipt, cast.receivables, "ReceivableOverdue")["outstandingMinor"] == 750_000_00
        assert _status(cast, rid) == (250_000_00, Standing.OVERDUE)

    def test_markOverdue_too_early_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        due = cast.piece(rid)["dueAt"]
        cast.net.travel_to(due + GRACE - 1)
        with reverts("ReceivableTooEarly", rootId=rid, allowedAt=due + GRACE):
            cast.tx(cast.receivables.functions.markOverdue(rid), cast.cpa)
        assert _status(cast, rid) == (0, Standing.CURRENT)

    def test_markOverdue_follows_changed_grace_period(self, cast: Cast) -> None:
        rid = confirmed(cast)
        due = cast.piece(rid)["dueAt"]
        ok(cast, cast.receivables.functions.setTerms(10 * DAY, DEFAULT), cast.operator)
        cast.net.travel_to(due + GRACE)
        with reverts("ReceivableTooEarly", rootId=rid, allowedAt=due + 10 * DAY):
            cast.tx(cast.receivables.functions.markOverdue(rid), cast.cpa)

    def test_markOverdue_twice_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        cast.net.travel_to(cast.piece(rid)["dueAt"] + GRACE)
        ok(cast, cast.receivables.functions.markOverdue(rid), cast.cpa)
        with reverts("ReceivableWrongStanding", rootId=rid, standing=Standing.OVERDUE):
            cast.tx(cast.receivables.functions.markOverdue(rid), cast.cpa)

    @pytest.mark.parametrize("how", ["whole", "parts"])
    def test_markOverdue_settled_root_refused(self, cast: Cast, how: str) -> None:
        rid = confirmed(cast)
        ids = [rid] if how == "whole" else list(_split_in_two(cast, rid, 1_00))
        ok(cast, cast.receivables.functions.repay(ids), cast.huaxin)
        cast.net.travel_to(cast.piece(rid)["dueAt"] + GRACE)
        with reverts("ReceivableAlreadySettled", rootId=rid):
            cast.tx(cast.receivables.functions.markOverdue(rid), cast.cpa)

    @pytest.mark.parametrize(
        ("fate", "state"),
        [("register", State.REGISTERED), ("reject", State.REJECTED), ("cancel", State.CANCELLED)],
    )
    def test_markOverdue_unconfirmed_root_refused(self, cast: Cast, fate: str, state: State) -> None:
        r = cast.receivables.functions
        rid = registered(cast)
        if fate == "reject":
            ok(cast, r.reject(rid, b"\x00" * 32), cast.huaxin)
        elif fate == "cancel":
            ok(cast, r.cancel(rid), cast.delta)
        cast.net.travel_to(cast.piece(rid)["dueAt"] + GRACE)
        with reverts("ReceivableWrongState", id=rid, state=state):
            cast.tx(r.markOverdue(rid), cast.cpa)

    def test_markOverdue_split_part_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        part, _ = _split_in_two(cast, rid, 1_00)
        cast.net.travel_to(cast.piece(rid)["dueAt"] + GRACE)
        with reverts("ReceivableNotRoot", id=part):
            cast.tx(cast.receivables.functions.markOverdue(part), cast.cpa)

    def test_markOverdue_unknown_root_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.markOverdue(key("nope")), cast.cpa)

    def test_markOverdue_by_stranger_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        cast.net.travel_to(cast.piece(rid)["dueAt"] + GRACE)
        with reverts("ReceivableUnauthorized", account=cast.stranger.address, requiredRole=0):
            cast.tx(cast.receivables.functions.markOverdue(rid), cast.stranger)


# ---------------------------------------------------------------- markDefaulted


class TestMarkDefaulted:
    def _overdue(self, cast: Cast) -> tuple[int, int]:
        rid = confirmed(cast)
        due = cast.piece(rid)["dueAt"]
        cast.net.travel_to(due + GRACE)
        ok(cast, cast.receivables.functions.markOverdue(rid), cast.cpa)
        return rid, due

    def test_markDefaulted_after_default_period_marks_and_emits(self, cast: Cast) -> None:
        rid, due = self._overdue(cast)
        cast.net.travel_to(due + GRACE + DEFAULT)
        receipt = ok(cast, cast.receivables.functions.markDefaulted(rid), cast.bank_a)
        assert _status(cast, rid) == (0, Standing.DEFAULTED)
        assert event(receipt, cast.receivables, "ReceivableDefaulted") == {
            "rootId": rid,
            "outstandingMinor": AMOUNT,
        }

    def test_markDefaulted_too_early_refused(self, cast: Cast) -> None:
        rid, due = self._overdue(cast)
        cast.net.travel_to(due + GRACE + DEFAULT - 1)
        with reverts("ReceivableTooEarly", rootId=rid, allowedAt=due + GRACE + DEFAULT):
            cast.tx(cast.receivables.functions.markDefaulted(rid), cast.cpa)
        assert _status(cast, rid) == (0, Standing.OVERDUE)

    def test_markDefaulted_current_root_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        cast.net.travel_to(cast.piece(rid)["dueAt"] + GRACE + DEFAULT)
        with reverts("ReceivableWrongStanding", rootId=rid, standing=Standing.CURRENT):
            cast.tx(cast.receivables.functions.markDefaulted(rid), cast.cpa)

    def test_markDefaulted_twice_refused(self, cast: Cast) -> None:
        rid, due = self._overdue(cast)
        cast.net.travel_to(due + GRACE + DEFAULT)
        ok(cast, cast.receivables.functions.markDefaulted(rid), cast.cpa)
        with reverts("ReceivableWrongStanding", rootId=rid, standing=Standing.DEFAULTED):
            cast.tx(cast.receivables.functions.markDefaulted(rid), cast.cpa)
        with reverts("ReceivableWrongStanding", rootId=rid, standing=Standing.DEFAULTED):
            cast.tx(cast.receivables.functions.markOverdue(rid), cast.cpa)

    def test_markDefaulted_root_settled_after_overdue_refused(self, cast: Cast) -> None:
        rid, due = self._overdue(cast)
        ok(cast, cast.receivables.functions.repay([rid]), cast.huaxin)
        cast.net.travel_to(due + GRACE + DEFAULT)
        with reverts("ReceivableAlreadySettled", rootId=rid):
            cast.tx(cast.receivables.functions.markDefaulted(rid), cast.cpa)

    def test_markDefaulted_split_part_refused(self, cast: Cast) -> None:
        rid = confirmed(cast)
        part, _ = _split_in_two(cast, rid, 1_00)
        with reverts("ReceivableNotRoot", id=part):
            cast.tx(cast.receivables.functions.markDefaulted(part), cast.cpa)

    def test_markDefaulted_unknown_root_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.markDefaulted(key("nope")), cast.cpa)

    def test_markDefaulted_by_stranger_refused(self, cast: Cast) -> None:
        rid, due = self._overdue(cast)
        cast.net.travel_to(due + GRACE + DEFAULT)
        with reverts("ReceivableUnauthorized", account=cast.stranger.address, requiredRole=0):
            cast.tx(cast.receivables.functions.markDefaulted(rid), cast.stranger)


# ---------------------------------------------------------------- setTerms, terms, rootStatus


class TestSetTerms:
    def test_terms_are_the_deployment_terms(self, cast: Cast) -> None:
        assert cast.receivables.functions.terms().call() == [GRACE, DEFAULT]

    @pytest.mark.parametrize(
        ("grace", "default"),
        [(0, 1), (MAX_GRACE, MAX_DEFAULT), (5 * DAY, 60 * DAY)],
        ids=["min", "max", "mid"],
    )
    def test_setTerms_stores_and_emits(self, cast: Cast, grace: int, default: int) -> None:
        receipt = ok(cast, cast.receivables.functions.setTerms(grace, default), cast.operator)
        assert cast.receivables.functions.terms().call() == [grace, default]
        assert event(receipt, cast.receivables, "TermsChanged") == {
            "gracePeriod": grace,
            "defaultPeriod": default,
        }

    @pytest.mark.parametrize(
        ("grace", "default"),
        [(MAX_GRACE + 1, DEFAULT), (GRACE, 0), (GRACE, MAX_DEFAULT + 1)],
        ids=["grace-too-long", "no-default-period", "default-too-long"],
    )
    def test_setTerms_out_of_range_refused(self, cast: Cast, grace: int, default: int) -> None:
        with reverts("ReceivableInvalidTerms", gracePeriod=grace, defaultPeriod=default):
            cast.tx(cast.receivables.functions.setTerms(grace, default), cast.operator)
        assert cast.receivables.functions.terms().call() == [GRACE, DEFAULT]

    @pytest.mark.parametrize("who", ["huaxin", "bank_a", "cpa", "stranger"])
    def test_setTerms_by_non_operator_refused(self, cast: Cast, who: str) -> None:
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.OPERATOR)):
            cast.tx(cast.receivables.functions.setTerms(DAY, DAY), sender)


class TestRootStatus:
    def test_rootStatus_zero_for_fresh_and_unknown_roots(self, cast: Cast) -> None:
        rid = confirmed(cast)
        assert _status(cast, rid) == (0, Standing.CURRENT)
        assert _status(cast, key("nope")) == (0, Standing.CURRENT)
