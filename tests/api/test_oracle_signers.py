"""Oracle operators through the API: bind a node's own key to its organisation, make it a signer.

One network for the module: three ORACLE organisations admitted through the API, their payout
accounts made signers through `POST /oracle/signers` (f = 1: the floor is 3 organisations), and a
supplier and an auditor beside them. Each test leaves that floor in place, so they run in any order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlmodel import Session

from api.models import Organisation, OutboxEntry
from chain.devnet import dev_credit_code
from tests.api.support import Member
from tests.api.world import OPERATOR, World, admit_many, outbox_count, running_network, settle

# One network for the module: keep its tests on one xdist worker (`--dist loadgroup`).
pytestmark = pytest.mark.xdist_group("api_oracle_signers")

ORACLES = ("oracle_a", "oracle_b", "oracle_c")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_network(Path(tmp_path_factory.mktemp("oracle-signers"))) as net:
        members = admit_many(
            net, {**{name: ["ORACLE"] for name in ORACLES}, "sup": ["SUPPLIER"], "cpa": ["AUDITOR"]}
        )
        for name in ORACLES:
            r = net.client.post(
                "/oracle/signers?wait=true", json={"address": members[name].account}, headers=OPERATOR
            )
            assert r.status_code == 200, r.text
        yield World(net, members)


def _fresh_address() -> str:
    return str(Account.create().address)


def _signers(world: World, member: Member | None = None) -> dict[str, Any]:
    r = world.get("/oracle/signers", member)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _bind(world: World, member: Member, address: str) -> dict[str, Any]:
    r = world.net.client.post(
        f"/organisations/{member.org_id}/accounts?wait=true", json={"address": address}, headers=OPERATOR
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _operation(world: World, operation_id: str) -> dict[str, Any]:
    settle(world.net)
    r = world.get(f"/operations/{operation_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _error(response: Any) -> str:
    return str(response.json()["error"]["code"])


# -- signers -------------------------------------------------------------------------------------


def test_signers_lists_the_oracle_organisations_keys_with_quorum(world: World) -> None:
    body = _signers(world, world["cpa"])
    assert body == _signers(world)  # the auditor sees what the operator sees
    by_address = {s["address"]: s for s in body["signers"]}
    for name in ORACLES:
        member = world[name]
        assert by_address[member.account] == {
            "address": member.account,
            "org_id": member.chain_org_id,
            "active": True,
        }
    assert (body["quorum"], body["fault_tolerance"]) == (2, 1)
    assert body["signing_organisations"] == 3


def test_external_key_bound_to_an_oracle_organisation_becomes_a_signer(world: World) -> None:
    c, oracle = world.net.client, world["oracle_a"]
    node_key = _fresh_address()

    bound = _bind(world, oracle, node_key)
    assert bound["operation"]["function"] == "addAccount"
    assert bound["result"] == {"address": node_key, "active": True, "payout": False}
    r = c.get(f"/organisations/{oracle.org_id}/accounts", headers=oracle.headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [
        {"address": oracle.account, "active": True, "payout": True},
        {"address": node_key, "active": True, "payout": False},
    ]

    r = c.post("/oracle/signers?wait=true", json={"address": node_key.lower()}, headers=OPERATOR)
    assert r.status_code == 200, r.text
    assert r.json()["operation"]["function"] == "addSigner"
    listed = {s["address"]: s for s in r.json()["result"]["signers"]}
    assert listed[node_key] == {"address": node_key, "org_id": oracle.chain_org_id, "active": True}
    body = _signers(world)
    assert node_key in {s["address"] for s in body["signers"]}
    # A second key of an organisation counts once: still three signing organisations.
    assert body["signing_organisations"] == 3

    # Added a second time: the contract refuses, and the refusal comes back with its code.
    r = c.post("/oracle/signers?wait=true", json={"address": node_key}, headers=OPERATOR)
    assert r.status_code == 409, r.text
    assert _error(r) == "goods_oracle_signer_state"

    # The organisation keeps signers of three organisations without it: removing it is allowed.
    r = c.delete(f"/oracle/signers/{node_key}?wait=true", headers=OPERATOR)
    assert r.status_code == 200, r.text
    assert node_key not in {s["address"] for s in r.json()["result"]["signers"]}
    assert node_key not in {s["address"] for s in _signers(world)["signers"]}


def test_add_signer_refuses_keys_of_no_oracle_organisation(world: World) -> None:
    c, sup = world.net.client, world["sup"]
    supplier_key = _fresh_address()
    _bind(world, sup, supplier_key)
    before_signers = _signers(world)
    cases = {
        supplier_key: sup.chain_org_id,  # an external key of a supplier
        sup.account: sup.chain_org_id,  # the supplier's custodial payout account
        _fresh_address(): 0,  # a key bound to no organisation
    }
    for address, org_id in cases.items():
        before = outbox_count(world.net)
        r = c.post("/oracle/signers", json={"address": address}, headers=OPERATOR)
        assert r.status_code == 409, r.text
        assert _error(r) == "not_an_oracle_account"
        assert r.json()["error"]["details"] == {"address": address, "org_id": org_id}
        assert outbox_count(world.net) == before, "a refused signer was enqueued"
    assert _signers(world) == before_signers


def test_remove_signer_below_the_organisation_floor_fails_with_the_contracts_code(world: World) -> None:
    c = world.net.client
    before = _signers(world)
    gone = world["oracle_b"].account

    # Answered at once: the operation fails on chain (estimated, never signed), with the error's name.
    r = c.delete(f"/oracle/signers/{gone}", headers=OPERATOR)
    assert r.status_code == 202, r.text
    operation = _operation(world, r.json()["operation"]["id"])
    assert (operation["status"], operation["error_code"]) == ("failed", "GoodsOracleTooFewOrganisations")
    assert operation["tx_hash"] is None

    # Waited for: the refusal is the answer.
    r = c.delete(f"/oracle/signers/{gone}?wait=true", headers=OPERATOR)
    assert r.status_code == 409, r.text
    assert _error(r) == "goods_oracle_too_few_organisations"
    assert _signers(world) == before


def test_signer_writes_refuse_bad_addresses(world: World) -> None:
    c = world.net.client
    address = _fresh_address()
    # EIP-55's own example, its last letter's case flipped.
    wrong_checksum = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"
    bad = ["0x123", "12" * 20, "0x" + "g" * 40, "0x" + "0" * 40, "0X" + "ab" * 20, wrong_checksum]
    before = outbox_count(world.net)
    for value in bad:
        r = c.post("/oracle/signers", json={"address": value}, headers=OPERATOR)
        assert (r.status_code, _error(r)) == (422, "invalid_address"), (value, r.text)
        r = c.delete(f"/oracle/signers/{value}", headers=OPERATOR)
        assert (r.status_code, _error(r)) == (422, "invalid_address"), (value, r.text)
        r = c.post(
            f"/organisations/{world['oracle_a'].org_id}/accounts", json={"address": value}, headers=OPERATOR
        )
        assert (r.status_code, _error(r)) == (422, "invalid_address"), (value, r.text)
        r = c.delete(f"/organisations/{world['oracle_a'].org_id}/accounts/{value}", headers=OPERATOR)
        assert (r.status_code, _error(r)) == (422, "invalid_address"), (value, r.text)
    r = c.post("/oracle/signers", json={"address": address, "org": 1}, headers=OPERATOR)
    assert (r.status_code, _error(r)) == (422, "validation_failed")
    assert outbox_count(world.net) == before


def test_only_the_operator_manages_signers_and_accounts(world: World) -> None:
    c = world.net.client
    oracle, sup, cpa = world["oracle_a"], world["sup"], world["cpa"]
    key = _fresh_address()
    before = outbox_count(world.net)
    for member in (oracle, sup, cpa):
        for method, path, body in (
            ("POST", "/oracle/signers", {"address": oracle.account}),
            ("DELETE", f"/oracle/signers/{oracle.account}", None),
            ("POST", f"/organisations/{oracle.org_id}/accounts", {"address": key}),
            ("DELETE", f"/organisations/{oracle.org_id}/accounts/{oracle.account}", None),
        ):
            r = c.request(method, path, json=body, headers=member.headers)
            assert (r.status_code, _error(r)) == (403, "role_required"), (member.name, method, path)
    for member in (oracle, sup):
        r = c.get("/oracle/signers", headers=member.headers)
        assert (r.status_code, _error(r)) == (403, "role_required"), member.name
    assert outbox_count(world.net) == before


def test_signer_write_replays_under_its_idempotency_key(world: World) -> None:
    c, oracle = world.net.client, world["oracle_c"]
    node_key = _fresh_address()
    _bind(world, oracle, node_key)
    key = {"Idempotency-Key": f"signer-{uuid.uuid4()}", **OPERATOR}

    before = outbox_count(world.net)
    first = c.post("/oracle/signers", json={"address": node_key}, headers=key)
    assert first.status_code == 202, first.text
    again = c.post("/oracle/signers", json={"address": node_key}, headers=key)
    assert (again.status_code, again.json()) == (202, first.json())
    assert again.headers["Idempotent-Replay"] == "true"
    assert outbox_count(world.net) == before + 1
    other = c.post("/oracle/signers", json={"address": oracle.account}, headers=key)
    assert (other.status_code, _error(other)) == (409, "idempotency_key_reused")

    # A refusal is an answer too: replayed, not re-evaluated.
    refused = {"Idempotency-Key": f"signer-{uuid.uuid4()}", **OPERATOR}
    stranger = _fresh_address()
    r1 = c.post("/oracle/signers", json={"address": stranger}, headers=refused)
    r2 = c.post("/oracle/signers", json={"address": stranger}, headers=refused)
    assert (r1.status_code, r2.status_code, r1.json()) == (409, 409, r2.json())

    assert _operation(world, first.json()["operation"]["id"])["status"] == "confirmed"
    r = c.delete(f"/oracle/signers/{node_key}?wait=true", headers=OPERATOR)
    assert r.status_code == 200, r.text


# -- accounts ------------------------------------------------------------------------------------


def test_accounts_are_listed_to_their_organisation_the_operator_and_auditors(world: World) -> None:
    c = world.net.client
    oracle, sup, cpa = world["oracle_b"], world["sup"], world["cpa"]
    path = f"/organisations/{oracle.org_id}/accounts"
    seen = [c.get(path, headers=who).json() for who in (OPERATOR, cpa.headers, oracle.headers)]
    assert seen[0] == seen[1] == seen[2]
    assert {"address": oracle.account, "active": True, "payout": True} in seen[0]["data"]
    # Another organisation's member: 404, as for every object it may not see.
    for stranger in (sup, world["oracle_a"]):
        r = c.get(path, headers=stranger.headers)
        assert (r.status_code, _error(r)) == (404, "organisation_not_found")
    r = c.get("/organisations/999999/accounts", headers=OPERATOR)
    assert (r.status_code, _error(r)) == (404, "organisation_not_found")


def test_bind_account_refuses_unknown_and_pending_organisations(world: World) -> None:
    c = world.net.client
    address = _fresh_address()
    with Session(world.net.client.app.state.runtime.engine) as session:
        pending = Organisation(
            name="not yet admitted",
            credit_code=dev_credit_code(f"pending-{uuid.uuid4()}"),
            roles=32,
            account_address=_fresh_address(),
        )
        session.add(pending)
        session.commit()
        pending_id = pending.id
    before = outbox_count(world.net)
    r = c.post("/organisations/999999/accounts", json={"address": address}, headers=OPERATOR)
    assert (r.status_code, _error(r)) == (404, "organisation_not_found")
    r = c.post(f"/organisations/{pending_id}/accounts", json={"address": address}, headers=OPERATOR)
    assert (r.status_code, _error(r)) == (409, "organisation_pending")
    r = c.get(f"/organisations/{pending_id}/accounts", headers=OPERATOR)
    assert r.json() == {"data": [], "count": 0}
    assert outbox_count(world.net) == before


def test_account_chain_refusals_come_back_as_failed_operations(world: World) -> None:
    c, oracle, sup = world.net.client, world["oracle_a"], world["sup"]
    # Another organisation's key: the registry refuses to bind it twice.
    r = c.post(f"/organisations/{oracle.org_id}/accounts", json={"address": sup.account}, headers=OPERATOR)
    assert r.status_code == 202, r.text
    operation = _operation(world, r.json()["operation"]["id"])
    assert (operation["status"], operation["error_code"]) == ("failed", "MemberRegistryAccountTaken")
    # The payout account cannot be removed.
    r = c.delete(f"/organisations/{sup.org_id}/accounts/{sup.account}?wait=true", headers=OPERATOR)
    assert (r.status_code, _error(r)) == (409, "member_registry_payout_account")
    # Removing through another organisation's path: the API never touches another's key.
    before = outbox_count(world.net)
    r = c.delete(f"/organisations/{oracle.org_id}/accounts/{sup.account}", headers=OPERATOR)
    assert (r.status_code, _error(r)) == (404, "account_not_found")
    assert outbox_count(world.net) == before


def test_unbound_account_leaves_the_organisation(world: World) -> None:
    c, sup = world.net.client, world["sup"]
    key = _fresh_address()
    _bind(world, sup, key)
    r = c.delete(f"/organisations/{sup.org_id}/accounts/{key}?wait=true", headers=OPERATOR)
    assert r.status_code == 200, r.text
    assert r.json()["operation"]["function"] == "removeAccount"
    assert key not in {a["address"] for a in r.json()["result"]["data"]}
    with Session(world.net.client.app.state.runtime.engine) as session:
        entry = session.get(OutboxEntry, r.json()["operation"]["id"])
        assert entry is not None and entry.subject_id == f"org:{sup.org_id}"
