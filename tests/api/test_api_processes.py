"""The API as `scf api` runs it: a worker process and several request processes on one port.

Whichever process a request lands on, it sees the same data: writes landed through one are read
through the others, a revoked key is refused by every process at the next request (the principal
cache never outlives a change to the key, member or organisation), and the rate limit is one per
member across the processes, not one per process.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from api.custody import MasterKey
from api.db import make_engine
from api.models import Organisation
from api.serve import ApiProcesses, _settings_json
from api.settings import ApiSettings
from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_account, dev_credit_code
from node.testing import running_node
from tests.api.conftest import OPERATOR_TOKEN
from tests.api.support import invoice_form, pdf
from tests.api.world import database

PROCESSES = 3
RATE = 40  # requests a minute per member


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ApiSettings]]:
    tmp = Path(tmp_path_factory.mktemp("processes"))
    operator = dev_account("operator")
    registry = predicted_registry_address(operator.address)
    with (
        database(tmp) as url,
        running_node(tmp, operator_address=operator.address, registry_address=registry) as node,
    ):
        chain = ChainClient.connect(node.http_url, poll_interval_s=0.01)
        deployment = deploy_suite(
            chain, operator, SuiteParams(operator_credit_code=dev_credit_code("operator"))
        )
        deployment.write(tmp / "deployment.json")
        settings = ApiSettings(
            database_url=url,
            rpc_url=node.http_url,
            manifest_path=tmp / "deployment.json",
            data_dir=tmp / "data",
            master_key=MasterKey.generate(),
            operator_key=operator.key.to_0x_hex(),
            bootstrap_token=OPERATOR_TOKEN,
            relay_poll_s=0.01,
            indexer_poll_s=0.02,
            rate_limit_per_minute=1_000_000,
        )
        with ApiProcesses(settings, processes=PROCESSES) as processes:
            assert (
                len({pid for name, pid in processes.pids().items() if name.startswith("api-http")})
                == PROCESSES
            )
            yield processes.url, settings


def _fresh(base: str, token: str | None = None) -> httpx.Client:
    """A client with a connection of its own (so requests spread over the processes)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=base, headers=headers, timeout=60, limits=httpx.Limits(max_keepalive_connections=0)
    )


def _admit(base: str, name: str, roles: list[str]) -> tuple[dict[str, object], str]:
    with _fresh(base, OPERATOR_TOKEN) as op:
        code = dev_credit_code(name)
        r = op.post("/organisations?wait=true", json={"name": name, "credit_code": code, "roles": roles})
        assert r.status_code == 201, r.text
        org = r.json()["result"]
        m = op.post(f"/organisations/{org['id']}/members", json={"name": f"{name} clerk"})
        assert m.status_code == 201, m.text
        return {**org, "credit_code": code}, m.json()["api_key"]


def test_writes_through_one_process_are_read_through_every_other(api: tuple[str, ApiSettings]) -> None:
    base, _ = api
    buyer, buyer_key = _admit(base, "proc-buyer", ["CORE_FIRM"])
    _, seller_key = _admit(base, "proc-seller", ["SUPPLIER"])
    buyer_member = type("B", (), {"credit_code": buyer["credit_code"]})()
    forms = [invoice_form(f"PROC-{i}", buyer_member, f"{100 + i}.00") for i in range(5)]  # type: ignore[arg-type]
    with _fresh(base, seller_key) as seller:
        r = seller.post(
            "/invoices/batch?wait=true",
            data={"invoices": json.dumps(forms)},
            files=[("documents", (f"{i}.pdf", pdf(f"proc {i}"), "application/pdf")) for i in range(5)],
        )
        assert r.status_code == 201, r.text
        ids = [row["id"] for row in r.json()["result"]]
    with _fresh(base, buyer_key) as buyer_client:
        r = buyer_client.post("/invoices/confirm-batch?wait=true", json={"invoice_ids": ids})
        assert r.status_code == 200, r.text
    # Landed and indexed before the answer: every process reads it, on every new connection.
    for _ in range(3 * PROCESSES):
        for token in (seller_key, buyer_key):
            with _fresh(base, token) as client:
                for invoice_id in ids:
                    got = client.get(f"/receivables/{invoice_id}")
                    assert got.status_code == 200 and got.json()["state"] == "confirmed", got.text


