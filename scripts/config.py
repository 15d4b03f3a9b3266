"""`scf up`'s settings: flags > environment (`SCF_*`) > one TOML file > defaults.

The file is `--config PATH` (or `$SCF_CONFIG`), else `<data dir>/scfnet.toml` when it exists. Its
keys are the field names below, at top level; an unknown key is an error, so a typo never passes
silently. Each service `scf up` starts still reads its own `SCF_NODE_*`, `SCF_API_*`,
`SCF_GATEWAY_*` and `SCF_ORACLE_*` variables for everything not set here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_NAME = "scfnet.toml"
DEFAULT_DATA_DIR = Path(".data")


class UpSettings(BaseSettings):
    """Everything `scf up` is configured with; built once by the command."""

    model_config = SettingsConfigDict(env_prefix="SCF_", env_file=None, extra="forbid")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="where the network keeps its state")
    chain: Literal["embedded", "anvil"] = Field("embedded", description="the chain started here")
    rpc_url: str | None = Field(None, description="use an existing chain instead (JSON-RPC URL)")
    node_port: int = Field(8545, ge=0, le=65_535, description="JSON-RPC port of the embedded node or anvil")
    dev: bool = Field(
        False, description="embedded node: dev methods (evm_increaseTime, snapshots); demos only"
    )
    node_mining_interval_s: float = Field(0.2, ge=0.0, description="embedded node: seconds between blocks")
    mqtt_url: str | None = Field(None, description="use an existing broker (mqtt://[user:pw@]host:port)")
    mqtt_port: int = Field(1883, ge=0, le=65_535, description="port of the embedded MQTT broker")
    gateway_port: int = Field(8680, ge=0, le=65_535, description="the gateway's health and metrics port")
    oracles: int = Field(3, ge=0, le=31, description="oracle nodes (0, or 3 and more)")
    oracle_port: int = Field(8700, ge=0, le=65_535, description="proof port of oracle node 0; node i: +i")
    api_host: str = Field("127.0.0.1", description="interface the API listens on")
    api_port: int = Field(8000, ge=0, le=65_535, description="port of the API")
    api_database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data dir")
    api_metrics_token: SecretStr | None = Field(None, description="bearer token /metrics asks for")
    demo_orgs: bool = Field(True, description="admit the reference scenario's cast on first start")
    ready_timeout_s: float = Field(120.0, gt=0.0, description="how long to wait for every service")

    @model_validator(mode="after")
    def _check(self) -> UpSettings:
        if 0 < self.oracles < 3:
            raise ValueError("oracles must be 0 or at least 3 (a quorum of f+1 needs 2f+1 signers)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: flags (init), then the environment, then the TOML file.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    @property
    def database_url(self) -> str:
        return self.api_database_url or f"sqlite:///{self.data_dir / 'api.db'}"


def config_file(flags: dict[str, Any], explicit: Path | None) -> Path | None:
    """The TOML file to read: `explicit`, `$SCF_CONFIG`, or `<data dir>/scfnet.toml` if it exists."""
    if explicit is not None:
        return explicit
    if os.environ.get("SCF_CONFIG"):
        return Path(os.environ["SCF_CONFIG"])
    data_dir = flags.get("data_dir") or os.environ.get("SCF_DATA_DIR") or DEFAULT_DATA_DIR
    candidate = Path(data_dir) / CONFIG_FILE_NAME
    return candidate if candidate.exists() else None


def load_settings(flags: dict[str, Any], config: Path | None = None) -> UpSettings:
    """Settings from the given flags (None: not given), the environment and the config file."""
    given = {key: value for key, value in flags.items() if value is not None}
    path = config_file(given, config)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")

    class _FromFile(UpSettings):
        model_config = SettingsConfigDict(**{**UpSettings.model_config, "toml_file": path})

    return _FromFile(**given)
