"""Role matrix of the goods contracts: every role, a stranger and a suspended member x every state change.

Each cell sets up the state in which the function's rightful caller succeeds, then calls it as the
cell's actor and expects success, the exact custom error, and no state change on refusal. The
suspended actor is the rightful caller's organisation, suspended (for operator functions, a second
operator organisation, since the operator cannot suspend itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract

from chain.devnet import Org
from chain.roles import Role
from tests.contracts.goods_support import (
    LOT_INFO,
    MAX_REPORT_AGE,
    OWNER_ROLES,
    Goods,
    Status,
    devices_for,
    goods_world,
    lot_id,
)
from tests.contracts.support import DAY, Cast, events, reverts

ACTORS = (
    "operator",
    "core_firm",
    "supplier",
    "bank",
    "warehouse",
    "auditor",
    "oracle",
    "stranger",
    "suspended",
)
CAST_NAME = {
    "operator": "operator",
    "core_firm": "huaxin",
    "supplier": "delta",
    "bank": "bank_a",
    "warehouse": "north",
    "auditor": "cpa",
    "oracle": "oracle",
    "stranger": "stranger",
}


@dataclass
class World:
    goods: Goods
    spare_operator: Org  # a second operator organisation, suspended in the operator functions' cells
    fresh_oracle: Contract  # a GoodsOracle without listener, for setListener


@pytest.fixture(scope="module")
def world(cast: Cast) -> Iterator[World]:
    for goods in goods_world(cast, prefix="matrix"):
        spare = goods.admit("matrix-operator-2", Role.OPERATOR)
        fresh, _ = goods.net.client.deploy(
            "GoodsOracle", cast.operator.account, cast.registry.address, MAX_REPORT_AGE
        )
        yield World(goods, spare, fresh)


@dataclass(frozen=True)
class Spec:
    """One state-changing function: its set-up, call, rightful caller, success event and guard."""

    contract: str  # "oracle" | "receipts"
    rightful: str  # actor name of the caller that succeeds
    setup: Callable[[World], None]
    call: Callable[[World], Any]
    success_event: str
    required_role: int | None  # None: guarded by caller identity (onLotStatus)
    wrong_party: dict[str, tuple[str, Callable[[World, Org], dict[str, Any]]]]  # actor -> (error, args)


def _none(w: World) -> None:
    return None


def _spare_signer(w: World) -> None:
    """A fourth oracle operator's signer, so removing one keeps the 2f + 1 = 3 organisations that
    removeSigner insists on."""
    spare = w.goods.admit("matrix-spare-oracle", Role.ORACLE)
    w.goods.send(w.goods.oracle.functions.addSigner(spare.address), w.goods.cast.operator)


def _issued(w: World) -> None:
    w.goods.issue()


def _ok_issued(w: World) -> None:
    w.goods.post(Status.OK)
    w.goods.issue()


def _pledged(w: World) -> None:
    w.goods.pledged()


def _pledged_frozen(w: World) -> None:
    w.goods.pledged()
    w.goods.post(Status.ALERT)


def _not_owner(w: World, org: Org) -> dict[str, Any]:
    return {"receiptId": w.goods.lot, "orgId": org.org_id}


def _next_report(w: World) -> Any:
    g = w.goods
    report = g.report(g.lot_status()["round"] + 1, Status.WARNING)
    return g.oracle.functions.submitReport(report.as_tuple(), g.sign(report))


NEW_SIGNER = to_checksum_address(keccak(text="matrix-new-signer")[:20])
NEW_LISTENER = to_checksum_address(keccak(text="matrix-listener")[:20])
OWNER_WRONG_PARTY = {
    "core_firm": ("WarehouseNotOwner", _not_owner),
    "bank": ("WarehouseNotOwner", _not_owner),
}

SPECS: dict[str, Spec] = {
    "oracle.submitReport": Spec(
        "oracle", "oracle", _none, _next_report, "ReportAccepted", int(Role.ORACLE), {}
    ),
    "oracle.addSigner": Spec(
        "oracle",
        "operator",
        _none,
        lambda w: w.goods.oracle.functions.addSigner(NEW_SIGNER),
        "SignerAdded",
        int(Role.OPERATOR),
        {},
    ),
    "oracle.removeSigner": Spec(
        "oracle",
        "operator",
        _spare_signer,
        lambda w: w.goods.oracle.functions.removeSigner(w.goods.signers[2].address),
        "SignerRemoved",
        int(Role.OPERATOR),
        {},
    ),
    "oracle.setFaultTolerance": Spec(
        "oracle",
        "operator",
        _none,
        lambda w: w.goods.oracle.functions.setFaultTolerance(1),
        "FaultToleranceChanged",
        int(Role.OPERATOR),
        {},
    ),
    "oracle.setMaxReportAge": Spec(
        "oracle",
        "operator",
        _none,
        lambda w: w.goods.oracle.functions.setMaxReportAge(600),
        "MaxReportAgeChanged",
        int(Role.OPERATOR),
        {},
    ),
    "oracle.setListener": Spec(
        "fresh_oracle",
        "operator",
        _none,
        lambda w: w.fresh_oracle.functions.setListener(NEW_LISTENER),
        "ListenerSet",
        int(Role.OPERATOR),
        {},
    ),
    "receipts.registerLot": Spec(
        "receipts",
        "warehouse",
        _none,
        lambda w: w.goods.receipts.functions.registerLot(lot_id("M-NEW"), LOT_INFO, devices_for("M-NEW", 2)),
        "LotRegistered",
        int(Role.WAREHOUSE),
        {},
    ),
    "receipts.issueReceipt": Spec(
        "receipts",
        "warehouse",
        _none,
        lambda w: w.goods.receipts.functions.issueReceipt(
            w.goods.lot, w.goods.cast.delta.org_id, b"\x01" * 32
        ),
        "ReceiptIssued",
        int(Role.WAREHOUSE),
        {},
    ),
    "receipts.transfer": Spec(
        "receipts",
        "supplier",
        _issued,
        lambda w: w.goods.receipts.functions.transfer(w.goods.lot, w.goods.cast.eastern.org_id),
        "ReceiptTransferred",
        OWNER_ROLES,
        OWNER_WRONG_PARTY,
    ),
    "receipts.pledge": Spec(
        "receipts",
        "supplier",
        _ok_issued,
        lambda w: w.goods.receipts.functions.pledge(
            w.goods.lot, w.goods.cast.bank_b.org_id, w.goods.net.now() + 30 * DAY
        ),
        "ReceiptPledged",
        OWNER_ROLES,
        OWNER_WRONG_PARTY,
    ),
    "receipts.releasePledge": Spec(
        "receipts",
        "bank",
        _pledged,
        lambda w: w.goods.receipts.functions.releasePledge(w.goods.lot),
        "ReceiptPledgeReleased",
        int(Role.BANK),
        {},
    ),
    "receipts.enforcePledge": Spec(
        "receipts",
        "bank",
        _pledged_frozen,
        lambda w: w.goods.receipts.functions.enforcePledge(w.goods.lot),
        "ReceiptPledgeEnforced",
        int(Role.BANK),
        {},
    ),
    "receipts.surrender": Spec(
        "receipts",
        "supplier",
        _issued,
        lambda w: w.goods.receipts.functions.surrender(w.goods.lot),
        "ReceiptSurrendered",
        OWNER_ROLES,
        OWNER_WRONG_PARTY,
    ),
    "receipts.onLotStatus": Spec(
        "receipts",
        "",  # nobody: only the oracle contract may call
        _issued,
        lambda w: w.goods.receipts.functions.onLotStatus(w.goods.lot, Status.ALERT),
        "ReceiptFrozen",
        None,
        {},
    ),
}

CELLS = [(fn, actor) for fn in SPECS for actor in ACTORS]


def _contract(w: World, spec: Spec) -> Contract:
    return {"oracle": w.goods.oracle, "fresh_oracle": w.fresh_oracle, "receipts": w.goods.receipts}[
        spec.contract
    ]


def _state(w: World, spec: Spec) -> tuple[Any, ...]:
    """What a refusal must leave unchanged, read from the contract the function belongs to."""
    g = w.goods
    if spec.contract == "oracle":
        return g.oracle_state()
    if spec.contract == "fresh_oracle":
        return tuple(w.fresh_oracle.functions.parameters().call())
    return (g.receipts_state(), g.lot_record(lot_id("M-NEW")))


def _actor(w: World, spec: Spec, actor: str) -> Org | Any:
    g = w.goods
    if actor != "suspended":
        return getattr(g.cast, CAST_NAME[actor])
    if spec.rightful == "operator":
        victim = w.spare_operator
    else:
        victim = getattr(g.cast, CAST_NAME[spec.rightful or "oracle"])
    g.suspend(victim)
    return victim


def _expected(w: World, spec: Spec, actor: str, who: Any) -> tuple[str, dict[str, Any]] | None:
    """None for success, else (error name, arguments)."""
    if spec.required_role is None:
        return "WarehouseNotOracle", {"caller": who.address}
    if actor == spec.rightful:
        return None
    if actor in spec.wrong_party:
        name, args = spec.wrong_party[actor]
        return name, args(w, who)
    prefix = "GoodsOracle" if "oracle" in spec.contract else "Warehouse"
    return f"{prefix}Unauthorized", {"account": who.address, "requiredRole": spec.required_role}


def test_role_matrix_cell_count() -> None:
    print(f"\ngoods role matrix: {len(SPECS)} functions x {len(ACTORS)} actors = {len(CELLS)} cells")
    assert len(SPECS) == 14
    assert len(ACTORS) == 9
    assert len(CELLS) == 126 == len(set(CELLS))


@pytest.mark.parametrize(("fn", "actor"), CELLS, ids=[f"{fn}-{actor}" for fn, actor in CELLS])
def test_role_matrix_cell(world: World, fn: str, actor: str) -> None:
    spec = SPECS[fn]
    spec.setup(world)
    who = _actor(world, spec, actor)
    expected = _expected(world, spec, actor, who)
    call = spec.call(world)
    if expected is None:
        receipt = world.goods.send(call, who)
        assert len(events(receipt, _contract(world, spec), spec.success_event)) >= 1
        return
    name, args = expected
    before = _state(world, spec)
    with reverts(name, **args):
        world.goods.send(call, who)
    assert _state(world, spec) == before
