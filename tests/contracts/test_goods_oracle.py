"""GoodsOracle: reports, signer set, fault tolerance, report age, listener, views; one group per function."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract
from web3.types import TxReceipt

from chain.devnet import Org, dev_account
from chain.errors import ChainError, ContractRevert
from chain.merkle import MerkleTree, reading_leaf
from chain.roles import Role
from tests.contracts.goods_support import (
    MAX_CLOCK_SKEW,
    MAX_REPORT_AGE,
    MAX_SIGNERS,
    Goods,
    Status,
    goods_world,
    lot_id,
    recover,
)
from tests.contracts.support import Cast, event, events, reverts, soon

ORACLE = int(Role.ORACLE)
OPERATOR = int(Role.OPERATOR)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ZERO = "0x" + "00" * 20
EMPTY_STATUS = {"status": 0, "round": 0, "observedAt": 0, "reportedAt": 0}


@pytest.fixture(scope="module")
def goods(cast: Cast) -> Iterator[Goods]:
    yield from goods_world(cast)


def _unchanged(goods: Goods, before: tuple[object, ...]) -> None:
    assert goods.oracle_state() == before


@pytest.fixture
def five(goods: Goods) -> list[Org]:
    """Five signers registered (two extra for this test only), ascending."""
    extra = [goods.admit(f"extra-oracle-{i}", Role.ORACLE) for i in range(2)]
    for org in extra:
        goods.send(goods.oracle.functions.addSigner(org.address), goods.cast.operator)
    return sorted([*goods.signers, *extra], key=lambda o: int(o.address, 16))


def _fresh_oracle(goods: Goods) -> tuple[Contract, TxReceipt]:
    """A GoodsOracle of our own (no listener), on the suite's registry."""
    oracle, receipt = goods.net.client.deploy(
        "GoodsOracle", goods.cast.operator.account, goods.cast.registry.address, MAX_REPORT_AGE
    )
    return oracle, receipt


# ---------------------------------------------------------------- deployment and views


class TestDeployment:
    def test_deployment_parameters_quorum_and_signers(self, goods: Goods) -> None:
        f = goods.oracle.functions
        assert tuple(f.parameters().call()) == (1, MAX_REPORT_AGE, goods.receipts.address)
        assert f.quorum().call() == 2
        assert f.signers().call() == [s.address for s in goods.signers]
        assert (f.MAX_SIGNERS().call(), f.MAX_CLOCK_SKEW().call()) == (MAX_SIGNERS, MAX_CLOCK_SKEW)
        assert (f.MIN_REPORT_AGE().call(), f.MAX_REPORT_AGE().call()) == (10, 86_400)

    def test_constructor_emits_max_report_age(self, goods: Goods) -> None:
        oracle, receipt = _fresh_oracle(goods)
        assert event(receipt, oracle, "MaxReportAgeChanged") == {"maxAge": MAX_REPORT_AGE}
        assert tuple(oracle.functions.parameters().call()) == (1, MAX_REPORT_AGE, ZERO)
        assert oracle.functions.signers().call() == []

    @pytest.mark.parametrize("age", [9, 86_401])
    def test_constructor_max_age_out_of_range_refused(self, goods: Goods, age: int) -> None:
        with reverts("GoodsOracleInvalidMaxAge", maxAge=age):
            goods.net.client.deploy(
                "GoodsOracle", goods.cast.operator.account, goods.cast.registry.address, age
            )

    def test_lotStatus_unknown_lot_is_zero(self, goods: Goods) -> None:
        assert goods.lot_status(lot_id("never")) == EMPTY_STATUS
        assert goods.oracle.functions.readingsRoot(goods.lot, 1).call() == b"\x00" * 32


# ---------------------------------------------------------------- submitReport


