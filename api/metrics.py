"""Prometheus metrics of the API: `GET /metrics`.

- requests by method, route template and status, and their latency (middleware; the label is the
  route's template such as `/receivables/{receivable_id}`, never the raw path, so ids never become
  label values; a path no route matches is `unmatched`);
- the outbox relay: entries waiting by state, transactions submitted, confirmed and failed;
- the indexer: the chain's head, the last indexed block and the lag between them;
- webhook notifications: delivered, failed, pending.

The relay, indexer and notification figures are read from the database and the chain when
scraped, so they are right across restarts and across several API processes sharing a database.

`/metrics` is open unless `SCF_API_METRICS_TOKEN` is set, in which case it asks for
`Authorization: Bearer <that token>` (a scrape credential separate from members' API keys). It
shows counts only: no ids, no names, no amounts. The decision is docs/decisions/0007-operations.md.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.models import OutboxEntry, WebhookDelivery
from api.services.errors import Unauthenticated

if TYPE_CHECKING:
    from api.runtime import Runtime

logger = logging.getLogger(__name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CHAIN_TIMEOUT_S = 2.0
OUTBOX_WAITING = ("pending", "signed", "sent")


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request by route template."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - started)


class RuntimeCollector(Collector):
    """Relay, indexer and notification figures, read when scraped."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="metrics-chain")

    def collect(self) -> Iterator[Metric]:
        runtime: Runtime | None = getattr(self._app.state, "runtime", None)
        if runtime is None:
            return
        try:
            yield from self._database(runtime)
        except Exception as exc:  # noqa: BLE001 - a scrape reports what it can
            logger.warning("metrics: database unavailable (%s)", type(exc).__name__)
        yield from self._chain(runtime)

    def _database(self, runtime: Runtime) -> Iterator[Metric]:
        with Session(runtime.engine) as session:
            by_status = dict(
                session.exec(select(OutboxEntry.status, func.count()).group_by(col(OutboxEntry.status))).all()
            )
            submitted = session.exec(
                select(func.count()).select_from(OutboxEntry).where(col(OutboxEntry.tx_hash).is_not(None))
            ).one()
            deliveries = dict(
                session.exec(
                    select(WebhookDelivery.status, func.count()).group_by(col(WebhookDelivery.status))
                ).all()
            )
        depth = GaugeMetricFamily(
            "scf_api_relay_outbox_depth", "Outbox entries not yet on chain, by state.", labels=["state"]
        )
        for state in OUTBOX_WAITING:
            depth.add_metric([state], by_status.get(state, 0))
        yield depth
        txs = CounterMetricFamily(
            "scf_api_relay_transactions",
            "Transactions of the outbox relay: submitted (signed and sent), confirmed, failed.",
            labels=["outcome"],
        )
        txs.add_metric(["submitted"], submitted)
        txs.add_metric(["confirmed"], by_status.get("confirmed", 0))
        txs.add_metric(["failed"], by_status.get("failed", 0))
        yield txs
        notified = CounterMetricFamily(
            "scf_api_notifications", "Webhook notifications delivered or given up on.", labels=["outcome"]
        )
        notified.add_metric(["delivered"], deliveries.get("delivered", 0))
        notified.add_metric(["failed"], deliveries.get("failed", 0))
        yield notified
        yield GaugeMetricFamily(
            "scf_api_notifications_pending",
            "Webhook deliveries still to attempt.",
            deliveries.get("pending", 0),
        )

    def _chain(self, runtime: Runtime) -> Iterator[Metric]:
        try:
            indexed = runtime.indexer.head()
            yield GaugeMetricFamily(
                "scf_api_indexer_head_block", "Last block applied to the read model.", indexed
            )
        except Exception as exc:  # noqa: BLE001
            logger.warning("metrics: indexer head unavailable (%s)", type(exc).__name__)
            return
        try:
            head = self._pool.submit(lambda: runtime.client.w3.eth.block_number).result(CHAIN_TIMEOUT_S)
        except (FutureTimeout, Exception) as exc:  # noqa: BLE001 - the chain may be down: say so by omission
            logger.warning("metrics: chain head unavailable (%s)", type(exc).__name__)
            yield GaugeMetricFamily("scf_api_chain_up", "1 if the chain answered this scrape.", 0)
            return
        yield GaugeMetricFamily("scf_api_chain_up", "1 if the chain answered this scrape.", 1)
        yield GaugeMetricFamily("scf_api_chain_head_block", "The chain's latest block.", head)
        yield GaugeMetricFamily(
            "scf_api_indexer_lag_blocks", "Blocks the read model is behind the chain.", max(0, head - indexed)
        )


def install(app: FastAPI, *, token: str | None) -> None:
    """Count and time requests, and serve `GET /metrics` (asking for `token` when one is set)."""
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter(
        "scf_api_requests",
        "HTTP requests answered, by method, route template and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "scf_api_request_duration_seconds",
        "Time to answer an HTTP request, by method and route template.",
        ["method", "route"],
        registry=registry,
    )
    registry.register(RuntimeCollector(app))
    # Added last, so it is the outermost middleware: it sees every answer, 413s included.
    app.add_middleware(RequestMetrics, requests=requests, latency=latency)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise Unauthenticated("invalid_token", "GET /metrics needs the metrics token")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
