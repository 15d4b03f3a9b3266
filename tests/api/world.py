"""A network started once per test module, and a pre-built world: every role admitted, one object per state.

The `network` fixture of conftest.py is function-scoped (a fresh node per test). Tests that only read
or refuse can share one node: `running_network` starts it with settings overrides, `build_world`
admits one organisation per role (two suppliers, core firms and banks, for cross-organisation cases)
and drives invoices and pieces into each state the access tests need, in bulk, then waits until
the relay and the indexer are idle so the world stays still while tests look at it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlmodel import Session, func, select
from web3.contract import Contract
from web3.types import TxReceipt

from api.app import create_app
from api.custody import MasterKey
from api.models import OutboxEntry
from api.relay import Keyring
from api.settings import ApiSettings
from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_account, dev_credit_code
from chain.merkle import MerkleTree
from chain.readings import Measurements, Reading, sign
from chain.typed_data import OracleReport, sign_report
from node.testing import running_node
from oracle.proofs import ReadingProof
from tests.api.conftest import OPERATOR_TOKEN, Network
from tests.api.support import Member, invoice_form, pdf

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
SETTLE_TIMEOUT_S = 60.0


@contextmanager
def database(tmp_path: Path) -> Iterator[str]:
    """SQLite under tmp_path, or a fresh PostgreSQL database (SCF_TEST_DATABASE_URL) dropped afterwards.

    conftest's `database_url` drops its databases after every test, which a module-scoped network
    outlives; this one lives exactly as long as the network.
    """
    url = os.environ.get("SCF_TEST_DATABASE_URL")
    if not url or make_url(url).get_backend_name() != "postgresql":
        yield url or f"sqlite:///{tmp_path / 'api.db'}"
        return
    server = make_url(url)
    conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"scf_test_{uuid.uuid4().hex}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def running_network(tmp_path: Path, **overrides: Any) -> Iterator[Network]:
    """The body of conftest's `network` fixture, for any scope, with ApiSettings overrides."""
    with database(tmp_path) as url, _running_network(tmp_path, url, overrides) as net:
        yield net


@contextmanager
def _running_network(tmp_path: Path, url: str, overrides: dict[str, Any]) -> Iterator[Network]:
    operator = dev_account("operator")
    registry = predicted_registry_address(operator.address)
    with running_node(tmp_path, operator_address=operator.address, registry_address=registry) as node:
        chain = ChainClient.connect(node.http_url, poll_interval_s=0.01)
        deployment = deploy_suite(
            chain, operator, SuiteParams(operator_credit_code=dev_credit_code("operator"))
        )
        manifest = tmp_path / "deployment.json"
        deployment.write(manifest)
        params: dict[str, Any] = {
            "database_url": url,
            "rpc_url": node.http_url,
            "manifest_path": manifest,
            "data_dir": tmp_path / "data",
            "master_key": MasterKey.generate(),
            "operator_key": operator.key.to_0x_hex(),
            "bootstrap_token": OPERATOR_TOKEN,
            "relay_poll_s": 0.01,
            "indexer_poll_s": 0.02,
            # Matrix and bad-input tests send hundreds of requests per member; rate limits are tested apart.
            "rate_limit_per_minute": 1_000_000,
        }
        params.update(overrides)
        with TestClient(create_app(ApiSettings(**params))) as client:
            yield Network(node=node, client=client, settings=client.app.state.runtime.settings)


# -- bookkeeping ---------------------------------------------------------------------------------


def outbox_count(net: Network) -> int:
    """Rows in the outbox: every write the API accepted, whatever became of it."""
    with Session(net.client.app.state.runtime.engine) as session:
        return session.exec(select(func.count()).select_from(OutboxEntry)).one()


