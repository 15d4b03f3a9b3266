"""The indexer: follows the suite's events into the read model, surviving restarts and rewinds.

Every decoded event is stored (ChainEvent) and applied to the projections (pieces, financing
requests, invoice and organisation status; goods lots, devices, receipts, oracle reports and
alerts) in the same database transaction as the cursor that records the last applied block and
its hash. If that hash is no longer the chain's (a dev node's
evm_revert), the read model is rebuilt from the deployment block: on a QBFT chain, with immediate
finality, this never happens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from web3.contract import Contract

from api.db import session_scope
from api.lease import Lease, run_leased
from api.models import (
    ChainEvent,
    FinancingRequest,
    GoodsAlert,
    IndexerCursor,
    Invoice,
    Lot,
    LotDevice,
    LotReport,
    Organisation,
    Piece,
    Receipt,
)
from api.models.base import CoreRows
from api.services import notifications
from chain.client import ChainClient
from chain.jsonrpc import JsonRpc, quantity
from chain.manifest import Deployment

logger = logging.getLogger(__name__)

CURSOR = "main"
CHUNK_BLOCKS = 2_000
INDEXER_LEASE = "chain-indexer"
WAIT_POLL_S = 0.01
# IGoodsOracle.Status, by its value.
GOODS_STATUSES = ("unknown", "ok", "warning", "alert", "offline")
# Statuses a lot's alerts are about: the goods need a look (WARNING) or the receipt freezes.
ALERT_STATUSES = frozenset({"warning", "alert", "offline"})


def hex_id(value: int) -> str:
    """A 256-bit id as the API shows it."""
    return f"0x{value:064x}"


def jsonable(name: str, abi_type: str, value: Any) -> Any:
    """An event argument as JSON: bytes and 256-bit ids as 0x-hex, other integers as numbers."""
    if isinstance(value, bytes | HexBytes):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [jsonable(name, abi_type.removesuffix("[]"), v) for v in value]
    is_id = name == "id" or name.endswith(("Id", "Ids"))
    if isinstance(value, int) and not isinstance(value, bool) and abi_type == "uint256" and is_id:
        return hex_id(value)
    return value


def event_args(abi: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Decoded event arguments as JSON, typed by the event's ABI."""
    types = {i["name"]: i["type"] for i in abi["inputs"]}
    return {k: jsonable(k, types[k], v) for k, v in args.items()}


_PIECE_ROW = CoreRows(Piece)
_INSERT_PIECE = insert(Piece.__table__)  # type: ignore[attr-defined]


