"""The outbox relay: the only thing that signs and sends the API's transactions.

Per entry: estimate (a refusal fails the entry before any nonce is used) -> assign the signer's
next nonce from the database -> sign -> store the raw transaction and its hash (committed) ->
broadcast -> wait for the receipt -> confirmed or failed, with the business object told why.
A crash at any point is safe: a pending entry is simply processed; a signed or sent one is
re-broadcast byte for byte (same hash, same nonce: it cannot land twice) until its receipt appears.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eth_abi import encode as abi_encode
from eth_abi.exceptions import EncodingError
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_types
from hexbytes import HexBytes
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError

from api.custody import MasterKey
from api.db import session_scope
from api.lease import Lease, run_leased
from api.models import CustodialKey, OutboxEntry, SignerNonce
from api.models.base import utcnow
from chain.client import ChainClient, revert_from
from chain.errors import ChainError, ChainUnavailable, ContractRevert
from chain.jsonrpc import JsonRpc, RpcError, quantity
from chain.manifest import Deployment

logger = logging.getLogger(__name__)

OutcomeHook = Callable[[Session, OutboxEntry], None]
RELAY_LEASE = "outbox-relay"
FLUSH_AFTER_S = 0.05


class Keyring:
    """Custodial accounts by organisation, decrypted on first use and kept in memory."""

    def __init__(self, engine: Engine, master_key: MasterKey) -> None:
        self._engine = engine
        self._master_key = master_key
        self._accounts: dict[int, LocalAccount] = {}

    def account(self, org_id: int) -> LocalAccount:
        if org_id not in self._accounts:
            with Session(self._engine) as session:
                row = session.get(CustodialKey, org_id)
                if row is None:
                    raise ChainError(f"organisation {org_id} has no custodial key")
                self._accounts[org_id] = self._master_key.open(org_id, row.ciphertext)
        return self._accounts[org_id]


def _coerce(abi_type: dict[str, Any], value: Any) -> Any:
    """JSON-stored argument -> what web3 encodes: big integers travel as strings."""
    kind: str = abi_type["type"]
    if kind.endswith("[]"):
        inner = {**abi_type, "type": kind[:-2]}
        return [_coerce(inner, v) for v in value]
    if kind == "tuple":
        return tuple(_coerce(c, v) for c, v in zip(abi_type["components"], value, strict=True))
    if kind.startswith(("uint", "int")):
        return int(value, 0) if isinstance(value, str) else int(value)
    if kind.startswith("bytes") and isinstance(value, str):
        return HexBytes(value)
    return value


class OutboxRelay:
    """Drains the outbox into the chain, in order, one nonce owner per signing key.

    Each pass reads what is to do, talks to the node outside any write transaction, then records
    the outcome in a short transaction whose first statement renews the relay's database lease
    (`Lease.fence`): a relay that lost its lease to another process can no longer commit a nonce.
    """

    def __init__(
        self,
        engine: Engine,
        client: ChainClient,
        deployment: Deployment,
        keyring: Keyring,
        *,
        on_failed: OutcomeHook | None = None,
        batch_size: int = 256,
        poll_s: float = 0.05,
        lease: Lease | None = None,
        rpc: JsonRpc | None = None,
    ) -> None:
        self._engine = engine
        self._client = client
        self._keyring = keyring
        self._on_failed = on_failed
        self._batch_size = batch_size
        self._poll_s = poll_s
        self.lease = lease or Lease(engine, RELAY_LEASE)
        self._rpc = rpc or JsonRpc(str(client.w3.provider.endpoint_uri))  # type: ignore[attr-defined]
        self._contracts: dict[str, Contract] = {
            name: client.contract(name, address) for name, address in deployment.contracts.items()
        }
        self._encoders: dict[tuple[str, str], tuple[dict[str, Any], bytes, list[str]]] = {}
        self._checked_at: dict[str, int] = {}  # sent entry id -> chain head when its receipt was last asked
        self._probe: Connection | None = None  # kept for PRAGMA data_version (SQLite)
        self._idle_version: int | None = None  # data_version when the outbox was last found empty
        self.wakeup = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Work while holding the relay lease, until `stop` is set; `wakeup` cuts the idle wait short."""

        def idle() -> None:
            self.wakeup.wait(self._poll_s)
            self.wakeup.clear()

        try:
            run_leased("relay", self.lease, stop, self.step, idle)
        finally:
            self.lease.release()
            if self._probe is not None:
                self._probe.close()
                self._probe = None

    def step(self) -> int:
        """One pass: re-send what was signed, sign and send what is pending, collect receipts.

        The outbox is read once; what gets signed is broadcast at once, all of it before any
        receipt is awaited, so a batch of entries mines in the same block.
        """
        version = self._data_version()
        if version is not None and version == self._idle_version:
            return 0  # nothing committed since the outbox was last found empty
        with Session(self._engine) as session:
            open_entries = session.exec(
                select(OutboxEntry)
                .where(col(OutboxEntry.status).in_(("signed", "sent")))
                .order_by(col(OutboxEntry.nonce))
            ).all()
            pending = session.exec(self._pending_query()).all()
        self._idle_version = version if not open_entries and not pending else None
        signed = [e for e in open_entries if e.status == "signed"]
        sent = [e for e in open_entries if e.status == "sent"]
        progressed = 0
        if signed:  # signed before a crash or a lost lease: the same bytes again
            progressed += len(signed)
            sent += self._broadcast(signed)
        in_flight = {e.subject_id for e in open_entries}
        newly_signed = self._sign(
            pending, in_flight, on_signed=lambda group: sent.extend(self._broadcast(group))
        )
        progressed += len(newly_signed)
        progressed += self._collect(sent)
        return progressed

    def _data_version(self) -> int | None:
        """SQLite's count of commits by other connections, read on a connection kept for it (a
        statement that touches no table); None on other databases."""
        if self._engine.dialect.name != "sqlite":
            return None
        if self._probe is None:
            self._probe = self._engine.connect()
        try:
            version = int(self._probe.exec_driver_sql("PRAGMA data_version").scalar_one())
            self._probe.rollback()
        except Exception:
            self._probe.close()
            self._probe = None
            raise
        return version

    def _pending_query(self):  # type: ignore[no-untyped-def]
        return (
            select(OutboxEntry)
            .where(OutboxEntry.status == "pending")
            .order_by(col(OutboxEntry.created_at), col(OutboxEntry.id))
            .limit(self._batch_size)
        )

    @contextmanager
    def _fenced(self) -> Iterator[Session]:
        """A write transaction that commits only while this process holds the relay lease."""
        with session_scope(self._engine) as session:
            self.lease.fence(session)
            yield session

    @staticmethod
    def _current(session: Session, entries: Sequence[OutboxEntry]) -> dict[str, OutboxEntry]:
        """The entries as they are now, inside the write transaction."""
        ids = [e.id for e in entries]
        return {e.id: e for e in session.exec(select(OutboxEntry).where(col(OutboxEntry.id).in_(ids))).all()}

    # -- signing -------------------------------------------------------------------------------

    def _sign_pending(self) -> int:
        """Sign (not send) what is pending; the number of entries signed or refused."""
        with Session(self._engine) as session:
            in_flight = set(
                session.exec(
                    select(OutboxEntry.subject_id).where(col(OutboxEntry.status).in_(("signed", "sent")))
                ).all()
            )
            pending = session.exec(self._pending_query()).all()
        return self._signed_or_failed(pending, in_flight)

    def _sign(
        self,
        pending: Sequence[OutboxEntry],
        in_flight: set[str],
        on_signed: Callable[[list[OutboxEntry]], None] | None = None,
    ) -> list[OutboxEntry]:
        """Sign what is pending; the entries signed (refusals are recorded as failed). `on_signed`
        gets each committed group at once (to broadcast it while the next estimates run)."""
        signed: list[OutboxEntry] = []
        self._signed_or_failed(pending, in_flight, signed, on_signed)
        return signed

    def _signed_or_failed(
        self,
        pending: Sequence[OutboxEntry],
        in_flight: set[str],
        signed: list[OutboxEntry] | None = None,
        on_signed: Callable[[list[OutboxEntry]], None] | None = None,
    ) -> int:
        chosen: list[OutboxEntry] = []
        for entry in pending:
            # One call per subject in flight: the next may depend on this one's effect.
            if entry.subject_id in in_flight:
                continue
            in_flight.add(entry.subject_id)
            chosen.append(entry)
        # Estimates first, outside the write transaction: a refusal fails its entry, no nonce used.
        # What is estimated is signed and committed in groups: at the end, or as soon as the node
        # has spent FLUSH_AFTER_S estimating (a slow node: earlier entries go out meanwhile).
        prepared: list[tuple[OutboxEntry, dict[str, Any] | ChainError]] = []
        fees: dict[str, Any] | None = None
        done = 0
        since = time.monotonic()
        for index, entry in enumerate(chosen):
            account = self._keyring.account(entry.signer_org_id)
            try:
                tx: dict[str, Any] = {
                    "from": account.address,
                    "chainId": self._client.chain_id,
                    **self._call(entry),
                }
                tx["gas"] = self._estimate(tx)
            except ChainUnavailable:
                raise
            except ChainError as exc:
                prepared.append((entry, exc))
            else:
                fees = fees if fees is not None else self._fees()
                prepared.append((entry, {**tx, **fees}))
            if index == len(chosen) - 1 or time.monotonic() - since >= FLUSH_AFTER_S:
                group = self._commit_signed(prepared)
                done += len(prepared)
                prepared = []
                if signed is not None:
                    signed.extend(group)
                if on_signed is not None and group:
                    on_signed(group)
                since = time.monotonic()
        return done

    def _commit_signed(
        self, prepared: list[tuple[OutboxEntry, dict[str, Any] | ChainError]]
    ) -> list[OutboxEntry]:
        """Record refusals and sign the rest with their nonces, in one fenced transaction."""
        signed: list[OutboxEntry] = []
        with self._fenced() as session:
            rows = self._current(session, [entry for entry, _ in prepared])
            for entry, outcome in prepared:
                current = rows.get(entry.id)
                if current is None or current.status != "pending":
                    continue
                current.attempts += 1
                current.updated_at = utcnow()
                if isinstance(outcome, ChainError):
                    self._fail(session, current, outcome)
                else:
                    self._sign_one(session, current, outcome)
                    signed.append(current)
        return signed

    def _estimate(self, tx: dict[str, Any]) -> int:
        """Gas for `tx` with headroom (as ChainClient.estimate); a revert raises its decoded error."""
        call = {"from": tx["from"], "to": tx["to"], "data": tx["data"] or "0x"}
        if tx.get("value"):
            call["value"] = hex(tx["value"])
        if isinstance(call["data"], bytes):
            call["data"] = "0x" + call["data"].hex()
        try:
            gas = quantity(self._rpc.call("eth_estimateGas", [call]))
        except RpcError as exc:
            raise exc.refusal() from exc
        return gas * 6 // 5  # headroom: state may move between estimate and inclusion

    def _fees(self) -> dict[str, int]:
        """Fee fields for new transactions (as ChainClient.fees): EIP-1559 if the chain has a base fee."""
        latest, tip, price = self._rpc.batch(
            [
                ("eth_getBlockByNumber", ["latest", False]),
                ("eth_maxPriorityFeePerGas", []),
                ("eth_gasPrice", []),
            ]
        )
        if isinstance(latest, Exception):
            raise latest
        base_fee = latest.get("baseFeePerGas")
        if base_fee is None:  # pre-London or free-gas consortium chain
            if isinstance(price, Exception):
                raise price
            return {"gasPrice": quantity(price)}
        if isinstance(tip, Exception):  # a node without the method: what ChainClient would work out
            return {k: int(v) for k, v in self._client.fees().items()}  # type: ignore[call-overload]
        return {"maxFeePerGas": 2 * quantity(base_fee) + quantity(tip), "maxPriorityFeePerGas": quantity(tip)}

    def _sign_one(self, session: Session, entry: OutboxEntry, tx: dict[str, Any]) -> None:
        """Give `tx` the signer's next nonce, sign it and store it (inside the fenced transaction)."""
        account = self._keyring.account(entry.signer_org_id)
        nonce_row = session.get(SignerNonce, account.address)
        if nonce_row is None:
            chain_nonce = self._client.w3.eth.get_transaction_count(account.address, "pending")
            nonce_row = SignerNonce(address=account.address, next_nonce=chain_nonce)
        tx["nonce"] = nonce_row.next_nonce
        signed = account.sign_transaction(tx)
        nonce_row.next_nonce += 1
        session.add(nonce_row)
        entry.nonce = tx["nonce"]
        entry.raw_tx = signed.raw_transaction.to_0x_hex()
        entry.tx_hash = signed.hash.to_0x_hex()
        entry.status = "signed"
        session.add(entry)

    def _call(self, entry: OutboxEntry) -> dict[str, Any]:
        """`to`, `data` and `value` of the entry's transaction."""
        if entry.contract == "native":  # gas money for a new custodial account
            to, value = entry.args
            return {"to": to, "value": int(value), "data": b""}
        contract = self._contracts[entry.contract]
        key = (entry.contract, entry.function)
        if key not in self._encoders:
            abi = next(
                item
                for item in contract.abi
                if item.get("type") == "function" and item["name"] == entry.function
            )
            self._encoders[key] = (abi, function_abi_to_4byte_selector(abi), get_abi_input_types(abi))
        abi, selector, types = self._encoders[key]
        try:
            args = [_coerce(t, v) for t, v in zip(abi["inputs"], entry.args, strict=True)]
            data = selector + abi_encode(types, args)
        except (EncodingError, ValueError, TypeError) as exc:  # a stored call the ABI cannot carry
            raise ChainError(f"cannot encode {entry.contract}.{entry.function}: {exc}") from exc
        return {"to": contract.address, "data": "0x" + data.hex()}

    # -- sending and receipts ------------------------------------------------------------------

    def _broadcast_signed(self) -> int:
        """Send what is signed; the number of entries sent or refused."""
        with Session(self._engine) as session:
            signed = session.exec(
                select(OutboxEntry).where(OutboxEntry.status == "signed").order_by(col(OutboxEntry.nonce))
            ).all()
        self._broadcast(signed)
        return len(signed)

    def _broadcast(self, signed: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        """Send signed entries (in nonce order) and record them sent; the entries now sent."""
        if not signed:
            return []
        refused: dict[str, ChainError] = {}
        for entry in sorted(signed, key=lambda e: e.nonce or 0):
            try:
                self._client.broadcast(HexBytes(entry.raw_tx or "0x"))
            except ChainUnavailable:
                raise
            except ChainError as exc:
                # Already mined (nonce used) is fine: the receipt will tell. Anything else failed.
                if self._client.receipt(entry.tx_hash or "") is None and "nonce" not in str(exc).lower():
                    refused[entry.id] = exc
        sent: list[OutboxEntry] = []
        with self._fenced() as session:
            rows = self._current(session, signed)
            for entry in signed:
                current = rows.get(entry.id)
                if current is None or current.status != "signed" or current.tx_hash != entry.tx_hash:
                    continue  # re-signed meanwhile (a nonce resync): its new bytes go next pass
                if entry.id in refused:
                    self._fail(session, current, refused[entry.id])
                    self._resync_nonce(session, current)
                    continue
                current.status = "sent"
                current.updated_at = utcnow()
                session.add(current)
                sent.append(current)
        return sent

    def _collect_receipts(self) -> int:
        """Record the outcome of sent entries whose receipts are there; how many."""
        with Session(self._engine) as session:
            sent = session.exec(select(OutboxEntry).where(OutboxEntry.status == "sent")).all()
        self._checked_at.clear()  # asked by hand: ask for every receipt
        return self._collect(sent)

    def _collect(self, sent: Sequence[OutboxEntry]) -> int:
        """Ask for the receipts of `sent` entries not yet asked at this chain head, in one batch."""
        if not sent:
            self._checked_at.clear()
            return 0
        head = quantity(self._rpc.call("eth_blockNumber"))
        ask = [e for e in sent if self._checked_at.get(e.id, -1) < head]
        self._checked_at = {e.id: self._checked_at.get(e.id, -1) for e in sent}  # forget finished ones
        if not ask:
            return 0  # a receipt can only come with a new block
        receipts = self._rpc.batch([("eth_getTransactionReceipt", [e.tx_hash]) for e in ask])
        landed: list[tuple[OutboxEntry, int, ChainError | None]] = []
        for entry, receipt in zip(ask, receipts, strict=True):
            if isinstance(receipt, ChainError):
                raise receipt
            if receipt is None or receipt.get("blockNumber") is None:
                self._checked_at[entry.id] = head
                continue
            block = quantity(receipt["blockNumber"])
            why = None if quantity(receipt["status"]) == 1 else self._explain(entry, block)
            landed.append((entry, block, why))
        if not landed:
            return 0
        with self._fenced() as session:
            rows = self._current(session, [entry for entry, _, _ in landed])
            for entry, block, why in landed:
                self._checked_at.pop(entry.id, None)
                current = rows.get(entry.id)
                if current is None or current.status != "sent" or current.tx_hash != entry.tx_hash:
                    continue
                current.block_number = block
                current.updated_at = utcnow()
                if why is None:
                    current.status = "confirmed"
                    session.add(current)
                else:
                    self._fail(session, current, why)
        return len(landed)

    def _explain(self, entry: OutboxEntry, block_number: int) -> ChainError:
        """Why a mined transaction reverted: replay it on the state it ran against."""
        account = self._keyring.account(entry.signer_org_id)
        tx = {"from": account.address, **self._call(entry)}
        try:
            self._client.w3.eth.call(tx, block_number - 1)
        except (ContractLogicError, Web3RPCError) as exc:
            return revert_from(exc)
        return ChainError(f"transaction {entry.tx_hash} reverted")

    def _resync_nonce(self, session: Session, entry: OutboxEntry) -> None:
        """A signed transaction the node will never take leaves a nonce gap: re-sign what follows."""
        account = self._keyring.account(entry.signer_org_id)
        later = session.exec(
            select(OutboxEntry).where(
                OutboxEntry.signer_org_id == entry.signer_org_id,
                OutboxEntry.status == "signed",
                col(OutboxEntry.id) != entry.id,
            )
        ).all()
        for other in later:
            other.status, other.raw_tx, other.tx_hash, other.nonce = "pending", None, None, None
            session.add(other)
        row = session.get(SignerNonce, account.address)
        if row is not None:
            row.next_nonce = self._client.w3.eth.get_transaction_count(account.address, "pending")
            session.add(row)

    def _fail(self, session: Session, entry: OutboxEntry, exc: ChainError) -> None:
        entry.status = "failed"
        entry.error_code = exc.code if not isinstance(exc, ContractRevert) else exc.name
        entry.error_detail = str(exc)[:2000]
        entry.updated_at = utcnow()
        session.add(entry)
        logger.info(
            "outbox %s (%s.%s) failed: %s", entry.id, entry.contract, entry.function, entry.error_code
        )
        if self._on_failed is not None:
            self._on_failed(session, entry)
