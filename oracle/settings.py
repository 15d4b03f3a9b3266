"""Settings of one oracle node (env prefix SCF_ORACLE_), built once at the entry point."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from oracle.errors import OracleConfigError


class BrokerAddress:
    """Where the MQTT broker listens, from `mqtt://[user[:password]@]host[:port]`."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise OracleConfigError(f"broker URL must be mqtt://host[:port], got {parts.scheme}://…")
        self.host: str = parts.hostname
        self.port: int = parts.port or 1883
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None


class OracleSettings(BaseSettings):
    """Everything one oracle node is configured with. Every node of a network must share the
    round length, offline timeout and rules file, or their reports will never agree."""

    model_config = SettingsConfigDict(env_prefix="SCF_ORACLE_", env_file=None, extra="ignore")

    node_index: int = Field(0, ge=0, le=31, description="position of this node; leads rounds r % n == index")
    key: SecretStr | None = Field(None, description="hex private key of the node's ORACLE account")
    key_file: Path | None = Field(None, description="file holding the hex private key (instead of key)")
    broker_url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://[user:password@]host:port")
    rpc_url: str = Field("http://127.0.0.1:8545", description="JSON-RPC URL of the chain node")
    manifest_path: Path = Field(Path(".data/deployment.json"), description="deployment manifest")
    round_length_s: int = Field(10, ge=1, le=3_600, description="a round is floor(ts / round length)")
    settle_delay_s: float = Field(2.0, ge=0.0, le=60.0, description="wait after a round ends before sealing")
    offline_timeout_s: float = Field(120.0, gt=0.0, description="a device silent this long is OFFLINE")
    takeover_s: float = Field(3.0, gt=0.0, description="each further node waits this much more to submit")
    order_timeout_s: float = Field(
        20.0,
        gt=0.0,
        description="a lot's later rounds wait this long for an earlier round to be anchored, then pass it"
        " over (its readings are counted in readings_unanchored); keep it above takeover_s * (nodes - 1)",
    )
    rules_file: Path | None = Field(None, description="TOML or JSON rules (see oracle/rules.py)")
    data_dir: Path = Field(Path(".data/oracle"), description="the node's SQLite database lives here")
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(8700, ge=0, le=65_535, description="proof endpoint; 0 any, None off")
    chain_poll_s: float = Field(0.25, gt=0.0, description="how often chain events are read")
    max_clock_skew_s: float = Field(5.0, ge=0.0, description="readings further in the future are dropped")
    verified_topic: str = "verified/#"

    @model_validator(mode="after")
    def _check(self) -> OracleSettings:
        BrokerAddress(self.broker_url)
        return self

    def account(self) -> LocalAccount:
        """The node's signing account."""
        if self.key is not None:
            raw = self.key.get_secret_value()
        elif self.key_file is not None:
            raw = self.key_file.read_text(encoding="utf-8").strip()
        else:
            raise OracleConfigError("set SCF_ORACLE_KEY or SCF_ORACLE_KEY_FILE")
        try:
            return Account.from_key(raw)
        except (ValueError, TypeError) as exc:
            raise OracleConfigError("the oracle key is not a 32-byte hex private key") from exc

    @property
    def broker(self) -> BrokerAddress:
        return BrokerAddress(self.broker_url)

    @property
    def db_path(self) -> Path:
        return self.data_dir / f"oracle-{self.node_index}.db"
