"""Receivables: split, rootOf and transfer, one group per function."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import pytest

from chain.devnet import Org
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
)

MAX_SPLIT_PARTS = 16
MAX_SPLIT_DEPTH = 8


class Lock(IntEnum):
    NONE = 0
    FINANCE_REQUESTED = 1
    FINANCED = 2
    PLEDGED = 3


def _suspend(cast: Cast, org: Org) -> None:
    ok(cast, cast.registry.functions.suspendOrganisation(org.org_id), cast.operator)


def _lock(cast: Cast, rid: int, lock: Lock) -> None:
    """Put confirmed piece `rid` (held by Delta) under `lock`, with Bank A as the bank."""
    r = cast.receivables.functions
    if lock is Lock.PLEDGED:
        ok(cast, r.pledge(rid, cast.bank_a.org_id), cast.delta)
        return
    ok(cast, r.requestFinancing(rid, cast.bank_a.org_id, 50_000, cast.net.now() + DAY), cast.delta)
    if lock is Lock.FINANCED:
        ok(cast, r.fund(rid, 40_000), cast.bank_a)


UNFINANCED_LOCK_ERRORS = [
    (Lock.FINANCE_REQUESTED, "ReceivableFinancingPending"),
    (Lock.PLEDGED, "ReceivablePledged"),
]


def _supplier_bank(cast: Cast) -> Org:
    """A bank that is also a supplier: the one holder that can reach the financed-lock checks."""
    hybrid = cast.net.admit("hybrid", Role.BANK | Role.SUPPLIER)
    token = cast.settlement.functions
    ok(cast, token.mint(hybrid.address, 10**12), hybrid)
    ok(cast, token.approve(cast.receivables.address, 2**256 - 1), hybrid)
    return hybrid


def _snapshot(cast: Cast, ids: list[int]) -> tuple[list[dict[str, Any]], list[int]]:
    orgs = (cast.delta, cast.eastern, cast.huaxin, cast.bank_a)
    return [cast.piece(i) for i in ids], [cast.balance(o) for o in orgs]


# ---------------------------------------------------------------- split


class TestSplit:
    def test_split_consumes_parent_and_creates_children(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        parent = cast.piece(rid)
        amounts = [300_000_00, 200_000_00, 500_000_00]
        returned = cast.receivables.functions.split(rid, amounts).call({"from": cast.delta.address})
        receipt = ok(cast, cast.receivables.functions.split(rid, amounts), cast.delta)
        children = [child_id(rid, i) for i in range(3)]
        assert returned == children
        assert all(cid >> 255 == 1 for cid in children)  # part ids carry the top bit, root ids never
        assert cast.piece(rid) == {**parent, "state": State.SPLIT}
        for cid, amount in zip(children, amounts, strict=True):
            assert cast.piece(cid) == {**parent, "amountMinor": amount, "depth": 1}
            assert cast.receivables.functions.rootOf(cid).call() == rid
        assert event(receipt, cast.receivables, "PieceSplit") == {
            "parentId": rid,
            "rootId": rid,
            "childIds": children,
            "amountsMinor": amounts,
        }

    def test_split_max_parts_accepted(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1", amount=MAX_SPLIT_PARTS * 10_00)
        receipt = ok(cast, cast.receivables.functions.split(rid, [10_00] * MAX_SPLIT_PARTS), cast.delta)
        ids = event(receipt, cast.receivables, "PieceSplit")["childIds"]
        assert ids == [child_id(rid, i) for i in range(MAX_SPLIT_PARTS)]
        assert cast.piece(ids[-1])["amountMinor"] == 10_00

    @pytest.mark.parametrize("parts", [0, 1, MAX_SPLIT_PARTS + 1])
    def test_split_part_count_out_of_range_refused(self, cast: Cast, parts: int) -> None:
        rid = confirmed(cast, "INV-1", amount=max(parts, 1) * 10_00)
        before = _snapshot(cast, [rid])
        with reverts("ReceivableSplitPartCount", count=parts):
            cast.tx(cast.receivables.functions.split(rid, [10_00] * parts), cast.delta)
        assert _snapshot(cast, [rid]) == before

    @pytest.mark.parametrize("delta", [-1, 1, AMOUNT], ids=["less", "more", "double"])
    def test_split_parts_not_summing_to_piece_refused(self, cast: Cast, delta: int) -> None:
        rid = confirmed(cast, "INV-1")
        before = _snapshot(cast, [rid])
        amounts = [400_000_00, 600_000_00 + delta]
        with reverts("ReceivableSplitSumMismatch", id=rid, expectedMinor=AMOUNT, actualMinor=AMOUNT + delta):
            cast.tx(cast.receivables.functions.split(rid, amounts), cast.delta)
        assert _snapshot(cast, [rid]) == before
        assert cast.piece(child_id(rid, 0))["state"] == State.NONE

    def test_split_sum_beyond_uint96_reported_exactly(self, cast: Cast) -> None:
        top = 2**96 - 1
        rid = confirmed(cast, "INV-1", amount=top)
        with reverts("ReceivableSplitSumMismatch", id=rid, expectedMinor=top, actualMinor=2 * top):
            cast.tx(cast.receivables.functions.split(rid, [top, top]), cast.delta)

    def test_split_zero_part_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        with reverts("ReceivableInvalidAmount", amountMinor=0):
            cast.tx(cast.receivables.functions.split(rid, [AMOUNT, 0]), cast.delta)
        assert cast.piece(rid)["state"] == State.CONFIRMED

    def test_split_repeatedly_to_max_depth_then_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        root = confirmed(cast, "INV-1", amount=2**MAX_SPLIT_DEPTH * 1_00)
        current, amount = root, 2**MAX_SPLIT_DEPTH * 1_00
        for depth in range(MAX_SPLIT_DEPTH):
            amount //= 2
            receipt = ok(cast, r.split(current, [amount, amount]), cast.delta)
            assert event(receipt, cast.receivables, "PieceSplit")["rootId"] == root
            current = child_id(current, 1)
            assert cast.piece(current)["depth"] == depth + 1
        assert cast.piece(current)["depth"] == MAX_SPLIT_DEPTH
        assert r.rootOf(current).call() == root
        before = _snapshot(cast, [current])
        with reverts("ReceivableSplitDepthExceeded", id=current, depth=MAX_SPLIT_DEPTH):
            cast.tx(r.split(current, [amount // 2, amount // 2]), cast.delta)
        assert _snapshot(cast, [current]) == before

    def test_split_grandchildren_inherit_and_point_to_root(self, cast: Cast) -> None:
        r = cast.receivables.functions
        root = confirmed(cast, "INV-1")
        ok(cast, r.split(root, [300_000_00, 700_000_00]), cast.delta)
        mid = child_id(root, 1)
        ok(cast, r.transfer(mid, cast.eastern.org_id), cast.delta)
        receipt = ok(cast, r.split(mid, [100_000_00, 600_000_00]), cast.eastern)
        assert event(receipt, cast.receivables, "PieceSplit") == {
            "parentId": mid,
            "rootId": root,
            "childIds": [child_id(mid, 0), child_id(mid, 1)],
            "amountsMinor": [100_000_00, 600_000_00],
        }
        grandchild = cast.piece(child_id(mid, 0))
        parent = cast.piece(root)
        assert grandchild == {
            **parent,
            "holderOrg": cast.eastern.org_id,
            "amountMinor": 100_000_00,
            "state": State.CONFIRMED,
            "depth": 2,
        }
        assert r.rootOf(child_id(mid, 0)).call() == root

    def test_split_part_id_cannot_be_squatted(self, cast: Cast) -> None:
        # Regression: registering a predicted part id once blocked the split for good. Part ids now
        # carry the top bit, which no root id (invoice key) may have.
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-1")
        squatted = child_id(rid, 1)
        assert squatted >> 255 == 1
        with reverts("ReceivableInvalidId"):
            cast.tx(r.register(squatted, cast.huaxin.org_id, 5_00, cast.net.now() + DAY, DOC), cast.eastern)
        with reverts("ReceivableInvalidId"):
            cast.tx(
                r.issueBatch([(squatted, cast.eastern.org_id, 5_00, cast.net.now() + DAY, DOC)]), cast.huaxin
            )
        assert cast.piece(squatted)["state"] == State.NONE
        receipt = ok(cast, r.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)
        assert event(receipt, cast.receivables, "PieceSplit")["childIds"] == [child_id(rid, 0), squatted]
        assert cast.piece(squatted)["holderOrg"] == cast.delta.org_id

    def test_split_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.split(key("nope"), [1, 1]), cast.delta)

    def test_split_unconfirmed_piece_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        with reverts("ReceivableWrongState", id=rid, state=State.REGISTERED):
            cast.tx(cast.receivables.functions.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)

    def test_split_already_split_piece_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-1")
        ok(cast, r.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)
        with reverts("ReceivableWrongState", id=rid, state=State.SPLIT):
            cast.tx(r.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)

    def test_split_settled_piece_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-1")
        ok(cast, r.repay([rid]), cast.huaxin)
        with reverts("ReceivableWrongState", id=rid, state=State.SETTLED):
            cast.tx(r.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)

    def test_split_by_non_holder_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        before = _snapshot(cast, [rid])
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.eastern.org_id):
            cast.tx(cast.receivables.functions.split(rid, [1_00, AMOUNT - 1_00]), cast.eastern)
        assert _snapshot(cast, [rid]) == before

    @pytest.mark.parametrize(("lock", "error"), UNFINANCED_LOCK_ERRORS)
    def test_split_locked_piece_refused(self, cast: Cast, lock: Lock, error: str) -> None:
        rid = confirmed(cast, "INV-1")
        _lock(cast, rid, lock)
        before = _snapshot(cast, [rid])
        with reverts(error, id=rid, bankOrg=cast.bank_a.org_id):
            cast.tx(cast.receivables.functions.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)
        assert _snapshot(cast, [rid]) == before

    def test_split_financed_piece_refused_to_seller_and_bank(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        _lock(cast, rid, Lock.FINANCED)
        before = _snapshot(cast, [rid])
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.delta.org_id):
            cast.tx(cast.receivables.functions.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)
        with reverts("ReceivableUnauthorized", account=cast.bank_a.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(cast.receivables.functions.split(rid, [1_00, AMOUNT - 1_00]), cast.bank_a)
        assert _snapshot(cast, [rid]) == before

    def test_split_financed_piece_refused_to_bank_that_is_also_supplier(self, cast: Cast) -> None:
        hybrid = _supplier_bank(cast)
        rid = confirmed(cast, "INV-1")
        r = cast.receivables.functions
        ok(cast, r.requestFinancing(rid, hybrid.org_id, 50_000, cast.net.now() + DAY), cast.delta)
        ok(cast, r.fund(rid, 40_000), hybrid)
        with reverts("ReceivableAlreadyFinanced", id=rid, bankOrg=hybrid.org_id):
            cast.tx(r.split(rid, [1_00, AMOUNT - 1_00]), hybrid)
        with reverts("ReceivableAlreadyFinanced", id=rid, bankOrg=hybrid.org_id):
            cast.tx(r.transfer(rid, cast.eastern.org_id), hybrid)

    @pytest.mark.parametrize("who", ["huaxin", "bank_a", "stranger"])
    def test_split_by_non_supplier_refused(self, cast: Cast, who: str) -> None:
        rid = confirmed(cast, "INV-1")
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(cast.receivables.functions.split(rid, [1_00, AMOUNT - 1_00]), sender)


# ---------------------------------------------------------------- rootOf


class TestRootOf:
    def test_rootOf_root_is_itself(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        assert cast.receivables.functions.rootOf(rid).call() == rid

    def test_rootOf_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.net.client.call(cast.receivables.functions.rootOf(key("nope")))


# ---------------------------------------------------------------- transfer


class TestTransfer:
    def test_transfer_changes_holder_and_emits_event(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        before = cast.piece(rid)
        receipt = ok(cast, cast.receivables.functions.transfer(rid, cast.eastern.org_id), cast.delta)
        assert cast.piece(rid) == {**before, "holderOrg": cast.eastern.org_id}
        assert event(receipt, cast.receivables, "PieceTransferred") == {
            "id": rid,
            "fromOrg": cast.delta.org_id,
            "toOrg": cast.eastern.org_id,
        }

    def test_transfer_new_holder_acts_and_old_holder_cannot(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-1")
        ok(cast, r.transfer(rid, cast.eastern.org_id), cast.delta)
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.delta.org_id):
            cast.tx(r.transfer(rid, cast.delta.org_id), cast.delta)
        ok(cast, r.transfer(rid, cast.delta.org_id), cast.eastern)
        assert cast.piece(rid)["holderOrg"] == cast.delta.org_id

    def test_transfer_split_part(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = confirmed(cast, "INV-1")
        ok(cast, r.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)
        ok(cast, r.transfer(child_id(rid, 0), cast.eastern.org_id), cast.delta)
        assert cast.piece(child_id(rid, 0))["holderOrg"] == cast.eastern.org_id
        assert cast.piece(child_id(rid, 1))["holderOrg"] == cast.delta.org_id

    @pytest.mark.parametrize("to", ["bank_a", "huaxin", "north", "operator"])
    def test_transfer_to_non_supplier_refused(self, cast: Cast, to: str) -> None:
        rid = confirmed(cast, "INV-1")
        org_id = getattr(cast, to).org_id
        before = _snapshot(cast, [rid])
        with reverts("ReceivableInvalidCounterparty", orgId=org_id):
            cast.tx(cast.receivables.functions.transfer(rid, org_id), cast.delta)
        assert _snapshot(cast, [rid]) == before

    @pytest.mark.parametrize("org_id", [0, 9_999])
    def test_transfer_to_unknown_organisation_refused(self, cast: Cast, org_id: int) -> None:
        rid = confirmed(cast, "INV-1")
        with reverts("ReceivableInvalidCounterparty", orgId=org_id):
            cast.tx(cast.receivables.functions.transfer(rid, org_id), cast.delta)

    def test_transfer_to_own_organisation_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        with reverts("ReceivableInvalidCounterparty", orgId=cast.delta.org_id):
            cast.tx(cast.receivables.functions.transfer(rid, cast.delta.org_id), cast.delta)

    def test_transfer_to_suspended_supplier_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        _suspend(cast, cast.eastern)
        with reverts("ReceivableInvalidCounterparty", orgId=cast.eastern.org_id):
            cast.tx(cast.receivables.functions.transfer(rid, cast.eastern.org_id), cast.delta)
        assert cast.piece(rid)["holderOrg"] == cast.delta.org_id

    def test_transfer_by_non_holder_refused_and_nothing_changes(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        before = _snapshot(cast, [rid])
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.eastern.org_id):
            cast.tx(cast.receivables.functions.transfer(rid, cast.eastern.org_id), cast.eastern)
        assert _snapshot(cast, [rid]) == before

    @pytest.mark.parametrize(("lock", "error"), UNFINANCED_LOCK_ERRORS)
    def test_transfer_locked_piece_refused(self, cast: Cast, lock: Lock, error: str) -> None:
        rid = confirmed(cast, "INV-1")
        _lock(cast, rid, lock)
        before = _snapshot(cast, [rid])
        with reverts(error, id=rid, bankOrg=cast.bank_a.org_id):
            cast.tx(cast.receivables.functions.transfer(rid, cast.eastern.org_id), cast.delta)
        assert _snapshot(cast, [rid]) == before

    def test_transfer_financed_piece_refused_to_seller(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        _lock(cast, rid, Lock.FINANCED)
        before = _snapshot(cast, [rid])
        with reverts("ReceivableNotHolder", id=rid, orgId=cast.delta.org_id):
            cast.tx(cast.receivables.functions.transfer(rid, cast.eastern.org_id), cast.delta)
        assert _snapshot(cast, [rid]) == before

    def test_transfer_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.transfer(key("nope"), cast.eastern.org_id), cast.delta)

    @pytest.mark.parametrize("fate", ["registered", "split"])
    def test_transfer_piece_in_wrong_state_refused(self, cast: Cast, fate: str) -> None:
        r = cast.receivables.functions
        if fate == "registered":
            rid, state = registered(cast, "INV-1"), State.REGISTERED
        else:
            rid, state = confirmed(cast, "INV-1"), State.SPLIT
            ok(cast, r.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)
        with reverts("ReceivableWrongState", id=rid, state=state):
            cast.tx(r.transfer(rid, cast.eastern.org_id), cast.delta)

    @pytest.mark.parametrize("who", ["huaxin", "bank_a", "stranger"])
    def test_transfer_by_non_supplier_refused(self, cast: Cast, who: str) -> None:
        rid = confirmed(cast, "INV-1")
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(cast.receivables.functions.transfer(rid, cast.eastern.org_id), sender)

    def test_transfer_by_suspended_holder_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        _suspend(cast, cast.delta)
        with reverts("ReceivableUnauthorized", account=cast.delta.address, requiredRole=int(Role.SUPPLIER)):
            cast.tx(cast.receivables.functions.transfer(rid, cast.eastern.org_id), cast.delta)
