"""Read routes: on SQLite their statements run on the event loop, on PostgreSQL never; codes unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.api.conftest import Network
from tests.api.support import Member
from tests.api.world import OPERATOR, add_member, key_id, running_network

MISSING = "0x" + "ab" * 32

# (path, expected status, error code) for the database-only reads that became `async def`.
READS = [
    ("/organisations", 200, None),
    ("/organisations/{org}", 200, None),
    ("/organisations/999999", 404, "organisation_not_found"),
    ("/receivables", 200, None),
    (f"/receivables/{MISSING}", 404, "receivable_not_found"),
    ("/financing-requests", 200, None),
    ("/invoices", 200, None),
    (f"/invoices/{MISSING}", 404, "invoice_not_found"),
    ("/lots", 200, None),
    (f"/lots/{MISSING}", 404, "lot_not_found"),
    ("/receipts", 200, None),
    (f"/receipts/{MISSING}", 404, "receipt_not_found"),
    ("/alerts", 200, None),
    (f"/operations/{MISSING}", 404, "operation_not_found"),
    ("/settlement/movements/{org}", 200, None),
    ("/settlement/movements/999999", 404, "organisation_not_found"),
    ("/notifications", 200, None),
    ("/webhooks", 200, None),
    ("/webhooks/999999/deliveries", 404, "webhook_not_found"),
]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    # No workers: every statement on the engine comes from the request under test.
    with running_network(Path(tmp_path_factory.mktemp("reads")), run_workers=False) as network:
        yield network


@pytest.fixture(scope="module")
def clerk(net: Network) -> Member:
    me = net.client.get("/me", headers=OPERATOR).json()
    return add_member(net, me["organisation"], "reader")


@pytest.fixture()
def on_loop(net: Network) -> Iterator[list[bool]]:
    """For each statement the engine runs: whether it ran on the event loop's thread."""
    seen: list[bool] = []
    engine = net.client.app.state.runtime.engine  # type: ignore[attr-defined]

    def record(*_: Any) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a thread-pool thread: no loop runs there
            seen.append(False)
        else:
            seen.append(True)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize(("path", "status", "code"), READS, ids=[r[0] for r in READS])
def test_read_route_runs_on_the_loop_only_on_sqlite(
    net: Network, clerk: Member, on_loop: list[bool], path: str, status: int, code: str | None
) -> None:
    r = net.client.get(path.format(org=clerk.org_id), headers=clerk.headers)
    assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["error"]["code"] == code
    assert on_loop, "the request ran no statement"
    if net.client.app.state.runtime.engine.dialect.name == "sqlite":  # type: ignore[attr-defined]
        assert all(on_loop), "a read on SQLite went through the thread pool"
    else:
        assert not any(on_loop), "a statement on PostgreSQL ran on the event loop"


def test_a_revoked_key_is_refused_by_the_next_inline_read(net: Network, clerk: Member) -> None:
    me = net.client.get("/me", headers=OPERATOR).json()
    reader = add_member(net, me["organisation"], "revoked-reader")
    assert net.client.get("/organisations", headers=reader.headers).status_code == 200
    assert net.client.delete(f"/api-keys/{key_id(net, reader)}", headers=reader.headers).status_code == 204
    r = net.client.get(f"/organisations/{clerk.org_id}", headers=reader.headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "invalid_token"
