"""The indexer: follows the suite's events into the read model, surviving restarts and rewinds.

Every decoded event is stored (ChainEvent) and applied to the projections (pieces, financing
requests, invoice and organisation status) in the same database transaction as the cursor that
records the last applied block and its hash. If that hash is no longer the chain's (a dev node's
evm_revert), the read model is rebuilt from the deployment block: on a QBFT chain, with immediate
finality, this never happens.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from web3._utils.events import get_event_data
from web3.contract import Contract

from api.db import session_scope
from api.models import ChainEvent, FinancingRequest, IndexerCursor, Invoice, Organisation, Piece
from api.services import notifications
from chain.client import ChainClient
from chain.errors import ChainUnavailable
from chain.manifest import Deployment

logger = logging.getLogger(__name__)

CURSOR = "main"
CHUNK_BLOCKS = 2_000


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


class ChainIndexer:
    """Applies chain events to the read model."""

    def __init__(self, engine: Engine, client: ChainClient, deployment: Deployment, *, poll_s: float = 0.1):
        self._engine = engine
        self._client = client
        self._deployment = deployment
        self._poll_s = poll_s
        contracts: dict[str, Contract] = {
            name: client.contract(name, address) for name, address in deployment.contracts.items()
        }
        self._addresses = [c.address for c in contracts.values()]
        self._by_address = {c.address.lower(): name for name, c in contracts.items()}
        self._events: dict[bytes, dict[str, Any]] = {}
        for contract in contracts.values():
            for item in contract.abi:
                if item.get("type") == "event":
                    topic = contract.events[item["name"]].topic
                    self._events[bytes(HexBytes(topic))] = item
        self.advanced = threading.Condition()

    # -- loop ----------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                moved = self.step()
            except ChainUnavailable as exc:
                logger.warning("indexer: chain unavailable (%s)", exc)
                moved = False
                stop.wait(1.0)
            except Exception:  # noqa: BLE001 - keep following the chain
                logger.exception("indexer step failed")
                moved = False
                stop.wait(1.0)
            if not moved:
                stop.wait(self._poll_s)

    def head(self) -> int:
        """The last block applied to the read model."""
        with Session(self._engine) as session:
            cursor = session.get(IndexerCursor, CURSOR)
            return cursor.block_number if cursor else self._deployment.block_number - 1

    def step(self) -> bool:
        """Apply the next chunk of blocks; True if the cursor moved."""
        w3 = self._client.w3
        latest = w3.eth.block_number
        with session_scope(self._engine) as session:
            cursor = session.get(IndexerCursor, CURSOR)
            if cursor is not None and cursor.block_number <= latest:
                chain_hash = w3.eth.get_block(cursor.block_number)["hash"].to_0x_hex()
                if chain_hash != cursor.block_hash:
                    logger.warning(
                        "chain rewound below block %s: rebuilding the read model", cursor.block_number
                    )
                    self._reset(session)
                    cursor = None
            elif cursor is not None:  # the chain is shorter than what we applied
                self._reset(session)
                cursor = None
            start = cursor.block_number + 1 if cursor else self._deployment.block_number
            if start > latest:
                return False
            end = min(latest, start + CHUNK_BLOCKS - 1)
            logs = w3.eth.get_logs({"fromBlock": start, "toBlock": end, "address": self._addresses})
            for log in sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"])):
                self._ingest(session, log)
            block_hash = w3.eth.get_block(end)["hash"].to_0x_hex()
            if cursor is None:
                cursor = IndexerCursor(name=CURSOR, block_number=end, block_hash=block_hash)
            cursor.block_number, cursor.block_hash = end, block_hash
            session.add(cursor)
        with self.advanced:
            self.advanced.notify_all()
        return True

    def wait_for_block(self, block_number: int, timeout_s: float) -> bool:
        """Block until the read model includes `block_number`."""
        with self.advanced:
            return self.advanced.wait_for(lambda: self.head() >= block_number, timeout=timeout_s)

    # -- events --------------------------------------------------------------------------------

    def _reset(self, session: Session) -> None:
        for table in (ChainEvent, Piece, FinancingRequest, IndexerCursor):
            session.exec(delete(table))  # type: ignore[call-overload]

    def _ingest(self, session: Session, log: Any) -> None:
        abi = self._events.get(bytes(log["topics"][0])) if log["topics"] else None
        if abi is None:
            return
        data = get_event_data(self._client.w3.codec, abi, log)
        args = event_args(abi, data["args"])
        name = data["event"]
        subject = next(
            (args[k] for k in ("id", "parentId", "rootId", "receiptId", "lotId") if k in args), None
        )
        event = ChainEvent(
            block_number=log["blockNumber"],
            block_hash=log["blockHash"].to_0x_hex(),
            tx_hash=log["transactionHash"].to_0x_hex(),
            log_index=log["logIndex"],
            contract=self._by_address.get(log["address"].lower(), "?"),
            name=name,
            subject=subject if isinstance(subject, str) else None,
            args=args,
        )
        session.add(event)
        handler = getattr(self, f"_on_{name}", None)
        if handler is not None:
            handler(session, args, event)
        notifications.fan_out(session, event)

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
        session.add(
            Piece(
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
        )
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
