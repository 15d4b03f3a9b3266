"""Notifications: who follows which chain event (fan-out rules), webhooks, and the reads behind them.

The indexer calls `fan_out` for every event it stores, inside its own transaction: the notifications
and their webhook deliveries commit with the event, or not at all, so a restart neither loses nor
repeats one. A rule maps one contract event to a notification type and to the chain organisations
that follow it; other modules add theirs with `@rule(...)` (goods alerts, for instance).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from api.custody import MasterKey, seal_secret
from api.models import (
    ApiKey,
    ChainEvent,
    FinancingRequest,
    Lot,
    Member,
    Notification,
    Organisation,
    Piece,
    Receipt,
    Webhook,
    WebhookDelivery,
)
from api.models.base import utcnow
from api.services.auth import Principal
from api.services.errors import Forbidden, Invalid, NotFound
from chain.roles import Role

logger = logging.getLogger(__name__)

# IGoodsOracle.Status values that freeze a lot's receipt: ALERT, OFFLINE.
FREEZING_STATUSES = (3, 4)

Recipients = Callable[[Session, ChainEvent], Iterable[int]]
"""The chain organisation ids (0 and unknown ids are ignored) that follow an event."""


@dataclass(frozen=True)
class Rule:
    event: str
    type: str
    recipients: Recipients
    contract: str | None = None  # when two contracts emit events of the same name


RULES: dict[str, list[Rule]] = {}


def rule(event: str, type_: str, *, contract: str | None = None) -> Callable[[Recipients], Recipients]:
    """Register `recipients` as the rule turning contract event `event` into notifications `type_`."""

    def register(recipients: Recipients) -> Recipients:
        rules = RULES.setdefault(event, [])
        if any(r.type == type_ and r.contract == contract for r in rules):
            raise ValueError(f"a rule for {event} -> {type_} is already registered")
        rules.append(Rule(event, type_, recipients, contract))
        return recipients

    return register


def event_types() -> list[str]:
    """Every notification type a rule can produce."""
    return sorted({r.type for rules in RULES.values() for r in rules})


# -- fan-out ------------------------------------------------------------------------------------


def fan_out(session: Session, event: ChainEvent) -> list[Notification]:
    """Record the notifications `event` gives rise to, and their webhook deliveries, in `session`."""
    ids = record(session, [(event, followers(session, event))])
    if not ids:
        return []
    return list(session.exec(select(Notification).where(col(Notification.id).in_(ids))).all())


Followers = list[tuple[str, int]]
"""(notification type, chain organisation id) pairs that follow one event."""


def followers(session: Session, event: ChainEvent) -> Followers:
    """Who follows `event`, as the read model stands right after it was applied."""
    rules = [r for r in RULES.get(event.name, ()) if r.contract in (None, event.contract)]
    wanted: dict[tuple[str, int], None] = {}
    for r in rules:
        for chain_org in r.recipients(session, event):
            if chain_org:
                wanted[(r.type, int(chain_org))] = None
    return list(wanted)


def record(session: Session, followed: Sequence[tuple[ChainEvent, Followers]]) -> list[int]:
    """Write the notifications of many events (and their webhook deliveries) with a few statements;
    the new notifications' ids. The events must have their ids (stored, or flushed here)."""
    followed = [(event, wanted) for event, wanted in followed if wanted]
    if not followed:
        return []
    chain_orgs = {org for _, wanted in followed for _, org in wanted}
    orgs = dict(
        session.exec(
            select(Organisation.chain_org_id, Organisation.id).where(
                col(Organisation.chain_org_id).in_(chain_orgs)
            )
        ).all()
    )
    # A read-model rebuild replays events already notified: skip what exists.
    seen = set(
        session.exec(
            select(
                Notification.tx_hash, Notification.log_index, Notification.type, Notification.org_id
            ).where(col(Notification.tx_hash).in_({event.tx_hash for event, _ in followed}))
        ).all()
    )
    session.flush()  # the events' ids, for the notifications to point at
    now = utcnow()
    rows = [
        {
            "org_id": orgs[chain_org],
            "type": type_,
            "subject": event.subject,
            "payload": dict(event.args),
            "block_number": event.block_number,
            "tx_hash": event.tx_hash,
            "log_index": event.log_index,
            "chain_event_id": event.id,
            "created_at": now,
        }
        for event, wanted in followed
        for type_, chain_org in wanted
        if chain_org in orgs and (event.tx_hash, event.log_index, type_, orgs[chain_org]) not in seen
    ]
    if not rows:
        return []
    # One multi-row INSERT, ids back in order: no ORM objects for what nobody reads here.
    inserted = session.connection().execute(
        insert(Notification).returning(col(Notification.id), sort_by_parameter_order=True), rows
    )
    ids = list(inserted.scalars().all())
    _enqueue_deliveries(session, [(i, row["org_id"], row["type"]) for i, row in zip(ids, rows, strict=True)])
    return ids