class TestSubmitReport:
    def test_submitReport_two_of_three_accepted_and_stored(self, goods: Goods) -> None:
        report = goods.report(1, Status.OK, count=7)
        receipt = goods.submit(report)
        at = goods.block_time(receipt)
        assert goods.lot_status() == {
            "status": Status.OK,
            "round": 1,
            "observedAt": report.observed_at,
            "reportedAt": at,
        }
        assert goods.oracle.functions.readingsRoot(goods.lot, 1).call() == report.readings_root
        assert event(receipt, goods.oracle, "ReportAccepted") == {
            "lotId": goods.lot,
            "round": 1,
            "status": Status.OK,
            "readingsRoot": report.readings_root,
            "readingCount": 7,
            "observedAt": report.observed_at,
            "signers": [s.address for s in goods.signers[:2]],
        }
        assert event(receipt, goods.oracle, "LotStatusChanged") == {
            "lotId": goods.lot,
            "previous": Status.UNKNOWN,
            "status": Status.OK,
        }

    def test_submitReport_all_three_signatures_listed(self, goods: Goods) -> None:
        report = goods.report(1)
        receipt = goods.submit(report, goods.sign(report, goods.signers))
        accepted = event(receipt, goods.oracle, "ReportAccepted")
        assert accepted["signers"] == [s.address for s in goods.signers]

    def test_submitReport_any_two_signers_suffice(self, goods: Goods) -> None:
        a, b, c = goods.signers
        for round_, pair in enumerate([(a, c), (b, c)], start=1):
            report = goods.report(round_)
            receipt = goods.submit(report, goods.sign(report, pair))
            assert event(receipt, goods.oracle, "ReportAccepted")["signers"] == [s.address for s in pair]

    def test_submitReport_by_signer_org_itself_accepted(self, goods: Goods) -> None:
        goods.submit(goods.report(1), sender=goods.signers[0])
        assert goods.lot_status()["round"] == 1

    def test_submitReport_same_status_no_status_change_event(self, goods: Goods) -> None:
        goods.post(Status.OK)
        receipt = goods.submit(goods.report(2, Status.OK))
        assert events(receipt, goods.oracle, "LotStatusChanged") == []
        assert events(receipt, goods.receipts, "ReceiptFrozen") == []
        assert goods.lot_status()["round"] == 2
        assert goods.oracle.functions.readingsRoot(goods.lot, 2).call() == goods.report(2).readings_root

    def test_submitReport_status_change_emits_previous_and_new(self, goods: Goods) -> None:
        goods.post(Status.OK)
        receipt = goods.post(Status.WARNING)
        assert event(receipt, goods.oracle, "LotStatusChanged") == {
            "lotId": goods.lot,
            "previous": Status.OK,
            "status": Status.WARNING,
        }

    def test_submitReport_round_may_skip(self, goods: Goods) -> None:
        goods.submit(goods.report(1))
        goods.submit(goods.report(10))
        assert goods.lot_status()["round"] == 10
        assert goods.oracle.functions.readingsRoot(goods.lot, 5).call() == b"\x00" * 32

    def test_submitReport_later_round_older_observation_refused(self, goods: Goods) -> None:
        # Rounds must increase and observations may not go back in time (within the max age they once
        # could, so a later round could report an older state of the goods).
        at = soon(goods.net, 100)
        goods.net.travel_to(at)
        goods.submit(goods.report(1, observed_at=at - 10))
        before = goods.oracle_state()
        goods.net.travel_to(at + 10)
        with reverts("GoodsOracleStaleReport", lotId=goods.lot, observedAt=at - 11, now=at + 10):
            goods.submit(goods.report(2, Status.ALERT, observed_at=at - 11), estimate=True)
        _unchanged(goods, before)

    def test_submitReport_later_round_same_observation_time_accepted(self, goods: Goods) -> None:
        at = soon(goods.net, 100)
        goods.net.travel_to(at)
        goods.submit(goods.report(1, observed_at=at - 10))
        goods.submit(goods.report(2, Status.WARNING, observed_at=at - 10))
        assert goods.lot_status()["round"] == 2
        assert goods.lot_status()["observedAt"] == at - 10

    def test_submitReport_observation_order_is_per_lot(self, goods: Goods) -> None:
        other = goods.register("ORDER")
        at = soon(goods.net, 100)
        goods.net.travel_to(at)
        goods.submit(goods.report(1, observed_at=at))
        goods.submit(goods.report(1, lot=other, observed_at=at - 100))
        assert goods.lot_status(other)["observedAt"] == at - 100

    # ------------------------------------------------------------ quorum

    def test_submitReport_one_signature_refused_quorum_not_met(self, goods: Goods) -> None:
        before = goods.oracle_state()
        report = goods.report(1)
        with reverts("GoodsOracleQuorumNotMet", signatures=1, quorum=2):
            goods.submit(report, goods.sign(report, goods.signers[:1]))
        _unchanged(goods, before)

    def test_submitReport_no_signature_refused_quorum_not_met(self, goods: Goods) -> None:
        with reverts("GoodsOracleQuorumNotMet", signatures=0, quorum=2):
            goods.submit(goods.report(1), [])

    def test_submitReport_f2_two_signatures_refused_three_accepted(
        self, goods: Goods, five: list[Org]
    ) -> None:
        goods.send(goods.oracle.functions.setFaultTolerance(2), goods.cast.operator)
        report = goods.report(1)
        with reverts("GoodsOracleQuorumNotMet", signatures=2, quorum=3):
            goods.submit(report, goods.sign(report, five[:2]))
        receipt = goods.submit(report, goods.sign(report, five[1:4]))
        assert event(receipt, goods.oracle, "ReportAccepted")["signers"] == [s.address for s in five[1:4]]

    def test_submitReport_set_below_2f_plus_1_refused(self, goods: Goods) -> None:
        # removeSigner keeps signers of 2f + 1 organisations, so only a set never filled up is this small.
        oracle, _ = _fresh_oracle(goods)
        for node in goods.signers[:2]:
            goods.send(oracle.functions.addSigner(node.address), goods.cast.operator)
        report = goods.report(1)
        signatures = goods.sign(report, oracle=oracle.address)
        with reverts("GoodsOracleInvalidFaultTolerance", f=1, signers=2):
            goods.send(oracle.functions.submitReport(report.as_tuple(), signatures), goods.cast.oracle)
        assert tuple(oracle.functions.lotStatus(goods.lot).call()) == (0, 0, 0, 0)

    # ------------------------------------------------------------ rounds

    def test_submitReport_equal_round_refused_stale_round(self, goods: Goods) -> None:
        goods.submit(goods.report(5))
        before = goods.oracle_state()
        with reverts("GoodsOracleStaleRound", lotId=goods.lot, round=5, lastRound=5):
            goods.submit(goods.report(5, Status.ALERT))
        _unchanged(goods, before)

    def test_submitReport_lower_round_refused_stale_round(self, goods: Goods) -> None:
        goods.submit(goods.report(5))
        before = goods.oracle_state()
        with reverts("GoodsOracleStaleRound", lotId=goods.lot, round=4, lastRound=5):
            goods.submit(goods.report(4, Status.ALERT))
        _unchanged(goods, before)

    def test_submitReport_round_zero_on_fresh_lot_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleStaleRound", lotId=goods.lot, round=0, lastRound=0):
            goods.submit(goods.report(0))

    def test_submitReport_replayed_report_refused(self, goods: Goods) -> None:
        report = goods.report(1)
        signatures = goods.sign(report)
        goods.submit(report, signatures)
        with reverts("GoodsOracleStaleRound", lotId=goods.lot, round=1, lastRound=1):
            goods.submit(report, signatures)

    # ------------------------------------------------------------ age

    def test_submitReport_observed_at_max_age_accepted_one_older_refused(self, goods: Goods) -> None:
        at = soon(goods.net, 100)
        goods.net.travel_to(at)
        before = goods.oracle_state()
        with reverts("GoodsOracleStaleReport", lotId=goods.lot, observedAt=at - MAX_REPORT_AGE - 1, now=at):
            goods.submit(goods.report(1, observed_at=at - MAX_REPORT_AGE - 1), estimate=True)
        _unchanged(goods, before)
        goods.net.travel_to(at + 10)
        goods.submit(goods.report(1, observed_at=at + 10 - MAX_REPORT_AGE))
        assert goods.lot_status()["observedAt"] == at + 10 - MAX_REPORT_AGE

    def test_submitReport_future_beyond_clock_skew_refused_at_skew_accepted(self, goods: Goods) -> None:
        at = soon(goods.net, 100)
        goods.net.travel_to(at)
        with reverts("GoodsOracleStaleReport", lotId=goods.lot, observedAt=at + MAX_CLOCK_SKEW + 1, now=at):
            goods.submit(goods.report(1, observed_at=at + MAX_CLOCK_SKEW + 1), estimate=True)
        goods.net.travel_to(at + 10)
        goods.submit(goods.report(1, observed_at=at + 10 + MAX_CLOCK_SKEW))
        assert goods.lot_status()["observedAt"] == at + 10 + MAX_CLOCK_SKEW

    def test_submitReport_observed_at_zero_refused(self, goods: Goods) -> None:
        at = soon(goods.net, 100)
        goods.net.travel_to(at)
        with reverts("GoodsOracleStaleReport", lotId=goods.lot, observedAt=0, now=at):
            goods.submit(goods.report(1, observed_at=0), estimate=True)

    # ------------------------------------------------------------ signers

    def test_submitReport_signer_outside_set_refused(self, goods: Goods) -> None:
        outsider = goods.admit("outside-oracle", Role.ORACLE)
        report = goods.report(1)
        signers = sorted([goods.signers[0], outsider], key=lambda o: int(o.address, 16))
        before = goods.oracle_state()
        with reverts("GoodsOracleUnknownSigner", signer=outsider.address):
            goods.submit(report, goods.sign(report, signers))
        _unchanged(goods, before)

    def test_submitReport_non_member_key_refused(self, goods: Goods) -> None:
        rogue = dev_account("rogue-signer")
        report = goods.report(1)
        signers = sorted([goods.signers[1], rogue], key=lambda a: int(a.address, 16))
        with reverts("GoodsOracleUnknownSigner", signer=rogue.address):
            goods.submit(report, goods.sign(report, signers))

    def test_submitReport_suspended_oracle_org_signature_refused(self, goods: Goods) -> None:
        goods.suspend(goods.signers[1])
        report = goods.report(1)
        before = goods.oracle_state()
        with reverts("GoodsOracleUnknownSigner", signer=goods.signers[1].address):
            goods.submit(report, goods.sign(report, goods.signers[:2]))
        _unchanged(goods, before)
        goods.submit(report, goods.sign(report, [goods.signers[0], goods.signers[2]]))  # the others still do

    def test_submitReport_suspended_signer_account_refused(self, goods: Goods) -> None:
        registry = goods.cast.registry.functions
        goods.send(registry.suspendAccount(goods.signers[0].address), goods.cast.operator)
        with reverts("GoodsOracleUnknownSigner", signer=goods.signers[0].address):
            goods.submit(goods.report(1))

    def test_submitReport_signer_without_oracle_role_refused(self, goods: Goods) -> None:
        org = goods.signers[0]
        goods.send(goods.cast.registry.functions.setRoles(org.org_id, int(Role.AUDITOR)), goods.cast.operator)
        with reverts("GoodsOracleUnknownSigner", signer=org.address):
            goods.submit(goods.report(1))

    def test_submitReport_two_keys_of_one_organisation_refused(self, goods: Goods) -> None:
        first = goods.signers[0]
        second = dev_account("oracle-0-second-key")
        goods.net.fund(second.address)
        goods.send(
            goods.cast.registry.functions.addAccount(first.org_id, second.address), goods.cast.operator
        )
        goods.send(goods.oracle.functions.addSigner(second.address), goods.cast.operator)
        report = goods.report(1)
        pair = sorted([first.account, second], key=lambda a: int(a.address, 16))
        before = goods.oracle_state()
        with reverts("GoodsOracleSameOrganisation", signer=pair[1].address, orgId=first.org_id):
            goods.submit(report, goods.sign(report, pair))
        _unchanged(goods, before)
        # Either key with a key of another operator makes a quorum of f + 1 organisations.
        independent = sorted([second, goods.signers[1].account], key=lambda a: int(a.address, 16))
        receipt = goods.submit(report, goods.sign(report, independent))
        assert event(receipt, goods.oracle, "ReportAccepted")["signers"] == [a.address for a in independent]

    def test_submitReport_same_organisation_among_more_than_quorum_refused(self, goods: Goods) -> None:
        first = goods.signers[2]
        second = dev_account("oracle-2-second-key")
        goods.net.fund(second.address)
        goods.send(
            goods.cast.registry.functions.addAccount(first.org_id, second.address), goods.cast.operator
        )
        goods.send(goods.oracle.functions.addSigner(second.address), goods.cast.operator)
        report = goods.report(1)
        accounts = sorted(
            [goods.signers[0].account, goods.signers[1].account, first.account, second],
            key=lambda a: int(a.address, 16),
        )
        later = max(first.account, second, key=lambda a: accounts.index(a))
        with reverts("GoodsOracleSameOrganisation", signer=later.address, orgId=first.org_id):
            goods.submit(report, goods.sign(report, accounts))

    def test_submitReport_duplicate_signer_refused(self, goods: Goods) -> None:
        report = goods.report(1)
        (sig,) = goods.sign(report, goods.signers[:1])
        with reverts("GoodsOracleSignersNotAscending", signer=goods.signers[0].address):
            goods.submit(report, [sig, sig])

    def test_submitReport_unsorted_signatures_refused(self, goods: Goods) -> None:
        report = goods.report(1)
        low, high = goods.sign(report, goods.signers[:2])
        before = goods.oracle_state()
        with reverts("GoodsOracleSignersNotAscending", signer=goods.signers[0].address):
            goods.submit(report, [high, low])
        _unchanged(goods, before)

    def test_submitReport_signature_for_other_chain_id_refused(self, goods: Goods) -> None:
        report = goods.report(1)
        (bad,) = goods.sign(report, goods.signers[:1], chain_id=goods.chain_id + 1)
        (good,) = goods.sign(report, goods.signers[1:2])
        recovered = recover(goods.digest(report), bad)
        assert recovered != goods.signers[0].address
        with reverts("GoodsOracleUnknownSigner", signer=recovered):
            goods.submit(report, [bad, good])  # the first recovered address is checked first

    def test_submitReport_signature_for_other_contract_refused(self, goods: Goods) -> None:
        report = goods.report(1)
        bad_sigs = goods.sign(report, goods.signers[:2], oracle=goods.receipts.address)
        recovered = recover(goods.digest(report), bad_sigs[0])
        assert recovered != goods.signers[0].address
        with reverts("GoodsOracleUnknownSigner", signer=recovered):
            goods.submit(report, bad_sigs)

    def test_submitReport_signature_for_other_oracle_deployment_refused(self, goods: Goods) -> None:
        other, _ = _fresh_oracle(goods)
        report = goods.report(1)
        bad_sigs = goods.sign(report, goods.signers[:2], oracle=other.address)
        with reverts("GoodsOracleUnknownSigner", signer=recover(goods.digest(report), bad_sigs[0])):
            goods.submit(report, bad_sigs)

    def test_submitReport_tampered_status_refused(self, goods: Goods) -> None:
        signed = goods.report(1, Status.OK)
        sigs = goods.sign(signed)
        tampered = goods.report(1, Status.ALERT, root=signed.readings_root, observed_at=signed.observed_at)
        with reverts("GoodsOracleUnknownSigner", signer=recover(goods.digest(tampered), sigs[0])):
            goods.submit(tampered, sigs)

    def test_submitReport_short_signature_refused(self, goods: Goods) -> None:
        report = goods.report(1)
        sigs = goods.sign(report)
        with reverts("ECDSAInvalidSignatureLength", length=64):
            goods.submit(report, [sigs[0][:64], sigs[1]])

    def test_submitReport_high_s_signature_refused(self, goods: Goods) -> None:
        report = goods.report(1)
        sigs = goods.sign(report)
        r, s, v = sigs[0][:32], int.from_bytes(sigs[0][32:64], "big"), sigs[0][64]
        high_s = SECP256K1_N - s
        malleated = r + high_s.to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
        assert Account._recover_hash(goods.digest(report), signature=malleated) == goods.signers[0].address
        with reverts("ECDSAInvalidSignatureS", s=high_s.to_bytes(32, "big")):
            goods.submit(report, [malleated, sigs[1]])

    # ------------------------------------------------------------ report content

    def test_submitReport_unknown_status_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleInvalidReport", lotId=goods.lot):
            goods.submit(goods.report(1, Status.UNKNOWN))

    @pytest.mark.parametrize("status", [Status.OK, Status.WARNING, Status.ALERT])
    def test_submitReport_zero_readings_refused_unless_offline(self, goods: Goods, status: Status) -> None:
        before = goods.oracle_state()
        with reverts("GoodsOracleInvalidReport", lotId=goods.lot):
            goods.submit(goods.report(1, status, root=b"\x00" * 32, count=0))
        _unchanged(goods, before)

    def test_submitReport_root_without_count_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleInvalidReport", lotId=goods.lot):
            goods.submit(goods.report(1, Status.OK, count=0))

    def test_submitReport_count_without_root_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleInvalidReport", lotId=goods.lot):
            goods.submit(goods.report(1, Status.OK, root=b"\x00" * 32, count=5))

    def test_submitReport_offline_count_without_root_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleInvalidReport", lotId=goods.lot):
            goods.submit(goods.report(1, Status.OFFLINE, root=b"\x00" * 32, count=5))

    def test_submitReport_offline_with_zero_readings_accepted(self, goods: Goods) -> None:
        report = goods.report(1, Status.OFFLINE, root=b"\x00" * 32, count=0)
        receipt = goods.submit(report)
        assert goods.lot_status()["status"] == Status.OFFLINE
        assert goods.oracle.functions.readingsRoot(goods.lot, 1).call() == b"\x00" * 32
        accepted = event(receipt, goods.oracle, "ReportAccepted")
        assert (accepted["readingsRoot"], accepted["readingCount"]) == (b"\x00" * 32, 0)

    def test_submitReport_offline_with_readings_stores_root(self, goods: Goods) -> None:
        report = goods.report(1, Status.OFFLINE, count=2)
        goods.submit(report)
        assert goods.oracle.functions.readingsRoot(goods.lot, 1).call() == report.readings_root

    def test_submitReport_status_out_of_enum_refused(self, goods: Goods) -> None:
        report = goods.report(1)
        bad = replace(report, status=5)
        with pytest.raises(ChainError) as info:
            goods.submit(bad, goods.sign(report))
        assert not isinstance(info.value, ContractRevert)  # ABI decoding of the enum reverts without data
        assert goods.lot_status()["round"] == 0

    # ------------------------------------------------------------ callers and listener

    @pytest.mark.parametrize("who", ["north", "operator", "delta"])
    def test_submitReport_without_oracle_role_refused(self, goods: Goods, who: str) -> None:
        org = getattr(goods.cast, who)
        with reverts("GoodsOracleUnauthorized", account=org.address, requiredRole=ORACLE):
            goods.submit(goods.report(1), sender=org)

    def test_submitReport_by_stranger_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleUnauthorized", account=goods.cast.stranger.address, requiredRole=ORACLE):
            goods.submit(goods.report(1), sender=goods.cast.stranger)

    def test_submitReport_by_suspended_oracle_refused(self, goods: Goods) -> None:
        goods.suspend(goods.cast.oracle)
        with reverts("GoodsOracleUnauthorized", account=goods.cast.oracle.address, requiredRole=ORACLE):
            goods.submit(goods.report(1))

    def test_submitReport_unknown_lot_reverts_from_listener(self, goods: Goods) -> None:
        lot = lot_id("not-registered")
        with reverts("WarehouseUnknownLot", lotId=lot):
            goods.submit(goods.report(1, lot=lot))
        assert goods.lot_status(lot) == EMPTY_STATUS
        assert goods.oracle.functions.readingsRoot(lot, 1).call() == b"\x00" * 32

    def test_submitReport_without_listener_accepts_any_lot(self, goods: Goods) -> None:
        oracle, _ = _fresh_oracle(goods)
        for node in goods.signers:
            goods.send(oracle.functions.addSigner(node.address), goods.cast.operator)
        lot = lot_id("anything")
        report = goods.report(1, lot=lot)
        sigs = goods.sign(report, oracle=oracle.address)
        goods.send(oracle.functions.submitReport(report.as_tuple(), sigs), goods.cast.oracle)
        assert oracle.functions.lotStatus(lot).call()[:2] == (Status.OK, 1)


