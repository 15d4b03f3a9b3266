"""sqlmodel tables of the API: members, invoices, goods, the chain read model, the outbox."""

from api.models.goods import GoodsAlert, Lot, LotDevice, LotLabel, LotReport, Receipt
from api.models.invoices import Document, Invoice
from api.models.ledger import ChainEvent, FinancingRequest, IndexerCursor, Piece
from api.models.members import ApiKey, CustodialKey, Member, Organisation
from api.models.notifications import Notification, Webhook, WebhookDelivery
from api.models.outbox import IdempotencyRecord, OutboxEntry, SignerNonce
from api.models.workers import WorkerLease

__all__ = [
    "ApiKey",
    "ChainEvent",
    "CustodialKey",
    "Document",
    "FinancingRequest",
    "GoodsAlert",
    "IdempotencyRecord",
    "IndexerCursor",
    "Invoice",
    "Lot",
    "LotDevice",
    "LotLabel",
    "LotReport",
    "Member",
    "Notification",
    "Organisation",
    "OutboxEntry",
    "Piece",
    "Receipt",
    "SignerNonce",
    "Webhook",
    "WebhookDelivery",
    "WorkerLease",
]
