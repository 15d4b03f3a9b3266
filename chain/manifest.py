"""The deployment manifest: where the suite lives on a chain, read by every service."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field


class Deployment(BaseModel):
    """Addresses and provenance of one deployment of the contract suite."""

    chain_id: int
    contracts: dict[str, str] = Field(description="contract name -> checksummed address")
    block_number: int
    block_hash: str
    build_hash: str
    operator: str
    deployed_at: int

    def address(self, name: str) -> str:
        """Return the address of contract `name`."""
        try:
            return self.contracts[name]
        except KeyError:
            raise KeyError(f"{name} is not part of this deployment") from None

    def write(self, path: Path) -> None:
        """Write the manifest atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> Deployment:
        """Read a manifest written by `write`."""
        return cls.model_validate_json(path.read_text(encoding="utf-8"))