# ---------------------------------------------------------------- addSigner / removeSigner


class TestAddSigner:
    def test_addSigner_registers_and_emits(self, goods: Goods) -> None:
        new = goods.admit("new-oracle", Role.ORACLE)
        receipt = goods.send(goods.oracle.functions.addSigner(new.address), goods.cast.operator)
        assert event(receipt, goods.oracle, "SignerAdded") == {"signer": new.address}
        assert goods.oracle.functions.signers().call() == [s.address for s in goods.signers] + [new.address]

    def test_addSigner_new_signer_counts_towards_quorum(self, goods: Goods) -> None:
        new = goods.admit("new-oracle", Role.ORACLE)
        goods.send(goods.oracle.functions.addSigner(new.address), goods.cast.operator)
        report = goods.report(1)
        pair = sorted([goods.signers[0], new], key=lambda o: int(o.address, 16))
        receipt = goods.submit(report, goods.sign(report, pair))
        assert event(receipt, goods.oracle, "ReportAccepted")["signers"] == [o.address for o in pair]

    def test_addSigner_non_member_added_but_signature_refused(self, goods: Goods) -> None:
        rogue = dev_account("non-member-signer")
        goods.send(goods.oracle.functions.addSigner(rogue.address), goods.cast.operator)
        report = goods.report(1)
        signers = sorted([goods.signers[0], rogue], key=lambda a: int(a.address, 16))
        with reverts("GoodsOracleUnknownSigner", signer=rogue.address):
            goods.submit(report, goods.sign(report, signers))

    def test_addSigner_twice_refused(self, goods: Goods) -> None:
        before = goods.oracle_state()
        with reverts("GoodsOracleSignerState", signer=goods.signers[0].address, registered=True):
            goods.send(goods.oracle.functions.addSigner(goods.signers[0].address), goods.cast.operator)
        _unchanged(goods, before)

    def test_addSigner_zero_address_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleSignerState", signer=ZERO, registered=False):
            goods.send(goods.oracle.functions.addSigner(ZERO), goods.cast.operator)

    def test_addSigner_beyond_max_signers_refused(self, goods: Goods) -> None:
        for i in range(MAX_SIGNERS - 3):
            filler = dev_account(f"filler-{i}").address
            goods.send(goods.oracle.functions.addSigner(filler), goods.cast.operator)
        assert len(goods.oracle.functions.signers().call()) == MAX_SIGNERS
        extra = dev_account("one-too-many").address
        with reverts("GoodsOracleSignerState", signer=extra, registered=False):
            goods.send(goods.oracle.functions.addSigner(extra), goods.cast.operator)
        with reverts("GoodsOracleSignerState", signer=goods.signers[0].address, registered=True):
            goods.send(goods.oracle.functions.addSigner(goods.signers[0].address), goods.cast.operator)

    def test_addSigner_by_non_operator_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleUnauthorized", account=goods.cast.oracle.address, requiredRole=OPERATOR):
            goods.send(goods.oracle.functions.addSigner(goods.cast.oracle.address), goods.cast.oracle)