def settle(net: Network, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
    """Wait until every outbox entry is final and the indexer has read past its block."""
    runtime = net.client.app.state.runtime
    deadline = time.monotonic() + timeout_s
    while True:
        with Session(runtime.engine) as session:
            open_entries = session.exec(
                select(func.count())
                .select_from(OutboxEntry)
                .where(OutboxEntry.status.in_(("pending", "signed", "sent")))  # type: ignore[attr-defined]
            ).one()
            last_block = session.exec(select(func.max(OutboxEntry.block_number))).one() or 0
        if not open_entries and runtime.indexer.head() >= last_block:
            return
        assert time.monotonic() < deadline, f"{open_entries} outbox entries still in flight"
        time.sleep(0.02)


def failed_operations(net: Network) -> list[tuple[str, str, str | None]]:
    """(function, subject, error code) of every failed outbox entry."""
    with Session(net.client.app.state.runtime.engine) as session:
        rows = session.exec(select(OutboxEntry).where(OutboxEntry.status == "failed")).all()
        return [(r.function, r.subject_id, r.error_code) for r in rows]


def accepted(response: Any) -> str:
    """The operation id of a 202 (or waited 200/201) write answer."""
    assert response.status_code in (200, 201, 202), response.text
    return str(response.json()["operation"]["id"])


# -- organisations and members -------------------------------------------------------------------


def admit_many(net: Network, specs: dict[str, list[str]]) -> dict[str, Member]:
    """Admit organisations in bulk (name -> roles), wait until all are active, give each a member."""
    orgs: dict[str, dict[str, Any]] = {}
    for name, roles in specs.items():
        r = net.client.post(
            "/organisations",
            json={"name": name, "credit_code": dev_credit_code(name), "roles": roles},
            headers=OPERATOR,
        )
        assert r.status_code == 202, r.text
        orgs[name] = {"id": int(r.json()["operation"]["subject_id"].split(":", 1)[1])}
    settle(net)
    members: dict[str, Member] = {}
    for name, org in orgs.items():
        found = net.client.get(f"/organisations/{org['id']}", headers=OPERATOR).json()
        assert found["status"] == "active", found
        members[name] = add_member(net, found, f"{name} clerk")
    return members


def add_member(net: Network, org: dict[str, Any], name: str) -> Member:
    """A new member (and API key) of an organisation, as the operator adds it."""
    r = net.client.post(f"/organisations/{org['id']}/members", json={"name": name}, headers=OPERATOR)
    assert r.status_code == 201, r.text
    return Member(
        org["name"],
        org["id"],
        org["chain_org_id"],
        org["credit_code"],
        r.json()["api_key"],
        org["account_address"],
    )


def another_member(net: Network, member: Member) -> Member:
    """A second member of `member`'s organisation, with a key of its own."""
    org = net.client.get(f"/organisations/{member.org_id}", headers=OPERATOR).json()
    return add_member(net, org, f"{member.name} #{time.monotonic_ns()}")


def key_id(net: Network, member: Member) -> int:
    r = net.client.get("/me", headers=member.headers)
    assert r.status_code == 200, r.text
    return int(r.json()["api_key_id"])


# -- invoices and pieces -------------------------------------------------------------------------


def post_invoice(
    net: Network, seller: Member, form: dict[str, Any], document: bytes, *, query: str = ""
) -> Any:
    return net.client.post(
        f"/invoices{query}",
        data={"invoice": json.dumps(form)},
        files={"document": ("invoice.pdf", document, "application/pdf")},
        headers=seller.headers,
    )


def due_at(piece: dict[str, Any]) -> int:
    return int(piece["due_at"])


@dataclass
class World:
    """Organisations by role and objects by state, on one running network."""

    net: Network
    m: dict[str, Member]
    invoices: dict[str, str] = field(default_factory=dict)  # label -> invoice (= root piece) id
    uploads: dict[str, str] = field(default_factory=dict)  # label -> the upload's operation id
    goods: Goods | None = None  # lots and receipts, once `build_goods` has made them

    def __getitem__(self, name: str) -> Member:
        return self.m[name]

    def get(self, path: str, member: Member | None = None) -> Any:
        return self.net.client.get(path, headers=member.headers if member else OPERATOR)


# Who is who: the first of each pair is the "natural party" of the world's objects.
ROLES: dict[str, list[str]] = {
    "core_a": ["CORE_FIRM"],
    "core_b": ["CORE_FIRM"],
    "sup_a": ["SUPPLIER"],
    "sup_b": ["SUPPLIER"],
    "bank_a": ["BANK"],
    "bank_b": ["BANK"],
    "warehouse": ["WAREHOUSE"],
    "auditor": ["AUDITOR"],
    "oracle": ["ORACLE"],
    "spare": ["SUPPLIER"],  # suspended, reinstated and given members by the operator's matrix cells
}

# Invoice label -> (seller, buyer, states to drive it through).
# registered: uploaded only; confirmed: + confirmed; requested/market: + a financing request to
# bank_a / to the open market (requested_b: to bank_b); funded/market_funded: + funded by bank_a.
OBJECTS: dict[str, tuple[str, str, str]] = {
    "registered": ("sup_a", "core_a", "registered"),
    "reg_confirm": ("sup_a", "core_a", "registered"),
    "reg_reject": ("sup_a", "core_a", "registered"),
    "reg_sig": ("sup_a", "core_a", "registered"),
    "reg_batch": ("sup_a", "core_a", "registered"),
    "view": ("sup_a", "core_a", "requested"),
    "split": ("sup_a", "core_a", "confirmed"),
    "transfer": ("sup_a", "core_a", "confirmed"),
    "request": ("sup_a", "core_a", "confirmed"),
    "cancel": ("sup_a", "core_a", "requested"),
    "fund": ("sup_a", "core_a", "requested"),
    "repay": ("sup_a", "core_a", "confirmed"),
    "market": ("sup_a", "core_a", "market"),
    "funded": ("sup_a", "core_a", "funded"),
    "market_funded": ("sup_a", "core_a", "market_funded"),
    "b_confirmed": ("sup_b", "core_b", "confirmed"),
    "b_requested": ("sup_b", "core_b", "requested_b"),
}


def build_world(
    net: Network,
    *,
    roles: dict[str, list[str]] | None = None,
    objects: dict[str, tuple[str, str, str]] | None = None,
) -> World:
    """Admit the organisations and drive each object to its state, in bulk; return when all is idle."""
    roles = ROLES if roles is None else roles
    objects = OBJECTS if objects is None else objects
    world = World(net, admit_many(net, roles))
    c = net.client
    if "bank_a" in world.m:
        bank = world["bank_a"]
        r = c.post(
            "/settlement/deposits",
            json={"to_org_id": bank.org_id, "amount": "9000000.00"},
            headers=bank.headers,
        )
        accepted(r)

    stamp = dt.datetime.now().strftime("%H%M%S%f")
    for n, (label, (seller, buyer, _)) in enumerate(objects.items()):
        form = invoice_form(f"W-{stamp}-{n}", world[buyer], f"{1000 + n}.00")
        r = post_invoice(net, world[seller], form, pdf(f"{stamp} {label}"))
        world.uploads[label] = accepted(r)
        world.invoices[label] = r.json()["operation"]["subject_id"]
    settle(net)

    def stage(states: set[str], send: Any) -> None:
        for label, (seller, buyer, state) in objects.items():
            if state in states:
                accepted(send(label, world[seller], world[buyer]))
        settle(net)

    def confirm(label: str, _: Member, buyer: Member) -> Any:
        return c.post(f"/invoices/{world.invoices[label]}/confirm", headers=buyer.headers)

    def request(label: str, seller: Member, _: Member) -> Any:
        piece = world.invoices[label]
        state = objects[label][2]
        bank = None if state.startswith("market") else world["bank_b" if state == "requested_b" else "bank_a"]
        due = due_at(c.get(f"/receivables/{piece}", headers=seller.headers).json())
        body: dict[str, Any] = {"max_rate_ppm": 80_000, "expires_at": due - 86_400}
        if bank is not None:
            body["bank_credit_code"] = bank.credit_code
        return c.post(f"/receivables/{piece}/financing-requests", json=body, headers=seller.headers)

    def fund(label: str, _: Member, __: Member) -> Any:
        return c.post(
            f"/receivables/{world.invoices[label]}/fund",
            json={"rate_ppm": 45_000},
            headers=world["bank_a"].headers,
        )

    requested = {"requested", "market", "funded", "market_funded", "requested_b"}
    stage({"confirmed", *requested}, confirm)
    stage(requested, request)
    stage({"funded", "market_funded"}, fund)
    assert not failed_operations(net), failed_operations(net)
    return world


# -- goods: oracle signers, signed reports, proof endpoints --------------------------------------

OK, WARNING, ALERT, OFFLINE = 1, 2, 3, 4  # IGoodsOracle.Status


def device_key(name: str) -> LocalAccount:
    """The development signing key of device `name`."""
    return dev_account(f"device:{name}")


class ProofServer:
    """Stands in for an oracle node's proof endpoint: `GET /proofs/{device}/{seq}`, as oracle/http.py."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}
        answers = self.answers

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = self.path.strip("/").split("/")
                found = None
                if len(parts) == 3 and parts[0] == "proofs" and parts[2].isdigit():
                    found = answers.get((parts[1], int(parts[2])))
                status, body = found or (404, {"code": "unknown_reading", "detail": "never accepted"})
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, proof: ReadingProof | dict[str, Any], status: int = 200) -> None:
        body = proof.as_json() if isinstance(proof, ReadingProof) else proof
        self.answers[(body.get("device", ""), int(body.get("seq", 0)))] = (status, body)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def proof_server() -> Iterator[ProofServer]:
    server = ProofServer()
    try:
        yield server
    finally:
        server.close()


@dataclass
class Anchored:
    """A round anchored on chain: its readings, tree, and the report's transaction."""

    lot_id: bytes
    round: int
    readings: list[Reading]
    tree: MerkleTree
    receipt: TxReceipt

    def proof(self, reading: Reading) -> ReadingProof:
        """What an honest oracle node serves for `reading`."""
        return ReadingProof(
            self.lot_id,
            self.round,
            self.tree.root,
            self.tree.proof(reading.leaf),
            reading.device,
            reading.device_id,
            reading.seq,
            reading.payload_hash,
            reading.leaf,
            reading.to_json(),
        )


@dataclass
class GoodsOracle:
    """Oracle organisations admitted through the API, made signers by the operator (`POST /oracle/signers`).

    Their custodial accounts sign reports (EIP-712) and submit them from a client of their own:
    the API's relay never signs for an oracle organisation, so no nonce is shared.
    """

    net: Network
    signers: list[LocalAccount]  # ascending address order
    client: ChainClient
    contract: Contract

    @classmethod
    def start(cls, net: Network, members: Sequence[Member]) -> GoodsOracle:
        runtime = net.client.app.state.runtime
        keyring = Keyring(runtime.engine, runtime.master_key)
        accounts = sorted((keyring.account(m.org_id) for m in members), key=lambda a: int(a.address, 16))
        for account in accounts:
            r = net.client.post(
                "/oracle/signers?wait=true", json={"address": account.address}, headers=OPERATOR
            )
            assert r.status_code == 200, r.text
        assert not failed_operations(net), failed_operations(net)
        client = ChainClient.connect(net.settings.rpc_url, poll_interval_s=0.01)
        contract = client.contract("GoodsOracle", runtime.deployment.address("GoodsOracle"))
        assert len(contract.functions.signers().call()) >= 3
        return cls(net, accounts, client, contract)

    def now(self) -> int:
        return int(self.client.w3.eth.get_block("latest")["timestamp"])

    def status(self, lot: str) -> tuple[int, int]:
        """(status, round) on chain."""
        status, round_, _, _ = self.contract.functions.lotStatus(bytes.fromhex(lot[2:])).call()
        return status, round_

    def report(
        self,
        lot: str,
        status: int,
        *,
        root: bytes | None = None,
        count: int = 1,
        signers: int = 2,
    ) -> TxReceipt:
        """Sign (by `signers` oracle signers) and submit the lot's next round; wait until it is indexed."""
        lot_id = bytes.fromhex(lot[2:])
        _, last = self.status(lot)
        report = OracleReport(
            lot_id=lot_id,
            round=last + 1,
            status=status,
            readings_root=root if root is not None else keccak(text=f"{lot}:{last + 1}"),
            reading_count=count,
            observed_at=self.now(),
        )
        runtime = self.net.client.app.state.runtime
        signatures = sign_report(
            self.signers[:signers], chain_id=self.client.chain_id, oracle=self.contract.address, report=report
        )
        fn = self.contract.functions.submitReport(report.as_tuple(), signatures)
        receipt = self.client.transact(fn, self.signers[0])
        assert runtime.indexer.wait_for_block(receipt["blockNumber"], SETTLE_TIMEOUT_S)
        return receipt

    def anchor(self, lot: str, readings: list[Reading], status: int = OK) -> Anchored:
        """Report `readings` (their Merkle root) as the lot's next round."""
        tree = MerkleTree.build([r.leaf for r in readings])
        receipt = self.report(lot, status, root=tree.root, count=len(readings))
        _, round_ = self.status(lot)
        return Anchored(bytes.fromhex(lot[2:]), round_, readings, tree, receipt)


def reading(name: str, seq: int, *, weight_g: int = 120_000_000, key: LocalAccount | None = None) -> Reading:
    """A reading of device `name`, signed by its development key (or `key`)."""
    return sign(
        Reading(name, seq, int(time.time() * 1000), Measurements(weight_g=weight_g, door="closed")),
        key or device_key(name),
    )


def lot_body(reference: str, devices: int = 3) -> dict[str, Any]:
    """A lot of 120 t of steel coils with `devices` sensors named `<reference>-d<i>`."""
    names = [f"{reference}-d{i}" for i in range(devices)]
    return {
        "reference": reference,
        "goods": "steel coils",
        "specification": "Q235B 2.0mm x 1250mm",
        "quantity": "120",
        "unit": "t",
        "location": "North warehouse, bay 3",
        "devices": [{"device": name, "key": device_key(name).address} for name in names],
    }


# Goods label -> what to drive the lot to (all kept by `warehouse`, receipts issued to `sup_a`):
# registered: no receipt; issued: receipt, goods OK; pledged: + pledged to bank_a;
# frozen: + lot in ALERT after the pledge.
GOODS: dict[str, str] = {
    "g_view": "pledged",
    "g_issue": "registered",
    "g_transfer": "issued",
    "g_pledge": "issued",
    "g_release": "pledged",
    "g_enforce": "frozen",
    "g_surrender": "issued",
}


@dataclass
class Goods:
    """The lots of a world (label -> lot id), the oracle driving them, and a proof served for g_view."""

    oracle: GoodsOracle
    lots: dict[str, str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    anchored: Anchored | None = None


def build_goods(world: World, proofs: ProofServer | None, goods: dict[str, str] | None = None) -> Goods:
    """Admit two more oracle organisations, register the signers, and drive each lot to its state."""
    net, c = world.net, world.net.client
    goods = GOODS if goods is None else goods
    extra = admit_many(net, {"oracle_2": ["ORACLE"], "oracle_3": ["ORACLE"]})
    world.m.update(extra)
    oracle = GoodsOracle.start(net, [world["oracle"], extra["oracle_2"], extra["oracle_3"]])
    built = Goods(oracle)
    warehouse, sup_a, bank_a = world["warehouse"], world["sup_a"], world["bank_a"]
    stamp = dt.datetime.now().strftime("%H%M%S%f")
    for label in goods:
        reference = f"{label}-{stamp}"
        r = c.post("/lots", json=lot_body(reference), headers=warehouse.headers)
        accepted(r)
        built.lots[label] = r.json()["operation"]["subject_id"]
        built.references[label] = reference
    settle(net)
    for label, state in goods.items():
        if state == "registered":
            continue
        if label == "g_view":
            names = [f"{built.references[label]}-d{i}" for i in range(3)]
            built.anchored = oracle.anchor(built.lots[label], [reading(n, 1) for n in names])
            if proofs is not None:
                for item in built.anchored.readings:
                    proofs.serve(built.anchored.proof(item))
        else:
            oracle.report(built.lots[label], OK)
        form = {"owner_credit_code": sup_a.credit_code, "document_sha256": "ab" * 32}
        accepted(c.post(f"/lots/{built.lots[label]}/receipt", data=form, headers=warehouse.headers))
    settle(net)
    until = oracle.now() + 30 * 86_400
    for label, state in goods.items():
        if state in ("pledged", "frozen"):
            body = {"bank_credit_code": bank_a.credit_code, "pledged_until": until}
            accepted(c.post(f"/receipts/{built.lots[label]}/pledge", json=body, headers=sup_a.headers))
    settle(net)
    for label, state in goods.items():
        if state == "frozen":
            oracle.report(built.lots[label], ALERT)
    assert not failed_operations(net), failed_operations(net)
    return built
