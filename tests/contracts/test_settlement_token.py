"""SettlementToken: bank-only mint and burn, consortium-only movement, supply accounting."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from chain.deploy import SuiteParams
from chain.devnet import Org, dev_account
from chain.roles import Role
from tests.contracts.conftest import FUNDS
from tests.contracts.support import DAY, Cast, event, events, reverts

BANK = int(Role.BANK)
ZERO = "0x" + "00" * 20
MAX_UINT = 2**256 - 1
CAST_SUPPLY = 3 * FUNDS  # the cast mints FUNDS to each bank and to the core firm

GAS = 5_000_000  # ample for any call of the suite


def send(cast: Cast, fn: Any, sender: Org | LocalAccount) -> TxReceipt:
    """Send a transaction that must succeed, with a fixed gas limit: estimating costs a dozen runs."""
    return cast.net.client.transact(fn, sender.account if isinstance(sender, Org) else sender, gas=GAS)


def extra_account(cast: Cast, member: Org, label: str) -> LocalAccount:
    """A second, funded account of `member`'s organisation."""
    acct = dev_account(f"token-test:{label}")
    send(cast, cast.registry.functions.addAccount(member.org_id, acct.address), cast.operator)
    cast.net.fund(acct.address)
    return acct


def balance_of(cast: Cast, address: str) -> int:
    return cast.settlement.functions.balanceOf(address).call()


def supply(cast: Cast) -> int:
    return cast.settlement.functions.totalSupply().call()


def transfer_event(receipt: Any, cast: Cast) -> dict[str, Any]:
    return event(receipt, cast.settlement, "Transfer")


def suspend_org(cast: Cast, member: Org) -> None:
    send(cast, cast.registry.functions.suspendOrganisation(member.org_id), cast.operator)


def suspend_account(cast: Cast, address: str) -> None:
    send(cast, cast.registry.functions.suspendAccount(address), cast.operator)


# ---------------------------------------------------------------- metadata


def test_decimals_is_two(cast: Cast) -> None:
    assert cast.settlement.functions.decimals().call() == 2


def test_metadata_and_registry(cast: Cast) -> None:
    token = cast.settlement.functions
    params = SuiteParams(operator_credit_code=cast.operator.credit_code)
    assert token.name().call() == params.token_name
    assert token.symbol().call() == params.token_symbol
    assert token.registry().call() == cast.registry.address


# ---------------------------------------------------------------- mint


def test_mint_by_bank_credits_member(cast: Cast) -> None:
    before = supply(cast)
    receipt = send(cast, cast.settlement.functions.mint(cast.delta.address, 12_345), cast.bank_a)
    assert event(receipt, cast.settlement, "DepositMinted") == {
        "bankOrg": cast.bank_a.org_id,
        "to": cast.delta.address,
        "amount": 12_345,
    }
    assert transfer_event(receipt, cast) == {"from": ZERO, "to": cast.delta.address, "value": 12_345}
    assert cast.balance(cast.delta) == 12_345
    assert supply(cast) == before + 12_345


def test_mint_by_second_bank_account_names_bank_org(cast: Cast) -> None:
    teller = extra_account(cast, cast.bank_b, "bank-b-teller")
    receipt = send(cast, cast.settlement.functions.mint(cast.eastern.address, 7), teller)
    assert event(receipt, cast.settlement, "DepositMinted")["bankOrg"] == cast.bank_b.org_id


@pytest.mark.parametrize("name", ["operator", "huaxin", "delta", "north", "cpa", "oracle"])
def test_mint_by_non_bank_refused(cast: Cast, name: str) -> None:
    sender = getattr(cast, name)
    with reverts("SettlementUnauthorized", account=sender.address, requiredRole=BANK):
        cast.tx(cast.settlement.functions.mint(sender.address, 1), sender)


def test_mint_by_stranger_refused(cast: Cast) -> None:
    with reverts("SettlementUnauthorized", account=cast.stranger.address, requiredRole=BANK):
        cast.tx(cast.settlement.functions.mint(cast.delta.address, 1), cast.stranger)


def test_mint_by_suspended_bank_refused(cast: Cast) -> None:
    suspend_org(cast, cast.bank_a)
    with reverts("SettlementUnauthorized", account=cast.bank_a.address, requiredRole=BANK):
        cast.tx(cast.settlement.functions.mint(cast.delta.address, 1), cast.bank_a)