class ChainIndexer:
    """Applies chain events to the read model, under the indexer's database lease."""

    def __init__(
        self,
        engine: Engine,
        client: ChainClient,
        deployment: Deployment,
        *,
        poll_s: float = 0.1,
        lease: Lease | None = None,
        rpc: JsonRpc | None = None,
    ):
        self._engine = engine
        self._client = client
        self._deployment = deployment
        self._poll_s = poll_s
        self.lease = lease or Lease(engine, INDEXER_LEASE)
        self._rpc = rpc or JsonRpc(_endpoint_of(client))
        contracts: dict[str, Contract] = {
            name: client.contract(name, address) for name, address in deployment.contracts.items()
        }
        self._addresses = [c.address for c in contracts.values()]
        self._by_address = {c.address.lower(): name for name, c in contracts.items()}
        self._events: dict[bytes, dict[str, Any]] = {}
        self._decoders: dict[str, _EventShape] = {}
        for contract in contracts.values():
            for item in contract.abi:
                if item.get("type") == "event":
                    topic = contract.events[item["name"]].topic
                    self._events[bytes(HexBytes(topic))] = item
                    self._decoders[HexBytes(topic).to_0x_hex()] = _EventShape.of(item)
        self._checksummed: dict[str, str] = {}
        self.advanced = threading.Condition()

    # -- loop ----------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Follow the chain while holding the indexer lease, until `stop` is set."""
        try:
            run_leased("indexer", self.lease, stop, self.step, lambda: stop.wait(self._poll_s))
        finally:
            self.lease.release()

    def head(self) -> int:
        """The last block applied to the read model."""
        with self._engine.connect() as conn:
            row = conn.execute(_CURSOR_QUERY).first()
        return int(row[0]) if row else self._deployment.block_number - 1

    def step(self) -> bool:
        """Apply the next chunk of blocks in one transaction; True if the cursor moved.

        The node is asked first (head, cursor block hash, logs), outside any write transaction; the
        events are then applied, projected and fanned out in one transaction that starts by
        renewing the lease and commits with the cursor (block number and hash).
        """
        rpc = self._rpc
        head = rpc.call("eth_getBlockByNumber", ["latest", False])
        latest, latest_hash = quantity(head["number"]), head["hash"]
        with self._engine.connect() as conn:
            row = conn.execute(_CURSOR_QUERY).first()
            seen = (int(row[0]), str(row[1])) if row else None
        if seen is not None and seen == (latest, latest_hash):
            return False  # nothing new, and the block applied last is still the chain's
        rewound = False
        if seen is not None and seen[0] < latest:
            rewound = self._block_hash(seen[0]) != seen[1]
        elif seen is not None:  # same height with another hash, or the chain is shorter
            rewound = True
        if rewound:
            logger.warning("chain rewound below block %s: rebuilding the read model", seen[0] if seen else 0)
        start = self._deployment.block_number if rewound or seen is None else seen[0] + 1
        if start > latest:
            if rewound:  # nothing left of what was applied
                with session_scope(self._engine) as session:
                    self.lease.fence(session)
                    self._reset(session)
            return rewound
        end = min(latest, start + CHUNK_BLOCKS - 1)
        end_hash = latest_hash if end == latest else self._block_hash(end)
        logs, again = rpc.batch(
            [
                ("eth_getLogs", [{"fromBlock": hex(start), "toBlock": hex(end), "address": self._addresses}]),
                ("eth_getBlockByNumber", [hex(end), False]),
            ]
        )
        for answer in (logs, again):
            if isinstance(answer, Exception):
                raise answer
        if again is None or again["hash"] != end_hash:
            return False  # the chain moved under the query: ask again
        decoded = [d for d in (self._decode(log) for log in sorted(logs, key=_chain_order)) if d is not None]
        with session_scope(self._engine) as session:
            self.lease.fence(session)
            cursor = session.get(IndexerCursor, CURSOR)
            if ((cursor.block_number, cursor.block_hash) if cursor else None) != seen:
                return False  # another indexer wrote meanwhile (before this one took the lease)
            if rewound:
                self._reset(session)
                cursor = None
            self._apply(session, decoded)
            if cursor is None:
                cursor = IndexerCursor(name=CURSOR, block_number=end, block_hash=end_hash)
            cursor.block_number, cursor.block_hash = end, end_hash
            session.add(cursor)
        with self.advanced:
            self.advanced.notify_all()
        return True

    def wait_for_block(self, block_number: int, timeout_s: float) -> bool:
        """Block until the read model includes `block_number` (indexed here or by another process)."""
        deadline = time.monotonic() + timeout_s
        while self.head() < block_number:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self.advanced:  # woken by a local indexer; else the database is polled
                self.advanced.wait(min(WAIT_POLL_S, remaining))
        return True

    # -- events --------------------------------------------------------------------------------

    def _reset(self, session: Session) -> None:
        read_model = (ChainEvent, Piece, FinancingRequest, Lot, LotDevice, Receipt, LotReport, GoodsAlert)
        for table in (*read_model, IndexerCursor):
            session.exec(delete(table))  # type: ignore[call-overload]

    def _block_hash(self, number: int) -> str | None:
        block = self._rpc.call("eth_getBlockByNumber", [hex(number), False])
        return None if block is None else str(block["hash"])

    def _decode(self, log: dict[str, Any]) -> ChainEvent | None:
        """A raw JSON-RPC log as an event (not yet stored), or None if it is no event of the suite."""
        topics = log["topics"]
        shape = self._decoders.get(topics[0]) if topics else None
        if shape is None:
            return None
        args = event_args(shape.abi, shape.decode(topics, log["data"], self._checksum))
        subject = next(
            (args[k] for k in ("id", "parentId", "rootId", "receiptId", "lotId") if k in args), None
        )
        event = DecodedEvent(
            block_number=quantity(log["blockNumber"]),
            block_hash=log["blockHash"],
            tx_hash=log["transactionHash"],
            log_index=quantity(log["logIndex"]),
            contract=self._by_address.get(log["address"].lower(), "?"),
            name=shape.name,
            subject=subject if isinstance(subject, str) else None,
            args=args,
        )
        return event  # type: ignore[return-value] - read like a ChainEvent by handlers and fan-out

    def _checksum(self, address: str) -> str:
        if address not in self._checksummed:
            self._checksummed[address] = to_checksum_address(address)
        return self._checksummed[address]

    def _apply(self, session: Session, events: list[ChainEvent]) -> None:
        """Store the events, apply each to the projections in chain order, then fan them out.

        The rows the events touch are loaded first with one query per table, so each handler finds
        them in the session instead of asking the database event by event; the events are inserted
        together, and their notifications too.
        """
        if not events:
            return
        loaded = self._preload(session, events)  # held: the session keeps loaded rows weakly
        # The events go in as one multi-row INSERT (no ORM objects: building those cost more than
        # the rest of indexing); their ids come back in chain order, for the notifications.
        rows = [event.row() for event in events]  # type: ignore[attr-defined]
        inserted = session.connection().execute(
            insert(ChainEvent).returning(col(ChainEvent.id), sort_by_parameter_order=True), rows
        )
        for event, event_id in zip(events, inserted.scalars().all(), strict=True):
            event.id = event_id
        followed = []
        for event in events:
            handler = getattr(self, f"_on_{event.name}", None)
            if handler is not None:
                handler(session, event.args, event)
            followed.append((event, notifications.followers(session, event)))
        notifications.record(session, followed)
        del loaded

    @staticmethod
    def _preload(session: Session, events: list[ChainEvent]) -> list[object]:
        ids = {str(event.subject) for event in events if event.subject}
        if not ids:
            return []
        rows: list[object] = []
        for model in (Piece, Invoice):
            for chunk in _chunks(sorted(ids), 500):
                rows.extend(session.exec(select(model).where(col(model.id).in_(chunk))).all())
        return rows

    # Projections: one handler per event that changes the read model.

    def _on_OrganisationAdmitted(self, session: Session, a: dict[str, Any], _e: ChainEvent) -> None:
        code = bytes.fromhex(a["creditCode"][2:]).rstrip(b"\0").decode("ascii", "replace")
        org = session.exec(select(Organisation).where(Organisation.credit_code == code)).first()
        if org is not None:
            org.chain_org_id, org.status, org.roles = a["orgId"], "active", a["roles"]
            session.add(org)

    def _org_status(self, session: Session, org_id: int, status: str) -> None:
        org = session.exec(select(Organisation).where(Organisation.chain_org_id == org_id)).first()
        if org is not None:
            org.status = status
            session.add(org)

    def _on_OrganisationSuspended(self, session: Session, a: dict[str, Any], _e: ChainEvent) -> None:
        self._org_status(session, a["orgId"], "suspended")

    def _on_OrganisationReinstated(self, session: Session, a: dict[str, Any], _e: ChainEvent) -> None:
        self._org_status(session, a["orgId"], "active")

    def _on_OrganisationRolesChanged(self, session: Session, a: dict[str, Any], _e: ChainEvent) -> None:
        org = session.exec(select(Organisation).where(Organisation.chain_org_id == a["orgId"])).first()
        if org is not None:
            org.roles = a["roles"]
            session.add(org)

    def _invoice_status(self, session: Session, invoice_id: str, status: str) -> None:
        invoice = session.get(Invoice, invoice_id)
        if invoice is not None:
            invoice.status = status
            session.add(invoice)

    def _piece(self, session: Session, piece_id: str) -> Piece:
        piece = session.get(Piece, piece_id)
        if piece is None:
            raise LookupError(f"event for unknown piece {piece_id}")
        return piece

    def _on_ReceivableRegistered(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        # A Core insert: registrations come 100 at a time from bulk uploads, and an ORM object costs
        # ~0.2 ms to build and flush. A later event of the same chunk loads the row like any other.
        row = _PIECE_ROW(
            id=a["id"],
            root_id=a["id"],
            creditor_org=a["creditorOrg"],
            holder_org=a["creditorOrg"],
            debtor_org=a["debtorOrg"],
            amount_minor=a["amountMinor"],
            due_at=a["dueAt"],
            state="registered",
            updated_block=e.block_number,
        )
        session.connection().execute(_INSERT_PIECE, row)
        self._invoice_status(session, a["id"], "registered")

    def _set_state(self, session: Session, piece_id: str, state: str, e: ChainEvent) -> Piece:
        piece = self._piece(session, piece_id)
        piece.state, piece.updated_block = state, e.block_number
        session.add(piece)
        return piece

    def _on_ReceivableConfirmed(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        self._set_state(session, a["id"], "confirmed", e)
        self._invoice_status(session, a["id"], "confirmed")

    def _on_ReceivableRejected(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        self._set_state(session, a["id"], "rejected", e)
        self._invoice_status(session, a["id"], "rejected")

    def _on_ReceivableCancelled(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        self._set_state(session, a["id"], "cancelled", e)
        self._invoice_status(session, a["id"], "cancelled")

    def _on_PieceSplit(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        parent = self._set_state(session, a["parentId"], "split", e)
        for child_id, amount in zip(a["childIds"], a["amountsMinor"], strict=True):
            session.add(
                Piece(
                    id=child_id,
                    root_id=a["rootId"],
                    parent_id=parent.id,
                    creditor_org=parent.creditor_org,
                    holder_org=parent.holder_org,
                    debtor_org=parent.debtor_org,
                    amount_minor=amount,
                    due_at=parent.due_at,
                    state="confirmed",
                    depth=parent.depth + 1,
                    standing=parent.standing,
                    updated_block=e.block_number,
                )
            )

    def _on_PieceTransferred(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        piece = self._piece(session, a["id"])
        piece.holder_org, piece.updated_block = a["toOrg"], e.block_number
        session.add(piece)

    def _lock(self, session: Session, piece_id: str, lock: str, lock_org: int, e: ChainEvent) -> Piece:
        piece = self._piece(session, piece_id)
        piece.lock, piece.lock_org, piece.updated_block = lock, lock_org, e.block_number
        session.add(piece)
        return piece

    def _open_request(self, session: Session, piece_id: str) -> FinancingRequest | None:
        return session.exec(
            select(FinancingRequest)
            .where(FinancingRequest.piece_id == piece_id, FinancingRequest.status == "open")
            .order_by(col(FinancingRequest.id).desc())
        ).first()

    def _on_FinancingRequested(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        self._lock(session, a["id"], "finance_requested", a["bankOrg"], e)
        session.add(
            FinancingRequest(
                piece_id=a["id"],
                holder_org=a["holderOrg"],
                bank_org=a["bankOrg"],
                max_rate_ppm=a["maxRatePpm"],
                expires_at=a["expiresAt"],
                tx_hash=e.tx_hash,
            )
        )

    def _close_request(self, session: Session, piece_id: str, status: str) -> FinancingRequest | None:
        request = self._open_request(session, piece_id)
        if request is not None:
            request.status = status
            session.add(request)
        return request

    def _on_FinancingRequestCancelled(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        self._lock(session, a["id"], "none", 0, e)
        self._close_request(session, a["id"], "cancelled")

    def _on_PieceFinanced(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        piece = self._lock(session, a["id"], "financed", a["bankOrg"], e)
        piece.holder_org = a["bankOrg"]
        request = self._close_request(session, a["id"], "funded")
        if request is not None:
            request.funded_by = a["bankOrg"]
            request.rate_ppm = a["ratePpm"]
            request.price_minor = a["priceMinor"]
            request.discount_minor = a["discountMinor"]
            request.discount_days = a["discountDays"]
            request.tx_hash = e.tx_hash

    def _on_PiecePledged(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        if e.contract == "Receivables":
            self._lock(session, a["id"], "pledged", a["bankOrg"], e)

    def _on_PledgeReleased(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        self._lock(session, a["id"], "none", 0, e)

    def _on_PieceRepaid(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        piece = self._lock(session, a["id"], "none", 0, e)
        piece.state = "settled"
        self._close_request(session, a["id"], "closed")

    def _on_ReceivableSettled(self, session: Session, a: dict[str, Any], _e: ChainEvent) -> None:
        self._invoice_status(session, a["rootId"], "settled")

    def _standing(self, session: Session, root_id: str, standing: str) -> None:
        for piece in session.exec(select(Piece).where(Piece.root_id == root_id)).all():
            piece.standing = standing
            session.add(piece)

    def _on_ReceivableOverdue(self, session: Session, a: dict[str, Any], _e: ChainEvent) -> None:
        self._standing(session, a["rootId"], "overdue")

    def _on_ReceivableDefaulted(self, session: Session, a: dict[str, Any], _e: ChainEvent) -> None:
        self._standing(session, a["rootId"], "defaulted")

    # Goods: lots, devices and receipts (WarehouseReceipts); reports and status (GoodsOracle).

    def _on_LotRegistered(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        # A report can precede the lot's registration (the oracle accepts any lot id before its
        # listener is wired): start from the latest one.
        last = session.exec(
            select(LotReport).where(LotReport.lot_id == a["lotId"]).order_by(col(LotReport.round).desc())
        ).first()
        session.add(
            Lot(
                id=a["lotId"],
                warehouse_org=a["warehouseOrg"],
                goods=_text(a["goods"]),
                specification=_text(a["specification"]),
                quantity_milli=str(a["quantityMilli"]),
                unit=_text(a["unit"]),
                location=_text(a["location"]),
                info_hash=a["infoHash"],
                status=last.status if last else "unknown",
                round=last.round if last else 0,
                observed_at=last.observed_at if last else 0,
                registered_block=e.block_number,
                updated_block=e.block_number,
            )
        )

    def _on_DeviceBound(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        session.add(
            LotDevice(device_id=a["deviceId"], lot_id=a["lotId"], key=a["key"], block_number=e.block_number)
        )

    def _receipt(self, session: Session, receipt_id: str, e: ChainEvent) -> Receipt:
        receipt = session.get(Receipt, receipt_id)
        if receipt is None:
            raise LookupError(f"event for unknown receipt {receipt_id}")
        receipt.updated_block = e.block_number
        session.add(receipt)
        return receipt

    def _on_ReceiptIssued(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        session.add(
            Receipt(
                id=a["receiptId"],
                warehouse_org=a["warehouseOrg"],
                owner_org=a["ownerOrg"],
                state="issued",
                document_hash=a["documentHash"],
                issued_block=e.block_number,
                updated_block=e.block_number,
            )
        )
        lot = session.get(Lot, a["receiptId"])
        if lot is not None:
            lot.receipt_issued, lot.updated_block = True, e.block_number
            session.add(lot)

    def _on_ReceiptTransferred(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        self._receipt(session, a["receiptId"], e).owner_org = a["toOrg"]

    def _on_ReceiptPledged(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        receipt = self._receipt(session, a["receiptId"], e)
        receipt.state, receipt.pledgee_org, receipt.pledged_until = "pledged", a["bankOrg"], a["pledgedUntil"]

    def _on_ReceiptPledgeReleased(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        receipt = self._receipt(session, a["receiptId"], e)
        receipt.state, receipt.pledgee_org, receipt.pledged_until = "issued", 0, 0

    def _on_ReceiptPledgeEnforced(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        receipt = self._receipt(session, a["receiptId"], e)
        receipt.state, receipt.pledgee_org, receipt.pledged_until = "issued", 0, 0
        receipt.owner_org = a["bankOrg"]

    def _on_ReceiptSurrendered(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        self._receipt(session, a["receiptId"], e).state = "surrendered"

    def _on_ReceiptFrozen(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        receipt = self._receipt(session, a["receiptId"], e)
        receipt.frozen = True
        self._alert(session, e, lot_id=receipt.id, kind="receipt_frozen", status=GOODS_STATUSES[a["status"]])

    def _on_ReceiptUnfrozen(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        receipt = self._receipt(session, a["receiptId"], e)
        receipt.frozen = False
        self._alert(
            session, e, lot_id=receipt.id, kind="receipt_unfrozen", status=GOODS_STATUSES[a["status"]]
        )

    def _on_ReportAccepted(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        status = GOODS_STATUSES[a["status"]]
        session.add(
            LotReport(
                lot_id=a["lotId"],
                round=a["round"],
                status=status,
                readings_root=a["readingsRoot"],
                reading_count=a["readingCount"],
                observed_at=a["observedAt"],
                block_number=e.block_number,
                tx_hash=e.tx_hash,
            )
        )
        lot = session.get(Lot, a["lotId"])
        if lot is not None:
            lot.status, lot.round, lot.observed_at = status, a["round"], a["observedAt"]
            lot.updated_block = e.block_number
            session.add(lot)

    def _on_LotStatusChanged(self, session: Session, a: dict[str, Any], e: ChainEvent) -> None:
        status = GOODS_STATUSES[a["status"]]
        lot = session.get(Lot, a["lotId"])
        if lot is not None:
            lot.status, lot.updated_block = status, e.block_number
            session.add(lot)
        if status in ALERT_STATUSES:
            self._alert(
                session,
                e,
                lot_id=a["lotId"],
                kind="lot_status",
                status=status,
                previous=GOODS_STATUSES[a["previous"]],
            )

    def _alert(
        self,
        session: Session,
        e: ChainEvent,
        *,
        lot_id: str,
        kind: str,
        status: str,
        previous: str | None = None,
    ) -> None:
        """Record an alert with the lot's parties as they are now."""
        lot = session.get(Lot, lot_id)
        receipt = session.get(Receipt, lot_id)
        live = receipt is not None and receipt.state != "surrendered"
        session.add(
            GoodsAlert(
                lot_id=lot_id,
                kind=kind,
                status=status,
                previous_status=previous,
                warehouse_org=lot.warehouse_org if lot else 0,
                owner_org=receipt.owner_org if receipt and live else 0,
                pledgee_org=receipt.pledgee_org if receipt and live else 0,
                block_number=e.block_number,
                tx_hash=e.tx_hash,
                log_index=e.log_index,
            )
        )


_CURSOR_QUERY = select(IndexerCursor.block_number, IndexerCursor.block_hash).where(  # type: ignore[call-overload]
    col(IndexerCursor.name) == CURSOR
)


def _chain_order(log: dict[str, Any]) -> tuple[int, int]:
    return (quantity(log["blockNumber"]), quantity(log["logIndex"]))


def _endpoint_of(client: ChainClient) -> str:
    """The node URL behind `client` (an HTTP provider)."""
    return str(client.w3.provider.endpoint_uri)  # type: ignore[attr-defined]


@dataclass
class DecodedEvent:
    """A decoded event on its way into the read model: what handlers and the fan-out read of it
    (the attributes of a ChainEvent), stored as a ChainEvent row by a bulk insert."""

    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    contract: str
    name: str
    subject: str | None
    args: dict[str, Any]
    id: int | None = None

    def row(self) -> dict[str, Any]:
        return {
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "contract": self.contract,
            "name": self.name,
            "subject": self.subject,
            "args": self.args,
        }


@dataclass(frozen=True)
class _EventShape:
    """How to decode one event from its raw topics and data (as web3 would, with less overhead)."""

    name: str
    abi: dict[str, Any]
    indexed: tuple[tuple[str, str], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    order: tuple[str, ...]

    @classmethod
    def of(cls, abi: dict[str, Any]) -> _EventShape:
        inputs = abi["inputs"]
        return cls(
            name=abi["name"],
            abi=abi,
            indexed=tuple((i["name"], i["type"]) for i in inputs if i["indexed"]),
            data_names=tuple(i["name"] for i in inputs if not i["indexed"]),
            data_types=tuple(i["type"] for i in inputs if not i["indexed"]),
            order=tuple(i["name"] for i in inputs),
        )

    def decode(self, topics: list[str], data: str, checksum: Callable[[str], str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for (name, abi_type), topic in zip(self.indexed, topics[1:], strict=True):
            values[name] = abi_decode([abi_type], bytes.fromhex(topic[2:]))[0]
        if self.data_types:
            decoded = abi_decode(list(self.data_types), bytes.fromhex(data[2:]))
            values.update(zip(self.data_names, decoded, strict=True))
        for name, abi_type in zip(self.order, (i["type"] for i in self.abi["inputs"]), strict=True):
            if abi_type == "address":
                values[name] = checksum(values[name])
            elif abi_type == "address[]":
                values[name] = [checksum(v) for v in values[name]]
        return {name: values[name] for name in self.order}


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _text(value: str) -> str:
    """Event text as the database can hold it: PostgreSQL text refuses NUL characters."""
    return value.replace("\x00", "\ufffd")