def _enqueue_deliveries(session: Session, created: Sequence[tuple[int, int, str]]) -> None:
    """Deliveries for new notifications, given as (id, organisation id, type)."""
    hooks = session.exec(
        select(Webhook).where(
            col(Webhook.org_id).in_({org_id for _, org_id, _ in created}), col(Webhook.deleted_at).is_(None)
        )
    ).all()
    if not hooks:
        return
    now = time.time()
    for notification_id, org_id, type_ in created:
        for hook in hooks:
            if hook.org_id == org_id and (not hook.event_types or type_ in hook.event_types):
                session.add(
                    WebhookDelivery(
                        id=str(uuid.uuid4()),
                        webhook_id=hook.id or 0,
                        notification_id=notification_id,
                        next_attempt_at=now,
                    )
                )


# -- rules: who follows what --------------------------------------------------------------------


def _active_banks(session: Session) -> list[int]:
    rows = session.exec(
        select(Organisation.chain_org_id).where(
            Organisation.roles.op("&")(int(Role.BANK)) != 0,  # type: ignore[attr-defined]
            Organisation.status == "active",
            col(Organisation.chain_org_id).is_not(None),
        )
    ).all()
    return [r for r in rows if r is not None]


def _creditor(session: Session, piece_id: str) -> list[int]:
    piece = session.get(Piece, piece_id)
    return [piece.creditor_org] if piece is not None else []


@rule("FinancingRequested", "financing.requested")
def _addressed_bank(session: Session, e: ChainEvent) -> Iterable[int]:
    return [e.args["bankOrg"]] if e.args["bankOrg"] else _active_banks(session)


@rule("FinancingRequestCancelled", "financing.cancelled")
def _bank_of_cancelled(session: Session, e: ChainEvent) -> Iterable[int]:
    request = session.exec(
        select(FinancingRequest)
        .where(FinancingRequest.piece_id == e.args["id"], FinancingRequest.status == "cancelled")
        .order_by(col(FinancingRequest.id).desc())
    ).first()
    if request is None:
        return []
    return [request.bank_org] if request.bank_org else _active_banks(session)


@rule("PieceFinanced", "financing.funded")
def _seller_and_bank(_: Session, e: ChainEvent) -> Iterable[int]:
    return [e.args["sellerOrg"], e.args["bankOrg"]]


@rule("PieceRepaid", "receivable.repaid")
def _payee(_: Session, e: ChainEvent) -> Iterable[int]:
    return [e.args["payeeOrg"]]


@rule("PieceTransferred", "receivable.transferred")
def _receiver(_: Session, e: ChainEvent) -> Iterable[int]:
    return [e.args["toOrg"]]


@rule("ReceivableConfirmed", "invoice.confirmed")
def _seller_of_confirmed(session: Session, e: ChainEvent) -> Iterable[int]:
    return _creditor(session, e.args["id"])


@rule("ReceivableRejected", "invoice.rejected")
def _seller_of_rejected(session: Session, e: ChainEvent) -> Iterable[int]:
    return _creditor(session, e.args["id"])