def test_mint_by_suspended_bank_account_refused(cast: Cast) -> None:
    teller = extra_account(cast, cast.bank_a, "bank-a-teller")
    suspend_account(cast, teller.address)
    with reverts("SettlementUnauthorized", account=teller.address, requiredRole=BANK):
        cast.tx(cast.settlement.functions.mint(cast.delta.address, 1), teller)
    send(
        cast, cast.settlement.functions.mint(cast.delta.address, 1), cast.bank_a
    )  # the bank's other key works


def test_mint_to_non_member_refused(cast: Cast) -> None:
    with reverts("SettlementUnknownRecipient", account=cast.stranger.address):
        cast.tx(cast.settlement.functions.mint(cast.stranger.address, 1), cast.bank_a)


def test_mint_to_zero_address_refused(cast: Cast) -> None:
    with reverts("ERC20InvalidReceiver", receiver=ZERO):
        cast.tx(cast.settlement.functions.mint(ZERO, 1), cast.bank_a)


def test_mint_to_suspended_member_allowed(cast: Cast) -> None:
    suspend_org(cast, cast.delta)
    send(cast, cast.settlement.functions.mint(cast.delta.address, 99), cast.bank_a)
    assert cast.balance(cast.delta) == 99


# ---------------------------------------------------------------- burn


def test_burn_by_bank_destroys_own_balance(cast: Cast) -> None:
    before = supply(cast)
    receipt = send(cast, cast.settlement.functions.burn(250), cast.bank_a)
    assert event(receipt, cast.settlement, "DepositBurned") == {
        "bankOrg": cast.bank_a.org_id,
        "from": cast.bank_a.address,
        "amount": 250,
    }
    assert transfer_event(receipt, cast) == {"from": cast.bank_a.address, "to": ZERO, "value": 250}
    assert cast.balance(cast.bank_a) == FUNDS - 250
    assert supply(cast) == before - 250


def test_burn_more_than_balance_refused(cast: Cast) -> None:
    teller = extra_account(cast, cast.bank_a, "bank-a-teller")
    with reverts("ERC20InsufficientBalance", sender=teller.address, balance=0, needed=1):
        cast.tx(cast.settlement.functions.burn(1), teller)


def test_burn_by_non_bank_refused(cast: Cast) -> None:
    with reverts("SettlementUnauthorized", account=cast.huaxin.address, requiredRole=BANK):
        cast.tx(cast.settlement.functions.burn(1), cast.huaxin)


def test_burn_by_suspended_bank_refused(cast: Cast) -> None:
    suspend_account(cast, cast.bank_a.address)
    with reverts("SettlementUnauthorized", account=cast.bank_a.address, requiredRole=BANK):
        cast.tx(cast.settlement.functions.burn(1), cast.bank_a)


# ---------------------------------------------------------------- burnFrom


def test_burn_from_redeems_with_allowance(cast: Cast) -> None:
    token = cast.settlement.functions
    send(cast, token.approve(cast.bank_b.address, 500), cast.huaxin)
    before = supply(cast)
    receipt = send(cast, token.burnFrom(cast.huaxin.address, 300), cast.bank_b)
    assert event(receipt, cast.settlement, "DepositBurned") == {
        "bankOrg": cast.bank_b.org_id,
        "from": cast.huaxin.address,
        "amount": 300,
    }
    assert transfer_event(receipt, cast) == {"from": cast.huaxin.address, "to": ZERO, "value": 300}
    assert cast.balance(cast.huaxin) == FUNDS - 300
    assert cast.balance(cast.bank_b) == FUNDS
    assert token.allowance(cast.huaxin.address, cast.bank_b.address).call() == 200
    assert supply(cast) == before - 300


def test_burn_from_without_allowance_refused(cast: Cast) -> None:
    with reverts("ERC20InsufficientAllowance", spender=cast.bank_b.address, allowance=0, needed=1):
        cast.tx(cast.settlement.functions.burnFrom(cast.huaxin.address, 1), cast.bank_b)


def test_burn_from_beyond_allowance_refused(cast: Cast) -> None:
    send(cast, cast.settlement.functions.approve(cast.bank_b.address, 10), cast.huaxin)
    with reverts("ERC20InsufficientAllowance", spender=cast.bank_b.address, allowance=10, needed=11):
        cast.tx(cast.settlement.functions.burnFrom(cast.huaxin.address, 11), cast.bank_b)


