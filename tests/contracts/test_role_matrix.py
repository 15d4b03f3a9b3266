"""Role matrix: every actor against every state-changing function of the suite.

The expected outcomes are data (`MATRIX`: function -> actors allowed, and the unauthorized error
everyone else gets). Each cell is one eth_call from the actor against a world set up once per
module in which every allowed call fully succeeds, so an "allowed" cell proves more than that the
role check passed. Refused cells must fail with the contract's unauthorized error, naming the
actor and the role it lacks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from chain.devnet import Org, dev_account, dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.roles import Role
from tests.contracts.support import DAY, DOC, Cast, key, reverts

CORE_FIRM, SUPPLIER, BANK, WAREHOUSE, AUDITOR, ORACLE, OPERATOR = (int(r) for r in Role)
ALL_ROLES = (1 << 7) - 1
ANY_ACTIVE = 0  # the requiredRole Receivables names when it only asks that the caller can act

# The seven roles (as the cast's organisations), a non-member, and two suspended members that hold
# every role: one whose organisation is suspended, one whose own account is.
ROLE_ACTORS = ("operator", "core_firm", "supplier", "bank", "warehouse", "auditor", "oracle")
ACTORS = (*ROLE_ACTORS, "stranger", "suspended_org", "suspended_account")
ACTIVE = frozenset(ROLE_ACTORS)
EVERYONE = frozenset(ACTORS)

GAS = 5_000_000  # ample for any call of the suite


def send(cast: Cast, fn: Any, sender: Org | LocalAccount) -> TxReceipt:
    """Send a transaction that must succeed, with a fixed gas limit: estimating costs a dozen runs."""
    return cast.net.client.transact(fn, sender.account if isinstance(sender, Org) else sender, gas=GAS)


@dataclass(frozen=True)
class Rule:
    """Who may call `contract.function`; anyone else gets `error` (with `required_role`, if any)."""

    contract: str
    function: str
    allowed: frozenset[str]
    error: str
    required_role: int | None


def _registry(function: str) -> Rule:
    return Rule("MemberRegistry", function, frozenset({"operator"}), "MemberRegistryUnauthorized", OPERATOR)


def _receivables(function: str, role: int, allowed: frozenset[str]) -> Rule:
    return Rule("Receivables", function, allowed, "ReceivableUnauthorized", role)


def _bank_only(function: str) -> Rule:
    return Rule("SettlementToken", function, frozenset({"bank"}), "SettlementUnauthorized", BANK)


MATRIX: tuple[Rule, ...] = (
    _registry("admitOrganisation"),
    _registry("setRoles"),
    _registry("suspendOrganisation"),
    _registry("reinstateOrganisation"),
    _registry("addAccount"),
    _registry("removeAccount"),
    _registry("suspendAccount"),
    _registry("reinstateAccount"),
    _registry("setPayoutAccount"),
    _bank_only("mint"),
    _bank_only("burn"),
    _bank_only("burnFrom"),
    Rule("SettlementToken", "transfer", ACTIVE, "SettlementInactiveSender", None),
    # The owner and the recipient are checked; the spender must be an active member's account or a
    # contract (the Receivables' DvP), so the stranger's key is refused. Approving is unchecked.
    Rule("SettlementToken", "transferFrom", ACTIVE, "SettlementInactiveSender", None),
    Rule("SettlementToken", "approve", EVERYONE, "-", None),
    _receivables("register", SUPPLIER, frozenset({"supplier"})),
    _receivables("registerBatch", SUPPLIER, frozenset({"supplier"})),
    _receivables("issueBatch", CORE_FIRM, frozenset({"core_firm"})),
    _receivables("cancel", SUPPLIER, frozenset({"supplier"})),
    _receivables("confirm", CORE_FIRM, frozenset({"core_firm"})),
    _receivables("confirmBatch", CORE_FIRM, frozenset({"core_firm"})),
    _receivables("confirmWithSignature", ANY_ACTIVE, ACTIVE),
    _receivables("reject", CORE_FIRM, frozenset({"core_firm"})),
    _receivables("split", SUPPLIER, frozenset({"supplier"})),
    _receivables("transfer", SUPPLIER, frozenset({"supplier"})),
    _receivables("requestFinancing", SUPPLIER, frozenset({"supplier"})),
    _receivables("cancelFinancingRequest", SUPPLIER, frozenset({"supplier"})),
    _receivables("fund", BANK, frozenset({"bank"})),
    _receivables("pledge", SUPPLIER, frozenset({"supplier"})),
    _receivables("releasePledge", BANK, frozenset({"bank"})),
    _receivables("repay", CORE_FIRM, frozenset({"core_firm"})),
    _receivables("markOverdue", ANY_ACTIVE, ACTIVE),
    _receivables("markDefaulted", ANY_ACTIVE, ACTIVE),
    _receivables("setTerms", OPERATOR, frozenset({"operator"})),
)
CELLS = [(rule, actor) for rule in MATRIX for actor in ACTORS]
_checked: set[str] = set()


@dataclass
class World:
    """The cast plus the extra actors and objects every allowed cell needs."""

    cast: Cast
    actors: dict[str, str]
    suspended_org_id: int
    all_roles_org_id: int
    registered: int
    confirmed: int
    requested: int
    pledged: int
    overdue_candidate: int
    defaulted_candidate: int
    signature: bytes
    deadline: int

    def contract(self, name: str) -> Any:
        return {
            "MemberRegistry": self.cast.registry,
            "SettlementToken": self.cast.settlement,
            "Receivables": self.cast.receivables,
        }[name]


def _funded(cast: Cast, label: str) -> LocalAccount:
    acct = dev_account(f"role-matrix:{label}")
    cast.net.fund(acct.address)
    return acct


def _invoice(cast: Cast, label: str, *, days: int = 90, confirm: bool = True) -> int:
    """An invoice from the supplier to the core firm, confirmed unless told otherwise."""
    r = cast.receivables.functions
    rid = key(label)
    send(
        cast, r.register(rid, cast.huaxin.org_id, 1_000_000_00, cast.net.now() + days * DAY, DOC), cast.delta
    )
    if confirm:
        send(cast, r.confirm(rid), cast.huaxin)
    return rid


def _build_world(cast: Cast) -> World:
    reg, token, r = cast.registry.functions, cast.settlement.functions, cast.receivables.functions

    def admit(label: str, payout: LocalAccount) -> int:
        code = credit_code_bytes32(dev_credit_code(f"role-matrix:{label}"))
        send(cast, reg.admitOrganisation(code, label, ALL_ROLES, payout.address), cast.operator)
        return reg.orgIdOf(code).call()

    suspended_org = _funded(cast, "suspended-org")
    suspended_org_id = admit("suspended-org", suspended_org)
    all_roles_payout = _funded(cast, "all-roles")
    all_roles_org_id = admit("all-roles", all_roles_payout)
    suspended_account = _funded(cast, "suspended-account")
    send(cast, reg.addAccount(all_roles_org_id, suspended_account.address), cast.operator)

    actors = {
        "operator": cast.operator.address,
        "core_firm": cast.huaxin.address,
        "supplier": cast.delta.address,
        "bank": cast.bank_a.address,
        "warehouse": cast.north.address,
        "auditor": cast.cpa.address,
        "oracle": cast.oracle.address,
        "stranger": cast.stranger.address,
        "suspended_org": suspended_org.address,
        "suspended_account": suspended_account.address,
    }
    # Every member holds money (the core firm and the bank already do; a stranger cannot receive any),
    # and the core firm lets every actor, the bank included, spend some of its own.
    for name in sorted(set(actors) - {"core_firm", "bank", "stranger"}):
        send(cast, token.mint(actors[name], 1_000), cast.bank_a)
    for address in actors.values():
        send(cast, token.approve(address, 1_000), cast.huaxin)

    registered = _invoice(cast, "ROLE-MATRIX-REGISTERED", confirm=False)
    confirmed = _invoice(cast, "ROLE-MATRIX-CONFIRMED")
    requested = _invoice(cast, "ROLE-MATRIX-REQUESTED")
    send(
        cast,
        r.requestFinancing(requested, cast.bank_a.org_id, 50_000, cast.piece(requested)["dueAt"] - DAY),
        cast.delta,
    )
    pledged = _invoice(cast, "ROLE-MATRIX-PLEDGED")
    send(cast, r.pledge(pledged, cast.bank_a.org_id), cast.delta)
    overdue_candidate = _invoice(cast, "ROLE-MATRIX-OVERDUE", days=2)
    defaulted_candidate = _invoice(cast, "ROLE-MATRIX-DEFAULTED", days=2)

    # Past the short pieces' grace and default periods; the 90-day pieces stay current.
    grace, default = r.terms().call()
    cast.net.travel_to(cast.piece(defaulted_candidate)["dueAt"] + grace + default + DAY)
    send(cast, r.markOverdue(defaulted_candidate), cast.operator)

    deadline = cast.net.now() + 30 * DAY
    nonce = r.nonces(cast.huaxin.address).call()
    digest = r.confirmationDigest(registered, nonce, deadline).call()
    signature = cast.huaxin.account.unsafe_sign_hash(digest).signature

    send(cast, reg.suspendOrganisation(suspended_org_id), cast.operator)
    send(cast, reg.suspendAccount(suspended_account.address), cast.operator)
    return World(
        cast=cast,
        actors=actors,
        suspended_org_id=suspended_org_id,
        all_roles_org_id=all_roles_org_id,
        registered=registered,
        confirmed=confirmed,
        requested=requested,
        pledged=pledged,
        overdue_candidate=overdue_candidate,
        defaulted_candidate=defaulted_candidate,
        signature=bytes(signature),
        deadline=deadline,
    )


@pytest.fixture(scope="module")
def world(cast: Cast) -> Iterator[World]:
    """Set the world up once for the module (before each test's own snapshot) and undo it after."""
    snapshot = cast.net.snapshot()
    try:
        yield _build_world(cast)
    finally:
        cast.net.revert(snapshot)


def _new_item(w: World, counterparty: int) -> tuple[Any, ...]:
    return (key("ROLE-MATRIX-NEW"), counterparty, 100_00, w.cast.net.now() + 60 * DAY, DOC)


NEW_ACCOUNT = dev_account("role-matrix:new-account").address
NEW_CODE = credit_code_bytes32(dev_credit_code("role-matrix:new-org"))

ARGS: dict[str, Callable[[World], tuple[Any, ...]]] = {
    "MemberRegistry.admitOrganisation": lambda w: (NEW_CODE, "newco", SUPPLIER, NEW_ACCOUNT),
    "MemberRegistry.setRoles": lambda w: (w.cast.eastern.org_id, SUPPLIER | WAREHOUSE),
    "MemberRegistry.suspendOrganisation": lambda w: (w.cast.eastern.org_id,),
    "MemberRegistry.reinstateOrganisation": lambda w: (w.suspended_org_id,),
    "MemberRegistry.addAccount": lambda w: (w.cast.eastern.org_id, NEW_ACCOUNT),
    "MemberRegistry.removeAccount": lambda w: (w.actors["suspended_account"],),
    "MemberRegistry.suspendAccount": lambda w: (w.cast.eastern.address,),
    "MemberRegistry.reinstateAccount": lambda w: (w.actors["suspended_account"],),
    "MemberRegistry.setPayoutAccount": lambda w: (w.all_roles_org_id, w.actors["suspended_account"]),
    "SettlementToken.mint": lambda w: (w.cast.delta.address, 100),
    "SettlementToken.burn": lambda w: (100,),
    "SettlementToken.burnFrom": lambda w: (w.cast.huaxin.address, 100),
    "SettlementToken.transfer": lambda w: (w.cast.eastern.address, 1),
    "SettlementToken.transferFrom": lambda w: (w.cast.huaxin.address, w.cast.eastern.address, 1),
    "SettlementToken.approve": lambda w: (w.cast.eastern.address, 1),
    "Receivables.register": lambda w: _new_item(w, w.cast.huaxin.org_id),
    "Receivables.registerBatch": lambda w: ([_new_item(w, w.cast.huaxin.org_id)],),
    "Receivables.issueBatch": lambda w: ([_new_item(w, w.cast.delta.org_id)],),
    "Receivables.cancel": lambda w: (w.registered,),
    "Receivables.confirm": lambda w: (w.registered,),
    "Receivables.confirmBatch": lambda w: ([w.registered],),
    "Receivables.confirmWithSignature": lambda w: (
        w.registered,
        w.cast.huaxin.address,
        w.deadline,
        w.signature,
    ),
    "Receivables.reject": lambda w: (w.registered, b"\x01" * 32),
    "Receivables.split": lambda w: (w.confirmed, [1, w.cast.piece(w.confirmed)["amountMinor"] - 1]),
    "Receivables.transfer": lambda w: (w.confirmed, w.cast.eastern.org_id),
    "Receivables.requestFinancing": lambda w: (
        w.confirmed,
        w.cast.bank_a.org_id,
        50_000,
        w.cast.piece(w.confirmed)["dueAt"] - DAY,
    ),
    "Receivables.cancelFinancingRequest": lambda w: (w.requested,),
    "Receivables.fund": lambda w: (w.requested, 45_000),
    "Receivables.pledge": lambda w: (w.confirmed, w.cast.bank_a.org_id),
    "Receivables.releasePledge": lambda w: (w.pledged,),
    "Receivables.repay": lambda w: ([w.confirmed],),
    "Receivables.markOverdue": lambda w: (w.overdue_candidate,),
    "Receivables.markDefaulted": lambda w: (w.defaulted_candidate,),
    "Receivables.setTerms": lambda w: (DAY, 10 * DAY),
}


@pytest.mark.parametrize(
    ("rule", "actor"), CELLS, ids=[f"{rule.contract}.{rule.function}-{actor}" for rule, actor in CELLS]
)
def test_role_matrix_cell(world: World, rule: Rule, actor: str) -> None:
    name = f"{rule.contract}.{rule.function}"
    fn = getattr(world.contract(rule.contract).functions, rule.function)(*ARGS[name](world))
    sender = world.actors[actor]
    if actor in rule.allowed:
        world.cast.net.client.call(fn, sender=sender)  # succeeds outright: no revert at all
    else:
        expected = {"account": sender}
        if rule.required_role is not None:
            expected["requiredRole"] = rule.required_role
        with reverts(rule.error, **expected):
            world.cast.net.client.call(fn, sender=sender)
    _checked.add(f"{name}-{actor}")


def test_role_matrix_covers_every_state_changing_function(cast: Cast) -> None:
    in_abi = {
        f"{name}.{item['name']}"
        for name, contract in (
            ("MemberRegistry", cast.registry),
            ("SettlementToken", cast.settlement),
            ("Receivables", cast.receivables),
        )
        for item in contract.abi
        if item.get("type") == "function" and item["stateMutability"] not in ("view", "pure")
    }
    in_matrix = {f"{rule.contract}.{rule.function}" for rule in MATRIX}
    assert in_matrix == in_abi
    assert set(ARGS) == in_abi


def test_role_matrix_every_cell_checked(request: pytest.FixtureRequest) -> None:
    n = len(MATRIX) * len(ACTORS)
    collected = [
        item
        for item in request.session.items
        if item.path == Path(__file__) and getattr(item, "originalname", "") == "test_role_matrix_cell"
    ]
    if len(collected) < n:
        pytest.skip(f"only {len(collected)} of {n} role-matrix cells selected")
    assert len(collected) == len(CELLS) == n
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        # One process ran them all, and this test comes last in the module.
        assert len(_checked) == n
    print(f"role matrix: {n} cells checked ({len(MATRIX)} functions x {len(ACTORS)} actors)")
