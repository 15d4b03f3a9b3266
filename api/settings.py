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
    relay_poll_s: float = 0.05
    indexer_poll_s: float = 0.1
    wait_timeout_s: float = 30.0
    run_workers: bool = Field(True, description="run the outbox relay and the indexer in this process")