def test_burn_from_by_non_bank_refused(cast: Cast) -> None:
    send(cast, cast.settlement.functions.approve(cast.delta.address, 10), cast.huaxin)
    with reverts("SettlementUnauthorized", account=cast.delta.address, requiredRole=BANK):
        cast.tx(cast.settlement.functions.burnFrom(cast.huaxin.address, 1), cast.delta)


def test_burn_from_suspended_holder_refused(cast: Cast) -> None:
    """A suspended member's deposit is frozen: not even a redemption moves it."""
    send(cast, cast.settlement.functions.approve(cast.bank_b.address, 10), cast.huaxin)
    suspend_org(cast, cast.huaxin)
    with reverts("SettlementInactiveSender", account=cast.huaxin.address):
        cast.tx(cast.settlement.functions.burnFrom(cast.huaxin.address, 1), cast.bank_b)


# ---------------------------------------------------------------- transfer


def test_transfer_between_members_moves_balance(cast: Cast) -> None:
    before = supply(cast)
    receipt = send(cast, cast.settlement.functions.transfer(cast.delta.address, 1_000), cast.huaxin)
    assert transfer_event(receipt, cast) == {
        "from": cast.huaxin.address,
        "to": cast.delta.address,
        "value": 1_000,
    }
    assert cast.balance(cast.huaxin) == FUNDS - 1_000
    assert cast.balance(cast.delta) == 1_000
    assert supply(cast) == before


def test_transfer_to_own_org_account_allowed(cast: Cast) -> None:
    extra = extra_account(cast, cast.huaxin, "huaxin-2")
    send(cast, cast.settlement.functions.transfer(extra.address, 5), cast.huaxin)
    assert balance_of(cast, extra.address) == 5


def test_transfer_from_suspended_org_refused(cast: Cast) -> None:
    suspend_org(cast, cast.huaxin)
    with reverts("SettlementInactiveSender", account=cast.huaxin.address):
        cast.tx(cast.settlement.functions.transfer(cast.delta.address, 1), cast.huaxin)


def test_transfer_from_suspended_account_refused(cast: Cast) -> None:
    suspend_account(cast, cast.huaxin.address)
    with reverts("SettlementInactiveSender", account=cast.huaxin.address):
        cast.tx(cast.settlement.functions.transfer(cast.delta.address, 1), cast.huaxin)


def test_transfer_from_reinstated_member_allowed(cast: Cast) -> None:
    suspend_org(cast, cast.huaxin)
    send(cast, cast.registry.functions.reinstateOrganisation(cast.huaxin.org_id), cast.operator)
    send(cast, cast.settlement.functions.transfer(cast.delta.address, 1), cast.huaxin)
    assert cast.balance(cast.delta) == 1


@pytest.mark.parametrize("amount", [0, 1])
def test_transfer_from_unknown_sender_refused(cast: Cast, amount: int) -> None:
    with reverts("SettlementInactiveSender", account=cast.stranger.address):
        cast.tx(cast.settlement.functions.transfer(cast.delta.address, amount), cast.stranger)


def test_transfer_from_removed_account_refused(cast: Cast) -> None:
    extra = extra_account(cast, cast.huaxin, "huaxin-2")
    send(cast, cast.settlement.functions.transfer(extra.address, 5), cast.huaxin)
    send(cast, cast.registry.functions.removeAccount(extra.address), cast.operator)
    with reverts("SettlementInactiveSender", account=extra.address):
        cast.tx(cast.settlement.functions.transfer(cast.huaxin.address, 5), extra)
    assert balance_of(cast, extra.address) == 5


def test_transfer_to_non_member_refused(cast: Cast) -> None:
    with reverts("SettlementUnknownRecipient", account=cast.stranger.address):
        cast.tx(cast.settlement.functions.transfer(cast.stranger.address, 1), cast.huaxin)


def test_transfer_to_removed_account_refused(cast: Cast) -> None:
    extra = extra_account(cast, cast.delta, "delta-2")
    send(cast, cast.registry.functions.removeAccount(extra.address), cast.operator)
    with reverts("SettlementUnknownRecipient", account=extra.address):
        cast.tx(cast.settlement.functions.transfer(extra.address, 1), cast.huaxin)


def test_transfer_to_contract_refused(cast: Cast) -> None:
    with reverts("SettlementUnknownRecipient", account=cast.receivables.address):
        cast.tx(cast.settlement.functions.transfer(cast.receivables.address, 1), cast.huaxin)


