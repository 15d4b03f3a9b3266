"""What the relay tells business objects when the chain refuses their transaction."""

from __future__ import annotations

from sqlmodel import Session

from api.models import Invoice, Organisation, OutboxEntry


def on_failed(session: Session, entry: OutboxEntry) -> None:
    """Mark the entry's subject failed with the chain's reason, where it has a status of its own."""
    if entry.function in ("register", "registerBatch"):
        ids = (
            [entry.subject_id] if entry.function == "register" else [_hex(item[0]) for item in entry.args[0]]
        )
        for invoice_id in ids:
            invoice = session.get(Invoice, invoice_id)
            if invoice is not None:
                invoice.status, invoice.error_code = "failed", entry.error_code
                session.add(invoice)
    elif entry.subject_type == "organisation" and entry.function == "admitOrganisation":
        org = session.get(Organisation, int(entry.subject_id.split(":", 1)[1]))
        if org is not None:
            org.status = "failed"
            session.add(org)


def _hex(value: int | str) -> str:
    return f"0x{int(value, 0) if isinstance(value, str) else value:064x}"
