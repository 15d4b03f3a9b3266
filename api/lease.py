"""Database leases: at most one relay and one indexer per database, however many API processes run.

A lease is a row (`workerlease`): a worker name, its holder and an expiry. A worker holds it only
while it keeps renewing it, and it renews it *inside every write transaction it makes* (`fence`):
the renewal is the transaction's first statement, so it takes the write lock (SQLite) or the row
lock (PostgreSQL) before anything else is read or written. A paused process whose lease ran out
and was taken over therefore cannot commit anything afterwards: its fence finds another holder and
the transaction rolls back. That is what makes the relay the only nonce owner even across a
takeover: the new holder reads the nonces only after the old one's last commit.

Expiry is wall-clock time of the processes (`time.time()`); processes sharing a database are
expected to have clocks synchronised far better than the lease's TTL (NTP, or one machine).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.db import session_scope
from api.models import WorkerLease
from chain.errors import ChainUnavailable

logger = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """Another live process holds the lease: this one must not write as that worker."""

    def __init__(self, name: str) -> None:
        super().__init__(f"lease {name!r} is held by another process")
        self.name = name


class Lease:
    """The lease of worker `name`, for this process; `ttl_s` is how long a renewal lasts."""

    def __init__(self, engine: Engine, name: str, *, ttl_s: float = 10.0, holder: str | None = None) -> None:
        self._engine = engine
        self.name = name
        self.ttl_s = ttl_s
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held_until = 0.0

    @property
    def held(self) -> bool:
        """True while this process's last renewal has not run out (checked locally, no query)."""
        return time.time() < self._held_until

    def due(self) -> bool:
        """True when the lease should be renewed: not held, or a third of its TTL is left."""
        return time.time() > self._held_until - self.ttl_s * 2 / 3

    def fence(self, session: Session) -> None:
        """Take or renew the lease as the first write of `session`'s transaction; raise LeaseLost if held
        by another live process. Commit the session to make the renewal (and the work) stick."""
        now = time.time()
        expires = now + self.ttl_s
        mine_or_free = (col(WorkerLease.holder) == self.holder) | (col(WorkerLease.expires_at) < now)
        conn = session.connection()  # plain statements: no ORM bookkeeping on the hot path
        result = conn.execute(
            update(WorkerLease)
            .where(col(WorkerLease.name) == self.name, mine_or_free)
            .values(holder=self.holder, expires_at=expires)
        )
        if result.rowcount != 1:
            if conn.execute(select(WorkerLease.name).where(col(WorkerLease.name) == self.name)).first():
                raise LeaseLost(self.name)
            # First use of this lease on this database: of two first uses, one inserts, one finds it.
            inserted = conn.execute(
                _insert_new(session)
                .values(name=self.name, holder=self.holder, expires_at=expires, acquired_at=now)
                .returning(col(WorkerLease.name))
            ).first()
            if inserted is None:
                raise LeaseLost(self.name)
        if not self.held:
            logger.info("lease %s taken by %s", self.name, self.holder)
        self._held_until = expires

    def acquire(self) -> bool:
        """Take or renew the lease in a transaction of its own; True if this process holds it now."""
        try:
            with session_scope(self._engine) as session:
                self.fence(session)
        except LeaseLost:
            self._held_until = 0.0
            return False
        return True

    def release(self) -> None:
        """Give the lease up at once (a clean stop), so another process need not wait for expiry."""
        if self._held_until == 0.0:
            return
        self._held_until = 0.0
        with session_scope(self._engine) as session:
            session.execute(
                update(WorkerLease)
                .where(col(WorkerLease.name) == self.name, col(WorkerLease.holder) == self.holder)
                .values(expires_at=0.0)
            )


def _insert_new(session: Session):  # type: ignore[no-untyped-def]
    """INSERT of a lease row that does nothing if the row exists (SQLite and PostgreSQL alike)."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(WorkerLease).on_conflict_do_nothing(index_elements=["name"])


def run_leased(
    name: str, lease: Lease, stop: threading.Event, step: Callable[[], object], idle: Callable[[], None]
) -> None:
    """Call `step` while holding `lease`, until `stop` is set; `idle()` waits after a step that did nothing.

    Another process holding the lease puts this one on standby; no single failed step stops the
    worker (the caller releases the lease when this returns).
    """
    while not stop.is_set():
        worked: object = False
        try:
            if lease.due() and not lease.acquire():
                stop.wait(min(1.0, lease.ttl_s / 4))  # another process holds it: stand by
                continue
            worked = step()
        except LeaseLost:
            logger.warning("%s: lease taken by another process; standing by", name)
        except ChainUnavailable as exc:
            logger.warning("%s: chain unavailable (%s); retrying", name, exc)
            stop.wait(1.0)
        except Exception:  # noqa: BLE001 - a worker must outlive any single bad step
            logger.exception("%s step failed", name)
            stop.wait(1.0)
        if not worked:
            idle()