class TestRemoveSigner:
    def test_removeSigner_removes_and_emits(self, goods: Goods, five: list[Org]) -> None:
        gone = five[0]
        receipt = goods.send(goods.oracle.functions.removeSigner(gone.address), goods.cast.operator)
        assert event(receipt, goods.oracle, "SignerRemoved") == {"signer": gone.address}
        assert gone.address not in goods.oracle.functions.signers().call()
        assert len(goods.oracle.functions.signers().call()) == 4
        report = goods.report(1)
        with reverts("GoodsOracleUnknownSigner", signer=gone.address):
            goods.submit(report, goods.sign(report, five[:2]))
        goods.submit(report, goods.sign(report, five[1:3]))

    def test_removeSigner_unknown_refused(self, goods: Goods) -> None:
        outsider = dev_account("never-signer").address
        before = goods.oracle_state()
        with reverts("GoodsOracleSignerState", signer=outsider, registered=False):
            goods.send(goods.oracle.functions.removeSigner(outsider), goods.cast.operator)
        _unchanged(goods, before)

    def test_removeSigner_twice_refused(self, goods: Goods, five: list[Org]) -> None:
        gone = five[0].address
        goods.send(goods.oracle.functions.removeSigner(gone), goods.cast.operator)
        with reverts("GoodsOracleSignerState", signer=gone, registered=False):
            goods.send(goods.oracle.functions.removeSigner(gone), goods.cast.operator)

    def test_removeSigner_below_2f_plus_1_refused(self, goods: Goods) -> None:
        before = goods.oracle_state()
        for node in goods.signers:
            with reverts("GoodsOracleTooFewOrganisations", f=1, organisations=2):
                goods.send(goods.oracle.functions.removeSigner(node.address), goods.cast.operator)
        _unchanged(goods, before)

    def test_removeSigner_down_to_2f_plus_1_then_refused(self, goods: Goods, five: list[Org]) -> None:
        remove = goods.oracle.functions.removeSigner
        goods.send(goods.oracle.functions.setFaultTolerance(2), goods.cast.operator)
        with reverts("GoodsOracleTooFewOrganisations", f=2, organisations=4):
            goods.send(remove(five[0].address), goods.cast.operator)
        goods.send(goods.oracle.functions.setFaultTolerance(1), goods.cast.operator)
        goods.send(remove(five[0].address), goods.cast.operator)
        goods.send(remove(five[1].address), goods.cast.operator)
        assert sorted(goods.oracle.functions.signers().call()) == sorted(s.address for s in five[2:])
        with reverts("GoodsOracleTooFewOrganisations", f=1, organisations=2):
            goods.send(remove(five[2].address), goods.cast.operator)
        report = goods.report(1)
        goods.submit(report, goods.sign(report, five[2:4]))  # the remaining set still reports

    def test_removeSigner_second_key_of_an_organisation_removed(self, goods: Goods) -> None:
        first = goods.signers[0]
        second = goods.extra_key(first, "oracle-0-second-key")
        receipt = goods.send(goods.oracle.functions.removeSigner(first.address), goods.cast.operator)
        assert event(receipt, goods.oracle, "SignerRemoved") == {"signer": first.address}
        assert sorted(goods.oracle.functions.signers().call()) == sorted(
            [second.address, *(s.address for s in goods.signers[1:])]
        )
        report = goods.report(1)
        pair = sorted([second, goods.signers[1].account], key=lambda a: int(a.address, 16))
        goods.submit(report, goods.sign(report, pair))  # the organisation still signs, with its other key

    def test_removeSigner_leaving_keys_of_2_organisations_refused(self, goods: Goods) -> None:
        # Four keys, three organisations: removing another organisation's only key would leave
        # 2f + 1 = 3 keys but only 2 operators, which f = 1 faulty one could block.
        goods.extra_key(goods.signers[0], "oracle-0-second-key")
        before = goods.oracle_state()
        for node in goods.signers[1:]:
            with reverts("GoodsOracleTooFewOrganisations", f=1, organisations=2):
                goods.send(goods.oracle.functions.removeSigner(node.address), goods.cast.operator)
        _unchanged(goods, before)
        assert len(before[1]) == 4

    def test_removeSigner_suspended_organisation_does_not_count(self, goods: Goods, five: list[Org]) -> None:
        remove = goods.oracle.functions.removeSigner
        goods.suspend(five[4])
        goods.send(remove(five[0].address), goods.cast.operator)  # 3 organisations able to sign remain
        with reverts("GoodsOracleTooFewOrganisations", f=1, organisations=2):
            goods.send(remove(five[1].address), goods.cast.operator)
        receipt = goods.send(remove(five[4].address), goods.cast.operator)  # the suspended one goes
        assert event(receipt, goods.oracle, "SignerRemoved") == {"signer": five[4].address}

    def test_removeSigner_non_member_key_does_not_count(self, goods: Goods) -> None:
        rogue = dev_account("non-member-signer")
        goods.send(goods.oracle.functions.addSigner(rogue.address), goods.cast.operator)
        with reverts("GoodsOracleTooFewOrganisations", f=1, organisations=2):
            goods.send(goods.oracle.functions.removeSigner(goods.signers[0].address), goods.cast.operator)
        receipt = goods.send(goods.oracle.functions.removeSigner(rogue.address), goods.cast.operator)
        assert event(receipt, goods.oracle, "SignerRemoved") == {"signer": rogue.address}

    def test_removeSigner_replacing_a_key_adds_first(self, goods: Goods) -> None:
        replacement = goods.admit("replacement-oracle", Role.ORACLE)
        goods.send(goods.oracle.functions.addSigner(replacement.address), goods.cast.operator)
        goods.send(goods.oracle.functions.removeSigner(goods.signers[0].address), goods.cast.operator)
        assert sorted(goods.oracle.functions.signers().call()) == sorted(
            [*(s.address for s in goods.signers[1:]), replacement.address]
        )

    def test_removeSigner_by_non_operator_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleUnauthorized", account=goods.cast.north.address, requiredRole=OPERATOR):
            goods.send(goods.oracle.functions.removeSigner(goods.signers[0].address), goods.cast.north)


