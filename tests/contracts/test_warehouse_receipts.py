"""WarehouseReceipts: lots, receipts, pledges and the oracle's freeze; one group per function."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import keccak
from web3.contract import Contract
from web3.logs import EventLogErrorFlags

from chain.devnet import Org
from chain.roles import Role
from tests.contracts.goods_support import (
    LOT_INFO,
    MAX_DEVICES,
    MAX_PLEDGE_TERM,
    MAX_REPORT_AGE,
    OWNER_ROLES,
    RECEIPT_DOC,
    Goods,
    ReceiptState,
    Status,
    devices_for,
    goods_world,
    info_hash,
    lot_id,
)
from tests.contracts.support import DAY, Cast, event, events, reverts, soon

WAREHOUSE = int(Role.WAREHOUSE)
BANK = int(Role.BANK)
ZERO32 = b"\x00" * 32
ZERO = "0x" + "00" * 20
EMPTY_LOT = {
    "warehouseOrg": 0,
    "quantityMilli": 0,
    "deviceCount": 0,
    "receiptIssued": False,
    "infoHash": ZERO32,
}


@pytest.fixture(scope="module")
def goods(cast: Cast) -> Iterator[Goods]:
    yield from goods_world(cast)


def _refused_unchanged(goods: Goods, before: tuple[object, ...], lot: bytes | None = None) -> None:
    assert goods.receipts_state(lot) == before


def _issued(goods: Goods, owner: Org | None = None) -> int:
    """Issue the receipt (to delta); return its issue time."""
    return goods.block_time(goods.issue(owner))


def _unwired(goods: Goods) -> tuple[Contract, Contract]:
    """A GoodsOracle without listener and a WarehouseReceipts on it: status never freezes receipts."""
    client, op = goods.net.client, goods.cast.operator.account
    oracle, _ = client.deploy("GoodsOracle", op, goods.cast.registry.address, MAX_REPORT_AGE)
    receipts, _ = client.deploy("WarehouseReceipts", op, goods.cast.registry.address, oracle.address)
    for node in goods.signers:
        goods.send(oracle.functions.addSigner(node.address), goods.cast.operator)
    goods.send(receipts.functions.registerLot(goods.lot, LOT_INFO, goods.devices), goods.cast.north)
    goods.send(
        receipts.functions.issueReceipt(goods.lot, goods.cast.delta.org_id, RECEIPT_DOC), goods.cast.north
    )
    return oracle, receipts


# ---------------------------------------------------------------- registerLot


class TestRegisterLot:
    def test_registerLot_stores_lot_binds_devices_and_emits(self, goods: Goods) -> None:
        lot, devices = lot_id("NEW"), devices_for("NEW", 3)
        receipt = goods.send(goods.receipts.functions.registerLot(lot, LOT_INFO, devices), goods.cast.north)
        assert goods.lot_record(lot) == {
            "warehouseOrg": goods.cast.north.org_id,
            "quantityMilli": LOT_INFO[2],
            "deviceCount": 3,
            "receiptIssued": False,
            "infoHash": info_hash(LOT_INFO),
        }
        assert event(receipt, goods.receipts, "LotRegistered") == {
            "lotId": lot,
            "warehouseOrg": goods.cast.north.org_id,
            "infoHash": info_hash(LOT_INFO),
            "goods": LOT_INFO[0],
            "specification": LOT_INFO[1],
            "quantityMilli": LOT_INFO[2],
            "unit": LOT_INFO[3],
            "location": LOT_INFO[4],
        }
        assert events(receipt, goods.receipts, "DeviceBound") == [
            {"lotId": lot, "deviceId": d, "key": k} for d, k in devices
        ]
        assert goods.receipts.functions.devicesOf(lot).call() == [d for d, _ in devices]
        for d, k in devices:
            assert tuple(goods.receipts.functions.device(d).call()) == (lot, k)

    def test_registerLot_fixture_lot_has_three_devices(self, goods: Goods) -> None:
        assert goods.lot_record()["deviceCount"] == 3
        assert goods.receipts.functions.devicesOf(goods.lot).call() == [d for d, _ in goods.devices]

    def test_registerLot_max_devices_accepted(self, goods: Goods) -> None:
        lot = lot_id("BIG")
        goods.send(
            goods.receipts.functions.registerLot(lot, LOT_INFO, devices_for("BIG", MAX_DEVICES)),
            goods.cast.north,
        )
        assert goods.lot_record(lot)["deviceCount"] == MAX_DEVICES

    def test_registerLot_too_many_devices_refused(self, goods: Goods) -> None:
        lot = lot_id("HUGE")
        with reverts("WarehouseInvalidLot", lotId=lot):
            goods.send(
                goods.receipts.functions.registerLot(lot, LOT_INFO, devices_for("HUGE", MAX_DEVICES + 1)),
                goods.cast.north,
            )
        assert goods.lot_record(lot) == EMPTY_LOT

    def test_registerLot_no_devices_refused(self, goods: Goods) -> None:
        lot = lot_id("BARE")
        with reverts("WarehouseInvalidLot", lotId=lot):
            goods.send(goods.receipts.functions.registerLot(lot, LOT_INFO, []), goods.cast.north)

    def test_registerLot_zero_quantity_refused(self, goods: Goods) -> None:
        lot = lot_id("EMPTY")
        info = (*LOT_INFO[:2], 0, *LOT_INFO[3:])
        with reverts("WarehouseInvalidLot", lotId=lot):
            goods.send(
                goods.receipts.functions.registerLot(lot, info, devices_for("EMPTY", 1)), goods.cast.north
            )
        assert goods.lot_record(lot) == EMPTY_LOT

    def test_registerLot_zero_lot_id_refused(self, goods: Goods) -> None:
        with reverts("WarehouseInvalidLot", lotId=ZERO32):
            goods.send(
                goods.receipts.functions.registerLot(ZERO32, LOT_INFO, devices_for("Z", 1)), goods.cast.north
            )

    def test_registerLot_zero_device_id_refused(self, goods: Goods) -> None:
        lot = lot_id("ZD")
        devices = [*devices_for("ZD", 1), (ZERO32, devices_for("ZD2", 1)[0][1])]
        with reverts("WarehouseInvalidLot", lotId=lot):
            goods.send(goods.receipts.functions.registerLot(lot, LOT_INFO, devices), goods.cast.north)
        assert goods.receipts.functions.device(devices[0][0]).call()[0] == ZERO32

    def test_registerLot_zero_device_key_refused(self, goods: Goods) -> None:
        lot = lot_id("ZK")
        with reverts("WarehouseInvalidLot", lotId=lot):
            goods.send(
                goods.receipts.functions.registerLot(lot, LOT_INFO, [(keccak(text="zk"), ZERO)]),
                goods.cast.north,
            )

    def test_registerLot_existing_lot_refused(self, goods: Goods) -> None:
        before = goods.receipts_state()
        with reverts("WarehouseLotExists", lotId=goods.lot):
            goods.send(
                goods.receipts.functions.registerLot(goods.lot, LOT_INFO, devices_for("again", 1)),
                goods.cast.north,
            )
        _refused_unchanged(goods, before)

    def test_registerLot_device_taken_refused(self, goods: Goods) -> None:
        lot = lot_id("THIEF")
        taken = goods.devices[1]
        devices = [*devices_for("THIEF", 1), taken]
        with reverts("WarehouseDeviceTaken", deviceId=taken[0], lotId=goods.lot):
            goods.send(goods.receipts.functions.registerLot(lot, LOT_INFO, devices), goods.cast.north)
        assert goods.lot_record(lot) == EMPTY_LOT
        assert goods.receipts.functions.devicesOf(lot).call() == []
        assert goods.receipts.functions.device(devices[0][0]).call()[0] == ZERO32
        assert goods.receipts.functions.device(taken[0]).call()[0] == goods.lot

    def test_registerLot_same_device_twice_refused(self, goods: Goods) -> None:
        lot = lot_id("TWICE")
        (dev,) = devices_for("TWICE", 1)
        with reverts("WarehouseDeviceTaken", deviceId=dev[0], lotId=lot):
            goods.send(goods.receipts.functions.registerLot(lot, LOT_INFO, [dev, dev]), goods.cast.north)

    @pytest.mark.parametrize("who", ["delta", "operator", "oracle"])
    def test_registerLot_without_warehouse_role_refused(self, goods: Goods, who: str) -> None:
        org = getattr(goods.cast, who)
        with reverts("WarehouseUnauthorized", account=org.address, requiredRole=WAREHOUSE):
            goods.send(goods.receipts.functions.registerLot(lot_id("X"), LOT_INFO, devices_for("X", 1)), org)

    def test_registerLot_suspended_warehouse_refused(self, goods: Goods) -> None:
        goods.suspend(goods.cast.north)
        with reverts("WarehouseUnauthorized", account=goods.cast.north.address, requiredRole=WAREHOUSE):
            goods.register("SUSP")


# ---------------------------------------------------------------- issueReceipt


class TestIssueReceipt:
    def test_issueReceipt_stores_receipt_and_emits(self, goods: Goods) -> None:
        receipt = goods.issue()
        assert goods.receipt() == {
            "ownerOrg": goods.cast.delta.org_id,
            "pledgeeOrg": 0,
            "state": ReceiptState.ISSUED,
            "frozen": False,
            "issuedAt": goods.block_time(receipt),
            "pledgedUntil": 0,
        }
        assert goods.lot_record()["receiptIssued"] is True
        assert event(receipt, goods.receipts, "ReceiptIssued") == {
            "receiptId": goods.lot,
            "warehouseOrg": goods.cast.north.org_id,
            "ownerOrg": goods.cast.delta.org_id,
            "documentHash": RECEIPT_DOC,
        }

    @pytest.mark.parametrize("owner", ["huaxin", "bank_a"])
    def test_issueReceipt_to_core_firm_or_bank_accepted(self, goods: Goods, owner: str) -> None:
        goods.issue(getattr(goods.cast, owner))
        assert goods.receipt()["ownerOrg"] == getattr(goods.cast, owner).org_id

    @pytest.mark.parametrize("status", [Status.ALERT, Status.OFFLINE])
    def test_issueReceipt_during_freeze_issued_frozen(self, goods: Goods, status: Status) -> None:
        goods.post(Status.OK)
        goods.post(status)
        receipt = goods.issue()
        assert goods.receipt()["frozen"] is True
        # The freeze is announced as for any other freeze, after the issue, naming no pledgee.
        assert event(receipt, goods.receipts, "ReceiptFrozen") == {
            "receiptId": goods.lot,
            "pledgeeOrg": 0,
            "status": status,
        }
        issued, frozen = (
            getattr(goods.receipts.events, name)().process_receipt(receipt, errors=EventLogErrorFlags.Discard)
            for name in ("ReceiptIssued", "ReceiptFrozen")
        )
        assert issued[0]["logIndex"] < frozen[0]["logIndex"]

    @pytest.mark.parametrize("status", [None, Status.OK, Status.WARNING], ids=["no-report", "ok", "warning"])
    def test_issueReceipt_not_frozen_emits_no_freeze(self, goods: Goods, status: Status | None) -> None:
        if status is not None:
            goods.post(status)
        receipt = goods.issue()
        assert goods.receipt()["frozen"] is False
        assert events(receipt, goods.receipts, "ReceiptFrozen") == []

    def test_issueReceipt_twice_refused(self, goods: Goods) -> None:
        goods.issue()
        before = goods.receipts_state()
        with reverts("WarehouseReceiptExists", lotId=goods.lot):
            goods.issue(goods.cast.eastern)
        _refused_unchanged(goods, before)

    def test_issueReceipt_unknown_lot_refused(self, goods: Goods) -> None:
        lot = lot_id("nowhere")
        with reverts("WarehouseUnknownLot", lotId=lot):
            goods.issue(lot=lot)

    def test_issueReceipt_by_other_warehouse_refused(self, goods: Goods) -> None:
        south = goods.admit("south", Role.WAREHOUSE)
        before = goods.receipts_state()
        with reverts("WarehouseNotKeeper", lotId=goods.lot, orgId=south.org_id):
            goods.send(
                goods.receipts.functions.issueReceipt(goods.lot, goods.cast.delta.org_id, RECEIPT_DOC), south
            )
        _refused_unchanged(goods, before)

    @pytest.mark.parametrize("who", ["north", "cpa", "oracle", "operator"])
    def test_issueReceipt_to_non_owner_role_refused(self, goods: Goods, who: str) -> None:
        org = getattr(goods.cast, who)
        before = goods.receipts_state()
        with reverts("WarehouseInvalidCounterparty", orgId=org.org_id):
            goods.issue(org)
        _refused_unchanged(goods, before)

    def test_issueReceipt_to_unknown_org_refused(self, goods: Goods) -> None:
        with reverts("WarehouseInvalidCounterparty", orgId=9_999):
            goods.send(goods.receipts.functions.issueReceipt(goods.lot, 9_999, RECEIPT_DOC), goods.cast.north)

    def test_issueReceipt_to_suspended_org_refused(self, goods: Goods) -> None:
        goods.suspend(goods.cast.delta)
        with reverts("WarehouseInvalidCounterparty", orgId=goods.cast.delta.org_id):
            goods.issue()

    def test_issueReceipt_by_non_warehouse_refused(self, goods: Goods) -> None:
        fn = goods.receipts.functions.issueReceipt(goods.lot, goods.cast.delta.org_id, RECEIPT_DOC)
        with reverts("WarehouseUnauthorized", account=goods.cast.delta.address, requiredRole=WAREHOUSE):
            goods.send(fn, goods.cast.delta)


# ---------------------------------------------------------------- transfer


class TestTransfer:
    def test_transfer_changes_owner_and_emits(self, goods: Goods) -> None:
        issued_at = _issued(goods)
        receipt = goods.send(
            goods.receipts.functions.transfer(goods.lot, goods.cast.eastern.org_id), goods.cast.delta
        )
        assert goods.receipt() == {
            "ownerOrg": goods.cast.eastern.org_id,
            "pledgeeOrg": 0,
            "state": ReceiptState.ISSUED,
            "frozen": False,
            "issuedAt": issued_at,
            "pledgedUntil": 0,
        }
        assert event(receipt, goods.receipts, "ReceiptTransferred") == {
            "receiptId": goods.lot,
            "fromOrg": goods.cast.delta.org_id,
            "toOrg": goods.cast.eastern.org_id,
        }

    @pytest.mark.parametrize("to", ["huaxin", "bank_b"])
    def test_transfer_to_core_firm_or_bank_accepted(self, goods: Goods, to: str) -> None:
        _issued(goods)
        org = getattr(goods.cast, to)
        goods.send(goods.receipts.functions.transfer(goods.lot, org.org_id), goods.cast.delta)
        assert goods.receipt()["ownerOrg"] == org.org_id

    def test_transfer_by_previous_owner_refused(self, goods: Goods) -> None:
        _issued(goods)
        goods.send(goods.receipts.functions.transfer(goods.lot, goods.cast.eastern.org_id), goods.cast.delta)
        before = goods.receipts_state()
        with reverts("WarehouseNotOwner", receiptId=goods.lot, orgId=goods.cast.delta.org_id):
            goods.send(
                goods.receipts.functions.transfer(goods.lot, goods.cast.huaxin.org_id), goods.cast.delta
            )
        _refused_unchanged(goods, before)

    def test_transfer_not_issued_refused(self, goods: Goods) -> None:
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.NONE):
            goods.send(
                goods.receipts.functions.transfer(goods.lot, goods.cast.eastern.org_id), goods.cast.delta
            )

    def test_transfer_while_pledged_refused(self, goods: Goods) -> None:
        goods.pledged()
        before = goods.receipts_state()
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.PLEDGED):
            goods.send(
                goods.receipts.functions.transfer(goods.lot, goods.cast.eastern.org_id), goods.cast.delta
            )
        _refused_unchanged(goods, before)

    def test_transfer_surrendered_refused(self, goods: Goods) -> None:
        _issued(goods)
        goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.SURRENDERED):
            goods.send(
                goods.receipts.functions.transfer(goods.lot, goods.cast.eastern.org_id), goods.cast.delta
            )

    @pytest.mark.parametrize("status", [Status.ALERT, Status.OFFLINE])
    def test_transfer_while_frozen_refused(self, goods: Goods, status: Status) -> None:
        _issued(goods)
        goods.post(status)
        before = goods.receipts_state()
        with reverts("WarehouseFrozen", receiptId=goods.lot):
            goods.send(
                goods.receipts.functions.transfer(goods.lot, goods.cast.eastern.org_id), goods.cast.delta
            )
        _refused_unchanged(goods, before)

    @pytest.mark.parametrize("to", ["delta", "north", "cpa", "oracle"])
    def test_transfer_to_invalid_counterparty_refused(self, goods: Goods, to: str) -> None:
        _issued(goods)
        org = getattr(goods.cast, to)
        before = goods.receipts_state()
        with reverts("WarehouseInvalidCounterparty", orgId=org.org_id):
            goods.send(goods.receipts.functions.transfer(goods.lot, org.org_id), goods.cast.delta)
        _refused_unchanged(goods, before)

    def test_transfer_to_suspended_org_refused(self, goods: Goods) -> None:
        _issued(goods)
        goods.suspend(goods.cast.eastern)
        with reverts("WarehouseInvalidCounterparty", orgId=goods.cast.eastern.org_id):
            goods.send(
                goods.receipts.functions.transfer(goods.lot, goods.cast.eastern.org_id), goods.cast.delta
            )

    def test_transfer_by_warehouse_refused(self, goods: Goods) -> None:
        _issued(goods)
        with reverts("WarehouseUnauthorized", account=goods.cast.north.address, requiredRole=OWNER_ROLES):
            goods.send(
                goods.receipts.functions.transfer(goods.lot, goods.cast.eastern.org_id), goods.cast.north
            )


# ---------------------------------------------------------------- pledge


class TestPledge:
    @pytest.mark.parametrize("status", [Status.OK, Status.WARNING])
    def test_pledge_with_verified_goods_pledges_and_emits(self, goods: Goods, status: Status) -> None:
        goods.post(status)
        issued_at = _issued(goods)
        until = goods.net.now() + 30 * DAY
        receipt = goods.send(
            goods.receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, until), goods.cast.delta
        )
        assert goods.receipt() == {
            "ownerOrg": goods.cast.delta.org_id,
            "pledgeeOrg": goods.cast.bank_a.org_id,
            "state": ReceiptState.PLEDGED,
            "frozen": False,
            "issuedAt": issued_at,
            "pledgedUntil": until,
        }
        assert event(receipt, goods.receipts, "ReceiptPledged") == {
            "receiptId": goods.lot,
            "ownerOrg": goods.cast.delta.org_id,
            "bankOrg": goods.cast.bank_a.org_id,
            "pledgedUntil": until,
        }

    def test_pledge_unknown_status_refused(self, goods: Goods) -> None:
        _issued(goods)
        before = goods.receipts_state()
        with reverts("WarehouseGoodsNotVerified", receiptId=goods.lot, status=Status.UNKNOWN):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, goods.net.now() + DAY),
                goods.cast.delta,
            )
        _refused_unchanged(goods, before)

    @pytest.mark.parametrize("status", [Status.ALERT, Status.OFFLINE])
    def test_pledge_alert_or_offline_refused_frozen(self, goods: Goods, status: Status) -> None:
        # In the wired suite the receipt is frozen by the same report, so the freeze answers first.
        goods.post(Status.OK)
        _issued(goods)
        goods.post(status)
        before = goods.receipts_state()
        with reverts("WarehouseFrozen", receiptId=goods.lot):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, goods.net.now() + DAY),
                goods.cast.delta,
            )
        _refused_unchanged(goods, before)

    @pytest.mark.parametrize("status", [Status.ALERT, Status.OFFLINE])
    def test_pledge_alert_or_offline_unfrozen_refused_goods_not_verified(
        self, goods: Goods, status: Status
    ) -> None:
        # Without the listener wired nothing freezes the receipt: the status check itself refuses.
        oracle, receipts = _unwired(goods)
        report = goods.report(1, status)
        goods.send(
            oracle.functions.submitReport(report.as_tuple(), goods.sign(report, oracle=oracle.address)),
            goods.cast.oracle,
        )
        assert receipts.functions.receipt(goods.lot).call()[3] is False
        with reverts("WarehouseGoodsNotVerified", receiptId=goods.lot, status=status):
            goods.send(
                receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, goods.net.now() + DAY),
                goods.cast.delta,
            )

    def test_pledge_twice_refused(self, goods: Goods) -> None:
        goods.pledged()
        before = goods.receipts_state()
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.PLEDGED):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, goods.cast.bank_b.org_id, goods.net.now() + DAY),
                goods.cast.delta,
            )
        _refused_unchanged(goods, before)

    def test_pledge_again_after_release_accepted(self, goods: Goods) -> None:
        goods.pledged()
        goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.bank_a)
        until = goods.net.now() + DAY
        goods.send(
            goods.receipts.functions.pledge(goods.lot, goods.cast.bank_b.org_id, until), goods.cast.delta
        )
        assert (goods.receipt()["pledgeeOrg"], goods.receipt()["pledgedUntil"]) == (
            goods.cast.bank_b.org_id,
            until,
        )

    def test_pledge_by_non_owner_refused(self, goods: Goods) -> None:
        goods.post(Status.OK)
        _issued(goods)
        with reverts("WarehouseNotOwner", receiptId=goods.lot, orgId=goods.cast.eastern.org_id):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, goods.net.now() + DAY),
                goods.cast.eastern,
            )

    def test_pledge_not_issued_refused(self, goods: Goods) -> None:
        goods.post(Status.OK)
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.NONE):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, goods.net.now() + DAY),
                goods.cast.delta,
            )

    def test_pledge_surrendered_refused(self, goods: Goods) -> None:
        goods.post(Status.OK)
        _issued(goods)
        goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.SURRENDERED):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, goods.net.now() + DAY),
                goods.cast.delta,
            )

    @pytest.mark.parametrize("to", ["huaxin", "eastern", "north", "delta"])
    def test_pledge_to_non_bank_refused(self, goods: Goods, to: str) -> None:
        goods.post(Status.OK)
        _issued(goods)
        org = getattr(goods.cast, to)
        with reverts("WarehouseInvalidCounterparty", orgId=org.org_id):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, org.org_id, goods.net.now() + DAY),
                goods.cast.delta,
            )

    def test_pledge_to_suspended_bank_refused(self, goods: Goods) -> None:
        goods.post(Status.OK)
        _issued(goods)
        goods.suspend(goods.cast.bank_a)
        with reverts("WarehouseInvalidCounterparty", orgId=goods.cast.bank_a.org_id):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, goods.net.now() + DAY),
                goods.cast.delta,
            )

    def test_pledge_bank_owner_to_itself_refused(self, goods: Goods) -> None:
        goods.post(Status.OK)
        _issued(goods, goods.cast.bank_a)
        with reverts("WarehouseInvalidCounterparty", orgId=goods.cast.bank_a.org_id):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, goods.net.now() + DAY),
                goods.cast.bank_a,
            )

    def test_pledge_term_bounds(self, goods: Goods) -> None:
        goods.post(Status.OK)
        _issued(goods)
        pledge = goods.receipts.functions.pledge
        bank = goods.cast.bank_a.org_id
        at = soon(goods.net, 100)
        goods.net.travel_to(at)
        with reverts("WarehouseInvalidTerm", pledgedUntil=at):
            goods.send(pledge(goods.lot, bank, at), goods.cast.delta, estimate=True)
        at += 10
        goods.net.travel_to(at)
        with reverts("WarehouseInvalidTerm", pledgedUntil=at + MAX_PLEDGE_TERM + 1):
            goods.send(pledge(goods.lot, bank, at + MAX_PLEDGE_TERM + 1), goods.cast.delta, estimate=True)
        assert goods.receipt()["state"] == ReceiptState.ISSUED
        at += 10
        goods.net.travel_to(at)
        goods.send(pledge(goods.lot, bank, at + MAX_PLEDGE_TERM), goods.cast.delta)
        assert goods.receipt()["pledgedUntil"] == at + MAX_PLEDGE_TERM

    def test_pledge_term_in_past_refused(self, goods: Goods) -> None:
        goods.post(Status.OK)
        _issued(goods)
        with reverts("WarehouseInvalidTerm", pledgedUntil=1):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, 1), goods.cast.delta
            )

    def test_pledge_by_warehouse_refused(self, goods: Goods) -> None:
        goods.post(Status.OK)
        _issued(goods)
        with reverts("WarehouseUnauthorized", account=goods.cast.north.address, requiredRole=OWNER_ROLES):
            goods.send(
                goods.receipts.functions.pledge(goods.lot, goods.cast.bank_a.org_id, goods.net.now() + DAY),
                goods.cast.north,
            )


# ---------------------------------------------------------------- releasePledge


class TestReleasePledge:
    def test_releasePledge_by_pledgee_releases_and_emits(self, goods: Goods) -> None:
        goods.pledged()
        issued_at = goods.receipt()["issuedAt"]
        receipt = goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.bank_a)
        assert goods.receipt() == {
            "ownerOrg": goods.cast.delta.org_id,
            "pledgeeOrg": 0,
            "state": ReceiptState.ISSUED,
            "frozen": False,
            "issuedAt": issued_at,
            "pledgedUntil": 0,
        }
        assert event(receipt, goods.receipts, "ReceiptPledgeReleased") == {
            "receiptId": goods.lot,
            "bankOrg": goods.cast.bank_a.org_id,
        }

    def test_releasePledge_while_frozen_allowed_stays_frozen(self, goods: Goods) -> None:
        goods.pledged()
        goods.post(Status.ALERT)
        goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.bank_a)
        r = goods.receipt()
        assert (r["state"], r["pledgeeOrg"], r["frozen"]) == (ReceiptState.ISSUED, 0, True)
        with reverts("WarehouseFrozen", receiptId=goods.lot):
            goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)

    def test_releasePledge_by_other_bank_refused(self, goods: Goods) -> None:
        goods.pledged()
        before = goods.receipts_state()
        with reverts("WarehouseNotPledgee", receiptId=goods.lot, orgId=goods.cast.bank_b.org_id):
            goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.bank_b)
        _refused_unchanged(goods, before)

    def test_releasePledge_not_pledged_refused(self, goods: Goods) -> None:
        _issued(goods)
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.ISSUED):
            goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.bank_a)

    def test_releasePledge_no_receipt_refused(self, goods: Goods) -> None:
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.NONE):
            goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.bank_a)

    def test_releasePledge_by_owner_refused(self, goods: Goods) -> None:
        goods.pledged()
        with reverts("WarehouseUnauthorized", account=goods.cast.delta.address, requiredRole=BANK):
            goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.delta)

    def test_releasePledge_suspended_pledgee_refused(self, goods: Goods) -> None:
        goods.pledged()
        goods.suspend(goods.cast.bank_a)
        with reverts("WarehouseUnauthorized", account=goods.cast.bank_a.address, requiredRole=BANK):
            goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.bank_a)


# ---------------------------------------------------------------- enforcePledge


class TestEnforcePledge:
    @pytest.mark.parametrize("status", [Status.ALERT, Status.OFFLINE])
    def test_enforcePledge_while_frozen_takes_receipt(self, goods: Goods, status: Status) -> None:
        goods.pledged()
        goods.post(status)
        receipt = goods.send(goods.receipts.functions.enforcePledge(goods.lot), goods.cast.bank_a)
        r = goods.receipt()
        assert (r["ownerOrg"], r["pledgeeOrg"], r["state"], r["frozen"], r["pledgedUntil"]) == (
            goods.cast.bank_a.org_id,
            0,
            ReceiptState.ISSUED,
            True,
            0,
        )
        assert event(receipt, goods.receipts, "ReceiptPledgeEnforced") == {
            "receiptId": goods.lot,
            "bankOrg": goods.cast.bank_a.org_id,
            "fromOrg": goods.cast.delta.org_id,
        }

    def test_enforcePledge_before_term_refused_with_allowed_at(self, goods: Goods) -> None:
        until = goods.pledged()
        before = goods.receipts_state()
        with reverts("WarehouseEnforcementNotAllowed", receiptId=goods.lot, allowedAt=until + 1):
            goods.send(goods.receipts.functions.enforcePledge(goods.lot), goods.cast.bank_a)
        _refused_unchanged(goods, before)

    def test_enforcePledge_at_term_end_refused_one_second_later_allowed(self, goods: Goods) -> None:
        until = goods.pledged()
        goods.net.travel_to(until)
        with reverts("WarehouseEnforcementNotAllowed", receiptId=goods.lot, allowedAt=until + 1):
            goods.send(goods.receipts.functions.enforcePledge(goods.lot), goods.cast.bank_a, estimate=True)
        goods.net.travel_to(until + 1)
        receipt = goods.send(goods.receipts.functions.enforcePledge(goods.lot), goods.cast.bank_a)
        assert goods.block_time(receipt) == until + 1
        r = goods.receipt()
        assert (r["ownerOrg"], r["state"], r["frozen"]) == (
            goods.cast.bank_a.org_id,
            ReceiptState.ISSUED,
            False,
        )

    def test_enforcePledge_after_unfreeze_before_term_refused(self, goods: Goods) -> None:
        until = goods.pledged()
        goods.post(Status.ALERT)
        goods.post(Status.OK)
        with reverts("WarehouseEnforcementNotAllowed", receiptId=goods.lot, allowedAt=until + 1):
            goods.send(goods.receipts.functions.enforcePledge(goods.lot), goods.cast.bank_a)

    def test_enforcePledge_by_other_bank_refused(self, goods: Goods) -> None:
        goods.pledged()
        goods.post(Status.ALERT)
        before = goods.receipts_state()
        with reverts("WarehouseNotPledgee", receiptId=goods.lot, orgId=goods.cast.bank_b.org_id):
            goods.send(goods.receipts.functions.enforcePledge(goods.lot), goods.cast.bank_b)
        _refused_unchanged(goods, before)

    def test_enforcePledge_not_pledged_refused(self, goods: Goods) -> None:
        goods.pledged()
        goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.bank_a)
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.ISSUED):
            goods.send(goods.receipts.functions.enforcePledge(goods.lot), goods.cast.bank_a)

    def test_enforcePledge_by_owner_refused(self, goods: Goods) -> None:
        goods.pledged()
        goods.post(Status.ALERT)
        with reverts("WarehouseUnauthorized", account=goods.cast.delta.address, requiredRole=BANK):
            goods.send(goods.receipts.functions.enforcePledge(goods.lot), goods.cast.delta)

    def test_enforcePledge_then_bank_owner_frozen_until_ok(self, goods: Goods) -> None:
        goods.pledged()
        goods.post(Status.ALERT)
        goods.send(goods.receipts.functions.enforcePledge(goods.lot), goods.cast.bank_a)
        transfer = goods.receipts.functions.transfer(goods.lot, goods.cast.huaxin.org_id)
        with reverts("WarehouseFrozen", receiptId=goods.lot):
            goods.send(transfer, goods.cast.bank_a)
        receipt = goods.post(Status.OK)
        assert event(receipt, goods.receipts, "ReceiptUnfrozen") == {
            "receiptId": goods.lot,
            "pledgeeOrg": 0,
            "status": Status.OK,
        }
        goods.send(transfer, goods.cast.bank_a)
        assert goods.receipt()["ownerOrg"] == goods.cast.huaxin.org_id


# ---------------------------------------------------------------- surrender


class TestSurrender:
    def test_surrender_by_owner_and_emits(self, goods: Goods) -> None:
        issued_at = _issued(goods)
        receipt = goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)
        assert goods.receipt() == {
            "ownerOrg": goods.cast.delta.org_id,
            "pledgeeOrg": 0,
            "state": ReceiptState.SURRENDERED,
            "frozen": False,
            "issuedAt": issued_at,
            "pledgedUntil": 0,
        }
        assert event(receipt, goods.receipts, "ReceiptSurrendered") == {
            "receiptId": goods.lot,
            "ownerOrg": goods.cast.delta.org_id,
        }

    def test_surrender_twice_refused(self, goods: Goods) -> None:
        _issued(goods)
        goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.SURRENDERED):
            goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)

    def test_surrender_pledged_refused(self, goods: Goods) -> None:
        goods.pledged()
        before = goods.receipts_state()
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.PLEDGED):
            goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)
        _refused_unchanged(goods, before)

    @pytest.mark.parametrize("status", [Status.ALERT, Status.OFFLINE])
    def test_surrender_frozen_refused(self, goods: Goods, status: Status) -> None:
        _issued(goods)
        goods.post(status)
        before = goods.receipts_state()
        with reverts("WarehouseFrozen", receiptId=goods.lot):
            goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)
        _refused_unchanged(goods, before)

    def test_surrender_by_non_owner_refused(self, goods: Goods) -> None:
        _issued(goods)
        with reverts("WarehouseNotOwner", receiptId=goods.lot, orgId=goods.cast.huaxin.org_id):
            goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.huaxin)

    def test_surrender_not_issued_refused(self, goods: Goods) -> None:
        with reverts("WarehouseWrongState", receiptId=goods.lot, state=ReceiptState.NONE):
            goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)

    def test_surrender_by_warehouse_refused(self, goods: Goods) -> None:
        _issued(goods)
        with reverts("WarehouseUnauthorized", account=goods.cast.north.address, requiredRole=OWNER_ROLES):
            goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.north)

    def test_surrender_then_alert_ignored(self, goods: Goods) -> None:
        _issued(goods)
        goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)
        receipt = goods.post(Status.ALERT)
        assert events(receipt, goods.receipts, "ReceiptFrozen") == []
        assert goods.receipt()["frozen"] is False
        assert goods.lot_status()["status"] == Status.ALERT


# ---------------------------------------------------------------- onLotStatus (freeze and unfreeze)


class TestOnLotStatus:
    def test_alert_report_freezes_pledged_receipt_same_transaction(self, goods: Goods) -> None:
        goods.pledged()
        receipt = goods.post(Status.ALERT)
        assert goods.receipt()["frozen"] is True
        assert event(receipt, goods.receipts, "ReceiptFrozen") == {
            "receiptId": goods.lot,
            "pledgeeOrg": goods.cast.bank_a.org_id,
            "status": Status.ALERT,
        }
        assert event(receipt, goods.oracle, "LotStatusChanged")["status"] == Status.ALERT

    def test_offline_report_freezes_unpledged_receipt(self, goods: Goods) -> None:
        _issued(goods)
        receipt = goods.submit(goods.report(1, Status.OFFLINE, root=ZERO32, count=0))
        assert goods.receipt()["frozen"] is True
        assert event(receipt, goods.receipts, "ReceiptFrozen") == {
            "receiptId": goods.lot,
            "pledgeeOrg": 0,
            "status": Status.OFFLINE,
        }

    def test_alert_then_offline_stays_frozen_without_new_event(self, goods: Goods) -> None:
        _issued(goods)
        goods.post(Status.ALERT)
        receipt = goods.post(Status.OFFLINE)
        assert events(receipt, goods.receipts, "ReceiptFrozen") == []
        assert events(receipt, goods.receipts, "ReceiptUnfrozen") == []
        assert goods.receipt()["frozen"] is True

    @pytest.mark.parametrize("status", [Status.OK, Status.WARNING])
    def test_ok_or_warning_report_unfreezes(self, goods: Goods, status: Status) -> None:
        goods.pledged()
        goods.post(Status.ALERT)
        receipt = goods.post(status)
        assert goods.receipt()["frozen"] is False
        assert event(receipt, goods.receipts, "ReceiptUnfrozen") == {
            "receiptId": goods.lot,
            "pledgeeOrg": goods.cast.bank_a.org_id,
            "status": status,
        }
        goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.bank_a)
        goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)

    def test_warning_after_ok_no_freeze_event(self, goods: Goods) -> None:
        goods.pledged()
        receipt = goods.post(Status.WARNING)
        assert events(receipt, goods.receipts, "ReceiptFrozen") == []
        assert events(receipt, goods.receipts, "ReceiptUnfrozen") == []
        assert goods.receipt()["frozen"] is False

    def test_report_before_receipt_no_receipt_event(self, goods: Goods) -> None:
        receipt = goods.post(Status.ALERT)
        assert events(receipt, goods.receipts, "ReceiptFrozen") == []
        assert goods.receipt()["state"] == ReceiptState.NONE

    def test_frozen_owner_can_neither_transfer_nor_surrender(self, goods: Goods) -> None:
        goods.pledged()
        goods.send(goods.receipts.functions.releasePledge(goods.lot), goods.cast.bank_a)
        goods.post(Status.ALERT)
        before = goods.receipts_state()
        with reverts("WarehouseFrozen", receiptId=goods.lot):
            goods.send(
                goods.receipts.functions.transfer(goods.lot, goods.cast.eastern.org_id), goods.cast.delta
            )
        with reverts("WarehouseFrozen", receiptId=goods.lot):
            goods.send(goods.receipts.functions.surrender(goods.lot), goods.cast.delta)
        _refused_unchanged(goods, before)

    def test_report_for_unknown_lot_reverts_with_warehouse_error(self, goods: Goods) -> None:
        lot = lot_id("ghost")
        before = goods.oracle_state(lot)
        with reverts("WarehouseUnknownLot", lotId=lot):
            goods.submit(goods.report(1, Status.ALERT, lot=lot))
        assert goods.oracle_state(lot) == before

    @pytest.mark.parametrize("who", ["oracle", "operator", "north", "stranger"])
    def test_onLotStatus_by_anyone_but_oracle_refused(self, goods: Goods, who: str) -> None:
        _issued(goods)
        sender = getattr(goods.cast, who)
        before = goods.receipts_state()
        with reverts("WarehouseNotOracle", caller=sender.address):
            goods.send(goods.receipts.functions.onLotStatus(goods.lot, Status.ALERT), sender)
        _refused_unchanged(goods, before)

    def test_views_registry_and_oracle(self, goods: Goods) -> None:
        assert goods.receipts.functions.registry().call() == goods.cast.registry.address
        assert goods.receipts.functions.oracle().call() == goods.oracle.address
        f = goods.receipts.functions
        assert (f.MAX_DEVICES().call(), f.MAX_PLEDGE_TERM().call()) == (MAX_DEVICES, MAX_PLEDGE_TERM)
        assert tuple(f.device(keccak(text="unbound")).call()) == (ZERO32, ZERO)
