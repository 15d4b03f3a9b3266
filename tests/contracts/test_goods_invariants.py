"""Stateful fuzzing of a lot's oracle status and its receipt against a model.

Invariants: a receipt is pledged to at most one bank at a time (and only while Pledged); a frozen
receipt never changes owner except by enforcement; accepted rounds strictly increase and observation
times never go back; the stored status is the last accepted report's; the receipt is frozen exactly
while that status is ALERT or OFFLINE (until surrendered). Each action's success or refusal is
predicted by the model; a refusal is checked with a call (nothing mined), a success with a mined
transaction.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_tester import exceptions as tester_errors
from eth_utils import to_hex
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chain.devnet import Org
from chain.errors import ContractRevert, decode_revert
from tests.contracts.goods_support import Goods, ReceiptState, Status, goods_world
from tests.contracts.support import DAY, Cast

GAS = 2_000_000
FREEZING = (Status.ALERT, Status.OFFLINE)
HOLDERS = ("delta", "eastern", "huaxin", "bank_a", "bank_b")
BANKS = ("bank_a", "bank_b")


@pytest.fixture(scope="module")
def goods(cast: Cast) -> Iterator[Goods]:
    yield from goods_world(cast, prefix="fuzz")


class RawChain:
    """Calls and transactions straight to eth-tester, skipping web3 and the client.

    The fuzzer runs thousands of steps; through web3 each costs 3-4x more. What is fuzzed is the
    contracts, not the client (which the other test files exercise).
    """

    def __init__(self, goods: Goods, orgs: list[Org]) -> None:
        self.tester = goods.net.tester
        self.reader = goods.cast.operator.address  # funded: eth-tester charges calls the block's gas
        for org in orgs:
            try:
                self.tester.add_account(to_hex(org.account.key))
            except tester_errors.ValidationError:
                pass  # added by an earlier example

    def send(self, fn: Any, sender: Org) -> None:
        """Mine `fn` from `sender`; it must succeed."""
        tx_hash = self.tester.send_transaction(
            {"from": sender.address, "to": fn.address, "data": fn._encode_transaction_data(), "gas": GAS}
        )
        if self.tester.get_transaction_receipt(tx_hash)["status"] != 1:
            raise AssertionError(f"{fn.fn_name} by {sender.name} reverted")

    def refused(self, fn: Any, sender: Org) -> ContractRevert:
        """Call `fn` as `sender`; it must revert with a custom error, which is returned."""
        try:
            self.tester.call(
                {"from": sender.address, "to": fn.address, "data": fn._encode_transaction_data()}
            )
        except tester_errors.TransactionFailed as exc:
            message = str(exc.args[0]) if exc.args else ""
            start = max(message.find("b'"), message.find('b"'))
            error = decode_revert(ast.literal_eval(message[start:])) if start >= 0 else None
            assert error is not None, f"{fn.fn_name} by {sender.name}: undecodable revert {message}"
            return error
        raise AssertionError(f"{fn.fn_name} by {sender.name} was expected to revert")

    def now(self) -> int:
        return int(self.tester.get_block_by_number("latest")["timestamp"])

    def read(self, fn: Any, types: list[str]) -> tuple[Any, ...]:
        out = self.tester.call({"from": self.reader, "to": fn.address, "data": fn._encode_transaction_data()})
        return abi_decode(types, bytes.fromhex(out[2:]))


class GoodsMachine(RuleBasedStateMachine):
    """One lot whose receipt starts issued to delta, status Unknown."""

    def __init__(self, goods: Goods) -> None:
        super().__init__()
        self.g = goods
        self.snapshot = goods.net.snapshot()
        self.orgs: dict[str, Org] = {name: getattr(goods.cast, name) for name in HOLDERS}
        self.by_id = {org.org_id: name for name, org in self.orgs.items()}
        self.raw = RawChain(goods, [*self.orgs.values(), goods.cast.oracle])
        # the model
        self.round = 0
        self.status = Status.UNKNOWN
        self.observed = 0  # observedAt of the last accepted report
        self.owner = "delta"
        self.pledgee: str | None = None
        self.until = 0
        self.state = ReceiptState.ISSUED
        self.frozen = False
        # for the transition invariant
        self.last_action = "init"
        self.seen_round = 0
        self.seen_owner = "delta"
        self.seen_frozen = False
        self.chain_status: dict[str, int] = {}

    def teardown(self) -> None:
        self.g.net.revert(self.snapshot)

    # ------------------------------------------------------------ helpers

    def _attempt(self, fn: Any, sender: Org, *, allowed: bool, error: str | None = None) -> None:
        if allowed:
            self.raw.send(fn, sender)
            return
        refused = self.raw.refused(fn, sender)
        assert error is None or refused.name == error, refused

    def _owned_free(self, by: str) -> bool:
        return self.state == ReceiptState.ISSUED and self.owner == by and not self.frozen

    # ------------------------------------------------------------ rules

    @rule(
        status=st.sampled_from([Status.OK, Status.WARNING, Status.ALERT, Status.OFFLINE]),
        step=st.sampled_from([-1, 0, 1, 1, 2]),
        earlier=st.sampled_from([False, False, False, True]),
    )
    def report(self, status: Status, step: int, earlier: bool) -> None:
        """A report for a round around the last; sometimes observed before the last accepted one."""
        self.last_action = "report"
        round_ = max(0, self.round + step)
        observed = self.observed - 1 if earlier and self.observed else self.raw.now()
        report = self.g.report(round_, status, observed_at=observed)
        fn = self.g.oracle.functions.submitReport(report.as_tuple(), self.g.sign(report))
        error = None
        if round_ <= self.round:
            error = "GoodsOracleStaleRound"
        elif observed < self.observed:
            error = "GoodsOracleStaleReport"  # observations may not go back in time
        self._attempt(fn, self.g.cast.oracle, allowed=error is None, error=error)
        if error is None:
            self.round, self.status, self.observed = round_, status, observed
            if self.state != ReceiptState.SURRENDERED:
                self.frozen = status in FREEZING

    @rule(by=st.sampled_from(HOLDERS), bank=st.sampled_from(BANKS))
    def pledge(self, by: str, bank: str) -> None:
        self.last_action = "pledge"
        until = self.raw.now() + DAY
        fn = self.g.receipts.functions.pledge(self.g.lot, self.orgs[bank].org_id, until)
        allowed = self._owned_free(by) and bank != by and self.status in (Status.OK, Status.WARNING)
        self._attempt(fn, self.orgs[by], allowed=allowed)
        if allowed:
            self.state, self.pledgee, self.until = ReceiptState.PLEDGED, bank, until

    @rule(bank=st.sampled_from(BANKS))
    def release(self, bank: str) -> None:
        self.last_action = "release"
        allowed = self.state == ReceiptState.PLEDGED and self.pledgee == bank
        self._attempt(self.g.receipts.functions.releasePledge(self.g.lot), self.orgs[bank], allowed=allowed)
        if allowed:
            self.state, self.pledgee, self.until = ReceiptState.ISSUED, None, 0

    @rule(bank=st.sampled_from(BANKS))
    def enforce(self, bank: str) -> None:
        self.last_action = "enforce"
        # terms are a day and time moves by whole days, so "after the term" is never a boundary case
        matured = self.raw.now() > self.until
        allowed = self.state == ReceiptState.PLEDGED and self.pledgee == bank and (self.frozen or matured)
        self._attempt(self.g.receipts.functions.enforcePledge(self.g.lot), self.orgs[bank], allowed=allowed)
        if allowed:
            self.owner, self.state, self.pledgee, self.until = bank, ReceiptState.ISSUED, None, 0

    @rule(by=st.sampled_from(HOLDERS), to=st.sampled_from(HOLDERS))
    def transfer(self, by: str, to: str) -> None:
        self.last_action = "transfer"
        fn = self.g.receipts.functions.transfer(self.g.lot, self.orgs[to].org_id)
        allowed = self._owned_free(by) and to != by
        self._attempt(fn, self.orgs[by], allowed=allowed)
        if allowed:
            self.owner = to

    @rule(by=st.sampled_from(HOLDERS))
    def surrender(self, by: str) -> None:
        self.last_action = "surrender"
        allowed = self._owned_free(by)
        self._attempt(self.g.receipts.functions.surrender(self.g.lot), self.orgs[by], allowed=allowed)
        if allowed:
            self.state = ReceiptState.SURRENDERED

    @rule()
    def wait_past_term(self) -> None:
        self.last_action = "wait"
        self.g.net.travel_to(self.raw.now() + 2 * DAY)

    # ------------------------------------------------------------ invariants

    @invariant()
    def chain_matches_model(self) -> None:
        f = self.g.receipts.functions
        fields = ("ownerOrg", "pledgeeOrg", "state", "frozen", "issuedAt", "pledgedUntil")
        types = ["uint32", "uint32", "uint8", "bool", "uint40", "uint40"]
        receipt = dict(zip(fields, self.raw.read(f.receipt(self.g.lot), types), strict=True))
        if self.last_action in ("init", "report"):  # nothing else moves the oracle's state
            status_types = ["uint8", "uint64", "uint40", "uint40"]
            lot_status = self.raw.read(self.g.oracle.functions.lotStatus(self.g.lot), status_types)
            self.chain_status = {"status": lot_status[0], "round": lot_status[1], "observed": lot_status[2]}
        status = self.chain_status
        owner = self.by_id[receipt["ownerOrg"]]
        pledgee = self.by_id.get(receipt["pledgeeOrg"]) if receipt["pledgeeOrg"] else None

        # pledged to at most one bank, and only while Pledged
        assert (receipt["state"] == ReceiptState.PLEDGED) == (pledgee is not None)
        assert pledgee is None or pledgee in BANKS
        # a frozen receipt changes owner only by enforcement
        if self.seen_frozen and owner != self.seen_owner:
            assert self.last_action == "enforce"
        # rounds strictly increase; the stored status is the last accepted report's
        assert status["round"] >= self.seen_round
        assert (status["round"], status["status"], status["observed"]) == (
            self.round,
            self.status,
            self.observed,
        )
        # frozen exactly while the status freezes (a surrendered receipt is left alone)
        if receipt["state"] != ReceiptState.SURRENDERED:
            assert receipt["frozen"] == (self.status in FREEZING)
        assert (owner, pledgee, receipt["state"], receipt["frozen"], receipt["pledgedUntil"]) == (
            self.owner,
            self.pledgee,
            self.state,
            self.frozen,
            self.until,
        )
        self.seen_round, self.seen_owner, self.seen_frozen = status["round"], owner, bool(receipt["frozen"])


def test_goods_state_machine_invariants_hold(goods: Goods) -> None:
    goods.issue()
    run_state_machine_as_test(
        lambda: GoodsMachine(goods),
        settings=settings(stateful_step_count=10),
    )
