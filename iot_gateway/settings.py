"""Settings of the IoT gateway (env prefix SCF_GATEWAY_), built once at the entry point."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Everything one gateway process is configured with."""

    model_config = SettingsConfigDict(env_prefix="SCF_GATEWAY_", env_file=None, extra="ignore")

    broker_url: str | None = Field(
        None, description="mqtt://[user[:password]@]host[:port]; unset: start an embedded broker"
    )
    embedded_host: str = Field("127.0.0.1", description="interface of the embedded broker")
    embedded_port: int = Field(1883, ge=0, le=65535, description="port of the embedded broker (0: any)")
    gateway_id: str = Field("gw-1", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    username: str | None = Field(None, description="broker user (overrides the URL's)")
    password: SecretStr | None = Field(None, description="broker password (overrides the URL's)")
    data_dir: Path = Field(Path(".data/gateway"), description="the disk queue and sequence marks")
    rpc_url: str = Field("http://127.0.0.1:8545", description="JSON-RPC URL of the chain node")
    manifest_path: Path = Field(
        Path(".data/deployment.json"), description="deployment manifest (where WarehouseReceipts is)"
    )
    device_cache_ttl_s: float = Field(60.0, gt=0, description="how long a device's on-chain key is trusted")
    unknown_device_ttl_s: float = Field(
        5.0, ge=0, description="how long 'not registered' is remembered (a new lot's devices get in soon)"
    )
    replay_window: int = Field(
        4096,
        ge=1,
        le=65_536,
        description="sequence numbers below a device's highest that may still arrive late (once each)",
    )
    keepalive_s: int = Field(30, ge=5)
    reconnect_min_s: int = Field(1, ge=1)
    reconnect_max_s: int = Field(30, ge=1)
    batch_max: int = Field(500, ge=1, description="readings verified and committed per transaction")
    round_min_s: float = Field(
        0.005, ge=0.0, le=1.0, description="shortest time between worker rounds (readings share a commit)"
    )
    max_in_flight: int = Field(100, ge=1, description="republished batches awaiting the broker's ack")
    publish_batch_max: int = Field(
        500, ge=1, le=10_000, description="verified readings per republished message"
    )
    metrics_host: str = Field("127.0.0.1", description="interface of the metrics endpoint")
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="serve /metrics (Prometheus) and /status (JSON) here; 0 any, unset off",
    )
