"""One relay and one indexer per database: the database lease.

Several API processes may share a database; each may run a relay and an indexer, but only the
holder of the lease works: the others stand by, and take over once a crashed holder's lease has
expired. A holder that lost its lease (paused past its expiry, then resumed) can no longer commit:
its every write transaction starts by renewing the lease, and that fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from api.db import make_engine, session_scope, upgrade
from api.lease import Lease, LeaseLost
from api.models import ChainEvent, IndexerCursor, OutboxEntry, SignerNonce
from api.runtime import Runtime
from api.settings import ApiSettings
from tests.api.conftest import Network, database_url
from tests.api.support import Member, admit, invoice_form, pdf, upload
from tests.api.world import running_network

TTL_S = 1.5


@pytest.fixture()
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    eng = make_engine(database_url(tmp_path))
    upgrade(eng)
    yield eng
    eng.dispose()


def test_lease_is_held_by_one_until_it_expires_or_is_released(engine) -> None:  # type: ignore[no-untyped-def]
    first, second = Lease(engine, "w", ttl_s=TTL_S), Lease(engine, "w", ttl_s=TTL_S)
    assert first.acquire() and first.held
    assert not second.acquire() and not second.held
    with pytest.raises(LeaseLost), session_scope(engine) as session:
        second.fence(session)
    assert first.acquire()  # the holder renews
    time.sleep(TTL_S + 0.2)  # the holder stops renewing (a crash, a long pause)
    assert second.acquire()
    with pytest.raises(LeaseLost), session_scope(engine) as session:
        first.fence(session)  # the old holder is fenced out: its transaction rolls back
    second.release()
    assert first.acquire()  # a released lease is free at once
    assert Lease(engine, "other", ttl_s=TTL_S).acquire()  # leases are per worker name


def test_lease_fence_rolls_back_the_losers_writes(engine) -> None:  # type: ignore[no-untyped-def]
    holder, loser = Lease(engine, "relay", ttl_s=TTL_S), Lease(engine, "relay", ttl_s=TTL_S)
    assert holder.acquire()
    with pytest.raises(LeaseLost), session_scope(engine) as session:
        session.add(SignerNonce(address="0x" + "ab" * 20, next_nonce=7))
        session.flush()
        loser.fence(session)
    with Session(engine) as session:
        assert session.get(SignerNonce, "0x" + "ab" * 20) is None


def test_concurrent_first_takers_get_one_lease(engine) -> None:  # type: ignore[no-untyped-def]
    leases = [Lease(engine, "race", ttl_s=5) for _ in range(6)]
    won: list[bool] = []
    barrier = threading.Barrier(len(leases))

    def take(lease: Lease) -> None:
        barrier.wait()
        won.append(lease.acquire())

    threads = [threading.Thread(target=take, args=(lease,)) for lease in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert won.count(True) == 1


# -- the relay and the indexer of two processes on one database ------------------------------------


@pytest.fixture()
def two(tmp_path: Path) -> Iterator[tuple[Network, Runtime, Runtime, Member, Member]]:
    """An API serving requests only, and two worker runtimes (two "processes") on its database."""
    with running_network(tmp_path, run_workers=False, worker_lease_s=TTL_S) as net:
        first = Runtime.build(net.settings, prepare=False)
        second = Runtime.build(net.settings, prepare=False)
        try:
            yield net, first, second, *_members(net, first)
        finally:
            first.stop()
            second.stop()


def _members(net: Network, runtime: Runtime) -> tuple[Member, Member]:
    """Admit a buyer and a supplier, working the outbox with `runtime` (nobody else works it yet)."""
    stop = threading.Event()
    worker = threading.Thread(target=runtime.relay.run, args=(stop,), daemon=True)
    indexer = threading.Thread(target=runtime.indexer.run, args=(stop,), daemon=True)
    worker.start()
    indexer.start()
    try:
        return admit(net, "lease-buyer", ["CORE_FIRM"]), admit(net, "lease-seller", ["SUPPLIER"])
    finally:
        stop.set()
        worker.join(10)
        indexer.join(10)


def _entry(net: Network, entry_id: str) -> OutboxEntry:
    with Session(net.client.app.state.runtime.engine) as session:
        entry = session.get(OutboxEntry, entry_id)
        assert entry is not None
        return entry


def _drive(runtime: Runtime, net: Network, entry_id: str, timeout_s: float = 20) -> OutboxEntry:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runtime.relay.step()
        entry = _entry(net, entry_id)
        if entry.status in ("confirmed", "failed"):
            return entry
        time.sleep(0.05)
    raise AssertionError(f"{entry_id} did not land")


def test_a_standby_relay_does_not_sign_and_takes_over_after_expiry(
    two: tuple[Network, Runtime, Runtime, Member, Member],
) -> None:
    net, first, second, buyer, seller = two
    first.relay.lease.release()
    second.relay.lease.release()
    assert first.relay.lease.acquire()

    r = upload(net, seller, invoice_form("LEASE-1", buyer, "100.00"), pdf("lease 1"), wait=False)
    a = r.json()["operation"]["id"]
    with pytest.raises(LeaseLost):
        second.relay.step()  # it may look, but it cannot sign: no nonce taken, nothing sent
    assert _entry(net, a).status == "pending" and _entry(net, a).nonce is None
    assert _drive(first, net, a).status == "confirmed"

    # The first relay "crashes" (stops renewing, never releases); a write arrives meanwhile.
    r = upload(net, seller, invoice_form("LEASE-2", buyer, "200.00"), pdf("lease 2"), wait=False)
    b = r.json()["operation"]["id"]
    with pytest.raises(LeaseLost):
        second.relay.step()
    time.sleep(TTL_S + 0.2)
    landed = _drive(second, net, b)
    assert landed.status == "confirmed" and landed.nonce == _entry(net, a).nonce + 1  # type: ignore[operator]
    # The first one comes back: fenced out, it signs nothing.
    r = upload(net, seller, invoice_form("LEASE-3", buyer, "300.00"), pdf("lease 3"), wait=False)
    c = r.json()["operation"]["id"]
    with pytest.raises(LeaseLost):
        first.relay.step()
    assert _entry(net, c).status == "pending"
    assert _drive(second, net, c).nonce == landed.nonce + 1  # type: ignore[operator]


def test_only_the_lease_holder_indexes(two: tuple[Network, Runtime, Runtime, Member, Member]) -> None:
    net, first, second, buyer, seller = two
    first.indexer.lease.release()
    second.indexer.lease.release()
    assert first.indexer.lease.acquire()
    r = upload(net, seller, invoice_form("IDX-1", buyer, "100.00"), pdf("idx 1"), wait=False)
    landed = _drive(first, net, r.json()["operation"]["id"])
    with pytest.raises(LeaseLost):
        second.indexer.step()
    while first.indexer.step():
        pass
    assert first.indexer.head() >= (landed.block_number or 0)
    time.sleep(TTL_S + 0.2)
    r = upload(net, seller, invoice_form("IDX-2", buyer, "200.00"), pdf("idx 2"), wait=False)
    landed = _drive(first, net, r.json()["operation"]["id"])  # (the relay lease is another lease)
    assert second.indexer.step()  # the successor carries on from the cursor
    assert not first.indexer.lease.acquire()  # and the old holder is out
    assert second.indexer.head() >= (landed.block_number or 0)
    with Session(net.client.app.state.runtime.engine) as session:
        events = session.exec(select(ChainEvent.tx_hash, ChainEvent.log_index)).all()
        assert len(events) == len(set(events))  # nothing applied twice
        assert session.get(IndexerCursor, "main") is not None


def test_two_api_processes_run_one_relay(tmp_path: Path) -> None:
    """Two full APIs (requests and workers) on one database: writes through both land once each,
    with one nonce sequence per signer; the second relay stood by all along."""
    with running_network(tmp_path, worker_lease_s=TTL_S) as net:
        buyer, seller = admit(net, "pair-buyer", ["CORE_FIRM"]), admit(net, "pair-seller", ["SUPPLIER"])
        other_settings: ApiSettings = net.settings.model_copy(update={"prepare_on_start": False})
        with TestClient(create_app(other_settings)) as other_client:
            other = Network(node=net.node, client=other_client, settings=other_settings)
            ids = []
            for i, client in enumerate((net, other, net, other)):
                r = upload(client, seller, invoice_form(f"PAIR-{i}", buyer, f"{100 + i}.00"), pdf(f"p{i}"))
                assert r.status_code == 201, r.text
                ids.append(r.json()["operation"]["id"])
            relays = [net.client.app.state.runtime.relay, other_client.app.state.runtime.relay]
            assert sum(relay.lease.held for relay in relays) == 1
        with Session(net.client.app.state.runtime.engine) as session:
            entries = [session.get(OutboxEntry, i) for i in ids]
            nonces = sorted(e.nonce for e in entries if e is not None and e.nonce is not None)
        assert len(nonces) == 4 and nonces == list(range(nonces[0], nonces[0] + 4))
