"""Audit: documents, histories and the database, each checked against the chain itself.

Nothing here trusts the API's own read model: histories come from eth_getLogs, reconciliation
reads every piece's, lot's and receipt's on-chain state and compares it with the database, and
reading proofs are checked by the goods oracle itself.
"""

from __future__ import annotations

from typing import Any

from hexbytes import HexBytes
from sqlmodel import Session, select
from web3._utils.events import get_event_data
from web3.contract import Contract

from api.indexer import event_args
from api.models import Invoice, Lot, LotDevice, Piece, Receipt
from api.services.errors import NotFound
from chain.client import ChainClient
from chain.manifest import Deployment

_STATES = ["none", "registered", "confirmed", "split", "settled", "rejected", "cancelled"]
_LOCKS = ["none", "finance_requested", "financed", "pledged"]
_GOODS = ["unknown", "ok", "warning", "alert", "offline"]
_RECEIPT_STATES = ["none", "issued", "pledged", "surrendered"]


def _word(hex_id: str) -> bytes:
    return bytes.fromhex(hex_id[2:])


def _mismatch(kind: str, id_: str, field: str, database: Any, chain: Any) -> dict[str, Any]:
    return {"kind": kind, "id": id_, "field": field, "database": database, "chain": chain}


class ChainAuditor:
    """Reads the ledger for auditors."""

    def __init__(self, client: ChainClient, deployment: Deployment) -> None:
        self._client = client
        self._deployment = deployment
        self.receivables: Contract = client.contract("Receivables", deployment.address("Receivables"))
        self.receipts: Contract = client.contract(
            "WarehouseReceipts", deployment.address("WarehouseReceipts")
        )
        self.oracle: Contract = client.contract("GoodsOracle", deployment.address("GoodsOracle"))

    def _logs(self, event: str, topics: list[Any], contract: Contract | None = None) -> list[dict[str, Any]]:
        source = contract if contract is not None else self.receivables
        abi_event = source.events[event]
        logs = self._client.w3.eth.get_logs(
            {
                "fromBlock": self._deployment.block_number,
                "toBlock": "latest",
                "address": source.address,
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
        lots_checked, receipts_checked = self._reconcile_goods(session, mismatches)
        return {
            "pieces_checked": len(pieces),
            "invoices_checked": len(invoices),
            "lots_checked": lots_checked,
            "receipts_checked": receipts_checked,
            "consistent": not mismatches,
            "mismatches": mismatches,
        }

    # -- goods ---------------------------------------------------------------------------------

    def lot(self, lot_id: str) -> dict[str, Any]:
        """A lot as the chain holds it: the warehouse's record, its devices, the oracle's status."""
        warehouse, quantity, _, issued, info_hash = self._client.call(
            self.receipts.functions.lot(_word(lot_id))
        )
        status, round_, observed_at, _ = self._client.call(self.oracle.functions.lotStatus(_word(lot_id)))
        devices = self._client.call(self.receipts.functions.devicesOf(_word(lot_id)))
        return {
            "warehouse_org": warehouse,
            "quantity_milli": str(quantity),
            "receipt_issued": issued,
            "info_hash": "0x" + bytes(info_hash).hex(),
            "status": _GOODS[status],
            "round": round_,
            "observed_at": observed_at,
            "devices": sorted("0x" + bytes(d).hex() for d in devices),
        }

    def receipt(self, receipt_id: str) -> dict[str, Any]:
        """A receipt as the chain holds it."""
        owner, pledgee, state, frozen, _, until = self._client.call(
            self.receipts.functions.receipt(_word(receipt_id))
        )
        return {
            "owner_org": owner,
            "pledgee_org": pledgee,
            "state": _RECEIPT_STATES[state],
            "frozen": frozen,
            "pledged_until": until,
        }

    def _reconcile_goods(self, session: Session, mismatches: list[dict[str, Any]]) -> tuple[int, int]:
        """Every lot (with its devices) and receipt in the database against the chain."""
        lots = session.exec(select(Lot)).all()
        devices: dict[str, list[str]] = {}
        for device in session.exec(select(LotDevice)).all():
            devices.setdefault(device.lot_id, []).append(device.device_id)
        for row in lots:
            chain = self.lot(row.id)
            database = {**row.model_dump(), "devices": sorted(devices.get(row.id, []))}
            mismatches.extend(
                _mismatch("lot", row.id, name, database[name], value)
                for name, value in chain.items()
                if database[name] != value
            )
        receipts = session.exec(select(Receipt)).all()
        for receipt in receipts:
            chain = self.receipt(receipt.id)
            mismatches.extend(
                _mismatch("receipt", receipt.id, name, getattr(receipt, name), value)
                for name, value in chain.items()
                if getattr(receipt, name) != value
            )
        known = {row.id for row in lots}
        for event in self._logs("LotRegistered", [], self.receipts):
            if event["args"]["lotId"] not in known:
                mismatches.append(_mismatch("lot", event["args"]["lotId"], "row", None, "registered"))
        return len(lots), len(receipts)

    def readings_root(self, lot_id: str, round_: int) -> str:
        """The readings root the goods oracle anchored for the lot's round (zero if none)."""
        return (
            "0x" + bytes(self._client.call(self.oracle.functions.readingsRoot(_word(lot_id), round_))).hex()
        )

    def verify_reading(
        self, *, lot_id: str, round_: int, device_id: str, seq: int, payload_hash: str, proof: list[str]
    ) -> bool:
        """Whether the goods oracle accepts `proof` of the reading against its anchored root."""
        fn = self.oracle.functions.verifyReading(
            _word(lot_id), round_, _word(device_id), seq, _word(payload_hash), [_word(p) for p in proof]
        )
        return bool(self._client.call(fn))

    def device_key(self, device_id: str) -> tuple[str, str]:
        """The lot a device is bound to and its key's address, as the chain says (zeros if unbound)."""
        lot, key = self._client.call(self.receipts.functions.device(_word(device_id)))
        return "0x" + bytes(lot).hex(), key
