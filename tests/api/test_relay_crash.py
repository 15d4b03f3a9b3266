"""Crash safety of writes: the process dies between the database commit and the send, or between
the send and the receipt; a restarted relay loses nothing and sends nothing twice.

A "crash" here discards every in-memory object (app, relay, engine, keyring); only the database
and the chain survive, as after kill -9. The restarted process is a fresh Runtime on the same files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from api.custody import MasterKey
from api.models import Invoice, OutboxEntry
from api.runtime import Runtime
from api.settings import ApiSettings
from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_account, dev_credit_code
from node.testing import RunningNode, running_node
from tests.api.conftest import OPERATOR_TOKEN, Network, database_url
from tests.api.support import admit, invoice_form, pdf, upload


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[tuple[RunningNode, ApiSettings]]:
    operator = dev_account("operator")
    registry = predicted_registry_address(operator.address)
    with running_node(tmp_path, operator_address=operator.address, registry_address=registry) as node:
        chain = ChainClient.connect(node.http_url, poll_interval_s=0.01)
        deployment = deploy_suite(
            chain, operator, SuiteParams(operator_credit_code=dev_credit_code("operator"))
        )
        deployment.write(tmp_path / "deployment.json")
        settings = ApiSettings(
            database_url=database_url(tmp_path),
            rpc_url=node.http_url,
            manifest_path=tmp_path / "deployment.json",
            data_dir=tmp_path / "data",
            master_key=MasterKey.generate(),
            operator_key=operator.key.to_0x_hex(),
            bootstrap_token=OPERATOR_TOKEN,
            relay_poll_s=0.01,
            indexer_poll_s=0.02,
        )
        yield node, settings


def _entries(runtime: Runtime) -> list[OutboxEntry]:
    with Session(runtime.engine) as session:
        return list(session.exec(select(OutboxEntry).order_by(OutboxEntry.created_at)).all())


def _setup_members(settings: ApiSettings, node: RunningNode) -> tuple[object, object]:
    with TestClient(create_app(settings)) as client:
        net = Network(node=node, client=client, settings=settings)
        huaxin = admit(net, "huaxin", ["CORE_FIRM"])
        delta = admit(net, "delta", ["SUPPLIER"])
    return huaxin, delta


def test_crash_between_commit_and_send_sends_once_after_restart(
    world: tuple[RunningNode, ApiSettings],
) -> None:
    node, settings = world
    huaxin, delta = _setup_members(settings, node)

    # The process that accepts the upload dies before its relay sends anything.
    idle = settings.model_copy(update={"run_workers": False})
    with TestClient(create_app(idle)) as client:
        net = Network(node=node, client=client, settings=idle)
        r = upload(net, delta, invoice_form("INV-9001", huaxin, "1000.00"), pdf("a"), wait=False)  # type: ignore[arg-type]
        assert r.status_code == 202, r.text
        invoice_id = r.json()["operation"]["subject_id"]
        pending = [e for e in _entries(client.app.state.runtime) if e.subject_id == invoice_id]
        assert [e.status for e in pending] == ["pending"]
    nonce_before = ChainClient.connect(node.http_url).w3.eth.get_transaction_count(delta.account)  # type: ignore[attr-defined]

    # Restart: the relay finds the committed entry and sends it, once.
    with TestClient(create_app(settings)) as client:
        runtime: Runtime = client.app.state.runtime
        entry = _wait_status(runtime, pending[0].id, "confirmed")
        assert runtime.indexer.wait_for_block(entry.block_number or 0, 10)
        with Session(runtime.engine) as session:
            assert session.get(Invoice, invoice_id).status == "registered"  # type: ignore[union-attr]
        w3 = runtime.client.w3
        assert w3.eth.get_transaction_count(delta.account) == nonce_before + 1  # type: ignore[attr-defined]
        registrations = runtime.auditor.registration(invoice_id)
        assert registrations is not None and registrations["tx_hash"] == entry.tx_hash


def test_crash_between_send_and_receipt_does_not_send_twice(world: tuple[RunningNode, ApiSettings]) -> None:
    node, settings = world
    huaxin, delta = _setup_members(settings, node)

    idle = settings.model_copy(update={"run_workers": False})
    with TestClient(create_app(idle)) as client:
        net = Network(node=node, client=client, settings=idle)
        r = upload(net, delta, invoice_form("INV-9002", huaxin, "2000.00"), pdf("b"), wait=False)  # type: ignore[arg-type]
        invoice_id = r.json()["operation"]["subject_id"]
        runtime: Runtime = client.app.state.runtime
        # The relay signs, stores and broadcasts ... and the process dies before any receipt is read.
        assert runtime.relay._sign_pending() == 1  # noqa: SLF001 - driving the relay step by step
        assert runtime.relay._broadcast_signed() == 1  # noqa: SLF001
        sent = next(e for e in _entries(runtime) if e.subject_id == invoice_id)
        assert sent.status == "sent" and sent.tx_hash and sent.nonce is not None

    w3 = ChainClient.connect(node.http_url).w3
    with TestClient(create_app(settings)) as client:
        runtime = client.app.state.runtime
        entry = _wait_status(runtime, sent.id, "confirmed")
        assert entry.tx_hash == sent.tx_hash and entry.nonce == sent.nonce
        # One transaction with that nonce exists; the registration event appears exactly once.
        assert w3.eth.get_transaction_count(delta.account) == sent.nonce + 1  # type: ignore[attr-defined]
        history = runtime.auditor._logs("ReceivableRegistered", [])  # noqa: SLF001
        assert [h["args"]["id"] for h in history].count(invoice_id) == 1


def test_crash_after_sign_before_broadcast_rebroadcasts_same_transaction(
    world: tuple[RunningNode, ApiSettings],
) -> None:
    node, settings = world
    huaxin, delta = _setup_members(settings, node)
    idle = settings.model_copy(update={"run_workers": False})
    with TestClient(create_app(idle)) as client:
        net = Network(node=node, client=client, settings=idle)
        r = upload(net, delta, invoice_form("INV-9003", huaxin, "3000.00"), pdf("c"), wait=False)  # type: ignore[arg-type]
        invoice_id = r.json()["operation"]["subject_id"]
        runtime = client.app.state.runtime
        assert runtime.relay._sign_pending() == 1  # noqa: SLF001 - signed and committed, never sent
        signed = next(e for e in _entries(runtime) if e.subject_id == invoice_id)
        assert signed.status == "signed" and signed.raw_tx

    with TestClient(create_app(settings)) as client:
        entry = _wait_status(client.app.state.runtime, signed.id, "confirmed")
        assert entry.tx_hash == signed.tx_hash  # the very bytes signed before the crash


def _wait_status(runtime: Runtime, entry_id: str, status: str, timeout_s: float = 20) -> OutboxEntry:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with Session(runtime.engine) as session:
            entry = session.get(OutboxEntry, entry_id)
            assert entry is not None
            if entry.status == status:
                return entry
            assert entry.status != "failed", entry.error_detail
        time.sleep(0.02)
    raise AssertionError(f"entry {entry_id} did not reach {status}")
