"""Stateful property tests of the receivables suite (Hypothesis `RuleBasedStateMachine`).

A Python model of every piece, lock, financing request, root and settlement balance runs next to
the chain. Each step is one action: the model predicts its outcome, success or the exact custom error
with its arguments, and the chain must agree. After every step the invariants are checked against
on-chain state:

* value: the live (confirmed, unsplit, unsettled) pieces of a root sum to its face value minus what
  has been repaid, and the parts of a split piece sum exactly to it;
* encumbrance: at most one lock per piece and never on a consumed one, a financed piece stays
  financed until repaid and never yields a second `PieceFinanced`;
* settlement money: total supply moves only by mint and burn, and the balances of all known
  accounts sum to it (each one as the model says);
* custody: a holder changes only by a transfer its holder sent, or by a bank funding the piece;
* the ledger (holder, debtor, amount, due date, state, lock, depth, request, repayment) is the model.

Speed: py-evm is slow, so transactions go straight to eth-tester, signed, with a fixed gas limit (the
chain client's gas estimation re-runs each call a dozen times), and the per-step checks read the
contracts' storage directly; the storage layout is pinned below and cross-checked against the ABI
views at the end of every example. Every example starts from the same snapshot and reverts to it.

Time is kept away from day boundaries so the model can predict it exactly: the first block of an
example is at 12:00 China Standard Time, travel lands on 12:00-18:00 CST, due dates are at 12:00 CST
and request expiries at 06:00 CST (or exactly at the due date).
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from eth_tester.exceptions import TransactionFailed as EthTesterFailure
from eth_utils import keccak
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.contract.contract import ContractFunction

from chain.devnet import Org
from chain.errors import ContractRevert, decode_revert
from chain.roles import Role
from tests.contracts.support import DAY, DOC, Cast, child_id, key

STEPS = 12  # rule executions per example

# Receivables enums and limits (IReceivables.sol, Receivables.sol).
REGISTERED, CONFIRMED, SPLIT, SETTLED = 1, 2, 3, 4
FREE, REQUESTED, FINANCED, PLEDGED = 0, 1, 2, 3
MAX_RATE_PPM = 1_000_000
MAX_SPLIT_PARTS = 16
MAX_SPLIT_DEPTH = 8
MAX_REPAY_BATCH = 128
CORE_FIRM, SUPPLIER, BANK = int(Role.CORE_FIRM), int(Role.SUPPLIER), int(Role.BANK)

# Storage layout. Receivables: EIP712 name/version fallbacks (0, 1), Nonces (2), terms (3), then
# _pieces (4), _rootOf (5), _requests (6), _roots (7). SettlementToken (OpenZeppelin ERC20):
# _balances (0), _allowances (1), _totalSupply (2).
PIECES_SLOT, ROOT_OF_SLOT, REQUESTS_SLOT, ROOTS_SLOT = 4, 5, 6, 7
BALANCES_SLOT, TOTAL_SUPPLY_SLOT = 0, 2

GAS = 5_000_000
HOUR = 3_600
CST_NOON = 4 * HOUR  # 12:00 UTC+8, as seconds after 00:00 UTC
EXPIRY_BEFORE_NOON = 6 * HOUR  # request expiries fall at 06:00 CST

PIECE_FINANCED = keccak(text="PieceFinanced(uint256,uint32,uint32,uint32,uint32,uint96,uint96)")
RECEIVABLE_SETTLED = keccak(text="ReceivableSettled(uint256)")

M32, M40, M96 = 2**32 - 1, 2**40 - 1, 2**96 - 1

Expected = tuple[str, tuple[Any, ...]] | None  # (custom error, its arguments), or None for success

amounts = st.one_of(st.integers(1, 12), st.integers(13, 10**11))
invoice_lists = st.lists(
    st.tuples(amounts, st.integers(1, 365)), min_size=1, max_size=3
)  # (amount, tenor days)


def _mapping_slot(k: int, slot: int) -> int:
    return int.from_bytes(keccak(k.to_bytes(32, "big") + slot.to_bytes(32, "big")), "big")


def _day_of(at: int) -> int:
    """DiscountMath.dayOf: the calendar day (UTC+8) of timestamp `at`."""
    return (at + 8 * HOUR) // DAY


def _quote(amount: int, rate: int, fund_at: int, due: int) -> Expected | tuple[int, int]:
    """DiscountMath and Receivables._quote: (price, discount) or the error."""
    if rate == 0 or rate > MAX_RATE_PPM:
        return ("ReceivableInvalidRate", (rate,))
    days = max(_day_of(due) - _day_of(fund_at), 0)
    if days == 0:
        return ("ReceivableMatured", (None, due))  # id filled in by the caller
    discount = (amount * rate * days + 180_000_000) // 360_000_000
    if discount >= amount:
        return ("ReceivableInvalidRate", (rate,))
    return amount - discount, discount


@dataclass
class Piece:
    """The model of one piece."""

    root: int
    parent: int | None
    holder: int
    debtor: int
    amount: int
    due: int
    state: int = CONFIRMED
    lock: int = FREE
    lock_org: int = 0
    depth: int = 0
    children: tuple[int, ...] = ()
    request: tuple[int, int] | None = None  # (maxRatePpm, expiresAt)

    def on_chain(self) -> tuple[int, ...]:
        """The `piece()` tuple the contract should hold."""
        return (
            self.holder,
            self.debtor,
            self.amount,
            self.due,
            self.state,
            self.lock,
            self.depth,
            self.lock_org,
        )


@dataclass
class Ledger:
    """What the chain holds for the model's pieces and accounts, read from storage."""

    pieces: dict[int, tuple[int, ...]]
    root_of: dict[int, int]
    requests: dict[int, tuple[int, int]]
    roots: dict[int, tuple[int, int]]
    balances: dict[str, int]
    supply: int