# ---------------------------------------------------------------- setFaultTolerance


class TestSetFaultTolerance:
    def test_setFaultTolerance_two_with_five_signers(self, goods: Goods, five: list[Org]) -> None:
        receipt = goods.send(goods.oracle.functions.setFaultTolerance(2), goods.cast.operator)
        assert event(receipt, goods.oracle, "FaultToleranceChanged") == {"f": 2}
        assert goods.oracle.functions.quorum().call() == 3
        assert goods.oracle.functions.parameters().call()[0] == 2

    def test_setFaultTolerance_above_bound_refused(self, goods: Goods, five: list[Org]) -> None:
        with reverts("GoodsOracleInvalidFaultTolerance", f=3, signers=5):
            goods.send(goods.oracle.functions.setFaultTolerance(3), goods.cast.operator)

    def test_setFaultTolerance_two_with_three_signers_refused(self, goods: Goods) -> None:
        before = goods.oracle_state()
        with reverts("GoodsOracleInvalidFaultTolerance", f=2, signers=3):
            goods.send(goods.oracle.functions.setFaultTolerance(2), goods.cast.operator)
        _unchanged(goods, before)

    def test_setFaultTolerance_zero_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleInvalidFaultTolerance", f=0, signers=3):
            goods.send(goods.oracle.functions.setFaultTolerance(0), goods.cast.operator)

    def test_setFaultTolerance_max_uint8_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleInvalidFaultTolerance", f=255, signers=3):
            goods.send(goods.oracle.functions.setFaultTolerance(255), goods.cast.operator)

    def test_setFaultTolerance_five_keys_of_three_organisations_refused(self, goods: Goods) -> None:
        goods.extra_key(goods.signers[0], "oracle-0-second-key")
        goods.extra_key(goods.signers[1], "oracle-1-second-key")
        before = goods.oracle_state()
        assert len(before[1]) == 5
        with reverts("GoodsOracleTooFewOrganisations", f=2, organisations=3):
            goods.send(goods.oracle.functions.setFaultTolerance(2), goods.cast.operator)
        _unchanged(goods, before)

    def test_setFaultTolerance_one_with_three_accepted(self, goods: Goods) -> None:
        receipt = goods.send(goods.oracle.functions.setFaultTolerance(1), goods.cast.operator)
        assert event(receipt, goods.oracle, "FaultToleranceChanged") == {"f": 1}
        assert goods.oracle.functions.quorum().call() == 2

    def test_setFaultTolerance_back_to_one_allows_removals(self, goods: Goods, five: list[Org]) -> None:
        goods.send(goods.oracle.functions.setFaultTolerance(2), goods.cast.operator)
        with reverts("GoodsOracleTooFewOrganisations", f=2, organisations=4):
            goods.send(goods.oracle.functions.removeSigner(five[4].address), goods.cast.operator)
        goods.send(goods.oracle.functions.setFaultTolerance(1), goods.cast.operator)
        goods.send(goods.oracle.functions.removeSigner(five[4].address), goods.cast.operator)
        report = goods.report(1)
        goods.submit(report, goods.sign(report, five[:2]))

    def test_setFaultTolerance_by_non_operator_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleUnauthorized", account=goods.cast.cpa.address, requiredRole=OPERATOR):
            goods.send(goods.oracle.functions.setFaultTolerance(1), goods.cast.cpa)


