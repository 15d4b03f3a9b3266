"""`scf bench api`: the API end to end, over real HTTP, on the embedded node and on anvil.

- invoices_per_s_*: invoices uploaded (bulk endpoint, 100 a request) and confirmed (bulk) until the
  confirmation is on chain and indexed, several suppliers at once (4 by default);
- finance_e2e_p95_ms: one financing, from the holder's request to the bank's funding, both landed
  and indexed (embedded node);
- get_p99_ms: GET latency of a receivable under 50 concurrent clients (keep-alive connections).

The API runs as `scf api` runs it (api.serve): a worker process (relay, indexer, notifier) and
request processes (`processes`, 2 by default), apart from this client process. Every request is
real HTTP; every write waits (`?wait=true`) until it is on chain and indexed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from api.custody import MasterKey
from api.serve import ApiProcesses
from api.settings import ApiSettings
from chain.anvil import ANVIL_DEV_KEY, running_anvil
from chain.client import ChainClient
from chain.deploy import SuiteParams, deploy_suite, predicted_registry_address
from chain.devnet import dev_credit_code

CST = dt.timezone(dt.timedelta(hours=8))
TOKEN = "scf_benchop_" + "b" * 43
BATCH = 100


@contextmanager
def _api(rpc_url: str, operator_key: str, workdir: Path, processes: int) -> Iterator[str]:
    """The API as `scf api` runs it: its own worker process and `processes` request processes."""
    from eth_account import Account

    operator = Account.from_key(operator_key)
    client = ChainClient.connect(rpc_url, poll_interval_s=0.01)
    deployment = deploy_suite(client, operator, SuiteParams(operator_credit_code=dev_credit_code("operator")))
    deployment.write(workdir / "deployment.json")
    settings = ApiSettings(
        database_url=f"sqlite:///{workdir / 'api.db'}",
        rpc_url=rpc_url,
        manifest_path=workdir / "deployment.json",
        data_dir=workdir / "data",
        master_key=MasterKey.generate(),
        operator_key=operator_key,
        bootstrap_token=TOKEN,
        rate_limit_per_minute=1_000_000,
        relay_poll_s=0.01,
        indexer_poll_s=0.02,
        wait_timeout_s=120,
    )
    with ApiProcesses(settings, processes=processes) as api:
        yield api.url


@contextmanager
def _embedded(workdir: Path) -> Iterator[tuple[str, str]]:
    """The embedded node in its own process, as `scf up` runs it: the API gets the other core."""
    from bench.node_bench import OPERATOR, start_node, stop_node

    registry = predicted_registry_address(OPERATOR.address)
    node = start_node(workdir / "node", "--mining-interval", "0.1", "--registry", registry)
    try:
        yield node.url, OPERATOR.key.to_0x_hex()
    finally:
        stop_node(node)


@contextmanager
def _anvil() -> Iterator[tuple[str, str]]:
    """anvil as `scf up --chain anvil` runs it: its default, a block for each transaction as it arrives."""
    with running_anvil() as anvil:
        yield anvil.url, ANVIL_DEV_KEY


class _Members:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.op = {"Authorization": f"Bearer {TOKEN}"}

    def admit(self, name: str, roles: list[str]) -> dict[str, Any]:
        code = dev_credit_code(name)
        r = self.http.post(
            "/organisations?wait=true",
            json={"name": name, "credit_code": code, "roles": roles},
            headers=self.op,
        )
        r.raise_for_status()
        org = r.json()["result"]
        m = self.http.post(f"/organisations/{org['id']}/members", json={"name": name}, headers=self.op)
        m.raise_for_status()
        return {**org, "headers": {"Authorization": f"Bearer {m.json()['api_key']}"}}


def _invoice(number: str, buyer_code: str, amount: str, days: int = 90) -> dict[str, Any]:
    today = dt.datetime.now(CST).date()
    return {
        "invoice_number": number,
        "buyer_credit_code": buyer_code,
        "amount": amount,
        "issue_date": today.isoformat(),
        "due_date": (today + dt.timedelta(days=days)).isoformat(),
    }


def _pdf(label: str) -> bytes:
    return b"%PDF-1.4\n% " + label.encode() + b"\n%%EOF\n"


def _throughput(base: str, invoices: int, clients: int, tag: str) -> float:
    with httpx.Client(base_url=base, timeout=300) as http:
        members = _Members(http)
        core = members.admit(f"{tag}-core", ["CORE_FIRM"])
        suppliers = [members.admit(f"{tag}-supplier-{i}", ["SUPPLIER"]) for i in range(clients)]

    def run(index: int) -> None:
        supplier = suppliers[index]
        with httpx.Client(base_url=base, timeout=300) as http:
            for b in range(invoices // clients // BATCH):
                forms = [
                    _invoice(f"{tag}-{index}-{b}-{i}", core["credit_code"], f"{1000 + i}.00")
                    for i in range(BATCH)
                ]
                files = [
                    ("documents", (f"{i}.pdf", _pdf(f"{index}-{b}-{i}"), "application/pdf"))
                    for i in range(BATCH)
                ]
                r = http.post(
                    "/invoices/batch?wait=true",
                    data={"invoices": json.dumps(forms)},
                    files=files,
                    headers=supplier["headers"],
                )
                r.raise_for_status()
                ids = [row["id"] for row in r.json()["result"]]
                c = http.post(
                    "/invoices/confirm-batch?wait=true", json={"invoice_ids": ids}, headers=core["headers"]
                )
                c.raise_for_status()
                assert {row["status"] for row in c.json()["result"]} == {"confirmed"}

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    elapsed = time.perf_counter() - start
    return (invoices // clients // BATCH) * BATCH * clients / elapsed


def _financing_and_reads(base: str, financings: int, readers: int, reads: int) -> tuple[float, float]:
    with httpx.Client(base_url=base, timeout=300) as http:
        members = _Members(http)
        core = members.admit("fin-core", ["CORE_FIRM"])
        supplier = members.admit("fin-supplier", ["SUPPLIER"])
        bank = members.admit("fin-bank", ["BANK"])
        http.post(
            "/settlement/deposits?wait=true",
            json={"to_org_id": bank["id"], "amount": "100000000.00"},
            headers=bank["headers"],
        ).raise_for_status()
        forms = [_invoice(f"FIN-{i}", core["credit_code"], "100000.00") for i in range(financings)]
        files = [("documents", (f"{i}.pdf", _pdf(f"fin-{i}"), "application/pdf")) for i in range(financings)]
        r = http.post(
            "/invoices/batch?wait=true",
            data={"invoices": json.dumps(forms)},
            files=files,
            headers=supplier["headers"],
        )
        r.raise_for_status()
        rows = r.json()["result"]
        http.post(
            "/invoices/confirm-batch?wait=true",
            json={"invoice_ids": [x["id"] for x in rows]},
            headers=core["headers"],
        ).raise_for_status()
        latencies = []
        for row in rows:
            start = time.perf_counter()
            q = http.post(
                f"/receivables/{row['id']}/financing-requests?wait=true",
                json={
                    "bank_credit_code": bank["credit_code"],
                    "max_rate_ppm": 50_000,
                    "expires_at": row["due_at"] - 86_400,
                },
                headers=supplier["headers"],
            )
            q.raise_for_status()
            f = http.post(
                f"/receivables/{row['id']}/fund?wait=true", json={"rate_ppm": 45_000}, headers=bank["headers"]
            )
            f.raise_for_status()
            latencies.append((time.perf_counter() - start) * 1000)
        target = rows[0]["id"]

    samples = _concurrent_gets(base, f"/receivables/{target}", supplier["headers"], readers, reads)
    return _percentile(latencies, 95), _percentile(samples, 99)


def _concurrent_gets(base: str, path: str, headers: dict[str, str], clients: int, reads: int) -> list[float]:
    """`clients` HTTP/1.1 keep-alive connections, each sending `reads` GETs one after the other; the
    latency of each, in ms. A lean asyncio client, so that what is measured is the server: 50 httpx
    clients in threads spend ~2 ms of CPU per request themselves, on the same two cores."""
    parts = urlsplit(base)
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    samples: list[float] = []

    async def client() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            for _ in range(reads):
                start = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
                length = int(next((v for k, v in fields.items() if k.lower() == b"content-length"), b"0"))
                await reader.readexactly(length)
                status = int(head.split(b" ", 2)[1])
                if status != 200:
                    raise RuntimeError(f"GET {path} answered {status}")
                samples.append((time.perf_counter() - start) * 1000)
        finally:
            writer.close()

    async def everyone() -> None:
        await asyncio.gather(*(client() for _ in range(clients)))

    asyncio.run(everyone())
    return samples


def _percentile(values: list[float], pct: int) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 1)


def run(
    *,
    invoices: int = 1600,
    clients: int = 4,
    financings: int = 20,
    readers: int = 50,
    reads: int = 40,
    processes: int = 2,
) -> dict[str, Any]:
    """Run every measurement; return the JSON object `scf bench api` prints."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "embedded").mkdir()
        with _embedded(work / "embedded") as (rpc, key), _api(rpc, key, work / "embedded", processes) as base:
            result["invoices_per_s_embedded"] = round(_throughput(base, invoices, clients, "emb"), 1)
            p95, p99 = _financing_and_reads(base, financings, readers, reads)
            result["finance_e2e_p95_ms"], result["get_p99_ms"] = p95, p99
        (work / "anvil").mkdir()
        with _anvil() as (rpc, key), _api(rpc, key, work / "anvil", processes) as base:
            result["invoices_per_s_anvil"] = round(_throughput(base, invoices, clients, "anv"), 1)
    result["targets"] = {
        "invoices_per_s_embedded": ">= 100",
        "invoices_per_s_anvil": ">= 500",
        "finance_e2e_p95_ms": "<= 1000",
        "get_p99_ms": "<= 100",
    }
    result["workload"] = {
        "invoices": invoices,
        "clients": clients,
        "batch": BATCH,
        "financings": financings,
        "readers": readers,
        "reads_per_reader": reads,
        "api_request_processes": processes,
        "embedded_node_block_interval_s": 0.1,
        "anvil_mining": "a block per transaction (anvil's default, as scf up --chain anvil)",
    }
    return result