def _holders_and_banks(session: Session, e: ChainEvent) -> Iterable[int]:
    """Whoever still holds a piece of the receivable, and banks with a lock (financed, pledged) on one."""
    rows = session.exec(
        select(Piece.holder_org, Piece.lock_org).where(
            Piece.root_id == e.args["rootId"], col(Piece.state).in_(("registered", "confirmed"))
        )
    ).all()
    return {org for pair in rows for org in pair}


rule("ReceivableOverdue", "receivable.overdue")(_holders_and_banks)
rule("ReceivableDefaulted", "receivable.defaulted")(_holders_and_banks)


def _receipt_holders(session: Session, receipt_id: str, pledgee: int) -> list[int]:
    """The pledgee bank named by the event, and the receipt's owner."""
    receipt = session.get(Receipt, receipt_id)
    return [pledgee, receipt.owner_org if receipt is not None else 0]


@rule("ReceiptFrozen", "receipt.frozen", contract="WarehouseReceipts")
def _parties_of_frozen(session: Session, e: ChainEvent) -> Iterable[int]:
    return _receipt_holders(session, e.args["receiptId"], e.args["pledgeeOrg"])


@rule("ReceiptUnfrozen", "receipt.unfrozen", contract="WarehouseReceipts")
def _parties_of_unfrozen(session: Session, e: ChainEvent) -> Iterable[int]:
    return _receipt_holders(session, e.args["receiptId"], e.args["pledgeeOrg"])


@rule("LotStatusChanged", "lot.alert", contract="GoodsOracle")
def _parties_of_alerted_lot(session: Session, e: ChainEvent) -> Iterable[int]:
    """A lot gone to ALERT or OFFLINE (its receipt freezes): the pledgee bank, the owner, the warehouse."""
    if e.args["status"] not in FREEZING_STATUSES:
        return []
    lot = session.get(Lot, e.args["lotId"])
    receipt = session.get(Receipt, e.args["lotId"])
    parties = [lot.warehouse_org if lot is not None else 0]
    if receipt is not None and receipt.state != "surrendered":
        parties += [receipt.pledgee_org, receipt.owner_org]
    return parties


# -- webhooks -----------------------------------------------------------------------------------

SECRET_PREFIX = "whsec_"


def check_url(url: str, *, allow_private: bool) -> str:
    """Refuse anything but an absolute http(s) URL; private and loopback hosts only when allowed."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise Invalid("invalid_webhook_url", "the URL does not parse") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("invalid_webhook_url", "webhooks need an absolute http(s) URL", url=url)
    if parts.username or parts.password:
        raise Invalid("invalid_webhook_url", "put no credentials in the URL: verify the signature instead")
    if port == 0:
        raise Invalid("invalid_webhook_url", "the port is not valid", url=url)
    if not allow_private and _is_private(parts.hostname):
        raise Invalid("webhook_url_not_public", "the URL points to a private or loopback address", url=url)
    return parts.geturl()


def _is_private(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False  # a name: resolved when delivering


def _may_follow(principal: Principal) -> None:
    if not principal.has(Role.CORE_FIRM | Role.SUPPLIER | Role.BANK | Role.WAREHOUSE):
        raise Forbidden(
            "role_required",
            "webhooks are for organisations that take part in trade or finance",
            required="CORE_FIRM|SUPPLIER|BANK|WAREHOUSE",
        )


def create_webhook(
    session: Session,
    *,
    principal: Principal,
    url: str,
    event_types: list[str],
    allow_private: bool,
    master_key: MasterKey,
) -> tuple[Webhook, str]:
    """Subscribe the caller's organisation; return the row and its signing secret, to show once.

    Only the sealed secret is stored (AES-GCM under the master key, bound to the webhook id).
    """
    _may_follow(principal)
    url = check_url(url, allow_private=allow_private)
    check_types(event_types)
    hook = Webhook(
        org_id=principal.org.id or 0,
        url=url,
        event_types=sorted(set(event_types)),
        secret="",
        created_by=principal.member.id or 0,
    )
    session.add(hook)
    session.flush()
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    hook.secret = seal_secret(master_key, f"webhook:{hook.id}", secret)
    session.add(hook)
    logger.info("webhook %s created for organisation %s", hook.id, hook.org_id)
    return hook, secret


def list_webhooks(
    session: Session, *, principal: Principal, offset: int, limit: int
) -> tuple[Sequence[Webhook], int]:
    query = select(Webhook).where(Webhook.org_id == principal.org.id, col(Webhook.deleted_at).is_(None))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Webhook.id)).offset(offset).limit(limit)).all()
    return rows, total


def get_webhook(session: Session, *, principal: Principal, webhook_id: int) -> Webhook:
    """The caller's organisation's webhook; another organisation's is as good as absent."""
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.deleted_at is not None or hook.org_id != principal.org.id:
        raise NotFound("webhook_not_found", f"no webhook {webhook_id}")
    return hook