# ---------------------------------------------------------------- setMaxReportAge


class TestSetMaxReportAge:
    @pytest.mark.parametrize("age", [10, 600, 86_400])
    def test_setMaxReportAge_in_range_accepted(self, goods: Goods, age: int) -> None:
        receipt = goods.send(goods.oracle.functions.setMaxReportAge(age), goods.cast.operator)
        assert event(receipt, goods.oracle, "MaxReportAgeChanged") == {"maxAge": age}
        assert goods.oracle.functions.parameters().call()[1] == age

    @pytest.mark.parametrize("age", [0, 9, 86_401, 2**40 - 1])
    def test_setMaxReportAge_out_of_range_refused(self, goods: Goods, age: int) -> None:
        before = goods.oracle_state()
        with reverts("GoodsOracleInvalidMaxAge", maxAge=age):
            goods.send(goods.oracle.functions.setMaxReportAge(age), goods.cast.operator)
        _unchanged(goods, before)

    def test_setMaxReportAge_governs_staleness(self, goods: Goods) -> None:
        goods.send(goods.oracle.functions.setMaxReportAge(10), goods.cast.operator)
        at = soon(goods.net, 100)
        goods.net.travel_to(at)
        with reverts("GoodsOracleStaleReport", lotId=goods.lot, observedAt=at - 11, now=at):
            goods.submit(goods.report(1, observed_at=at - 11), estimate=True)
        goods.net.travel_to(at + 5)
        goods.submit(goods.report(1, observed_at=at + 5 - 10))

    def test_setMaxReportAge_by_non_operator_refused(self, goods: Goods) -> None:
        with reverts("GoodsOracleUnauthorized", account=goods.cast.bank_a.address, requiredRole=OPERATOR):
            goods.send(goods.oracle.functions.setMaxReportAge(600), goods.cast.bank_a)


