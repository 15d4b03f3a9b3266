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
from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError

from api.custody import MasterKey
from api.db import session_scope
from api.models import CustodialKey, OutboxEntry, SignerNonce
from api.models.base import utcnow
from chain.client import ChainClient, revert_from
from chain.errors import ChainError, ChainUnavailable, ContractRevert
from chain.manifest import Deployment

logger = logging.getLogger(__name__)

OutcomeHook = Callable[[Session, OutboxEntry], None]


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
    """Drains the outbox into the chain, in order, one nonce owner per signing key."""

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
    ) -> None:
        self._engine = engine
        self._client = client
        self._keyring = keyring
        self._on_failed = on_failed
        self._batch_size = batch_size
        self._poll_s = poll_s
        self._contracts: dict[str, Contract] = {
            name: client.contract(name, address) for name, address in deployment.contracts.items()
        }
        self.wakeup = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set; `wakeup` cuts the idle wait short when a write lands."""
        while not stop.is_set():
            try:
                busy = self.step()
            except ChainUnavailable as exc:
                logger.warning("relay: chain unavailable (%s); retrying", exc)
                busy = 0
                stop.wait(1.0)
            except Exception:  # noqa: BLE001 - the relay must outlive any single bad entry
                logger.exception("relay step failed")
                busy = 0
                stop.wait(1.0)
            if not busy:
                self.wakeup.wait(self._poll_s)
                self.wakeup.clear()

    def step(self) -> int:
        """One pass: re-send what was signed, sign and send what is pending, collect receipts."""
        progressed = self._broadcast_signed()
        progressed += self._sign_pending()
        progressed += self._broadcast_signed()
        progressed += self._collect_receipts()
        return progressed

    # -- signing -------------------------------------------------------------------------------

    def _sign_pending(self) -> int:
        with session_scope(self._engine) as session:
            in_flight = set(
                session.exec(
                    select(OutboxEntry.subject_id).where(col(OutboxEntry.status).in_(("signed", "sent")))
                ).all()
            )
            pending = session.exec(
                select(OutboxEntry)
                .where(OutboxEntry.status == "pending")
                .order_by(col(OutboxEntry.created_at), col(OutboxEntry.id))
                .limit(self._batch_size)
            ).all()
            done = 0
            for entry in pending:
                # One call per subject in flight: the next may depend on this one's effect.
                if entry.subject_id in in_flight:
                    continue
                in_flight.add(entry.subject_id)
                self._sign(session, entry)
                done += 1
            return done

    def _sign(self, session: Session, entry: OutboxEntry) -> None:
        account = self._keyring.account(entry.signer_org_id)
        tx: dict[str, Any] = {"from": account.address, "chainId": self._client.chain_id, **self._call(entry)}
        entry.attempts += 1
        entry.updated_at = utcnow()
        try:
            tx["gas"] = self._client.estimate(tx)
        except ContractRevert as exc:
            self._fail(session, entry, exc)
            return
        except ChainUnavailable:
            raise
        except ChainError as exc:
            self._fail(session, entry, exc)
            return
        nonce_row = session.get(SignerNonce, account.address)
        if nonce_row is None:
            chain_nonce = self._client.w3.eth.get_transaction_count(account.address, "pending")
            nonce_row = SignerNonce(address=account.address, next_nonce=chain_nonce)
        tx.update(self._client.fees())
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
        fn = self._function(entry)
        return {"to": fn.address, "data": fn._encode_transaction_data()}

    def _function(self, entry: OutboxEntry) -> Any:
        contract = self._contracts[entry.contract]
        abi = next(
            item for item in contract.abi if item.get("type") == "function" and item["name"] == entry.function
        )
        args = [_coerce(t, v) for t, v in zip(abi["inputs"], entry.args, strict=True)]
        return getattr(contract.functions, entry.function)(*args)

    # -- sending and receipts ------------------------------------------------------------------

    def _broadcast_signed(self) -> int:
        with session_scope(self._engine) as session:
            signed = session.exec(
                select(OutboxEntry).where(OutboxEntry.status == "signed").order_by(col(OutboxEntry.nonce))
            ).all()
            for entry in signed:
                try:
                    self._client.broadcast(HexBytes(entry.raw_tx or "0x"))
                except ChainUnavailable:
                    raise
                except ChainError as exc:
                    # Already mined (nonce used) is fine: the receipt will tell. Anything else failed.
                    if self._client.receipt(entry.tx_hash or "") is None and "nonce" not in str(exc).lower():
                        self._fail(session, entry, exc)
                        self._resync_nonce(session, entry)
                        continue
                entry.status = "sent"
                entry.updated_at = utcnow()
                session.add(entry)
            return len(signed)

    def _collect_receipts(self) -> int:
        with session_scope(self._engine) as session:
            sent = session.exec(select(OutboxEntry).where(OutboxEntry.status == "sent")).all()
            done = 0
            for entry in sent:
                receipt = self._client.receipt(entry.tx_hash or "")
                if receipt is None:
                    continue
                done += 1
                entry.block_number = receipt["blockNumber"]
                entry.updated_at = utcnow()
                if receipt["status"] == 1:
                    entry.status = "confirmed"
                    session.add(entry)
                    continue
                self._fail(session, entry, self._explain(entry, receipt["blockNumber"]))
            return done

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
