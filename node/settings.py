"""Node configuration, read once at the entry point from `SCF_NODE_*` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"


class NodeSettings(BaseSettings):
    """Settings of one embedded node."""

    model_config = SettingsConfigDict(env_prefix="SCF_NODE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8545, ge=0, le=65535)
    chain_id: int = Field(default=1337, ge=1)
    data_dir: Path = Path(".data/node")
    dev: bool = False
    mnemonic: str = DEFAULT_MNEMONIC
    dev_accounts: int = Field(default=10, ge=0, le=100)
    dev_balance_wei: int = Field(default=10_000 * 10**18, ge=0)
    # 0 mines a block per transaction as soon as it arrives.
    mining_interval_s: float = Field(default=0.0, ge=0.0)
    operator_address: str | None = None
    operator_balance_wei: int = Field(default=1_000_000 * 10**18, ge=0)
    registry_address: str | None = None
    max_request_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    block_gas_limit: int = Field(default=30_000_000, ge=5_000_000)
    hardfork: Literal["cancun", "prague"] = "prague"
    # How far ahead of the account nonce a queued transaction may be.
    max_nonce_gap: int = Field(default=64, ge=0)
    max_logs_block_range: int = Field(default=100_000, ge=1)

    @field_validator("operator_address", "registry_address")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        body = value[2:] if value.startswith(("0x", "0X")) else value
        if len(body) != 40 or any(c not in "0123456789abcdefABCDEF" for c in body):
            raise ValueError(f"not a 20-byte hex address: {value!r}")
        return "0x" + body.lower()
