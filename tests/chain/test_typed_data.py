"""chain.typed_data: Python EIP-712 digests equal the contracts' (GoodsOracle.reportDigest, Receivables)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_utils import keccak

from chain.devnet import DevNet, Org, dev_account
from chain.roles import Role
from chain.typed_data import (
    OracleReport,
    confirmation_message,
    digest,
    report_message,
    sign,
    sign_report,
)

DAY = 86_400


@dataclass
class World:
    net: DevNet
    supplier: Org
    core: Org


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    net = DevNet.start()
    yield World(net, net.admit("td-supplier", Role.SUPPLIER), net.admit("td-core", Role.CORE_FIRM))


def _report(**overrides: object) -> OracleReport:
    fields: dict[str, object] = {
        "lot_id": keccak(text="td-lot"),
        "round": 3,
        "status": 2,
        "readings_root": keccak(text="td-root"),
        "reading_count": 17,
        "observed_at": 1_700_000_000,
    }
    fields.update(overrides)
    return OracleReport(**fields)  # type: ignore[arg-type]


REPORTS = {
    "typical": _report(),
    "offline_no_readings": _report(status=4, readings_root=b"\x00" * 32, reading_count=0),
    "max_fields": _report(
        lot_id=b"\xff" * 32, round=2**64 - 1, status=4, reading_count=2**32 - 1, observed_at=2**40 - 1
    ),
    "zeros": _report(
        lot_id=b"\x00" * 32, round=0, status=0, readings_root=b"\x00" * 32, reading_count=0, observed_at=0
    ),
}


# ---------------------------------------------------------------- oracle reports


@pytest.mark.parametrize("name", list(REPORTS))
def test_report_digest_equals_contract_reportDigest(world: World, name: str) -> None:
    report = REPORTS[name]
    oracle = world.net.suite.oracle
    message = report_message(chain_id=world.net.client.chain_id, oracle=oracle.address, report=report)
    assert oracle.functions.reportDigest(report.as_tuple()).call() == digest(message)


def test_report_digest_bound_to_chain_id_and_contract(world: World) -> None:
    report = REPORTS["typical"]
    chain_id, oracle = world.net.client.chain_id, world.net.suite.oracle.address
    base = digest(report_message(chain_id=chain_id, oracle=oracle, report=report))
    assert base != digest(report_message(chain_id=chain_id + 1, oracle=oracle, report=report))
    other = world.net.suite.receipts.address
    assert base != digest(report_message(chain_id=chain_id, oracle=other, report=report))


@pytest.mark.parametrize(
    "field", ["lot_id", "round", "status", "readings_root", "reading_count", "observed_at"]
)
def test_report_digest_covers_every_field(world: World, field: str) -> None:
    report = REPORTS["typical"]
    value = getattr(report, field)
    changed = _report(**{field: keccak(value) if isinstance(value, bytes) else value + 1})
    oracle = world.net.suite.oracle
    assert (
        oracle.functions.reportDigest(changed.as_tuple()).call()
        != oracle.functions.reportDigest(report.as_tuple()).call()
    )


def test_report_as_tuple_follows_solidity_struct_order() -> None:
    r = REPORTS["typical"]
    assert r.as_tuple() == (r.lot_id, r.round, r.status, r.readings_root, r.reading_count, r.observed_at)


def test_report_message_domain_and_types() -> None:
    message = report_message(chain_id=5, oracle="0x" + "11" * 20, report=REPORTS["typical"])
    assert message["domain"] == {
        "name": "scfnet GoodsOracle",
        "version": "1",
        "chainId": 5,
        "verifyingContract": "0x" + "11" * 20,
    }
    assert message["primaryType"] == "Report"
    assert [f["name"] for f in message["types"]["Report"]] == [
        "lotId",
        "round",
        "status",
        "readingsRoot",
        "readingCount",
        "observedAt",
    ]


def test_sign_report_orders_by_signer_address_and_recovers(world: World) -> None:
    accounts = [dev_account(f"td-signer-{i}") for i in range(4)]
    report = REPORTS["typical"]
    kwargs = {"chain_id": world.net.client.chain_id, "oracle": world.net.suite.oracle.address}
    signatures = sign_report(accounts, report=report, **kwargs)  # type: ignore[arg-type]
    d = digest(report_message(report=report, **kwargs))  # type: ignore[arg-type]
    recovered = [Account._recover_hash(d, signature=s) for s in signatures]
    assert recovered == sorted((a.address for a in accounts), key=lambda a: int(a, 16))
    assert all(len(s) == 65 for s in signatures)


# ---------------------------------------------------------------- receivable confirmations


@pytest.mark.parametrize(("nonce", "deadline_days"), [(0, 1), (7, 30), (2**64, 3650)])
def test_confirmation_digest_equals_contract_confirmationDigest(
    world: World, nonce: int, deadline_days: int
) -> None:
    net = world.net
    rid = int.from_bytes(keccak(text=f"td-invoice-{nonce}"), "big") >> 1  # root ids stay below 2^255
    amount, due = 123_456_78, net.now() + 90 * DAY
    net.tx(
        net.suite.receivables.functions.register(rid, world.core.org_id, amount, due, keccak(text="doc")),
        world.supplier,
    )
    deadline = net.now() + deadline_days * DAY
    message = confirmation_message(
        chain_id=net.client.chain_id,
        receivables=net.suite.receivables.address,
        receivable_id=rid,
        amount_minor=amount,
        due_at=due,
        nonce=nonce,
        deadline=deadline,
    )
    assert net.suite.receivables.functions.confirmationDigest(rid, nonce, deadline).call() == digest(message)
    signature = sign(world.core.account, message)
    assert Account._recover_hash(digest(message), signature=signature) == world.core.address
