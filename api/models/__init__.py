"""sqlmodel tables of the API: members, invoices, the chain read model, the outbox."""

from api.models.invoices import Document, Invoice
from api.models.ledger import ChainEvent, FinancingRequest, IndexerCursor, Piece
from api.models.members import ApiKey, CustodialKey, Member, Organisation
from api.models.notifications import Notification, Webhook, WebhookDelivery
from api.models.outbox import IdempotencyRecord, OutboxEntry, SignerNonce

__all__ = [
    "ApiKey",
    "ChainEvent",
    "CustodialKey",
    "Document",
    "FinancingRequest",
    "IdempotencyRecord",
    "IndexerCursor",
    "Invoice",
    "Member",
    "Notification",
    "Organisation",
    "OutboxEntry",
    "Piece",
    "SignerNonce",
    "Webhook",
    "WebhookDelivery",
]
