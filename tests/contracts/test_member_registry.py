"""MemberRegistry: every external function, its custom errors (with arguments) and its events."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from chain.devnet import Org, dev_account, dev_credit_code
from chain.identifiers import credit_code_bytes32
from chain.roles import Role
from tests.contracts.support import DAY, DOC, Cast, event, key, reverts

CORE_FIRM, SUPPLIER, BANK, WAREHOUSE, AUDITOR, ORACLE, OPERATOR = (int(r) for r in Role)
ALL_ROLES = (1 << 7) - 1
ZERO = "0x" + "00" * 20
ORG_FIELDS = ("creditCode", "payoutAccount", "roles", "suspended", "accountCount")
CAST_ORGS = ("operator", "huaxin", "delta", "eastern", "bank_a", "bank_b", "north", "cpa", "oracle")

GAS = 5_000_000  # ample for any call of the suite


def send(cast: Cast, fn: Any, sender: Org | LocalAccount) -> TxReceipt:
    """Send a transaction that must succeed, with a fixed gas limit: estimating costs a dozen runs."""
    return cast.net.client.transact(fn, sender.account if isinstance(sender, Org) else sender, gas=GAS)


def code(label: str) -> bytes:
    """A well-formed credit code as the registry stores it."""
    return credit_code_bytes32(dev_credit_code(f"registry-test:{label}"))


def account(label: str) -> LocalAccount:
    return dev_account(f"registry-test:{label}")


def call(cast: Cast, fn: Any, sender: str | None = None) -> Any:
    """eth_call `fn` from `sender`; reverts raise typed errors."""
    return cast.net.client.call(fn, sender=sender)


def org(cast: Cast, org_id: int) -> dict[str, Any]:
    return dict(zip(ORG_FIELDS, cast.registry.functions.organisation(org_id).call(), strict=True))


def member_of(cast: Cast, address: str) -> tuple[int, int]:
    org_id, roles = cast.registry.functions.memberOf(address).call()
    return org_id, roles


def is_active(cast: Cast, address: str) -> bool:
    return cast.registry.functions.isActive(address).call()


def add_account(cast: Cast, org_id: int, label: str, *, funded: bool = False) -> LocalAccount:
    """Add a fresh account to `org_id` (funded with gas money if it must send)."""
    acct = account(label)
    send(cast, cast.registry.functions.addAccount(org_id, acct.address), cast.operator)
    if funded:
        cast.net.fund(acct.address)
    return acct


def second_operator(cast: Cast) -> LocalAccount:
    """A second, funded account of the operator organisation."""
    return add_account(cast, 1, "operator-2", funded=True)


def register_call(cast: Cast, label: str = "INV-R-1") -> Any:
    due = cast.net.now() + 90 * DAY
    return cast.receivables.functions.register(key(label), cast.huaxin.org_id, 1_000_00, due, DOC)


# ---------------------------------------------------------------- constructor and views


def test_constructor_admits_deployer_as_operator_org_one(cast: Cast) -> None:
    op = cast.operator
    assert org(cast, 1) == {
        "creditCode": credit_code_bytes32(op.credit_code),
        "payoutAccount": op.address,
        "roles": OPERATOR,
        "suspended": False,
        "accountCount": 1,
    }
    assert cast.registry.functions.orgIdOf(credit_code_bytes32(op.credit_code)).call() == 1
    assert cast.registry.functions.accountsOf(1).call() == [op.address]
    assert member_of(cast, op.address) == (1, OPERATOR)
    assert is_active(cast, op.address)


def test_constructor_emits_admission_events(cast: Cast) -> None:
    operator = account("fresh-operator")
    registry, receipt = cast.net.client.deploy(
        "MemberRegistry", cast.operator.account, code("fresh-operator"), "fresh operator", operator.address
    )
    admitted = event(receipt, registry, "OrganisationAdmitted")
    assert admitted == {
        "orgId": 1,
        "creditCode": code("fresh-operator"),
        "roles": OPERATOR,
        "payoutAccount": operator.address,
        "name": "fresh operator",
    }
    assert event(receipt, registry, "AccountAdded") == {"orgId": 1, "account": operator.address}
    assert registry.functions.organisationCount().call() == 1


def test_constructor_zero_operator_account_refused(cast: Cast) -> None:
    with reverts("MemberRegistryInvalidInput"):
        cast.net.client.deploy("MemberRegistry", cast.operator.account, code("x"), "x", ZERO)


def test_constructor_empty_credit_code_refused(cast: Cast) -> None:
    with reverts("MemberRegistryInvalidInput"):
        cast.net.client.deploy("MemberRegistry", cast.operator.account, b"\0" * 32, "x", account("x").address)


def test_views_describe_every_cast_organisation(cast: Cast) -> None:
    reg = cast.registry.functions
    assert reg.organisationCount().call() == len(CAST_ORGS)
    for org_id, name in enumerate(CAST_ORGS, start=1):
        member = getattr(cast, name)
        assert member.org_id == org_id
        assert org(cast, org_id) == {
            "creditCode": credit_code_bytes32(member.credit_code),
            "payoutAccount": member.address,
            "roles": int(member.roles),
            "suspended": False,
            "accountCount": 1,
        }
        assert reg.orgIdOf(credit_code_bytes32(member.credit_code)).call() == org_id
        assert reg.accountsOf(org_id).call() == [member.address]
        assert member_of(cast, member.address) == (org_id, int(member.roles))
        assert reg.orgStatus(org_id).call() == [int(member.roles), member.address]
        assert is_active(cast, member.address)


def test_member_of_unknown_account_is_zero(cast: Cast) -> None:
    assert member_of(cast, cast.stranger.address) == (0, 0)
    assert member_of(cast, ZERO) == (0, 0)
    assert not is_active(cast, cast.stranger.address)


def test_org_status_unknown_org_is_zero(cast: Cast) -> None:
    assert cast.registry.functions.orgStatus(0).call() == [0, ZERO]
    assert cast.registry.functions.orgStatus(99).call() == [0, ZERO]


@pytest.mark.parametrize("org_id", [0, 10, 2**32 - 1])
def test_organisation_unknown_refused(cast: Cast, org_id: int) -> None:
    with reverts("MemberRegistryUnknownOrganisation", orgId=org_id):
        call(cast, cast.registry.functions.organisation(org_id))
    with reverts("MemberRegistryUnknownOrganisation", orgId=org_id):
        call(cast, cast.registry.functions.accountsOf(org_id))


def test_org_id_of_unknown_credit_code_is_zero(cast: Cast) -> None:
    assert cast.registry.functions.orgIdOf(code("nobody")).call() == 0
    assert cast.registry.functions.orgIdOf(b"\0" * 32).call() == 0


def test_max_accounts_per_org_is_sixteen(cast: Cast) -> None:
    assert cast.registry.functions.MAX_ACCOUNTS_PER_ORG().call() == 16


# ---------------------------------------------------------------- admitOrganisation


def test_admit_organisation_records_org_and_first_account(cast: Cast) -> None:
    reg = cast.registry.functions
    payout = account("newco")
    fn = reg.admitOrganisation(code("newco"), "Newco Ltd", SUPPLIER | WAREHOUSE, payout.address)
    assert call(cast, fn, cast.operator.address) == 10  # the id the transaction will return
    receipt = send(cast, fn, cast.operator)
    assert event(receipt, cast.registry, "OrganisationAdmitted") == {
        "orgId": 10,
        "creditCode": code("newco"),
        "roles": SUPPLIER | WAREHOUSE,
        "payoutAccount": payout.address,
        "name": "Newco Ltd",
    }
    assert event(receipt, cast.registry, "AccountAdded") == {"orgId": 10, "account": payout.address}
    assert reg.organisationCount().call() == 10
    assert reg.orgIdOf(code("newco")).call() == 10
    assert org(cast, 10) == {
        "creditCode": code("newco"),
        "payoutAccount": payout.address,
        "roles": SUPPLIER | WAREHOUSE,
        "suspended": False,
        "accountCount": 1,
    }
    assert reg.accountsOf(10).call() == [payout.address]
    assert member_of(cast, payout.address) == (10, SUPPLIER | WAREHOUSE)
    assert reg.orgStatus(10).call() == [SUPPLIER | WAREHOUSE, payout.address]
    assert is_active(cast, payout.address)


def test_admit_organisation_with_every_role(cast: Cast) -> None:
    payout = account("allroles")
    send(
        cast,
        cast.registry.functions.admitOrganisation(code("all"), "all", ALL_ROLES, payout.address),
        cast.operator,
    )
    assert member_of(cast, payout.address) == (10, ALL_ROLES)


def test_admit_organisation_duplicate_credit_code_refused(cast: Cast) -> None:
    reg = cast.registry.functions
    taken = credit_code_bytes32(cast.delta.credit_code)
    with reverts("MemberRegistryCreditCodeTaken", creditCode=taken, orgId=cast.delta.org_id):
        cast.tx(reg.admitOrganisation(taken, "delta again", SUPPLIER, account("d2").address), cast.operator)
    operator_code = credit_code_bytes32(cast.operator.credit_code)
    with reverts("MemberRegistryCreditCodeTaken", creditCode=operator_code, orgId=1):
        cast.tx(reg.admitOrganisation(operator_code, "op again", BANK, account("op2").address), cast.operator)
    assert reg.organisationCount().call() == len(CAST_ORGS)


def test_admit_organisation_zero_payout_account_refused(cast: Cast) -> None:
    with reverts("MemberRegistryInvalidInput"):
        cast.tx(cast.registry.functions.admitOrganisation(code("z"), "z", SUPPLIER, ZERO), cast.operator)


def test_admit_organisation_empty_credit_code_refused(cast: Cast) -> None:
    fn = cast.registry.functions.admitOrganisation(b"\0" * 32, "empty", SUPPLIER, account("e").address)
    with reverts("MemberRegistryInvalidInput"):
        cast.tx(fn, cast.operator)


@pytest.mark.parametrize("roles", [0, 1 << 7, 1 << 15, 0xFFFF, SUPPLIER | (1 << 8)])
def test_admit_organisation_invalid_roles_refused(cast: Cast, roles: int) -> None:
    fn = cast.registry.functions.admitOrganisation(code("r"), "r", roles, account("r").address)
    with reverts("MemberRegistryInvalidRoles", roles=roles):
        cast.tx(fn, cast.operator)


def test_admit_organisation_taken_payout_account_refused(cast: Cast) -> None:
    reg = cast.registry.functions
    with reverts("MemberRegistryAccountTaken", account=cast.delta.address, orgId=cast.delta.org_id):
        cast.tx(reg.admitOrganisation(code("t"), "t", SUPPLIER, cast.delta.address), cast.operator)
    with reverts("MemberRegistryAccountTaken", account=cast.operator.address, orgId=1):
        cast.tx(reg.admitOrganisation(code("t"), "t", SUPPLIER, cast.operator.address), cast.operator)
    # Nothing of the refused admission remains.
    assert reg.organisationCount().call() == len(CAST_ORGS)
    assert reg.orgIdOf(code("t")).call() == 0


def test_admit_organisation_by_non_operator_refused(cast: Cast) -> None:
    fn = cast.registry.functions.admitOrganisation(code("n"), "n", SUPPLIER, account("n").address)
    with reverts("MemberRegistryUnauthorized", account=cast.delta.address, requiredRole=OPERATOR):
        cast.tx(fn, cast.delta)


def test_admit_organisation_by_suspended_operator_account_refused(cast: Cast) -> None:
    op2 = second_operator(cast)
    send(cast, cast.registry.functions.suspendAccount(op2.address), cast.operator)
    fn = cast.registry.functions.admitOrganisation(code("n"), "n", SUPPLIER, account("n").address)
    with reverts("MemberRegistryUnauthorized", account=op2.address, requiredRole=OPERATOR):
        cast.tx(fn, op2)


def test_admit_organisation_by_second_operator_org_allowed(cast: Cast) -> None:
    reg = cast.registry.functions
    op_b = account("operator-b")
    send(cast, reg.admitOrganisation(code("op-b"), "operator b", OPERATOR, op_b.address), cast.operator)
    cast.net.fund(op_b.address)
    receipt = send(cast, reg.admitOrganisation(code("n"), "n", SUPPLIER, account("n").address), op_b)
    assert event(receipt, cast.registry, "OrganisationAdmitted")["orgId"] == 11


# ---------------------------------------------------------------- setRoles


def test_set_roles_updates_org_and_every_account(cast: Cast) -> None:
    reg = cast.registry.functions
    extra = add_account(cast, cast.delta.org_id, "delta-2")
    receipt = send(cast, reg.setRoles(cast.delta.org_id, SUPPLIER | WAREHOUSE), cast.operator)
    assert event(receipt, cast.registry, "OrganisationRolesChanged") == {
        "orgId": cast.delta.org_id,
        "roles": SUPPLIER | WAREHOUSE,
    }
    assert org(cast, cast.delta.org_id)["roles"] == SUPPLIER | WAREHOUSE
    assert member_of(cast, cast.delta.address) == (cast.delta.org_id, SUPPLIER | WAREHOUSE)
    assert member_of(cast, extra.address) == (cast.delta.org_id, SUPPLIER | WAREHOUSE)
    assert reg.orgStatus(cast.delta.org_id).call() == [SUPPLIER | WAREHOUSE, cast.delta.address]


def test_set_roles_takes_effect_in_receivables(cast: Cast) -> None:
    send(cast, cast.registry.functions.setRoles(cast.delta.org_id, WAREHOUSE), cast.operator)
    with reverts("ReceivableUnauthorized", account=cast.delta.address, requiredRole=SUPPLIER):
        cast.tx(register_call(cast), cast.delta)
    send(cast, cast.registry.functions.setRoles(cast.north.org_id, SUPPLIER), cast.operator)
    receipt = send(cast, register_call(cast), cast.north)
    assert event(receipt, cast.receivables, "ReceivableRegistered")["creditorOrg"] == cast.north.org_id


@pytest.mark.parametrize("org_id", [0, 10])
def test_set_roles_unknown_org_refused(cast: Cast, org_id: int) -> None:
    with reverts("MemberRegistryUnknownOrganisation", orgId=org_id):
        cast.tx(cast.registry.functions.setRoles(org_id, SUPPLIER), cast.operator)


@pytest.mark.parametrize("roles", [0, 1 << 7, 0xFFFF])
def test_set_roles_invalid_roles_refused(cast: Cast, roles: int) -> None:
    with reverts("MemberRegistryInvalidRoles", roles=roles):
        cast.tx(cast.registry.functions.setRoles(cast.delta.org_id, roles), cast.operator)
    assert org(cast, cast.delta.org_id)["roles"] == SUPPLIER


@pytest.mark.parametrize("roles", [AUDITOR, ALL_ROLES & ~OPERATOR])
def test_set_roles_own_org_without_operator_refused(cast: Cast, roles: int) -> None:
    with reverts("MemberRegistrySelfLockout", account=cast.operator.address):
        cast.tx(cast.registry.functions.setRoles(1, roles), cast.operator)
    assert member_of(cast, cast.operator.address) == (1, OPERATOR)


def test_set_roles_own_org_keeping_operator_allowed(cast: Cast) -> None:
    send(cast, cast.registry.functions.setRoles(1, OPERATOR | AUDITOR), cast.operator)
    assert member_of(cast, cast.operator.address) == (1, OPERATOR | AUDITOR)


def test_set_roles_other_operator_org_may_lose_operator(cast: Cast) -> None:
    reg = cast.registry.functions
    op_b = account("operator-b")
    send(cast, reg.admitOrganisation(code("op-b"), "operator b", OPERATOR, op_b.address), cast.operator)
    send(cast, reg.setRoles(10, AUDITOR), cast.operator)
    cast.net.fund(op_b.address)
    with reverts("MemberRegistryUnauthorized", account=op_b.address, requiredRole=OPERATOR):
        call(cast, reg.setRoles(2, SUPPLIER), op_b.address)


def test_set_roles_while_suspended_applies_on_reinstatement(cast: Cast) -> None:
    reg = cast.registry.functions
    send(cast, reg.suspendOrganisation(cast.delta.org_id), cast.operator)
    send(cast, reg.setRoles(cast.delta.org_id, SUPPLIER | BANK), cast.operator)
    assert member_of(cast, cast.delta.address) == (cast.delta.org_id, 0)
    assert reg.orgStatus(cast.delta.org_id).call() == [0, cast.delta.address]
    send(cast, reg.reinstateOrganisation(cast.delta.org_id), cast.operator)
    assert member_of(cast, cast.delta.address) == (cast.delta.org_id, SUPPLIER | BANK)


# ---------------------------------------------------------------- suspendOrganisation


def test_suspend_organisation_stops_every_account(cast: Cast) -> None:
    reg = cast.registry.functions
    extra = add_account(cast, cast.delta.org_id, "delta-2")
    receipt = send(cast, reg.suspendOrganisation(cast.delta.org_id), cast.operator)
    assert event(receipt, cast.registry, "OrganisationSuspended") == {"orgId": cast.delta.org_id}
    assert org(cast, cast.delta.org_id)["suspended"] is True
    assert org(cast, cast.delta.org_id)["roles"] == SUPPLIER  # kept for reinstatement
    for address in (cast.delta.address, extra.address):
        assert member_of(cast, address) == (cast.delta.org_id, 0)
        assert not is_active(cast, address)
    assert reg.orgStatus(cast.delta.org_id).call() == [0, cast.delta.address]
    assert reg.accountsOf(cast.delta.org_id).call() == [cast.delta.address, extra.address]


def test_suspend_organisation_supplier_cannot_register(cast: Cast) -> None:
    extra = add_account(cast, cast.delta.org_id, "delta-2", funded=True)
    send(cast, cast.registry.functions.suspendOrganisation(cast.delta.org_id), cast.operator)
    for sender in (cast.delta.account, extra):
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=SUPPLIER):
            cast.tx(register_call(cast), sender)


def test_suspend_organisation_member_can_do_nothing(cast: Cast) -> None:
    r = cast.receivables.functions
    rid = cast.confirmed()
    send(cast, cast.settlement.functions.transfer(cast.delta.address, 500), cast.huaxin)
    send(cast, cast.registry.functions.suspendOrganisation(cast.delta.org_id), cast.operator)
    due = cast.piece(rid)["dueAt"]
    delta = cast.delta.address
    with reverts("ReceivableUnauthorized", account=delta, requiredRole=SUPPLIER):
        cast.tx(r.split(rid, [1, 1_000_000_00 - 1]), cast.delta)
    with reverts("ReceivableUnauthorized", account=delta, requiredRole=SUPPLIER):
        cast.tx(r.transfer(rid, cast.eastern.org_id), cast.delta)
    with reverts("ReceivableUnauthorized", account=delta, requiredRole=SUPPLIER):
        cast.tx(r.requestFinancing(rid, cast.bank_a.org_id, 50_000, due - DAY), cast.delta)
    with reverts("ReceivableUnauthorized", account=delta, requiredRole=SUPPLIER):
        cast.tx(r.pledge(rid, cast.bank_a.org_id), cast.delta)
    with reverts("ReceivableUnauthorized", account=delta, requiredRole=0):
        cast.tx(r.markOverdue(rid), cast.delta)
    with reverts("SettlementInactiveSender", account=delta):
        cast.tx(cast.settlement.functions.transfer(cast.huaxin.address, 1), cast.delta)
    # Nor can others deal with it as a counterparty.
    eastern_rid = key("INV-E-1")
    fn = r.register(eastern_rid, cast.huaxin.org_id, 100, cast.net.now() + 30 * DAY, DOC)
    send(cast, fn, cast.eastern)
    send(cast, r.confirm(eastern_rid), cast.huaxin)
    with reverts("ReceivableInvalidCounterparty", orgId=cast.delta.org_id):
        cast.tx(r.transfer(eastern_rid, cast.delta.org_id), cast.eastern)


def test_suspend_organisation_debtor_cannot_be_invoiced(cast: Cast) -> None:
    send(cast, cast.registry.functions.suspendOrganisation(cast.huaxin.org_id), cast.operator)
    with reverts("ReceivableInvalidCounterparty", orgId=cast.huaxin.org_id):
        cast.tx(register_call(cast), cast.delta)


def test_suspend_organisation_seller_cannot_be_funded(cast: Cast) -> None:
    r = cast.receivables.functions
    rid = cast.confirmed()
    send(cast, r.requestFinancing(rid, 0, 50_000, cast.piece(rid)["dueAt"] - DAY), cast.delta)
    send(cast, cast.registry.functions.suspendOrganisation(cast.delta.org_id), cast.operator)
    with reverts("ReceivableInvalidCounterparty", orgId=cast.delta.org_id):
        cast.tx(r.fund(rid, 45_000), cast.bank_a)


def test_suspend_organisation_account_added_later_is_suspended(cast: Cast) -> None:
    send(cast, cast.registry.functions.suspendOrganisation(cast.delta.org_id), cast.operator)
    extra = add_account(cast, cast.delta.org_id, "delta-late")
    assert member_of(cast, extra.address) == (cast.delta.org_id, 0)
    assert not is_active(cast, extra.address)


@pytest.mark.parametrize("org_id", [0, 10])
def test_suspend_organisation_unknown_refused(cast: Cast, org_id: int) -> None:
    with reverts("MemberRegistryUnknownOrganisation", orgId=org_id):
        cast.tx(cast.registry.functions.suspendOrganisation(org_id), cast.operator)


def test_suspend_organisation_own_refused(cast: Cast) -> None:
    with reverts("MemberRegistrySelfLockout", account=cast.operator.address):
        cast.tx(cast.registry.functions.suspendOrganisation(1), cast.operator)
    assert is_active(cast, cast.operator.address)


# ---------------------------------------------------------------- reinstateOrganisation


def test_reinstate_organisation_resumes_every_account(cast: Cast) -> None:
    reg = cast.registry.functions
    extra = add_account(cast, cast.delta.org_id, "delta-2")
    send(cast, reg.suspendOrganisation(cast.delta.org_id), cast.operator)
    receipt = send(cast, reg.reinstateOrganisation(cast.delta.org_id), cast.operator)
    assert event(receipt, cast.registry, "OrganisationReinstated") == {"orgId": cast.delta.org_id}
    assert org(cast, cast.delta.org_id)["suspended"] is False
    for address in (cast.delta.address, extra.address):
        assert member_of(cast, address) == (cast.delta.org_id, SUPPLIER)
        assert is_active(cast, address)
    assert reg.orgStatus(cast.delta.org_id).call() == [SUPPLIER, cast.delta.address]
    receipt = send(cast, register_call(cast), cast.delta)
    assert event(receipt, cast.receivables, "ReceivableRegistered")["creditorOrg"] == cast.delta.org_id


def test_reinstate_organisation_keeps_suspended_account_suspended(cast: Cast) -> None:
    reg = cast.registry.functions
    extra = add_account(cast, cast.delta.org_id, "delta-2")
    send(cast, reg.suspendAccount(extra.address), cast.operator)
    send(cast, reg.suspendOrganisation(cast.delta.org_id), cast.operator)
    send(cast, reg.reinstateOrganisation(cast.delta.org_id), cast.operator)
    assert is_active(cast, cast.delta.address)
    assert not is_active(cast, extra.address)
    assert member_of(cast, extra.address) == (cast.delta.org_id, 0)


def test_reinstate_organisation_not_suspended_changes_nothing(cast: Cast) -> None:
    before = org(cast, cast.delta.org_id)
    send(cast, cast.registry.functions.reinstateOrganisation(cast.delta.org_id), cast.operator)
    assert org(cast, cast.delta.org_id) == before
    assert member_of(cast, cast.delta.address) == (cast.delta.org_id, SUPPLIER)


@pytest.mark.parametrize("org_id", [0, 10])
def test_reinstate_organisation_unknown_refused(cast: Cast, org_id: int) -> None:
    with reverts("MemberRegistryUnknownOrganisation", orgId=org_id):
        cast.tx(cast.registry.functions.reinstateOrganisation(org_id), cast.operator)


# ---------------------------------------------------------------- addAccount


def test_add_account_joins_org_with_its_roles(cast: Cast) -> None:
    reg = cast.registry.functions
    extra = account("delta-2")
    receipt = send(cast, reg.addAccount(cast.delta.org_id, extra.address), cast.operator)
    assert event(receipt, cast.registry, "AccountAdded") == {
        "orgId": cast.delta.org_id,
        "account": extra.address,
    }
    assert reg.accountsOf(cast.delta.org_id).call() == [cast.delta.address, extra.address]
    assert org(cast, cast.delta.org_id)["accountCount"] == 2
    assert org(cast, cast.delta.org_id)["payoutAccount"] == cast.delta.address
    assert member_of(cast, extra.address) == (cast.delta.org_id, SUPPLIER)
    assert is_active(cast, extra.address)
    # The new key acts for its organisation.
    cast.net.fund(extra.address)
    receipt = send(cast, register_call(cast), extra)
    assert event(receipt, cast.receivables, "ReceivableRegistered")["creditorOrg"] == cast.delta.org_id


def test_add_account_zero_address_refused(cast: Cast) -> None:
    with reverts("MemberRegistryInvalidInput"):
        cast.tx(cast.registry.functions.addAccount(cast.delta.org_id, ZERO), cast.operator)


@pytest.mark.parametrize("org_id", [0, 10])
def test_add_account_unknown_org_refused(cast: Cast, org_id: int) -> None:
    with reverts("MemberRegistryUnknownOrganisation", orgId=org_id):
        cast.tx(cast.registry.functions.addAccount(org_id, account("x").address), cast.operator)


def test_add_account_taken_account_refused(cast: Cast) -> None:
    reg = cast.registry.functions
    with reverts("MemberRegistryAccountTaken", account=cast.eastern.address, orgId=cast.eastern.org_id):
        cast.tx(reg.addAccount(cast.delta.org_id, cast.eastern.address), cast.operator)
    with reverts("MemberRegistryAccountTaken", account=cast.delta.address, orgId=cast.delta.org_id):
        cast.tx(reg.addAccount(cast.delta.org_id, cast.delta.address), cast.operator)
    assert org(cast, cast.delta.org_id)["accountCount"] == 1


def test_add_account_beyond_max_refused(cast: Cast) -> None:
    reg = cast.registry.functions
    added = [add_account(cast, cast.delta.org_id, f"delta-{i}") for i in range(15)]
    assert org(cast, cast.delta.org_id)["accountCount"] == 16
    assert len(reg.accountsOf(cast.delta.org_id).call()) == 16
    with reverts("MemberRegistryTooManyAccounts", orgId=cast.delta.org_id):
        cast.tx(reg.addAccount(cast.delta.org_id, account("one-too-many").address), cast.operator)
    # Removing one frees a place.
    send(cast, reg.removeAccount(added[3].address), cast.operator)
    send(cast, reg.addAccount(cast.delta.org_id, account("one-too-many").address), cast.operator)
    assert org(cast, cast.delta.org_id)["accountCount"] == 16


# ---------------------------------------------------------------- removeAccount


def test_remove_account_leaves_org(cast: Cast) -> None:
    reg = cast.registry.functions
    first = add_account(cast, cast.delta.org_id, "delta-2")
    second = add_account(cast, cast.delta.org_id, "delta-3")
    receipt = send(cast, reg.removeAccount(first.address), cast.operator)
    assert event(receipt, cast.registry, "AccountRemoved") == {
        "orgId": cast.delta.org_id,
        "account": first.address,
    }
    assert reg.accountsOf(cast.delta.org_id).call() == [cast.delta.address, second.address]
    assert org(cast, cast.delta.org_id)["accountCount"] == 2
    assert member_of(cast, first.address) == (0, 0)
    assert not is_active(cast, first.address)
    assert member_of(cast, second.address) == (cast.delta.org_id, SUPPLIER)


def test_remove_account_removed_key_can_do_nothing(cast: Cast) -> None:
    extra = add_account(cast, cast.delta.org_id, "delta-2", funded=True)
    send(cast, cast.settlement.functions.transfer(extra.address, 100), cast.huaxin)
    send(cast, cast.registry.functions.removeAccount(extra.address), cast.operator)
    with reverts("ReceivableUnauthorized", account=extra.address, requiredRole=SUPPLIER):
        cast.tx(register_call(cast), extra)
    with reverts("SettlementInactiveSender", account=extra.address):
        cast.tx(cast.settlement.functions.transfer(cast.delta.address, 100), extra)


def test_remove_account_may_join_another_org(cast: Cast) -> None:
    reg = cast.registry.functions
    extra = add_account(cast, cast.delta.org_id, "delta-2")
    send(cast, reg.removeAccount(extra.address), cast.operator)
    send(cast, reg.addAccount(cast.eastern.org_id, extra.address), cast.operator)
    assert member_of(cast, extra.address) == (cast.eastern.org_id, SUPPLIER)
    assert reg.accountsOf(cast.delta.org_id).call() == [cast.delta.address]


def test_remove_account_suspended_account_clears_suspension(cast: Cast) -> None:
    reg = cast.registry.functions
    extra = add_account(cast, cast.delta.org_id, "delta-2")
    send(cast, reg.suspendAccount(extra.address), cast.operator)
    send(cast, reg.removeAccount(extra.address), cast.operator)
    send(cast, reg.addAccount(cast.eastern.org_id, extra.address), cast.operator)
    assert is_active(cast, extra.address)


def test_remove_account_unknown_refused(cast: Cast) -> None:
    with reverts("MemberRegistryUnknownAccount", account=cast.stranger.address):
        cast.tx(cast.registry.functions.removeAccount(cast.stranger.address), cast.operator)


def test_remove_account_payout_account_refused(cast: Cast) -> None:
    add_account(cast, cast.delta.org_id, "delta-2")
    with reverts("MemberRegistryPayoutAccount", account=cast.delta.address):
        cast.tx(cast.registry.functions.removeAccount(cast.delta.address), cast.operator)
    assert is_active(cast, cast.delta.address)


def test_remove_account_own_account_refused(cast: Cast) -> None:
    reg = cast.registry.functions
    with reverts("MemberRegistrySelfLockout", account=cast.operator.address):
        cast.tx(reg.removeAccount(cast.operator.address), cast.operator)
    op2 = second_operator(cast)
    with reverts("MemberRegistrySelfLockout", account=op2.address):
        cast.tx(reg.removeAccount(op2.address), op2)
    with reverts("MemberRegistryPayoutAccount", account=cast.operator.address):
        cast.tx(reg.removeAccount(cast.operator.address), op2)


# ---------------------------------------------------------------- suspendAccount


def test_suspend_account_stops_only_that_account(cast: Cast) -> None:
    reg = cast.registry.functions
    extra = add_account(cast, cast.delta.org_id, "delta-2", funded=True)
    receipt = send(cast, reg.suspendAccount(cast.delta.address), cast.operator)
    assert event(receipt, cast.registry, "AccountSuspended") == {
        "orgId": cast.delta.org_id,
        "account": cast.delta.address,
    }
    assert member_of(cast, cast.delta.address) == (cast.delta.org_id, 0)
    assert not is_active(cast, cast.delta.address)
    assert member_of(cast, extra.address) == (cast.delta.org_id, SUPPLIER)
    assert org(cast, cast.delta.org_id)["suspended"] is False
    assert reg.orgStatus(cast.delta.org_id).call() == [SUPPLIER, cast.delta.address]
    with reverts("ReceivableUnauthorized", account=cast.delta.address, requiredRole=SUPPLIER):
        cast.tx(register_call(cast), cast.delta)
    send(cast, register_call(cast), extra)


def test_suspend_account_unknown_refused(cast: Cast) -> None:
    with reverts("MemberRegistryUnknownAccount", account=cast.stranger.address):
        cast.tx(cast.registry.functions.suspendAccount(cast.stranger.address), cast.operator)


def test_suspend_account_own_account_refused(cast: Cast) -> None:
    with reverts("MemberRegistrySelfLockout", account=cast.operator.address):
        cast.tx(cast.registry.functions.suspendAccount(cast.operator.address), cast.operator)


# ---------------------------------------------------------------- reinstateAccount


def test_reinstate_account_resumes_account(cast: Cast) -> None:
    reg = cast.registry.functions
    send(cast, reg.suspendAccount(cast.delta.address), cast.operator)
    receipt = send(cast, reg.reinstateAccount(cast.delta.address), cast.operator)
    assert event(receipt, cast.registry, "AccountReinstated") == {
        "orgId": cast.delta.org_id,
        "account": cast.delta.address,
    }
    assert member_of(cast, cast.delta.address) == (cast.delta.org_id, SUPPLIER)
    assert is_active(cast, cast.delta.address)


def test_reinstate_account_in_suspended_org_stays_inactive(cast: Cast) -> None:
    reg = cast.registry.functions
    send(cast, reg.suspendAccount(cast.delta.address), cast.operator)
    send(cast, reg.suspendOrganisation(cast.delta.org_id), cast.operator)
    send(cast, reg.reinstateAccount(cast.delta.address), cast.operator)
    assert not is_active(cast, cast.delta.address)
    send(cast, reg.reinstateOrganisation(cast.delta.org_id), cast.operator)
    assert is_active(cast, cast.delta.address)


def test_reinstate_account_unknown_refused(cast: Cast) -> None:
    with reverts("MemberRegistryUnknownAccount", account=cast.stranger.address):
        cast.tx(cast.registry.functions.reinstateAccount(cast.stranger.address), cast.operator)


# ---------------------------------------------------------------- setPayoutAccount


def test_set_payout_account_moves_payout(cast: Cast) -> None:
    reg = cast.registry.functions
    extra = add_account(cast, cast.delta.org_id, "delta-2")
    receipt = send(cast, reg.setPayoutAccount(cast.delta.org_id, extra.address), cast.operator)
    assert event(receipt, cast.registry, "PayoutAccountChanged") == {
        "orgId": cast.delta.org_id,
        "account": extra.address,
    }
    assert org(cast, cast.delta.org_id)["payoutAccount"] == extra.address
    assert reg.orgStatus(cast.delta.org_id).call() == [SUPPLIER, extra.address]
    with reverts("MemberRegistryPayoutAccount", account=extra.address):
        cast.tx(reg.removeAccount(extra.address), cast.operator)
    send(cast, reg.removeAccount(cast.delta.address), cast.operator)  # the old payout may now go
    assert reg.accountsOf(cast.delta.org_id).call() == [extra.address]


def test_set_payout_account_receives_financing(cast: Cast) -> None:
    r = cast.receivables.functions
    extra = add_account(cast, cast.delta.org_id, "delta-2")
    rid = cast.confirmed()
    send(cast, cast.registry.functions.setPayoutAccount(cast.delta.org_id, extra.address), cast.operator)
    send(
        cast, r.requestFinancing(rid, cast.bank_a.org_id, 50_000, cast.piece(rid)["dueAt"] - DAY), cast.delta
    )
    before = cast.balance(cast.delta)
    receipt = send(cast, r.fund(rid, 45_000), cast.bank_a)
    price = event(receipt, cast.receivables, "PieceFinanced")["priceMinor"]
    assert cast.settlement.functions.balanceOf(extra.address).call() == price
    assert cast.balance(cast.delta) == before


def test_set_payout_account_foreign_account_refused(cast: Cast) -> None:
    reg = cast.registry.functions
    for address in (cast.eastern.address, cast.stranger.address, ZERO):
        with reverts("MemberRegistryPayoutAccount", account=address):
            cast.tx(reg.setPayoutAccount(cast.delta.org_id, address), cast.operator)
    assert org(cast, cast.delta.org_id)["payoutAccount"] == cast.delta.address


@pytest.mark.parametrize("org_id", [0, 10])
def test_set_payout_account_unknown_org_refused(cast: Cast, org_id: int) -> None:
    with reverts("MemberRegistryUnknownOrganisation", orgId=org_id):
        cast.tx(cast.registry.functions.setPayoutAccount(org_id, cast.delta.address), cast.operator)


# ---------------------------------------------------------------- operator only


@pytest.mark.parametrize(
    "name",
    [
        "setRoles",
        "suspendOrganisation",
        "reinstateOrganisation",
        "addAccount",
        "removeAccount",
        "suspendAccount",
        "reinstateAccount",
        "setPayoutAccount",
    ],
)
def test_operator_functions_by_supplier_refused(cast: Cast, name: str) -> None:
    reg = cast.registry.functions
    args = {
        "setRoles": (cast.eastern.org_id, SUPPLIER),
        "suspendOrganisation": (cast.eastern.org_id,),
        "reinstateOrganisation": (cast.eastern.org_id,),
        "addAccount": (cast.delta.org_id, account("x").address),
        "removeAccount": (cast.eastern.address,),
        "suspendAccount": (cast.eastern.address,),
        "reinstateAccount": (cast.eastern.address,),
        "setPayoutAccount": (cast.delta.org_id, cast.delta.address),
    }[name]
    with reverts("MemberRegistryUnauthorized", account=cast.delta.address, requiredRole=OPERATOR):
        cast.tx(getattr(reg, name)(*args), cast.delta)