def test_transfer_to_zero_address_refused(cast: Cast) -> None:
    with reverts("ERC20InvalidReceiver", receiver=ZERO):
        cast.tx(cast.settlement.functions.transfer(ZERO, 1), cast.huaxin)


def test_transfer_to_suspended_member_allowed(cast: Cast) -> None:
    suspend_org(cast, cast.delta)
    send(cast, cast.settlement.functions.transfer(cast.delta.address, 40), cast.huaxin)
    assert cast.balance(cast.delta) == 40
    with reverts("SettlementInactiveSender", account=cast.delta.address):
        cast.tx(cast.settlement.functions.transfer(cast.huaxin.address, 40), cast.delta)


def test_transfer_to_suspended_account_allowed(cast: Cast) -> None:
    suspend_account(cast, cast.delta.address)
    send(cast, cast.settlement.functions.transfer(cast.delta.address, 40), cast.huaxin)
    assert cast.balance(cast.delta) == 40


def test_transfer_more_than_balance_refused(cast: Cast) -> None:
    with reverts("ERC20InsufficientBalance", sender=cast.delta.address, balance=0, needed=1):
        cast.tx(cast.settlement.functions.transfer(cast.eastern.address, 1), cast.delta)


# ---------------------------------------------------------------- approve and transferFrom


def test_approve_sets_allowance(cast: Cast) -> None:
    receipt = send(cast, cast.settlement.functions.approve(cast.eastern.address, 77), cast.delta)
    assert event(receipt, cast.settlement, "Approval") == {
        "owner": cast.delta.address,
        "spender": cast.eastern.address,
        "value": 77,
    }
    assert cast.settlement.functions.allowance(cast.delta.address, cast.eastern.address).call() == 77


def test_transfer_from_with_allowance_moves_funds(cast: Cast) -> None:
    token = cast.settlement.functions
    send(cast, token.approve(cast.eastern.address, 500), cast.huaxin)
    receipt = send(cast, token.transferFrom(cast.huaxin.address, cast.delta.address, 200), cast.eastern)
    assert transfer_event(receipt, cast) == {
        "from": cast.huaxin.address,
        "to": cast.delta.address,
        "value": 200,
    }
    assert cast.balance(cast.delta) == 200
    assert cast.balance(cast.huaxin) == FUNDS - 200
    assert cast.balance(cast.eastern) == 0
    assert token.allowance(cast.huaxin.address, cast.eastern.address).call() == 300


def test_transfer_from_infinite_allowance_not_spent(cast: Cast) -> None:
    token = cast.settlement.functions
    send(cast, token.approve(cast.eastern.address, MAX_UINT), cast.huaxin)
    send(cast, token.transferFrom(cast.huaxin.address, cast.delta.address, 200), cast.eastern)
    assert token.allowance(cast.huaxin.address, cast.eastern.address).call() == MAX_UINT


def test_transfer_from_beyond_allowance_refused(cast: Cast) -> None:
    token = cast.settlement.functions
    send(cast, token.approve(cast.eastern.address, 5), cast.huaxin)
    with reverts("ERC20InsufficientAllowance", spender=cast.eastern.address, allowance=5, needed=6):
        cast.tx(token.transferFrom(cast.huaxin.address, cast.delta.address, 6), cast.eastern)


def test_transfer_from_suspended_owner_refused(cast: Cast) -> None:
    token = cast.settlement.functions
    send(cast, token.approve(cast.eastern.address, 5), cast.huaxin)
    suspend_org(cast, cast.huaxin)
    with reverts("SettlementInactiveSender", account=cast.huaxin.address):
        cast.tx(token.transferFrom(cast.huaxin.address, cast.delta.address, 5), cast.eastern)


def test_transfer_from_to_non_member_refused(cast: Cast) -> None:
    token = cast.settlement.functions
    send(cast, token.approve(cast.eastern.address, 5), cast.huaxin)
    with reverts("SettlementUnknownRecipient", account=cast.stranger.address):
        cast.tx(token.transferFrom(cast.huaxin.address, cast.stranger.address, 5), cast.eastern)


def test_transfer_from_to_suspended_member_allowed(cast: Cast) -> None:
    token = cast.settlement.functions
    send(cast, token.approve(cast.eastern.address, 5), cast.huaxin)
    suspend_org(cast, cast.delta)
    send(cast, token.transferFrom(cast.huaxin.address, cast.delta.address, 5), cast.eastern)
    assert cast.balance(cast.delta) == 5


