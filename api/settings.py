"""Settings of the API service (env prefix SCF_API_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Everything the API process is configured with; built once at the entry point."""

    model_config = SettingsConfigDict(env_prefix="SCF_API_", env_file=None, extra="ignore")

    database_url: str = Field(
        "sqlite:///.data/api.db", description="SQLAlchemy URL: sqlite:/// or postgresql+psycopg://"
    )
    rpc_url: str = Field("http://127.0.0.1:8545", description="JSON-RPC URL of the chain node")
    manifest_path: Path = Field(
        Path(".data/deployment.json"), description="deployment manifest written by `scf deploy`"
    )
    data_dir: Path = Field(Path(".data"), description="documents and other files")
    master_key: SecretStr | None = Field(None, description="base64 32-byte key encrypting custodial keys")
    master_key_file: Path | None = Field(
        None, description="file holding the master key (instead of master_key)"
    )
    operator_key: SecretStr | None = Field(
        None, description="hex private key of the operator's chain account"
    )
    bootstrap_token: SecretStr | None = Field(
        None, description="API key the operator's first member authenticates with (hashed at start)"
    )
    max_document_bytes: int = 10 * 1024 * 1024
    max_body_bytes: int = 12 * 1024 * 1024
    rate_limit_per_minute: int = 600
    rate_limit_file: Path | None = Field(
        None,
        description="buckets shared by the request processes of one machine (set by `scf api` when it "
        "runs several); none: each process keeps its own",
    )
    relay_poll_s: float = 0.05
    indexer_poll_s: float = 0.1
    wait_timeout_s: float = 30.0
    run_workers: bool = Field(
        True,
        description="run the outbox relay, the indexer and the webhook notifier in this process "
        "(each only while it holds its database lease, so one of each runs per database)",
    )
    prepare_on_start: bool = Field(
        True,
        description="migrate the database and ensure the operator organisation at start; false for "
        "processes started by a supervisor that did it once for all of them (`scf api`)",
    )
    worker_lease_s: float = Field(
        10.0,
        gt=0,
        description="how long a relay or indexer lease lasts unless renewed; a crashed "
        "worker's successor takes over after at most this long",
    )
    request_processes: int = Field(
        1, ge=1, le=64, description="`scf api`: processes serving requests on the one port"
    )
    metrics_token: SecretStr | None = Field(
        None, description="if set, GET /metrics asks for `Authorization: Bearer <it>`; else it is open"
    )
    oracle_proof_urls: list[str] = Field(
        default_factory=list,
        description="base URLs of the oracle nodes' proof endpoints (JSON list), tried in order",
    )
    oracle_proof_timeout_s: float = Field(5.0, gt=0, description="timeout of one proof request")
