"""The API's long-lived parts, built once at start: database, chain client, relay and indexer."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from eth_account import Account
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.custody import MasterKey
from api.db import make_engine, session_scope, upgrade
from api.documents import DocumentStore
from api.indexer import INDEXER_LEASE, ChainIndexer
from api.lease import Lease
from api.notifier import NotifierSettings, WebhookNotifier
from api.relay import RELAY_LEASE, Keyring, OutboxRelay
from api.services.audit import ChainAuditor
from api.services.organisations import ensure_operator
from api.services.outcomes import on_failed
from api.settings import ApiSettings
from chain.client import ChainClient
from chain.jsonrpc import JsonRpc
from chain.manifest import Deployment

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a request or a worker needs, with the workers' lifecycle."""

    settings: ApiSettings
    engine: Engine
    client: ChainClient
    deployment: Deployment
    master_key: MasterKey
    store: DocumentStore
    relay: OutboxRelay
    indexer: ChainIndexer
    auditor: ChainAuditor
    notifier: WebhookNotifier
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def build(
        cls, settings: ApiSettings, *, client: ChainClient | None = None, prepare: bool = True
    ) -> Runtime:
        """Connect to the database and the chain; with `prepare`, migrate the database and make sure
        the operator organisation exists (a process started after that was done may skip it)."""
        engine = make_engine(settings.database_url)
        client = client or ChainClient.connect(settings.rpc_url)
        deployment = Deployment.read(settings.manifest_path)
        master_key = MasterKey.load(
            settings.master_key.get_secret_value() if settings.master_key else None, settings.master_key_file
        )
        if prepare:
            cls.prepare(settings, engine=engine, client=client, deployment=deployment, master_key=master_key)
        keyring = Keyring(engine, master_key)
        relay = OutboxRelay(
            engine,
            client,
            deployment,
            keyring,
            on_failed=on_failed,
            poll_s=settings.relay_poll_s,
            lease=Lease(engine, RELAY_LEASE, ttl_s=settings.worker_lease_s),
            rpc=JsonRpc(settings.rpc_url),
        )
        indexer = ChainIndexer(
            engine,
            client,
            deployment,
            poll_s=settings.indexer_poll_s,
            lease=Lease(engine, INDEXER_LEASE, ttl_s=settings.worker_lease_s),
            rpc=JsonRpc(settings.rpc_url),
        )
        return cls(
            settings=settings,
            engine=engine,
            client=client,
            deployment=deployment,
            master_key=master_key,
            store=DocumentStore(settings.data_dir / "documents"),
            relay=relay,
            indexer=indexer,
            auditor=ChainAuditor(client, deployment),
            notifier=WebhookNotifier(engine, NotifierSettings(), master_key),
        )

    @staticmethod
    def prepare(
        settings: ApiSettings,
        *,
        engine: Engine | None = None,
        client: ChainClient | None = None,
        deployment: Deployment | None = None,
        master_key: MasterKey | None = None,
    ) -> None:
        """Migrate the database and make sure the operator organisation exists: once per start,
        before the API's processes (request servers, workers) open the database."""
        own_engine = engine is None
        engine = engine or make_engine(settings.database_url)
        try:
            upgrade(engine)
            client = client or ChainClient.connect(settings.rpc_url)
            deployment = deployment or Deployment.read(settings.manifest_path)
            master_key = master_key or MasterKey.load(
                settings.master_key.get_secret_value() if settings.master_key else None,
                settings.master_key_file,
            )
            _ensure_operator(settings, engine, client, deployment, master_key)
        finally:
            if own_engine:
                engine.dispose()

    def start(self) -> None:
        """Run the relay, the indexer and the webhook notifier in background threads."""
        for name, target in (
            ("outbox-relay", self.relay.run),
            ("chain-indexer", self.indexer.run),
            ("webhook-notifier", self.notifier.run),
        ):
            thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self.relay.wakeup.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        for lease in (self.relay.lease, self.indexer.lease):  # held if driven by hand, without run()
            try:
                lease.release()
            except Exception:  # noqa: BLE001 - stopping anyway: the lease then simply expires
                logger.warning("could not release lease %s", lease.name, exc_info=True)
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)


def _ensure_operator(
    settings: ApiSettings, engine: Engine, client: ChainClient, deployment: Deployment, master_key: MasterKey
) -> None:
    if settings.operator_key is None:
        raise RuntimeError("SCF_API_OPERATOR_KEY is required: the operator's chain key")
    operator = Account.from_key(settings.operator_key.get_secret_value())
    if operator.address != deployment.operator:
        raise RuntimeError("the operator key does not match the deployment's operator")
    registry = client.contract("MemberRegistry", deployment.address("MemberRegistry"))
    org = registry.functions.organisation(1).call()
    credit_code = bytes(org[0]).rstrip(b"\0").decode()
    with session_scope(engine) as session:
        ensure_operator(
            session,
            master_key=master_key,
            account=operator,
            credit_code=credit_code,
            name="network operator",
            bootstrap_token=settings.bootstrap_token.get_secret_value() if settings.bootstrap_token else None,
        )
