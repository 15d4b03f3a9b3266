"""The webhook delivery worker: signs and POSTs pending deliveries, retrying with exponential backoff.

Deliveries are written by the indexer with the notifications they carry (api/services/notifications).
The worker claims due ones with a lease (so two API processes never send the same attempt at once),
sends them from a small thread pool, and records each attempt. Delivery is at least once: a crash
between the receiver's 2xx and the record means one more attempt, with the same X-Scfnet-Delivery id.

Signature (as Stripe's): `X-Scfnet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import or_, update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import col, select

from api.custody import MasterKey, open_secret
from api.db import session_scope
from api.models import Notification, Webhook, WebhookDelivery
from api.models.base import utcnow
from api.services.notifications import body_of

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Scfnet-Signature"
DELIVERY_HEADER = "X-Scfnet-Delivery"
EVENT_HEADER = "X-Scfnet-Event"
USER_AGENT = "scfnet-webhooks/1"


class NotifierSettings(BaseSettings):
    """Webhook delivery and event-stream settings (env prefix SCF_API_WEBHOOK_)."""

    model_config = SettingsConfigDict(env_prefix="SCF_API_WEBHOOK_", env_file=None, extra="ignore")

    max_attempts: int = Field(8, ge=1, description="attempts before a delivery is marked failed")
    retry_base_s: float = Field(5.0, gt=0, description="first retry delay; doubled at each attempt")
    retry_max_s: float = Field(3600.0, gt=0, description="longest delay between two attempts")
    timeout_s: float = Field(10.0, gt=0, description="connect and read timeout of one attempt")
    poll_s: float = Field(0.25, gt=0, description="how often the worker looks for due deliveries")
    concurrency: int = Field(4, ge=1, description="deliveries sent at once")
    batch: int = Field(32, ge=1, description="deliveries claimed per round")
    allow_private_urls: bool = Field(
        False, description="accept loopback and private addresses (development and tests only)"
    )
    use_env_proxy: bool = Field(False, description="send through HTTP(S)_PROXY from the environment")
    stream_poll_s: float = Field(0.25, gt=0, description="how often an event stream looks for news")
    stream_keepalive_s: float = Field(15.0, gt=0, description="comment sent on an idle event stream")


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Scfnet-Signature value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver checks: some v1 matches and the timestamp is recent (replays are refused)."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [v for k, v in fields if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return any(k.strip() == "v1" and hmac.compare_digest(v.strip(), expected) for k, v in fields)


def backoff_s(attempts: int, settings: NotifierSettings) -> float:
    """Delay after the `attempts`-th failed attempt: base * 2^(attempts-1), capped, with 10 % jitter."""
    delay = min(settings.retry_max_s, settings.retry_base_s * 2 ** (attempts - 1))
    return delay * (1 + random.random() / 10)


@dataclass(frozen=True)
class _Job:
    delivery_id: str
    webhook_id: int
    attempt: int
    url: str
    secret: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    retry_after_s: float | None = None


class WebhookNotifier:
    """Sends due webhook deliveries until stopped."""

    def __init__(
        self,
        engine: Engine,
        settings: NotifierSettings,
        master_key: MasterKey,
        *,
        http: requests.Session | None = None,
    ):
        self._engine = engine
        self._master_key = master_key
        self.settings = settings
        self._http = http or requests.Session()
        self._http.trust_env = settings.use_env_proxy
        self._http.headers["User-Agent"] = USER_AGENT

    def run(self, stop: threading.Event) -> None:
        with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="webhook") as pool:
            while not stop.is_set():
                try:
                    sent = self.step(pool)
                except Exception:  # noqa: BLE001 - keep delivering
                    logger.exception("webhook delivery round failed")
                    sent = 0
                    stop.wait(1.0)
                if not sent:
                    stop.wait(self.settings.poll_s)

    def step(self, pool: ThreadPoolExecutor | None = None) -> int:
        """Claim the due deliveries, send them, record the outcomes; the number attempted."""
        jobs = self._claim()
        outcomes: Iterable[_Outcome] = pool.map(self._send, jobs) if pool else map(self._send, jobs)
        for job, outcome in zip(jobs, outcomes, strict=True):
            self._record(job, outcome)
        return len(jobs)

    # -- claim, send, record ---------------------------------------------------------------------

    def _claim(self) -> list[_Job]:
        now = time.time()
        lease = now + 2 * self.settings.timeout_s + 30
        not_leased = or_(col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now)
        jobs: list[_Job] = []
        with session_scope(self._engine) as session:
            due = session.exec(
                select(WebhookDelivery, Webhook, Notification)
                .join(Webhook, col(Webhook.id) == WebhookDelivery.webhook_id)
                .join(Notification, col(Notification.id) == WebhookDelivery.notification_id)
                .where(
                    WebhookDelivery.status == "pending",
                    col(WebhookDelivery.next_attempt_at) <= now,
                    not_leased,
                )
                .order_by(col(WebhookDelivery.next_attempt_at))
                .limit(self.settings.batch)
            ).all()
            for delivery, hook, notification in due:
                claimed = session.exec(
                    update(WebhookDelivery)
                    .where(
                        col(WebhookDelivery.id) == delivery.id,
                        col(WebhookDelivery.status) == "pending",
                        not_leased,
                    )
                    .values(lease_until=lease)
                )
                assert isinstance(claimed, CursorResult)
                if claimed.rowcount != 1:
                    continue  # another worker took it
                body = json.dumps(body_of(notification), separators=(",", ":"), sort_keys=True).encode()
                jobs.append(
                    _Job(
                        delivery_id=delivery.id,
                        webhook_id=hook.id or 0,
                        attempt=delivery.attempts + 1,
                        url=hook.url,
                        secret=open_secret(self._master_key, f"webhook:{hook.id}", hook.secret),
                        event_type=notification.type,
                        body=body,
                    )
                )
        return jobs

    def _send(self, job: _Job) -> _Outcome:
        if not self.settings.allow_private_urls:
            refusal = _private_destination(job.url)
            if refusal:
                return _Outcome(False, None, refusal)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(job.secret, job.body, int(time.time())),
            DELIVERY_HEADER: job.delivery_id,
            EVENT_HEADER: job.event_type,
        }
        try:
            response = self._http.post(
                job.url,
                data=job.body,
                headers=headers,
                timeout=self.settings.timeout_s,
                allow_redirects=False,
            )
        except requests.Timeout:
            return _Outcome(False, None, f"timed out after {self.settings.timeout_s:g} s")
        except requests.RequestException as exc:
            return _Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500])
        response.close()
        if 200 <= response.status_code < 300:
            return _Outcome(True, response.status_code, None)
        retry_after = response.headers.get("Retry-After", "")
        return _Outcome(
            False,
            response.status_code,
            f"HTTP {response.status_code}",
            float(retry_after) if retry_after.isdigit() else None,
        )

    def _record(self, job: _Job, outcome: _Outcome) -> None:
        with session_scope(self._engine) as session:
            delivery = session.get(WebhookDelivery, job.delivery_id)
            if delivery is None:
                return
            delivery.attempts = job.attempt
            delivery.last_status_code = outcome.status_code
            if outcome.error is not None:  # a success keeps the error that preceded it, for the record
                delivery.last_error = outcome.error
            delivery.lease_until = None
            if delivery.status == "pending":  # not cancelled meanwhile
                if outcome.ok:
                    delivery.status, delivery.delivered_at = "delivered", utcnow()
                elif job.attempt >= self.settings.max_attempts:
                    delivery.status = "failed"
                else:
                    delay = backoff_s(job.attempt, self.settings)
                    if outcome.retry_after_s is not None:
                        delay = min(max(delay, outcome.retry_after_s), self.settings.retry_max_s)
                    delivery.next_attempt_at = time.time() + delay
            session.add(delivery)
        if outcome.ok:
            logger.debug("webhook %s: delivery %s sent", job.webhook_id, job.delivery_id)
        else:
            logger.info(
                "webhook %s: delivery %s attempt %s failed (%s)",
                job.webhook_id,
                job.delivery_id,
                job.attempt,
                outcome.error,
            )


def _private_destination(url: str) -> str | None:
    """Why `url` must not be called (it resolves to a non-public address), or None."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    for *_, sockaddr in infos:
        if not ipaddress.ip_address(sockaddr[0]).is_global:
            return f"{host} resolves to a non-public address"
    return None
