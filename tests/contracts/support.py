"""Helpers for contract tests: revert and event assertions, receivable set-up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract
from web3.logs import EventLogErrorFlags
from web3.types import TxReceipt

from chain.devnet import DevNet, Org
from chain.errors import ContractRevert
from chain.identifiers import part_id

DAY = 86_400
DOC = keccak(text="INV-1001.pdf")
AMOUNT = 1_000_000_00
# A fixed gas limit skips eth-tester's gas estimate (a dozen EVM runs); refusals still decode.
GAS = 10_000_000


class State(IntEnum):
    """IReceivables.State."""

    NONE = 0
    REGISTERED = 1
    CONFIRMED = 2
    SPLIT = 3
    SETTLED = 4
    REJECTED = 5
    CANCELLED = 6


def _norm(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    return value


@contextmanager
def reverts(name: str, **expected: Any) -> Iterator[pytest.ExceptionInfo[ContractRevert]]:
    """Expect a custom error `name` with (at least) the `expected` arguments."""
    with pytest.raises(ContractRevert) as info:
        yield info
    assert info.value.name == name, f"expected {name}, got {info.value}"
    for key, value in expected.items():
        assert _norm(info.value.args_by_name[key]) == _norm(value), f"{name}.{key}: {info.value}"


def events(receipt: TxReceipt, contract: Contract, name: str) -> list[dict[str, Any]]:
    """The `name` events `contract` emitted in `receipt`, as dicts of their arguments."""
    return [
        dict(e["args"])
        for e in getattr(contract.events, name)().process_receipt(receipt, errors=EventLogErrorFlags.Discard)
    ]


def event(receipt: TxReceipt, contract: Contract, name: str) -> dict[str, Any]:
    """The single `name` event of `receipt`."""
    found = events(receipt, contract, name)
    assert len(found) == 1, f"expected one {name}, got {found}"
    return found[0]


def soon(net: DevNet, seconds: int) -> int:
    """A time `seconds` after the next block's own timestamp, safe to travel to.

    After a snapshot revert eth-tester stamps the next block with the wall clock, which on a long
    (or busy) run lies well past the head's timestamp: `net.now() + seconds` may be in the past.
    """
    pending = int(net.tester.get_block_by_number("pending")["timestamp"])
    return max(net.now(), pending) + seconds


def key(label: str) -> int:
    """A receivable id (stand-in for a canonical invoice key) from a label."""
    return int.from_bytes(keccak(text=label), "big") >> 1  # root ids stay below 2^255


def child_id(parent: int, index: int) -> int:
    """The id the contract gives part `index` of `parent`."""
    return part_id(parent, index)


def ok(cast: Cast, fn: Any, sender: Org | LocalAccount, gas: int = GAS) -> TxReceipt:
    """Send a call expected to succeed, with a fixed gas limit."""
    account = sender.account if isinstance(sender, Org) else sender
    return cast.net.client.transact(fn, account, gas=gas)


def registered(cast: Cast, label: str = "INV-1", amount: int = AMOUNT, days: int = 90) -> int:
    """Register an invoice from Delta to Huaxin due in `days`; return its id."""
    rid = key(label)
    due = cast.net.now() + days * DAY
    ok(cast, cast.receivables.functions.register(rid, cast.huaxin.org_id, amount, due, DOC), cast.delta)
    return rid


def confirmed(cast: Cast, label: str = "INV-1", amount: int = AMOUNT, days: int = 90) -> int:
    """Register and confirm an invoice from Delta to Huaxin; return its id."""
    rid = registered(cast, label, amount, days)
    ok(cast, cast.receivables.functions.confirm(rid), cast.huaxin)
    return rid


FATES = [("confirm", State.CONFIRMED), ("cancel", State.CANCELLED), ("reject", State.REJECTED)]


def decided(cast: Cast, label: str, fate: str) -> int:
    """Register an invoice, then confirm, cancel or reject it (`fate`); return its id."""
    r = cast.receivables.functions
    rid = registered(cast, label)
    if fate == "confirm":
        ok(cast, r.confirm(rid), cast.huaxin)
    elif fate == "cancel":
        ok(cast, r.cancel(rid), cast.delta)
    else:
        ok(cast, r.reject(rid, b"\x01" * 32), cast.huaxin)
    return rid


@dataclass
class Cast:
    """The reference scenario's organisations on a fresh chain, plus a stranger."""

    net: DevNet
    operator: Org
    huaxin: Org
    delta: Org
    eastern: Org
    bank_a: Org
    bank_b: Org
    north: Org
    cpa: Org
    oracle: Org
    stranger: LocalAccount

    @property
    def receivables(self) -> Contract:
        return self.net.suite.receivables

    @property
    def registry(self) -> Contract:
        return self.net.suite.registry

    @property
    def settlement(self) -> Contract:
        return self.net.suite.settlement

    def tx(self, fn: Any, sender: Org | LocalAccount) -> TxReceipt:
        return self.net.tx(fn, sender)

    def balance(self, org: Org) -> int:
        return self.settlement.functions.balanceOf(org.address).call()

    def registered(self, label: str = "INV-1001", amount: int = 1_000_000_00, days: int = 90) -> int:
        """Register an invoice from Delta to Huaxin; return its id."""
        rid = key(label)
        due = self.net.now() + days * DAY
        self.tx(self.receivables.functions.register(rid, self.huaxin.org_id, amount, due, DOC), self.delta)
        return rid

    def confirmed(self, label: str = "INV-1001", amount: int = 1_000_000_00, days: int = 90) -> int:
        """Register and confirm an invoice from Delta to Huaxin; return its id."""
        rid = self.registered(label, amount, days)
        self.tx(self.receivables.functions.confirm(rid), self.huaxin)
        return rid

    def piece(self, rid: int) -> dict[str, Any]:
        fields = ("holderOrg", "debtorOrg", "amountMinor", "dueAt", "state", "lock", "depth", "lockOrg")
        return dict(zip(fields, self.receivables.functions.piece(rid).call(), strict=True))
