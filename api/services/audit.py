"""Audit: documents, histories and the database, each checked against the chain itself.

Nothing here trusts the API's own read model: histories come from eth_getLogs, reconciliation
reads every piece's on-chain state and compares it with the database.
"""

from __future__ import annotations

from typing import Any

from hexbytes import HexBytes
from sqlmodel import Session, select
from web3._utils.events import get_event_data
from web3.contract import Contract

from api.indexer import event_args
from api.models import Invoice, Piece
from api.services.errors import NotFound
from chain.client import ChainClient
from chain.manifest import Deployment

_STATES = ["none", "registered", "confirmed", "split", "settled", "rejected", "cancelled"]
_LOCKS = ["none", "finance_requested", "financed", "pledged"]


class ChainAuditor:
    """Reads the ledger for auditors."""

    def __init__(self, client: ChainClient, deployment: Deployment) -> None:
        self._client = client
        self._deployment = deployment
        self.receivables: Contract = client.contract("Receivables", deployment.address("Receivables"))

    def _logs(self, event: str, topics: list[Any]) -> list[dict[str, Any]]:
        abi_event = self.receivables.events[event]
        logs = self._client.w3.eth.get_logs(
            {
                "fromBlock": self._deployment.block_number,
                "toBlock": "latest",
                "address": self.receivables.address,
                "topics": [abi_event.topic, *topics],
            }
        )
        abi = abi_event.abi
        out = []
        for log in logs:
            data = get_event_data(self._client.w3.codec, abi, log)
            out.append(
                {
                    "event": event,
                    "block_number": log["blockNumber"],
                    "tx_hash": log["transactionHash"].to_0x_hex(),
                    "log_index": log["logIndex"],
                    "args": event_args(abi, data["args"]),
                }
            )
        return out

    def registration(self, invoice_id: str) -> dict[str, Any] | None:
        """The on-chain registration of `invoice_id`, or None."""
        found = self._logs("ReceivableRegistered", [HexBytes(int(invoice_id, 16).to_bytes(32, "big"))])
        return found[0] if found else None

    def verify_document(self, *, sha256: str, invoice_id: str | None) -> dict[str, Any]:
        """Which registered invoices anchor a document with this SHA-256."""
        wanted = "0x" + sha256.lower()
        if invoice_id is not None:
            registration = self.registration(invoice_id)
            if registration is None:
                raise NotFound("invoice_not_on_chain", f"{invoice_id} is not registered on chain")
            candidates = [registration]
        else:
            candidates = self._logs("ReceivableRegistered", [])
        matches = [c for c in candidates if c["args"]["documentHash"] == wanted]
        return {
            "sha256": sha256.lower(),
            "anchored": bool(matches),
            "registrations": [
                {"invoice_id": m["args"]["id"], "block_number": m["block_number"], "tx_hash": m["tx_hash"]}
                for m in matches
            ],
            "checked_invoice": invoice_id,
        }

    def history(self, root_id: str) -> dict[str, Any]:
        """Every event of the receivable and its split tree, from the chain, in order."""
        registration = self.registration(root_id)
        if registration is None:
            raise NotFound("invoice_not_on_chain", f"{root_id} is not registered on chain")
        tree: dict[str, list[str]] = {}
        pending, seen = [root_id.lower()], []
        events: list[dict[str, Any]] = []
        while pending:
            piece_id = pending.pop()
            seen.append(piece_id)
            topic = HexBytes(int(piece_id, 16).to_bytes(32, "big"))
            for name in self._piece_events():
                events.extend(self._logs(name, [topic]))
            for split in self._logs("PieceSplit", [topic]):
                children = split["args"]["childIds"]
                tree[piece_id] = children
                pending.extend(children)
        events.sort(key=lambda e: (e["block_number"], e["log_index"]))
        unique = {(e["tx_hash"], e["log_index"]): e for e in events}
        return {"root_id": root_id.lower(), "pieces": seen, "tree": tree, "events": list(unique.values())}

    @staticmethod
    def _piece_events() -> list[str]:
        return [
            "ReceivableRegistered",
            "ReceivableConfirmed",
            "ReceivableRejected",
            "ReceivableCancelled",
            "PieceTransferred",
            "FinancingRequested",
            "FinancingRequestCancelled",
            "PieceFinanced",
            "PiecePledged",
            "PledgeReleased",
            "PieceRepaid",
        ]

    def piece(self, piece_id: str) -> dict[str, Any]:
        raw = self.receivables.functions.piece(int(piece_id, 16)).call()
        holder, debtor, amount, due, state, lock, depth, lock_org = raw
        return {
            "holder_org": holder,
            "debtor_org": debtor,
            "amount_minor": amount,
            "due_at": due,
            "state": _STATES[state],
            "lock": _LOCKS[lock],
            "lock_org": lock_org,
            "depth": depth,
        }

    def reconcile(self, session: Session) -> dict[str, Any]:
        """Compare every piece and invoice in the database with the chain; list every mismatch."""
        mismatches: list[dict[str, Any]] = []
        # One log query for every registration, not one per invoice.
        registrations = {r["args"]["id"]: r for r in self._logs("ReceivableRegistered", [])}
        pieces = session.exec(select(Piece)).all()
        for row in pieces:
            chain = self.piece(row.id)
            for field, value in chain.items():
                if getattr(row, field) != value:
                    mismatches.append(
                        {
                            "kind": "piece",
                            "id": row.id,
                            "field": field,
                            "database": getattr(row, field),
                            "chain": value,
                        }
                    )
        invoices = session.exec(
            select(Invoice).where(Invoice.status.in_(("registered", "confirmed", "settled")))
        ).all()  # type: ignore[attr-defined]
        for invoice in invoices:
            chain = self.piece(invoice.id)
            registration = registrations.get(invoice.id)
            expected = {
                "amount_minor": (invoice.amount_minor, chain["amount_minor"]),
                "due_at": (invoice.due_at, chain["due_at"]),
                "document_sha256": (
                    "0x" + invoice.document_sha256,
                    registration["args"]["documentHash"] if registration else None,
                ),
            }
            for field, (db_value, chain_value) in expected.items():
                if db_value != chain_value:
                    mismatches.append(
                        {
                            "kind": "invoice",
                            "id": invoice.id,
                            "field": field,
                            "database": db_value,
                            "chain": chain_value,
                        }
                    )
        on_chain = set(registrations)
        known = {p.id for p in pieces if p.parent_id is None}
        for missing in sorted(on_chain - known):
            mismatches.append(
                {"kind": "piece", "id": missing, "field": "row", "database": None, "chain": "registered"}
            )
        return {
            "pieces_checked": len(pieces),
            "invoices_checked": len(invoices),
            "consistent": not mismatches,
            "mismatches": mismatches,
        }
