"""The data directory of a network started by `scf up`: what lives where, and secrets kept 0600.

```
<data dir>/
  scfnet.toml                 optional configuration (see scripts/config.py)
  deployment.json             the deployment manifest (written once)
  endpoints.json              where each service listens (read by `scf status`)
  operator.key, master.key, operator.token, oracles/oracle-<i>.key     secrets, mode 0600
  demo-organisations.json     the demo organisations' API keys, mode 0600
  node/ api.db documents/ gateway/ oracles/ logs/
```
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRET_MODE = 0o600


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, SECRET_MODE)  # an older tmp file may have had other bits
    tmp.replace(path)


def secret(path: Path, make: Callable[[], str]) -> str:
    """Read a secret kept in the data dir, creating it (0600) on first use."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = make()
    write_private(path, value + "\n")
    return value


@dataclass(frozen=True)
class DataDir:
    """Paths inside one network's data directory."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", self.root.resolve())

    @property
    def manifest(self) -> Path:
        return self.root / "deployment.json"

    @property
    def endpoints(self) -> Path:
        return self.root / "endpoints.json"

    @property
    def operator_key(self) -> Path:
        return self.root / "operator.key"

    @property
    def master_key(self) -> Path:
        return self.root / "master.key"

    @property
    def operator_token(self) -> Path:
        return self.root / "operator.token"

    @property
    def demo_credentials(self) -> Path:
        return self.root / "demo-organisations.json"

    @property
    def gateway(self) -> Path:
        return self.root / "gateway"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def oracle_key(self, index: int) -> Path:
        return self.root / "oracles" / f"oracle-{index}.key"

    def oracle_data(self, index: int) -> Path:
        return self.root / "oracles" / f"oracle-{index}"

    def write_endpoints(self, body: dict[str, Any]) -> None:
        """Record where the services listen (no secrets in it)."""
        tmp = self.endpoints.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.endpoints)

    def read_endpoints(self) -> dict[str, Any] | None:
        if not self.endpoints.exists():
            return None
        body: dict[str, Any] = json.loads(self.endpoints.read_text(encoding="utf-8"))
        return body