@dataclass
class Move:
    """A holder change the last step was allowed to make."""

    from_org: int
    to_org: int
    via: str  # "transfer" or "fund"
    by: int  # the organisation that sent the transaction


@dataclass
class Book:
    """Per-example bookkeeping that is not part of a piece."""

    face: dict[int, int] = field(default_factory=dict)  # root -> face value
    repaid: dict[int, int] = field(default_factory=dict)  # root -> repaid so far (model)
    split_roots: set[int] = field(default_factory=set)  # roots whose repayment the contract tracks
    ever_financed: dict[int, int] = field(default_factory=dict)  # piece -> funding bank
    financed_events: Counter[int] = field(default_factory=Counter)  # piece -> PieceFinanced seen
    moves: dict[int, Move] = field(default_factory=dict)
    touched: list[int] = field(default_factory=list)


class ReceivablesMachine(RuleBasedStateMachine):
    """Random sequences of receivable actions against a model; invariants after every step."""

    cast: ClassVar[Cast]

    def __init__(self) -> None:
        super().__init__()
        c = self.cast
        self.c = c
        self.r = c.receivables.functions
        self.tester = c.net.tester
        self.chain_id = c.net.client.chain_id
        self.snapshot = c.net.snapshot()
        self.nonces: dict[str, int] = {}
        self.serial = 0

        self.huaxin = c.huaxin.org_id
        self.suppliers = [c.delta.org_id, c.eastern.org_id]
        self.banks = [c.bank_a.org_id, c.bank_b.org_id]
        self.actors: dict[int, Org] = {
            o.org_id: o for o in (c.huaxin, c.delta, c.eastern, c.bank_a, c.bank_b)
        }
        self.roles = {o.org_id: int(o.roles) for o in c.net.orgs.values()}
        self.payout = {o.org_id: o.address for o in c.net.orgs.values()}
        self.accounts = [o.address for o in c.net.orgs.values()] + [
            c.stranger.address,
            c.receivables.address,
            c.settlement.address,
        ]
        self.receivables_address = bytes.fromhex(c.receivables.address[2:])
        self.token_address = bytes.fromhex(c.settlement.address[2:])
        self.slots: dict[tuple[int, int], int] = {}

        # Start every example at 12:00 CST, at least a day ahead of the snapshot.
        self.t0 = (_day_of(self.head()) + 2) * DAY + CST_NOON
        c.net.travel_to(self.t0 + 1)  # the next block's timestamp: the head becomes t0

        self.pieces: dict[int, Piece] = {}
        self.book = Book()
        state = self.state()
        self.balances = {a: self._balance(state, a) for a in self.accounts}
        self.supply = state.get_storage(self.token_address, TOTAL_SUPPLY_SLOT)
        self.prev_holders: dict[int, int] = {}
        self._ledger_cache: tuple[int, Ledger] | None = None

    def teardown(self) -> None:
        try:
            self._check_storage_against_views()
        finally:
            self.c.net.revert(self.snapshot)

    # ------------------------------------------------------------------ chain access

    def head(self) -> int:
        return int(self.tester.get_block_by_number("latest")["timestamp"])

    def next_ts(self) -> int:
        """The timestamp of the next transaction's block (blocks follow their parent by 1 s)."""
        return self.head() + 1

    def day(self) -> int:
        """Days since the example's first 12:00 CST (time of day stays 12:00-18:00 CST)."""
        return (self.head() - self.t0) // DAY

    def noon(self, day: int) -> int:
        return self.t0 + day * DAY

    def travel(self, day: int, hours: int = 0) -> None:
        target = self.noon(day) + hours * HOUR
        assert target > self.head(), "time only moves forward"
        self.c.net.travel_to(target + 1)  # mines a block at `target`

    def state(self) -> Any:
        """The py-evm state at the head of the chain (storage reads are microseconds)."""
        return self.tester.backend.chain.get_vm().state

    def _slot(self, k: int, slot: int) -> int:
        found = self.slots.get((k, slot))
        if found is None:
            found = self.slots[(k, slot)] = _mapping_slot(k, slot)
        return found

    def _balance(self, state: Any, address: str) -> int:
        return state.get_storage(self.token_address, self._slot(int(address, 16), BALANCES_SLOT))

    def send(self, fn: ContractFunction, sender: Org) -> tuple[dict[str, Any] | None, ContractRevert | None]:
        """Mine `fn` from `sender`; return its receipt, or the decoded revert of the mined failure."""
        account = sender.account
        data = fn._encode_transaction_data()
        nonce = self.nonces.get(account.address)
        if nonce is None:
            nonce = self.tester.get_nonce(account.address)
        tx = {
            "to": fn.address,
            "data": data,
            "gas": GAS,
            "nonce": nonce,
            "chainId": self.chain_id,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 1,
            "type": 2,
        }
        tx_hash = self.tester.send_raw_transaction("0x" + account.sign_transaction(tx).raw_transaction.hex())
        self.nonces[account.address] = nonce + 1
        receipt = self.tester.get_transaction_receipt(tx_hash)
        for log in receipt["logs"]:
            topics = log["topics"]
            if bytes.fromhex(topics[0][2:]) == PIECE_FINANCED:
                self.book.financed_events[int(topics[1], 16)] += 1
        if receipt["status"] == 1:
            return receipt, None
        # Replay in the failed block (same time; the failure changed no contract state) to learn why.
        call = {"from": account.address, "to": fn.address, "data": data, "gas": GAS}
        try:
            self.tester.call(call, receipt["block_number"])
        except EthTesterFailure as exc:
            raw = exc.args[0] if exc.args else b""
            if isinstance(raw, str) and raw[:2] in ("b'", 'b"'):  # eth-tester may hand back the repr
                raw = ast.literal_eval(raw)
            error = decode_revert(raw if isinstance(raw, bytes) else None)
            if error is not None:
                return None, error
            raise AssertionError(f"{fn.fn_name} reverted without a known custom error: {exc!r}") from exc
        raise AssertionError(f"{fn.fn_name} reverted on chain but not when replayed")

    def act(self, fn: ContractFunction, sender: Org, expected: Expected) -> dict[str, Any] | None:
        """Send `fn`; the outcome must be `expected` (None: success). Return the receipt on success."""
        receipt, error = self.send(fn, sender)
        what = f"{fn.fn_name}{tuple(fn.args)} by {sender.name}"
        if expected is None:
            assert error is None, f"{what}: expected success, reverted with {error}"
            return receipt
        assert error is not None, f"{what}: expected {expected[0]}{expected[1]}, but it succeeded"
        name, args = expected
        got = tuple(v.lower() if isinstance(v, str) else v for v in error.args_by_name.values())
        assert (error.name, got) == (name, args), f"{what}: expected {name}{args}, got {error}"
        return None

    def ledger(self) -> Ledger:
        """The on-chain state of every modelled piece and account (cached per block)."""
        block = self.tester.backend.chain.get_canonical_head().block_number
        if self._ledger_cache is not None and self._ledger_cache[0] == block:
            return self._ledger_cache[1]
        state = self.state()
        pieces, root_of, requests, roots = {}, {}, {}, {}
        for pid in self.pieces:
            v = state.get_storage(self.receivables_address, self._slot(pid, PIECES_SLOT))
            pieces[pid] = (
                v & M32,
                (v >> 32) & M32,
                (v >> 64) & M96,
                (v >> 160) & M40,
                (v >> 200) & 0xFF,
                (v >> 208) & 0xFF,
                (v >> 216) & 0xFF,
                (v >> 224) & M32,
            )
            root_of[pid] = state.get_storage(self.receivables_address, self._slot(pid, ROOT_OF_SLOT))
            q = state.get_storage(self.receivables_address, self._slot(pid, REQUESTS_SLOT))
            requests[pid] = (q & M32, (q >> 32) & M40)
        for root in self.book.face:
            s = state.get_storage(self.receivables_address, self._slot(root, ROOTS_SLOT))
            roots[root] = (s & M96, (s >> 96) & 0xFF)
        balances = {a: self._balance(state, a) for a in self.accounts}
        supply = state.get_storage(self.token_address, TOTAL_SUPPLY_SLOT)
        ledger = Ledger(pieces, root_of, requests, roots, balances, supply)
        self._ledger_cache = (block, ledger)
        return ledger

    def _check_storage_against_views(self) -> None:
        """The storage decoding above must agree with the contracts' own views (last piece touched)."""
        ledger = self.ledger()
        pid = self.book.touched[-1]
        root = self.pieces[pid].root
        assert tuple(self.r.piece(pid).call()) == ledger.pieces[pid], "piece() vs storage"
        assert tuple(self.r.financeRequest(pid).call()) == ledger.requests[pid], "financeRequest() vs storage"
        # Storage counts the repayments of split roots; the view also reports a repaid unsplit root.
        assert tuple(self.r.rootStatus(root).call()) == (self.book.repaid[root], 0), "rootStatus() vs model"
        assert self.c.settlement.functions.totalSupply().call() == ledger.supply, "totalSupply() vs storage"

    # ------------------------------------------------------------------ model helpers

    def pick(self, data: st.DataObject, prefer: Any = None) -> int:
        """A piece id: nearly always one matching `prefer` (if any does), sometimes any piece at all."""
        ids = list(self.pieces)
        preferred = [pid for pid in ids if prefer is None or prefer(self.pieces[pid])]
        if preferred and data.draw(st.integers(0, 9), label="any piece?") < 9:
            pid = data.draw(st.sampled_from(preferred), label="piece")
        else:
            pid = data.draw(st.sampled_from(ids), label="piece")
        self.book.touched.append(pid)
        return pid

    def flaw(self, data: st.DataObject, *flaws: str, clean: int = 6) -> str:
        """What goes wrong with this attempt: "none" (`clean` times as likely as each flaw) or a flaw."""
        return data.draw(st.sampled_from(["none"] * clean + list(flaws)), label="flaw")

    def impostor(self, data: st.DataObject, rightful: int) -> int:
        """Any organisation of the cast but `rightful`."""
        return data.draw(st.sampled_from([o for o in self.actors if o != rightful]), label="impostor")

    def live(self, p: Piece) -> bool:
        return p.state == CONFIRMED

    def movable(self, p: Piece) -> bool:
        """A piece its supplier holder may split, transfer, offer or pledge."""
        return p.state == CONFIRMED and p.lock == FREE and p.holder in self.suppliers

    def role_error(self, org: int, role: int) -> Expected:
        if self.roles[org] & role != role:
            return ("ReceivableUnauthorized", (self.actors[org].address.lower(), role))
        return None

    def holder_piece_error(self, pid: int, org: int) -> Expected:
        p = self.pieces[pid]
        if p.state != CONFIRMED:
            return ("ReceivableWrongState", (pid, p.state))
        if p.holder != org:
            return ("ReceivableNotHolder", (pid, org))
        if p.lock != FREE:
            return self.locked_error(pid)
        return None

    def locked_error(self, pid: int) -> Expected:
        p = self.pieces[pid]
        if p.lock == FINANCED:
            return ("ReceivableAlreadyFinanced", (pid, p.lock_org))
        if p.lock == PLEDGED:
            return ("ReceivablePledged", (pid, p.lock_org))
        return ("ReceivableFinancingPending", (pid, p.lock_org))

    def counterparty_error(self, org: int, role: int, caller: int) -> Expected:
        if org == caller or self.roles.get(org, 0) & role == 0:
            return ("ReceivableInvalidCounterparty", (org,))
        return None

    def pay(self, from_org: int, to_org: int, amount: int) -> None:
        self.balances[self.payout[from_org]] -= amount
        self.balances[self.payout[to_org]] += amount

    # ------------------------------------------------------------------ rules

    @initialize(supplier=st.sampled_from([0, 1]), invoices=invoice_lists)
    def open_book(self, supplier: int, invoices: list[tuple[int, int]]) -> None:
        self.register_and_confirm(supplier, invoices)

    @rule(supplier=st.sampled_from([0, 1]), invoices=invoice_lists)
    def register_and_confirm(self, supplier: int, invoices: list[tuple[int, int]]) -> None:
        """A supplier registers invoices owed by Huaxin (one, or a batch); Huaxin confirms them."""
        creditor = self.suppliers[supplier]
        today = self.day()
        items = []
        for amount, tenor in invoices:
            self.serial += 1
            items.append((key(f"INV-{self.serial}"), self.huaxin, amount, self.noon(today + tenor), DOC))
        org = self.actors[creditor]
        if len(items) == 1:
            self.act(self.r.register(*items[0]), org, None)
            self.act(self.r.confirm(items[0][0]), self.c.huaxin, None)
        else:
            self.act(self.r.registerBatch(items), org, None)
            self.act(self.r.confirmBatch([item[0] for item in items]), self.c.huaxin, None)
        for rid, debtor, amount, due, _ in items:
            self.pieces[rid] = Piece(
                root=rid, parent=None, holder=creditor, debtor=debtor, amount=amount, due=due
            )
            self.book.face[rid] = amount
            self.book.repaid[rid] = 0
            self.book.touched.append(rid)

    @rule(data=st.data())
    def split(self, data: st.DataObject) -> None:
        """Split a piece into 2-4 parts; sometimes by a non-holder, into a wrong sum, or badly cut."""
        pid = self.pick(data, lambda p: self.movable(p) and p.amount >= 2)
        p = self.pieces[pid]
        flaw = self.flaw(data, "impostor", "wrong sum", "zero part", "one part")
        actor = self.impostor(data, p.holder) if flaw == "impostor" else p.holder
        n = min(data.draw(st.integers(2, 4), label="parts"), p.amount)
        if n >= 2:
            cuts = data.draw(
                st.lists(st.integers(1, p.amount - 1), min_size=n - 1, max_size=n - 1, unique=True)
            )
            parts = [b - a for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), p.amount], strict=True)]
        else:
            parts = [p.amount, 0]
        if flaw == "wrong sum":
            parts[-1] += data.draw(st.integers(-(parts[-1] - 1), 10**6).filter(bool), label="off by")
        elif flaw == "zero part":
            parts.insert(data.draw(st.integers(0, len(parts)), label="at"), 0)
        elif flaw == "one part":
            parts = [p.amount]
        expected = (
            self.role_error(actor, SUPPLIER)
            or self.holder_piece_error(pid, actor)
            or (None if 2 <= len(parts) <= MAX_SPLIT_PARTS else ("ReceivableSplitPartCount", (len(parts),)))
            or (("ReceivableSplitDepthExceeded", (pid, p.depth)) if p.depth >= MAX_SPLIT_DEPTH else None)
            or (("ReceivableInvalidAmount", (0,)) if 0 in parts else None)
            or (
                None
                if sum(parts) == p.amount
                else ("ReceivableSplitSumMismatch", (pid, p.amount, sum(parts)))
            )
        )
        if self.act(self.r.split(pid, parts), self.actors[actor], expected) is None:
            return
        children = tuple(child_id(pid, i) for i in range(len(parts)))
        for cid, amount in zip(children, parts, strict=True):
            self.pieces[cid] = replace(p, parent=pid, amount=amount, depth=p.depth + 1, children=())
            self.book.touched.append(cid)
        p.state, p.children = SPLIT, children
        self.book.split_roots.add(p.root)

    @rule(data=st.data())
    def transfer(self, data: st.DataObject) -> None:
        """Transfer a piece to the other supplier; sometimes by a non-holder or to a non-supplier."""
        pid = self.pick(data, self.movable)
        p = self.pieces[pid]
        flaw = self.flaw(data, "impostor", "to itself", "to a non-supplier")
        actor = self.impostor(data, p.holder) if flaw == "impostor" else p.holder
        to_org = next((s for s in self.suppliers if s != actor), self.suppliers[0])
        if flaw == "to itself":
            to_org = actor
        elif flaw == "to a non-supplier":
            to_org = data.draw(st.sampled_from([*self.banks, self.huaxin]), label="to")
        expected = (
            self.role_error(actor, SUPPLIER)
            or self.holder_piece_error(pid, actor)
            or self.counterparty_error(to_org, SUPPLIER, actor)
        )
        if self.act(self.r.transfer(pid, to_org), self.actors[actor], expected) is None:
            return
        self.book.moves[pid] = Move(p.holder, to_org, "transfer", actor)
        p.holder = to_org

    @rule(data=st.data())
    def request_financing(self, data: st.DataObject) -> None:
        """Ask a bank, or the market, to finance a piece; sometimes wrongly."""
        pid = self.pick(data, self.movable)
        p = self.pieces[pid]
        flaw = self.flaw(data, "impostor", "not a bank", "bad rate", "bad expiry")
        actor = self.impostor(data, p.holder) if flaw == "impostor" else p.holder
        bank = data.draw(st.sampled_from([0, *self.banks]), label="bank")
        if flaw == "not a bank":
            bank = data.draw(st.sampled_from([*self.suppliers, self.huaxin]), label="bank")
        rate = data.draw(st.integers(1, MAX_RATE_PPM), label="max rate")
        if flaw == "bad rate":
            rate = data.draw(st.sampled_from([0, MAX_RATE_PPM + 1]), label="max rate")
        today, due_day = self.day(), (p.due - self.t0) // DAY
        if flaw == "bad expiry":
            expires = data.draw(st.sampled_from([self.head(), p.due + 1]), label="expires")
        elif data.draw(st.booleans(), label="expires at due"):
            expires = p.due
        else:
            expires = (
                self.noon(data.draw(st.integers(today + 1, max(today + 1, due_day)))) - EXPIRY_BEFORE_NOON
            )
        ts = self.next_ts()
        expected = (
            self.role_error(actor, SUPPLIER)
            or self.holder_piece_error(pid, actor)
            or (self.counterparty_error(bank, BANK, actor) if bank != 0 else None)
            or (("ReceivableInvalidRate", (rate,)) if rate == 0 or rate > MAX_RATE_PPM else None)
            or (("ReceivableInvalidExpiry", (expires,)) if expires <= ts or expires > p.due else None)
            or (("ReceivableMatured", (pid, p.due)) if _day_of(p.due) <= _day_of(ts) else None)
        )
        if self.act(self.r.requestFinancing(pid, bank, rate, expires), self.actors[actor], expected) is None:
            return
        p.lock, p.lock_org, p.request = REQUESTED, bank, (rate, expires)
        if data.draw(st.integers(0, 3), label="no bank answers at once") < 3:
            self.fund_piece(data, pid, self.flaw(data, "wrong bank", "not a bank", "above the maximum"))

    @precondition(lambda self: any(p.lock == REQUESTED for p in self.pieces.values()))
    @rule(data=st.data())
    def cancel_financing_request(self, data: st.DataObject) -> None:
        pid = self.pick(data, lambda p: p.lock == REQUESTED)
        p = self.pieces[pid]
        actor = self.impostor(data, p.holder) if self.flaw(data, "impostor") == "impostor" else p.holder
        expected = (
            self.role_error(actor, SUPPLIER)
            or (("ReceivableNotHolder", (pid, actor)) if p.holder != actor else None)
            or (("ReceivableNoFinanceRequest", (pid,)) if p.lock != REQUESTED else None)
        )
        if self.act(self.r.cancelFinancingRequest(pid), self.actors[actor], expected) is None:
            return
        p.lock, p.lock_org, p.request = FREE, 0, None

    @precondition(lambda self: any(p.lock in (REQUESTED, FINANCED) for p in self.pieces.values()))
    @rule(data=st.data())
    def fund(self, data: st.DataObject) -> None:
        """A bank funds a piece (DvP); sometimes the wrong bank, a financed piece, or a bad rate."""
        flaw = self.flaw(data, "wrong bank", "not a bank", "above the maximum", "financed piece")
        if flaw == "financed piece" and self.book.ever_financed:
            pid = self.pick(data, lambda p: p.lock == FINANCED or p.holder in self.banks)
        else:
            pid = self.pick(data, lambda p: p.lock == REQUESTED)
        self.fund_piece(data, pid, flaw)

    def fund_piece(self, data: st.DataObject, pid: int, flaw: str) -> None:
        p = self.pieces[pid]
        bank = (
            p.lock_org if p.lock_org in self.banks else data.draw(st.sampled_from(self.banks), label="bank")
        )
        if flaw == "wrong bank":
            bank = next(b for b in self.banks if b != bank)
        elif flaw == "not a bank":
            bank = data.draw(st.sampled_from([*self.suppliers, self.huaxin]), label="bank")
        max_rate = p.request[0] if p.request else MAX_RATE_PPM
        rate = data.draw(st.integers(1, max_rate), label="rate")
        if flaw == "above the maximum":
            rate = data.draw(st.sampled_from([0, max_rate + 1, 2**32 - 1]), label="rate")
        ts = self.next_ts()
        quoted = _quote(p.amount, rate, ts, p.due)
        expected: Expected = None
        if self.roles[bank] & BANK == 0:
            expected = ("ReceivableUnauthorized", (self.actors[bank].address.lower(), BANK))
        elif p.state != CONFIRMED:
            expected = ("ReceivableWrongState", (pid, p.state))
        elif p.lock != REQUESTED:
            expected = ("ReceivableNoFinanceRequest", (pid,)) if p.lock == FREE else self.locked_error(pid)
        elif p.lock_org not in (0, bank):
            expected = ("ReceivableRequestNotForBank", (pid, bank))
        elif p.holder == bank:  # no self-financing
            expected = ("ReceivableInvalidCounterparty", (bank,))
        elif p.request is not None and ts >= p.request[1]:
            expected = ("ReceivableRequestExpired", (pid, p.request[1]))
        elif p.request is not None and rate > p.request[0]:
            expected = ("ReceivableRateAboveMaximum", (pid, rate, p.request[0]))
        elif isinstance(quoted[0], str):
            expected = (quoted[0], (pid, p.due) if quoted[0] == "ReceivableMatured" else quoted[1])
        receipt = self.act(self.r.fund(pid, rate), self.actors[bank], expected)
        if receipt is None:
            return
        price = quoted[0]
        self.pay(bank, p.holder, price)
        self.book.moves[pid] = Move(p.holder, bank, "fund", bank)
        self.book.ever_financed[pid] = bank
        p.holder, p.lock, p.lock_org, p.request = bank, FINANCED, bank, None

    @rule(data=st.data())
    def pledge(self, data: st.DataObject) -> None:
        pid = self.pick(data, self.movable)
        p = self.pieces[pid]
        flaw = self.flaw(data, "impostor", "not a bank")
        actor = self.impostor(data, p.holder) if flaw == "impostor" else p.holder
        bank = data.draw(st.sampled_from(self.banks), label="pledgee")
        if flaw == "not a bank":
            bank = data.draw(st.sampled_from([*self.suppliers, self.huaxin]), label="pledgee")
        expected = (
            self.role_error(actor, SUPPLIER)
            or self.holder_piece_error(pid, actor)
            or self.counterparty_error(bank, BANK, actor)
        )
        if self.act(self.r.pledge(pid, bank), self.actors[actor], expected) is None:
            return
        p.lock, p.lock_org = PLEDGED, bank

    @precondition(lambda self: any(p.lock == PLEDGED for p in self.pieces.values()))
    @rule(data=st.data())
    def release_pledge(self, data: st.DataObject) -> None:
        pid = self.pick(data, lambda p: p.lock == PLEDGED)
        p = self.pieces[pid]
        pledgee = p.lock_org if p.lock == PLEDGED else self.banks[0]
        actor = self.impostor(data, pledgee) if self.flaw(data, "impostor") == "impostor" else pledgee
        expected = self.role_error(actor, BANK)
        if expected is None and (p.lock != PLEDGED or p.lock_org != actor):
            expected = ("ReceivableNotPledgee", (pid, actor))
        if self.act(self.r.releasePledge(pid), self.actors[actor], expected) is None:
            return
        p.lock, p.lock_org = FREE, 0

    @rule(data=st.data())
    def repay(self, data: st.DataObject) -> None:
        """Huaxin repays some live pieces, early or at maturity; sometimes a stale or foreign batch."""
        live = [pid for pid, p in self.pieces.items() if self.live(p)]
        stale = [pid for pid, p in self.pieces.items() if not self.live(p)]
        ids = data.draw(st.lists(st.sampled_from(live), min_size=1, max_size=5, unique=True)) if live else []
        flaw = self.flaw(data, "stale piece", "duplicate", "not the debtor")
        if flaw == "stale piece" and stale:
            ids.insert(data.draw(st.integers(0, len(ids)), label="at"), data.draw(st.sampled_from(stale)))
        elif flaw == "duplicate" and ids:
            ids.append(ids[0])
        actor = self.impostor(data, self.huaxin) if flaw == "not the debtor" else self.huaxin
        if ids and data.draw(st.booleans(), label="at maturity"):
            due_day = max((self.pieces[pid].due - self.t0) // DAY for pid in ids)
            if due_day > self.day():
                self.travel(due_day, data.draw(st.integers(0, 6), label="hours"))
        self.book.touched.extend(ids)

        expected = self.role_error(actor, CORE_FIRM)
        if expected is None and not 1 <= len(ids) <= MAX_REPAY_BATCH:
            expected = ("ReceivableBatchSize", (len(ids), MAX_REPAY_BATCH))
        seen: set[int] = set()
        for pid in ids if expected is None else []:
            p = self.pieces[pid]
            state = SETTLED if pid in seen else p.state
            if p.debtor != actor:
                expected = ("ReceivableNotDebtor", (pid, actor))
            elif state != CONFIRMED:
                expected = ("ReceivableWrongState", (pid, state))
            if expected is not None:
                break
            seen.add(pid)
        receipt = self.act(self.r.repay(ids), self.actors[actor], expected)
        if receipt is None:
            return
        settled = set()
        for pid in ids:
            p = self.pieces[pid]
            payee = p.lock_org if p.lock == PLEDGED else p.holder  # a pledge pays its pledgee
            self.pay(self.huaxin, payee, p.amount)
            p.state, p.lock, p.lock_org, p.request = SETTLED, FREE, 0, None
            self.book.repaid[p.root] += p.amount
            if self.book.repaid[p.root] == self.book.face[p.root]:
                settled.add(p.root)
        emitted = {
            int(log["topics"][1], 16)
            for log in receipt["logs"]
            if bytes.fromhex(log["topics"][0][2:]) == RECEIVABLE_SETTLED
        }
        assert emitted == settled, f"ReceivableSettled for {emitted}, expected {settled}"

    @rule(days=st.one_of(st.integers(1, 30), st.integers(31, 200)), hours=st.integers(0, 6))
    def advance_time(self, days: int, hours: int) -> None:
        self.travel(self.day() + days, hours)

    @rule(data=st.data())
    def mint_or_burn(self, data: st.DataObject) -> None:
        """Banks mint and burn deposits: the only ways the settlement supply may change."""
        bank = data.draw(st.sampled_from(self.banks), label="bank")
        amount = data.draw(st.integers(1, 10**9), label="amount")
        token = self.c.settlement.functions
        if data.draw(st.booleans(), label="mint"):
            to = data.draw(st.sampled_from(list(self.actors)), label="to")
            self.act(token.mint(self.payout[to], amount), self.actors[bank], None)
            self.balances[self.payout[to]] += amount
            self.supply += amount
        else:
            self.act(token.burn(amount), self.actors[bank], None)
            self.balances[self.payout[bank]] -= amount
            self.supply -= amount

    # ------------------------------------------------------------------ invariants

    @invariant()
    def ledger_matches_model(self) -> None:
        chain = self.ledger()
        for pid, p in self.pieces.items():
            assert chain.pieces[pid] == p.on_chain(), f"piece {pid:#x}: chain {chain.pieces[pid]}, model {p}"
            assert chain.root_of[pid] == (0 if p.parent is None else p.root), f"rootOf {pid:#x}"
            assert chain.requests[pid] == (p.request or (0, 0)), f"financeRequest {pid:#x}"
        for root in self.book.face:
            # Storage counts repayments per root once it is split; an unsplit root is repaid whole and
            # rootStatus() derives it from its state (checked against the view in teardown).
            tracked = self.book.repaid[root] if root in self.book.split_roots else 0
            assert chain.roots[root] == (tracked, 0), f"rootStatus {root:#x}: {chain.roots[root]}"

    @invariant()
    def value_is_conserved(self) -> None:
        chain = self.ledger()
        live: Counter[int] = Counter()
        for pid, p in self.pieces.items():
            state, amount = chain.pieces[pid][4], chain.pieces[pid][2]
            if state == CONFIRMED:
                live[p.root] += amount
            if state == SPLIT:
                parts = sum(chain.pieces[c][2] for c in p.children)
                assert parts == amount, f"parts of {pid:#x} sum to {parts}, not {amount}"
        for root, face in self.book.face.items():
            repaid = self.book.repaid[root]
            if root in self.book.split_roots:
                assert chain.roots[root][0] == repaid, f"rootStatus {root:#x} repaid {chain.roots[root][0]}"
            assert live[root] == face - repaid, f"root {root:#x}: live {live[root]} != {face} - {repaid}"

    @invariant()
    def at_most_one_lock(self) -> None:
        chain = self.ledger()
        for pid, (holder, _, _, _, state, lock, _, lock_org) in chain.pieces.items():
            request = chain.requests[pid]
            if state != CONFIRMED:
                assert (lock, lock_org) == (FREE, 0), f"consumed piece {pid:#x} is still locked"
            assert (request != (0, 0)) == (lock == REQUESTED), f"request of {pid:#x} vs lock {lock}"
            if lock == FREE:
                assert lock_org == 0, f"unlocked {pid:#x} names org {lock_org}"
            elif lock == REQUESTED:
                assert lock_org in (0, *self.banks), f"request of {pid:#x} addressed to {lock_org}"
            elif lock == FINANCED:
                assert holder == lock_org in self.banks, f"financed {pid:#x} held by {holder}, not its bank"
            else:
                assert lock == PLEDGED and lock_org in self.banks, f"lock {lock} of {pid:#x}"
            if holder in self.banks:  # banks hold pieces only by funding them
                assert self.book.ever_financed.get(pid) == holder, f"bank {holder} holds unfunded {pid:#x}"
        for pid, count in self.book.financed_events.items():
            assert count <= 1, f"{count} PieceFinanced events for {pid:#x}"
        for pid, bank in self.book.ever_financed.items():
            assert self.book.financed_events[pid] == 1, f"no PieceFinanced event for {pid:#x}"
            holder, state, lock = chain.pieces[pid][0], chain.pieces[pid][4], chain.pieces[pid][5]
            assert holder == bank and (lock == FINANCED or state == SETTLED), f"financed {pid:#x} moved"

    @invariant()
    def settlement_supply_is_conserved(self) -> None:
        chain = self.ledger()
        assert chain.supply == self.supply, f"totalSupply {chain.supply}, expected {self.supply}"
        assert sum(chain.balances.values()) == chain.supply, "known balances do not sum to the supply"
        wrong = {a: (chain.balances[a], b) for a, b in self.balances.items() if chain.balances[a] != b}
        assert not wrong, f"balances (chain, model): {wrong}"

    @invariant()
    def holders_move_only_by_their_holder_or_funding(self) -> None:
        chain = self.ledger()
        holders = {pid: piece[0] for pid, piece in chain.pieces.items()}
        for pid, holder in holders.items():
            before = self.prev_holders.get(pid)
            if before is None:  # new this step: a root with its creditor, or a part with its parent's holder
                parent = self.pieces[pid].parent
                if parent is not None:
                    assert holder == holders[parent], f"part {pid:#x} not held by its parent's holder"
                continue
            if holder == before:
                continue
            move = self.book.moves.get(pid)
            assert move is not None, f"{pid:#x} moved from {before} to {holder} with no transfer or funding"
            assert (move.from_org, move.to_org) == (before, holder), (
                f"{pid:#x} moved {before}->{holder}: {move}"
            )
            if move.via == "transfer":
                assert move.by == before, "transferred by someone other than its holder"
            else:
                assert move.by == holder and holder in self.banks, "funded by someone other than the bank"
        self.prev_holders = holders
        self.book.moves.clear()


def test_receivables_invariants(cast: Cast) -> None:
    """The invariants hold over random action sequences (HYPOTHESIS_PROFILE sets how many)."""
    for org in (cast.huaxin, cast.delta, cast.eastern, cast.bank_a, cast.bank_b):
        assert cast.registry.functions.orgStatus(org.org_id).call()[1] == org.address  # payout = account
    ReceivablesMachine.cast = cast
    run_state_machine_as_test(ReceivablesMachine, settings=settings(stateful_step_count=STEPS))


def test_root_status_counts_direct_repayment(cast: Cast) -> None:
    """rootStatus reports the repayment of every root, split or not (once a bug, now fixed)."""
    r = cast.receivables.functions
    rid = cast.confirmed("INV-ROOT-STATUS", amount=1_000_00, days=30)
    cast.tx(r.repay([rid]), cast.huaxin)
    assert cast.piece(rid)["state"] == SETTLED
    assert r.rootStatus(rid).call()[0] == 1_000_00
