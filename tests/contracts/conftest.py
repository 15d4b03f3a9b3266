"""A chain with the suite deployed and the scenario's organisations admitted, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.devnet import DevNet, dev_account
from chain.roles import Role
from tests.contracts.support import Cast

FUNDS = 10**15  # settlement minor units minted to banks and the core firm


@pytest.fixture(scope="session")
def cast() -> Cast:
    net = DevNet.start()
    c = Cast(
        net=net,
        operator=net.operator,
        huaxin=net.admit("huaxin", Role.CORE_FIRM),
        delta=net.admit("delta", Role.SUPPLIER),
        eastern=net.admit("eastern", Role.SUPPLIER),
        bank_a=net.admit("bank-a", Role.BANK),
        bank_b=net.admit("bank-b", Role.BANK),
        north=net.admit("north", Role.WAREHOUSE),
        cpa=net.admit("cpa", Role.AUDITOR),
        oracle=net.admit("oracle", Role.ORACLE),
        stranger=dev_account("stranger"),
    )
    net.fund(c.stranger.address)
    token = net.suite.settlement.functions
    spender = net.suite.receivables.address
    for bank in (c.bank_a, c.bank_b):
        c.tx(token.mint(bank.address, FUNDS), bank)
        c.tx(token.approve(spender, 2**256 - 1), bank)
    c.tx(token.mint(c.huaxin.address, FUNDS), c.bank_a)
    c.tx(token.approve(spender, 2**256 - 1), c.huaxin)
    return c


@pytest.fixture(autouse=True)
def _isolated(cast: Cast) -> Iterator[None]:
    snapshot = cast.net.snapshot()
    yield
    cast.net.revert(snapshot)