# ---------------------------------------------------------------- setListener


class TestSetListener:
    def test_setListener_deployed_suite_already_wired(self, goods: Goods) -> None:
        before = goods.oracle_state()
        with reverts("GoodsOracleListenerAlreadySet", listener=goods.receipts.address):
            goods.send(goods.oracle.functions.setListener(goods.cast.delta.address), goods.cast.operator)
        _unchanged(goods, before)

    def test_setListener_once_on_fresh_oracle(self, goods: Goods) -> None:
        oracle, _ = _fresh_oracle(goods)
        target = to_checksum_address(keccak(text="listener")[:20])
        receipt = goods.send(oracle.functions.setListener(target), goods.cast.operator)
        assert event(receipt, oracle, "ListenerSet") == {"listener": target}
        assert oracle.functions.parameters().call()[2] == target
        with reverts("GoodsOracleListenerAlreadySet", listener=target):
            goods.send(oracle.functions.setListener(goods.receipts.address), goods.cast.operator)

    def test_setListener_zero_address_refused(self, goods: Goods) -> None:
        oracle, _ = _fresh_oracle(goods)
        with reverts("GoodsOracleListenerAlreadySet", listener=ZERO):
            goods.send(oracle.functions.setListener(ZERO), goods.cast.operator)
        assert oracle.functions.parameters().call()[2] == ZERO

    def test_setListener_by_non_operator_refused(self, goods: Goods) -> None:
        oracle, _ = _fresh_oracle(goods)
        with reverts("GoodsOracleUnauthorized", account=goods.cast.north.address, requiredRole=OPERATOR):
            goods.send(oracle.functions.setListener(goods.receipts.address), goods.cast.north)