def delete_webhook(session: Session, *, principal: Principal, webhook_id: int) -> Webhook:
    """Unsubscribe: nothing more is sent, pending deliveries are cancelled, the history stays."""
    hook = get_webhook(session, principal=principal, webhook_id=webhook_id)
    hook.deleted_at = utcnow()
    session.add(hook)
    pending = session.exec(
        select(WebhookDelivery).where(
            WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "pending"
        )
    ).all()
    for delivery in pending:
        delivery.status = "cancelled"
        session.add(delivery)
    return hook


def list_deliveries(
    session: Session,
    *,
    principal: Principal,
    webhook_id: int,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[tuple[WebhookDelivery, Notification]], int]:
    get_webhook(session, principal=principal, webhook_id=webhook_id)
    query = (
        select(WebhookDelivery, Notification)
        .join(Notification, col(Notification.id) == WebhookDelivery.notification_id)
        .where(WebhookDelivery.webhook_id == webhook_id)
    )
    if status:
        query = query.where(WebhookDelivery.status == status)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(WebhookDelivery.notification_id).desc()).offset(offset).limit(limit)
    ).all()
    return [(d, n) for d, n in rows], total


# -- notifications ------------------------------------------------------------------------------


def _after(org_id: int, after_id: int, types: Sequence[str]) -> SelectOfScalar[Notification]:
    query = select(Notification).where(Notification.org_id == org_id, col(Notification.id) > after_id)
    return query.where(col(Notification.type).in_(types)) if types else query


def notifications_after(
    session: Session, *, org_id: int, after_id: int, types: Sequence[str] = (), limit: int = 100
) -> Sequence[Notification]:
    """The organisation's notifications with ids above `after_id`, oldest first."""
    return session.exec(_after(org_id, after_id, types).order_by(col(Notification.id)).limit(limit)).all()


def count_after(session: Session, *, org_id: int, after_id: int, types: Sequence[str] = ()) -> int:
    """How many of the organisation's notifications have ids above `after_id`."""
    return session.exec(select(func.count()).select_from(_after(org_id, after_id, types).subquery())).one()


def key_is_live(session: Session, *, key_id: int) -> bool:
    """Whether an API key still authenticates (not revoked, member enabled): long streams re-check."""
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    member = session.get(Member, key.member_id)
    return member is not None and not member.disabled


def latest_id(session: Session, *, org_id: int) -> int:
    """The id of the organisation's newest notification (0 if none): where a fresh stream starts."""
    found = session.exec(select(func.max(Notification.id)).where(Notification.org_id == org_id)).one()
    return int(found or 0)


def check_types(types: Sequence[str]) -> list[str]:
    """Refuse notification types no rule produces."""
    known = event_types()
    unknown = sorted(set(types) - set(known))
    if unknown:
        raise Invalid("unknown_event_type", "unknown notification types", unknown=unknown, known=known)
    return list(types)


def _utc(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)  # SQLite hands back naive UTC


def body_of(notification: Notification) -> dict[str, Any]:
    """What a webhook receives and a stream event carries, as JSON."""
    return {
        "id": notification.id,
        "type": notification.type,
        "subject": notification.subject,
        "block_number": notification.block_number,
        "tx_hash": notification.tx_hash,
        "created_at": _utc(notification.created_at).isoformat(),
        "data": notification.payload,
    }