def test_transfer_from_by_non_member_account_refused(cast: Cast) -> None:
    """A non-member spender must be a contract (the Receivables' DvP); a plain key is refused."""
    token = cast.settlement.functions
    send(cast, token.approve(cast.stranger.address, 5), cast.huaxin)
    with reverts("SettlementInactiveSender", account=cast.stranger.address):
        cast.tx(token.transferFrom(cast.huaxin.address, cast.delta.address, 5), cast.stranger)
    assert cast.balance(cast.delta) == 0
    assert token.allowance(cast.huaxin.address, cast.stranger.address).call() == 5


def test_transfer_from_by_suspended_spender_refused(cast: Cast) -> None:
    # Regression: a suspended account (e.g. a compromised key) could still spend allowances it was
    # given, moving an active member's money to any member, itself included.
    token = cast.settlement.functions
    key_ = extra_account(cast, cast.huaxin, "huaxin-hot-key")
    send(cast, token.approve(key_.address, 1_000), cast.huaxin)
    suspend_account(cast, key_.address)
    with reverts("SettlementInactiveSender", account=key_.address):
        cast.tx(token.transferFrom(cast.huaxin.address, key_.address, 1_000), key_)
    assert balance_of(cast, key_.address) == 0
    assert cast.balance(cast.huaxin) == FUNDS
    assert token.allowance(cast.huaxin.address, key_.address).call() == 1_000


def test_transfer_from_by_spender_of_suspended_org_refused(cast: Cast) -> None:
    token = cast.settlement.functions
    send(cast, token.approve(cast.eastern.address, 500), cast.huaxin)
    suspend_org(cast, cast.eastern)
    with reverts("SettlementInactiveSender", account=cast.eastern.address):
        cast.tx(token.transferFrom(cast.huaxin.address, cast.delta.address, 500), cast.eastern)
    assert cast.balance(cast.delta) == 0
    assert token.allowance(cast.huaxin.address, cast.eastern.address).call() == 500


def test_transfer_from_by_reinstated_spender_allowed(cast: Cast) -> None:
    token = cast.settlement.functions
    key_ = extra_account(cast, cast.huaxin, "huaxin-reinstated-key")
    send(cast, token.approve(key_.address, 1_000), cast.huaxin)
    suspend_account(cast, key_.address)
    send(cast, cast.registry.functions.reinstateAccount(key_.address), cast.operator)
    send(cast, token.transferFrom(cast.huaxin.address, cast.delta.address, 400), key_)
    assert cast.balance(cast.delta) == 400
    assert token.allowance(cast.huaxin.address, key_.address).call() == 600


# ---------------------------------------------------------------- supply accounting


def test_total_supply_equals_sum_of_balances(cast: Cast) -> None:
    token = cast.settlement.functions
    holders = [cast.operator, cast.huaxin, cast.delta, cast.eastern, cast.bank_a, cast.bank_b, cast.north]
    assert supply(cast) == CAST_SUPPLY
    send(cast, token.mint(cast.delta.address, 1_000), cast.bank_a)
    send(cast, token.mint(cast.north.address, 300), cast.bank_b)
    send(cast, token.transfer(cast.eastern.address, 400), cast.delta)
    send(cast, token.burn(50), cast.bank_b)
    send(cast, token.approve(cast.bank_a.address, 100), cast.eastern)
    send(cast, token.burnFrom(cast.eastern.address, 100), cast.bank_a)
    assert supply(cast) == CAST_SUPPLY + 1_000 + 300 - 50 - 100
    assert sum(cast.balance(m) for m in holders) == supply(cast)


def test_financing_and_repayment_move_but_create_no_money(cast: Cast) -> None:
    r = cast.receivables.functions
    rid = cast.confirmed()
    send(
        cast, r.requestFinancing(rid, cast.bank_a.org_id, 50_000, cast.piece(rid)["dueAt"] - DAY), cast.delta
    )
    receipt = send(cast, r.fund(rid, 45_000), cast.bank_a)
    moved = events(receipt, cast.settlement, "Transfer")
    price = event(receipt, cast.receivables, "PieceFinanced")["priceMinor"]
    assert moved == [{"from": cast.bank_a.address, "to": cast.delta.address, "value": price}]
    send(cast, r.repay([rid]), cast.huaxin)
    assert supply(cast) == CAST_SUPPLY
    assert cast.balance(cast.bank_a) == FUNDS - price + 1_000_000_00
    assert cast.balance(cast.huaxin) == FUNDS - 1_000_000_00