# ---------------------------------------------------------------- verifyReading / readingsRoot


def _readings(n: int, label: str = "r") -> list[tuple[bytes, int, bytes]]:
    devices = [keccak(text=f"dev-{i}") for i in range(3)]
    return [(devices[i % 3], i, keccak(text=f"{label}-payload-{i}")) for i in range(n)]


def _anchor(goods: Goods, readings: list[tuple[bytes, int, bytes]], round_: int = 1) -> MerkleTree:
    tree = MerkleTree.build([reading_leaf(*r) for r in readings])
    goods.submit(goods.report(round_, root=tree.root, count=len(readings)))
    assert goods.oracle.functions.readingsRoot(goods.lot, round_).call() == tree.root
    return tree


class TestVerifyReading:
    @pytest.mark.parametrize("n", [1, 2, 3, 100])
    def test_verifyReading_true_for_every_reading(self, goods: Goods, n: int) -> None:
        readings = _readings(n)
        tree = _anchor(goods, readings)
        verify = goods.oracle.functions.verifyReading
        for device, seq, payload in readings:
            proof = tree.proof(reading_leaf(device, seq, payload))
            assert verify(goods.lot, 1, device, seq, payload, proof).call() is True

    @pytest.mark.parametrize("n", [1, 2, 3, 100])
    def test_verifyReading_false_for_tampered_reading_or_round(self, goods: Goods, n: int) -> None:
        readings = _readings(n)
        tree = _anchor(goods, readings)
        verify = goods.oracle.functions.verifyReading
        for device, seq, payload in readings[:: max(1, n // 7)]:
            proof = tree.proof(reading_leaf(device, seq, payload))
            assert verify(goods.lot, 1, device, seq, keccak(payload), proof).call() is False
            assert verify(goods.lot, 1, device, seq + 1, payload, proof).call() is False
            assert verify(goods.lot, 1, keccak(device), seq, payload, proof).call() is False
            assert verify(goods.lot, 2, device, seq, payload, proof).call() is False
            assert verify(goods.lot, 0, device, seq, payload, proof).call() is False
            assert verify(lot_id("other"), 1, device, seq, payload, proof).call() is False

    def test_verifyReading_false_for_reading_of_another_round(self, goods: Goods) -> None:
        first, second = _readings(4, "a"), _readings(4, "b")
        tree_a = _anchor(goods, first, 1)
        _anchor(goods, second, 2)
        device, seq, payload = first[0]
        proof = tree_a.proof(reading_leaf(device, seq, payload))
        verify = goods.oracle.functions.verifyReading
        assert verify(goods.lot, 1, device, seq, payload, proof).call() is True
        assert verify(goods.lot, 2, device, seq, payload, proof).call() is False

    def test_verifyReading_false_without_root(self, goods: Goods) -> None:
        goods.submit(goods.report(1, Status.OFFLINE, root=b"\x00" * 32, count=0))
        verify = goods.oracle.functions.verifyReading
        assert verify(goods.lot, 1, b"\x00" * 32, 0, b"\x00" * 32, []).call() is False

    def test_verifyReading_inner_node_not_a_reading(self, goods: Goods) -> None:
        readings = _readings(4)
        tree = _anchor(goods, readings)
        inner = tree.layers[1][0]
        # An inner node cannot be passed off as a leaf: the contract hashes the reading itself.
        verify = goods.oracle.functions.verifyReading
        assert verify(goods.lot, 1, inner, 0, inner, [tree.layers[1][1]]).call() is False


# ---------------------------------------------------------------- reportDigest


class TestReportDigest:
    def test_reportDigest_matches_python_signature_digest(self, goods: Goods) -> None:
        report = goods.report(7, Status.WARNING, count=42)
        assert goods.oracle.functions.reportDigest(report.as_tuple()).call() == goods.digest(report)
        (sig,) = goods.sign(report, goods.signers[:1])
        assert Account._recover_hash(goods.digest(report), signature=sig) == goods.signers[0].address
