"""Goods over HTTP on a real chain: lots, receipts, pledges, the freeze on ALERT, alerts, reading proofs.

The goods oracle is driven with real reports signed (EIP-712) by three oracle organisations admitted
through the API and registered as signers, as oracle nodes do; reading proofs come from a stand-in
of the oracle nodes' proof endpoint serving what an honest (or a lying) node would.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.errors import STATUS_BY_KIND
from api.models import GoodsAlert, Lot, LotDevice, LotReport, Notification, Receipt
from api.notifier import verify_signature
from api.services.errors import from_revert, snake
from chain.errors import GoodsOracleError, WarehouseError, error_class
from contracts.artifacts import load_artifact
from tests.api.support import Member, pdf
from tests.api.test_notifications import Stream as EventStream
from tests.api.test_notifications import receiver, served, wait_until
from tests.api.world import (
    ALERT,
    OFFLINE,
    OK,
    OPERATOR,
    WARNING,
    Anchored,
    GoodsOracle,
    ProofServer,
    World,
    build_world,
    device_key,
    lot_body,
    outbox_count,
    proof_server,
    reading,
    running_network,
    settle,
)

ROLES = {
    "north": ["WAREHOUSE"],
    "south": ["WAREHOUSE"],
    "delta": ["SUPPLIER"],
    "eastern": ["SUPPLIER"],
    "huaxin": ["CORE_FIRM"],
    "bank_b": ["BANK"],
    "bank_c": ["BANK"],
    "cpa": ["AUDITOR"],
    "oracle": ["ORACLE"],
    "oracle_2": ["ORACLE"],
    "oracle_3": ["ORACLE"],
}
DAY = 86_400
_serial = itertools.count()
# One network for the module: keep its tests on one xdist worker (`--dist loadgroup`).
pytestmark = pytest.mark.xdist_group("api_goods")


@dataclass
class Goods:
    world: World
    oracle: GoodsOracle
    primary: ProofServer
    secondary: ProofServer

    @property
    def c(self) -> TestClient:
        return self.world.net.client

    def __getitem__(self, name: str) -> Member:
        return self.world[name]

    def lot(self, devices: int = 3, *, by: str = "north") -> tuple[str, str]:
        """Register a fresh lot (waiting for the chain); its id and reference."""
        reference = f"LOT-{next(_serial)}-{id(self) % 1000}"
        r = self.c.post("/lots?wait=true", json=lot_body(reference, devices), headers=self[by].headers)
        assert r.status_code == 201, r.text
        return r.json()["result"]["id"], reference

    def issue(self, lot: str, owner: str = "delta", *, by: str = "north") -> dict[str, Any]:
        form = {"owner_credit_code": self[owner].credit_code}
        files = {"document": ("receipt.pdf", pdf(f"receipt {lot}"), "application/pdf")}
        r = self.c.post(f"/lots/{lot}/receipt?wait=true", data=form, files=files, headers=self[by].headers)
        assert r.status_code == 201, r.text
        return r.json()["result"]  # type: ignore[no-any-return]

    def pledge(self, lot: str, bank: str = "bank_b", *, by: str = "delta", days: int = 30) -> Any:
        body = {"bank_credit_code": self[bank].credit_code, "pledged_until": self.oracle.now() + days * DAY}
        return self.c.post(f"/receipts/{lot}/pledge?wait=true", json=body, headers=self[by].headers)

    def pledged(self, bank: str = "bank_b") -> str:
        """A lot whose goods are OK and whose receipt Delta has pledged to `bank`."""
        lot, _ = self.lot()
        self.oracle.report(lot, OK)
        self.issue(lot)
        r = self.pledge(lot, bank)
        assert r.status_code == 200 and r.json()["result"]["state"] == "pledged", r.text
        return lot

    def get(self, path: str, who: str) -> Any:
        return self.c.get(path, headers=OPERATOR if who == "operator" else self[who].headers)

    def post(self, path: str, who: str, **kwargs: Any) -> Any:
        return self.c.post(path, headers=OPERATOR if who == "operator" else self[who].headers, **kwargs)


@pytest.fixture(scope="module")
def goods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Goods]:
    with pytest.MonkeyPatch.context() as mp, proof_server() as primary, proof_server() as secondary:
        mp.setenv("SCF_API_WEBHOOK_ALLOW_PRIVATE_URLS", "true")
        mp.setenv("SCF_API_WEBHOOK_POLL_S", "0.02")
        mp.setenv("SCF_API_WEBHOOK_STREAM_POLL_S", "0.05")
        mp.setenv("SCF_API_WEBHOOK_STREAM_KEEPALIVE_S", "0.2")
        urls = [primary.url, secondary.url]
        with running_network(Path(tmp_path_factory.mktemp("goods")), oracle_proof_urls=urls) as net:
            world = build_world(net, roles=ROLES, objects={})
            oracle = GoodsOracle.start(net, [world["oracle"], world["oracle_2"], world["oracle_3"]])
            yield Goods(world, oracle, primary, secondary)


# -- lots and receipts -----------------------------------------------------------------------------


def test_lot_registered_with_devices_and_receipt_issued_transferred_surrendered(goods: Goods) -> None:
    c, north, delta, eastern = goods.c, goods["north"], goods["delta"], goods["eastern"]
    lot, reference = goods.lot()
    shown = goods.get(f"/lots/{reference}", "north").json()
    assert shown["id"] == lot and shown["reference"] == reference
    assert shown["warehouse_org"] == north.chain_org_id and shown["goods"] == "steel coils"
    assert shown["quantity"] == "120" and shown["quantity_milli"] == 120_000 and shown["unit"] == "t"
    assert shown["status"] == "unknown" and shown["receipt"] is None
    names = sorted(d["name"] for d in shown["devices"])
    assert names == [f"{reference}-d{i}" for i in range(3)]
    assert {d["key"] for d in shown["devices"]} == {device_key(n).address for n in names}
    # Only its parties see a lot: its warehouse now; not another warehouse, nor a supplier yet.
    assert goods.get(f"/lots/{lot}", "south").status_code == 404
    assert goods.get(f"/lots/{lot}", "delta").status_code == 404
    assert lot in {x["id"] for x in goods.get("/lots?limit=200", "north").json()["data"]}
    assert lot not in {x["id"] for x in goods.get("/lots?limit=200", "south").json()["data"]}

    goods.oracle.report(lot, OK)
    assert goods.get(f"/lots/{lot}", "north").json()["status"] == "ok"
    document = pdf(f"receipt {lot}")
    receipt = goods.issue(lot)
    assert receipt["owner_org"] == delta.chain_org_id and receipt["state"] == "issued"
    assert receipt["document_hash"] == "0x" + hashlib.sha256(document).hexdigest()
    assert receipt["reference"] == reference and receipt["goods_status"] == "ok"
    assert goods.get(f"/lots/{lot}", "delta").json()["receipt"]["id"] == lot
    # A second receipt for the lot: refused, nothing queued.
    before = outbox_count(goods.world.net)
    r = goods.post(
        f"/lots/{lot}/receipt",
        "north",
        data={"owner_credit_code": eastern.credit_code, "document_sha256": "a" * 64},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "receipt_exists"
    assert outbox_count(goods.world.net) == before

    r = c.post(
        f"/receipts/{lot}/transfer?wait=true",
        json={"to_credit_code": eastern.credit_code},
        headers=delta.headers,
    )
    assert r.status_code == 200 and r.json()["result"]["owner_org"] == eastern.chain_org_id, r.text
    assert goods.get(f"/receipts/{lot}", "delta").status_code == 404  # no longer Delta's business
    assert lot in {x["id"] for x in goods.get("/receipts?limit=200", "eastern").json()["data"]}
    r = goods.post(f"/receipts/{lot}/surrender", "delta")
    assert r.status_code == 404
    r = c.post(f"/receipts/{lot}/surrender?wait=true", headers=eastern.headers)
    assert r.status_code == 200 and r.json()["result"]["state"] == "surrendered", r.text
    r = goods.post(f"/receipts/{lot}/transfer", "eastern", json={"to_credit_code": delta.credit_code})
    assert r.status_code == 409 and r.json()["error"]["code"] == "receipt_surrendered"


def test_scenario_pledge_then_alert_freezes_the_receipt_and_tells_the_bank(goods: Goods) -> None:
    """Scenario steps 8 and 9: LOT-7 pledged to Bank B; weight drop and door: ALERT, frozen, Bank B told."""
    c, delta, bank_b, north = goods.c, goods["delta"], goods["bank_b"], goods["north"]
    with receiver() as hook_bank, receiver() as hook_owner:
        bank_hook = c.post(
            "/webhooks",
            json={"url": hook_bank.url, "event_types": ["lot.alert", "receipt.frozen"]},
            headers=bank_b.headers,
        ).json()
        c.post("/webhooks", json={"url": hook_owner.url, "event_types": []}, headers=delta.headers)
        lot = goods.pledged("bank_b")
        receipt = goods.get(f"/receipts/{lot}", "bank_b").json()
        assert receipt["pledgee_org"] == bank_b.chain_org_id and receipt["frozen"] is False
        # Pledged once: no second pledge, no transfer, no surrender while pledged.
        for path, body in (
            (
                "pledge",
                {"bank_credit_code": goods["bank_c"].credit_code, "pledged_until": goods.oracle.now() + DAY},
            ),
            ("transfer", {"to_credit_code": goods["eastern"].credit_code}),
            ("surrender", None),
        ):
            r = goods.post(f"/receipts/{lot}/{path}", "delta", json=body)
            assert r.status_code == 409 and r.json()["error"]["code"] == "receipt_pledged", (path, r.text)

        latest = goods.get(f"/alerts?lot={lot}", "bank_b").json()["count"]
        # Step 10's last refusal: a report signed by one oracle only is refused on chain; nothing moves.
        with pytest.raises(GoodsOracleError) as refused:
            goods.oracle.report(lot, ALERT, signers=1)
        assert refused.value.name == "GoodsOracleQuorumNotMet"
        assert goods.get(f"/lots/{lot}", "bank_b").json()["status"] == "ok"
        goods.oracle.report(lot, ALERT)

        shown = goods.get(f"/lots/{lot}", "bank_b").json()
        assert shown["status"] == "alert" and shown["receipt"]["frozen"] is True
        alerts = goods.get(f"/alerts?lot={lot}", "bank_b").json()
        assert alerts["count"] == latest + 2
        kinds = {a["kind"]: a for a in alerts["data"]}
        assert kinds["lot_status"]["status"] == "alert" and kinds["lot_status"]["previous_status"] == "ok"
        assert kinds["receipt_frozen"]["pledgee_org"] == bank_b.chain_org_id
        assert kinds["receipt_frozen"]["owner_org"] == delta.chain_org_id
        for who in ("delta", "north", "cpa"):
            assert goods.get(f"/alerts?lot={lot}", who).json()["count"] == latest + 2, who
        for who in ("bank_c", "eastern", "south", "operator"):
            assert goods.get(f"/alerts?lot={lot}", who).json()["count"] == 0, who

        # Bank B is told: stored notifications, its webhook, and the event stream.
        types = {
            n["type"]
            for n in goods.get("/notifications?limit=200", "bank_b").json()["data"]
            if n["subject"] == lot
        }
        assert {"lot.alert", "receipt.frozen"} <= types
        owner_types = {
            n["type"]
            for n in goods.get("/notifications?limit=200", "delta").json()["data"]
            if n["subject"] == lot
        }
        assert {"lot.alert", "receipt.frozen"} <= owner_types
        got = wait_until(
            lambda: [
                q
                for q in hook_bank.requests
                if q.json["subject"] == lot and q.json["type"] == "receipt.frozen"
            ]
        )
        assert got[0].json["data"]["pledgeeOrg"] == bank_b.chain_org_id
        assert verify_signature(bank_hook["secret"], got[0].headers["x-scfnet-signature"], got[0].body)
        wait_until(
            lambda: [
                q for q in hook_owner.requests if q.json["subject"] == lot and q.json["type"] == "lot.alert"
            ]
        )
        with served(goods.world.net) as base:
            stream = EventStream(base, bank_b, last_event_id=0)
            try:
                seen = set()
                while not {"lot.alert", "receipt.frozen"} <= seen:
                    event = stream.next()
                    if event.data["subject"] == lot:
                        seen.add(event.type)
            finally:
                stream.close()
        # The warehouse is told of its lot's alert too (not of the receipt's freeze: not its pledge).
        north_types = {
            n["type"]
            for n in goods.get("/notifications?limit=200", "north").json()["data"]
            if n["subject"] == lot
        }
        assert "lot.alert" in north_types

    # Frozen: the owner can do nothing; the bank may keep, release or enforce the pledge.
    for path, body in (
        ("transfer", {"to_credit_code": goods["eastern"].credit_code}),
        ("surrender", None),
    ):
        r = goods.post(f"/receipts/{lot}/{path}", "delta", json=body)
        assert r.status_code == 409 and r.json()["error"]["code"] in ("receipt_pledged", "receipt_frozen")
    r = c.post(f"/receipts/{lot}/enforce?wait=true", headers=bank_b.headers)
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert (
        result["owner_org"] == bank_b.chain_org_id
        and result["state"] == "issued"
        and result["pledgee_org"] == 0
    )
    assert result["frozen"] is True
    # Delta no longer sees the receipt; the bank, now owner, is frozen out like any owner.
    assert goods.get(f"/receipts/{lot}", "delta").status_code == 404
    r = goods.post(f"/receipts/{lot}/surrender", "bank_b")
    assert r.status_code == 409 and r.json()["error"]["code"] == "receipt_frozen"
    # The goods back to OK: the freeze lifts, and the bank may take the goods out.
    goods.oracle.report(lot, OK)
    assert goods.get(f"/receipts/{lot}", "bank_b").json()["frozen"] is False
    assert {a["kind"] for a in goods.get(f"/alerts?lot={lot}", "bank_b").json()["data"]} >= {
        "receipt_unfrozen"
    }
    r = c.post(f"/receipts/{lot}/surrender?wait=true", headers=bank_b.headers)
    assert r.status_code == 200 and r.json()["result"]["state"] == "surrendered", r.text
    assert north.chain_org_id == goods.get(f"/lots/{lot}", "north").json()["warehouse_org"]


def test_pledge_refused_unless_the_goods_are_ok_or_warning(goods: Goods) -> None:
    lot, _ = goods.lot()
    goods.issue(lot)  # no report yet: the goods are UNKNOWN
    net = goods.world.net
    for status in (None, OFFLINE, ALERT):
        if status is not None:
            goods.oracle.report(lot, status)
        before = outbox_count(net)
        r = goods.pledge(lot)
        expected = "goods_not_verified" if status is None else "receipt_frozen"
        assert r.status_code == 409 and r.json()["error"]["code"] == expected, r.text
        assert outbox_count(net) == before
    # The chain refuses it too, whatever the API's read model says.
    runtime = net.client.app.state.runtime
    receipts = runtime.client.contract("WarehouseReceipts", runtime.deployment.address("WarehouseReceipts"))
    until = goods.oracle.now() + DAY
    with pytest.raises(WarehouseError) as refused:
        runtime.client.call(
            receipts.functions.pledge(bytes.fromhex(lot[2:]), goods["bank_b"].chain_org_id, until),
            sender=goods["delta"].account,
        )
    assert refused.value.name == "WarehouseFrozen"
    # WARNING is good enough to lend against; and the pledge is then recorded once.
    goods.oracle.report(lot, WARNING)
    assert goods.get(f"/receipts/{lot}", "delta").json()["frozen"] is False
    r = goods.pledge(lot)
    assert r.status_code == 200 and r.json()["result"]["goods_status"] == "warning", r.text
    # Bad terms: in the past, or beyond 366 days.
    other, _ = goods.lot()
    goods.oracle.report(other, OK)
    goods.issue(other)
    for until in (goods.oracle.now() - 10, goods.oracle.now() + 367 * DAY):
        body = {"bank_credit_code": goods["bank_b"].credit_code, "pledged_until": until}
        r = goods.post(f"/receipts/{other}/pledge", "delta", json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_pledge_term"
    body = {"bank_credit_code": goods["eastern"].credit_code, "pledged_until": goods.oracle.now() + DAY}
    r = goods.post(f"/receipts/{other}/pledge", "delta", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_bank"


def test_release_by_anyone_but_the_pledgee_is_refused(goods: Goods) -> None:
    lot = goods.pledged("bank_b")
    net = goods.world.net
    before = outbox_count(net)
    refusals = {
        "bank_c": (404, "receipt_not_found"),  # another bank: not its pledge, not even visible
        "delta": (403, "role_required"),  # the owner is no bank
        "north": (403, "role_required"),
        "cpa": (403, "role_required"),
        "operator": (403, "role_required"),
        "eastern": (404, "receipt_not_found"),
    }
    for who, (status, code) in refusals.items():
        for action in ("release", "enforce"):
            r = goods.post(f"/receipts/{lot}/{action}", who)
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), (who, action, r.text)
    assert outbox_count(net) == before
    # The chain itself refuses another bank, should any client try without the API.
    runtime = net.client.app.state.runtime
    receipts = runtime.client.contract("WarehouseReceipts", runtime.deployment.address("WarehouseReceipts"))
    with pytest.raises(WarehouseError) as refused:
        runtime.client.call(
            receipts.functions.releasePledge(bytes.fromhex(lot[2:])), sender=goods["bank_c"].account
        )
    assert refused.value.name == "WarehouseNotPledgee"
    # Not frozen, term not over: the pledgee cannot enforce yet; it may release.
    r = goods.post(f"/receipts/{lot}/enforce", "bank_b")
    assert r.status_code == 409 and r.json()["error"]["code"] == "enforcement_not_allowed"
    assert r.json()["error"]["details"]["allowed_at"] > goods.oracle.now()
    r = goods.post(f"/receipts/{lot}/release?wait=true", "bank_b")
    assert r.status_code == 200, r.text
    assert r.json()["result"]["state"] == "issued" and r.json()["result"]["pledgee_org"] == 0
    # Released: no longer the bank's business, so not even visible to it.
    r = goods.post(f"/receipts/{lot}/release", "bank_b")
    assert r.status_code == 404 and r.json()["error"]["code"] == "receipt_not_found"
    assert goods.get(f"/receipts/{lot}", "delta").json()["state"] == "issued"


def test_pledge_enforced_once_the_term_has_passed(goods: Goods) -> None:
    lot, _ = goods.lot()
    goods.oracle.report(lot, OK)
    goods.issue(lot)
    assert goods.pledge(lot, days=1).status_code == 200
    net = goods.world.net
    net.rpc("evm_increaseTime", [2 * DAY])
    net.rpc("evm_mine", [])
    r = goods.post(f"/receipts/{lot}/enforce?wait=true", "bank_b")
    assert r.status_code == 200, r.text
    assert r.json()["result"]["owner_org"] == goods["bank_b"].chain_org_id


# -- reading proofs --------------------------------------------------------------------------------


def _anchored(goods: Goods, devices: int = 2, *, owner: str = "delta") -> tuple[str, Anchored]:
    lot, reference = goods.lot(devices)
    names = [f"{reference}-d{i}" for i in range(devices)]
    readings = [reading(name, seq) for name in names for seq in (1, 2)]
    anchored = goods.oracle.anchor(lot, readings)
    goods.issue(lot, owner)
    return lot, anchored


def test_reading_proof_verified_end_to_end_against_the_anchored_root(goods: Goods) -> None:
    lot, anchored = _anchored(goods)
    wanted = anchored.readings[1]
    goods.secondary.serve(anchored.proof(wanted))  # the primary never saw it: 404, then the secondary
    path = f"/lots/{lot}/readings/{wanted.device}/{wanted.seq}/proof"
    r = goods.get(path, "cpa")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verified"] is True and body["code"] is None
    assert body["source"] == goods.secondary.url
    assert body["round"] == anchored.round and body["anchored_root"] == "0x" + anchored.tree.root.hex()
    assert body["report_tx_hash"] == anchored.receipt["transactionHash"].to_0x_hex()
    assert body["leaf"] == "0x" + wanted.leaf.hex()
    assert body["reading"]["m"]["weight_g"] == 120_000_000
    # The lot's parties get it too; strangers do not, nor the operator (no party to trade).
    assert goods.get(path, "delta").json()["verified"] is True
    assert goods.get(path, "north").json()["verified"] is True
    for who, status in (("bank_c", 404), ("south", 404), ("operator", 403)):
        assert goods.get(path, who).status_code == status, who
    # A device of another lot, and a reading nobody holds.
    r = goods.get(f"/lots/{lot}/readings/unknown-device/1/proof", "cpa")
    assert r.status_code == 404 and r.json()["error"]["code"] == "device_not_on_lot"
    r = goods.get(f"/lots/{lot}/readings/{wanted.device}/99/proof", "cpa")
    assert r.status_code == 404 and r.json()["error"]["code"] == "reading_proof_not_found"


def test_tampered_proof_is_reported_not_verified(goods: Goods) -> None:
    lot, anchored = _anchored(goods)
    honest = [anchored.proof(r).as_json() for r in anchored.readings]

    def ask(target: dict[str, Any], *, primary: bool = True) -> dict[str, Any]:
        (goods.primary if primary else goods.secondary).serve(target)
        r = goods.get(f"/lots/{lot}/readings/{target['device']}/{target['seq']}/proof", "cpa")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    # A sibling changed: the chain rejects the path.
    forged = {**honest[0], "proof": ["0x" + "11" * 32, *honest[0]["proof"][1:]]}
    body = ask(forged)
    assert body["verified"] is False and body["code"] == "proof_rejected"
    # Another weight published under the proven hash: the reading does not hash to it.
    published = json.loads(honest[1]["reading"])
    published["m"]["weight_g"] = 102_000_000  # the 15 % drop, hidden
    body = ask({**honest[1], "reading": json.dumps(published)})
    assert body["verified"] is False and body["code"] == "reading_mismatch"
    # A root claimed for a round the chain never anchored.
    body = ask({**honest[2], "round": anchored.round + 5})
    assert body["verified"] is False and body["code"] == "root_not_anchored"
    # A lying primary does not hide the honest secondary: the verified proof wins.
    goods.secondary.serve(honest[3])
    body = ask({**honest[3], "proof": list(reversed(honest[3]["proof"])) + ["0x" + "22" * 32]})
    assert body["verified"] is True and body["source"] == goods.secondary.url


def test_reading_signed_by_another_key_is_not_verified_even_when_anchored(goods: Goods) -> None:
    lot, reference = goods.lot(1)
    name = f"{reference}-d0"
    forged = reading(name, 7, key=device_key("somebody else"))
    anchored = goods.oracle.anchor(lot, [reading(name, 6), forged])
    goods.issue(lot)
    goods.primary.serve(anchored.proof(forged))
    body = goods.get(f"/lots/{lot}/readings/{name}/7/proof", "cpa").json()
    assert body["verified"] is False and body["code"] == "reading_signature_invalid"


def test_proof_sources_not_anchored_unreachable_or_unconfigured(
    goods: Goods, monkeypatch: pytest.MonkeyPatch
) -> None:
    lot, anchored = _anchored(goods, 1)
    wanted = anchored.readings[0]
    path = f"/lots/{lot}/readings/{wanted.device}/{wanted.seq}/proof"
    goods.primary.serve({"device": wanted.device, "seq": wanted.seq, "code": "not_anchored"}, status=409)
    r = goods.get(path, "cpa")
    assert r.status_code == 409 and r.json()["error"]["code"] == "reading_not_anchored"
    # A round the chain passed over (a later one was anchored first) can never be proved.
    goods.secondary.serve({"device": wanted.device, "seq": wanted.seq, "code": "skipped"}, status=409)
    r = goods.get(path, "cpa")
    assert r.status_code == 409 and r.json()["error"]["code"] == "reading_round_skipped"
    settings = goods.c.app.state.runtime.settings
    monkeypatch.setattr(settings, "oracle_proof_urls", ["http://127.0.0.1:9"])
    r = goods.get(path, "cpa")
    assert r.status_code == 503 and r.json()["error"]["code"] == "proof_sources_unavailable"
    monkeypatch.setattr(settings, "oracle_proof_urls", [])
    r = goods.get(path, "cpa")
    assert r.status_code == 503 and r.json()["error"]["code"] == "proof_sources_unconfigured"


# -- refusals, errors, read model ------------------------------------------------------------------


def test_bad_input_is_refused_with_a_code_and_changes_nothing(goods: Goods) -> None:
    net = goods.world.net
    lot, reference = goods.lot(1)
    taken = lot_body(reference, 1)["devices"][0]
    goods.oracle.report(lot, OK)
    goods.issue(lot)
    fresh = f"FRESH-{next(_serial)}"

    def body(**changes: Any) -> dict[str, Any]:
        return {**lot_body(fresh, 2), **changes}

    dev = body()["devices"]
    sha = {"document_sha256": "ab" * 32}
    cases: list[tuple[str, str, str, dict[str, Any], int, str]] = [
        ("north", "POST", "/lots", {"json": body(quantity="0")}, 422, "invalid_quantity"),
        ("north", "POST", "/lots", {"json": body(quantity="1.2345")}, 422, "validation_failed"),
        ("north", "POST", "/lots", {"json": body(reference="bad ref")}, 422, "validation_failed"),
        ("north", "POST", "/lots", {"json": body(devices=[])}, 422, "validation_failed"),
        ("north", "POST", "/lots", {"json": body(devices=[dev[0], dev[0]])}, 422, "duplicate_device"),
        (
            "north",
            "POST",
            "/lots",
            {"json": body(devices=[{**dev[0], "key": "0x" + "0" * 40}])},
            422,
            "invalid_device_key",
        ),
        ("north", "POST", "/lots", {"json": body(surprise=1)}, 422, "validation_failed"),
        ("north", "POST", "/lots", {"json": lot_body(reference, 1)}, 409, "lot_exists"),
        ("north", "POST", "/lots", {"json": body(devices=[taken])}, 409, "device_taken"),
        ("delta", "POST", "/lots", {"json": body()}, 403, "role_required"),
        ("north", "GET", "/lots/not%20a%20lot", {}, 422, "invalid_lot_id"),
        ("north", "GET", "/lots/" + "0x" + "ab" * 32, {}, 404, "lot_not_found"),
        (
            "north",
            "POST",
            f"/lots/{lot}/receipt",
            {"data": {"owner_credit_code": goods["delta"].credit_code}},
            409,
            "receipt_exists",
        ),
        (
            "south",
            "POST",
            f"/lots/{lot}/receipt",
            {"data": {"owner_credit_code": goods["delta"].credit_code, **sha}},
            404,
            "lot_not_found",
        ),
        ("delta", "POST", "/receipts/" + "0x" + "ab" * 32 + "/surrender", {}, 404, "receipt_not_found"),
        (
            "delta",
            "POST",
            f"/receipts/{lot}/transfer",
            {"json": {"to_credit_code": goods["delta"].credit_code}},
            422,
            "self_transfer",
        ),
        (
            "delta",
            "POST",
            f"/receipts/{lot}/transfer",
            {"json": {"to_credit_code": goods["cpa"].credit_code}},
            422,
            "unknown_receiver",
        ),
        (
            "delta",
            "POST",
            f"/receipts/{lot}/pledge",
            {"json": {"bank_credit_code": "X" * 18, "pledged_until": 1}},
            422,
            "unknown_bank",
        ),
        (
            "delta",
            "POST",
            f"/receipts/{lot}/pledge",
            {"json": {"bank_credit_code": "X" * 18}},
            422,
            "validation_failed",
        ),
        ("cpa", "GET", f"/lots/{lot}/readings/bad device/1/proof", {}, 422, "invalid_device"),
        ("cpa", "GET", f"/lots/{lot}/readings/{taken['device']}/-1/proof", {}, 422, "validation_failed"),
        ("cpa", "GET", "/alerts?kind=fire", {}, 422, "validation_failed"),
    ]
    unregistered, _ = goods.lot(1)
    cases += [
        (
            "north",
            "POST",
            f"/lots/{unregistered}/receipt",
            {"data": {"owner_credit_code": goods["delta"].credit_code}},
            422,
            "document_required",
        ),
        (
            "north",
            "POST",
            f"/lots/{unregistered}/receipt",
            {"data": {"owner_credit_code": goods["cpa"].credit_code, **sha}},
            422,
            "unknown_owner",
        ),
        (
            "north",
            "POST",
            f"/lots/{unregistered}/receipt",
            {
                "data": {"owner_credit_code": goods["delta"].credit_code},
                "files": {"document": ("a.txt", b"plain text", "text/plain")},
            },
            422,
            "unsupported_document_type",
        ),
    ]
    before = outbox_count(net)
    state = _read_model(net.client)
    problems = []
    for who, method, path, kwargs, status, code in cases:
        headers = OPERATOR if who == "operator" else goods[who].headers
        r = goods.c.request(method, path, headers=headers, **kwargs)
        got = (r.status_code, (r.json().get("error") or {}).get("code"))
        if got != (status, code):
            problems.append(f"{who} {method} {path}: {got}, expected {(status, code)}: {r.text[:200]}")
    assert not problems, "\n".join(problems)
    assert outbox_count(net) == before
    assert _read_model(net.client) == state


def test_every_goods_revert_maps_to_an_error_with_a_code() -> None:
    names = [
        item["name"]
        for contract in ("WarehouseReceipts", "GoodsOracle")
        for item in load_artifact(contract)["abi"]
        if item.get("type") == "error" and item["name"].startswith(("Warehouse", "GoodsOracle"))
    ]
    assert len(names) >= 25
    for name in names:
        error = from_revert(error_class(name)({}, "0x"))
        assert error.code == snake(name) and error.code.startswith(("warehouse_", "goods_oracle_"))
        assert STATUS_BY_KIND[error.kind] == (403 if name.endswith("Unauthorized") else 409)


def _read_model(client: TestClient) -> dict[str, list[Any]]:
    with Session(client.app.state.runtime.engine) as session:
        return {
            table.__name__: sorted(
                json.dumps(
                    {k: v for k, v in row.model_dump().items() if k != "id"}, sort_keys=True, default=str
                )
                for row in session.exec(select(table)).all()
            )
            for table in (Lot, LotDevice, Receipt, LotReport, GoodsAlert)
        }


def test_read_model_rebuilt_from_the_chain_is_the_same_and_reconciles(goods: Goods) -> None:
    goods.pledged("bank_c")
    settle(goods.world.net)
    runtime = goods.c.app.state.runtime
    before = _read_model(goods.c)
    with Session(runtime.engine) as session:
        notified = len(session.exec(select(Notification)).all())
    with Session(runtime.engine) as session:
        runtime.indexer._reset(session)  # what a rewind does: rebuild from the deployment block
        session.commit()
    wait_until(lambda: runtime.indexer.head() >= runtime.client.w3.eth.block_number, 60)
    assert _read_model(goods.c) == before
    with Session(runtime.engine) as session:
        assert len(session.exec(select(Notification)).all()) == notified  # nobody is told twice

    report = goods.get("/audit/reconciliation", "cpa").json()
    assert report["consistent"] is True, report["mismatches"]
    assert report["lots_checked"] >= 1 and report["receipts_checked"] >= 1
    with Session(runtime.engine) as session:
        row = session.exec(select(Receipt).where(Receipt.pledgee_org == goods["bank_c"].chain_org_id)).first()
        assert row is not None
        row.pledgee_org = 0
        session.add(row)
        session.commit()
        tampered = row.id
    report = goods.get("/audit/reconciliation", "cpa").json()
    assert report["consistent"] is False
    assert {
        "kind": "receipt",
        "id": tampered,
        "field": "pledgee_org",
        "database": 0,
        "chain": goods["bank_c"].chain_org_id,
    } in report["mismatches"]
    with Session(runtime.engine) as session:
        row = session.get(Receipt, tampered)
        assert row is not None
        row.pledgee_org = goods["bank_c"].chain_org_id
        session.add(row)
        session.commit()