def test_a_revoked_key_is_refused_by_every_process_at_once(api: tuple[str, ApiSettings]) -> None:
    base, _ = api
    _, key = _admit(base, "proc-revoked", ["SUPPLIER"])
    for _ in range(3 * PROCESSES):  # warm every process's principal cache with this key
        with _fresh(base, key) as client:
            assert client.get("/me").status_code == 200
    with _fresh(base, key) as client:
        me = client.get("/me").json()
        assert client.delete(f"/api-keys/{me['api_key_id']}").status_code == 204
    for _ in range(3 * PROCESSES):
        with _fresh(base, key) as client:
            r = client.get("/me")
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token", r.text


def test_a_suspended_organisation_loses_its_roles_in_every_process_at_once(
    api: tuple[str, ApiSettings],
) -> None:
    base, settings = api
    org, key = _admit(base, "proc-suspended", ["SUPPLIER"])
    for _ in range(3 * PROCESSES):
        with _fresh(base, key) as client:
            assert client.get("/me").json()["organisation"]["status"] == "active"
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:  # as the indexer does on OrganisationSuspended
            row = session.get(Organisation, org["id"])
            assert row is not None
            row.status = "suspended"
            session.add(row)
            session.commit()
    finally:
        engine.dispose()
    form = json.dumps(invoice_form("SUSP-1", type("B", (), {"credit_code": "X" * 18})(), "1.00"))  # type: ignore[arg-type]
    for _ in range(3 * PROCESSES):
        with _fresh(base, key) as client:
            assert client.get("/me").json()["organisation"]["status"] == "suspended"
            # A suspended organisation holds no role: no supplier may upload for it.
            r = client.post("/invoices", data={"invoice": form}, files={"document": ("a.pdf", pdf("s"))})
            assert r.status_code == 403 and r.json()["error"]["code"] == "role_required", r.text


def test_the_rate_limit_is_one_per_member_across_processes(
    tmp_path: Path, api: tuple[str, ApiSettings]
) -> None:
    _, settings = api
    limited = settings.model_copy(update={"rate_limit_per_minute": RATE, "data_dir": tmp_path / "limited"})
    with ApiProcesses(limited, processes=PROCESSES, workers=False) as processes:
        codes = []
        started = time.monotonic()
        for _ in range(RATE + 20):
            with _fresh(processes.url, OPERATOR_TOKEN) as client:  # a new connection, any process
                codes.append(client.get("/me").status_code)
        refilled = math.ceil((time.monotonic() - started) * RATE / 60)
    # The burst is the rate, plus what refilled meanwhile; per-process buckets would grant 3x.
    assert RATE <= codes.count(200) <= RATE + refilled
    assert set(codes[:RATE]) == {200} and codes.count(429) >= 20 - refilled


_ORPHANING_PARENT = """
import json, sys, time
from api.serve import ApiProcesses, _settings_json
from api.settings import ApiSettings
settings = ApiSettings.model_validate(json.loads(sys.stdin.read()))
with ApiProcesses(settings, serve_requests=False) as processes:
    print(processes.pids()["api-workers"], flush=True)
    time.sleep(600)
"""


def test_children_stop_when_the_parent_is_killed(api: tuple[str, ApiSettings]) -> None:
    _, settings = api
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHANING_PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdin is not None and parent.stdout is not None
    parent.stdin.write(_settings_json(settings.model_copy(update={"prepare_on_start": False})).decode())
    parent.stdin.close()
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no chance to stop its children
    parent.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.2)
    assert not _alive(child), "the worker process outlived its parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
